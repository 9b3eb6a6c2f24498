// mapped_inputs.h: the input files mapped into memory, for the fatal-signal handler (crash_restore.c).
#ifndef DDPM_MAPPED_INPUTS_H
#define DDPM_MAPPED_INPUTS_H
#include <stddef.h>

/// Registers an input file mapped at [start, start + length): a SIGBUS inside it (the file was
/// shortened while mapped) is then said as `message` (copied, up to 478 bytes) in one line.
void ddpm_mapped_input_add(const void *start, size_t length, const char *message);

/// Forgets the mapping at `start` (before it is unmapped).
void ddpm_mapped_input_remove(const void *start);

/// The message of the newest registered mapping holding `address`, or NULL. Async-signal-safe.
const char *ddpm_mapped_input_at(const void *address);

#endif
