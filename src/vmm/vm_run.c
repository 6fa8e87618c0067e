/* The main thread's loop while the guest runs: it owns the terminal, takes
 * SIGINT/SIGTERM through a signalfd, feeds stdin to the UART, and on any
 * stop request kicks and joins every vCPU thread. */
#include "vmm/vm.h"

#include "devices/net/backend.h"
#include "devices/serial.h"
#include "devices/virtio/blk.h"
#include "devices/virtio/console.h"
#include "util/deadline.h"
#include "util/log.h"
#include "vmm/vcpu.h"

/* How long a stop waits for the vCPUs, and for a reader of stdout that
 * takes no more output. */
#define VCPU_STOP_MS 5000
#define CONSOLE_FLUSH_MS 2000

#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <time.h>
#include <unistd.h>

/* Where the terminal's input goes: the virtio console with --console
 * virtio, else the UART. */
static size_t guest_receive(struct vm *vm, const uint8_t *buf, size_t n)
{
    return vm->vcon ? virtio_console_receive(vm->vcon, buf, n) : serial_receive(vm->serial, buf, n);
}

static bool guest_can_receive(struct vm *vm)
{
    return vm->vcon ? virtio_console_can_receive(vm->vcon) : serial_can_receive(vm->serial);
}

/* Hands buffered console input to the guest. Returns true when all of it
 * was taken (so stdin may be read again). */
static bool feed_guest(struct vm *vm)
{
    struct console *c = &vm->console;
    if (c->off < c->len)
        c->off += guest_receive(vm, c->buf + c->off, c->len - c->off);
    return c->off == c->len;
}

static void handle_signal(struct vm *vm, int sig_fd)
{
    struct signalfd_siginfo si;
    if (read(sig_fd, &si, sizeof si) != (ssize_t)sizeof si)
        return;
    log_warn("terminating on signal %u (%s)", si.ssi_signo, strsignal((int)si.ssi_signo));
    vm_request_stop(vm, VM_STOP_USER, 128 + (int)si.ssi_signo);
}

static void handle_input(struct vm *vm)
{
    switch (console_read(&vm->console)) {
    case CONSOLE_QUIT:
        vm_request_stop(vm, VM_STOP_USER, 0);
        break;
    case CONSOLE_CLOSED:
        log_debug("console input closed");
        break;
    case CONSOLE_DATA:
        feed_guest(vm);
        break;
    }
}

/* The main loop's sources: the wake eventfd (stop requests, console room
 * again), the signalfd, and stdin. */
static void wake_ready(void *ctx, short revents)
{
    (void)revents;
    struct vm *vm = ctx;
    uint64_t v;
    if (read(vm->wake_fd, &v, sizeof v) < 0) {
        /* spurious wake: the loop re-checks everything */
    }
}

struct signal_source {
    struct vm *vm;
    int fd;
};

static void signal_ready(void *ctx, short revents)
{
    (void)revents;
    struct signal_source *s = ctx;
    handle_signal(s->vm, s->fd);
}

/* Read stdin only when the guest can take it: flow control instead of a
 * buffer that grows without bound. */
static short stdin_want(void *ctx)
{
    struct vm *vm = ctx;
    return vm->console.in_fd >= 0 && feed_guest(vm) && guest_can_receive(vm) ? POLLIN : 0;
}

static void stdin_ready(void *ctx, short revents)
{
    struct vm *vm = ctx;
    if (revents & POLLNVAL)
        vm->console.in_fd = -1;
    else if (revents & (POLLIN | POLLHUP | POLLERR))
        handle_input(vm);
}

static void event_loop(struct vm *vm, int sig_fd)
{
    struct signal_source sigs = { vm, sig_fd };
    /* Others (the API) may have registered already: vm_create set the
     * loop up. */
    event_loop_add(&vm->loop, vm->wake_fd, NULL, wake_ready, vm);
    event_loop_add(&vm->loop, sig_fd, NULL, signal_ready, &sigs);
    if (vm->console.in_fd >= 0)
        event_loop_add(&vm->loop, vm->console.in_fd, stdin_want, stdin_ready, vm);
    while (!atomic_load(&vm->stopping)) {
        if (event_loop_poll(&vm->loop, -1) < 0) {
            log_error("poll: %s", strerror(errno));
            vm_request_stop(vm, VM_STOP_ERROR, 1);
            break;
        }
    }
    event_loop_remove(&vm->loop, vm->wake_fd);
    event_loop_remove(&vm->loop, sig_fd);
    event_loop_remove(&vm->loop, STDIN_FILENO);
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
            log_error("vCPU %u did not stop within %d s; exiting without it", i,
                      VCPU_STOP_MS / 1000);
            vm->vcpus_abandoned = true;
        }
    }
}

