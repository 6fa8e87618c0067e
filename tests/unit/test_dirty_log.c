/* Dirty page tracking for live migration: the VMM's own record (marks by
 * address, host pointer and iovec; nothing while off; a take clears), a
 * virtqueue push marking the used ring and a chain's written buffers,
 * and on a real VM, KVM's log seeing the guest's own writes (a counting
 * guest's page) and nothing while it is paused. */
#include "fake_host.h"
#include "real_vm.h"

#include "core/guest_mem.h"
#include "devices/virtio/virtqueue.h"
#include "vmm/dirty_log.h"
#include "vmm/vm.h"
#include "vmm/vmm.h"

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
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

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(vmm_record),
        cmocka_unit_test(virtqueue_marks),
        cmocka_unit_test(kvm_log_of_a_running_guest),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
