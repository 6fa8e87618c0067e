/* The sandbox (src/sandbox/): each role's filter installs; a forbidden
 * call ends the process with kvmbox's report naming the call and the
 * thread (--seccomp on), goes ahead with log, and nothing is filtered with
 * off (no_new_privs always). Every case runs in a forked child: a filter
 * cannot be taken back. */
#include "sandbox/sandbox.h"

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

/* Runs fn in a child with stderr on a pipe; returns its wait status and
 * what it wrote. */
static int in_child(void (*fn)(void), char *out, size_t cap)
{
    int p[2];
    assert_int_equal(pipe(p), 0);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        close(p[0]);
        dup2(p[1], STDERR_FILENO);
        fn();
        _exit(0);
    }
    close(p[1]);
    size_t n = 0;
    ssize_t r;
    while (n + 1 < cap && (r = read(p[0], out + n, cap - 1 - n)) > 0)
        n += (size_t)r;
    out[n] = '\0';
    close(p[0]);
    int st;
    assert_int_equal(waitpid(pid, &st, 0), pid);
    return st;
}

static void init_or_die(enum sandbox_mode mode)
{
    char err[256];
    if (sandbox_init(&(struct sandbox_config){ .seccomp = mode }, err, sizeof err) < 0) {
        fprintf(stderr, "sandbox_init: %s\n", err);
        _exit(2);
    }
}

static void vcpu_makes_a_socket(void)
{
    init_or_die(SANDBOX_SECCOMP_ON);
    prctl(PR_SET_NAME, "vcpu7", 0, 0, 0);
    if (sandbox_enter(SANDBOX_VCPU) < 0)
        _exit(3);
    int fd = socket(AF_INET, SOCK_STREAM, 0);   /* not a vCPU's business */
    _exit(fd >= 0 ? 4 : 5);
}

static void forbidden_call_is_named_and_ends_kvmbox(void **state)
{
    (void)state;
    char out[1024];
    int st = in_child(vcpu_makes_a_socket, out, sizeof out);
    assert_true(WIFEXITED(st));
    assert_int_equal(WEXITSTATUS(st), 128 + SIGSYS);
    assert_non_null(strstr(out, "thread vcpu7"));
    assert_non_null(strstr(out, "socket"));
}

static void log_mode_lets_it_through(void)
{
    init_or_die(SANDBOX_SECCOMP_LOG);
    if (sandbox_enter(SANDBOX_VCPU) < 0)
        _exit(3);
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    _exit(fd >= 0 ? 0 : 5);
}

static void log_records_and_goes_on(void **state)
{
    (void)state;
    char out[1024];
    int st = in_child(log_mode_lets_it_through, out, sizeof out);
    assert_true(WIFEXITED(st));
    assert_int_equal(WEXITSTATUS(st), 0);
}

/* "Seccomp:" and "NoNewPrivs:" of this thread, from its /proc status
 * opened (fd) before the filter, which may forbid opening files, and read
 * after it (the text is made at the read). */
static void status_of_self(int fd, int *seccomp, int *nnp)
{
    char buf[4096];
    ssize_t n = fd >= 0 ? read(fd, buf, sizeof buf - 1) : -1;
    if (fd >= 0)
        close(fd);
    buf[n > 0 ? n : 0] = '\0';
    const char *s = strstr(buf, "Seccomp:"), *p = strstr(buf, "NoNewPrivs:");
    *seccomp = s ? atoi(s + 8) : -1;
    *nnp = p ? atoi(p + 11) : -1;
}

/* In a child: the sandbox in `mode`, `role` entered; exits 0 when the
 * thread's Seccomp is `want` (0 none, 2 filter) and NoNewPrivs 1. */
static void enter_and_expect(enum sandbox_mode mode, enum sandbox_role role, int want)
{
    init_or_die(mode);
    int fd = open("/proc/thread-self/status", O_RDONLY);
    if (sandbox_enter(role) < 0)
        _exit(3);
    int sc, nnp;
    status_of_self(fd, &sc, &nnp);
    _exit(sc == want && nnp == 1 ? 0 : 6);
}

static void off_mode(void)
{
    enter_and_expect(SANDBOX_SECCOMP_OFF, SANDBOX_VCPU, 0);
}

static void off_filters_nothing_but_no_new_privs_stays(void **state)
{
    (void)state;
    char out[256];
    int st = in_child(off_mode, out, sizeof out);
    assert_true(WIFEXITED(st));
    assert_int_equal(WEXITSTATUS(st), 0);
}

/* Each role's filter loads, and the thread is then in mode 2 (filter). */
static enum sandbox_role the_role;
static void enter_role(void)
{
    enter_and_expect(SANDBOX_SECCOMP_ON, the_role, 2);
}

static void every_role_installs(void **state)
{
    (void)state;
    for (the_role = 0; the_role < SANDBOX_ROLES; the_role++) {
        char out[512];
        int st = in_child(enter_role, out, sizeof out);
        if (!WIFEXITED(st) || WEXITSTATUS(st))
            fail_msg("role %s: status %d: %s", sandbox_role_name(the_role), st, out);
    }
}

static void *nothing(void *arg) { return arg; }

/* The main thread's filter: threads yes (clone with CLONE_THREAD; clone3
 * answers ENOSYS and glibc falls back), a process of its own no. */
static void main_thread_and_fork(void)
{
    init_or_die(SANDBOX_SECCOMP_ON);
    if (sandbox_enter(SANDBOX_MAIN) < 0)
        _exit(3);
    pthread_t t;
    if (pthread_create(&t, NULL, nothing, NULL) != 0)
        _exit(7);
    pthread_join(t, NULL);
    pid_t pid = fork();                          /* forbidden: ends here */
    _exit(pid == 0 ? 0 : 8);
}

static void main_makes_threads_not_processes(void **state)
{
    (void)state;
#if defined(__SANITIZE_ADDRESS__)
    /* LeakSanitizer makes a process of its own at exit: test builds allow
     * clone whatever its flags (seccomp_filter.c). */
    print_message("an ASan build allows clone whatever its flags: not tested here\n");
    return;
#endif
    char out[1024];
    int st = in_child(main_thread_and_fork, out, sizeof out);
    assert_true(WIFEXITED(st));
    assert_int_equal(WEXITSTATUS(st), 128 + SIGSYS);
    assert_non_null(strstr(out, "clone"));
}

static void modes_parse(void **state)
{
    (void)state;
    enum sandbox_mode m;
    assert_int_equal(sandbox_mode_parse("on", &m), 0);
    assert_int_equal(m, SANDBOX_SECCOMP_ON);
    assert_int_equal(sandbox_mode_parse("log", &m), 0);
    assert_int_equal(m, SANDBOX_SECCOMP_LOG);
    assert_int_equal(sandbox_mode_parse("off", &m), 0);
    assert_int_equal(m, SANDBOX_SECCOMP_OFF);
    assert_int_equal(sandbox_mode_parse("yes", &m), -1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(forbidden_call_is_named_and_ends_kvmbox),
        cmocka_unit_test(log_records_and_goes_on),
        cmocka_unit_test(off_filters_nothing_but_no_new_privs_stays),
        cmocka_unit_test(every_role_installs),
        cmocka_unit_test(main_makes_threads_not_processes),
        cmocka_unit_test(modes_parse),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
