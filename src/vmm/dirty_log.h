/* Which pages of guest memory changed, for live migration: KVM's dirty
 * log of the guest's own writes (per memory slot) together with the
 * VMM's record of what it and its devices wrote (guest_mem_dirty_*), as
 * one bitmap, a bit per 4 KiB page of the guest memory mapping. */
#ifndef KVMBOX_VMM_DIRTY_LOG_H
#define KVMBOX_VMM_DIRTY_LOG_H

#include <stddef.h>
#include <stdint.h>

struct vm;

/* How KVM's log is read, per VM (a field of struct vm, zero when the VM
 * is built). */
struct dirty_log {
    /* The KVM_CAP_MANUAL_DIRTY_LOG_PROTECT2 flags dirty_log_start put in
     * force (KVM_DIRTY_LOG_MANUAL_PROTECT_ENABLE, KVM_DIRTY_LOG_INITIALLY_SET);
     * 0 when KVM does not offer manual protection: then each
     * KVM_GET_DIRTY_LOG clears and re-protects the pages it returns. */
    uint64_t manual;
    /* For tests: flags not to use even where KVM offers them (~0 forces
     * the fallback). 0, as a new VM has it, uses all KVM offers. */
    uint64_t refuse;
};

/* Turns logging on for every slot and the VMM's record; from here every
 * write is seen. Returns 0, or -1 with the reason. May be called again
 * after dirty_log_stop (a migration that failed, then another). */
int dirty_log_start(struct vm *vm, char *err, size_t errlen);
/* ORs what changed since the start or the last take into bits
 * (GUEST_MEM_DIRTY_WORDS words) and starts the next interval: a write
 * after the take returns is in the next one. The caller copies the pages
 * after the take, never before. */
int dirty_log_take(struct vm *vm, uint64_t *bits, char *err, size_t errlen);
void dirty_log_stop(struct vm *vm);

#endif
