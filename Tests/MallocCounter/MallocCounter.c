/* MallocCounter.c: the test binary's malloc family, each a counting wrapper
   around glibc's own (__libc_*). Linked into the test executable, these
   definitions take the place of libc's for every library in the process,
   including the Swift runtime's allocations of class instances and arrays. */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <string.h>
#include <execinfo.h>
#include <stdlib.h>
#include <stdatomic.h>
#include <stddef.h>
#include <unistd.h>
#include "MallocCounter.h"

extern void *__libc_malloc(size_t);
extern void *__libc_calloc(size_t, size_t);
extern void *__libc_realloc(void *, size_t);
extern void *__libc_memalign(size_t, size_t);

static atomic_int counting;
static atomic_long allocations, blisAllocations;

/* MALLOC_COUNTER_TRACE=N prints the call stacks of the first N counted
   allocations to stderr (to find where a step allocates). */
static _Thread_local int inTrace;
static long traceLimit = -1;

/* Whether the allocating code is BLIS's own or its OpenMP runtime's (thread
   descriptors made inside every sgemm call): counted apart. */
static int fromBLIS(void *caller) {
    Dl_info info;
    return dladdr(caller, &info) && info.dli_fname && (strstr(info.dli_fname, "libblis") != NULL || strstr(info.dli_fname, "libgomp") != NULL);
}

#define count() count_from(__builtin_return_address(0))
static inline void count_from(void *caller) {
    if (!atomic_load_explicit(&counting, memory_order_relaxed) || inTrace) return;
    inTrace = 1;
    int blis = fromBLIS(caller);
    inTrace = 0;
    if (blis) { atomic_fetch_add_explicit(&blisAllocations, 1, memory_order_relaxed); return; }
    long k = atomic_fetch_add_explicit(&allocations, 1, memory_order_relaxed);
    if (traceLimit != 0) {
        inTrace = 1;
        if (traceLimit < 0) { const char *e = getenv("MALLOC_COUNTER_TRACE"); traceLimit = e ? atol(e) : 0; }
        if (k < traceLimit) {
            void *frames[24];
            int n = backtrace(frames, 24);
            backtrace_symbols_fd(frames, n, 2);
            write(2, "--\n", 3);
        }
        inTrace = 0;
    }
}

void *malloc(size_t n) { count(); return __libc_malloc(n); }
void *calloc(size_t k, size_t n) { count(); return __libc_calloc(k, n); }
void *realloc(void *p, size_t n) { count(); return __libc_realloc(p, n); }
void *memalign(size_t a, size_t n) { count(); return __libc_memalign(a, n); }
void *aligned_alloc(size_t a, size_t n) { count(); return __libc_memalign(a, n); }
int posix_memalign(void **out, size_t a, size_t n) {
    count();
    if (a < sizeof(void *) || (a & (a - 1)) != 0) return EINVAL;
    void *p = __libc_memalign(a, n);
    if (p == NULL) return ENOMEM;
    *out = p;
    return 0;
}

void malloc_counter_start(void) {
    atomic_store(&allocations, 0);
    atomic_store(&blisAllocations, 0);
    atomic_store(&counting, 1);
}

long malloc_counter_stop(void) {
    atomic_store(&counting, 0);
    return atomic_load(&allocations);
}

long malloc_counter_blis(void) { return atomic_load(&blisAllocations); }
