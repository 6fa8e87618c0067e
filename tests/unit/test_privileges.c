/* Privileges and Landlock rules (src/sandbox/privileges.c, landlock.c):
 * --user and --landlock-rules values read, and a thread's drop: as root,
 * to another user with no capability left, and staying root with none;
 * a thread it starts afterwards has none either. The drops run in forked
 * children: they cannot be taken back. */
#include "sandbox/sandbox.h"

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <linux/capability.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

static void user_values(void **state)
{
    (void)state;
    struct sandbox_privileges p = { 0 };
    char err[256];
    assert_int_equal(privileges_parse_user("65534", &p, err, sizeof err), 0);
    assert_true(p.switch_user);
    assert_int_equal(p.uid, 65534);
    assert_int_equal(p.gid, 65534);
    assert_int_equal(privileges_parse_user("1000:100", &p, err, sizeof err), 0);
    assert_int_equal(p.uid, 1000);
    assert_int_equal(p.gid, 100);
    assert_int_equal(privileges_parse_user("root", &p, err, sizeof err), 0);
    assert_int_equal(p.uid, 0);
    assert_int_equal(p.gid, 0);
    assert_int_equal(privileges_parse_user("root:root", &p, err, sizeof err), 0);
    assert_int_equal(privileges_parse_user("kvmbox-no-such-user", &p, err, sizeof err), -1);
    assert_non_null(strstr(err, "no such user"));
    assert_int_equal(privileges_parse_user("0:kvmbox-no-such-group", &p, err, sizeof err), -1);
    assert_non_null(strstr(err, "no such group"));
    assert_int_equal(privileges_parse_user("", &p, err, sizeof err), -1);
    assert_int_equal(privileges_parse_user(":0", &p, err, sizeof err), -1);
    assert_int_equal(privileges_parse_user("4294967295", &p, err, sizeof err), -1);
}

static void landlock_rule_values(void **state)
{
    (void)state;
    char path[64], err[256];
    unsigned access;
    assert_int_equal(landlock_rule_parse("path=/srv/snaps,access=rw", path, sizeof path, &access,
                                         err, sizeof err), 0);
    assert_string_equal(path, "/srv/snaps");
    assert_int_equal(access, LANDLOCK_READ | LANDLOCK_WRITE);
    assert_int_equal(landlock_rule_parse("access=r,path=/a,b", path, sizeof path, &access, err,
                                         sizeof err), 0);
    assert_string_equal(path, "/a,b");
    assert_int_equal(access, LANDLOCK_READ);
    assert_int_equal(landlock_rule_parse("path=/a,b,access=w", path, sizeof path, &access, err,
                                         sizeof err), 0);
    assert_string_equal(path, "/a,b");
    assert_int_equal(access, LANDLOCK_WRITE);
    const char *bad[] = { "/srv", "path=/srv", "access=rw", "path=,access=r", "path=/x,access=",
                          "path=/x,access=rwx", "access=r,path=" };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        assert_int_equal(landlock_rule_parse(bad[i], path, sizeof path, &access, err, sizeof err),
                         -1);
    char longer[100];
    snprintf(longer, sizeof longer, "path=/%080d,access=r", 0);
    assert_int_equal(landlock_rule_parse(longer, path, sizeof path, &access, err, sizeof err), -1);
}

/* The calling thread's effective and permitted capabilities, all zero? */
static int no_capability(void)
{
    struct __user_cap_header_struct hdr = { .version = _LINUX_CAPABILITY_VERSION_3 };
    struct __user_cap_data_struct d[_LINUX_CAPABILITY_U32S_3];
    if (syscall(SYS_capget, &hdr, d) < 0)
        return 0;
    return !d[0].effective && !d[1].effective && !d[0].permitted && !d[1].permitted;
}

static void *thread_checks(void *arg)
{
    (void)arg;
    return (void *)(long)(no_capability() && getuid() == 65534);
}

/* In a child: drop as the sandbox would, check, start a thread that
 * checks too. Exit 0 when all held. */
static int drop_in_child(bool switch_user)
{
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        struct sandbox_config c = { .privileges = { .drop = true, .switch_user = switch_user,
                                                    .uid = 65534, .gid = 65534 } };
        char err[256];
        if (sandbox_init(&c, err, sizeof err) < 0 || sandbox_enter(SANDBOX_MAIN) < 0)
            _exit(2);
        if (!no_capability() || getuid() != (switch_user ? 65534u : 0u))
            _exit(3);
        if (switch_user) {
            pthread_t t;
            void *r = NULL;
            if (sandbox_thread_create(&t, NULL, "t", SANDBOX_DEVICE, thread_checks, NULL) ||
                pthread_join(t, &r) || !r)
                _exit(4);
        }
        _exit(0);
    }
    int st;
    assert_int_equal(waitpid(pid, &st, 0), pid);
    return WIFEXITED(st) ? WEXITSTATUS(st) : 128;
}

static void drop_to_a_user(void **state)
{
    (void)state;
    if (geteuid() != 0) {
        /* Nothing to drop as another user: the case is root's. */
        return;
    }
    assert_int_equal(drop_in_child(true), 0);
    assert_int_equal(drop_in_child(false), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(user_values),
        cmocka_unit_test(landlock_rule_values),
        cmocka_unit_test(drop_to_a_user),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
