/* Each role's system calls (sandbox.h). A list names what the role's code
 * and the libraries it calls (glibc, liburing, libslirp, GnuTLS) make;
 * anything else is refused. The lists were found by running every test
 * under --seccomp log and reading the kernel's log (docs/security.md says
 * how to do that for a new feature). */
#include "sandbox/seccomp_filter.h"

#include <errno.h>
#include <linux/kvm.h>
#include <sched.h>
#include <seccomp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <unistd.h>

/* What every thread does: memory, locks, signals, time, its own end, and
 * reads and writes on descriptors it was given. */
static const char *const base[] = {
    "read", "write", "readv", "writev", "close", "futex", "mmap", "munmap", "mremap",
    "mprotect", "madvise", "brk", "rt_sigreturn", "rt_sigprocmask", "sigaltstack", "exit",
    "exit_group", "gettid", "getpid", "clock_gettime", "clock_nanosleep", "nanosleep",
    /* (the vDSO's, but a host whose clock the vDSO cannot read makes them
     * system calls: glib's g_get_real_time in libslirp, time()) */
    "gettimeofday", "time", "clock_getres",
    "sched_yield", "restart_syscall", "set_robust_list", "rseq", "getrandom", "tgkill",
    "fstat", "newfstatat", "lseek", "poll", "ppoll", "sched_getaffinity", "getuid", "geteuid",
    "getgid", "getegid", "fcntl", "epoll_wait", "epoll_pwait", NULL,
};

/* Where a thread ends up when a guest's write wants a device started:
 * its event sources are made there; the thread itself is the spawner's. */
static const char *const vcpu[] = {
    "eventfd2", "epoll_create1", "epoll_ctl", "timer_create", "timer_settime", "timer_delete",
    /* A guest's reset of a disk waits for its I/O in flight. */
    "io_uring_enter", NULL,
};

static const char *const block[] = {
    "io_uring_enter", "io_uring_register", "pread64", "pwrite64", "preadv", "pwritev",
    "preadv2", "pwritev2", "fsync", "fdatasync", "fallocate", NULL,
};

static const char *const net_user[] = {
    "socket", "connect", "bind", "listen", "accept", "accept4", "sendto", "recvfrom",
    "sendmsg", "recvmsg", "getsockopt", "setsockopt", "getsockname", "getpeername",
    "shutdown", NULL,
};

static const char *const migration[] = {
    "sendto", "recvfrom", "sendmsg", "recvmsg", "getsockopt", "setsockopt", "shutdown",
    "openat", "pread64", "eventfd2",
    /* The pause waits for a disk's I/O in flight. */
    "io_uring_enter", NULL,
};

/* Thread creation (with CLONE_THREAD only, below); the threads it makes
 * start under this filter and add their own, so it also allows what each
 * of them does (the block and user-network lists). */
static const char *const spawner[] = { "clone", "seccomp", NULL };

/* The main thread: the VMM's whole life (building VMs, files, sockets,
 * snapshots, receiving migrations, the API), but no program to run, no
 * process to make or trace, no mount, module, key, clock or reboot. */
static const char *const main_extra[] = {
    "openat", "open", "creat", "pread64", "pwrite64", "preadv", "pwritev", "fsync",
    "fdatasync", "ftruncate", "fallocate", "flock", "mkdir", "mkdirat", "rename", "renameat",
    "renameat2", "unlink", "unlinkat", "rmdir", "readlink", "readlinkat", "statx", "stat",
    "lstat", "access", "faccessat", "faccessat2", "getdents64", "dup", "dup2", "dup3", "pipe2",
    "eventfd2", "signalfd4", "timerfd_create", "timerfd_settime", "memfd_create",
    "io_uring_setup", "io_uring_enter", "io_uring_register", "clone", "socket", "socketpair",
    "bind", "listen", "accept", "accept4", "connect", "sendto", "recvfrom", "sendmsg",
    "recvmsg", "getsockopt", "setsockopt", "getsockname", "getpeername", "shutdown",
    "timer_create", "timer_settime", "timer_delete", "epoll_create1", "epoll_ctl", "umask",
    "fchmod", "fchmodat", "chmod", "utimensat", "prlimit64", "getrlimit", "uname", "sysinfo",
    "rt_sigaction", "kill", "wait4", "sched_setaffinity", "getcwd", "getppid", "fstatfs",
    "statfs", "copy_file_range", "sendfile", "splice", "mincore", "ioctl", "setsid",
    "getresuid", "getresgid", "getgroups", "capget",
    /* A vCPU or migration thread started from here adds its own filter
     * (a filter only ever narrows what is allowed). */
    "seccomp", NULL,
};

