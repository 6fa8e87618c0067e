/* The architectural reset-to-boot state of an x86 vCPU: CPUID, MSRs, FPU,
 * local APIC wiring, and the registers the boot protocol prescribes. */
#include "vmm/vcpu.h"

#include "arch/x86/cpu_mode.h"
#include "arch/x86/layout.h"
#include "util/log.h"
#include "vmm/cpuid.h"
#include "vmm/vm.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>

#define MSR_IA32_TSC 0x10
#define MSR_IA32_SYSENTER_CS 0x174
#define MSR_IA32_SYSENTER_ESP 0x175
#define MSR_IA32_SYSENTER_EIP 0x176
#define MSR_IA32_MISC_ENABLE 0x1a0
#define MSR_MTRR_DEF_TYPE 0x2ff
#define MSR_STAR 0xc0000081
#define MSR_LSTAR 0xc0000082
#define MSR_CSTAR 0xc0000083
#define MSR_SYSCALL_MASK 0xc0000084
#define MSR_KERNEL_GS_BASE 0xc0000102

#define MISC_ENABLE_FAST_STRING 1ULL
#define MTRR_ENABLE (1ULL << 11)
#define MTRR_TYPE_WB 6ULL

#define APIC_LVT0 0x350
#define APIC_LVT1 0x360
#define APIC_MODE_EXTINT 0x7
#define APIC_MODE_NMI 0x4

static const struct { uint32_t index; uint64_t value; } boot_msrs[] = {
    { MSR_IA32_SYSENTER_CS, 0 }, { MSR_IA32_SYSENTER_ESP, 0 }, { MSR_IA32_SYSENTER_EIP, 0 },
    { MSR_STAR, 0 }, { MSR_LSTAR, 0 }, { MSR_CSTAR, 0 }, { MSR_SYSCALL_MASK, 0 },
    { MSR_KERNEL_GS_BASE, 0 }, { MSR_IA32_TSC, 0 },
    { MSR_IA32_MISC_ENABLE, MISC_ENABLE_FAST_STRING },
    /* MTRRs on, default write-back: without this Linux maps all of RAM
     * uncached and warns. */
    { MSR_MTRR_DEF_TYPE, MTRR_ENABLE | MTRR_TYPE_WB },
};
#define NBOOT_MSRS (sizeof boot_msrs / sizeof boot_msrs[0])

static void set_msrs(struct vcpu *v)
{
    struct {
        struct kvm_msrs hdr;
        struct kvm_msr_entry e[NBOOT_MSRS];
    } m;
    /* KVM_SET_MSRS stops at the first MSR it refuses; skip that one and go
     * on, so one missing MSR on some host does not cost the rest. */
    for (unsigned i = 0; i < NBOOT_MSRS;) {
        memset(&m, 0, sizeof m);
        unsigned n = 0;
        for (unsigned j = i; j < NBOOT_MSRS; j++, n++)
            m.e[n] = (struct kvm_msr_entry){ .index = boot_msrs[j].index, .data = boot_msrs[j].value };
        m.hdr.nmsrs = n;
        int done = ioctl(v->fd, KVM_SET_MSRS, &m);
        if (done < 0)
            done = 0;
        if ((unsigned)done < n)
            log_debug("vcpu %u: MSR 0x%x not settable here, left at KVM's default", v->id,
                      boot_msrs[i + (unsigned)done].index);
        i += (unsigned)done + 1;
    }
}

static int setup_lapic(struct vcpu *v)
{
    struct kvm_lapic_state s;
    if (ioctl(v->fd, KVM_GET_LAPIC, &s) < 0)
        return -1;
    /* As on a PC: LINT0 receives the 8259's ExtINT, LINT1 the NMI. */
    uint32_t lvt0, lvt1;
    memcpy(&lvt0, &s.regs[APIC_LVT0], 4);
    memcpy(&lvt1, &s.regs[APIC_LVT1], 4);
    lvt0 = (lvt0 & ~0x700u) | (APIC_MODE_EXTINT << 8);
    lvt1 = (lvt1 & ~0x700u) | (APIC_MODE_NMI << 8);
    memcpy(&s.regs[APIC_LVT0], &lvt0, 4);
    memcpy(&s.regs[APIC_LVT1], &lvt1, 4);
    return ioctl(v->fd, KVM_SET_LAPIC, &s);
}

int vcpu_setup(struct vcpu *v)
{
    struct vm *vm = v->vm;
    size_t csz = sizeof *vm->cpuid + vm->cpuid->nent * sizeof vm->cpuid->entries[0];
    struct kvm_cpuid2 *c = malloc(csz);
    if (!c)
        return -1;
    memcpy(c, vm->cpuid, csz);
    cpuid_set_topology(c, v->id, vm->nvcpus);
    int r = ioctl(v->fd, KVM_SET_CPUID2, c);
    free(c);
    if (r < 0) {
        log_error("KVM_SET_CPUID2: %s", log_strerror(errno));
        return -1;
    }
    set_msrs(v);

    struct kvm_fpu fpu = { .fcw = 0x37f, .mxcsr = 0x1f80 };
    if (ioctl(v->fd, KVM_SET_FPU, &fpu) < 0)
        log_debug("vcpu %u: KVM_SET_FPU: %s", v->id, log_strerror(errno));
    if (setup_lapic(v) < 0)
        log_debug("vcpu %u: LAPIC LINT setup: %s", v->id, log_strerror(errno));
    return 0;
}

int vcpu_setup_boot(struct vcpu *v, const struct boot_entry *entry)
{
    struct vm *vm = v->vm;
    struct kvm_sregs sregs;
    if (ioctl(v->fd, KVM_GET_SREGS, &sregs) < 0 ||
        cpu_mode_setup(&vm->mem, entry->mode, &sregs) < 0 ||
        ioctl(v->fd, KVM_SET_SREGS, &sregs) < 0) {
        log_error("cannot set the boot CPU mode: %s", log_strerror(errno));
        return -1;
    }
    struct kvm_regs regs = {
        .rip = entry->rip,
        .rax = entry->rax,
        .rbx = entry->rbx,
        .rsi = entry->rsi,
        .rsp = LAYOUT_BOOT_STACK_TOP,
        .rbp = LAYOUT_BOOT_STACK_TOP,
        .rflags = 0x2,  /* reserved bit; interrupts off */
    };
    if (ioctl(v->fd, KVM_SET_REGS, &regs) < 0) {
        log_error("KVM_SET_REGS: %s", log_strerror(errno));
        return -1;
    }
    return 0;
}
