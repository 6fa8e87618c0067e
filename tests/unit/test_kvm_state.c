/* x86 vCPU and VM state through the state stream (arch/x86/kvm_state.h).
 * The stream side needs no KVM: a hand-made state goes through write and
 * parse unchanged, and every truncation, a section for another vCPU, a
 * wrong version, wrong sizes and absurd counts are refused with a message.
 * Where /dev/kvm is usable, a VM with distinctive registers, MSRs, IOAPIC
 * and PIT state is saved and loaded into a second VM, and read back there
 * (without it that part passes with a note, as the other host-tier tests). */
#include "real_vm.h"
#include "arch/x86/kvm_state.h"
#include "core/state.h"

#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <unistd.h>
#include <cmocka.h>

#define MSR_IA32_TSC 0x10
#define MSR_MTRR_DEF_TYPE 0x2ff
#define MSR_STAR 0xc0000081
#define MSR_LSTAR 0xc0000082
#define MSR_KVM_SYSTEM_TIME_NEW 0x4b564d01

/* ---- the stream alone ---- */

static void sample_vcpu(struct vcpu_state *s, unsigned index)
{
    memset(s, 0, sizeof *s);
    s->index = index;
    s->tsc_khz = 2600000;
    s->ncpuid = 2;
    s->cpuid = calloc(2, sizeof *s->cpuid);
    s->cpuid[0] = (struct kvm_cpuid_entry2){ .function = 0, .eax = 0xd, .ebx = 0x756e6547 };
    s->cpuid[1] = (struct kvm_cpuid_entry2){ .function = 1, .eax = 0x806f8, .ecx = 0x80000000 };
    s->has_mp_state = true;
    s->mp_state.mp_state = KVM_MP_STATE_RUNNABLE;
    s->regs.rax = 0x1122334455667788ull;
    s->regs.rip = 0xfff0;
    s->regs.rflags = 2;
    s->sregs_kind = VCPU_SREGS2;
    s->sregs2.cr3 = 0x5000;
    s->sregs2.efer = 0x500;
    s->fpu_kind = VCPU_FPU_XSAVE;
    s->xsave_size = 4096;
    s->xsave = calloc(1, 4096);
    s->xsave[512] = 3;  /* XSTATE_BV: x87, SSE */
    s->has_xcrs = true;
    s->xcrs.nr_xcrs = 1;
    s->xcrs.xcrs[0].value = 7;
    s->lapic.regs[0x20 + 3] = 0;  /* APIC ID 0 */
    s->lapic.regs[0xf0] = 0xff;
    s->nmsrs = 3;
    s->msrs = calloc(3, sizeof *s->msrs);
    s->msrs[0] = (struct kvm_msr_entry){ .index = MSR_IA32_TSC, .data = 1ull << 40 };
    s->msrs[1] = (struct kvm_msr_entry){ .index = MSR_STAR, .data = 0x0023001000000000ull };
    s->msrs[2] = (struct kvm_msr_entry){ .index = 0x6e0, .data = 0 };
    s->has_events = true;
    s->events.flags = KVM_VCPUEVENT_VALID_SHADOW;
}

static void write_sample(struct state_writer *w, unsigned index)
{
    struct vcpu_state s;
    sample_vcpu(&s, index);
    state_writer_init(w);
    vcpu_state_write(w, &s);
    vcpu_state_free(&s);
    assert_false(w->failed);
}

static void same_vcpu(const struct vcpu_state *a, const struct vcpu_state *b)
{
    assert_int_equal(a->index, b->index);
    assert_int_equal(a->tsc_khz, b->tsc_khz);
    assert_int_equal(a->ncpuid, b->ncpuid);
    assert_memory_equal(a->cpuid, b->cpuid, a->ncpuid * sizeof *a->cpuid);
    assert_int_equal(a->has_mp_state, b->has_mp_state);
    assert_memory_equal(&a->regs, &b->regs, sizeof a->regs);
    assert_int_equal(a->sregs_kind, b->sregs_kind);
    assert_memory_equal(&a->sregs2, &b->sregs2, sizeof a->sregs2);
    assert_int_equal(a->xsave_size, b->xsave_size);
    assert_memory_equal(a->xsave, b->xsave, a->xsave_size);
    assert_memory_equal(&a->xcrs, &b->xcrs, sizeof a->xcrs);
    assert_int_equal(a->has_debugregs, b->has_debugregs);
    assert_memory_equal(&a->lapic, &b->lapic, sizeof a->lapic);
    assert_int_equal(a->nmsrs, b->nmsrs);
    assert_memory_equal(a->msrs, b->msrs, a->nmsrs * sizeof *a->msrs);
    assert_memory_equal(&a->events, &b->events, sizeof a->events);
}

