#include "vmm/dirty_log.h"

#include "vmm/vm.h"

#include <errno.h>
#include <linux/kvm.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>

/* Slot i is region i (vm.c's setup_memory registers them so). */
static int set_logging(struct vm *vm, bool on, char *err, size_t errlen)
{
    for (unsigned i = 0; i < vm->mem.nregions; i++) {
        const struct guest_mem_region *r = &vm->mem.regions[i];
        struct kvm_userspace_memory_region kr = {
            .slot = i,
            .flags = on ? KVM_MEM_LOG_DIRTY_PAGES : 0,
            .guest_phys_addr = r->gpa,
            .memory_size = r->size,
            .userspace_addr = (uint64_t)(uintptr_t)(vm->mem.host + r->offset),
        };
        if (ioctl(vm->vm_fd, KVM_SET_USER_MEMORY_REGION, &kr) < 0) {
            snprintf(err, errlen, "cannot %s KVM's dirty log: %s", on ? "start" : "stop",
                     strerror(errno));
            return -1;
        }
    }
    return 0;
}

int dirty_log_start(struct vm *vm, char *err, size_t errlen)
{
    if (guest_mem_dirty_start(&vm->mem) < 0) {
        snprintf(err, errlen, "out of memory for the dirty page record");
        return -1;
    }
    if (set_logging(vm, true, err, errlen) < 0) {
        guest_mem_dirty_stop(&vm->mem);
        return -1;
    }
    return 0;
}

int dirty_log_take(struct vm *vm, uint64_t *bits, char *err, size_t errlen)
{
    for (unsigned i = 0; i < vm->mem.nregions; i++) {
        const struct guest_mem_region *r = &vm->mem.regions[i];
        uint64_t pages = r->size / 4096, words = (pages + 63) / 64;
        uint64_t *slot = calloc(words, sizeof *slot);
        if (!slot) {
            snprintf(err, errlen, "out of memory for the dirty log");
            return -1;
        }
        struct kvm_dirty_log log = { .slot = i, .dirty_bitmap = slot };
        if (ioctl(vm->vm_fd, KVM_GET_DIRTY_LOG, &log) < 0) {
            snprintf(err, errlen, "KVM_GET_DIRTY_LOG: %s", strerror(errno));
            free(slot);
            return -1;
        }
        /* The slot's pages sit at the region's offset in the mapping. */
        uint64_t first = r->offset / 4096;
        for (uint64_t w = 0; w < words; w++) {
            for (uint64_t v = slot[w]; v; v &= v - 1) {
                uint64_t page = first + w * 64 + (uint64_t)__builtin_ctzll(v);
                bits[page / 64] |= 1ULL << (page % 64);
            }
        }
        free(slot);
    }
    guest_mem_dirty_take(&vm->mem, bits);
    return 0;
}

void dirty_log_stop(struct vm *vm)
{
    char err[128];
    guest_mem_dirty_stop(&vm->mem);
    set_logging(vm, false, err, sizeof err);
}
