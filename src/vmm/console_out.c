#include "vmm/console_out.h"

#include "sandbox/sandbox.h"
#include "util/deadline.h"
#include "util/kick.h"
#include "util/log.h"

#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define WRITER_STACK (64u * 1024)

void console_out_init(struct console_out *o, int fd)
{
    memset(o, 0, sizeof *o);
    o->fd = fd;
    pthread_mutex_init(&o->lock, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&o->more, &ca);
    pthread_cond_init(&o->drained, &ca);
    pthread_condattr_destroy(&ca);
}

static void *writer_main(void *arg)
{
    struct console_out *o = arg;
    pthread_mutex_lock(&o->lock);
    for (;;) {
        while (!o->len && !o->stop)
            pthread_cond_wait(&o->more, &o->lock);
        if (!o->len || o->broken)
            break;
        /* The contiguous run at the head; the ring only grows at the tail
         * meanwhile, so these bytes stay put while the lock is dropped. */
        size_t run = o->len < CONSOLE_OUT_RING - o->head ? o->len : CONSOLE_OUT_RING - o->head;
        const uint8_t *p = o->ring + o->head;
        pthread_mutex_unlock(&o->lock);
        ssize_t n = write(o->fd, p, run);
        int e = errno;
        pthread_mutex_lock(&o->lock);
        if (o->broken)
            break;                   /* console_out_stop gave up on the reader */
        if (n > 0) {
            o->head = (o->head + (size_t)n) % CONSOLE_OUT_RING;
            o->len -= (size_t)n;
            o->written += (uint64_t)n;
        } else if (n < 0 && e == EINTR) {
            /* a kick: look at the flags again */
        } else {
            /* A closed pipe or a dead terminal: nobody will read again. */
            o->dropped += o->len;
            o->len = 0;
            o->broken = true;
        }
        pthread_cond_broadcast(&o->drained);
    }
    pthread_cond_broadcast(&o->drained);
    pthread_mutex_unlock(&o->lock);
    return NULL;
}

int console_out_start(struct console_out *o)
{
    kick_signal_init();
    /* Here, not at the first byte: the first malloc on a vCPU thread would
     * build that thread a malloc arena of its own, on the path to the
     * guest's first output. The ring is mmap-sized, so its pages cost
     * nothing until output passes through them. */
    if (!o->ring && !(o->ring = malloc(CONSOLE_OUT_RING))) {
        log_error("cannot allocate the console output buffer");
        return -1;
    }
    pthread_attr_t a;
    pthread_attr_init(&a);
    pthread_attr_setstacksize(&a, WRITER_STACK);
    int r = sandbox_thread_create(&o->thread, &a, "console-out", SANDBOX_CONSOLE_OUT, writer_main,
                                  o);
    pthread_attr_destroy(&a);
    if (r) {
        log_error("cannot start the console output thread: %s", log_strerror(r));
        return -1;
    }
    o->started = true;
    return 0;
}

size_t console_out_write(struct console_out *o, const void *buf, size_t len)
{
    if (!len)
        return 0;
    pthread_mutex_lock(&o->lock);
    if (!o->started || o->broken || o->stop) {
        o->dropped += len;
        pthread_mutex_unlock(&o->lock);
        return 0;
    }
    size_t room = CONSOLE_OUT_RING - o->len;
    size_t take = len < room ? len : room;
    size_t tail = (o->head + o->len) % CONSOLE_OUT_RING;
    size_t first = take < CONSOLE_OUT_RING - tail ? take : CONSOLE_OUT_RING - tail;
    memcpy(o->ring + tail, buf, first);
    memcpy(o->ring, (const uint8_t *)buf + first, take - first);
    o->len += take;
    o->dropped += len - take;
    if (take)
        pthread_cond_signal(&o->more);
    pthread_mutex_unlock(&o->lock);
    return take;
}

void console_out_stop(struct console_out *o, unsigned timeout_ms)
{
    pthread_mutex_lock(&o->lock);
    o->stop = true;
    pthread_cond_signal(&o->more);
    if (o->started) {
        /* Flush while the reader keeps taking bytes; give up after
         * timeout_ms without progress. */
        struct timespec until = deadline_in(CLOCK_MONOTONIC, timeout_ms);
        uint64_t seen = o->written;
        while (o->len && !o->broken) {
            if (pthread_cond_timedwait(&o->drained, &o->lock, &until) == ETIMEDOUT) {
                if (o->written == seen)
                    break;
                seen = o->written;
                until = deadline_in(CLOCK_MONOTONIC, timeout_ms);
            }
        }
        if (o->len) {
            o->dropped += o->len;
            o->len = 0;
            o->broken = true;
        }
    }
    pthread_mutex_unlock(&o->lock);
    if (o->started) {
        /* The writer may sit in a write() nobody will complete: interrupt
         * it until it has gone. */
        for (;;) {
            struct timespec t = deadline_in(CLOCK_REALTIME, 50);
            if (pthread_timedjoin_np(o->thread, NULL, &t) == 0)
                break;
            kick_thread(o->thread);
        }
        o->started = false;
    }
    if (o->dropped)
        log_warn("%llu bytes of guest console output were dropped: stdout did not take them",
                 (unsigned long long)o->dropped);
    o->dropped = 0;
}

void console_out_destroy(struct console_out *o)
{
    if (o->started)
        console_out_stop(o, 0);
    free(o->ring);
    o->ring = NULL;
    pthread_cond_destroy(&o->more);
    pthread_cond_destroy(&o->drained);
    pthread_mutex_destroy(&o->lock);
}
