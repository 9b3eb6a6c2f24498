// mapped_inputs.c: a registry of the input files mapped into memory (weights, recordings,
// gzipped IDX). A file that another program shortens while it is mapped raises SIGBUS where
// a page past its new end is read; the fatal-signal handler (crash_restore.c) looks the
// address up here and says which file, in one line. Static storage only: the lookup runs in a
// signal handler. Apart from the terminal code so that Engine, which maps the files, needs none.
#include "mapped_inputs.h"
#include <string.h>

enum { slots = 32, message_bytes = 480 };
static struct { const char *start; size_t length; char message[message_bytes]; } mapped[slots];
static unsigned long next = 0;

void ddpm_mapped_input_add(const void *start, size_t length, const char *message) {
    // A ring: with more than `slots` inputs mapped at once the oldest is forgotten (its SIGBUS
    // then gets the crash report, as before).
    unsigned long k = __atomic_fetch_add(&next, 1, __ATOMIC_SEQ_CST) % slots;
    __atomic_store_n(&mapped[k].start, NULL, __ATOMIC_SEQ_CST);
    size_t n = strlen(message);
    if (n > message_bytes - 2) n = message_bytes - 2;
    memcpy(mapped[k].message, message, n);
    mapped[k].message[n] = '\n';
    mapped[k].message[n + 1] = 0;
    mapped[k].length = length;
    __atomic_store_n(&mapped[k].start, (const char *)start, __ATOMIC_RELEASE);
}

void ddpm_mapped_input_remove(const void *start) {
    for (int k = 0; k < slots; k++) {
        const char *expected = start;
        __atomic_compare_exchange_n(&mapped[k].start, &expected, NULL, 0, __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST);
    }
}

const char *ddpm_mapped_input_at(const void *address) {
    const char *a = address;
    unsigned long newest = __atomic_load_n(&next, __ATOMIC_ACQUIRE);
    // Newest first: an address reused by a later mapping names the later file.
    for (unsigned long i = 1; i <= slots; i++) {
        unsigned long k = (newest - i) % slots;
        const char *start = __atomic_load_n(&mapped[k].start, __ATOMIC_ACQUIRE);
        if (start != NULL && a >= start && a < start + mapped[k].length) return mapped[k].message;
    }
    return NULL;
}
