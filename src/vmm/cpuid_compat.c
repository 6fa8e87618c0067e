#include "vmm/cpuid_compat.h"

#include <stdint.h>
#include <stdio.h>
#include <string.h>

static const struct {
    uint32_t leaf, index;
    unsigned reg;           /* 0 eax, 1 ebx, 2 ecx, 3 edx */
    uint32_t dynamic;       /* bits the OS sets at run time: not features */
} checked[] = {
    { 0x1, 0, 2, 1u << 27 },            /* ECX: OSXSAVE */
    { 0x1, 0, 3, 0 },
    { 0x7, 0, 1, 0 },
    { 0x7, 0, 2, 1u << 4 },             /* ECX: OSPKE */
    { 0x7, 0, 3, 0 },
    { 0xd, 1, 0, 0 },
    { 0x80000001, 0, 2, 0 },
    { 0x80000001, 0, 3, 0 },
};

static const char *const reg_name[] = { "EAX", "EBX", "ECX", "EDX" };

static uint32_t reg_of(const struct kvm_cpuid_entry2 *e, unsigned reg)
{
    return reg == 0 ? e->eax : reg == 1 ? e->ebx : reg == 2 ? e->ecx : e->edx;
}

static const struct kvm_cpuid_entry2 *find(const struct kvm_cpuid_entry2 *t, unsigned n,
                                           uint32_t leaf, uint32_t index)
{
    for (unsigned i = 0; i < n; i++)
        if (t[i].function == leaf &&
            (!(t[i].flags & KVM_CPUID_FLAG_SIGNIFCANT_INDEX) || t[i].index == index))
            return &t[i];
    return NULL;
}

int cpuid_check_compatible(const struct kvm_cpuid_entry2 *guest, unsigned nguest,
                           const struct kvm_cpuid_entry2 *host, unsigned nhost, char *err,
                           size_t errlen)
{
    for (size_t i = 0; i < sizeof checked / sizeof checked[0]; i++) {
        const struct kvm_cpuid_entry2 *g = find(guest, nguest, checked[i].leaf, checked[i].index);
        if (!g)
            continue;
        const struct kvm_cpuid_entry2 *h = find(host, nhost, checked[i].leaf, checked[i].index);
        uint32_t want = reg_of(g, checked[i].reg) & ~checked[i].dynamic;
        uint32_t have = h ? reg_of(h, checked[i].reg) : 0;
        uint32_t missing = want & ~have;
        if (missing) {
            snprintf(err, errlen, "this host's CPU (as KVM offers it) lacks a feature the guest "
                     "uses: CPUID leaf 0x%x.%u %s bit %d (the guest's 0x%08x, this host's "
                     "0x%08x)", checked[i].leaf, checked[i].index, reg_name[checked[i].reg],
                     __builtin_ctz(missing), want, have);
            return -1;
        }
    }
    return 0;
}
