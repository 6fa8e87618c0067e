/* The CPUID the guest sees: what KVM supports, minus what the user hides
 * with --cpu-filter, with the hypervisor bit, the KVM paravirtual leaves
 * and per-vCPU APIC IDs. */
#ifndef KVMBOX_VMM_CPUID_H
#define KVMBOX_VMM_CPUID_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct kvm_cpuid2;

#define CPU_FEATURE_MAX 64

struct cpu_filter {
    bool hide[CPU_FEATURE_MAX];   /* indexed like cpu_feature_name() */
};

/* Parses "cx16,xsave,avx". Returns 0, or -1 naming the unknown feature. */
int cpu_filter_parse(const char *list, struct cpu_filter *f, char *err, size_t errlen);
/* Name of feature i, NULL past the end: for --help and the docs. */
const char *cpu_feature_name(unsigned i);

/* Applies the filter (and the features that depend on hidden ones) to a
 * CPUID table in place, and sets the hypervisor bit and the KVM signature. */
void cpuid_apply(struct kvm_cpuid2 *c, const struct cpu_filter *f);
/* Patches the per-vCPU fields of a copy of the table: the initial APIC ID
 * and a topology of `ncpus` single-threaded cores in one package. */
void cpuid_set_topology(struct kvm_cpuid2 *c, uint32_t apic_id, unsigned ncpus);

/* The timing leaf 0x40000010 (as VMware, QEMU and Cloud Hypervisor
 * define it): the TSC frequency in kHz in EAX and the LAPIC timer's bus
 * frequency in EBX, so a guest needs no calibration against the PIT; the
 * signature leaf's maximum is raised to cover it. `c` must have room for
 * one more entry (cpuid_build leaves it). tsc_khz 0 leaves c as it is. */
void cpuid_add_timing(struct kvm_cpuid2 *c, uint32_t tsc_khz);

/* KVM_GET_SUPPORTED_CPUID, then cpuid_apply. Returns NULL with err set. */
struct kvm_cpuid2 *cpuid_build(int kvm_fd, const struct cpu_filter *f, char *err, size_t errlen);

#endif