int vm_run(struct vm *vm)
{
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGHUP);
    /* Blocked before any vCPU thread exists, so every thread inherits the
     * mask and these signals arrive only through the signalfd. */
    pthread_sigmask(SIG_BLOCK, &set, NULL);
    int sig_fd = signalfd(-1, &set, SFD_CLOEXEC);
    if (sig_fd < 0) {
        log_error("signalfd: %s", strerror(errno));
        return 1;
    }
    signal(SIGPIPE, SIG_IGN);  /* a closed stdout must not kill the VMM */
    vcpu_signals_init();
    console_init(&vm->console, STDIN_FILENO);
    if (console_out_start(&vm->console_out) < 0)
        vm_request_stop(vm, VM_STOP_ERROR, 1);

    event_emit(&vm->events, "vm", "booting");
    pthread_mutex_lock(&vm->state_lock);
    vm->state = VM_STATE_RUNNING;
    pthread_mutex_unlock(&vm->state_lock);
    /* With the in-kernel LAPIC, every vCPU but the boot one sits in
     * wait-for-SIPI inside KVM_RUN until the guest starts it. */
    for (unsigned i = 0; i < vm->nvcpus; i++) {
        if (vcpu_start(&vm->vcpus[i]) < 0) {
            vm_request_stop(vm, VM_STOP_ERROR, 1);
            break;
        }
    }
    if (!atomic_load(&vm->stopping))
        event_emit(&vm->events, "vm", "booted");
    event_loop(vm, sig_fd);

    pthread_mutex_lock(&vm->state_lock);    /* waits for a pause in progress to end */
    stop_vcpus(vm);
    vm->state = VM_STATE_SHUTDOWN;
    pthread_mutex_unlock(&vm->state_lock);
    event_emit(&vm->events, "vm", "shutdown");
    /* The guest's last words reach stdout, unless nobody reads them. */
    console_out_stop(&vm->console_out, CONSOLE_FLUSH_MS);
    console_restore(&vm->console);
    close(sig_fd);

    unsigned long unhandled = atomic_load(&vm->pio.unhandled) + atomic_load(&vm->mmio.unhandled);
    if (unhandled)
        log_debug("%lu guest accesses went to unclaimed port or MMIO addresses", unhandled);
    static const char *const why[] = {
        [VM_STOP_NONE] = "none", [VM_STOP_POWEROFF] = "guest powered off",
        [VM_STOP_RESET] = "guest reset", [VM_STOP_DEBUG_EXIT] = "guest wrote the debug-exit port",
        [VM_STOP_USER] = "stopped by the user", [VM_STOP_ERROR] = "error",
    };
    log_debug("VM stopped: %s, exit status %d", why[vm->stop_reason], vm->exit_status);
    event_emit(&vm->events, "vmm", "shutdown");
    return vm->exit_status;
}

void vm_destroy(struct vm *vm)
{
    if (vm->vcpus_abandoned) {
        /* A vCPU thread still runs and may use any of it: the process is
         * about to exit, which frees it all. */
        return;
    }
    for (unsigned i = 0; i < vm->nvcpus; i++)
        vcpu_destroy(&vm->vcpus[i]);
    free(vm->vcpus);
    vm->vcpus = NULL;
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
    console_out_destroy(&vm->console_out);
    guest_mem_destroy(&vm->mem);
    bus_destroy(&vm->pio);
    bus_destroy(&vm->mmio);
    irq_router_destroy(&vm->irq);
    if (vm->vm_fd >= 0)
        close(vm->vm_fd);
    if (vm->kvm_fd >= 0)
        close(vm->kvm_fd);
    if (vm->wake_fd >= 0)
        close(vm->wake_fd);
    event_monitor_close(&vm->events);
    pthread_mutex_destroy(&vm->stop_lock);
    pthread_mutex_destroy(&vm->state_lock);
    pthread_mutex_destroy(&vm->pause_lock);
    pthread_cond_destroy(&vm->unpark);
    pthread_cond_destroy(&vm->parked_changed);
}
