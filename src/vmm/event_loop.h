/* The main thread's poll loop as a small registry of file descriptors:
 * each source says, before every poll, which events it waits for (so
 * stdin is read only while the guest can take it), and is called when
 * its fd is ready. The API socket and, later, a migration stream are one
 * registration each, not another fixed slot. Used by the main thread
 * alone, so it has no lock. */
#ifndef KVMBOX_VMM_EVENT_LOOP_H
#define KVMBOX_VMM_EVENT_LOOP_H

#include <stdbool.h>

#define EVENT_LOOP_MAX 48               /* the API's 32 clients and the VM's own */

/* Which poll events to wait for on the source's fd this round; 0 leaves
 * the fd out of this poll. */
typedef short (*event_want_fn)(void *ctx);
/* The fd is ready with `revents` (POLLNVAL included). */
typedef void (*event_ready_fn)(void *ctx, short revents);

struct event_source {
    int fd;
    event_want_fn want;              /* NULL: always POLLIN */
    event_ready_fn ready;
    void *ctx;
};

struct event_loop {
    struct event_source src[EVENT_LOOP_MAX];
    unsigned n;
};

void event_loop_init(struct event_loop *l);
/* Returns 0, or -1 when the registry is full or fd is already there. */
int event_loop_add(struct event_loop *l, int fd, event_want_fn want, event_ready_fn ready,
                   void *ctx);
void event_loop_remove(struct event_loop *l, int fd);
/* One poll over every source that wants something (timeout_ms as poll's),
 * then the ready callbacks in registration order. Returns the number of
 * sources called, 0 on a time-out or EINTR, -1 when poll fails. */
int event_loop_poll(struct event_loop *l, int timeout_ms);

#endif
