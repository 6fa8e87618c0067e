/* Guest memory: layout around the MMIO hole and the bounds checks that
 * stand between guest-controlled addresses and host memory. */
#include "fake_host.h"

#include "arch/x86/layout.h"

#include <stdio.h>
#include <unistd.h>

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

/* The bounds checks, the same for every backing: RAM is [0, size). */
static void check_bounds(const struct guest_mem *gm, uint64_t size)
{
    uint8_t buf[16] = { 1, 2, 3 };
    assert_non_null(guest_mem_ptr(gm, 0, size));
    assert_non_null(guest_mem_ptr(gm, size - 1, 1));
    assert_non_null(guest_mem_ptr(gm, size, 0));
    assert_null(guest_mem_ptr(gm, size, 1));
    assert_null(guest_mem_ptr(gm, size - 1, 2));
    /* Lengths and addresses that would wrap must not pass. */
    assert_null(guest_mem_ptr(gm, 16, UINT64_MAX));
    assert_null(guest_mem_ptr(gm, UINT64_MAX, 2));
    assert_null(guest_mem_ptr(gm, UINT64_MAX - 4, 8));
    assert_int_equal(guest_mem_write(gm, 100, buf, 3), 0);
    uint8_t out[3];
    assert_int_equal(guest_mem_read(gm, 100, out, 3), 0);
    assert_memory_equal(out, buf, 3);
    assert_int_equal(guest_mem_write(gm, size - 2, buf, 3), -1);
    assert_int_equal(guest_mem_read(gm, 1ULL << 40, out, 1), -1);
}

static void bounds(void **state)
{
    (void)state;
    struct fake_host f;
    fake_host_init(&f, 1 << 20);
    check_bounds(&f.mem, 1 << 20);
    fake_host_destroy(&f);
}

/* The VmFlags line of the /proc/self/smaps entry that starts at `addr`. */
static bool vm_flags(const void *addr, char *flags, size_t size)
{
    FILE *f = fopen("/proc/self/smaps", "r");
    char line[512], start[32];
    bool here = false, found = false;
    snprintf(start, sizeof start, "%lx-", (unsigned long)(uintptr_t)addr);
    while (!found && f && fgets(line, sizeof line, f)) {
        char *sp = strchr(line, ' '), *dash = strchr(line, '-');
        if (sp && dash && dash < sp)
            here = !strncmp(line, start, strlen(start));
        else if (here && !strncmp(line, "VmFlags:", 8)) {
            snprintf(flags, size, "%s", line + 8);
            found = true;
        }
    }
    if (f)
        fclose(f);
    return found;
}

/* Default RAM is anonymous, 2 MiB aligned (a guest huge page can be a
 * host huge page) and advised for transparent huge pages ("hg"). */
static void backing_anon(void **state)
{
    (void)state;
    struct guest_mem gm;
    char err[256], flags[512];
    assert_int_equal(guest_mem_init(&gm, 64 << 20, err, sizeof err), 0);
    assert_int_equal(gm.backing, GUEST_MEM_ANON);
    assert_int_equal(gm.memfd, -1);
    assert_int_equal((uintptr_t)gm.host % GUEST_MEM_HUGE_PAGE, 0);
    check_bounds(&gm, 64 << 20);
    assert_true(vm_flags(gm.host, flags, sizeof flags));
    assert_non_null(strstr(flags, " hg"));
    assert_non_null(strstr(flags, " wr"));
    assert_null(strstr(flags, " sh"));                 /* private */
    guest_mem_destroy(&gm);
    assert_null(gm.host);
}

/* shared=on: a memfd, the very memory the guest sees, so another
 * process can map it. */
static void backing_shared(void **state)
{
    (void)state;
    struct guest_mem gm;
    char err[256], flags[512];
    assert_int_equal(guest_mem_init_backed(&gm, 64 << 20, GUEST_MEM_SHARED, err, sizeof err), 0);
    assert_true(gm.memfd >= 0);
    assert_int_equal((uintptr_t)gm.host % GUEST_MEM_HUGE_PAGE, 0);
    check_bounds(&gm, 64 << 20);
    assert_int_equal(guest_mem_write(&gm, (32 << 20) + 5, "kvm", 3), 0);
    char back[3];
    assert_int_equal(pread(gm.memfd, back, 3, (32 << 20) + 5), 3);
    assert_memory_equal(back, "kvm", 3);
    assert_int_equal(lseek(gm.memfd, 0, SEEK_END), 64 << 20);
    assert_true(vm_flags(gm.host, flags, sizeof flags));
    assert_non_null(strstr(flags, " sh"));
    assert_non_null(strstr(flags, " hg"));
    guest_mem_destroy(&gm);
    assert_int_equal(gm.memfd, -1);
}

/* hugepages=on: a multiple of 2 MiB, checked before anything is made;
 * the backing itself where the host has free huge pages, else a refusal
 * that says what is missing. (Not cmocka's skip(): run-all.sh would count
 * its "not ok # SKIP" line as a failure.) */
static void backing_hugetlb(void **state)
{
    (void)state;
    struct guest_mem gm;
    char err[256];
    assert_int_equal(guest_mem_init_backed(&gm, (4 << 20) + 4096, GUEST_MEM_HUGETLB, err,
                                           sizeof err), -1);
    assert_non_null(strstr(err, "multiple of 2M"));
    assert_int_equal(gm.memfd, -1);
    if (guest_mem_init_backed(&gm, 4 << 20, GUEST_MEM_HUGETLB, err, sizeof err) < 0) {
        assert_non_null(strstr(err, "hugepages=on"));
        assert_int_equal(gm.memfd, -1);
        assert_null(gm.host);
        return;
    }
    assert_true(gm.memfd >= 0);
    check_bounds(&gm, 4 << 20);
    guest_mem_destroy(&gm);
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
    /* The high region is mapped right after the low one. */
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
        cmocka_unit_test(backing_anon),
        cmocka_unit_test(backing_shared),
        cmocka_unit_test(backing_hugetlb),
    };
    return cmocka_run_group_tests_name("guest_mem", tests, NULL, NULL);
}
