/* The device bus: registration rules, lookup, and what unclaimed accesses
 * return. */
#include "fake_host.h"

struct counter {
    unsigned reads, writes;
    uint64_t last_offset;
    unsigned last_len;
};

static void count_io(void *opaque, uint64_t offset, uint8_t *data, unsigned len, bool is_write)
{
    struct counter *c = opaque;
    c->last_offset = offset;
    c->last_len = len;
    if (is_write) {
        c->writes++;
    } else {
        c->reads++;
        memset(data, 0x5a, len);
    }
}

static void register_rules(void **state)
{
    (void)state;
    struct bus b;
    bus_init(&b, "test");
    struct counter c = { 0 };
    assert_int_equal(bus_register(&b, 0x100, 0x10, count_io, &c, "a"), 0);
    assert_int_equal(bus_register(&b, 0x108, 1, count_io, &c, "overlap"), -1);
    assert_int_equal(bus_register(&b, 0xf8, 0x9, count_io, &c, "overlap-low"), -1);
    assert_int_equal(bus_register(&b, 0xf0, 0x10, count_io, &c, "adjacent-low"), 0);
    assert_int_equal(bus_register(&b, 0x110, 0x10, count_io, &c, "adjacent-high"), 0);
    assert_int_equal(bus_register(&b, 0x200, 0, count_io, &c, "empty"), -1);
    assert_int_equal(bus_register(&b, UINT64_MAX, 2, count_io, &c, "wraps"), -1);
    assert_int_equal(bus_unregister(&b, 0x100), 0);
    assert_int_equal(bus_unregister(&b, 0x100), -1);
    assert_int_equal(bus_register(&b, 0x108, 1, count_io, &c, "now-free"), 0);
    bus_destroy(&b);
}

static void dispatch(void **state)
{
    (void)state;
    struct bus b;
    bus_init(&b, "test");
    struct counter c = { 0 };
    for (unsigned i = 0; i < 40; i++)   /* enough ranges to exercise the search */
        assert_int_equal(bus_register(&b, 0x1000 + i * 0x100, 0x10, count_io, &c, "r"), 0);
    uint8_t v[4] = { 0 };
    assert_true(bus_access(&b, 0x1a04, v, 4, false));
    assert_int_equal(c.reads, 1);
    assert_int_equal(c.last_offset, 4);
    assert_int_equal(c.last_len, 4);
    assert_int_equal(v[0], 0x5a);
    assert_true(bus_access(&b, 0x1000, v, 1, true));
    assert_int_equal(c.writes, 1);
    /* A read nobody claims is all-ones; so is one running past a range. */
    assert_false(bus_access(&b, 0x1a10, v, 1, false));
    assert_int_equal(v[0], 0xff);
    assert_false(bus_access(&b, 0x1a0e, v, 4, false));
    assert_memory_equal(v, "\xff\xff\xff\xff", 4);
    assert_int_equal(c.reads, 1);
    assert_int_equal(atomic_load(&b.unhandled), 2);
    bus_destroy(&b);
}

static void ignored_range(void **state)
{
    (void)state;
    struct bus b;
    bus_init(&b, "test");
    assert_int_equal(bus_register(&b, 0x80, 1, NULL, NULL, "sink"), 0);
    uint8_t v = 0;
    assert_true(bus_access(&b, 0x80, &v, 1, true));
    assert_true(bus_access(&b, 0x80, &v, 1, false));
    assert_int_equal(v, 0xff);
    assert_int_equal(atomic_load(&b.unhandled), 0);
    bus_destroy(&b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(register_rules),
        cmocka_unit_test(dispatch),
        cmocka_unit_test(ignored_range),
    };
    return cmocka_run_group_tests_name("bus", tests, NULL, NULL);
}