static void stream_round_trip(void **state)
{
    (void)state;
    struct vcpu_state want, got;
    sample_vcpu(&want, 3);
    struct state_writer w;
    state_writer_init(&w);
    vcpu_state_write(&w, &want);
    struct vm_arch_state vm, vm2;
    memset(&vm, 0, sizeof vm);
    vm.ioapic.redirtbl[5].bits = 0x0001000000008035ull;
    vm.pic[1].irq_base = 0x70;
    vm.pit.channels[0].count = 0x1234;
    vm.clock.clock = 123456789;
    vm.realtime_ns = 42;
    vm_arch_state_write(&w, &vm);
    assert_false(w.failed);

    struct state_reader r;
    char err[256] = "";
    state_reader_init(&r, w.buf, w.len);
    assert_int_equal(vcpu_state_parse(&r, 3, &got, err, sizeof err), 0);
    same_vcpu(&want, &got);
    assert_int_equal(vm_arch_state_parse(&r, &vm2, err, sizeof err), 0);
    assert_memory_equal(&vm, &vm2, sizeof vm);
    assert_int_equal(r.pos, w.len);
    vcpu_state_free(&want);
    vcpu_state_free(&got);
    state_writer_free(&w);
}

/* Every proper prefix of a whole stream is refused with a message. */
static void truncated(void **state)
{
    (void)state;
    struct state_writer w;
    write_sample(&w, 0);
    struct vm_arch_state vm;
    memset(&vm, 0, sizeof vm);
    vm_arch_state_write(&w, &vm);
    for (size_t len = 0; len < w.len; len++) {
        struct state_reader r;
        struct vcpu_state s;
        struct vm_arch_state v;
        char err[256] = "";
        state_reader_init(&r, w.buf, len);
        int rc = vcpu_state_parse(&r, 0, &s, err, sizeof err);
        vcpu_state_free(&s);
        if (rc == 0)
            rc = vm_arch_state_parse(&r, &v, err, sizeof err);
        assert_int_equal(rc, -1);
        assert_true(err[0] != 0);
    }
    state_writer_free(&w);
}

static void expect_refused(const void *buf, size_t len, unsigned index, const char *needle)
{
    struct state_reader r;
    struct vcpu_state s;
    char err[256] = "";
    state_reader_init(&r, buf, len);
    assert_int_equal(vcpu_state_parse(&r, index, &s, err, sizeof err), -1);
    vcpu_state_free(&s);
    if (!strstr(err, needle))
        fail_msg("'%s' does not say '%s'", err, needle);
}

static void wrong_index_and_version(void **state)
{
    (void)state;
    struct state_writer w;
    write_sample(&w, 0);
    expect_refused(w.buf, w.len, 1, "vCPU 0's");
    state_writer_free(&w);

    state_writer_init(&w);
    state_begin(&w, "vcpu", 2);
    state_put_u32(&w, 0);
    state_end(&w);
    expect_refused(w.buf, w.len, 0, "version 2");
    state_writer_free(&w);

    state_writer_init(&w);
    state_begin(&w, "pit", 1);
    state_end(&w);
    expect_refused(w.buf, w.len, 0, "section 'vcpu'");
    state_writer_free(&w);
}

/* A "vcpu" section written by hand up to the item under test. */
static void head(struct state_writer *w, uint32_t ncpuid)
{
    state_writer_init(w);
    state_begin(w, "vcpu", 1);
    state_put_u32(w, 0);       /* index */
    state_put_u32(w, 0);       /* tsc_khz */
    state_put_u32(w, ncpuid);
}

static void put_zeros(struct state_writer *w, uint32_t n)
{
    void *z = calloc(1, n);
    state_put_u32(w, n);
    state_put_bytes(w, z, n);
    free(z);
}

/* Up to the MSR count: no MP state, regs, sregs, legacy FPU, no XCRs or
 * debug registers, LAPIC. */
static void middle(struct state_writer *w)
{
    state_put_u32(w, 0);
    put_zeros(w, sizeof(struct kvm_regs));
    state_put_u8(w, VCPU_SREGS);
    put_zeros(w, sizeof(struct kvm_sregs));
    state_put_u8(w, VCPU_FPU_LEGACY);
    put_zeros(w, sizeof(struct kvm_fpu));
    state_put_u32(w, 0);
    state_put_u32(w, 0);
    put_zeros(w, sizeof(struct kvm_lapic_state));
}

