/* The whole VM as one state stream, for snapshot and migration: a header
 * that the restoring side checks against the VM it built, the in-kernel
 * interrupt controllers and clock, every vCPU, and every device, each
 * device's section preceded by its id and kind so that a stream meant for
 * another machine is refused by name, never loaded into the wrong device.
 *
 * Saved only while the VM is paused (every vCPU parked, every device
 * quiesced); loaded into a VM built by vm_create_for_restore, whose
 * devices are marked paused first, so that a device the load activates
 * starts paused and nothing runs before the VMM says so. */
#include "vmm/vm.h"

#include "arch/x86/kvm_state.h"
#include "core/state.h"
#include "util/log.h"
#include "vmm/vcpu.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define VM_SECTION_VERSION 1
#define DEVICE_SECTION_VERSION 1

/* What the loading VM must have the same: the stream's shape depends on it. */
static void save_header(const struct vm *vm, struct state_writer *w)
{
    state_begin(w, "vm", VM_SECTION_VERSION);
    state_put_u32(w, vm->nvcpus);
    state_put_u64(w, vm->mem.ram_size);
    unsigned saved = 0;
    for (unsigned i = 0; i < vm->ndevices; i++)
        saved += vm->devices[i].ops->save != NULL;
    state_put_u32(w, saved);
    state_end(w);
}

static int load_header(const struct vm *vm, struct state_reader *r, char *err, size_t errlen)
{
    uint32_t version;
    if (state_open(r, "vm", &version) < 0) {
        snprintf(err, errlen, "the state does not start with the VM's header");
        return -1;
    }
    if (version != VM_SECTION_VERSION) {
        snprintf(err, errlen, "the VM's header is version %u; this kvmbox reads %u", version,
                 VM_SECTION_VERSION);
        return -1;
    }
    uint32_t nvcpus = state_get_u32(r);
    uint64_t ram = state_get_u64(r);
    uint32_t ndevices = state_get_u32(r);
    if (state_close(r) < 0) {
        snprintf(err, errlen, "the VM's header is truncated");
        return -1;
    }
    unsigned have = 0;
    for (unsigned i = 0; i < vm->ndevices; i++)
        have += vm->devices[i].ops->save != NULL;
    if (nvcpus != vm->nvcpus)
        snprintf(err, errlen, "the state has %u vCPUs, the VM %u", nvcpus, vm->nvcpus);
    else if (ram != vm->mem.ram_size)
        snprintf(err, errlen, "the state has %" PRIu64 " bytes of memory, the VM %" PRIu64, ram,
                 vm->mem.ram_size);
    else if (ndevices != have)
        snprintf(err, errlen, "the state has %u devices, the VM %u", ndevices, have);
    else
        return 0;
    return -1;
}

/* A device's kind (its section name) and its API id, "" for the devices
 * the API does not list. */
static void save_device(const struct device *d, struct state_writer *w)
{
    state_begin(w, "device", DEVICE_SECTION_VERSION);
    state_put_str(w, d->ops->name);
    state_put_str(w, d->id);
    state_end(w);
    d->ops->save(d->dev, w);
}

static int load_device(const struct device *d, unsigned index, struct state_reader *r, char *err,
                       size_t errlen)
{
    char name[64], id[DEVICE_ID_MAX];
    uint32_t version;
    if (state_open(r, "device", &version) < 0 || version != DEVICE_SECTION_VERSION) {
        snprintf(err, errlen, "device %u (%s%s%s): no device section where one belongs", index,
                 d->ops->name, d->id[0] ? " " : "", d->id);
        return -1;
    }
    state_get_str(r, name, sizeof name);
    state_get_str(r, id, sizeof id);
    if (state_close(r) < 0) {
        snprintf(err, errlen, "device %u: its section is damaged", index);
        return -1;
    }
    if (strcmp(name, d->ops->name) || strcmp(id, d->id)) {
        snprintf(err, errlen, "device %u: the state is for %s%s%s, the VM has %s%s%s here", index,
                 name, id[0] ? " " : "", id, d->ops->name, d->id[0] ? " " : "", d->id);
        return -1;
    }
    /* A device says what does not match in its own words, logged. */
    log_clear_last_error();
    if (d->ops->load(d->dev, r) < 0) {
        if (*log_last_error())
            snprintf(err, errlen, "%s", log_last_error());
        else
            snprintf(err, errlen, "device %s%s%s: its state does not load (damaged, or from a "
                     "device configured differently)", d->ops->name, d->id[0] ? " " : "", d->id);
        return -1;
    }
    return 0;
}

int vm_save_state(struct vm *vm, struct state_writer *w, char *err, size_t errlen)
{
    if (vm_get_state(vm) != VM_STATE_PAUSED) {
        snprintf(err, errlen, "the VM must be paused to save its state");
        return -1;
    }
    save_header(vm, w);
    if (vm_arch_state_save(vm->vm_fd, w, err, errlen) < 0)
        return -1;
    for (unsigned i = 0; i < vm->nvcpus; i++)
        if (vcpu_state_save(vm->kvm_fd, vm->vcpus[i].fd, i, w, err, errlen) < 0)
            return -1;
    for (unsigned i = 0; i < vm->ndevices; i++)
        if (vm->devices[i].ops->save)
            save_device(&vm->devices[i], w);
    if (w->failed) {
        snprintf(err, errlen, "out of memory while saving the VM's state");
        return -1;
    }
    return 0;
}

int vm_load_state(struct vm *vm, struct state_reader *r, char *err, size_t errlen)
{
    if (load_header(vm, r, err, errlen) < 0 || vm_arch_state_load(vm->vm_fd, r, err, errlen) < 0)
        return -1;
    int fds[vm->nvcpus];
    for (unsigned i = 0; i < vm->nvcpus; i++) {
        struct vcpu_state s;
        int rc = vcpu_state_parse(r, i, &s, err, errlen);
        if (rc == 0)
            rc = vcpu_state_apply(vm->kvm_fd, vm->vcpus[i].fd, &s, err, errlen);
        /* The guest's CPU as the VM had it (vm->cpuid, as after a boot):
         * what a later migration shows a destination. */
        if (rc == 0 && i == 0 && !vm->cpuid && (vm->cpuid = calloc(1, sizeof *vm->cpuid +
                                                 s.ncpuid * sizeof s.cpuid[0]))) {
            vm->cpuid->nent = s.ncpuid;
            memcpy(vm->cpuid->entries, s.cpuid, s.ncpuid * sizeof s.cpuid[0]);
        }
        vcpu_state_free(&s);
        if (rc < 0)
            return -1;
        fds[i] = vm->vcpus[i].fd;
    }
    if (vcpu_state_sync_tsc(fds, vm->nvcpus, err, errlen) < 0)
        return -1;
    /* Paused before loaded: a device the load activates starts paused. */
    for (unsigned i = 0; i < vm->ndevices; i++)
        if (vm->devices[i].ops->pause)
            vm->devices[i].ops->pause(vm->devices[i].dev);
    for (unsigned i = 0, n = 0; i < vm->ndevices; i++)
        if (vm->devices[i].ops->save && load_device(&vm->devices[i], n++, r, err, errlen) < 0)
            return -1;
    return 0;
}
