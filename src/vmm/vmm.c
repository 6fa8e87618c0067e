#include "vmm/vmm.h"

#include "sandbox/jail.h"
#include "sandbox/sandbox.h"
#include "util/log.h"
#include "vmm/vcpu.h"
#include "vmm/vm.h"
#include "vmm/vmm_landlock.h"

#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/signalfd.h>
#include <unistd.h>

/* How long the exit waits for a reader of stdout that takes no more. */
#define CONSOLE_FLUSH_MS 2000

static void wake(int fd)
{
    uint64_t one = 1;
    if (write(fd, &one, sizeof one) < 0) {
        /* an eventfd cannot fill at these counts */
    }
}

void vmm_request_exit(struct vmm *m, int status)
{
    bool was = atomic_exchange(&m->exiting, true);
    if (!was)
        atomic_store(&m->exit_status, status);
    wake(m->wake_fd);
}

int vmm_init(struct vmm *m, const struct vm_config *base)
{
    memset(m, 0, sizeof *m);
    m->base = base;
    m->wake_fd = m->sig_fd = -1;
    m->stdin_fd = STDIN_FILENO;
    m->events.fd = -1;
    held_fds_init(&m->held);
    pthread_mutex_init(&m->console_lock, NULL);
    event_loop_init(&m->loop);
    console_init(&m->console, -1);
    console_out_init(&m->console_out, STDOUT_FILENO);

    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGHUP);
    /* Blocked before any thread exists, so every thread inherits the mask
     * and these signals arrive only through the signalfd. */
    pthread_sigmask(SIG_BLOCK, &set, NULL);
    signal(SIGPIPE, SIG_IGN);  /* a closed stdout or API client must not kill the VMM */
    vcpu_signals_init();
    /* The sandbox's mode and no_new_privs, before the first thread. */
    char why0[256];
    struct sandbox_config sc = {
        .seccomp = (enum sandbox_mode)base->seccomp,
        .privileges = { base->drop_privileges, base->switch_user, base->uid, base->gid },
    };
    if (vmm_landlock_ruleset(base, &sc.landlock, why0, sizeof why0) < 0 ||
        sandbox_init(&sc, why0, sizeof why0) < 0) {
        log_error("%s", why0);
        return -1;
    }
    m->sig_fd = signalfd(-1, &set, SFD_CLOEXEC | SFD_NONBLOCK);
    m->wake_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (m->sig_fd < 0 || m->wake_fd < 0) {
        log_error("cannot set up the main loop: %s", log_strerror(errno));
        return -1;
    }
    char why[512];
    if (event_monitor_open(&m->events, base->event_path, base->event_fd, why, sizeof why) < 0) {
        log_error("%s", why);
        return -1;
    }
    /* The guest's output may start as soon as a VM boots, before the
     * loop runs. */
    if (console_out_start(&m->console_out) < 0)
        return -1;
    event_emit(&m->events, "vmm", "starting");
    return 0;
}

/* ---- the VM's life ---- */

struct vm_env vmm_vm_env(struct vmm *m)
{
    return (struct vm_env){ &m->console_out, &m->events, m->wake_fd, &m->held };
}

static void release_config(struct vmm *m)
{
    held_fds_release_files(&m->held);
    if (m->cfg && m->release)
        m->release(m->cfg);
    m->cfg = NULL;
    m->release = NULL;
}

/* Shuts the booted VM down and frees it. A vCPU that would not stop
 * keeps the VM's memory in use: it is left, not freed, and the VMM
 * exits (nothing else is safe then). */
static enum vmm_result teardown_vm(struct vmm *m, char *err, size_t errlen)
{
    struct vm *vm = m->vm;
    if (!vm)
        return VMM_OK;
    m->vm = NULL;
    m->idle_state = VM_STATE_SHUTDOWN;
    if (vm_shutdown(vm) < 0) {
        snprintf(err, errlen, "a vCPU did not stop; kvmbox exits");
        vmm_request_exit(m, 1);
        return VMM_REFUSED;
    }
    vm_destroy(vm);
    free(vm);
    return VMM_OK;
}

