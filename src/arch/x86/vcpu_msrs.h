/* Which MSRs a vCPU's saved state carries, and reading or writing a list of
 * them past the ones KVM refuses. */
#ifndef KVMBOX_ARCH_X86_VCPU_MSRS_H
#define KVMBOX_ARCH_X86_VCPU_MSRS_H

#include <linux/kvm.h>
#include <stdbool.h>
#include <stdint.h>

#define MSR_IA32_TSC 0x10
#define MSR_IA32_TSC_DEADLINE 0x6e0

/* The candidates: KVM's index list (KVM_GET_MSR_INDEX_LIST on kvm_fd) and
 * the MTRRs, which KVM emulates but leaves out of that list; each once,
 * TSC_DEADLINE last. Returns the count and *out (malloc'd), or -1. */
int vcpu_msrs_candidates(int kvm_fd, uint32_t **out);

/* KVM_GET_MSRS or KVM_SET_MSRS (`req`) on e[0..n), in batches KVM accepts.
 * KVM stops a batch at the first MSR it refuses: that one is marked in
 * refused[] (n entries, cleared here) and the rest go on. Returns how many
 * were refused, or -1 with errno when the ioctl itself fails. */
int vcpu_msrs_io(int vcpu_fd, unsigned long req, struct kvm_msr_entry *e, unsigned n,
                 bool *refused);

/* MSRs a restore must not lose: the TSC, its deadline and kvmclock's. */
bool vcpu_msr_required(uint32_t index);

#endif
