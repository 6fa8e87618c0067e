/* Absolute time-outs for the *timed* pthread calls, which take a point in
 * time on a given clock rather than a duration. */
#ifndef KVMBOX_UTIL_DEADLINE_H
#define KVMBOX_UTIL_DEADLINE_H

#include <stdbool.h>
#include <time.h>

/* Now on `clock`, plus ms milliseconds. */
struct timespec deadline_in(clockid_t clock, unsigned ms);
/* Whether a comes before b. */
bool deadline_before(const struct timespec *a, const struct timespec *b);

#endif
