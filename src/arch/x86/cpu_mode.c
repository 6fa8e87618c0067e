#include "arch/x86/cpu_mode.h"

#include "arch/x86/layout.h"
#include "core/guest_mem.h"

#define CR0_PE (1ULL << 0)
#define CR0_ET (1ULL << 4)
#define CR0_PG (1ULL << 31)
#define CR4_PAE (1ULL << 5)
#define EFER_LME (1ULL << 8)
#define EFER_LMA (1ULL << 10)
#define PTE_P 0x1ULL
#define PTE_RW 0x2ULL
#define PTE_PS 0x80ULL

/* A descriptor from its flags (type, S, DPL, P, AVL, L, D/B, G packed as
 * in bits 8-15 and 20-23 of the high word), base and 20-bit limit. */
static uint64_t gdt_entry(uint16_t flags, uint32_t base, uint32_t limit)
{
    return ((uint64_t)(base & 0xff000000u) << 32) | ((uint64_t)(flags & 0xf0ffu) << 40) |
           ((uint64_t)(limit & 0x000f0000u) << 32) | ((uint64_t)(base & 0x00ffffffu) << 16) |
           (uint64_t)(limit & 0x0000ffffu);
}

/* The KVM view of a descriptor, so that the hidden segment state matches
 * what the GDT says if the guest reloads the selector. */
static struct kvm_segment segment(uint64_t d, uint16_t sel)
{
    return (struct kvm_segment){
        .base = (uint32_t)(((d >> 16) & 0xffffff) | ((d >> 32) & 0xff000000)),
        .limit = (uint32_t)((d & 0xffff) | ((d >> 32) & 0xf0000)),
        .selector = sel,
        .type = (uint8_t)((d >> 40) & 0xf),
        .s = (uint8_t)((d >> 44) & 1),
        .dpl = (uint8_t)((d >> 45) & 3),
        .present = (uint8_t)((d >> 47) & 1),
        .avl = (uint8_t)((d >> 52) & 1),
        .l = (uint8_t)((d >> 53) & 1),
        .db = (uint8_t)((d >> 54) & 1),
        .g = (uint8_t)((d >> 55) & 1),
    };
}

static void fix_limit(struct kvm_segment *s)
{
    if (s->g)
        s->limit = (s->limit << 12) | 0xfff;
}

int cpu_mode_setup(struct guest_mem *gm, enum entry_mode mode, struct kvm_sregs *sregs)
{
    const uint64_t gdt[] = {
        0,
        gdt_entry(0xc09b, 0, 0xfffff),  /* 0x08: 32-bit code */
        gdt_entry(0xa09b, 0, 0xfffff),  /* 0x10: 64-bit code */
        gdt_entry(0xc093, 0, 0xfffff),  /* 0x18: data */
        gdt_entry(0x008b, 0, 0xfffff),  /* 0x20: TSS, busy: VMX insists on a usable TR */
    };
    if (guest_mem_write(gm, LAYOUT_GDT, gdt, sizeof gdt) < 0)
        return -1;

    struct kvm_segment code = segment(gdt[mode == ENTRY_LONG64 ? 2 : 1],
                                      mode == ENTRY_LONG64 ? BOOT_SEL_CODE64 : BOOT_SEL_CODE32);
    struct kvm_segment data = segment(gdt[3], BOOT_SEL_DATA);
    struct kvm_segment tss = segment(gdt[4], BOOT_SEL_TSS);
    fix_limit(&code);
    fix_limit(&data);
    fix_limit(&tss);
    sregs->cs = code;
    sregs->ds = sregs->es = sregs->fs = sregs->gs = sregs->ss = data;
    sregs->tr = tss;
    sregs->gdt.base = LAYOUT_GDT;
    sregs->gdt.limit = sizeof gdt - 1;
    /* An empty IDT: an exception before the guest installs its own becomes
     * a triple fault, which kvmbox reports, instead of a jump to nowhere. */
    sregs->idt.base = 0;
    sregs->idt.limit = 0;
    sregs->cr0 = CR0_PE | CR0_ET;
    sregs->cr4 = 0;
    sregs->efer = 0;

    if (mode == ENTRY_LONG64) {
        /* Identity map of the first 4 GiB with 2 MiB pages: covers the
         * kernel, boot_params, command line and an initrd anywhere below
         * the hole, as the 64-bit boot protocol requires. */
        uint64_t *pml4 = guest_mem_ptr(gm, LAYOUT_PML4, 4096);
        uint64_t *pdpt = guest_mem_ptr(gm, LAYOUT_PDPT, 4096);
        uint64_t *pd = guest_mem_ptr(gm, LAYOUT_PD, 4 * 4096);
        if (!pml4 || !pdpt || !pd)
            return -1;
        for (unsigned i = 0; i < 512; i++)
            pml4[i] = pdpt[i] = 0;
        pml4[0] = LAYOUT_PDPT | PTE_P | PTE_RW;
        for (unsigned i = 0; i < 4; i++)
            pdpt[i] = (LAYOUT_PD + i * 4096ULL) | PTE_P | PTE_RW;
        for (uint64_t i = 0; i < 4 * 512; i++)
            pd[i] = (i << 21) | PTE_P | PTE_RW | PTE_PS;
        sregs->cr3 = LAYOUT_PML4;
        sregs->cr4 = CR4_PAE;
        sregs->cr0 |= CR0_PG;
        sregs->efer = EFER_LME | EFER_LMA;
    }
    return 0;
}
