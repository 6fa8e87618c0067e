/* The VM's spawner: the one thread that creates device threads. A guest's
 * register write (a driver that starts a virtio device, an RTC alarm)
 * asks for one on a vCPU thread, whose seccomp filter allows no thread
 * creation; and a thread starts under its creator's filter, so one made
 * there could never do more than a vCPU. The spawner's filter allows
 * creating threads and what every device thread needs; each new thread
 * then narrows itself to its role (sandbox.h).
 *
 * The caller waits for the answer: the spawner does nothing but
 * pthread_create and takes no other lock, so it never waits on a vCPU or
 * a device (a caller may hold its device's lock; no deadlock with a pause,
 * and a stop answers a request still waiting). */
#ifndef KVMBOX_VMM_THREAD_SPAWNER_H
#define KVMBOX_VMM_THREAD_SPAWNER_H

#include "sandbox/sandbox.h"

#include <pthread.h>
#include <stdbool.h>

struct spawn_request;

struct thread_spawner {
    pthread_t thread;
    bool running;
    /* Protects req, stop and the request's result; a leaf. Requests go
     * one at a time (a second waits for the slot). */
    pthread_mutex_t lock;
    pthread_cond_t changed;
    struct spawn_request *req;
    bool stop;
};

/* From the main thread, before any device can ask. 0, or -1 (logged). */
int spawner_start(struct thread_spawner *s);
/* Any thread: sandbox_thread_create(t, NULL, name, role, fn, arg) done by
 * the spawner. Returns its error number. */
int spawner_spawn(struct thread_spawner *s, pthread_t *t, const char *name,
                  enum sandbox_role role, void *(*fn)(void *), void *arg);
void spawner_stop(struct thread_spawner *s);

#endif
