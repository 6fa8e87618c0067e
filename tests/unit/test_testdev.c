/* QEMU's pc-testdev through the bus, as kvm-unit-tests drives it. */
#include "fake_host.h"

#include "devices/testdev.h"
#include "core/state.h"

#include <stdlib.h>

struct fixture {
    struct fake_host f;
    struct device d;
};

static int setup(void **state)
{
    struct fixture *x = calloc(1, sizeof *x);
    fake_host_init(&x->f, 4 << 20);
    assert_int_equal(testdev_create(&x->f.host, &x->d), 0);
    *state = x;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *x = *state;
    x->d.ops->destroy(x->d.dev);
    fake_host_destroy(&x->f);
    free(x);
    return 0;
}

static uint32_t io_read(struct bus *b, uint64_t addr, unsigned len)
{
    uint8_t d[8] = { 0 };
    assert_true(bus_access(b, addr, d, len, false));
    uint32_t v = 0;
    for (unsigned i = 0; i < len && i < 4; i++)
        v |= (uint32_t)d[i] << (8 * i);
    return v;
}

static void io_write(struct bus *b, uint64_t addr, uint32_t v, unsigned len)
{
    uint8_t d[4] = { (uint8_t)v, (uint8_t)(v >> 8), (uint8_t)(v >> 16), (uint8_t)(v >> 24) };
    assert_true(bus_access(b, addr, d, len, true));
}

/* 0xe0-0xe3 read back what was written, by byte, word and dword, and
 * 0xe8-0xeb are the same latch. */
static void latch(void **state)
{
    struct fixture *x = *state;
    struct bus *pio = &x->f.pio;
    io_write(pio, 0xe0, 0x12345678, 4);
    assert_int_equal(io_read(pio, 0xe0, 4), 0x12345678);
    assert_int_equal(io_read(pio, 0xe0, 1), 0x78);
    assert_int_equal(io_read(pio, 0xe1, 1), 0x56);
    assert_int_equal(io_read(pio, 0xe2, 2), 0x1234);
    io_write(pio, 0xe1, 0xab, 1);
    assert_int_equal(io_read(pio, 0xe0, 4), 0x1234ab78);
    io_write(pio, 0xe2, 0xcdef, 2);
    assert_int_equal(io_read(pio, 0xe0, 4), 0xcdefab78);
    assert_int_equal(io_read(pio, 0xe8, 4), 0xcdefab78);
    io_write(pio, 0xeb, 0x01, 1);
    assert_int_equal(io_read(pio, 0xe0, 4), 0x01efab78);
    /* An access that straddles the latch and the flush port is nobody's. */
    uint8_t d[4] = { 0 };
    assert_false(bus_access(pio, 0xe2, d, 4, true));
    assert_int_equal(io_read(pio, 0xe0, 4), 0x01efab78);
}

/* A byte write of V to 0x2000+N drives line N to V != 0. */
static void irq_lines(void **state)
{
    struct fixture *x = *state;
    struct bus *pio = &x->f.pio;
    io_write(pio, 0x2000 + 14, 1, 1);
    assert_true(x->f.irq[14]);
    io_write(pio, 0x2000 + 14, 0, 1);
    assert_false(x->f.irq[14]);
    assert_int_equal(x->f.irq_edges[14], 1);
    io_write(pio, 0x2000 + 23, 0x80, 1);
    assert_true(x->f.irq[23]);
    io_write(pio, 0x2000, 1, 1);
    assert_true(x->f.irq[0]);
    /* Only byte writes count, as in QEMU; reads give 0. */
    io_write(pio, 0x2000 + 5, 0x0101, 2);
    io_write(pio, 0x2000 + 8, 1, 4);
    assert_false(x->f.irq[5] || x->f.irq[6] || x->f.irq[8]);
    assert_int_equal(io_read(pio, 0x2000 + 14, 1), 0);
    /* Line 24 and beyond are not the device's. */
    uint8_t one = 1;
    assert_false(bus_access(pio, 0x2000 + 24, &one, 1, true));
    assert_false(x->f.irq[24]);
}

