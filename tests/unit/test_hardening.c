/* The hostile-environment defences that need no /dev/kvm: console output
 * that never blocks its writer and always lets the VM stop, the limiter
 * on guest-caused warnings, standard streams reopened before anything
 * else is, and guest-physical addresses checked against the host's
 * address width. */
#include "fake_host.h"

#include "util/kick.h"
#include "util/ratelimit.h"
#include "util/stdfds.h"
#include "vmm/address_width.h"
#include "vmm/console_out.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static double now_s(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

/* Everything written arrives, in order, when somebody reads. */
static void console_out_delivers(void **state)
{
    (void)state;
    int p[2];
    assert_int_equal(pipe(p), 0);
    struct console_out o;
    console_out_init(&o, p[1]);
    assert_int_equal(console_out_start(&o), 0);
    static uint8_t sent[200000], got[sizeof sent];
    for (size_t i = 0; i < sizeof sent; i++)
        sent[i] = (uint8_t)(i * 7);
    size_t r = 0;
    for (size_t off = 0; off < sizeof sent; off += 1000) {
        assert_int_equal(console_out_write(&o, sent + off, 1000), 1000);
        /* Read along so the ring never fills. */
        ssize_t n;
        while ((n = read(p[0], got + r, sizeof got - r)) > 0 && (r += (size_t)n) < off)
            ;
    }
    console_out_stop(&o, 1000);
    fcntl(p[0], F_SETFL, O_NONBLOCK);
    ssize_t n;
    while (r < sizeof got && (n = read(p[0], got + r, sizeof got - r)) > 0)
        r += (size_t)n;
    assert_int_equal(r, sizeof sent);
    assert_memory_equal(got, sent, sizeof sent);
    console_out_destroy(&o);
    close(p[0]);
    close(p[1]);
}

/* Nobody reads: writes return at once (what does not fit is dropped), and
 * stopping takes about the flush timeout, not forever, even though the
 * writer thread sits in a write() that will never complete. */
static void console_out_never_blocks(void **state)
{
    (void)state;
    int p[2];
    assert_int_equal(pipe(p), 0);
    fcntl(p[1], F_SETPIPE_SZ, 4096);
    struct console_out o;
    console_out_init(&o, p[1]);
    assert_int_equal(console_out_start(&o), 0);
    static uint8_t chunk[4096];
    double t0 = now_s();
    size_t taken = 0;
    for (int i = 0; i < 1024; i++)               /* 4 MiB into a 4 KiB pipe */
        taken += console_out_write(&o, chunk, sizeof chunk);
    assert_true(now_s() - t0 < 5.0);
    assert_true(taken <= CONSOLE_OUT_RING + 4096 * 2);
    t0 = now_s();
    console_out_stop(&o, 200);
    assert_true(now_s() - t0 < 5.0);
    /* After the stop, output is dropped, never queued. */
    assert_int_equal(console_out_write(&o, chunk, 10), 0);
    console_out_destroy(&o);
    close(p[0]);
    close(p[1]);
}

/* A reader that went away (EPIPE): output is dropped from then on. */
static void console_out_reader_gone(void **state)
{
    (void)state;
    signal(SIGPIPE, SIG_IGN);
    int p[2];
    assert_int_equal(pipe(p), 0);
    close(p[0]);
    struct console_out o;
    console_out_init(&o, p[1]);
    assert_int_equal(console_out_start(&o), 0);
    console_out_write(&o, "hello", 5);
    console_out_stop(&o, 1000);
    console_out_destroy(&o);
    close(p[1]);
}

static void ratelimit_bursts_then_counts(void **state)
{
    (void)state;
    struct ratelimit rl;
    ratelimit_init(&rl);
    unsigned long suppressed = 99;
    int64_t t = 1000;
    for (unsigned i = 0; i < RATELIMIT_BURST; i++) {
        assert_true(ratelimit_allow(&rl, t, &suppressed));
        assert_int_equal(suppressed, 0);
    }
    for (unsigned i = 0; i < 1000; i++)
        assert_false(ratelimit_allow(&rl, t + i, &suppressed));
    /* The next window lets one through and says how many were dropped. */
    assert_true(ratelimit_allow(&rl, t + RATELIMIT_WINDOW_NS, &suppressed));
    assert_int_equal(suppressed, 1000);
    assert_true(ratelimit_allow(&rl, t + RATELIMIT_WINDOW_NS, &suppressed));
    assert_int_equal(suppressed, 0);
    ratelimit_destroy(&rl);
}

/* In a child with fds 0-2 closed: they come back on /dev/null, so the next
 * file opened is fd 3 or above. */
static void stdfds_reopened(void **state)
{
    (void)state;
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        close(0);
        close(1);
        close(2);
        if (stdfds_ensure_open() < 0)
            _exit(10);
        int fd = open("/dev/zero", O_RDONLY);
        struct stat st;
        if (fd <= 2 || fstat(1, &st) < 0 || !S_ISCHR(st.st_mode))
            _exit(11);
        _exit(0);
    }
    int status;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 0);
}

static void address_width(void **state)
{
    (void)state;
    char err[256];
    uint64_t base = 5ull << 30, size = 64ull << 30;
    /* 39 bits (512 GiB): 4 GiB of RAM fits, the whole 64 GiB window too. */
    assert_int_equal(address_width_check(4ull << 30, 39, &base, &size, 1ull << 30, err, sizeof err), 0);
    assert_int_equal(size, 64ull << 30);
    /* 36 bits (64 GiB): the window is narrowed to what is left. */
    assert_int_equal(address_width_check(4ull << 30, 36, &base, &size, 1ull << 30, err, sizeof err), 0);
    assert_int_equal(size, (64ull - 5) << 30);
    /* RAM beyond the width is refused, naming it. */
    base = 1025ull << 30, size = 64ull << 30;
    assert_int_equal(address_width_check(1024ull << 30, 39, &base, &size, 1ull << 30, err, sizeof err), -1);
    assert_non_null(strstr(err, "39-bit"));
    /* RAM that fits with no room left for the window is refused too. */
    base = 64ull << 30, size = 64ull << 30;
    assert_int_equal(address_width_check(63ull << 30, 36, &base, &size, 1ull << 30, err, sizeof err), -1);
    assert_non_null(strstr(err, "64-bit PCI window"));
    assert_true(host_phys_bits() >= 32 && host_phys_bits() <= 64);
}

int main(void)
{
    kick_signal_init();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(console_out_delivers),
        cmocka_unit_test(console_out_never_blocks),
        cmocka_unit_test(console_out_reader_gone),
        cmocka_unit_test(ratelimit_bursts_then_counts),
        cmocka_unit_test(stdfds_reopened),
        cmocka_unit_test(address_width),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
