#include "vmm/cpuid.h"
#include "util/log.h"

#include <cpuid.h>
#include <errno.h>
#include <linux/kvm.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>

enum reg { EAX, EBX, ECX, EDX };

struct feature {
    const char *name;
    uint32_t leaf, index;
    enum reg reg;
    uint8_t bit;
    const char *requires;   /* hidden too when this one is hidden */
};

/* The names are Linux's /proc/cpuinfo flags. */
static const struct feature features[] = {
    { "sse3",      1, 0, ECX, 0,  NULL },
    { "pclmulqdq", 1, 0, ECX, 1,  NULL },
    { "monitor",   1, 0, ECX, 3,  NULL },
    { "vmx",       1, 0, ECX, 5,  NULL },
    { "ssse3",     1, 0, ECX, 9,  NULL },
    { "fma",       1, 0, ECX, 12, "avx" },
    { "cx16",      1, 0, ECX, 13, NULL },
    { "pcid",      1, 0, ECX, 17, NULL },
    { "sse4_1",    1, 0, ECX, 19, NULL },
    { "sse4_2",    1, 0, ECX, 20, NULL },
    { "x2apic",    1, 0, ECX, 21, NULL },
    { "movbe",     1, 0, ECX, 22, NULL },
    { "popcnt",    1, 0, ECX, 23, NULL },
    { "tsc_deadline_timer", 1, 0, ECX, 24, NULL },
    { "aes",       1, 0, ECX, 25, NULL },
    { "xsave",     1, 0, ECX, 26, NULL },
    { "avx",       1, 0, ECX, 28, "xsave" },
    { "f16c",      1, 0, ECX, 29, "avx" },
    { "rdrand",    1, 0, ECX, 30, NULL },
    { "pse",       1, 0, EDX, 3,  NULL },
    { "tsc",       1, 0, EDX, 4,  NULL },
    { "mce",       1, 0, EDX, 7,  NULL },
    { "cx8",       1, 0, EDX, 8,  NULL },
    { "sep",       1, 0, EDX, 11, NULL },
    { "mtrr",      1, 0, EDX, 12, NULL },
    { "pge",       1, 0, EDX, 13, NULL },
    { "pat",       1, 0, EDX, 16, NULL },
    { "clflush",   1, 0, EDX, 19, NULL },
    { "ht",        1, 0, EDX, 28, NULL },
    { "fsgsbase",  7, 0, EBX, 0,  NULL },
    { "bmi1",      7, 0, EBX, 3,  NULL },
    { "hle",       7, 0, EBX, 4,  NULL },
    { "avx2",      7, 0, EBX, 5,  "avx" },
    { "smep",      7, 0, EBX, 7,  NULL },
    { "bmi2",      7, 0, EBX, 8,  NULL },
    { "erms",      7, 0, EBX, 9,  NULL },
    { "invpcid",   7, 0, EBX, 10, NULL },
    { "rtm",       7, 0, EBX, 11, NULL },
    { "mpx",       7, 0, EBX, 14, NULL },
    { "avx512f",   7, 0, EBX, 16, "avx" },
    { "rdseed",    7, 0, EBX, 18, NULL },
    { "adx",       7, 0, EBX, 19, NULL },
    { "smap",      7, 0, EBX, 20, NULL },
    { "clflushopt", 7, 0, EBX, 23, NULL },
    { "clwb",      7, 0, EBX, 24, NULL },
    { "sha_ni",    7, 0, EBX, 29, NULL },
    { "umip",      7, 0, ECX, 2,  NULL },
    { "pku",       7, 0, ECX, 3,  NULL },
    { "la57",      7, 0, ECX, 16, NULL },
    { "rdpid",     7, 0, ECX, 22, NULL },
    { "xsaveopt",  0xd, 1, EAX, 0, "xsave" },
    { "xsavec",    0xd, 1, EAX, 1, "xsave" },
    { "xsaves",    0xd, 1, EAX, 3, "xsave" },
    { "lahf_lm",   0x80000001, 0, ECX, 0,  NULL },
    { "svm",       0x80000001, 0, ECX, 2,  NULL },
    { "abm",       0x80000001, 0, ECX, 5,  NULL },
    { "syscall",   0x80000001, 0, EDX, 11, NULL },
    { "nx",        0x80000001, 0, EDX, 20, NULL },
    { "pdpe1gb",   0x80000001, 0, EDX, 26, NULL },
    { "rdtscp",    0x80000001, 0, EDX, 27, NULL },
};
#define NFEATURES (sizeof features / sizeof features[0])
_Static_assert(NFEATURES <= CPU_FEATURE_MAX, "cpu_filter too small");

const char *cpu_feature_name(unsigned i)
{
    return i < NFEATURES ? features[i].name : NULL;
}

static int find(const char *name, size_t len)
{
    for (unsigned i = 0; i < NFEATURES; i++)
        if (strlen(features[i].name) == len && !strncmp(features[i].name, name, len))
            return (int)i;
    return -1;
}

