#include "devices/thread_gate.h"

#include "util/log.h"

#include <errno.h>
#include <stdint.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

int thread_gate_init(struct thread_gate *g)
{
    memset(g, 0, sizeof *g);
    g->fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (g->fd < 0)
        return -1;
    pthread_mutex_init(&g->lock, NULL);
    pthread_cond_init(&g->cond, NULL);
    return 0;
}

void thread_gate_destroy(struct thread_gate *g)
{
    if (g->fd < 0)
        return;
    close(g->fd);
    g->fd = -1;
    pthread_mutex_destroy(&g->lock);
    pthread_cond_destroy(&g->cond);
}

/* Wakes the thread out of its poll; a parked one waits on `cond` instead. */
static void wake(struct thread_gate *g)
{
    uint64_t one = 1;
    if (write(g->fd, &one, sizeof one) < 0)
        log_debug("thread gate: eventfd write: %s", log_strerror(errno));
}

void thread_gate_stop(struct thread_gate *g)
{
    pthread_mutex_lock(&g->lock);
    __atomic_store_n(&g->stop, true, __ATOMIC_SEQ_CST);
    pthread_cond_broadcast(&g->cond);
    pthread_mutex_unlock(&g->lock);
    wake(g);
}

void thread_gate_pause(struct thread_gate *g, void (*quiesce)(void *arg), void *arg)
{
    pthread_mutex_lock(&g->lock);
    if (!g->pause) {
        g->quiesce = quiesce;
        g->quiesce_arg = arg;
        __atomic_store_n(&g->pause, true, __ATOMIC_SEQ_CST);
        wake(g);
    }
    while (!g->parked && !g->gone)
        pthread_cond_wait(&g->cond, &g->lock);
    pthread_mutex_unlock(&g->lock);
}

void thread_gate_resume(struct thread_gate *g)
{
    pthread_mutex_lock(&g->lock);
    __atomic_store_n(&g->pause, false, __ATOMIC_SEQ_CST);
    pthread_cond_broadcast(&g->cond);
    pthread_mutex_unlock(&g->lock);
}

bool thread_gate_pending(struct thread_gate *g)
{
    return __atomic_load_n(&g->pause, __ATOMIC_SEQ_CST) ||
           __atomic_load_n(&g->stop, __ATOMIC_SEQ_CST);
}

bool thread_gate_serve(struct thread_gate *g)
{
    uint64_t count;
    if (read(g->fd, &count, sizeof count) < 0 && errno != EAGAIN)
        log_debug("thread gate: eventfd read: %s", log_strerror(errno));
    pthread_mutex_lock(&g->lock);
    /* A wake-up left over from a pause that was resumed before the thread
     * saw it parks nothing. */
    bool park = g->pause && !g->stop;
    void (*quiesce)(void *) = g->quiesce;
    void *arg = g->quiesce_arg;
    pthread_mutex_unlock(&g->lock);
    if (park && quiesce)
        quiesce(arg);                /* device locks allowed: no gate lock held */
    pthread_mutex_lock(&g->lock);
    if (park) {
        g->parked = true;
        pthread_cond_broadcast(&g->cond);   /* the acknowledgement */
        while (g->pause && !g->stop)
            pthread_cond_wait(&g->cond, &g->lock);
        g->parked = false;
    }
    bool stop = g->stop;
    pthread_mutex_unlock(&g->lock);
    return stop;
}

void thread_gate_exit(struct thread_gate *g)
{
    pthread_mutex_lock(&g->lock);
    g->gone = true;
    pthread_cond_broadcast(&g->cond);
    pthread_mutex_unlock(&g->lock);
}
