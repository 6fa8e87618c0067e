#include "sandbox/sandbox.h"

#include "sandbox/seccomp_programs.h"
#include "util/log.h"

#include <errno.h>
#include <malloc.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <linux/seccomp.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <ucontext.h>
#include <time.h>
#include <unistd.h>

/* The only process-wide state here, set once by sandbox_init before any
 * other thread exists and read-only afterwards: what every thread's
 * sandbox_enter applies. The filters themselves and the system calls'
 * names for the SIGSYS handler were made at build time
 * (seccomp_programs.h). */
static bool initialised;
static enum sandbox_mode the_mode;
static struct sandbox_privileges the_privileges;
static struct landlock_ruleset *the_landlock;
/* Whether this thread's privileges are dropped and its Landlock domain
 * entered: a thread's own, like the credentials and the domain it
 * mirrors, handed on to the threads it starts. */
static __thread bool thread_dropped;

static const char *const role_names[SANDBOX_ROLES] = {
    [SANDBOX_MAIN] = "main", [SANDBOX_VCPU] = "vCPU", [SANDBOX_BLOCK] = "block device",
    [SANDBOX_NET_TAP] = "TAP network", [SANDBOX_NET_USER] = "user-mode network",
    [SANDBOX_DEVICE] = "device", [SANDBOX_CONSOLE_OUT] = "console output",
    [SANDBOX_MIGRATION] = "migration", [SANDBOX_SPAWNER] = "spawner",
};

const char *sandbox_role_name(enum sandbox_role role)
{
    return role < SANDBOX_ROLES ? role_names[role] : "?";
}

int sandbox_mode_parse(const char *s, enum sandbox_mode *mode)
{
    if (!strcmp(s, "on"))
        *mode = SANDBOX_SECCOMP_ON;
    else if (!strcmp(s, "off"))
        *mode = SANDBOX_SECCOMP_OFF;
    else if (!strcmp(s, "log"))
        *mode = SANDBOX_SECCOMP_LOG;
    else
        return -1;
    return 0;
}

/* write() of a string, in a signal handler. */
static void say(const char *s)
{
    if (write(STDERR_FILENO, s, strlen(s)) < 0) {
        /* nowhere else to say it */
    }
}

/* A call the thread's filter refuses (--seccomp on): named, with the
 * thread, on stderr; then kvmbox ends at once (status 159, as a process
 * killed by SIGSYS shows). Only async-signal-safe calls, all of them in
 * every filter. */
static void on_sigsys(int sig, siginfo_t *si, void *uc)
{
    (void)sig;
    const mcontext_t *regs = &((const ucontext_t *)uc)->uc_mcontext;
    char thread[17] = "?";
    prctl(PR_GET_NAME, thread, 0, 0, 0);
    thread[16] = '\0';
    int nr = si->si_syscall;
    char num[16];
    int n = sizeof num - 1;
    num[n] = '\0';
    unsigned u = nr < 0 ? 0 : (unsigned)nr;
    do
        num[--n] = (char)('0' + u % 10);
    while ((u /= 10) && n > 0);
    say("kvmbox: error: seccomp: thread ");
    say(thread);
    say(" made a system call its filter forbids: ");
    say(nr >= 0 && nr < SECCOMP_NAMED_CALLS && seccomp_call_name[nr] ? seccomp_call_name[nr]
                                                                     : "?");
    say(" (");
    say(num + n);
    say(")");
    /* A file it tried to open is named too: what the call was for. */
    const char *path = nr == __NR_openat ? (const char *)regs->gregs[REG_RSI]
                       : nr == __NR_open ? (const char *)regs->gregs[REG_RDI] : NULL;
    if (path) {
        char shown[128];
        size_t len = strnlen(path, sizeof shown - 1);
        memcpy(shown, path, len);
        shown[len] = '\0';
        say(" of ");
        say(shown);
    }
    say("; kvmbox stops (--seccomp log finds what a feature needs)\n");
    _exit(128 + SIGSYS);
}

