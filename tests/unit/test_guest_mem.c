/* Guest memory: layout around the MMIO hole and the bounds checks that
 * stand between guest-controlled addresses and host memory. */
#include "fake_host.h"

#include "arch/x86/layout.h"

static void layout_small(void **state)
{
    (void)state;
    struct guest_mem_region r[GUEST_MEM_MAX_REGIONS];
    assert_int_equal(guest_mem_layout(512ULL << 20, r), 1);
    assert_int_equal(r[0].gpa, 0);
    assert_int_equal(r[0].size, 512ULL << 20);
}

static void layout_splits_at_hole(void **state)
{
    (void)state;
    struct guest_mem_region r[GUEST_MEM_MAX_REGIONS];
    assert_int_equal(guest_mem_layout(64ULL << 30, r), 2);
    assert_int_equal(r[0].size, LAYOUT_MMIO_HOLE_START);
    assert_int_equal(r[1].gpa, LAYOUT_4G);
    assert_int_equal(r[1].size, (64ULL << 30) - LAYOUT_MMIO_HOLE_START);
    assert_int_equal(r[1].offset, LAYOUT_MMIO_HOLE_START);
    /* Exactly the hole's size: no second region. */
    assert_int_equal(guest_mem_layout(LAYOUT_MMIO_HOLE_START, r), 1);
}

static void bounds(void **state)
{
    (void)state;
    struct fake_host f;
    fake_host_init(&f, 1 << 20);
    uint8_t buf[16] = { 1, 2, 3 };
    assert_non_null(guest_mem_ptr(&f.mem, 0, 1 << 20));
    assert_non_null(guest_mem_ptr(&f.mem, (1 << 20) - 1, 1));
    assert_non_null(guest_mem_ptr(&f.mem, 1 << 20, 0));
    assert_null(guest_mem_ptr(&f.mem, 1 << 20, 1));
    assert_null(guest_mem_ptr(&f.mem, (1 << 20) - 1, 2));
    /* Lengths and addresses that would wrap must not pass. */
    assert_null(guest_mem_ptr(&f.mem, 16, UINT64_MAX));
    assert_null(guest_mem_ptr(&f.mem, UINT64_MAX, 2));
    assert_null(guest_mem_ptr(&f.mem, UINT64_MAX - 4, 8));
    assert_int_equal(guest_mem_write(&f.mem, 100, buf, 3), 0);
    uint8_t out[3];
    assert_int_equal(guest_mem_read(&f.mem, 100, out, 3), 0);
    assert_memory_equal(out, buf, 3);
    assert_int_equal(guest_mem_write(&f.mem, (1 << 20) - 2, buf, 3), -1);
    assert_int_equal(guest_mem_read(&f.mem, 1ULL << 40, out, 1), -1);
    fake_host_destroy(&f);
}

static void hole_is_not_ram(void **state)
{
    (void)state;
    struct fake_host f;
    fake_host_init(&f, LAYOUT_MMIO_HOLE_START + (1 << 20));
    assert_non_null(guest_mem_ptr(&f.mem, LAYOUT_MMIO_HOLE_START - 8, 8));
    assert_null(guest_mem_ptr(&f.mem, LAYOUT_MMIO_HOLE_START - 8, 16)); /* straddles */
    assert_null(guest_mem_ptr(&f.mem, LAYOUT_MMIO_HOLE_START, 1));
    assert_null(guest_mem_ptr(&f.mem, LAYOUT_IOAPIC_BASE, 1));
    uint8_t *hi = guest_mem_ptr(&f.mem, LAYOUT_4G, 1 << 20);
    assert_non_null(hi);
    assert_null(guest_mem_ptr(&f.mem, LAYOUT_4G + (1 << 20), 1));
    /* The high region is backed by the memfd right after the low one. */
    assert_ptr_equal(hi, f.mem.host + LAYOUT_MMIO_HOLE_START);
    assert_int_equal(guest_mem_low_end(&f.mem), LAYOUT_MMIO_HOLE_START);
    fake_host_destroy(&f);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(layout_small),
        cmocka_unit_test(layout_splits_at_hole),
        cmocka_unit_test(bounds),
        cmocka_unit_test(hole_is_not_ram),
    };
    return cmocka_run_group_tests_name("guest_mem", tests, NULL, NULL);
}