#define MAX_LISTS 4
/* libseccomp's SCMP_A0.. macros leave a field to its default, which clang
 * warns of; spelled out instead. */
static struct scmp_arg_cmp arg_eq(unsigned arg, uint64_t v)
{
    return (struct scmp_arg_cmp){ .arg = arg, .op = SCMP_CMP_EQ, .datum_a = v, .datum_b = 0 };
}

static struct scmp_arg_cmp arg_masked_eq(unsigned arg, uint64_t mask, uint64_t v)
{
    return (struct scmp_arg_cmp){ .arg = arg, .op = SCMP_CMP_MASKED_EQ, .datum_a = mask,
                                  .datum_b = v };
}

static const char *const *const lists[SANDBOX_ROLES][MAX_LISTS] = {
    [SANDBOX_MAIN] = { base, main_extra },
    [SANDBOX_VCPU] = { base, vcpu },
    [SANDBOX_BLOCK] = { base, block },
    [SANDBOX_NET_TAP] = { base },
    [SANDBOX_NET_USER] = { base, net_user },
    [SANDBOX_DEVICE] = { base },
    [SANDBOX_CONSOLE_OUT] = { base },
    [SANDBOX_MIGRATION] = { base, migration },
    [SANDBOX_SPAWNER] = { base, spawner, block, net_user },
};

/* ioctl, narrowed by the request's type: KVM's (0xAE) everywhere but the
 * terminal's writer (a device raises its interrupt with one; a migration
 * reads the dirty log and the state), the TUN device's ('T') where a NIC
 * is set up, which a guest's driver does on a vCPU thread, and FIONREAD
 * for libslirp. The main thread's are not narrowed (TAP, block devices,
 * terminals). */
static int add_ioctls(scmp_filter_ctx c, enum sandbox_role role)
{
    static const unsigned kvm = KVMIO << 8, tun = 'T' << 8;
    if (role == SANDBOX_MAIN || role == SANDBOX_CONSOLE_OUT)
        return 0;
    int r = seccomp_rule_add(c, SCMP_ACT_ALLOW, SCMP_SYS(ioctl), 1,
                             arg_masked_eq(1, 0xff00, kvm));
    if (r == 0 && (role == SANDBOX_VCPU || role == SANDBOX_SPAWNER || role == SANDBOX_NET_TAP))
        r = seccomp_rule_add(c, SCMP_ACT_ALLOW, SCMP_SYS(ioctl), 1,
                             arg_masked_eq(1, 0xff00, tun));
    if (r == 0 && (role == SANDBOX_NET_USER || role == SANDBOX_SPAWNER))
        r = seccomp_rule_add(c, SCMP_ACT_ALLOW, SCMP_SYS(ioctl), 1,
                             arg_eq(1, FIONREAD));
    return r;
}

/* prctl only to name a thread or read its name. */
static int add_narrowed(scmp_filter_ctx c, enum sandbox_role role)
{
#if !defined(__SANITIZE_ADDRESS__)
    if (seccomp_rule_add(c, SCMP_ACT_ALLOW, SCMP_SYS(prctl), 1,
                         arg_eq(0, PR_SET_NAME)) ||
        seccomp_rule_add(c, SCMP_ACT_ALLOW, SCMP_SYS(prctl), 1,
                         arg_eq(0, PR_GET_NAME)))
        return -1;
#endif
    /* clone3's flags live in memory a filter cannot read: ENOSYS makes
     * glibc fall back to clone, whose flags it can. */
    if (seccomp_rule_add(c, SCMP_ACT_ERRNO(ENOSYS), SCMP_SYS(clone3), 0))
        return -1;
    (void)role;
    return 0;
}

