/* Dirty page tracking for live migration: the VMM's own record (marks by
 * address, host pointer and iovec; nothing while off; a take clears), a
 * virtqueue push marking the used ring and a chain's written buffers,
 * and on a real VM, KVM's log seeing the guest's own writes (a counting
 * guest's page) and nothing while it is paused; with manual protection
 * (KVM_CLEAR_DIRTY_LOG, with and without KVM_DIRTY_LOG_INITIALLY_SET)
 * and without it, a guest rewriting pages has every page it changed
 * after a take in the next take, and a copy kept up to date from the
 * takes, as a migration's, ends equal to its memory. */
#include "fake_host.h"
#include "real_vm.h"

#include "core/guest_mem.h"
#include "devices/virtio/virtqueue.h"
#include "vmm/dirty_log.h"
#include "vmm/vm.h"
#include "vmm/vmm.h"

#include <fcntl.h>
#include <linux/kvm.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/ioctl.h>
#include <sys/uio.h>
#include <unistd.h>

static bool bit(const uint64_t *bits, uint64_t page)
{
    return bits[page / 64] >> (page % 64) & 1;
}

static unsigned count(const uint64_t *bits, size_t words)
{
    unsigned n = 0;
    for (size_t i = 0; i < words; i++)
        n += (unsigned)__builtin_popcountll(bits[i]);
    return n;
}

static void vmm_record(void **state)
{
    (void)state;
    struct guest_mem m;
    char err[128];
    assert_int_equal(guest_mem_init(&m, 16u << 20, err, sizeof err), 0);
    size_t words = GUEST_MEM_DIRTY_WORDS(&m);
    uint64_t *bits = calloc(words, sizeof *bits);
    /* Off: writes leave no mark. */
    assert_int_equal(guest_mem_write(&m, 0x5000, "x", 1), 0);
    guest_mem_dirty_take(&m, bits);
    assert_int_equal(count(bits, words), 0);
    assert_int_equal(guest_mem_dirty_start(&m), 0);
    assert_int_equal(guest_mem_write(&m, 0x5000, "x", 1), 0);
    assert_int_equal(guest_mem_fill(&m, 0x7ffe, 0, 4), 0);           /* across a page line */
    struct iovec iov[2] = { { m.host + 0x10000, 1 }, { m.host + 0x20000, 8192 } };
    guest_mem_dirty_iov(&m, iov, 2);
    guest_mem_dirty_mark(&m, m.ram_size - 1, 100);                    /* clipped at the end */
    guest_mem_dirty_take(&m, bits);
    assert_true(bit(bits, 5) && bit(bits, 7) && bit(bits, 8) && bit(bits, 0x10) &&
                bit(bits, 0x20) && bit(bits, 0x21) && bit(bits, m.ram_size / 4096 - 1));
    assert_int_equal(count(bits, words), 7);
    /* A take clears the record. */
    memset(bits, 0, words * sizeof *bits);
    guest_mem_dirty_take(&m, bits);
    assert_int_equal(count(bits, words), 0);
    guest_mem_dirty_stop(&m);
    guest_mem_dirty_mark(&m, 0, 4096);
    guest_mem_dirty_take(&m, bits);
    assert_int_equal(count(bits, words), 0);
    free(bits);
    guest_mem_destroy(&m);
}

/* A device's completion marks the used ring and the buffers it wrote. */
static void virtqueue_marks(void **state)
{
    (void)state;
    struct fake_host f;
    fake_host_init(&f, 1 << 20);
    struct virtq q;
    virtq_reset(&q, 8);
    q.desc_gpa = 0x1000;
    q.avail_gpa = 0x2000;
    q.used_gpa = 0x3000;
    q.ready = true;
    assert_int_equal(virtq_start(&q, &f.mem, false, false), 0);
    /* One writable buffer at 0x8000, made available. */
    uint8_t *d = f.mem.host + 0x1000;
    uint64_t addr = 0x8000;
    uint32_t len = 64;
    uint16_t flags = 2;   /* VRING_DESC_F_WRITE */
    memcpy(d, &addr, 8);
    memcpy(d + 8, &len, 4);
    memcpy(d + 12, &flags, 2);
    uint16_t one = 1, zero = 0;
    memcpy(f.mem.host + 0x2000 + 4, &zero, 2);
    memcpy(f.mem.host + 0x2000 + 2, &one, 2);
    assert_int_equal(guest_mem_dirty_start(&f.mem), 0);
    struct virtq_chain c;
    assert_int_equal(virtq_pop(&q, &c), 1);
    virtq_chain_write(&c, 0, "data", 4);
    virtq_chain_written(&q, &c);
    virtq_push(&q, c.head, 4);
    uint64_t bits[GUEST_MEM_DIRTY_WORDS(&f.mem)];
    memset(bits, 0, sizeof bits);
    guest_mem_dirty_take(&f.mem, bits);
    assert_true(bit(bits, 0x8) && bit(bits, 0x3));
    assert_false(bit(bits, 0x1) || bit(bits, 0x2));   /* the driver's own, unchanged */
    fake_host_destroy(&f);
}

