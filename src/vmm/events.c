#include "vmm/events.h"

#include "util/log.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

int event_monitor_open(struct event_monitor *m, const char *path, int fd, char *err,
                       size_t errlen)
{
    m->fd = -1;
    clock_gettime(CLOCK_MONOTONIC, &m->start);
    pthread_mutex_init(&m->lock, NULL);
    if (path) {
        /* Non-blocking open: a FIFO without a reader is refused at once
         * (ENXIO) rather than waited on; then writes block as usual. */
        m->fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC | O_NONBLOCK, 0600);
        if (m->fd < 0) {
            snprintf(err, errlen, "--event-monitor %s: %s", path,
                     errno == ENXIO ? "a FIFO with no reader" : log_strerror(errno));
            return -1;
        }
        fcntl(m->fd, F_SETFL, fcntl(m->fd, F_GETFL) & ~O_NONBLOCK);
    } else if (fd > 0) {
        if (fcntl(fd, F_GETFL) < 0) {
            snprintf(err, errlen, "--event-monitor fd=%d: not an open file descriptor", fd);
            return -1;
        }
        m->fd = fd;
    }
    return 0;
}

void event_monitor_close(struct event_monitor *m)
{
    if (m->fd >= 0)
        close(m->fd);
    m->fd = -1;
    pthread_mutex_destroy(&m->lock);
}

void event_emit(struct event_monitor *m, const char *source, const char *event)
{
    event_emit_props(m, source, event, NULL);
}

void event_emit_props(struct event_monitor *m, const char *source, const char *event,
                      const char *properties)
{
    if (!m || m->fd < 0)
        return;
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    long long secs = now.tv_sec - m->start.tv_sec;
    long nanos = now.tv_nsec - m->start.tv_nsec;
    if (nanos < 0) {
        secs--;
        nanos += 1000000000;
    }
    char line[768];
    int n = snprintf(line, sizeof line,
                     "{\"timestamp\":{\"secs\":%lld,\"nanos\":%ld},\"source\":\"%s\","
                     "\"event\":\"%s\",\"properties\":%s}\n",
                     secs, nanos, source, event, properties ? properties : "null");
    if (n < 0 || (size_t)n >= sizeof line)
        return;      /* (properties are kvmbox's own few numbers: never this long) */
    pthread_mutex_lock(&m->lock);
    if (write(m->fd, line, (size_t)n) != n)
        log_debug("event monitor: write failed: %s", log_strerror(errno));
    pthread_mutex_unlock(&m->lock);
}
