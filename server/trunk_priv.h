/* trunk_priv.h — what trunk.c and resolve.c share; not for other modules. */
#ifndef SIPWIRE_SERVER_TRUNK_PRIV_H
#define SIPWIRE_SERVER_TRUNK_PRIV_H

#include "server/trunk.h"

/* The loop the trunk runs on. */
GMainContext *sw_trunk_ctx(const struct sw_trunk *t);
/* The head of the trunk's list of pending resolutions (resolve.c links and
 * unlinks them; trunk.c cancels what is left when it is freed). */
struct sw_resolve **sw_trunk_resolves(struct sw_trunk *t);
/* Cancel every pending resolution in *list without calling back. */
void sw_resolve_cancel_all(struct sw_resolve **list);

#endif