/* 64 KiB at 0xff000000 read back what was written, at any width. */
static void iomem(void **state)
{
    struct fixture *x = *state;
    struct bus *mmio = &x->f.mmio;
    uint8_t w[8] = { 1, 2, 3, 4, 5, 6, 7, 8 }, r[8] = { 0 };
    assert_true(bus_access(mmio, TESTDEV_IOMEM_BASE + 0x100, w, 8, true));
    assert_true(bus_access(mmio, TESTDEV_IOMEM_BASE + 0x100, r, 8, false));
    assert_memory_equal(r, w, 8);
    assert_int_equal(io_read(mmio, TESTDEV_IOMEM_BASE + 0x102, 2), 0x0403);
    io_write(mmio, TESTDEV_IOMEM_BASE + 0xfffc, 0xdeadbeef, 4);
    assert_int_equal(io_read(mmio, TESTDEV_IOMEM_BASE + 0xffff, 1), 0xde);
    assert_false(bus_access(mmio, TESTDEV_IOMEM_BASE + 0x10000, r, 1, false));
}

/* The flush port keeps the page's contents and its access rights; reads
 * give 0, other widths and addresses outside RAM are ignored. */
static void flush_page(void **state)
{
    struct fixture *x = *state;
    struct bus *pio = &x->f.pio;
    uint8_t *page = guest_mem_ptr(&x->f.mem, 0x3000, 4096);
    assert_non_null(page);
    memset(page, 0x5a, 4096);
    io_write(pio, 0xe4, 0x3000 + 0x123, 4);
    assert_int_equal(page[0], 0x5a);
    assert_int_equal(page[4095], 0x5a);
    page[7] = 0xa5;                       /* still writable */
    assert_int_equal(page[7], 0xa5);
    assert_int_equal(io_read(pio, 0xe4, 4), 0);
    io_write(pio, 0xe4, 0x3000, 2);
    io_write(pio, 0xe4, 0xfffff000u, 4); /* not RAM */
    assert_int_equal(guest_mem_flush_page(&x->f.mem, 0x3fff), 0);
    assert_int_equal(guest_mem_flush_page(&x->f.mem, 4 << 20), -1);
    assert_int_equal(guest_mem_flush_page(&x->f.mem, UINT64_MAX), -1);
    assert_int_equal(page[7], 0xa5);
}

static void state_round_trip(void **state)
{
    struct fixture *x = *state;
    io_write(&x->f.pio, 0xe0, 0xcafef00d, 4);
    io_write(&x->f.mmio, TESTDEV_IOMEM_BASE + 0x4242, 0x77, 1);
    struct state_writer w;
    state_writer_init(&w);
    x->d.ops->save(x->d.dev, &w);
    assert_false(w.failed);

    struct fake_host f2;
    struct device d2;
    fake_host_init(&f2, 1 << 20);
    assert_int_equal(testdev_create(&f2.host, &d2), 0);
    struct state_reader r;
    /* A truncated stream is refused and changes nothing. */
    state_reader_init(&r, w.buf, w.len - 1);
    assert_int_equal(d2.ops->load(d2.dev, &r), -1);
    assert_int_equal(io_read(&f2.pio, 0xe0, 4), 0);
    state_reader_init(&r, w.buf, w.len);
    assert_int_equal(d2.ops->load(d2.dev, &r), 0);
    assert_int_equal(io_read(&f2.pio, 0xe0, 4), 0xcafef00d);
    assert_int_equal(io_read(&f2.mmio, TESTDEV_IOMEM_BASE + 0x4242, 1), 0x77);
    d2.ops->destroy(d2.dev);
    fake_host_destroy(&f2);
    state_writer_free(&w);
}

/* If a range is taken, creation fails and leaves none of its own behind. */
static void create_conflict(void **state)
{
    (void)state;
    struct fake_host f;
    struct device d;
    fake_host_init(&f, 1 << 20);
    assert_int_equal(bus_register(&f.pio, 0x2010, 1, NULL, NULL, "other"), 0);
    assert_int_equal(testdev_create(&f.host, &d), -1);
    uint8_t v = 0;
    assert_false(bus_access(&f.pio, 0xe0, &v, 1, false));
    assert_false(bus_access(&f.pio, 0xe4, &v, 1, false));
    assert_false(bus_access(&f.mmio, TESTDEV_IOMEM_BASE, &v, 1, false));
    assert_true(bus_access(&f.pio, 0x2010, &v, 1, false));   /* the other one stays */
    fake_host_destroy(&f);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(latch, setup, teardown),
        cmocka_unit_test_setup_teardown(irq_lines, setup, teardown),
        cmocka_unit_test_setup_teardown(iomem, setup, teardown),
        cmocka_unit_test_setup_teardown(flush_page, setup, teardown),
        cmocka_unit_test_setup_teardown(state_round_trip, setup, teardown),
        cmocka_unit_test(create_conflict),
    };
    return cmocka_run_group_tests_name("testdev", tests, NULL, NULL);
}
