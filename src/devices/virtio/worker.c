#include "devices/virtio/worker.h"

#include "devices/device.h"
#include "util/log.h"

#include <errno.h>
#include <string.h>
#include <sys/epoll.h>
#include <unistd.h>

#define GATE_TAG UINT32_MAX

void worker_init(struct virtio_worker *w, const char *name, worker_fn fn, void *dev)
{
    memset(w, 0, sizeof *w);
    w->epfd = w->gate.fd = -1;
    w->fn = fn;
    w->dev = dev;
    w->name = name;
}

int worker_add_fd(struct virtio_worker *w, int fd, unsigned tag, bool is_eventfd)
{
    if (tag >= WORKER_MAX_FDS || w->running)
        return -1;
    w->fds[tag] = fd;
    w->used[tag] = true;
    w->drain[tag] = is_eventfd;
    if (tag >= w->nfds)
        w->nfds = tag + 1;
    return 0;
}

static void *worker_loop(struct virtio_worker *w)
{
    for (;;) {
        struct epoll_event ev[WORKER_MAX_FDS + 1];
        int n = epoll_wait(w->epfd, ev, WORKER_MAX_FDS + 1, -1);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            log_error("%s: epoll_wait: %s", w->name, log_strerror(errno));
            return NULL;
        }
        for (int i = 0; i < n; i++) {
            uint32_t tag = ev[i].data.u32;
            if (tag == GATE_TAG) {
                /* Parks here, outside fn, while paused; the other events
                 * of this round are served after resume. */
                if (thread_gate_serve(&w->gate))
                    return NULL;
                continue;
            }
            if (w->drain[tag]) {
                uint64_t count;
                if (read(w->fds[tag], &count, sizeof count) < 0 && errno != EAGAIN)
                    log_debug("%s: eventfd read: %s", w->name, log_strerror(errno));
            }
            w->fn(w->dev, tag);
        }
    }
}

static void *worker_main(void *arg)
{
    struct virtio_worker *w = arg;
    worker_loop(w);
    thread_gate_exit(&w->gate);      /* a pause now returns at once */
    return NULL;
}

int worker_start(struct virtio_worker *w, const struct dev_host *host, enum sandbox_role role)
{
    w->epfd = epoll_create1(EPOLL_CLOEXEC);
    if (w->epfd < 0 || thread_gate_init(&w->gate) < 0)
        goto fail;
    struct epoll_event ev = { .events = EPOLLIN, .data.u32 = GATE_TAG };
    if (epoll_ctl(w->epfd, EPOLL_CTL_ADD, w->gate.fd, &ev) < 0)
        goto fail;
    for (unsigned t = 0; t < w->nfds; t++) {
        if (!w->used[t])
            continue;
        ev = (struct epoll_event){ .events = EPOLLIN, .data.u32 = t };
        if (epoll_ctl(w->epfd, EPOLL_CTL_ADD, w->fds[t], &ev) < 0)
            goto fail;
    }
    if ((host ? dev_start_thread(host, &w->thread, w->name, role, worker_main, w)
              : sandbox_thread_create(&w->thread, NULL, w->name, role, worker_main, w)) != 0)
        goto fail;
    w->running = true;
    return 0;
fail:
    log_error("%s: cannot start its thread: %s", w->name, log_strerror(errno));
    worker_stop(w);
    return -1;
}

void worker_stop(struct virtio_worker *w)
{
    if (w->running) {
        thread_gate_stop(&w->gate);
        pthread_join(w->thread, NULL);
        w->running = false;
    }
    if (w->epfd >= 0)
        close(w->epfd);
    thread_gate_destroy(&w->gate);
    w->epfd = -1;
    w->nfds = 0;
    memset(w->fds, 0, sizeof w->fds);
    memset(w->drain, 0, sizeof w->drain);
    memset(w->used, 0, sizeof w->used);
}

void worker_pause(struct virtio_worker *w, void (*quiesce)(void *dev))
{
    if (w->running)
        thread_gate_pause(&w->gate, quiesce, w->dev);
}

void worker_resume(struct virtio_worker *w)
{
    if (w->running)
        thread_gate_resume(&w->gate);
}
