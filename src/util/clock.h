/* Where a device reads the time: a host clock by default, a clock of the
 * unit test's own when it needs to step time (the RTC's update cycle and
 * alarm, the ACPI PM timer) without sleeping. */
#ifndef KVMBOX_UTIL_CLOCK_H
#define KVMBOX_UTIL_CLOCK_H

#include <stdint.h>
#include <time.h>

#define NS_PER_SEC 1000000000LL

struct dev_clock {
    int64_t (*now_ns)(void *ctx);    /* NULL: the host clock `id` */
    void *ctx;
    clockid_t id;
};

static inline int64_t host_clock_ns(clockid_t id)
{
    struct timespec ts;
    clock_gettime(id, &ts);
    return (int64_t)ts.tv_sec * NS_PER_SEC + ts.tv_nsec;
}

static inline int64_t dev_clock_ns(const struct dev_clock *c)
{
    return c->now_ns ? c->now_ns(c->ctx) : host_clock_ns(c->id);
}

#endif
