#include "vmm/vcpu_throttle.h"

#include "util/kick.h"
#include "util/log.h"

#include <errno.h>
#include <signal.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

/* A timer whose signal goes to the calling thread alone. */
static bool make_timer(struct vcpu_throttle *t)
{
    struct sigevent ev = {
        .sigev_notify = SIGEV_THREAD_ID,
        .sigev_signo = kick_signal(),
    };
    ev._sigev_un._tid = (pid_t)syscall(SYS_gettid);
    if (timer_create(CLOCK_MONOTONIC, &ev, &t->timer) < 0) {
        log_warn("auto-converge: no timer for a vCPU (%s): it is not slowed", log_strerror(errno));
        return false;
    }
    t->has_timer = true;
    return true;
}

void vcpu_throttle_step(struct vcpu_throttle *t, unsigned pct)
{
    if (!pct) {
        /* The throttle is over: the timer goes (the vCPU loop then makes
         * no more calls here). */
        vcpu_throttle_end(t);
        return;
    }
    if (pct > VCPU_THROTTLE_MAX_PCT)
        pct = VCPU_THROTTLE_MAX_PCT;
    if (!t->has_timer && !make_timer(t))
        return;
    long sleep_ns = VCPU_THROTTLE_SLICE_NS / 100 * pct;
    struct timespec nap = { 0, sleep_ns };
    /* EINTR: a kick (a pause, a stop) ends the nap; the caller looks at
     * its flags before it runs the guest again. */
    nanosleep(&nap, NULL);
    struct itimerspec run = { .it_value = { 0, VCPU_THROTTLE_SLICE_NS - sleep_ns } };
    timer_settime(t->timer, 0, &run, NULL);
}

void vcpu_throttle_end(struct vcpu_throttle *t)
{
    if (t->has_timer)
        timer_delete(t->timer);
    t->has_timer = false;
}
