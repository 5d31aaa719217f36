/* fuzz_http_files.c — the softphone's file lookup (server/http_files.h) over
 * one URL path, as a browser (or anyone) sends it on the WebSocket ports.
 *
 * The served folders are made once in a temporary directory: a page, a
 * module, SIP.js's lib, and what must never be served beside them — a
 * dot-file, a node_modules file outside SIP.js's lib, a symbolic link out
 * of the folder. Whatever the path, the lookup returns 0, -ENOENT or
 * -ENAMETOOLONG; a file it names lies inside one of the two folders, is a
 * regular file, has a Content-Type, and is none of the forbidden ones. */
#define _XOPEN_SOURCE 700
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fuzz.h"
#include "server/http_files.h"

static struct sw_http_files *files;
static char root[256], sipjs[320];

static void put(const char *rel, const char *text)
{
	char path[512];
	snprintf(path, sizeof path, "%s/%s", root, rel);
	FILE *f = fopen(path, "w");
	if (f) {
		fputs(text, f);
		fclose(f);
	}
}

static void dir(const char *rel)
{
	char path[512];
	snprintf(path, sizeof path, "%s/%s", root, rel);
	mkdir(path, 0755);
}

static const char *const made[] = {
    "js/out.js", "js/app.js", "index.html", ".secret.js", "node_modules/other/x.js",
    "node_modules/sip.js/package.json", "node_modules/sip.js/lib/index.js",
    "node_modules/sip.js/lib", "node_modules/sip.js", "node_modules/other", "node_modules",
    "js", "",
};

/* The temporary folder goes when the process ends. */
static void cleanup(void)
{
	sw_http_files_free(files);
	for (size_t i = 0; i < sizeof made / sizeof made[0]; i++) {
		char path[512];
		snprintf(path, sizeof path, "%s/%s", root, made[i]);
		if (unlink(path) != 0)
			rmdir(path);
	}
}

static int setup(void)
{
	char tmpl[] = "/tmp/sipwire-fuzz-http-XXXXXX";
	if (!mkdtemp(tmpl) || !realpath(tmpl, root))
		return -1;
	dir("js");
	dir("node_modules");
	dir("node_modules/sip.js");
	dir("node_modules/sip.js/lib");
	dir("node_modules/other");
	put("index.html", "<!doctype html>");
	put("js/app.js", "export {};");
	put(".secret.js", "no");
	put("node_modules/other/x.js", "no");
	put("node_modules/sip.js/package.json", "{}");
	put("node_modules/sip.js/lib/index.js", "export {};");
	char link[512];
	snprintf(link, sizeof link, "%s/js/out.js", root);
	if (symlink("/etc/hostname", link) != 0 && errno != EEXIST)
		return -1;
	snprintf(sipjs, sizeof sipjs, "%s/node_modules/sip.js/lib/", root);
	atexit(cleanup);
	int missing = 0;
	return sw_http_files_new(&files, root, &missing) == 0 && !missing ? 0 : -1;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static int ready;
	if (!ready)
		ready = setup() == 0 ? 1 : -1;
	CHECK(ready == 1);
	if (size > 4096)
		return 0;
	char *path = malloc(size + 1);
	if (!path)
		return 0;
	memcpy(path, data, size);
	path[size] = '\0'; /* the daemon hands over a C string */
	char file[4096];
	const char *type = NULL;
	int rc = sw_http_files_lookup(files, path, file, sizeof file, &type);
	CHECK(rc == 0 || rc == -ENOENT || rc == -ENAMETOOLONG);
	if (rc == 0) {
		size_t rl = strlen(root);
		CHECK(type != NULL);
		CHECK(strncmp(file, root, rl) == 0 && file[rl] == '/');
		bool in_sipjs = strncmp(file, sipjs, strlen(sipjs)) == 0;
		CHECK(in_sipjs || strncmp(file + rl, "/node_modules/", 14) != 0);
		CHECK(!strstr(file + rl, "/."));
		struct stat st;
		CHECK(stat(file, &st) == 0 && S_ISREG(st.st_mode));
	}
	free(path);
	return 0;
}
