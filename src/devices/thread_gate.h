/* How the VMM stops, pauses and resumes a device's thread (a virtio
 * worker, the NIC's poll loop): one eventfd in the thread's poll set wakes
 * it, and a handshake under a lock of its own says what is asked. Pause
 * returns only once the thread has acknowledged and parked, outside the
 * device's code (the pattern of cloud-hypervisor's per-device pause event
 * with its acknowledgement); a stop ends a parked thread too. Written once
 * for every device thread.
 *
 * Locking: `lock` protects the fields below it and is a leaf (rank 4 in
 * docs/architecture.md "Locks"): nothing is locked or waited for under it
 * but its own condition variable. The thread runs the pauser's quiesce
 * hook with no gate lock held, so the hook may take the device's own
 * locks and deliver interrupts. The controller (pause, resume, stop) is
 * one thread at a time: the VMM's pausing thread, or a vCPU resetting the
 * device under the transport's lock, never both at once (the vCPUs are
 * parked while the VM is paused). */
#ifndef KVMBOX_DEVICES_THREAD_GATE_H
#define KVMBOX_DEVICES_THREAD_GATE_H

#include <pthread.h>
#include <stdbool.h>

struct thread_gate {
    int fd;                          /* eventfd the thread polls */
    pthread_mutex_t lock;            /* leaf: the fields below */
    pthread_cond_t cond;
    bool stop;                       /* the thread is to end */
    bool pause;                      /* the thread is to park (atomic reads outside lock) */
    bool parked;                     /* it has acknowledged and is parked */
    bool gone;                       /* it has ended (stop, or an error of its own) */
    void (*quiesce)(void *arg);      /* run on the thread before it acknowledges */
    void *quiesce_arg;
};

/* Before the thread starts: creates the eventfd. Returns 0 or -1 (errno). */
int thread_gate_init(struct thread_gate *g);
/* After the thread has been joined. Safe on a gate whose init failed. */
void thread_gate_destroy(struct thread_gate *g);

/* Controller side. */
/* Asks the thread to end, parked or not; the caller then joins it. */
void thread_gate_stop(struct thread_gate *g);
/* Asks the thread to park and returns once it has: `quiesce(arg)` (may be
 * NULL) runs on the thread first, e.g. to finish I/O in flight. Returns at
 * once if it is parked already or has ended. */
void thread_gate_pause(struct thread_gate *g, void (*quiesce)(void *arg), void *arg);
/* Lets a parked thread carry on; harmless when it is not parked. */
void thread_gate_resume(struct thread_gate *g);

/* Thread side. */
/* Call when the gate's fd is readable. Parks the thread if a pause is
 * asked (after the quiesce hook, outside the gate's lock) until resume or
 * stop. Returns true when the thread must end now. */
bool thread_gate_serve(struct thread_gate *g);
/* Whether a pause or stop is asked: a long loop on the thread may check it
 * to get back to its poll sooner. */
bool thread_gate_pending(struct thread_gate *g);
/* The thread is ending (after a stop or on an error of its own): a pause
 * asked now or later returns at once. */
void thread_gate_exit(struct thread_gate *g);

#endif
