#include "vmm/thread_spawner.h"

#include "util/log.h"

#include <errno.h>
#include <signal.h>
#include <string.h>

struct spawn_request {
    pthread_t *t;
    const char *name;
    enum sandbox_role role;
    void *(*fn)(void *);
    void *arg;
    int result;
    bool done;
};

static void *spawner_main(void *arg)
{
    struct thread_spawner *s = arg;
    pthread_mutex_lock(&s->lock);
    for (;;) {
        while (!s->stop && (!s->req || s->req->done))
            pthread_cond_wait(&s->changed, &s->lock);
        if (s->stop) {
            /* A request still waiting is answered: its caller must not
             * wait for ever. */
            if (s->req && !s->req->done) {
                s->req->result = EAGAIN;
                s->req->done = true;
                pthread_cond_broadcast(&s->changed);
            }
            break;
        }
        struct spawn_request *r = s->req;
        pthread_mutex_unlock(&s->lock);
        int e = sandbox_thread_create(r->t, NULL, r->name, r->role, r->fn, r->arg);
        pthread_mutex_lock(&s->lock);
        r->result = e;
        r->done = true;
        pthread_cond_broadcast(&s->changed);
    }
    pthread_mutex_unlock(&s->lock);
    return NULL;
}

int spawner_start(struct thread_spawner *s)
{
    memset(s, 0, sizeof *s);
    pthread_mutex_init(&s->lock, NULL);
    pthread_cond_init(&s->changed, NULL);
    /* The device threads it makes take no signal (they belong to the main
     * loop's signalfd and the vCPUs' kicks): it blocks them all, and they
     * inherit that. */
    sigset_t all, old;
    sigfillset(&all);
    /* But those a fault or a seccomp trap raises: blocked, the kernel
     * would kill the process without kvmbox's report. */
    sigdelset(&all, SIGSYS);
    sigdelset(&all, SIGSEGV);
    sigdelset(&all, SIGBUS);
    sigdelset(&all, SIGILL);
    sigdelset(&all, SIGFPE);
    sigdelset(&all, SIGABRT);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    int e = sandbox_thread_create(&s->thread, NULL, "spawner", SANDBOX_SPAWNER, spawner_main, s);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (e) {
        log_error("cannot start the device-thread spawner: %s", log_strerror(e));
        return -1;
    }
    s->running = true;
    return 0;
}

int spawner_spawn(struct thread_spawner *s, pthread_t *t, const char *name,
                  enum sandbox_role role, void *(*fn)(void *), void *arg)
{
    struct spawn_request r = { t, name, role, fn, arg, 0, false };
    pthread_mutex_lock(&s->lock);
    while (s->running && !s->stop && s->req)
        pthread_cond_wait(&s->changed, &s->lock);
    if (!s->running || s->stop) {
        pthread_mutex_unlock(&s->lock);
        return EAGAIN;
    }
    s->req = &r;
    pthread_cond_broadcast(&s->changed);
    /* Answered by the spawner in every case, a stop included. */
    while (!r.done)
        pthread_cond_wait(&s->changed, &s->lock);
    s->req = NULL;
    pthread_cond_broadcast(&s->changed);
    pthread_mutex_unlock(&s->lock);
    return r.result;
}

void spawner_stop(struct thread_spawner *s)
{
    if (!s->running)
        return;
    pthread_mutex_lock(&s->lock);
    s->stop = true;
    pthread_cond_broadcast(&s->changed);
    pthread_mutex_unlock(&s->lock);
    pthread_join(s->thread, NULL);
    s->running = false;
    pthread_mutex_destroy(&s->lock);
    pthread_cond_destroy(&s->changed);
}
