/* The guest's console output on its way to stdout. Devices (the UART on a
 * vCPU thread, virtio-console on its worker) hand bytes over without ever
 * blocking: they go into a ring that a writer thread of its own drains
 * with ordinary blocking writes. A reader that stops reading (a full
 * pipe, a stopped terminal) then stalls only that thread; what no longer
 * fits is dropped and counted, and stopping the VM never waits on it
 * longer than a bounded flush. */
#ifndef KVMBOX_VMM_CONSOLE_OUT_H
#define KVMBOX_VMM_CONSOLE_OUT_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define CONSOLE_OUT_RING (256u * 1024)

struct console_out {
    int fd;
    /* A leaf lock: the ring, the counters and the flags below. Held only
     * to copy bytes in or out, never across the write(). */
    pthread_mutex_t lock;
    pthread_cond_t more;             /* the writer waits for bytes (or stop) */
    pthread_cond_t drained;          /* a flush waits for progress */
    uint8_t *ring;                   /* allocated by console_out_start */
    size_t head, len;
    uint64_t dropped, written;
    bool stop;                       /* set by console_out_stop */
    bool broken;                     /* the fd refused a write: drop from now on */
    bool started;
    pthread_t thread;
};

/* Sets up the ring for fd; starts nothing yet. */
void console_out_init(struct console_out *o, int fd);
/* Starts the writer thread. Returns 0, or -1 (output is then written
 * directly: only when no thread can be had at all). */
int console_out_start(struct console_out *o);
/* Queues bytes for the fd; never blocks. Returns how many were taken
 * (the rest are dropped and counted). */
size_t console_out_write(struct console_out *o, const void *buf, size_t len);
/* Flushes what is queued, giving up when the reader makes no progress for
 * timeout_ms, then stops the writer (interrupting a write that blocks)
 * and reports dropped output once. */
void console_out_stop(struct console_out *o, unsigned timeout_ms);
void console_out_destroy(struct console_out *o);

#endif
