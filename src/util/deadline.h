/* Absolute time-outs for the *timed* pthread calls, which take a point in
 * time on a given clock rather than a duration. */
#ifndef KVMBOX_UTIL_DEADLINE_H
#define KVMBOX_UTIL_DEADLINE_H

#include <stdbool.h>
#include <stdint.h>
#include <time.h>

/* Now on `clock`, plus ms milliseconds. */
struct timespec deadline_in(clockid_t clock, unsigned ms);
/* Whether a comes before b. */
bool deadline_before(const struct timespec *a, const struct timespec *b);

/* CLOCK_MONOTONIC in milliseconds and in microseconds: time-outs and
 * measured durations. */
int64_t monotonic_ms(void);
int64_t monotonic_us(void);
/* poll()'s time-out for what is left until `deadline` (monotonic_ms;
 * -1: none, and -1 is returned: wait for ever). */
int poll_ms_left(int64_t deadline);

#endif
