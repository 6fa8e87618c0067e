/* The split virtqueue against a driver written the way a guest's is
 * (tests/support/vq_driver.c): chains, indirect tables, index wrap-around,
 * event-index suppression, and hostile rings that must break the queue
 * instead of being followed. No /dev/kvm. */
#include "fake_host.h"
#include "vq_driver.h"

#include "devices/virtio/virtqueue.h"
#include "core/state.h"

#include <linux/virtio_ring.h>

#define RING 0x10000
#define DATA 0x100000
#define MB (1ull << 20)

struct fixture {
    struct fake_host f;
    struct vq_driver d;
    struct virtq q;
    struct virtq_chain c;
};

static struct fixture *setup_queue(uint16_t size, bool event_idx, bool indirect)
{
    struct fixture *x = test_calloc(1, sizeof *x);
    fake_host_init(&x->f, 16 * MB);
    vqd_init(&x->d, &x->f.mem, RING, size);
    virtq_reset(&x->q, size);
    x->q.desc_gpa = x->d.desc;
    x->q.avail_gpa = x->d.avail;
    x->q.used_gpa = x->d.used;
    x->q.ready = true;
    assert_int_equal(virtq_start(&x->q, &x->f.mem, event_idx, indirect), 0);
    return x;
}

static void teardown(struct fixture *x)
{
    fake_host_destroy(&x->f);
    test_free(x);
}

static void *host(struct fixture *x, uint64_t gpa) { return guest_mem_ptr(&x->f.mem, gpa, 1); }

static void chain_in_order(void **state)
{
    (void)state;
    struct fixture *x = setup_queue(8, false, false);
    assert_int_equal(virtq_pop(&x->q, &x->c), 0);            /* empty */
    guest_mem_write(&x->f.mem, DATA, "header", 6);
    guest_mem_write(&x->f.mem, DATA + 0x100, "payload", 7);
    struct vq_buf b[] = { { DATA, 6, false }, { DATA + 0x100, 7, false }, { DATA + 0x200, 64, true } };
    int head = vqd_add(&x->d, b, 3, 0);
    vqd_publish(&x->d);
    assert_true(virtq_has_work(&x->q));
    assert_int_equal(virtq_pop(&x->q, &x->c), 1);
    assert_int_equal(x->c.head, head);
    assert_int_equal(x->c.nout, 2);
    assert_int_equal(x->c.nin, 1);
    assert_int_equal(x->c.out_len, 13);
    assert_int_equal(x->c.in_len, 64);
    char buf[16] = { 0 };
    assert_int_equal(virtq_chain_read(&x->c, 4, buf, 5), 5);  /* across the two buffers */
    assert_memory_equal(buf, "erpay", 5);
    assert_int_equal(virtq_chain_read(&x->c, 10, buf, 16), 3); /* short at the end */
    assert_int_equal(virtq_chain_write(&x->c, 60, "abcdefgh", 8), 4);
    assert_memory_equal(host(x, DATA + 0x200 + 60), "abcd", 4);
    virtq_push(&x->q, x->c.head, 4);
    assert_true(virtq_should_notify(&x->q));
    uint16_t id;
    uint32_t len;
    assert_true(vqd_get_used(&x->d, &id, &len));
    assert_int_equal(id, head);
    assert_int_equal(len, 4);
    assert_false(virtq_has_work(&x->q));
    /* NO_INTERRUPT is honoured without the event index. */
    vqd_set_no_interrupt(&x->d, true);
    assert_int_equal(vqd_add(&x->d, b, 1, 0) >= 0, 1);
    vqd_publish(&x->d);
    assert_int_equal(virtq_pop(&x->q, &x->c), 1);
    virtq_push(&x->q, x->c.head, 0);
    assert_false(virtq_should_notify(&x->q));
    teardown(x);
}

static void indirect_table(void **state)
{
    (void)state;
    struct fixture *x = setup_queue(4, false, true);
    struct vq_buf b[10];
    for (unsigned i = 0; i < 10; i++)
        b[i] = (struct vq_buf){ DATA + 0x1000 * i, 512, i >= 6 };
    int head = vqd_add(&x->d, b, 10, DATA + 0x20000);  /* 10 buffers, queue of 4 */
    vqd_publish(&x->d);
    assert_int_equal(virtq_pop(&x->q, &x->c), 1);
    assert_int_equal(x->c.head, head);
    assert_int_equal(x->c.nout, 6);
    assert_int_equal(x->c.nin, 4);
    assert_ptr_equal(x->c.in[0].iov_base, host(x, DATA + 0x6000));
    teardown(x);

    /* Not negotiated: an indirect descriptor breaks the queue. */
    x = setup_queue(4, false, false);
    vqd_add(&x->d, b, 2, DATA + 0x20000);
    vqd_publish(&x->d);
    assert_int_equal(virtq_pop(&x->q, &x->c), -1);
    assert_true(x->q.broken);
    teardown(x);
}

/* Indices are free-running 16-bit counters: ring positions wrap at the
 * queue size and the counters at 65536. */
