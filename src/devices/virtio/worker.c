#include "devices/virtio/worker.h"

#include "util/log.h"

#include <errno.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#define STOP_TAG UINT32_MAX

void worker_init(struct virtio_worker *w, const char *name, worker_fn fn, void *dev)
{
    memset(w, 0, sizeof *w);
    w->epfd = w->stop_fd = -1;
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

static void *worker_main(void *arg)
{
    struct virtio_worker *w = arg;
    for (;;) {
        struct epoll_event ev[WORKER_MAX_FDS + 1];
        int n = epoll_wait(w->epfd, ev, WORKER_MAX_FDS + 1, -1);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            log_error("%s: epoll_wait: %s", w->name, strerror(errno));
            return NULL;
        }
        for (int i = 0; i < n; i++) {
            uint32_t tag = ev[i].data.u32;
            if (tag == STOP_TAG)
                return NULL;
            if (w->drain[tag]) {
                uint64_t count;
                if (read(w->fds[tag], &count, sizeof count) < 0 && errno != EAGAIN)
                    log_debug("%s: eventfd read: %s", w->name, strerror(errno));
            }
            w->fn(w->dev, tag);
        }
    }
}

int worker_start(struct virtio_worker *w)
{
    w->epfd = epoll_create1(EPOLL_CLOEXEC);
    w->stop_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (w->epfd < 0 || w->stop_fd < 0)
        goto fail;
    struct epoll_event ev = { .events = EPOLLIN, .data.u32 = STOP_TAG };
    if (epoll_ctl(w->epfd, EPOLL_CTL_ADD, w->stop_fd, &ev) < 0)
        goto fail;
    for (unsigned t = 0; t < w->nfds; t++) {
        if (!w->used[t])
            continue;
        ev = (struct epoll_event){ .events = EPOLLIN, .data.u32 = t };
        if (epoll_ctl(w->epfd, EPOLL_CTL_ADD, w->fds[t], &ev) < 0)
            goto fail;
    }
    if (pthread_create(&w->thread, NULL, worker_main, w) != 0)
        goto fail;
    w->running = true;
    return 0;
fail:
    log_error("%s: cannot start its thread: %s", w->name, strerror(errno));
    worker_stop(w);
    return -1;
}

void worker_stop(struct virtio_worker *w)
{
    if (w->running) {
        uint64_t one = 1;
        if (write(w->stop_fd, &one, sizeof one) < 0)
            log_debug("%s: stop eventfd: %s", w->name, strerror(errno));
        pthread_join(w->thread, NULL);
        w->running = false;
    }
    if (w->epfd >= 0)
        close(w->epfd);
    if (w->stop_fd >= 0)
        close(w->stop_fd);
    w->epfd = w->stop_fd = -1;
    w->nfds = 0;
    memset(w->fds, 0, sizeof w->fds);
    memset(w->drain, 0, sizeof w->drain);
    memset(w->used, 0, sizeof w->used);
}
