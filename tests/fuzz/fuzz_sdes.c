/* fuzz_sdes.c — the a=crypto parser (webrtc/sdes.h) over one attribute value.
 *
 * Whatever the input, sdes_parse returns 0 or -EINVAL and reads only the
 * bytes it is given. A refusal leaves nothing behind (no suite, no key). A
 * line that parses has a tag in range and, for a suite sipwire runs, at
 * least one key; a line sipwire can use writes back (sdes_format) to text
 * that parses to the same tag, suite, key and lifetime, and is usable
 * again. */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "webrtc/sdes.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size > 4096)
		return 0;
	/* a copy of exactly size bytes: a read past them is caught by ASan */
	char *text = malloc(size ? size : 1);
	if (!text)
		return 0;
	memcpy(text, data, size);
	struct sdes_crypto c;
	int rc = sdes_parse(text, size, &c);
	CHECK(rc == 0 || rc == -EINVAL);
	if (rc != 0) {
		static const uint8_t zero[SDES_KEY_LEN];
		CHECK(c.suite == SDES_SUITE_UNKNOWN && c.n_keys == 0);
		CHECK(memcmp(c.key, zero, sizeof zero) == 0);
		free(text);
		return 0;
	}
	CHECK(c.tag <= SDES_TAG_MAX && c.n_keys >= 1);
	CHECK(c.suite != SDES_SUITE_UNKNOWN || c.unsupported);
	CHECK(!c.has_mki || c.unsupported);
	CHECK(c.n_keys == 1 || c.unsupported);
	CHECK(c.lifetime <= SDES_LIFETIME_MAX || c.unsupported);
	if (!c.unsupported) {
		char out[SDES_FORMAT_MAX];
		int n = sdes_format(&c, out, sizeof out);
		CHECK(n > 0 && (size_t)n == strlen(out));
		struct sdes_crypto back;
		CHECK(sdes_parse(out, (size_t)n, &back) == 0);
		CHECK(!back.unsupported);
		CHECK(back.tag == c.tag && back.suite == c.suite && back.lifetime == c.lifetime);
		CHECK(sdes_same_key(&back, &c));
		sdes_crypto_clear(&back);
	}
	sdes_crypto_clear(&c);
	free(text);
	return 0;
}