int cpu_filter_parse(const char *list, struct cpu_filter *f, char *err, size_t errlen)
{
    memset(f, 0, sizeof *f);
    const char *p = list;
    while (*p) {
        size_t len = strcspn(p, ",");
        if (len == 0) {
            snprintf(err, errlen, "empty name in --cpu-filter '%s'", list);
            return -1;
        }
        int i = find(p, len);
        if (i < 0) {
            snprintf(err, errlen, "unknown CPU feature '%.*s' in --cpu-filter "
                     "(see kvmbox run --help for the list)", (int)len, p);
            return -1;
        }
        f->hide[i] = true;
        p += len;
        if (*p == ',')
            p++;
    }
    /* A feature whose prerequisite is hidden must go too, or the guest
     * would try e.g. AVX without XSAVE to save its registers. Repeat until
     * nothing changes: the chains are short. */
    for (bool changed = true; changed;) {
        changed = false;
        for (unsigned i = 0; i < NFEATURES; i++) {
            const char *req = features[i].requires;
            if (!f->hide[i] && req && f->hide[find(req, strlen(req))]) {
                f->hide[i] = true;
                changed = true;
            }
        }
    }
    return 0;
}

static uint32_t *reg_of(struct kvm_cpuid_entry2 *e, enum reg r)
{
    switch (r) {
    case EAX: return &e->eax;
    case EBX: return &e->ebx;
    case ECX: return &e->ecx;
    default: return &e->edx;
    }
}

static struct kvm_cpuid_entry2 *entry(struct kvm_cpuid2 *c, uint32_t leaf, uint32_t index)
{
    for (uint32_t i = 0; i < c->nent; i++) {
        struct kvm_cpuid_entry2 *e = &c->entries[i];
        if (e->function == leaf &&
            (!(e->flags & KVM_CPUID_FLAG_SIGNIFCANT_INDEX) || e->index == index))
            return e;
    }
    return NULL;
}

#define CPUID1_ECX_HYPERVISOR (1u << 31)
#define KVM_CPUID_SIGNATURE 0x40000000u

void cpuid_apply(struct kvm_cpuid2 *c, const struct cpu_filter *f)
{
    for (unsigned i = 0; i < NFEATURES; i++) {
        if (!f->hide[i])
            continue;
        struct kvm_cpuid_entry2 *e = entry(c, features[i].leaf, features[i].index);
        if (e)
            *reg_of(e, features[i].reg) &= ~(1u << features[i].bit);
    }
    struct kvm_cpuid_entry2 *e = entry(c, 1, 0);
    if (e)
        e->ecx |= CPUID1_ECX_HYPERVISOR;
    /* KVM lists its paravirtual leaves in the supported set; make sure the
     * signature reads "KVMKVMKVM" so guests enable kvmclock and friends. */
    e = entry(c, KVM_CPUID_SIGNATURE, 0);
    if (e) {
        memcpy(&e->ebx, "KVMK", 4);
        memcpy(&e->ecx, "VMKV", 4);
        memcpy(&e->edx, "M\0\0\0", 4);
        if (e->eax < KVM_CPUID_SIGNATURE + 1)
            e->eax = KVM_CPUID_SIGNATURE + 1;
    }
}

#define KVM_CPUID_TIMING 0x40000010u
/* KVM's LAPIC timer counts at a 1 GHz bus clock (APIC_BUS_CYCLE_NS). */
#define KVM_APIC_BUS_KHZ 1000000u

void cpuid_add_timing(struct kvm_cpuid2 *c, uint32_t tsc_khz)
{
    if (!tsc_khz)
        return;
    struct kvm_cpuid_entry2 *sig = entry(c, KVM_CPUID_SIGNATURE, 0);
    if (!sig)
        return;
    struct kvm_cpuid_entry2 *e = entry(c, KVM_CPUID_TIMING, 0);
    if (!e) {
        e = &c->entries[c->nent++];
        *e = (struct kvm_cpuid_entry2){ .function = KVM_CPUID_TIMING };
    }
    e->eax = tsc_khz;
    e->ebx = KVM_APIC_BUS_KHZ;
    e->ecx = e->edx = 0;
    if (sig->eax < KVM_CPUID_TIMING)
        sig->eax = KVM_CPUID_TIMING;
}

/* Bits needed to number n things: the x2APIC ID shift of a level. */
static uint32_t id_bits(unsigned n)
{
    uint32_t b = 0;
    while ((1u << b) < n)
        b++;
    return b;
}

#define CPUID1_EDX_HTT (1u << 28)
#define TOPO_LEVEL_SMT 1
#define TOPO_LEVEL_CORE 2

