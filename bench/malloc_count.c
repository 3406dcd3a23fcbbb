/*
 * malloc_count.c - an LD_PRELOAD shim for bench/profile.sh: counts the
 * malloc, calloc and realloc calls of each thread and prints them at exit
 * ("mallocs <n> thread <k>" on stderr: thread 1 is the main thread, the
 * others are numbered from 2 in the order of their first allocation).
 * Not part of the library.  LuaJIT allocates its objects itself (not
 * through malloc): only the C side's allocations show there.
 */
#define _GNU_SOURCE
#include <stdatomic.h>
#include <stddef.h>
#include <stdio.h>
#include <unistd.h>

void *__libc_malloc(size_t);
void *__libc_calloc(size_t, size_t);
void *__libc_realloc(void *, size_t);

#define SLOTS 64
static atomic_long counts[SLOTS];
static atomic_int used = 1;	/* slot 0: the main thread */
static __thread int slot = -1;

static void
count(void)
{
	if (slot < 0) {
		slot = gettid() == getpid() ? 0 : atomic_fetch_add(&used, 1);
		if (slot >= SLOTS)
			slot = SLOTS - 1;
	}
	atomic_fetch_add_explicit(&counts[slot], 1, memory_order_relaxed);
}

void *malloc(size_t n) { count(); return __libc_malloc(n); }
void *calloc(size_t a, size_t b) { count(); return __libc_calloc(a, b); }
void *realloc(void *p, size_t n) { count(); return __libc_realloc(p, n); }

__attribute__((destructor)) static void
report(void)
{
	int i, n = atomic_load(&used);

	for (i = 0; i < n && i < SLOTS; i++)
		fprintf(stderr, "mallocs %ld thread %d\n", atomic_load(&counts[i]), i + 1);
}