static void wrap_around(void **state)
{
    (void)state;
    struct fixture *x = setup_queue(4, true, false);
    x->d.avail_idx = x->d.last_used = 65530;
    x->q.last_avail = x->q.used_idx = 65530;
    guest_mem_write(&x->f.mem, x->d.avail + 2, &x->d.avail_idx, 2);
    guest_mem_write(&x->f.mem, x->d.used + 2, &x->q.used_idx, 2);
    struct vq_buf b = { DATA, 16, true };
    for (unsigned round = 0; round < 40; round++) {
        unsigned n = 1 + round % 4;
        for (unsigned k = 0; k < n; k++)
            assert_true(vqd_add(&x->d, &b, 1, 0) >= 0);
        vqd_publish(&x->d);
        for (unsigned k = 0; k < n; k++) {
            assert_int_equal(virtq_pop(&x->q, &x->c), 1);
            virtq_push(&x->q, x->c.head, round);
        }
        assert_int_equal(virtq_pop(&x->q, &x->c), 0);
        for (unsigned k = 0; k < n; k++) {
            uint16_t id;
            uint32_t len;
            assert_true(vqd_get_used(&x->d, &id, &len));
            assert_int_equal(len, round);
        }
    }
    assert_false(x->q.broken);
    assert_true(x->q.last_avail < 65530);                   /* it wrapped */
    teardown(x);
}

static void event_index(void **state)
{
    (void)state;
    struct fixture *x = setup_queue(8, true, false);
    struct vq_buf b = { DATA, 16, true };
    /* The driver asks for an interrupt once used->idx passes 2. */
    vqd_set_used_event(&x->d, 2);
    bool notified[4];
    for (unsigned k = 0; k < 4; k++) {
        vqd_add(&x->d, &b, 1, 0);
        vqd_publish(&x->d);
        assert_int_equal(virtq_pop(&x->q, &x->c), 1);
        virtq_push(&x->q, x->c.head, 0);
        notified[k] = virtq_should_notify(&x->q);
    }
    assert_true(notified[0]);                 /* the first always signals */
    assert_false(notified[1]);                /* idx 2: event 2 not yet passed */
    assert_true(notified[2]);                 /* idx 3 passes used_event 2 */
    assert_false(notified[3]);
    /* Kick suppression writes avail_event = the next entry the device takes. */
    virtq_set_kicks(&x->q, true);
    uint16_t avail_event;
    guest_mem_read(&x->f.mem, x->d.used + 4 + 8 * 8, &avail_event, 2);
    assert_int_equal(avail_event, 4);
    teardown(x);

    x = setup_queue(8, false, false);
    virtq_set_kicks(&x->q, false);
    uint16_t flags;
    guest_mem_read(&x->f.mem, x->d.used, &flags, 2);
    assert_int_equal(flags, VRING_USED_F_NO_NOTIFY);
    virtq_set_kicks(&x->q, true);
    guest_mem_read(&x->f.mem, x->d.used, &flags, 2);
    assert_int_equal(flags, 0);
    teardown(x);
}

/* Each hostile ring breaks the queue, and it stays broken. */
static void expect_broken(struct fixture *x, const char *why)
{
    assert_int_equal(virtq_pop(&x->q, &x->c), -1);
    assert_true(x->q.broken);
    assert_non_null(x->q.error);
    assert_int_equal(virtq_pop(&x->q, &x->c), -1);
    print_message("# broken as expected: %s (%s)\n", why, x->q.error);
    teardown(x);
}

