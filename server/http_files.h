/* http_files.h — which file a plain HTTP GET on the WebSocket ports names.
 *
 * The browser softphone (web-demo/) is served by the daemon itself, from the
 * same ports as SIP over WebSocket. Two folders are served and nothing else:
 *   /            the demo folder (index.html for "/" and for a path ending
 *                in "/"), except node_modules and dot-files;
 *   /sip.js/...  SIP.js's ES modules, DEMO/node_modules/sip.js/lib.
 * A path segment may hold only letters, digits and "-_.~@+" and may not start
 * with "."; after symbolic links are followed the file must still lie inside
 * its folder and be a regular file; only known extensions are served, each
 * with its Content-Type (text/javascript for modules, which browsers require).
 * Lookups are plain function calls on a path: no I/O but realpath and stat. */
#ifndef SIPWIRE_SERVER_HTTP_FILES_H
#define SIPWIRE_SERVER_HTTP_FILES_H

#include <stddef.h>

/* The URL prefix under which SIP.js's lib/ is served. */
#define SW_HTTP_SIPJS_PREFIX "/sip.js/"

struct sw_http_files;

/* The folders under demo_dir. 0, -ENOENT when demo_dir has no index.html
 * (logged by the caller), or -ENOMEM. A missing SIP.js folder is not an
 * error: *sipjs_missing is set (the page loads and says what is missing). */
int sw_http_files_new(struct sw_http_files **out, const char *demo_dir, int *sipjs_missing);
void sw_http_files_free(struct sw_http_files *f);
/* The resolved demo folder. */
const char *sw_http_files_root(const struct sw_http_files *f);

/* The file for url_path (already percent-decoded, without the query): 0 with
 * the absolute file name in file[size] and its Content-Type in
 * *content_type, or -ENOENT (nothing to serve there) / -ENAMETOOLONG. */
int sw_http_files_lookup(const struct sw_http_files *f, const char *url_path, char *file,
                         size_t size, const char **content_type);

#endif
