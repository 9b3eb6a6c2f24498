/* MallocCounter.h: counts heap allocations (malloc, calloc, realloc,
   posix_memalign, aligned_alloc, memalign) made by any thread while counting
   is on, so tests can assert a training or sampling step allocates nothing. */
#ifndef MALLOC_COUNTER_H
#define MALLOC_COUNTER_H
/* Starts counting from zero. */
void malloc_counter_start(void);
/* Stops counting; returns the allocations made since the start, except
   those BLIS made itself. */
long malloc_counter_stop(void);
/* The allocations BLIS made itself in the last counting period. */
long malloc_counter_blis(void);
#endif
