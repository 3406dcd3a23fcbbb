/*
 * status_fuzz.c - libFuzzer target for the status line of an HTTP response
 * head (xrt_http_status in src/transport/http.c), which reads what an HTTP proxy
 * answers to a CONNECT (src/transport/proxy.c), fed the way proxy.c feeds it: the
 * bytes received so far, again after each read.
 *
 * The input is copied into a buffer of exactly its size (ASan catches a
 * read past the end) and given whole and in every prefix: the result is
 * -1, 0 or a status of 100-999; once a prefix gives a status, every longer
 * prefix gives the same one with the same reason, and once one is not HTTP
 * (-1), no longer one is; a status means the input starts with "HTTP/" and
 * holds an empty line; the reason is NUL-terminated, printable, and fits.
 */
#define _GNU_SOURCE	/* memmem */
#include "../src/transport/http.h"

#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size);

int
LLVMFuzzerTestOneInput(const unsigned char *data, size_t size)
{
	char reason[40], first_reason[40] = "";
	int first = 0;
	size_t n, i;

	if (size > 12000)
		return 0;
	for (n = 0; n <= size; n++) {
		char *p = malloc(n ? n : 1);
		int r;

		if (!p)
			return 0;
		memcpy(p, data, n);
		memset(reason, 'x', sizeof(reason));
		r = xrt_http_status(p, n, reason, sizeof(reason));
		if (r != -1 && r != 0 && (r < 100 || r > 999))
			abort();
		if (!memchr(reason, '\0', sizeof(reason)))
			abort();
		for (i = 0; reason[i]; i++)
			if (reason[i] < 0x20 || reason[i] > 0x7e)
				abort();
		if (first > 0 && (r != first || strcmp(reason, first_reason)))
			abort();
		if (first < 0 && r != -1)
			abort();
		if (r > 0) {
			if (n < 5 || memcmp(p, "HTTP/", 5) || !memmem(p, n, "\r\n\r\n", 4))
				abort();
			if (!first)
				memcpy(first_reason, reason, sizeof(reason));
		}
		if (r)
			first = first ? first : r;
		free(p);
	}
	return 0;
}
