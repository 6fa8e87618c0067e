/* Pausing and resuming the whole VM: the vCPU gate and the devices'
 * quiescing, in the order snapshot and migration need (vCPUs first, so no
 * new request reaches a device; then each device completes what it has
 * taken). Firecracker's vCPU state machine and Cloud Hypervisor's pause
 * with acknowledgement are the models. */
#include "vmm/vm.h"

#include "devices/acpi_pm.h"
#include "util/deadline.h"
#include "util/log.h"
#include "vmm/vcpu.h"

#include <errno.h>
#include <stdio.h>

/* How long a pause waits for the vCPUs before it gives up (and undoes
 * itself), and how often it kicks them meanwhile. */
#define PAUSE_TIMEOUT_MS 10000
#define PAUSE_REKICK_MS 10

enum vm_state vm_get_state(struct vm *vm)
{
    pthread_mutex_lock(&vm->state_lock);
    enum vm_state s = vm->state;
    pthread_mutex_unlock(&vm->state_lock);
    return s;
}

void vm_vcpu_park(struct vm *vm)
{
    pthread_mutex_lock(&vm->pause_lock);
    vm->parked++;
    pthread_cond_broadcast(&vm->parked_changed);
    while (atomic_load(&vm->pause_requested) && !atomic_load(&vm->stopping))
        pthread_cond_wait(&vm->unpark, &vm->pause_lock);
    vm->parked--;
    pthread_cond_broadcast(&vm->parked_changed);
    pthread_mutex_unlock(&vm->pause_lock);
}

void vm_unpark_all(struct vm *vm)
{
    pthread_mutex_lock(&vm->pause_lock);
    pthread_cond_broadcast(&vm->unpark);
    pthread_mutex_unlock(&vm->pause_lock);
}

static void open_gate(struct vm *vm)
{
    pthread_mutex_lock(&vm->pause_lock);
    atomic_store(&vm->pause_requested, false);
    pthread_cond_broadcast(&vm->unpark);
    pthread_mutex_unlock(&vm->pause_lock);
}

/* Asks every vCPU to park and waits until all have. The kick makes
 * KVM_RUN return (immediate_exit covers a vCPU just about to enter it);
 * kicking again now and then covers one that was handling an exit. */
static int park_vcpus(struct vm *vm, char *err, size_t errlen)
{
    atomic_store(&vm->pause_requested, true);
    struct timespec give_up = deadline_in(CLOCK_MONOTONIC, PAUSE_TIMEOUT_MS);
    pthread_mutex_lock(&vm->pause_lock);
    while (vm->parked < vm->nvcpus && !atomic_load(&vm->stopping)) {
        for (unsigned i = 0; i < vm->nvcpus; i++)
            vcpu_kick(&vm->vcpus[i]);
        struct timespec step = deadline_in(CLOCK_MONOTONIC, PAUSE_REKICK_MS);
        if (!deadline_before(&step, &give_up)) {
            snprintf(err, errlen, "%u of %u vCPUs did not stop within %d s",
                     vm->nvcpus - vm->parked, vm->nvcpus, PAUSE_TIMEOUT_MS / 1000);
            pthread_mutex_unlock(&vm->pause_lock);
            open_gate(vm);
            return -1;
        }
        pthread_cond_timedwait(&vm->parked_changed, &vm->pause_lock, &step);
    }
    bool stopping = atomic_load(&vm->stopping);
    pthread_mutex_unlock(&vm->pause_lock);
    if (stopping) {
        snprintf(err, errlen, "the VM is stopping");
        open_gate(vm);
        return -1;
    }
    return 0;
}

int vm_pause(struct vm *vm, char *err, size_t errlen)
{
    pthread_mutex_lock(&vm->state_lock);
    enum vm_state next;
    const char *why;
    if (!vm_state_allows(vm->state, VM_ACTION_PAUSE, &next, &why)) {
        snprintf(err, errlen, "cannot pause: %s", why);
        pthread_mutex_unlock(&vm->state_lock);
        return -1;
    }
    event_emit(vm->env.events, "vm", "pausing");
    if (park_vcpus(vm, err, errlen) < 0) {
        pthread_mutex_unlock(&vm->state_lock);
        return -1;
    }
    /* No vCPU runs: no new request reaches a device. Now each device
     * finishes what it has taken and stops its threads. */
    for (unsigned i = 0; i < vm->ndevices; i++)
        if (vm->devices[i].ops->pause)
            vm->devices[i].ops->pause(vm->devices[i].dev);
    vm->state = next;
    pthread_mutex_unlock(&vm->state_lock);
    event_emit(vm->env.events, "vm", "paused");
    log_debug("VM paused (%u vCPUs parked)", vm->nvcpus);
    return 0;
}

int vm_start_paused(struct vm *vm, char *err, size_t errlen)
{
    pthread_mutex_lock(&vm->state_lock);
    if (vm->state != VM_STATE_CREATED) {
        snprintf(err, errlen, "cannot start the VM paused: it has run already");
        pthread_mutex_unlock(&vm->state_lock);
        return -1;
    }
    /* Closed before any thread exists: each parks before its first KVM_RUN. */
    atomic_store(&vm->pause_requested, true);
    for (unsigned i = 0; i < vm->nvcpus; i++) {
        if (vcpu_start(&vm->vcpus[i]) < 0) {
            snprintf(err, errlen, "cannot start vCPU %u's thread", i);
            pthread_mutex_unlock(&vm->state_lock);
            return -1;
        }
    }
    int ret = park_vcpus(vm, err, errlen);
    if (ret == 0)
        vm->state = VM_STATE_PAUSED;
    pthread_mutex_unlock(&vm->state_lock);
    return ret;
}

int vm_power_button(struct vm *vm, char *err, size_t errlen)
{
    pthread_mutex_lock(&vm->state_lock);
    bool running = vm->state == VM_STATE_RUNNING;
    if (running)
        acpi_pm_power_button(vm->acpi_pm);
    pthread_mutex_unlock(&vm->state_lock);
    if (!running)
        snprintf(err, errlen, "cannot press the power button: the VM is not running");
    return running ? 0 : -1;
}

int vm_resume(struct vm *vm, char *err, size_t errlen)
{
    pthread_mutex_lock(&vm->state_lock);
    enum vm_state next;
    const char *why;
    if (!vm_state_allows(vm->state, VM_ACTION_RESUME, &next, &why)) {
        snprintf(err, errlen, "cannot resume: %s", why);
        pthread_mutex_unlock(&vm->state_lock);
        return -1;
    }
    event_emit(vm->env.events, "vm", "resuming");
    for (unsigned i = vm->ndevices; i-- > 0;)
        if (vm->devices[i].ops->resume)
            vm->devices[i].ops->resume(vm->devices[i].dev);
    open_gate(vm);
    vm->state = next;
    pthread_mutex_unlock(&vm->state_lock);
    event_emit(vm->env.events, "vm", "resumed");
    log_debug("VM resumed");
    return 0;
}
