/* Auto-converge's per-vCPU throttle (src/vmm/vcpu_throttle.c), on plain
 * threads: a step sleeps its share of the slice and arms a timer whose
 * kick interrupts the calling thread's blocking call (as it would
 * KVM_RUN) and no other thread; 0 disarms it. Behaviour, with generous
 * bounds, not timings. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include "util/kick.h"
#include "vmm/vcpu_throttle.h"

#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#define SLICE_MS (VCPU_THROTTLE_SLICE_NS / 1000000)
/* Far beyond a slice: a kick that is due comes well before this. */
#define LONG_MS 5000

static int64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* Kicks counted, and which thread took the last. */
static atomic_int kicks;
static atomic_int kicked_tid;

static void counting_handler(int sig)
{
    (void)sig;
    atomic_fetch_add(&kicks, 1);
    atomic_store(&kicked_tid, (int)syscall(SYS_gettid));
}

/* The kick's own handler, then one that also counts (installed the same
 * way: no SA_RESTART, so a blocking call returns EINTR). */
static int install_counting(void **state)
{
    (void)state;
    kick_signal_init();
    struct sigaction sa = { .sa_handler = counting_handler };
    sigemptyset(&sa.sa_mask);
    assert_int_equal(sigaction(kick_signal(), &sa, NULL), 0);
    atomic_store(&kicks, 0);
    atomic_store(&kicked_tid, 0);
    return 0;
}

/* Blocks up to ms in poll: -1 with EINTR when a signal came, else 0. */
static int block(int ms)
{
    int r = poll(NULL, 0, ms);
    return r < 0 && errno == EINTR ? -1 : r;
}

static void half_throttle_sleeps_then_kicks(void **state)
{
    (void)state;
    kick_signal_init();   /* the real handler: the call is interrupted all the same */
    struct vcpu_throttle t = { 0 };
    int64_t t0 = now_ns();
    vcpu_throttle_step(&t, 50);
    int64_t slept = now_ns() - t0;
    assert_true(t.has_timer);
    /* Half a slice asleep (at least; a loaded host only adds). */
    assert_true(slept >= VCPU_THROTTLE_SLICE_NS / 2 - 1000000);
    assert_true(slept < (int64_t)LONG_MS * 1000000);
    /* The other half later, the timer ends the "guest's" run. */
    t0 = now_ns();
    assert_int_equal(block(LONG_MS), -1);
    assert_true(now_ns() - t0 < (int64_t)LONG_MS * 1000000);
    vcpu_throttle_end(&t);
    assert_false(t.has_timer);
}

static void zero_disarms(void **state)
{
    struct vcpu_throttle t = { 0 };
    /* No throttle, no timer made, no sleep worth the name. */
    vcpu_throttle_step(&t, 0);
    assert_false(t.has_timer);
    install_counting(state);
    vcpu_throttle_step(&t, 50);
    vcpu_throttle_step(&t, 0);   /* before the kick was due (or just after) */
    int before = atomic_load(&kicks);
    /* Several slices go by without a kick. */
    assert_int_equal(block(10 * SLICE_MS), 0);
    assert_int_equal(atomic_load(&kicks), before);
    /* Armed again, it kicks again. */
    vcpu_throttle_step(&t, 20);
    assert_int_equal(block(LONG_MS), -1);
    assert_int_equal(atomic_load(&kicks), before + 1);
    /* One kick a step: the timer does not repeat by itself. */
    assert_int_equal(block(10 * SLICE_MS), 0);
    assert_int_equal(atomic_load(&kicks), before + 1);
    vcpu_throttle_end(&t);
    kick_signal_init();
}

static void above_the_maximum_is_capped(void **state)
{
    (void)state;
    kick_signal_init();
    struct vcpu_throttle t = { 0 };
    int64_t t0 = now_ns();
    vcpu_throttle_step(&t, 1000);   /* as 99: asleep most of the slice, never for ever */
    int64_t slept = now_ns() - t0;
    assert_true(slept >= VCPU_THROTTLE_SLICE_NS / 100 * 99 - 1000000);
    assert_true(slept < (int64_t)LONG_MS * 1000000);
    assert_int_equal(block(LONG_MS), -1);
    vcpu_throttle_end(&t);
}

/* The kick goes to the thread that stepped, not to the process (where
 * any thread, the main one first, might take it). */
struct stepper {
    int tid;
    int blocked;   /* block()'s result */
};

static void *step_and_block(void *arg)
{
    struct stepper *s = arg;
    s->tid = (int)syscall(SYS_gettid);
    struct vcpu_throttle t = { 0 };
    vcpu_throttle_step(&t, 50);
    s->blocked = block(LONG_MS);
    vcpu_throttle_end(&t);
    return NULL;
}

static void kick_reaches_the_stepping_thread(void **state)
{
    install_counting(state);
    struct stepper s = { 0 };
    pthread_t th;
    assert_int_equal(pthread_create(&th, NULL, step_and_block, &s), 0);
    /* The main thread waits with the signal unblocked: a process-directed
     * signal would be likely to land here. */
    pthread_join(th, NULL);
    assert_int_equal(s.blocked, -1);
    assert_int_equal(atomic_load(&kicks), 1);
    assert_int_equal(atomic_load(&kicked_tid), s.tid);
    kick_signal_init();
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(half_throttle_sleeps_then_kicks),
        cmocka_unit_test(zero_disarms),
        cmocka_unit_test(above_the_maximum_is_capped),
        cmocka_unit_test(kick_reaches_the_stepping_thread),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
