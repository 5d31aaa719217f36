/* http_files.c — see http_files.h. */
/* realpath() is XSI. */
#define _XOPEN_SOURCE 700
#include "server/http_files.h"

#include <errno.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

struct sw_http_files {
	char *root;  /* realpath of the demo folder */
	char *sipjs; /* realpath of its node_modules/sip.js/lib, or NULL */
};

static const struct {
	const char *ext, *type;
} content_types[] = {
    {".html", "text/html; charset=utf-8"},
    {".js", "text/javascript; charset=utf-8"},
    {".mjs", "text/javascript; charset=utf-8"},
    {".css", "text/css; charset=utf-8"},
    {".svg", "image/svg+xml"},
    {".png", "image/png"},
    {".ico", "image/x-icon"},
    {".txt", "text/plain; charset=utf-8"},
    {".wav", "audio/wav"},
};

static const char *type_of(const char *name)
{
	const char *dot = strrchr(name, '.');
	if (!dot || strchr(dot, '/'))
		return NULL;
	for (size_t i = 0; i < sizeof content_types / sizeof content_types[0]; i++)
		if (strcmp(dot, content_types[i].ext) == 0)
			return content_types[i].type;
	return NULL;
}

/* rel: "a/b/c.js", relative to a served folder. Every segment non-empty,
 * not starting with '.', of the characters file names here use. */
static bool segments_ok(const char *rel)
{
	const char *p = rel;
	for (;;) {
		const char *e = strchr(p, '/');
		size_t n = e ? (size_t)(e - p) : strlen(p);
		if (n == 0 || p[0] == '.')
			return false;
		for (size_t i = 0; i < n; i++) {
			char c = p[i];
			bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
			          (c >= '0' && c <= '9') || strchr("-_.~@+", c);
			if (!ok)
				return false;
		}
		if (!e)
			return true;
		p = e + 1;
	}
}

static bool inside(const char *root, const char *path)
{
	size_t n = strlen(root);
	return strncmp(path, root, n) == 0 && path[n] == '/';
}

/* root/rel resolved: a regular file inside root, or -ENOENT. */
static int resolve(const char *root, const char *rel, char *file, size_t size)
{
	char joined[PATH_MAX], real[PATH_MAX];
	int n = snprintf(joined, sizeof joined, "%s/%s", root, rel);
	if (n < 0 || (size_t)n >= sizeof joined)
		return -ENAMETOOLONG;
	if (!realpath(joined, real) || !inside(root, real))
		return -ENOENT;
	struct stat st;
	if (stat(real, &st) < 0 || !S_ISREG(st.st_mode))
		return -ENOENT;
	if (strlen(real) >= size)
		return -ENAMETOOLONG;
	strcpy(file, real);
	return 0;
}

int sw_http_files_lookup(const struct sw_http_files *f, const char *url_path, char *file,
                         size_t size, const char **content_type)
{
	char rel[1024];
	if (!f || !url_path || url_path[0] != '/')
		return -ENOENT;
	const char *root = f->root;
	const char *p = url_path + 1;
	size_t prefix = strlen(SW_HTTP_SIPJS_PREFIX);
	if (strncmp(url_path, SW_HTTP_SIPJS_PREFIX, prefix) == 0) {
		if (!f->sipjs)
			return -ENOENT;
		root = f->sipjs;
		p = url_path + prefix;
	} else if (strncmp(p, "node_modules", 12) == 0 && (p[12] == '/' || p[12] == 0)) {
		return -ENOENT; /* only SIP.js's lib/, under its own prefix */
	}
	int n = snprintf(rel, sizeof rel, "%s%s", p,
	                 (*p == 0 || p[strlen(p) - 1] == '/') ? "index.html" : "");
	if (n < 0 || (size_t)n >= sizeof rel)
		return -ENAMETOOLONG;
	if (!segments_ok(rel))
		return -ENOENT;
	const char *type = type_of(rel);
	if (!type)
		return -ENOENT;
	int rc = resolve(root, rel, file, size);
	if (rc < 0)
		return rc;
	*content_type = type;
	return 0;
}

int sw_http_files_new(struct sw_http_files **out, const char *demo_dir, int *sipjs_missing)
{
	*out = NULL;
	*sipjs_missing = 0;
	char real[PATH_MAX], index[PATH_MAX + 16];
	if (!realpath(demo_dir, real))
		return -ENOENT;
	struct stat st;
	snprintf(index, sizeof index, "%s/index.html", real);
	if (stat(index, &st) < 0 || !S_ISREG(st.st_mode))
		return -ENOENT;
	struct sw_http_files *f = calloc(1, sizeof *f);
	if (!f || !(f->root = strdup(real))) {
		sw_http_files_free(f);
		return -ENOMEM;
	}
	char lib[PATH_MAX + 32];
	snprintf(lib, sizeof lib, "%s/node_modules/sip.js/lib", real);
	if (realpath(lib, real) && stat(real, &st) == 0 && S_ISDIR(st.st_mode)) {
		if (!(f->sipjs = strdup(real))) {
			sw_http_files_free(f);
			return -ENOMEM;
		}
	} else {
		*sipjs_missing = 1;
	}
	*out = f;
	return 0;
}

void sw_http_files_free(struct sw_http_files *f)
{
	if (!f)
		return;
	free(f->root);
	free(f->sipjs);
	free(f);
}

const char *sw_http_files_root(const struct sw_http_files *f) { return f ? f->root : NULL; }
