#include "util/ratelimit.h"

#include <string.h>

void ratelimit_init(struct ratelimit *rl)
{
    memset(rl, 0, sizeof *rl);
    pthread_mutex_init(&rl->lock, NULL);
    rl->window_start_ns = INT64_MIN;
}

void ratelimit_destroy(struct ratelimit *rl) { pthread_mutex_destroy(&rl->lock); }

bool ratelimit_allow(struct ratelimit *rl, int64_t now_ns, unsigned long *suppressed)
{
    pthread_mutex_lock(&rl->lock);
    if (rl->window_start_ns == INT64_MIN || now_ns - rl->window_start_ns >= RATELIMIT_WINDOW_NS) {
        rl->window_start_ns = now_ns;
        rl->in_window = 0;
    }
    bool ok = rl->in_window < RATELIMIT_BURST;
    if (ok) {
        rl->in_window++;
        *suppressed = rl->suppressed;
        rl->suppressed = 0;
    } else {
        rl->suppressed++;
    }
    pthread_mutex_unlock(&rl->lock);
    return ok;
}