static void absurd_counts_and_sizes(void **state)
{
    (void)state;
    struct state_writer w;

    head(&w, 0x80000000u);
    state_end(&w);
    expect_refused(w.buf, w.len, 0, "CPUID entries: count 2147483648");
    state_writer_free(&w);

    head(&w, 200);  /* within the bound, but the section holds none */
    state_end(&w);
    expect_refused(w.buf, w.len, 0, "more than the section holds");
    state_writer_free(&w);

    head(&w, 0);
    middle(&w);
    state_put_u32(&w, 0x80000000u);
    state_end(&w);
    expect_refused(w.buf, w.len, 0, "MSRs: count 2147483648");
    state_writer_free(&w);

    head(&w, 0);
    middle(&w);
    state_put_u32(&w, 0xffffffffu);
    for (int i = 0; i < 8; i++)
        state_put_u64(&w, 0);
    state_end(&w);
    expect_refused(w.buf, w.len, 0, "MSRs: count 4294967295");
    state_writer_free(&w);

    /* regs of another size */
    head(&w, 0);
    state_put_u32(&w, 0);
    put_zeros(&w, 100);
    state_end(&w);
    expect_refused(w.buf, w.len, 0, "regs: saved as 100 bytes");
    state_writer_free(&w);

    /* an XSAVE area of 2^31 bytes */
    head(&w, 0);
    state_put_u32(&w, 0);
    put_zeros(&w, sizeof(struct kvm_regs));
    state_put_u8(&w, VCPU_SREGS);
    put_zeros(&w, sizeof(struct kvm_sregs));
    state_put_u8(&w, VCPU_FPU_XSAVE);
    state_put_u32(&w, 0x80000000u);
    state_end(&w);
    expect_refused(w.buf, w.len, 0, "XSAVE bytes: count 2147483648");
    state_writer_free(&w);

    /* an unknown sregs kind */
    head(&w, 0);
    state_put_u32(&w, 0);
    put_zeros(&w, sizeof(struct kvm_regs));
    state_put_u8(&w, 9);
    state_end(&w);
    expect_refused(w.buf, w.len, 0, "sregs: unknown kind");
    state_writer_free(&w);

    /* a byte more than this build reads */
    struct vcpu_state s;
    sample_vcpu(&s, 0);
    state_writer_init(&w);
    vcpu_state_write(&w, &s);
    vcpu_state_free(&s);
    /* grow the section's payload length by one and append a byte */
    uint8_t extra = 0;
    state_put_bytes(&w, &extra, 1);
    size_t len_at = 2 + 4 + 4;  /* u16 name length, "vcpu", u32 version */
    uint32_t payload;
    memcpy(&payload, w.buf + len_at, 4);
    payload++;
    memcpy(w.buf + len_at, &payload, 4);
    expect_refused(w.buf, w.len, 0, "bytes this build does not read");
    state_writer_free(&w);
}

/* ---- on a real VM ---- */

#define RIG_MEM (1u << 20)

struct rig {
    int kvm, vm, vcpu;
    void *mem;
};