/* Builds the VM from the configuration and boots it. The reason for a
 * failure is the error the build logged (log_last_error). */
static enum vmm_result build_and_boot(struct vmm *m, char *err, size_t errlen)
{
    struct vm *vm = calloc(1, sizeof *vm);
    if (!vm) {
        snprintf(err, errlen, "out of memory");
        return VMM_REFUSED;
    }
    struct vm_env env = vmm_vm_env(m);
    log_clear_last_error();
    if (vm_create(vm, m->cfg, &env) < 0) {
        snprintf(err, errlen, "cannot create the VM: %s",
                 *log_last_error() ? log_last_error() : "see the VMM's log");
        vm_destroy(vm);
        free(vm);
        return VMM_REFUSED;
    }
    m->vm = vm;
    if (vm_boot(vm) < 0) {
        snprintf(err, errlen, "cannot boot the VM: %s", log_last_error());
        teardown_vm(m, err + strlen(err), errlen - strlen(err));
        return VMM_REFUSED;
    }
    return VMM_OK;
}

enum vmm_result vmm_vm_state(struct vmm *m, enum vm_state *state)
{
    if (!m->cfg)
        return VMM_NO_VM;
    *state = m->vm ? vm_get_state(m->vm) : m->idle_state;
    return VMM_OK;
}

enum vmm_result vmm_vm_create(struct vmm *m, struct vm_config *cfg, vmm_config_release_fn release,
                              char *err, size_t errlen)
{
    if (m->cfg) {
        snprintf(err, errlen, "a VM has already been created (vm.delete it first)");
        return VMM_REFUSED;
    }
    m->cfg = cfg;
    m->release = release;
    m->idle_state = VM_STATE_CREATED;
    return VMM_OK;
}

/* Whether `a` may be taken now; if not, err says why. */
static enum vmm_result allowed(struct vmm *m, enum vm_action a, char *err, size_t errlen)
{
    enum vm_state s, next;
    const char *why;
    if (vmm_vm_state(m, &s) == VMM_NO_VM) {
        snprintf(err, errlen, "no VM has been created (vm.create first)");
        return VMM_NO_VM;
    }
    if (!vm_state_allows(s, a, &next, &why)) {
        snprintf(err, errlen, "cannot %s: %s", vm_action_name(a), why);
        return VMM_REFUSED;
    }
    return VMM_OK;
}

enum vmm_result vmm_vm_boot(struct vmm *m, char *err, size_t errlen)
{
    enum vmm_result r = allowed(m, VM_ACTION_BOOT, err, errlen);
    return r != VMM_OK ? r : build_and_boot(m, err, errlen);
}

enum vmm_result vmm_vm_shutdown(struct vmm *m, char *err, size_t errlen)
{
    enum vmm_result r = allowed(m, VM_ACTION_SHUTDOWN, err, errlen);
    return r != VMM_OK ? r : teardown_vm(m, err, errlen);
}

/* A new VM from the same configuration: a fresh KVM VM, devices, memory
 * and kernel, as Cloud Hypervisor reboots. */
enum vmm_result vmm_vm_reboot(struct vmm *m, char *err, size_t errlen)
{
    enum vmm_result r = allowed(m, VM_ACTION_SHUTDOWN, err, errlen);
    if (r == VMM_REFUSED)
        snprintf(err, errlen, "cannot reboot: the VM is not running");
    if (r != VMM_OK)
        return r;
    event_emit(&m->events, "vm", "rebooting");
    if (teardown_vm(m, err, errlen) < 0 || build_and_boot(m, err, errlen) < 0)
        return VMM_REFUSED;
    event_emit(&m->events, "vm", "rebooted");
    return VMM_OK;
}

