/* A VM's life after vm_create: boot starts its vCPUs, shutdown stops
 * them (bounded: a stop must always work), destroy frees what create
 * built. The main loop around it is the VMM's (vmm/vmm.c). */
#include "vmm/vm.h"

#include "devices/net/backend.h"
#include "devices/virtio/blk.h"
#include "util/deadline.h"
#include "util/log.h"
#include "vmm/vcpu.h"

#include <stdlib.h>
#include <time.h>
#include <unistd.h>

/* How long a shutdown waits for the vCPUs. */
#define VCPU_STOP_MS 5000

int vm_boot(struct vm *vm)
{
    pthread_mutex_lock(&vm->state_lock);
    enum vm_state next;
    const char *why;
    if (!vm_state_allows(vm->state, VM_ACTION_BOOT, &next, &why)) {
        pthread_mutex_unlock(&vm->state_lock);
        log_error("cannot boot: %s", why);
        return -1;
    }
    event_emit(vm->env.events, "vm", "booting");
    vm->state = next;
    pthread_mutex_unlock(&vm->state_lock);
    /* With the in-kernel LAPIC, every vCPU but the boot one sits in
     * wait-for-SIPI inside KVM_RUN until the guest starts it. */
    for (unsigned i = 0; i < vm->nvcpus; i++) {
        if (vcpu_start(&vm->vcpus[i]) < 0) {
            vm_request_stop(vm, VM_STOP_ERROR, 1);
            return -1;
        }
    }
    event_emit(vm->env.events, "vm", "booted");
    return 0;
}

/* Kicks every vCPU out of KVM_RUN and joins it. A vCPU that does not come
 * back within VCPU_STOP_MS is left behind: a stop must always work (the
 * user asked, or the guest is gone), so the VMM then exits without it and
 * vm_destroy leaves alone what that thread may still touch. */
static void stop_vcpus(struct vm *vm)
{
    struct timespec until = deadline_in(CLOCK_REALTIME, VCPU_STOP_MS);
    vm_unpark_all(vm);               /* parked vCPUs see `stopping` and leave */
    for (unsigned i = 0; i < vm->nvcpus; i++)
        vcpu_kick(&vm->vcpus[i]);
    for (unsigned i = 0; i < vm->nvcpus; i++) {
        if (vcpu_join_until(&vm->vcpus[i], &until) < 0) {
            log_error("vCPU %u did not stop within %d s; leaving it behind", i,
                      VCPU_STOP_MS / 1000);
            vm->vcpus_abandoned = true;
        }
    }
}

int vm_shutdown(struct vm *vm)
{
    /* `stopping` first: a vCPU that leaves KVM_RUN now stays out. */
    vm_request_stop(vm, VM_STOP_USER, 0);
    pthread_mutex_lock(&vm->state_lock);    /* waits for a pause in progress to end */
    bool was_up = vm->state == VM_STATE_RUNNING || vm->state == VM_STATE_PAUSED;
    stop_vcpus(vm);
    vm->state = VM_STATE_SHUTDOWN;
    pthread_mutex_unlock(&vm->state_lock);
    if (was_up)
        event_emit(vm->env.events, "vm", "shutdown");
    unsigned long unhandled = atomic_load(&vm->pio.unhandled) + atomic_load(&vm->mmio.unhandled);
    if (unhandled)
        log_debug("%lu guest accesses went to unclaimed port or MMIO addresses", unhandled);
    return vm->vcpus_abandoned ? -1 : 0;
}

void vm_destroy(struct vm *vm)
{
    if (vm->vcpus_abandoned) {
        /* A vCPU thread still runs and may use any of it: the process is
         * about to exit, which frees it all. */
        return;
    }
    /* No vCPU runs: nothing asks for a device thread any more. */
    spawner_stop(&vm->spawner);
    for (unsigned i = 0; i < vm->nvcpus; i++)
        vcpu_destroy(&vm->vcpus[i]);
    free(vm->vcpus);
    vm->vcpus = NULL;
    vm->nvcpus = 0;
    for (unsigned i = vm->ndevices; i-- > 0;)
        vm->devices[i].ops->destroy(vm->devices[i].dev);
    vm->ndevices = 0;
    for (unsigned i = 0; i < CONFIG_MAX_DISKS; i++) {
        blk_close(vm->disks[i]);
        vm->disks[i] = NULL;
    }
    for (unsigned i = 0; i < CONFIG_MAX_NETS; i++) {
        if (vm->nets[i])
            vm->nets[i]->ops->close(vm->nets[i]);
        vm->nets[i] = NULL;
    }
    free(vm->cpuid);
    vm->cpuid = NULL;
    guest_mem_destroy(&vm->mem);
    bus_destroy(&vm->pio);
    bus_destroy(&vm->mmio);
    irq_router_destroy(&vm->irq);
    if (vm->vm_fd >= 0)
        close(vm->vm_fd);
    if (vm->kvm_fd >= 0)
        close(vm->kvm_fd);
    vm->vm_fd = vm->kvm_fd = -1;
    pthread_mutex_destroy(&vm->stop_lock);
    pthread_mutex_destroy(&vm->state_lock);
    pthread_mutex_destroy(&vm->pause_lock);
    pthread_cond_destroy(&vm->unpark);
    pthread_cond_destroy(&vm->parked_changed);
}
