/* Unit tests: the timer heap shared by the transaction layer and the UA —
 * ordering, re-arming, stopping from any place, against a plain reference. */
#include <criterion/criterion.h>
#include <stdlib.h>

#include "sip/sip_timer_heap.h"

Test(timer_heap, empty_heap_has_no_deadline)
{
	struct sip_timer_heap h = {0};
	cr_assert_null(sip_timer_heap_top(&h));
	cr_assert_eq(sip_timer_heap_next(&h), UINT64_MAX);
	struct sip_timer t;
	sip_timer_init(&t);
	cr_assert(!sip_timer_armed(&t));
	sip_timer_heap_stop(&h, &t); /* not armed: nothing happens */
	sip_timer_heap_free(&h);
}

Test(timer_heap, rearming_moves_a_timer_and_stop_takes_it_out)
{
	struct sip_timer_heap h = {0};
	struct sip_timer a, b, c;
	sip_timer_init(&a);
	sip_timer_init(&b);
	sip_timer_init(&c);
	cr_assert_eq(sip_timer_heap_start(&h, &a, 300), 0);
	cr_assert_eq(sip_timer_heap_start(&h, &b, 100), 0);
	cr_assert_eq(sip_timer_heap_start(&h, &c, 200), 0);
	cr_assert_eq(sip_timer_heap_top(&h), &b);
	cr_assert_eq(sip_timer_heap_start(&h, &b, 400), 0);
	cr_assert_eq(h.len, 3, "re-arming does not add a second entry");
	cr_assert_eq(sip_timer_heap_top(&h), &c);
	sip_timer_heap_stop(&h, &c);
	cr_assert(!sip_timer_armed(&c));
	cr_assert_eq(sip_timer_heap_next(&h), 300);
	sip_timer_heap_stop(&h, &a);
	sip_timer_heap_stop(&h, &b);
	cr_assert_eq(h.len, 0);
	sip_timer_heap_free(&h);
}

/* Random starts, re-arms and stops against a reference minimum. */
Test(timer_heap, random_operations_keep_the_minimum_and_every_index)
{
	enum { N = 500 };
	static struct sip_timer t[N];
	static bool armed[N];
	static uint64_t at[N];
	struct sip_timer_heap h = {0};
	for (int i = 0; i < N; i++)
		sip_timer_init(&t[i]);
	srand(7);
	for (int step = 0; step < 20000; step++) {
		int i = rand() % N;
		if (rand() % 3) {
			at[i] = (uint64_t)(rand() % 100000);
			cr_assert_eq(sip_timer_heap_start(&h, &t[i], at[i]), 0);
			armed[i] = true;
		} else {
			sip_timer_heap_stop(&h, &t[i]);
			armed[i] = false;
		}
		uint64_t min = UINT64_MAX;
		size_t count = 0;
		for (int k = 0; k < N; k++) {
			cr_assert_eq(sip_timer_armed(&t[k]), armed[k]);
			if (!armed[k])
				continue;
			count++;
			cr_assert_eq(h.v[t[k].heap_idx], &t[k]);
			if (at[k] < min)
				min = at[k];
		}
		cr_assert_eq(h.len, count);
		cr_assert_eq(sip_timer_heap_next(&h), min);
	}
	/* drain in order */
	uint64_t last = 0;
	struct sip_timer *top;
	while ((top = sip_timer_heap_top(&h))) {
		cr_assert_geq(top->at, last);
		last = top->at;
		sip_timer_heap_stop(&h, top);
	}
	sip_timer_heap_free(&h);
}