/* The counting guest writes one page again and again: KVM's log has it
 * while it runs, and nothing new while it is paused. */
static void kvm_log_of_a_running_guest(void **state)
{
    (void)state;
    if (!have_kvm()) {
        print_message("no usable /dev/kvm: KVM's dirty log not tested here\n");
        return;
    }
    static struct vm_config cfg;
    static char kernel[512];
    test_guest_config(&cfg, kernel, sizeof kernel, "count", 1, 64ull << 20);
    struct vmm m;
    char err[512];
    assert_int_equal(test_vmm_init(&m, &cfg), 0);
    assert_int_equal(vmm_vm_create(&m, &cfg, NULL, err, sizeof err), VMM_OK);
    assert_int_equal(vmm_vm_boot(&m, err, sizeof err), VMM_OK);
    struct vm *vm = m.vm;
    size_t words = GUEST_MEM_DIRTY_WORDS(&vm->mem);
    uint64_t *bits = calloc(words, sizeof *bits);
    assert_int_equal(dirty_log_start(vm, err, sizeof err), 0);
    unsigned seen = 0;
    for (int i = 0; i < 100 && !seen; i++) {
        usleep(20000);
        assert_int_equal(dirty_log_take(vm, bits, err, sizeof err), 0);
        seen = count(bits, words);
    }
    assert_true(seen > 0);
    assert_int_equal(vm_pause(vm, err, sizeof err), 0);
    memset(bits, 0, words * sizeof *bits);
    assert_int_equal(dirty_log_take(vm, bits, err, sizeof err), 0);   /* what came before the pause */
    memset(bits, 0, words * sizeof *bits);
    usleep(50000);
    assert_int_equal(dirty_log_take(vm, bits, err, sizeof err), 0);
    assert_int_equal(count(bits, words), 0);
    dirty_log_stop(vm);
    free(bits);
    assert_int_equal(vmm_vm_shutdown(&m, err, sizeof err), VMM_OK);
    test_vmm_fini(&m);
}

/* A booted VM whose guest rewrites 512 pages (the pattern at 16 MiB,
 * round after round, each ~0.1 s on a PVM host) and then counts; its code
 * and stack are in the first 16 MiB, so writes land in two of
 * KVM_CLEAR_DIRTY_LOG's chunks. Set up and torn down around each test
 * (NULL without KVM), so that a failed test leaves no VM running. */
struct writer {
    struct vm_config cfg;
    char kernel[512];
    struct vmm m;
};

static int writer_fini(void **state);

static int writer_boot(void **state)
{
    char err[512];
    *state = NULL;
    if (!have_kvm())
        return 0;
    struct writer *w = calloc(1, sizeof *w);
    if (!w)
        return -1;
    test_guest_config(&w->cfg, w->kernel, sizeof w->kernel, "pattern_mib=2 rounds=100000 count", 1,
                      64ull << 20);
    if (test_vmm_init(&w->m, &w->cfg) < 0) {
        free(w);
        return -1;
    }
    *state = w;
    if (vmm_vm_create(&w->m, &w->cfg, NULL, err, sizeof err) != VMM_OK ||
        vmm_vm_boot(&w->m, err, sizeof err) != VMM_OK) {
        print_error("%s\n", err);
        writer_fini(state);
        return -1;
    }
    return 0;
}

static int writer_fini(void **state)
{
    struct writer *w = *state;
    char err[512];
    if (!w)
        return 0;
    if (w->m.vm)
        dirty_log_stop(w->m.vm);
    int r = vmm_vm_shutdown(&w->m, err, sizeof err) == VMM_OK ? 0 : -1;
    test_vmm_fini(&w->m);
    free(w);
    return r;
}

/* Marks in d the pages of memory that differ from copy; how many. */
static unsigned differing(const struct vm *vm, const uint8_t *copy, uint64_t *d, size_t words)
{
    memset(d, 0, words * sizeof *d);
    unsigned n = 0;
    for (uint64_t p = 0; p < vm->mem.ram_size / 4096; p++) {
        if (memcmp(vm->mem.host + p * 4096, copy + p * 4096, 4096)) {
            d[p / 64] |= 1ULL << (p % 64);
            n++;
        }
    }
    return n;
}

/* Copies the pages set in bits, as a migration's sender sends them. */
static void copy_pages(const struct vm *vm, uint8_t *copy, const uint64_t *bits)
{
    for (uint64_t p = 0; p < vm->mem.ram_size / 4096; p++)
        if (bit(bits, p))
            memcpy(copy + p * 4096, vm->mem.host + p * 4096, 4096);
}

/* A migration's precopy without the wire: a copy of all memory after the
 * start, then three takes, each followed by copying what it named. Every
 * page that differs from the copy before a take (so the guest wrote it
 * after the previous take cleared it) must be in that take; and with the
 * VM paused, a last take brings the copy level with memory. The VM runs
 * again at the end, and logging is off. */