void cpuid_set_topology(struct kvm_cpuid2 *c, uint32_t apic_id, unsigned ncpus)
{
    uint32_t core_bits = id_bits(ncpus);
    for (uint32_t i = 0; i < c->nent; i++) {
        struct kvm_cpuid_entry2 *e = &c->entries[i];
        switch (e->function) {
        case 1:
            e->ebx = (e->ebx & 0x0000ffffu) | (apic_id << 24) | ((ncpus & 0xff) << 16);
            e->edx = ncpus > 1 ? e->edx | CPUID1_EDX_HTT : e->edx & ~CPUID1_EDX_HTT;
            break;
        case 4:   /* Intel: cores per package - 1 in EAX[31:26] */
            if (e->eax & 0x1f)
                e->eax = (e->eax & 0x03ffffffu) | (((ncpus - 1) & 0x3f) << 26);
            break;
        case 0xb:
        case 0x1f:
            /* Level 0: one thread per core; level 1: ncpus cores. */
            if (e->index == 0) {
                e->eax = 0;
                e->ebx = 1;
                e->ecx = (TOPO_LEVEL_SMT << 8) | 0;
            } else if (e->index == 1) {
                e->eax = core_bits;
                e->ebx = ncpus;
                e->ecx = (TOPO_LEVEL_CORE << 8) | 1;
            } else {
                e->eax = e->ebx = 0;
                e->ecx = e->index;
            }
            e->edx = apic_id;
            break;
        case 0x80000008:  /* AMD: NC = cores - 1, ApicIdCoreIdSize */
            e->ecx = (e->ecx & ~0xf0ffu) | ((ncpus - 1) & 0xff) | (core_bits << 12);
            break;
        default:
            break;
        }
    }
}

#define CPUID1_ECX_TSC_DEADLINE (1u << 24)

void cpuid_offer_tsc_deadline(struct kvm_cpuid2 *c, bool kvm_emulates)
{
    struct kvm_cpuid_entry2 *e = entry(c, 1, 0);
    if (e && kvm_emulates)
        e->ecx |= CPUID1_ECX_TSC_DEADLINE;
}

#define CPUID_EXT_MAX 0x80000000u
#define CPUID_BRAND_FIRST 0x80000002u
#define CPUID_BRAND_LAST 0x80000004u

void cpuid_fill_brand(struct kvm_cpuid2 *c, const char brand[48])
{
    struct kvm_cpuid_entry2 *max = entry(c, CPUID_EXT_MAX, 0);
    if (!max || !brand[0])
        return;
    for (uint32_t leaf = CPUID_BRAND_FIRST; leaf <= CPUID_BRAND_LAST; leaf++) {
        const struct kvm_cpuid_entry2 *e = entry(c, leaf, 0);
        if (e && (e->eax | e->ebx | e->ecx | e->edx))
            return;                  /* KVM passed a brand on: keep it */
    }
    for (uint32_t leaf = CPUID_BRAND_FIRST; leaf <= CPUID_BRAND_LAST; leaf++) {
        struct kvm_cpuid_entry2 *e = entry(c, leaf, 0);
        if (!e) {
            e = &c->entries[c->nent++];
            *e = (struct kvm_cpuid_entry2){ .function = leaf };
        }
        const char *p = brand + 16 * (leaf - CPUID_BRAND_FIRST);
        memcpy(&e->eax, p, 4);
        memcpy(&e->ebx, p + 4, 4);
        memcpy(&e->ecx, p + 8, 4);
        memcpy(&e->edx, p + 12, 4);
    }
    if (max->eax < CPUID_BRAND_LAST)
        max->eax = CPUID_BRAND_LAST;
}

void cpuid_host_brand(char brand[48])
{
    memset(brand, 0, 48);
    if ((uint32_t)__get_cpuid_max(CPUID_EXT_MAX, NULL) < CPUID_BRAND_LAST)
        return;
    for (uint32_t leaf = CPUID_BRAND_FIRST; leaf <= CPUID_BRAND_LAST; leaf++) {
        uint32_t r[4];
        __cpuid(leaf, r[0], r[1], r[2], r[3]);
        memcpy(brand + 16 * (leaf - CPUID_BRAND_FIRST), r, 16);
    }
    brand[47] = 0;
}

struct kvm_cpuid2 *cpuid_build(int kvm_fd, const struct cpu_filter *f, char *err, size_t errlen)
{
    for (uint32_t n = 128; n <= 4096; n *= 2) {
        struct kvm_cpuid2 *c = calloc(1, sizeof *c + (n + CPUID_SPARE_ENTRIES) * sizeof c->entries[0]);
        if (!c)
            break;
        c->nent = n;
        if (ioctl(kvm_fd, KVM_GET_SUPPORTED_CPUID, c) == 0) {
            /* kvmbox always uses KVM's in-kernel LAPIC (vm.c creates the
             * irqchip before the vCPUs), which is where KVM emulates the
             * deadline timer. */
            cpuid_offer_tsc_deadline(c, ioctl(kvm_fd, KVM_CHECK_EXTENSION,
                                              KVM_CAP_TSC_DEADLINE_TIMER) > 0);
            char brand[48];
            cpuid_host_brand(brand);
            cpuid_fill_brand(c, brand);
            cpuid_apply(c, f);
            return c;
        }
        int e = errno;
        free(c);
        if (e != E2BIG) {
            snprintf(err, errlen, "KVM_GET_SUPPORTED_CPUID: %s", log_strerror(e));
            return NULL;
        }
    }
    snprintf(err, errlen, "KVM_GET_SUPPORTED_CPUID: table too large");
    return NULL;
}
