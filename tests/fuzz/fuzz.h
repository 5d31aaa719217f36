/* fuzz.h — what every libFuzzer harness here shares: the entry point's
 * prototype, and CHECK, which stops the run on a broken property (the
 * fuzzer keeps the input as a crash). */
#ifndef SIPWIRE_FUZZ_H
#define SIPWIRE_FUZZ_H

#include <stddef.h>
#include <stdint.h>

#include "sip/sip_pl.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(cond)                                                                                \
	do {                                                                                       \
		if (!(cond))                                                                       \
			__builtin_trap();                                                          \
	} while (0)

/* A view that is set must lie inside the input. */
static inline void check_inside(sip_pl v, const char *buf, size_t len)
{
	if (v.p)
		CHECK(v.p >= buf && v.p + v.l <= buf + len);
}

#endif
