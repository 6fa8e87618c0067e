/* The migration digest kept chunk by chunk (migration/mem_digest.h) and
 * what it knows without reading (core/mem_scan.h): the incremental digest
 * always equals the one computed at once, untouched memory is taken as
 * zero without being read, and the backings each say what they can. */
#include "core/guest_mem.h"
#include "core/mem_scan.h"
#include "migration/mem_digest.h"

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define MIB (1ULL << 20)
#define PAGE 4096u

static void fill(struct guest_mem *m, uint64_t off, uint64_t len, uint8_t seed)
{
    for (uint64_t i = 0; i < len; i++)
        m->host[off + i] = (uint8_t)(seed + i * 7 + (i >> 12));
}

/* Hashed at several points while memory changes, each change marked: the
 * final digest is the one-shot digest of the final memory. */
static void incremental_equals_all_at_once(void **state)
{
    (void)state;
    char err[256];
    struct guest_mem m;
    assert_int_equal(guest_mem_init(&m, 32 * MIB, err, sizeof err), 0);
    struct mem_digest d;
    assert_int_equal(mem_digest_init(&d, &m), 0);
    assert_int_equal(d.nchunks, 32 * MIB / MEM_DIGEST_CHUNK);
    fill(&m, 0, 3 * MIB, 1);
    mem_digest_update(&d, &m, 0, d.nchunks, NULL);
    /* A write marked by page bitmap (as the dirty log gives it)... */
    size_t words = 32 * MIB / PAGE / 64;
    uint64_t *pages = calloc(words, sizeof *pages);
    fill(&m, 5 * MIB + 3 * PAGE, PAGE, 2);
    pages[(5 * MIB + 3 * PAGE) / PAGE / 64] |= 1ULL << ((5 * MIB + 3 * PAGE) / PAGE % 64);
    mem_digest_mark_pages(&d, pages);
    /* ... left alone while busy, then hashed in the final. */
    mem_digest_update(&d, &m, 0, d.nchunks, pages);
    /* ...and one marked by range (as a receiver applies pages). */
    fill(&m, 17 * MIB - 10, 20, 3);
    mem_digest_mark(&d, 17 * MIB - 10, 20);
    uint8_t inc[16], all[16];
    mem_digest_final(&d, &m, inc);
    assert_int_equal(mem_digest_all(&m, all), 0);
    assert_memory_equal(inc, all, 16);
    /* A change that was never marked is not seen: marking is the caller's
     * contract (the dirty log's or the applied pages'). */
    m.host[9 * MIB] ^= 1;
    mem_digest_final(&d, &m, inc);
    assert_memory_not_equal(inc, (mem_digest_all(&m, all), all), 16);
    free(pages);
    mem_digest_destroy(&d);
    guest_mem_destroy(&m);
}

/* Untouched anonymous pages are known zero; a page written (even with
 * zeros) may hold data; the digest of untouched memory is that of zeros
 * read for real. */
static void untouched_memory_is_zero_unread(void **state)
{
    (void)state;
    char err[256];
    struct guest_mem m, touched;
    assert_int_equal(guest_mem_init(&m, 8 * MIB, err, sizeof err), 0);
    assert_int_equal(guest_mem_init(&touched, 8 * MIB, err, sizeof err), 0);
    memset(touched.host, 0, 8 * MIB);        /* every page present, all zero */
    struct mem_scan s;
    mem_scan_open(&s, &m);
    if (s.pagemap_fd < 0) {
        mem_scan_close(&s);
        skip();
    }
    assert_false(mem_scan_range_may_hold_data(&s, 0, 8 * MIB));
    m.host[3 * MIB + 5] = 0;                 /* a write of zero still touches */
    assert_true(mem_scan_page_may_hold_data(&s, 3 * MIB));
    assert_true(mem_scan_range_may_hold_data(&s, 2 * MIB, 2 * MIB));
    assert_false(mem_scan_range_may_hold_data(&s, 4 * MIB, 4 * MIB));
    mem_scan_close(&s);
    uint8_t a[16], b[16];
    mem_digest_all(&m, a);
    mem_digest_all(&touched, b);
    assert_memory_equal(a, b, 16);
    guest_mem_destroy(&m);
    guest_mem_destroy(&touched);
}

/* A memfd says by its holes: only the extent written may hold data. */
static void memfd_holes(void **state)
{
    (void)state;
    char err[256];
    struct guest_mem m;
    assert_int_equal(guest_mem_init_backed(&m, 8 * MIB, GUEST_MEM_SHARED, err, sizeof err), 0);
    fill(&m, 6 * MIB, PAGE, 9);
    struct mem_scan s;
    mem_scan_open(&s, &m);
    uint64_t start, end;
    assert_int_equal(mem_scan_next_stretch(&s, 0, &start, &end), 0);
    assert_true(start <= 6 * MIB && end >= 6 * MIB + PAGE);
    assert_true(mem_scan_range_may_hold_data(&s, 6 * MIB, PAGE));
    assert_false(mem_scan_range_may_hold_data(&s, 0, 2 * MIB));
    mem_scan_close(&s);
    uint8_t a[16], b[16];
    mem_digest_all(&m, a);
    m.host[6 * MIB] ^= 0xff;
    mem_digest_all(&m, b);
    assert_memory_not_equal(a, b, 16);
    guest_mem_destroy(&m);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(incremental_equals_all_at_once),
        cmocka_unit_test(untouched_memory_is_zero_unread),
        cmocka_unit_test(memfd_holes),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