/* Allows the call `name` (clone: for threads only, but in test builds,
 * whose sanitizer makes a process of its own; a name twice: once). */
static int allow(scmp_filter_ctx c, const char *name)
{
    int nr = seccomp_syscall_resolve_name(name);
    if (nr == __NR_SCMP_ERROR)
        return 0;                   /* not a call of this architecture */
    int r;
#if defined(__SANITIZE_ADDRESS__)
    r = seccomp_rule_add(c, SCMP_ACT_ALLOW, nr, 0);
#else
    if (!strcmp(name, "clone"))
        r = seccomp_rule_add(c, SCMP_ACT_ALLOW, nr, 1,
                             arg_masked_eq(0, CLONE_THREAD, CLONE_THREAD));
    else
        r = seccomp_rule_add(c, SCMP_ACT_ALLOW, nr, 0);
#endif
    return r == -EEXIST ? 0 : r;
}

int seccomp_filter_build(enum sandbox_role role, bool log_only, struct sock_fprog *prog,
                         char *err, size_t errlen)
{
    scmp_filter_ctx c = seccomp_init(log_only ? SCMP_ACT_LOG : SCMP_ACT_TRAP);
    if (!c) {
        snprintf(err, errlen, "seccomp_init failed");
        return -1;
    }
    /* no_new_privs is set once for the process (sandbox_init): libseccomp
     * need not set it again, with a prctl the filters in place forbid. */
    seccomp_attr_set(c, SCMP_FLTATR_CTL_NNP, 0);
    /* A binary tree of the call numbers rather than a list: every system
     * call a thread makes runs the filter (and its creator's). */
    seccomp_attr_set(c, SCMP_FLTATR_CTL_OPTIMIZE, 2);
    int r = 0;
    for (unsigned l = 0; l < MAX_LISTS && lists[role][l] && r == 0; l++)
        for (const char *const *n = lists[role][l]; *n && r == 0; n++)
            r = allow(c, *n);
#if defined(__SANITIZE_ADDRESS__)
    /* Test builds: ASan's and LSan's own calls (LSan's leak check at exit
     * traces the process from a process of its own). */
    static const char *const asan[] = {
        "openat", "readlink", "wait4", "ptrace", "prctl", "rt_sigaction", "getppid",
        "sched_getparam", "getrlimit", "prlimit64", "pipe2", "dup2", "pread64", "clone",
        "getdents", "getdents64", NULL,
    };
    for (const char *const *n = asan; *n && r == 0; n++)
        r = allow(c, *n);
#endif
    if (r == 0)
        r = add_ioctls(c, role);
    if (r == 0)
        r = add_narrowed(c, role);
    /* The program itself, through a memfd (libseccomp 2.5 writes it to
     * an fd), for any thread to load later with one system call. */
    int fd = r == 0 ? memfd_create("seccomp-bpf", MFD_CLOEXEC) : -1;
    if (r == 0 && fd < 0)
        r = -errno;
    if (r == 0)
        r = seccomp_export_bpf(c, fd);
    seccomp_release(c);
    struct stat st;
    if (r == 0 && fstat(fd, &st) < 0)
        r = -errno;
    size_t len = r == 0 ? (size_t)st.st_size : 0;
    struct sock_filter *code = r == 0 && len ? malloc(len) : NULL;
    if (r == 0 && (!code || len % sizeof *code || pread(fd, code, len, 0) != (ssize_t)len))
        r = -EIO;
    if (fd >= 0)
        close(fd);
    if (r) {
        free(code);
        snprintf(err, errlen, "cannot make role %d's seccomp filter: %s", (int)role,
                 strerror(-r));
        return -1;
    }
    prog->len = (unsigned short)(len / sizeof *code);
    prog->filter = code;
    return 0;
}