static void precopy_misses_nothing(struct vm *vm)
{
    char err[512];
    size_t words = GUEST_MEM_DIRTY_WORDS(&vm->mem);
    uint64_t *bits = calloc(words, sizeof *bits), *d = calloc(words, sizeof *d);
    uint8_t *copy = malloc(vm->mem.ram_size);
    assert_non_null(bits);
    assert_non_null(d);
    assert_non_null(copy);
    assert_int_equal(dirty_log_start(vm, err, sizeof err), 0);
    memcpy(copy, vm->mem.host, vm->mem.ram_size);
    for (int take = 0; take < 3; take++) {
        /* Until the guest has written something since the copy. */
        unsigned changed = 0;
        for (int i = 0; i < 1000 && !changed; i++) {
            usleep(10000);
            changed = differing(vm, copy, d, words);
        }
        assert_true(changed > 0);
        memset(bits, 0, words * sizeof *bits);
        assert_int_equal(dirty_log_take(vm, bits, err, sizeof err), 0);
        /* Only what was written: the guest writes some 530 of the 16384
         * pages (KVM_DIRTY_LOG_INITIALLY_SET's bits are cleared at the
         * start). */
        assert_true(count(bits, words) < vm->mem.ram_size / 4096 / 2);
        for (uint64_t p = 0; p < vm->mem.ram_size / 4096; p++) {
            if (bit(d, p) && !bit(bits, p))
                fail_msg("take %d: page %#llx changed after the last take but is not in this one",
                         take, (unsigned long long)p);
        }
        copy_pages(vm, copy, bits);
    }
    assert_int_equal(vm_pause(vm, err, sizeof err), 0);
    memset(bits, 0, words * sizeof *bits);
    assert_int_equal(dirty_log_take(vm, bits, err, sizeof err), 0);
    copy_pages(vm, copy, bits);
    assert_int_equal(differing(vm, copy, d, words), 0);
    /* The take cleared what it read: paused, nothing more. */
    memset(bits, 0, words * sizeof *bits);
    assert_int_equal(dirty_log_take(vm, bits, err, sizeof err), 0);
    assert_int_equal(count(bits, words), 0);
    dirty_log_stop(vm);
    assert_int_equal(vm_resume(vm, err, sizeof err), 0);
    free(copy);
    free(d);
    free(bits);
}

static uint64_t kvm_offers_manual(const struct vm *vm)
{
    int r = ioctl(vm->vm_fd, KVM_CHECK_EXTENSION, KVM_CAP_MANUAL_DIRTY_LOG_PROTECT2);
    return r > 0 ? (uint64_t)r : 0;
}

/* Manual protection as KVM offers it (here, with INITIALLY_SET), then,
 * on the same VM, a second start (a migration after a failed one)
 * without INITIALLY_SET. */
static void manual_protect(void **state)
{
    struct writer *w = *state;
    if (!w) {
        print_message("no usable /dev/kvm: manual protection not tested here\n");
        return;
    }
    struct vm *vm = w->m.vm;
    uint64_t offered = kvm_offers_manual(vm);
    if (!(offered & KVM_DIRTY_LOG_MANUAL_PROTECT_ENABLE))
        print_message("KVM offers no manual dirty-log protection: the fallback only\n");
    precopy_misses_nothing(vm);
    assert_int_equal(vm->dirty_log.manual,
                     offered & KVM_DIRTY_LOG_MANUAL_PROTECT_ENABLE
                         ? offered & (KVM_DIRTY_LOG_MANUAL_PROTECT_ENABLE |
                                      KVM_DIRTY_LOG_INITIALLY_SET)
                         : 0);
    vm->dirty_log.refuse = KVM_DIRTY_LOG_INITIALLY_SET;
    precopy_misses_nothing(vm);
    assert_int_equal(vm->dirty_log.manual, offered & KVM_DIRTY_LOG_MANUAL_PROTECT_ENABLE);
}

/* Without manual protection (forced: KVM here may offer it), then on the
 * same VM with it, then without again: the capability goes off, on and
 * off, as a VM's migrations may need. */
static void fallback(void **state)
{
    struct writer *w = *state;
    if (!w) {
        print_message("no usable /dev/kvm: the dirty log's fallback not tested here\n");
        return;
    }
    struct vm *vm = w->m.vm;
    uint64_t offered = kvm_offers_manual(vm) & KVM_DIRTY_LOG_MANUAL_PROTECT_ENABLE;
    for (int i = 0; i < 3; i++) {
        vm->dirty_log.refuse = i == 1 ? 0 : ~0ull;
        precopy_misses_nothing(vm);
        assert_int_equal(vm->dirty_log.manual & KVM_DIRTY_LOG_MANUAL_PROTECT_ENABLE,
                         i == 1 ? offered : 0);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(vmm_record),
        cmocka_unit_test(virtqueue_marks),
        cmocka_unit_test(kvm_log_of_a_running_guest),
        cmocka_unit_test_setup_teardown(manual_protect, writer_boot, writer_fini),
        cmocka_unit_test_setup_teardown(fallback, writer_boot, writer_fini),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
