/* Which file a URL path names in the softphone's folders (server/http_files):
 * a demo tree built in a temporary folder, with a symbolic link out of it. */
#define _XOPEN_SOURCE 700
#include <criterion/criterion.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "server/http_files.h"

static char tmp[PATH_MAX];

static void put(const char *rel, const char *text)
{
	char path[PATH_MAX * 2];
	snprintf(path, sizeof path, "%s/%s", tmp, rel);
	FILE *f = fopen(path, "w");
	cr_assert(f, "%s", path);
	fputs(text, f);
	fclose(f);
}

static void dir(const char *rel)
{
	char path[PATH_MAX * 2];
	snprintf(path, sizeof path, "%s/%s", tmp, rel);
	cr_assert_eq(mkdir(path, 0755), 0, "%s", path);
}

static void setup(void)
{
	strcpy(tmp, "/tmp/sipwire-http-files-XXXXXX");
	cr_assert(mkdtemp(tmp));
	dir("demo");
	put("demo/index.html", "<!doctype html>");
	put("demo/style.css", "body{}");
	put("demo/.secret.js", "x");
	put("demo/notes.md", "x");
	put("demo/package.json", "{}");
	dir("demo/js");
	put("demo/js/app.js", "x");
	dir("demo/node_modules");
	dir("demo/node_modules/sip.js");
	put("demo/node_modules/sip.js/package.json", "{}");
	dir("demo/node_modules/sip.js/lib");
	put("demo/node_modules/sip.js/lib/index.js", "x");
	dir("demo/node_modules/sip.js/lib/api");
	put("demo/node_modules/sip.js/lib/api/user-agent.js", "x");
	put("outside.js", "x");
	char link[PATH_MAX * 2], target[PATH_MAX * 2];
	snprintf(link, sizeof link, "%s/demo/js/escape.js", tmp);
	snprintf(target, sizeof target, "%s/outside.js", tmp);
	cr_assert_eq(symlink(target, link), 0);
}

static void teardown(void)
{
	char cmd[PATH_MAX + 16];
	snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmp);
	cr_assert_eq(system(cmd), 0);
}

static struct sw_http_files *open_demo(void)
{
	char d[PATH_MAX * 2];
	snprintf(d, sizeof d, "%s/demo", tmp);
	struct sw_http_files *f;
	int missing = -1;
	cr_assert_eq(sw_http_files_new(&f, d, &missing), 0);
	cr_assert_eq(missing, 0);
	return f;
}

static void expect_file(struct sw_http_files *f, const char *url, const char *rel, const char *type)
{
	char file[PATH_MAX], want[PATH_MAX * 2];
	const char *ct = NULL;
	int rc = sw_http_files_lookup(f, url, file, sizeof file, &ct);
	cr_assert_eq(rc, 0, "%s: %d", url, rc);
	snprintf(want, sizeof want, "%s/%s", tmp, rel);
	cr_assert_str_eq(file, want, "%s", url);
	cr_assert_str_eq(ct, type, "%s", url);
}

static void expect_none(struct sw_http_files *f, const char *url)
{
	char file[PATH_MAX];
	const char *ct = NULL;
	cr_assert_eq(sw_http_files_lookup(f, url, file, sizeof file, &ct), -ENOENT, "%s was served", url);
}

TestSuite(http_files, .init = setup, .fini = teardown);

Test(http_files, serves_the_page_and_sipjs_modules_with_their_types)
{
	struct sw_http_files *f = open_demo();
	expect_file(f, "/", "demo/index.html", "text/html; charset=utf-8");
	expect_file(f, "/index.html", "demo/index.html", "text/html; charset=utf-8");
	expect_file(f, "/style.css", "demo/style.css", "text/css; charset=utf-8");
	expect_file(f, "/js/app.js", "demo/js/app.js", "text/javascript; charset=utf-8");
	expect_file(f, "/sip.js/index.js", "demo/node_modules/sip.js/lib/index.js",
	            "text/javascript; charset=utf-8");
	expect_file(f, "/sip.js/api/user-agent.js", "demo/node_modules/sip.js/lib/api/user-agent.js",
	            "text/javascript; charset=utf-8");
	sw_http_files_free(f);
}

Test(http_files, nothing_outside_the_two_folders)
{
	struct sw_http_files *f = open_demo();
	expect_none(f, "/../outside.js");
	expect_none(f, "/js/../../outside.js");
	expect_none(f, "/sip.js/../package.json");
	expect_none(f, "/sip.js/../../../index.html");
	expect_none(f, "/node_modules/sip.js/lib/index.js"); /* only under /sip.js/ */
	expect_none(f, "/node_modules");
	expect_none(f, "/.secret.js");
	expect_none(f, "/js/./app.js");
	expect_none(f, "/js//app.js");
	expect_none(f, "/js/escape.js"); /* a link leading out */
	expect_none(f, "/notes.md");     /* not a type the page uses */
	expect_none(f, "/package.json");
	expect_none(f, "/js/");          /* a folder without index.html */
	expect_none(f, "/js");
	expect_none(f, "/missing.js");
	expect_none(f, "/js\\app.js");
	expect_none(f, "/js/app.js?x=1"); /* the caller strips the query */
	expect_none(f, "index.html");
	sw_http_files_free(f);
}

Test(http_files, a_folder_without_index_html_or_sipjs)
{
	char d[PATH_MAX * 2];
	struct sw_http_files *f = NULL;
	int missing = 0;
	snprintf(d, sizeof d, "%s/demo/js", tmp);
	cr_assert_eq(sw_http_files_new(&f, d, &missing), -ENOENT);
	cr_assert_null(f);
	snprintf(d, sizeof d, "%s/nowhere", tmp);
	cr_assert_eq(sw_http_files_new(&f, d, &missing), -ENOENT);

	char cmd[PATH_MAX * 3];
	snprintf(cmd, sizeof cmd, "rm -rf '%s/demo/node_modules'", tmp);
	cr_assert_eq(system(cmd), 0);
	snprintf(d, sizeof d, "%s/demo", tmp);
	cr_assert_eq(sw_http_files_new(&f, d, &missing), 0);
	cr_assert_eq(missing, 1);
	expect_none(f, "/sip.js/index.js");
	expect_file(f, "/", "demo/index.html", "text/html; charset=utf-8");
	sw_http_files_free(f);
}
