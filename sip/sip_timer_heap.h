/* sip_timer_heap.h — deadlines in a binary min-heap, the timers embedded in
 * the objects they belong to (a transaction's Timer A, a session's 2xx
 * retransmission). The heap holds pointers to them and each timer knows its
 * place, so arming, stopping and re-arming cost O(log n) and the earliest
 * deadline is read in O(1). An owner finds its object from a timer with
 * the usual container cast (put the struct sip_timer first).
 *
 * Single owner, no allocation per timer: the heap's array grows by doubling. */
#ifndef SIPWIRE_SIP_TIMER_HEAP_H
#define SIPWIRE_SIP_TIMER_HEAP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct sip_timer {
	uint64_t at;     /* the deadline, in the owner's clock */
	size_t heap_idx; /* SIZE_MAX when not armed */
};

struct sip_timer_heap {
	struct sip_timer **v;
	size_t len, cap;
};

static inline void sip_timer_init(struct sip_timer *t)
{
	t->at = 0;
	t->heap_idx = SIZE_MAX;
}
static inline bool sip_timer_armed(const struct sip_timer *t) { return t->heap_idx != SIZE_MAX; }

/* Frees the array; the timers are the owners'. */
void sip_timer_heap_free(struct sip_timer_heap *h);
/* Arm t for `at` (re-arming moves it). -ENOMEM when the array cannot grow:
 * the timer is then not armed. */
int sip_timer_heap_start(struct sip_timer_heap *h, struct sip_timer *t, uint64_t at);
/* Disarm t; a timer not armed is left alone. */
void sip_timer_heap_stop(struct sip_timer_heap *h, struct sip_timer *t);
/* The earliest armed timer, or NULL. */
static inline struct sip_timer *sip_timer_heap_top(const struct sip_timer_heap *h)
{
	return h->len ? h->v[0] : NULL;
}
/* The earliest deadline, or UINT64_MAX. */
static inline uint64_t sip_timer_heap_next(const struct sip_timer_heap *h)
{
	return h->len ? h->v[0]->at : UINT64_MAX;
}

#endif
