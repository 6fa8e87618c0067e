/* A virtio device's own thread: it waits on the device's queue kicks (the
 * eventfds that KVM signals through ioeventfd) and any other fds it adds
 * (an io_uring completion eventfd), and calls the device for each.
 * Requests are thus served off the vCPU threads. Stop, pause and resume go
 * through a thread_gate (devices/thread_gate.h): its eventfd sits in the
 * epoll set next to the device's fds, and its lock is a leaf. */
#ifndef KVMBOX_DEVICES_VIRTIO_WORKER_H
#define KVMBOX_DEVICES_VIRTIO_WORKER_H

#include "devices/thread_gate.h"
#include "sandbox/sandbox.h"

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#define WORKER_MAX_FDS 16

typedef void (*worker_fn)(void *dev, unsigned tag);

struct virtio_worker {
    pthread_t thread;
    bool running;
    int epfd;
    struct thread_gate gate;         /* stop, pause, resume */
    worker_fn fn;
    void *dev;
    const char *name;
    int fds[WORKER_MAX_FDS];
    bool used[WORKER_MAX_FDS];
    bool drain[WORKER_MAX_FDS];      /* an eventfd: read it empty before calling */
    unsigned nfds;
};

void worker_init(struct virtio_worker *w, const char *name, worker_fn fn, void *dev);
/* Adds an fd before worker_start; `tag` comes back to fn. */
int worker_add_fd(struct virtio_worker *w, int fd, unsigned tag, bool is_eventfd);
/* The thread comes from host's start_thread (NULL: made here), in the
 * sandbox's `role`. */
struct dev_host;
int worker_start(struct virtio_worker *w, const struct dev_host *host, enum sandbox_role role);
/* Stops and joins the thread, paused or not, and forgets its fds (it
 * closes none). */
void worker_stop(struct virtio_worker *w);
/* Returns once the thread is parked between two calls of fn, after
 * running quiesce(dev) (may be NULL) on it: e.g. to complete I/O in
 * flight. Kicks that arrive meanwhile stay pending in their eventfds and
 * are served after worker_resume. A no-op on a worker that is not
 * running; pausing a paused worker is harmless. */
void worker_pause(struct virtio_worker *w, void (*quiesce)(void *dev));
/* Lets a paused worker carry on; harmless on one that is not paused. */
void worker_resume(struct virtio_worker *w);

#endif