enum vmm_result vmm_vm_delete(struct vmm *m, char *err, size_t errlen)
{
    if (!m->cfg)
        return VMM_OK;      /* as CH: nothing to delete is no error */
    if (teardown_vm(m, err, errlen) < 0)
        return VMM_REFUSED;
    release_config(m);
    event_emit(&m->events, "vm", "deleted");
    return VMM_OK;
}

/* ---- the main loop ---- */

/* The booted VM asked to stop (it powered off or reset, wrote the
 * debug-exit port, or failed). A reset reboots it where the API serves
 * (as CH); anything else ends the VMM with the VM's status. */
static void vm_stopped(struct vmm *m)
{
    struct vm *vm = m->vm;
    static const char *const why[] = {
        [VM_STOP_NONE] = "none", [VM_STOP_POWEROFF] = "guest powered off",
        [VM_STOP_RESET] = "guest reset", [VM_STOP_DEBUG_EXIT] = "guest wrote the debug-exit port",
        [VM_STOP_USER] = "stopped by the user", [VM_STOP_ERROR] = "error",
    };
    enum vm_stop_reason reason = vm->stop_reason;
    int status = vm->exit_status;
    log_debug("VM stopped: %s, exit status %d", why[reason], status);
    char err[256];
    if (reason == VM_STOP_RESET && m->reboot_on_reset) {
        if (vmm_vm_reboot(m, err, sizeof err) < 0)
            log_error("the guest reset, and the reboot failed: %s", err);
        return;
    }
    teardown_vm(m, err, sizeof err);
    vmm_request_exit(m, status);
}

static void wake_ready(void *ctx, short revents)
{
    (void)revents;
    struct vmm *m = ctx;
    uint64_t v;
    if (read(m->wake_fd, &v, sizeof v) < 0) {
        /* spurious: everything is checked again */
    }
    vmm_migration_reap(m, false);
    if (m->vm && atomic_load(&m->vm->stopping)) {
        /* The guest stopped in the middle of a migration: the migration
         * ends first (it fails: the VM cannot pause), then the stop is
         * taken as usual on the wake the migration's end brings. */
        if (m->migration) {
            char ignored[64];
            vmm_migration_cancel(m, ignored, sizeof ignored);
            return;
        }
        vm_stopped(m);
    }
}

static void signal_ready(void *ctx, short revents)
{
    (void)revents;
    struct vmm *m = ctx;
    struct signalfd_siginfo si;
    if (read(m->sig_fd, &si, sizeof si) != (ssize_t)sizeof si)
        return;
    log_warn("terminating on signal %u (%s)", si.ssi_signo, strsignal((int)si.ssi_signo));
    vmm_request_exit(m, 128 + (int)si.ssi_signo);
}

bool vmm_interrupted(struct vmm *m)
{
    struct pollfd p = { .fd = m->sig_fd, .events = POLLIN };
    if (m->sig_fd >= 0 && poll(&p, 1, 0) == 1)
        signal_ready(m, p.revents);
    return atomic_load(&m->exiting);
}

/* Hands buffered console input to the guest. Returns true when all of it
 * was taken (so stdin may be read again). Under console_lock, and only
 * while the VM runs: a paused VM's devices keep still (a snapshot or a
 * migration saves them, and what is buffered here with them). */
static bool feed_guest(struct vmm *m)
{
    struct console *c = &m->console;
    if (c->off < c->len && vm_get_state(m->vm) == VM_STATE_RUNNING)
        c->off += vm_console_receive(m->vm, c->buf + c->off, c->len - c->off);
    return c->off == c->len;
}

/* Read stdin only when a running guest can take it (flow control instead
 * of a buffer that grows without bound), or into the empty buffer while
 * the VM is paused. */
static short stdin_want(void *ctx)
{
    struct vmm *m = ctx;
    pthread_mutex_lock(&m->console_lock);
    bool want = m->console.in_fd >= 0 && m->vm && feed_guest(m) &&
                (vm_get_state(m->vm) != VM_STATE_RUNNING || vm_console_can_receive(m->vm));
    pthread_mutex_unlock(&m->console_lock);
    return want ? POLLIN : 0;
}

