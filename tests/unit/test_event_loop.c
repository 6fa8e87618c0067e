/* The main loop's registry of file descriptors: sources are polled only
 * when they want to be, called when ready, refused when duplicated or
 * past the limit, and one removed by another's callback is not called. */
#include "fake_host.h"

#include "vmm/event_loop.h"

#include <poll.h>
#include <unistd.h>

struct probe {
    struct event_loop *loop;
    int fd, calls, remove_fd;
    short want, last;
};

static short want(void *ctx) { return ((struct probe *)ctx)->want; }

static void ready(void *ctx, short revents)
{
    struct probe *p = ctx;
    p->calls++;
    p->last = revents;
    char b[16];
    if (read(p->fd, b, sizeof b) < 0) {
        /* a test pipe: nothing to do */
    }
    if (p->remove_fd >= 0)
        event_loop_remove(p->loop, p->remove_fd);
}

static void registry(void **state)
{
    (void)state;
    struct event_loop l;
    event_loop_init(&l);
    int a[2], b[2];
    assert_int_equal(pipe(a), 0);
    assert_int_equal(pipe(b), 0);
    struct probe pa = { &l, a[0], 0, -1, POLLIN, 0 }, pb = { &l, b[0], 0, -1, 0, 0 };
    assert_int_equal(event_loop_add(&l, a[0], want, ready, &pa), 0);
    assert_int_equal(event_loop_add(&l, a[0], want, ready, &pa), -1);   /* twice */
    assert_int_equal(event_loop_add(&l, -1, want, ready, &pa), -1);
    assert_int_equal(event_loop_add(&l, b[0], want, ready, &pb), 0);

    /* Nothing ready: a time-out. */
    assert_int_equal(event_loop_poll(&l, 0), 0);
    /* Both written, but b does not want to be polled: only a is called. */
    assert_int_equal(write(a[1], "x", 1), 1);
    assert_int_equal(write(b[1], "y", 1), 1);
    assert_int_equal(event_loop_poll(&l, 1000), 1);
    assert_int_equal(pa.calls, 1);
    assert_int_equal(pa.last & POLLIN, POLLIN);
    assert_int_equal(pb.calls, 0);
    /* b wants it now: its byte was kept for it. */
    pb.want = POLLIN;
    assert_int_equal(event_loop_poll(&l, 1000), 1);
    assert_int_equal(pb.calls, 1);

    /* a's callback removes b, which is ready in the same round: b is not
     * called again. */
    pa.remove_fd = b[0];
    assert_int_equal(write(a[1], "x", 1), 1);
    assert_int_equal(write(b[1], "y", 1), 1);
    event_loop_poll(&l, 1000);
    assert_int_equal(pa.calls, 2);
    assert_int_equal(pb.calls, 1);
    assert_int_equal(l.n, 1);

    /* Full. */
    struct probe many = { &l, -1, 0, -1, 0, 0 };
    unsigned added = 0;
    for (int fd = 100; fd < 100 + EVENT_LOOP_MAX + 4; fd++)
        added += event_loop_add(&l, fd, want, ready, &many) == 0;
    assert_int_equal(added, EVENT_LOOP_MAX - 1);
    close(a[0]);
    close(a[1]);
    close(b[0]);
    close(b[1]);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(registry),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
