#include "vmm/dirty_log.h"

#include "util/log.h"
#include "vmm/vm.h"

#include <errno.h>
#include <linux/kvm.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>

/* Pages one KVM_CLEAR_DIRTY_LOG re-protects. KVM holds its MMU lock for
 * writing while it does that, and a vCPU that faults meanwhile waits:
 * 16 MiB keeps each hold short (KVM_GET_DIRTY_LOG without manual
 * protection re-protects a whole slot under one hold). The cost is one
 * ioctl for each 16 MiB that has a dirty page. KVM wants first_page to
 * be a multiple of 64, and num_pages too except at the slot's end. */
#define CLEAR_CHUNK_PAGES 4096u
_Static_assert(CLEAR_CHUNK_PAGES % 64 == 0, "KVM_CLEAR_DIRTY_LOG takes whole words");

#define MANUAL_FLAGS (KVM_DIRTY_LOG_MANUAL_PROTECT_ENABLE | KVM_DIRTY_LOG_INITIALLY_SET)

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
                     log_strerror(errno));
            return -1;
        }
    }
    return 0;
}

/* Chooses how KVM's log is cleared and tells KVM, before any slot logs:
 * KVM reads KVM_DIRTY_LOG_INITIALLY_SET when it makes a slot's bitmap,
 * that is when KVM_MEM_LOG_DIRTY_PAGES is set. The capability stays as
 * the VM's last start left it, and KVM cannot be asked which that is, so
 * every start sets it, to 0 as well (a start that must not use it after
 * one that did). */
static int choose_mode(struct vm *vm, char *err, size_t errlen)
{
    struct dirty_log *d = &vm->dirty_log;
    d->manual = 0;
    int offered = ioctl(vm->vm_fd, KVM_CHECK_EXTENSION, KVM_CAP_MANUAL_DIRTY_LOG_PROTECT2);
    if (offered <= 0)
        return 0;   /* an older KVM: each KVM_GET_DIRTY_LOG clears what it returns */
    uint64_t want = (uint64_t)offered & MANUAL_FLAGS & ~d->refuse;
    if (!(want & KVM_DIRTY_LOG_MANUAL_PROTECT_ENABLE))
        want = 0;   /* INITIALLY_SET only comes with manual protection */
    struct kvm_enable_cap cap = { .cap = KVM_CAP_MANUAL_DIRTY_LOG_PROTECT2, .args = { want } };
    if (want && ioctl(vm->vm_fd, KVM_ENABLE_CAP, &cap) < 0) {
        log_debug("KVM_ENABLE_CAP(MANUAL_DIRTY_LOG_PROTECT2, %#llx): %s; KVM clears its log "
                  "itself", (unsigned long long)want, log_strerror(errno));
        cap.args[0] = want = 0;
    }
    /* Off must hold: left on, the log would never be cleared. */
    if (!want && ioctl(vm->vm_fd, KVM_ENABLE_CAP, &cap) < 0) {
        snprintf(err, errlen, "cannot set how KVM's dirty log is cleared: %s", log_strerror(errno));
        return -1;
    }
    d->manual = want;
    return 0;
}

/* Clears the pages set in b (slot's bitmap, pages long) from KVM's log
 * and re-protects them, a chunk at a time; a chunk with nothing set
 * costs nothing. */
static int clear_slot(struct vm *vm, unsigned slot, uint64_t *b, uint64_t pages, char *err,
                      size_t errlen)
{
    for (uint64_t first = 0; first < pages; first += CLEAR_CHUNK_PAGES) {
        uint64_t n = pages - first < CLEAR_CHUNK_PAGES ? pages - first : CLEAR_CHUNK_PAGES;
        uint64_t *w = b + first / 64, any = 0;
        for (uint64_t i = 0; i < (n + 63) / 64; i++)
            any |= w[i];
        if (!any)
            continue;
        struct kvm_clear_dirty_log c = {
            .slot = slot,
            .num_pages = (uint32_t)n,
            .first_page = first,
            .dirty_bitmap = w,
        };
        if (ioctl(vm->vm_fd, KVM_CLEAR_DIRTY_LOG, &c) < 0) {
            snprintf(err, errlen, "KVM_CLEAR_DIRTY_LOG: %s", log_strerror(errno));
            return -1;
        }
    }
    return 0;
}

/* KVM's log of every slot, ORed into bits (NULL: read and cleared only).
 * With manual protection KVM_GET_DIRTY_LOG leaves the pages writable and
 * their bits set, so the bits read are cleared here, before the caller
 * copies the pages: a write after the clear faults and is in the next
 * take, and one between the read and the clear is in the copy the caller
 * makes after this returns. (Not clearing would report the page again at
 * every take; clearing more than was read could lose a write.) */
static int take_kvm(struct vm *vm, uint64_t *bits, char *err, size_t errlen)
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
            snprintf(err, errlen, "KVM_GET_DIRTY_LOG: %s", log_strerror(errno));
            free(slot);
            return -1;
        }
        if (vm->dirty_log.manual && clear_slot(vm, i, slot, pages, err, errlen) < 0) {
            free(slot);
            return -1;
        }
        /* The slot's pages sit at the region's offset in the mapping. */
        uint64_t first = r->offset / 4096;
        for (uint64_t w = 0; bits && w < words; w++) {
            for (uint64_t v = slot[w]; v; v &= v - 1) {
                uint64_t page = first + w * 64 + (uint64_t)__builtin_ctzll(v);
                bits[page / 64] |= 1ULL << (page % 64);
            }
        }
        free(slot);
    }
    return 0;
}

int dirty_log_start(struct vm *vm, char *err, size_t errlen)
{
    if (guest_mem_dirty_start(&vm->mem) < 0) {
        snprintf(err, errlen, "out of memory for the dirty page record");
        return -1;
    }
    if (choose_mode(vm, err, errlen) < 0 || set_logging(vm, true, err, errlen) < 0)
        goto fail;
    /* With INITIALLY_SET, KVM starts each slot's bitmap all set and
     * protects nothing, so turning logging on walked none of the guest's
     * page tables. But from here every write must be seen, and the
     * caller's first pass copies every page after this returns: so this
     * first take, of everything (dropped: that pass sends every page),
     * protects all of memory now, a chunk at a time under KVM's lock
     * rather than a whole slot at once. (It walks every page, mapped or
     * not: ~5-9 ms a GiB measured on PVM, where the slot-wide protection
     * of a guest that touched little is under 1 ms. Protecting each chunk
     * just before the first pass copies it would avoid that; it needs the
     * sender to say when.) */
    if ((vm->dirty_log.manual & KVM_DIRTY_LOG_INITIALLY_SET) && take_kvm(vm, NULL, err, errlen) < 0)
        goto fail;
    log_debug("dirty log: %s", vm->dirty_log.manual & KVM_DIRTY_LOG_INITIALLY_SET
                                   ? "manual protection, initially set"
                               : vm->dirty_log.manual ? "manual protection"
                                                      : "cleared by KVM_GET_DIRTY_LOG");
    return 0;
fail:
    dirty_log_stop(vm);
    return -1;
}

int dirty_log_take(struct vm *vm, uint64_t *bits, char *err, size_t errlen)
{
    if (take_kvm(vm, bits, err, errlen) < 0)
        return -1;
    guest_mem_dirty_take(&vm->mem, bits);
    return 0;
}

/* The capability stays as it is: the next start sets it again. */
void dirty_log_stop(struct vm *vm)
{
    char err[128];
    guest_mem_dirty_stop(&vm->mem);
    set_logging(vm, false, err, sizeof err);
}
