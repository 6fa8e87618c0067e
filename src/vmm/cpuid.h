/* The CPUID the guest sees: what KVM supports, minus what the user hides
 * with --cpu-filter, with the hypervisor bit, the KVM paravirtual leaves
 * and per-vCPU APIC IDs. */
#ifndef KVMBOX_VMM_CPUID_H
#define KVMBOX_VMM_CPUID_H

#include "core/config.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct kvm_cpuid2;

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
 * one more entry (cpuid_build leaves CPUID_SPARE_ENTRIES). tsc_khz 0 leaves c as it is. */
void cpuid_add_timing(struct kvm_cpuid2 *c, uint32_t tsc_khz);

/* How many entries cpuid_build leaves free past what KVM filled: the
 * timing leaf and the three brand-string leaves. */
#define CPUID_SPARE_ENTRIES 4

/* Sets the TSC-deadline timer bit (leaf 1 ECX bit 24) when KVM emulates
 * that timer in its in-kernel LAPIC (KVM_CAP_TSC_DEADLINE_TIMER): before
 * late 2024 KVM_GET_SUPPORTED_CPUID leaves it clear even then, and a
 * guest without it calibrates the LAPIC timer against the PIT, which a
 * slow or loaded host fails ("APIC timer disabled due to verification
 * failure"). QEMU sets the bit the same way. */
void cpuid_offer_tsc_deadline(struct kvm_cpuid2 *c, bool kvm_emulates);

/* Fills the brand string (leaves 0x80000002-0x80000004, 48 bytes) from
 * `brand` when KVM left all three zero or out, adding the leaves where
 * missing (room for 3 more entries needed) and raising 0x80000000's
 * maximum to cover them. Without a brand Linux names the CPU after its
 * family ("AMD Hammer"). Does nothing without a leaf 0x80000000 or with
 * an empty `brand`. */
void cpuid_fill_brand(struct kvm_cpuid2 *c, const char brand[48]);

/* The host CPU's brand string (NUL-padded; empty if it has none). */
void cpuid_host_brand(char brand[48]);

/* KVM_GET_SUPPORTED_CPUID, the TSC-deadline bit and the brand string as
 * above, then cpuid_apply (so --cpu-filter can still hide
 * tsc_deadline_timer). The table has CPUID_SPARE_ENTRIES entries of room.
 * Returns NULL with err set. */
struct kvm_cpuid2 *cpuid_build(int kvm_fd, const struct cpu_filter *f, char *err, size_t errlen);

#endif
