#include "vmm/vcpu.h"

#include "sandbox/sandbox.h"
#include "util/deadline.h"
#include "util/kick.h"
#include "util/log.h"
#include "vmm/vm.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <unistd.h>

/* KVM_RUN returns on the kick signal (util/kick.h); immediate_exit covers
 * a kick that arrives just before the vCPU enters the guest. */
void vcpu_signals_init(void) { kick_signal_init(); }

int vcpu_create(struct vm *vm, unsigned id, struct vcpu *v)
{
    memset(v, 0, sizeof *v);
    v->vm = vm;
    v->id = id;
    v->fd = ioctl(vm->vm_fd, KVM_CREATE_VCPU, (unsigned long)id);
    if (v->fd < 0) {
        log_error("cannot create vCPU %u: %s", id, log_strerror(errno));
        return -1;
    }
    void *run = mmap(NULL, vm->run_size, PROT_READ | PROT_WRITE, MAP_SHARED, v->fd, 0);
    if (run == MAP_FAILED) {
        log_error("cannot map vCPU %u's run area: %s", id, log_strerror(errno));
        close(v->fd);
        v->fd = -1;
        return -1;
    }
    v->run = run;
    return 0;
}

static void *vcpu_thread(void *arg)
{
    struct vcpu *v = arg;
    struct vm *vm = v->vm;
    while (!atomic_load(&vm->stopping)) {
        if (atomic_load(&vm->pause_requested)) {
            vm_vcpu_park(vm);        /* until resume or stop */
            continue;
        }
        unsigned throttle = atomic_load(&vm->throttle_pct);
        if (throttle || v->throttle.has_timer) {
            vcpu_throttle_step(&v->throttle, throttle);
            if (throttle && (atomic_load(&vm->pause_requested) || atomic_load(&vm->stopping)))
                continue;
        }
        if (ioctl(v->fd, KVM_RUN, 0) < 0) {
            if (errno == EINTR || errno == EAGAIN) {
                v->run->immediate_exit = 0;
                continue;
            }
            log_error("vcpu %u: KVM_RUN failed: %s", v->id, log_strerror(errno));
            vcpu_report_exit(v, "KVM_RUN failure");
            vm_request_stop(vm, VM_STOP_ERROR, 1);
            break;
        }
        if (!vcpu_handle_exit(v))
            break;
    }
    vcpu_throttle_end(&v->throttle);
    return NULL;
}

int vcpu_start(struct vcpu *v)
{
    /* The thread inherits the caller's mask: SIGINT/SIGTERM blocked (they
     * reach the main loop through its signalfd), the kick open. */
    /* Cloud Hypervisor's thread names: libvirt finds vCPU threads by them.
     * The filter is in place before the guest's first instruction. */
    char name[16];
    snprintf(name, sizeof name, "vcpu%u", v->id);
    int r = sandbox_thread_create(&v->thread, NULL, name, SANDBOX_VCPU, vcpu_thread, v);
    if (r) {
        log_error("cannot start vCPU %u's thread: %s", v->id, log_strerror(r));
        return -1;
    }
    v->thread_started = true;
    return 0;
}

void vcpu_kick(struct vcpu *v)
{
    if (!v->thread_started)
        return;
    v->run->immediate_exit = 1;
    kick_thread(v->thread);
}

void vcpu_join(struct vcpu *v)
{
    if (v->thread_started)
        pthread_join(v->thread, NULL);
    v->thread_started = false;
}

int vcpu_join_until(struct vcpu *v, const struct timespec *until)
{
    while (v->thread_started) {
        /* Kick again now and then: a kick can land between the thread's
         * check of the stop flag and its next blocking call. */
        struct timespec step = deadline_in(CLOCK_REALTIME, 100);
        bool last = !deadline_before(&step, until);
        if (last)
            step = *until;
        int r = pthread_timedjoin_np(v->thread, NULL, &step);
        if (r == 0) {
            v->thread_started = false;
            break;
        }
        if (last)
            return -1;
        kick_thread(v->thread);
    }
    return 0;
}

void vcpu_destroy(struct vcpu *v)
{
    if (v->run)
        munmap(v->run, v->vm->run_size);
    if (v->fd >= 0)
        close(v->fd);
    v->run = NULL;
    v->fd = -1;
}
