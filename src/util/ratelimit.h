/* Rate limiting for messages a guest can trigger (a broken queue, a
 * rejected route): a hostile guest must not be able to fill the host's
 * stderr or its log. Each limiter lives in the object whose messages it
 * limits (a device, the IRQ router), never in global state. */
#ifndef KVMBOX_UTIL_RATELIMIT_H
#define KVMBOX_UTIL_RATELIMIT_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#define RATELIMIT_BURST 5            /* messages per window */
#define RATELIMIT_WINDOW_NS 10000000000ll   /* 10 s */

struct ratelimit {
    pthread_mutex_t lock;            /* a leaf: protects the fields below */
    int64_t window_start_ns;
    unsigned in_window;
    unsigned long suppressed;        /* dropped since the last message that went out */
};

void ratelimit_init(struct ratelimit *rl);
void ratelimit_destroy(struct ratelimit *rl);
/* Whether a message may go out at time now_ns (CLOCK_MONOTONIC). When it
 * may, *suppressed says how many were dropped before it (and is reset). */
bool ratelimit_allow(struct ratelimit *rl, int64_t now_ns, unsigned long *suppressed);

#endif
