/* Auto-converge (docs/migration.md): while a migration cannot keep up
 * with the memory the guest dirties, each vCPU gives up a share of its
 * time. Per 10 ms slice a throttled vCPU sleeps pct% of it and runs the
 * rest, a timer of its own kicking it out of KVM_RUN when its part is
 * over: the guest runs slower, and dirties less, but never stops. */
#ifndef KVMBOX_VMM_VCPU_THROTTLE_H
#define KVMBOX_VMM_VCPU_THROTTLE_H

#include <stdbool.h>
#include <time.h>

#define VCPU_THROTTLE_SLICE_NS 10000000L
#define VCPU_THROTTLE_MAX_PCT 99u

struct vcpu_throttle {
    timer_t timer;       /* kicks this vCPU's thread */
    bool has_timer;
};

/* On the vCPU's thread, before each KVM_RUN, with the VM's throttle now
 * (0: none; the timer, if any, is deleted). Sleeps the slice's share (a
 * kick ends the sleep early: a pause is not held up) and arms the timer
 * for the rest. */
void vcpu_throttle_step(struct vcpu_throttle *t, unsigned pct);
/* On the vCPU's thread, as it ends. */
void vcpu_throttle_end(struct vcpu_throttle *t);

#endif