static void hostile_rings(void **state)
{
    (void)state;
    struct fixture *x = setup_queue(4, false, true);
    vqd_write_desc(&x->d, 0, DATA, 8, VRING_DESC_F_NEXT, 1);
    vqd_write_desc(&x->d, 1, DATA, 8, VRING_DESC_F_NEXT, 0);   /* back to 0 */
    vqd_push_head(&x->d, 0);
    expect_broken(x, "descriptor loop");

    x = setup_queue(4, false, true);
    vqd_write_desc(&x->d, 0, 15 * MB + 0xfff00, 0x1000, 0, 0);  /* runs past RAM */
    vqd_push_head(&x->d, 0);
    expect_broken(x, "buffer past the end of RAM");

    x = setup_queue(4, false, true);
    vqd_write_desc(&x->d, 0, 0xfffffffffffff000ull, 0x2000, 0, 0); /* gpa + len overflows */
    vqd_push_head(&x->d, 0);
    expect_broken(x, "address + length overflows");

    x = setup_queue(4, false, true);
    vqd_write_desc(&x->d, 0, DATA, 8, VRING_DESC_F_WRITE | VRING_DESC_F_NEXT, 1);
    vqd_write_desc(&x->d, 1, DATA, 8, 0, 0);                   /* readable after writable */
    vqd_push_head(&x->d, 0);
    expect_broken(x, "readable after writable");

    x = setup_queue(4, false, true);
    vqd_write_desc(&x->d, 0, DATA, 8, VRING_DESC_F_NEXT, 7);   /* next past the table */
    vqd_push_head(&x->d, 0);
    expect_broken(x, "next out of range");

    x = setup_queue(4, false, true);
    vqd_push_head(&x->d, 9);                                   /* head past the table */
    expect_broken(x, "head out of range");

    x = setup_queue(4, false, true);
    x->d.avail_idx = 6;                                        /* 6 entries in a queue of 4 */
    vqd_push_head(&x->d, 0);
    expect_broken(x, "avail index ran ahead");

    /* An indirect table whose chain loops inside it. */
    x = setup_queue(4, false, true);
    struct vring_desc t[2] = { { DATA, 8, VRING_DESC_F_NEXT, 1 }, { DATA, 8, VRING_DESC_F_NEXT, 0 } };
    guest_mem_write(&x->f.mem, DATA + 0x10000, t, sizeof t);
    vqd_write_desc(&x->d, 0, DATA + 0x10000, sizeof t, VRING_DESC_F_INDIRECT, 0);
    vqd_push_head(&x->d, 0);
    expect_broken(x, "loop inside an indirect table");

    /* An indirect descriptor inside an indirect table. */
    x = setup_queue(4, false, true);
    struct vring_desc nest = { DATA + 0x10000, 16, VRING_DESC_F_INDIRECT, 0 };
    guest_mem_write(&x->f.mem, DATA + 0x10000, &nest, sizeof nest);
    vqd_write_desc(&x->d, 0, DATA + 0x10000, 16, VRING_DESC_F_INDIRECT, 0);
    vqd_push_head(&x->d, 0);
    expect_broken(x, "nested indirect");

    /* Indirect table lengths: not a multiple of 16, and huge. */
    x = setup_queue(4, false, true);
    vqd_write_desc(&x->d, 0, DATA, 24, VRING_DESC_F_INDIRECT, 0);
    vqd_push_head(&x->d, 0);
    expect_broken(x, "indirect length not a multiple of 16");
    x = setup_queue(4, false, true);
    vqd_write_desc(&x->d, 0, DATA, 0xfffffff0u, VRING_DESC_F_INDIRECT, 0);
    vqd_push_head(&x->d, 0);
    expect_broken(x, "indirect table of 2^28 entries");

    /* A chain with more buffers than one request may carry. */
    x = setup_queue(4, false, true);
    struct vq_buf many[VIRTQ_MAX_SEGS + 1];
    for (unsigned i = 0; i <= VIRTQ_MAX_SEGS; i++)
        many[i] = (struct vq_buf){ DATA, 1, false };
    vqd_add(&x->d, many, VIRTQ_MAX_SEGS + 1, DATA + 0x40000);
    vqd_publish(&x->d);
    expect_broken(x, "too many buffers");
}

static void bad_ring_addresses(void **state)
{
    (void)state;
    struct fixture *x = setup_queue(4, false, false);
    x->q.avail_gpa = x->d.avail + 1;
    assert_int_equal(virtq_start(&x->q, &x->f.mem, false, false), -1);  /* misaligned */
    x->q.avail_gpa = x->d.avail;
    x->q.used_gpa = 16 * MB - 8;
    assert_int_equal(virtq_start(&x->q, &x->f.mem, false, false), -1);  /* outside RAM */
    x->q.used_gpa = x->d.used;
    x->q.size = 0;
    assert_int_equal(virtq_start(&x->q, &x->f.mem, false, false), -1);
    x->q.size = 4;
    assert_int_equal(virtq_start(&x->q, &x->f.mem, false, false), 0);
    teardown(x);
}

static void save_and_load(void **state)
{
    (void)state;
    struct fixture *x = setup_queue(8, true, true);
    struct vq_buf b = { DATA, 16, true };
    vqd_add(&x->d, &b, 1, 0);
    vqd_add(&x->d, &b, 1, 0);
    vqd_publish(&x->d);
    assert_int_equal(virtq_pop(&x->q, &x->c), 1);
    virtq_push(&x->q, x->c.head, 3);
    virtq_should_notify(&x->q);
    struct state_writer w;
    state_writer_init(&w);
    state_begin(&w, "vq", 1);
    virtq_save(&x->q, &w);
    state_end(&w);
    struct virtq copy;
    struct state_reader r;
    state_reader_init(&r, w.buf, w.len);
    uint32_t version;
    assert_int_equal(state_open(&r, "vq", &version), 0);
    virtq_load(&copy, &r);
    assert_int_equal(state_close(&r), 0);
    assert_int_equal(virtq_start(&copy, &x->f.mem, true, true), 0);
    assert_int_equal(copy.last_avail, 1);
    assert_int_equal(copy.used_idx, 1);
    assert_int_equal(virtq_pop(&copy, &x->c), 1);             /* the second chain */
    assert_int_equal(virtq_pop(&copy, &x->c), 0);
    state_writer_free(&w);
    teardown(x);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(chain_in_order),
        cmocka_unit_test(indirect_table),
        cmocka_unit_test(wrap_around),
        cmocka_unit_test(event_index),
        cmocka_unit_test(hostile_rings),
        cmocka_unit_test(bad_ring_addresses),
        cmocka_unit_test(save_and_load),
    };
    return cmocka_run_group_tests_name("virtqueue", tests, NULL, NULL);
}
