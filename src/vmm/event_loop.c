#include "vmm/event_loop.h"

#include <errno.h>
#include <poll.h>
#include <string.h>

void event_loop_init(struct event_loop *l) { memset(l, 0, sizeof *l); }

int event_loop_add(struct event_loop *l, int fd, event_want_fn want, event_ready_fn ready,
                   void *ctx)
{
    if (fd < 0 || l->n == EVENT_LOOP_MAX)
        return -1;
    for (unsigned i = 0; i < l->n; i++)
        if (l->src[i].fd == fd)
            return -1;
    l->src[l->n++] = (struct event_source){ fd, want, ready, ctx };
    return 0;
}

void event_loop_remove(struct event_loop *l, int fd)
{
    for (unsigned i = 0; i < l->n; i++) {
        if (l->src[i].fd == fd) {
            memmove(&l->src[i], &l->src[i + 1], (l->n - i - 1) * sizeof l->src[0]);
            l->n--;
            return;
        }
    }
}

int event_loop_poll(struct event_loop *l, int timeout_ms)
{
    struct pollfd p[EVENT_LOOP_MAX];
    struct event_source called[EVENT_LOOP_MAX];
    unsigned n = 0;
    for (unsigned i = 0; i < l->n; i++) {
        short ev = l->src[i].want ? l->src[i].want(l->src[i].ctx) : POLLIN;
        if (!ev)
            continue;
        p[n] = (struct pollfd){ .fd = l->src[i].fd, .events = ev };
        called[n++] = l->src[i];
    }
    if (poll(p, n, timeout_ms) < 0)
        return errno == EINTR ? 0 : -1;
    /* From a copy: a callback may add or remove sources, and one removed
     * meanwhile is not called. */
    int ready = 0;
    for (unsigned i = 0; i < n; i++) {
        bool still = false;
        for (unsigned j = 0; j < l->n && !still; j++)
            still = l->src[j].fd == p[i].fd && l->src[j].ctx == called[i].ctx;
        if (p[i].revents && still) {
            called[i].ready(called[i].ctx, p[i].revents);
            ready++;
        }
    }
    return ready;
}