static void rig_open(struct rig *g, bool set_cpuid)
{
    g->kvm = open("/dev/kvm", O_RDWR | O_CLOEXEC);
    assert_true(g->kvm >= 0);
    g->vm = ioctl(g->kvm, KVM_CREATE_VM, 0);
    assert_true(g->vm >= 0);
    g->mem = mmap(NULL, RIG_MEM, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    assert_true(g->mem != MAP_FAILED);
    struct kvm_userspace_memory_region slot = {
        .memory_size = RIG_MEM, .userspace_addr = (uintptr_t)g->mem,
    };
    assert_int_equal(ioctl(g->vm, KVM_SET_USER_MEMORY_REGION, &slot), 0);
    assert_int_equal(ioctl(g->vm, KVM_CREATE_IRQCHIP, 0), 0);
    struct kvm_pit_config pit = { .flags = KVM_PIT_SPEAKER_DUMMY };
    assert_int_equal(ioctl(g->vm, KVM_CREATE_PIT2, &pit), 0);
    g->vcpu = ioctl(g->vm, KVM_CREATE_VCPU, 0);
    assert_true(g->vcpu >= 0);
    if (set_cpuid) {
        struct kvm_cpuid2 *c = calloc(1, sizeof *c + 256 * sizeof c->entries[0]);
        c->nent = 256;
        assert_int_equal(ioctl(g->kvm, KVM_GET_SUPPORTED_CPUID, c), 0);
        assert_int_equal(ioctl(g->vcpu, KVM_SET_CPUID2, c), 0);
        free(c);
    }
}

static void rig_close(struct rig *g)
{
    close(g->vcpu);
    close(g->vm);
    close(g->kvm);
    munmap(g->mem, RIG_MEM);
}

static void set_msr(int fd, uint32_t index, uint64_t v)
{
    struct {
        struct kvm_msrs h;
        struct kvm_msr_entry e;
    } m = { .h.nmsrs = 1, .e = { .index = index, .data = v } };
    assert_int_equal(ioctl(fd, KVM_SET_MSRS, &m), 1);
}

static uint64_t get_msr(int fd, uint32_t index)
{
    struct {
        struct kvm_msrs h;
        struct kvm_msr_entry e;
    } m = { .h.nmsrs = 1, .e = { .index = index } };
    assert_int_equal(ioctl(fd, KVM_GET_MSRS, &m), 1);
    return m.e.data;
}

#define TSC_SET (1ull << 42)
#define RAX 0x1122334455667788ull
#define RIP 0x1234ull
#define CR2 0xdead0000ull
#define CR3 0x7000ull
#define STAR 0x0023001000000000ull
#define LSTAR 0xffffffff81000000ull
#define KVMCLOCK (0x3000ull | 1)
#define MTRR_DEF 0xc06ull
#define REDIR 0x0000000000010035ull  /* masked, vector 0x35 */
#define PIT_COUNT 0x1234

static void distinctive(struct rig *g)
{
    struct kvm_regs regs;
    assert_int_equal(ioctl(g->vcpu, KVM_GET_REGS, &regs), 0);
    regs.rax = RAX;
    regs.rip = RIP;
    assert_int_equal(ioctl(g->vcpu, KVM_SET_REGS, &regs), 0);
    struct kvm_sregs sregs;
    assert_int_equal(ioctl(g->vcpu, KVM_GET_SREGS, &sregs), 0);
    sregs.cr2 = CR2;
    sregs.cr3 = CR3;
    assert_int_equal(ioctl(g->vcpu, KVM_SET_SREGS, &sregs), 0);
    set_msr(g->vcpu, MSR_STAR, STAR);
    set_msr(g->vcpu, MSR_LSTAR, LSTAR);
    set_msr(g->vcpu, MSR_IA32_TSC, TSC_SET);
    set_msr(g->vcpu, MSR_KVM_SYSTEM_TIME_NEW, KVMCLOCK);
    set_msr(g->vcpu, MSR_MTRR_DEF_TYPE, MTRR_DEF);

    struct kvm_irqchip chip = { .chip_id = KVM_IRQCHIP_IOAPIC };
    assert_int_equal(ioctl(g->vm, KVM_GET_IRQCHIP, &chip), 0);
    chip.chip.ioapic.redirtbl[5].bits = REDIR;
    assert_int_equal(ioctl(g->vm, KVM_SET_IRQCHIP, &chip), 0);
    struct kvm_pit_state2 pit;
    assert_int_equal(ioctl(g->vm, KVM_GET_PIT2, &pit), 0);
    pit.channels[0].count = PIT_COUNT;
    pit.channels[0].mode = 2;
    assert_int_equal(ioctl(g->vm, KVM_SET_PIT2, &pit), 0);
}

static void save_and_load(void **state)
{
    (void)state;
    if (!have_kvm()) {
        print_message("no usable /dev/kvm: save and load on a real VM not tested here\n");
        return;
    }
    struct rig a, b;
    rig_open(&a, true);
    distinctive(&a);
    struct kvm_clock_data clock_a;
    /* Where the TSC was just before the save (PVM takes host writes of the
     * TSC but ignores them, so not necessarily TSC_SET). */
    uint64_t tsc_a = get_msr(a.vcpu, MSR_IA32_TSC);
    struct state_writer w;
    state_writer_init(&w);
    char err[256] = "";
    if (vm_arch_state_save(a.vm, &w, err, sizeof err) < 0 ||
        vcpu_state_save(a.kvm, a.vcpu, 0, &w, err, sizeof err) < 0)
        fail_msg("save: %s", err);
    assert_int_equal(ioctl(a.vm, KVM_GET_CLOCK, &clock_a), 0);
    rig_close(&a);

    /* The second VM's vCPU gets its CPUID from the stream. */
    rig_open(&b, false);
    struct state_reader r;
    state_reader_init(&r, w.buf, w.len);
    if (vm_arch_state_load(b.vm, &r, err, sizeof err) < 0 ||
        vcpu_state_load(b.kvm, b.vcpu, 0, &r, err, sizeof err) < 0)
        fail_msg("load: %s", err);
    assert_int_equal(r.pos, w.len);
    assert_int_equal(vcpu_state_sync_tsc(&b.vcpu, 1, err, sizeof err), 0);

    struct kvm_regs regs;
    assert_int_equal(ioctl(b.vcpu, KVM_GET_REGS, &regs), 0);
    assert_int_equal(regs.rax, RAX);
    assert_int_equal(regs.rip, RIP);
    struct kvm_sregs sregs;
    assert_int_equal(ioctl(b.vcpu, KVM_GET_SREGS, &sregs), 0);
    assert_int_equal(sregs.cr2, CR2);
    assert_int_equal(sregs.cr3, CR3);
    assert_int_equal(get_msr(b.vcpu, MSR_STAR), STAR);
    assert_int_equal(get_msr(b.vcpu, MSR_LSTAR), LSTAR);
    assert_int_equal(get_msr(b.vcpu, MSR_KVM_SYSTEM_TIME_NEW), KVMCLOCK);
    assert_int_equal(get_msr(b.vcpu, MSR_MTRR_DEF_TYPE), MTRR_DEF);
    /* The TSC goes on from where it was, never back. */
    uint64_t tsc = get_msr(b.vcpu, MSR_IA32_TSC);
    assert_true(tsc >= tsc_a);
    struct kvm_cpuid2 *c = calloc(1, sizeof *c + 256 * sizeof c->entries[0]);
    c->nent = 256;
    assert_int_equal(ioctl(b.vcpu, KVM_GET_CPUID2, c), 0);
    assert_true(c->nent > 0);
    free(c);

    struct kvm_irqchip chip = { .chip_id = KVM_IRQCHIP_IOAPIC };
    assert_int_equal(ioctl(b.vm, KVM_GET_IRQCHIP, &chip), 0);
    assert_int_equal(chip.chip.ioapic.redirtbl[5].bits, REDIR);
    struct kvm_pit_state2 pit;
    assert_int_equal(ioctl(b.vm, KVM_GET_PIT2, &pit), 0);
    assert_int_equal(pit.channels[0].count, PIT_COUNT);
    assert_int_equal(pit.channels[0].mode, 2);
    /* kvmclock moved on, never back. */
    struct kvm_clock_data clock_b;
    assert_int_equal(ioctl(b.vm, KVM_GET_CLOCK, &clock_b), 0);
    assert_true(clock_b.clock >= clock_a.clock);
    rig_close(&b);
    state_writer_free(&w);
}

/* A stream for vCPU 1 is refused by vCPU 0's load before any ioctl. */
static void load_refuses_other_vcpu(void **state)
{
    (void)state;
    if (!have_kvm()) {
        print_message("no usable /dev/kvm: not tested here\n");
        return;
    }
    struct rig a;
    rig_open(&a, true);
    struct state_writer w;
    state_writer_init(&w);
    char err[256] = "";
    assert_int_equal(vcpu_state_save(a.kvm, a.vcpu, 1, &w, err, sizeof err), 0);
    struct state_reader r;
    state_reader_init(&r, w.buf, w.len);
    assert_int_equal(vcpu_state_load(a.kvm, a.vcpu, 0, &r, err, sizeof err), -1);
    assert_non_null(strstr(err, "vCPU 1's"));
    state_reader_init(&r, w.buf, w.len / 2);
    assert_int_equal(vcpu_state_load(a.kvm, a.vcpu, 1, &r, err, sizeof err), -1);
    assert_true(err[0] != 0);
    rig_close(&a);
    state_writer_free(&w);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(stream_round_trip),
        cmocka_unit_test(truncated),
        cmocka_unit_test(wrong_index_and_version),
        cmocka_unit_test(absurd_counts_and_sizes),
        cmocka_unit_test(save_and_load),
        cmocka_unit_test(load_refuses_other_vcpu),
    };
    return cmocka_run_group_tests_name("kvm_state", tests, NULL, NULL);
}
