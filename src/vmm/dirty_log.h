/* Which pages of guest memory changed, for live migration: KVM's dirty
 * log of the guest's own writes (per memory slot) together with the
 * VMM's record of what it and its devices wrote (guest_mem_dirty_*), as
 * one bitmap, a bit per 4 KiB page of the guest memory mapping. */
#ifndef KVMBOX_VMM_DIRTY_LOG_H
#define KVMBOX_VMM_DIRTY_LOG_H

#include <stddef.h>
#include <stdint.h>

struct vm;

/* Turns logging on for every slot and the VMM's record; from here every
 * write is seen. Returns 0, or -1 with the reason. */
int dirty_log_start(struct vm *vm, char *err, size_t errlen);
/* ORs what changed since the start or the last take into bits
 * (GUEST_MEM_DIRTY_WORDS words) and starts the next interval. */
int dirty_log_take(struct vm *vm, uint64_t *bits, char *err, size_t errlen);
void dirty_log_stop(struct vm *vm);

#endif