int sandbox_init(const struct sandbox_config *c, char *err, size_t errlen)
{
    enum sandbox_mode mode = c->seccomp;
    landlock_ruleset_free(the_landlock);
    the_landlock = c->landlock;
    /* Always: nothing kvmbox starts can gain privileges (Landlock needs
     * it too). */
    if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0) {
        snprintf(err, errlen, "no_new_privs: %s", log_strerror(errno));
        return -1;
    }
    the_mode = mode;
    the_privileges = c->privileges;
    if (the_privileges.switch_user && geteuid() != 0 &&
        (the_privileges.uid != geteuid() || the_privileges.gid != getegid())) {
        snprintf(err, errlen, "--user %u:%u: only root can switch users (kvmbox runs as %u)",
                 (unsigned)the_privileges.uid, (unsigned)the_privileges.gid, (unsigned)geteuid());
        return -1;
    }
    /* glibc reads the time zone file at the first time conversion in the
     * process (the RTC's gmtime_r, on a vCPU thread): now, while opening
     * files is allowed. */
    tzset();
    /* And glibc's malloc counts the host's CPUs (opening /sys) when a
     * thread first needs an arena of its own, a vCPU's included: the
     * limit it would compute (8 per CPU) is set now instead. */
    long cpus = sysconf(_SC_NPROCESSORS_ONLN);
    mallopt(M_ARENA_MAX, (int)(8 * (cpus > 0 ? cpus : 1)));
    if (mode == SANDBOX_SECCOMP_OFF) {
        initialised = true;
        return 0;
    }
    struct sigaction sa = { .sa_sigaction = on_sigsys, .sa_flags = SA_SIGINFO };
    sigemptyset(&sa.sa_mask);
    if (sigaction(SIGSYS, &sa, NULL) < 0) {
        snprintf(err, errlen, "SIGSYS handler: %s", log_strerror(errno));
        return -1;
    }
    initialised = true;
    return 0;
}

int sandbox_landlock_allow(const char *path, unsigned access, char *err, size_t errlen)
{
    return the_landlock ? landlock_allow(the_landlock, path, access, err, errlen) : 0;
}

int sandbox_enter(enum sandbox_role role)
{
    if (!initialised)
        return 0;
    if (!thread_dropped) {
        char err[256];
        if (privileges_drop(&the_privileges, err, sizeof err) < 0 ||
            (the_landlock && landlock_enter(the_landlock, err, sizeof err) < 0)) {
            log_error("the %s thread: %s", sandbox_role_name(role), err);
            return -1;
        }
        thread_dropped = true;
    }
    if (the_mode == SANDBOX_SECCOMP_OFF)
        return 0;
    int log = the_mode == SANDBOX_SECCOMP_LOG;
    struct sock_fprog prog = { seccomp_program_len[log][role],
                               (struct sock_filter *)seccomp_program[log][role] };
    if (syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, &prog) < 0) {
        log_error("cannot enter the %s thread's seccomp filter: %s", sandbox_role_name(role),
                  log_strerror(errno));
        return -1;
    }
    return 0;
}

struct start {
    char name[16];
    bool dropped;           /* its creator's privileges were dropped: so are its */
    enum sandbox_role role;
    void *(*fn)(void *);
    void *arg;
};

static void *trampoline(void *p)
{
    struct start s = *(struct start *)p;
    free(p);
    thread_dropped = s.dropped;
    prctl(PR_SET_NAME, s.name, 0, 0, 0);
    /* A thread without its filter would be a hole: it does not run, and
     * kvmbox stops (sandbox_enter said why). */
    if (sandbox_enter(s.role) < 0)
        _exit(1);
    return s.fn(s.arg);
}

int sandbox_thread_create(pthread_t *t, const pthread_attr_t *attr, const char *name,
                          enum sandbox_role role, void *(*fn)(void *), void *arg)
{
    struct start *s = malloc(sizeof *s);
    if (!s)
        return ENOMEM;
    snprintf(s->name, sizeof s->name, "%s", name);
    s->role = role;
    s->dropped = thread_dropped;
    s->fn = fn;
    s->arg = arg;
    int e = pthread_create(t, attr, trampoline, s);
    if (e)
        free(s);
    return e;
}
