/* An x86 VM's KVM-held state to and from the state stream (core/state.h):
 * each vCPU's architectural state (section "vcpu") and the VM-wide
 * in-kernel devices and clock (sections "irqchip", "pit", "clock").
 *
 * Loading is two steps: parse reads a whole section into a struct and
 * validates every count and size against this build's limits without
 * touching KVM (the stream is untrusted: the fuzz target calls the parse
 * step alone); apply hands the struct to KVM in the order KVM requires.
 * The fixed-size KVM structures travel as their x86-64 ABI bytes (which are
 * little-endian), each behind its size, so that a stream from a build with
 * other sizes is refused by name rather than misread. */
#ifndef KVMBOX_ARCH_X86_KVM_STATE_H
#define KVMBOX_ARCH_X86_KVM_STATE_H

#include <linux/kvm.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct state_writer;
struct state_reader;

/* Bounds on what a stream may ask this build to allocate. KVM itself holds
 * at most 256 CPUID entries (KVM_MAX_CPUID_ENTRIES); its MSR index list is
 * under 200 on current kernels; an XSAVE area is a few KiB (AMX: 11 KiB). */
#define VCPU_STATE_MAX_CPUID 256u
#define VCPU_STATE_MAX_MSRS 1024u
#define VCPU_STATE_MAX_XSAVE (1u << 20)

enum vcpu_sregs_kind { VCPU_SREGS = 1, VCPU_SREGS2 = 2 };
enum vcpu_fpu_kind { VCPU_FPU_XSAVE = 1, VCPU_FPU_LEGACY = 2 };

/* One vCPU's state, parsed. The has_* items are those the source host's
 * KVM offered; an item saved but not offered here is an error at apply. */
struct vcpu_state {
    uint32_t index;
    uint32_t tsc_khz;               /* 0: the source could not say */
    uint32_t ncpuid;
    struct kvm_cpuid_entry2 *cpuid;
    bool has_mp_state;
    struct kvm_mp_state mp_state;
    struct kvm_regs regs;
    enum vcpu_sregs_kind sregs_kind;
    struct kvm_sregs sregs;         /* when VCPU_SREGS */
    struct kvm_sregs2 sregs2;       /* when VCPU_SREGS2 */
    enum vcpu_fpu_kind fpu_kind;
    uint32_t xsave_size;            /* bytes in xsave, when VCPU_FPU_XSAVE */
    uint8_t *xsave;
    struct kvm_fpu fpu;             /* when VCPU_FPU_LEGACY */
    bool has_xcrs;
    struct kvm_xcrs xcrs;
    bool has_debugregs;
    struct kvm_debugregs debugregs;
    struct kvm_lapic_state lapic;
    uint32_t nmsrs;
    struct kvm_msr_entry *msrs;     /* TSC_DEADLINE, if saved, is last */
    bool has_events;
    struct kvm_vcpu_events events;
};

/* Saves one vCPU's whole state as section "vcpu" (version 1) carrying
 * `index`. Only on a vCPU that is not in KVM_RUN (the VM is paused).
 * Returns 0, or -1 with the failing item in err. */
int vcpu_state_save(int kvm_fd, int vcpu_fd, unsigned index, struct state_writer *w,
                    char *err, size_t errlen);
/* Reads the next section, which must be "vcpu" version 1 for vCPU `index`,
 * into *s (freed with vcpu_state_free, also after a failure). No ioctl. */
int vcpu_state_parse(struct state_reader *r, unsigned index, struct vcpu_state *s,
                     char *err, size_t errlen);
/* Puts *s into a freshly created vCPU (KVM_CREATE_VCPU done; its CPUID
 * comes from *s): TSC frequency, CPUID, MP state, regs, sregs, FPU/XSAVE,
 * XCRs, debug registers, LAPIC, MSRs (TSC_DEADLINE last), vCPU events. An
 * MSR this host refuses is skipped with a debug line, except TSC,
 * TSC_DEADLINE and the kvmclock MSRs, which are an error. */
int vcpu_state_apply(int kvm_fd, int vcpu_fd, const struct vcpu_state *s, char *err,
                     size_t errlen);
void vcpu_state_free(struct vcpu_state *s);
/* Writes *s as its section (what vcpu_state_save does after reading KVM). */
void vcpu_state_write(struct state_writer *w, const struct vcpu_state *s);
/* parse + apply + free. */
int vcpu_state_load(int kvm_fd, int vcpu_fd, unsigned index, struct state_reader *r,
                    char *err, size_t errlen);

/* After every vCPU is loaded: gives all of them vCPU 0's TSC offset
 * (KVM_VCPU_TSC_OFFSET) where the host offers the attribute. Where it does
 * not, KVM's own synchronisation of host-written TSC values (within a
 * second of each other) has already matched them, and this does nothing.
 * Returns 0, or -1 with the reason. */
int vcpu_state_sync_tsc(const int *vcpu_fds, unsigned n, char *err, size_t errlen);

/* The VM-wide in-kernel state, parsed. */
struct vm_arch_state {
    struct kvm_pic_state pic[2];       /* master, slave */
    struct kvm_ioapic_state ioapic;
    struct kvm_pit_state2 pit;
    struct kvm_clock_data clock;       /* as KVM_GET_CLOCK gave it */
    uint64_t realtime_ns;              /* CLOCK_REALTIME right after it */
};

/* Sections "irqchip" (the PICs and the IOAPIC), "pit" and "clock", each
 * version 1, in that order. Returns 0, or -1 with the reason. */
int vm_arch_state_save(int vm_fd, struct state_writer *w, char *err, size_t errlen);
int vm_arch_state_parse(struct state_reader *r, struct vm_arch_state *s, char *err,
                        size_t errlen);
/* Sets the irqchip and PIT, then kvmclock moved on by the real time elapsed
 * since the save (never back): through KVM_CLOCK_REALTIME where both hosts
 * offer it, else by the CLOCK_REALTIME sample saved with it. */
void vm_arch_state_write(struct state_writer *w, const struct vm_arch_state *s);
int vm_arch_state_apply(int vm_fd, const struct vm_arch_state *s, char *err, size_t errlen);
int vm_arch_state_load(int vm_fd, struct state_reader *r, char *err, size_t errlen);

#endif
