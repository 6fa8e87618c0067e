/* Whether a guest can move to this host: a live migration's receiver
 * checks, before any memory moves, that every CPU feature the guest sees
 * (its CPUID, from the source) this host's KVM can offer too; a guest
 * that found AVX-512 at boot would fault on the first use of it after a
 * move to a host without. */
#ifndef KVMBOX_VMM_CPUID_COMPAT_H
#define KVMBOX_VMM_CPUID_COMPAT_H

#include <linux/kvm.h>
#include <stddef.h>

/* The feature leaves and registers compared (1, 7.0, 0xd.1, 0x80000001),
 * bits the OS sets at run time left out. Returns 0, or -1 naming the
 * first feature bit the guest has and this host cannot offer. */
int cpuid_check_compatible(const struct kvm_cpuid_entry2 *guest, unsigned nguest,
                           const struct kvm_cpuid_entry2 *host, unsigned nhost, char *err,
                           size_t errlen);
#endif
