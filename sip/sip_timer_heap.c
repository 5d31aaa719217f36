/* sip_timer_heap.c — see sip_timer_heap.h. */
#include "sip/sip_timer_heap.h"

#include <errno.h>
#include <stdlib.h>

static void swap(struct sip_timer_heap *h, size_t a, size_t b)
{
	struct sip_timer *t = h->v[a];
	h->v[a] = h->v[b];
	h->v[b] = t;
	h->v[a]->heap_idx = a;
	h->v[b]->heap_idx = b;
}

static void up(struct sip_timer_heap *h, size_t i)
{
	while (i > 0) {
		size_t parent = (i - 1) / 2;
		if (h->v[parent]->at <= h->v[i]->at)
			break;
		swap(h, i, parent);
		i = parent;
	}
}

static void down(struct sip_timer_heap *h, size_t i)
{
	for (;;) {
		size_t left = 2 * i + 1, right = left + 1, min = i;
		if (left < h->len && h->v[left]->at < h->v[min]->at)
			min = left;
		if (right < h->len && h->v[right]->at < h->v[min]->at)
			min = right;
		if (min == i)
			return;
		swap(h, i, min);
		i = min;
	}
}

void sip_timer_heap_free(struct sip_timer_heap *h)
{
	free(h->v);
	h->v = NULL;
	h->len = h->cap = 0;
}

void sip_timer_heap_stop(struct sip_timer_heap *h, struct sip_timer *t)
{
	if (t->heap_idx == SIZE_MAX)
		return;
	size_t i = t->heap_idx;
	t->heap_idx = SIZE_MAX;
	h->len--;
	if (i == h->len)
		return;
	struct sip_timer *moved = h->v[h->len];
	h->v[i] = moved;
	moved->heap_idx = i;
	up(h, i);
	down(h, moved->heap_idx);
}

int sip_timer_heap_start(struct sip_timer_heap *h, struct sip_timer *t, uint64_t at)
{
	sip_timer_heap_stop(h, t);
	if (h->len == h->cap) {
		size_t cap = h->cap ? h->cap * 2 : 64;
		struct sip_timer **v = realloc(h->v, cap * sizeof(*v));
		if (!v)
			return -ENOMEM;
		h->v = v;
		h->cap = cap;
	}
	t->at = at;
	t->heap_idx = h->len;
	h->v[h->len++] = t;
	up(h, t->heap_idx);
	return 0;
}