static void stdin_ready(void *ctx, short revents)
{
    struct vmm *m = ctx;
    if (revents & POLLNVAL) {
        m->console.in_fd = -1;
        return;
    }
    if (!(revents & (POLLIN | POLLHUP | POLLERR)))
        return;
    pthread_mutex_lock(&m->console_lock);
    switch (console_read(&m->console)) {
    case CONSOLE_QUIT:
        vmm_request_exit(m, 0);
        break;
    case CONSOLE_CLOSED:
        log_debug("console input closed");
        break;
    case CONSOLE_DATA:
        feed_guest(m);
        break;
    }
    pthread_mutex_unlock(&m->console_lock);
}

int vmm_run(struct vmm *m)
{
    /* Input a restored snapshot brought waits in the buffer: kept. */
    struct console pending = m->console;
    console_init(&m->console, m->stdin_fd);
    memcpy(m->console.buf, pending.buf, sizeof pending.buf);
    m->console.len = pending.len;
    m->console.off = pending.off;
    /* Others (the API) may have registered already. */
    event_loop_add(&m->loop, m->wake_fd, NULL, wake_ready, m);
    event_loop_add(&m->loop, m->sig_fd, NULL, signal_ready, m);
    if (m->console.in_fd >= 0)
        event_loop_add(&m->loop, m->console.in_fd, stdin_want, stdin_ready, m);
    /* Start-up is over: /dev/kvm held for the VMs still to come (it is
     * often root's alone), the jail entered (--jail), then the main
     * thread's privileges dropped and its filter entered, before the API
     * takes its first request (every other thread did the same as it
     * started). */
    held_fds_open_kvm(&m->held, m->base->kvm_path);
    char why[512];
    /* (In a jail, /proc is the jail's: Landlock is told, for the main
     * thread and those it starts, which read kvmbox's own pagemap.) */
    if (m->base->jail && (jail_enter(m->base->jail, why, sizeof why) < 0 ||
                          sandbox_landlock_allow("/proc/self", LANDLOCK_READ, why,
                                                 sizeof why) < 0)) {
        log_error("%s", why);
        vmm_request_exit(m, 1);
    } else if (sandbox_enter(SANDBOX_MAIN) < 0) {
        vmm_request_exit(m, 1);
    }
    /* A VM that stopped before the loop began (a boot that failed at
     * once) is seen on the first round: its wake is pending. */
    while (!atomic_load(&m->exiting)) {
        if (event_loop_poll(&m->loop, -1) < 0) {
            log_error("poll: %s", log_strerror(errno));
            vmm_request_exit(m, 1);
        }
    }
    /* A migration still being sent gives up first (the VM stays here). */
    vmm_migration_reap(m, true);
    char err[256];
    teardown_vm(m, err, sizeof err);
    event_loop_remove(&m->loop, m->wake_fd);
    event_loop_remove(&m->loop, m->sig_fd);
    if (m->console.in_fd >= 0)
        event_loop_remove(&m->loop, m->console.in_fd);
    /* The guest's last words reach stdout, unless nobody reads them. */
    console_out_stop(&m->console_out, CONSOLE_FLUSH_MS);
    console_restore(&m->console);
    event_emit(&m->events, "vmm", "shutdown");
    return atomic_load(&m->exit_status);
}

void vmm_destroy(struct vmm *m)
{
    vmm_migration_reap(m, true);
    if (m->vm) {
        char err[256];
        teardown_vm(m, err, sizeof err);
    }
    release_config(m);
    console_out_destroy(&m->console_out);
    event_monitor_close(&m->events);
    held_fds_close(&m->held);
    if (m->sig_fd >= 0)
        close(m->sig_fd);
    if (m->wake_fd >= 0)
        close(m->wake_fd);
    m->sig_fd = m->wake_fd = -1;
    pthread_mutex_destroy(&m->console_lock);
}
