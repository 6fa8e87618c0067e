/* The event monitor (--event-monitor path=FILE|fd=N): one JSON object per
 * line for each change of the VMM's and the VM's state, in Cloud
 * Hypervisor's shape:
 *   {"timestamp":{"secs":1,"nanos":5},"source":"vm","event":"paused","properties":null}
 * The timestamp is the time since kvmbox started. Events come from the
 * main thread (boot, stop, the API's pause and resume) and from a
 * migration's thread, one write each, under a lock so that lines never
 * interleave. */
#ifndef KVMBOX_VMM_EVENTS_H
#define KVMBOX_VMM_EVENTS_H

#include <pthread.h>
#include <stddef.h>
#include <time.h>

struct event_monitor {
    int fd;                          /* -1: no monitor */
    struct timespec start;
    pthread_mutex_t lock;            /* a leaf: one line at a time */
};

/* path (opened for appending, created 0600; a FIFO must have a reader)
 * or fd; neither: events go nowhere. Returns 0, or -1 with the reason. */
int event_monitor_open(struct event_monitor *m, const char *path, int fd, char *err,
                       size_t errlen);
void event_monitor_close(struct event_monitor *m);
/* source "vmm" or "vm"; event e.g. "booted". */
void event_emit(struct event_monitor *m, const char *source, const char *event);
/* The same with "properties": a JSON object's text (kvmbox's own, short). */
void event_emit_props(struct event_monitor *m, const char *source, const char *event,
                      const char *properties);

#endif
