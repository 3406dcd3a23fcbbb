/*
 * utf8_fuzz.c - libFuzzer target for xrt_utf8_valid (src/transport/wsframe.c), the
 * check every inbound text frame goes through on both sides.
 *
 * Differential: the verdict must equal the one of an independent decoder
 * written here from RFC 3629, for the input and for every prefix of it
 * that ends the input early (truncated sequences).  The input is copied
 * into a buffer of exactly its size, so a read past the end trips ASan.
 */
#include "../src/transport/wsframe.h"

#include <stdlib.h>
#include <string.h>

/* RFC 3629 table 4 ("Syntax of UTF-8 Byte Sequences"), byte by byte. */
static int
ref_valid(const unsigned char *s, size_t n)
{
	size_t i = 0;

	while (i < n) {
		unsigned char b = s[i];
		unsigned char lo = 0x80, hi = 0xbf;
		int tail;

		if (b <= 0x7f) {
			i++;
			continue;
		} else if (b >= 0xc2 && b <= 0xdf) {
			tail = 1;
		} else if (b == 0xe0) {
			tail = 2;
			lo = 0xa0;
		} else if ((b >= 0xe1 && b <= 0xec) || b == 0xee || b == 0xef) {
			tail = 2;
		} else if (b == 0xed) {
			tail = 2;
			hi = 0x9f;
		} else if (b == 0xf0) {
			tail = 3;
			lo = 0x90;
		} else if (b >= 0xf1 && b <= 0xf3) {
			tail = 3;
		} else if (b == 0xf4) {
			tail = 3;
			hi = 0x8f;
		} else {
			return 0;
		}
		i++;
		while (tail--) {
			if (i >= n || s[i] < lo || s[i] > hi)
				return 0;
			lo = 0x80;
			hi = 0xbf;
			i++;
		}
	}
	return 1;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	unsigned char *buf = malloc(size ? size : 1);
	size_t cut;

	if (!buf)
		return 0;
	if (size)
		memcpy(buf, data, size);
	if (!xrt_utf8_valid(buf, size) != !ref_valid(buf, size))
		abort();
	/* the last few prefixes: sequences cut at the end */
	for (cut = size > 4 ? size - 4 : 0; cut < size; cut++) {
		unsigned char *pre = malloc(cut ? cut : 1);

		if (!pre)
			break;
		memcpy(pre, buf, cut);
		if (!xrt_utf8_valid(pre, cut) != !ref_valid(pre, cut))
			abort();
		free(pre);
	}
	free(buf);
	return 0;
}
