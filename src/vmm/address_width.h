/* The guest-physical address width: guest RAM and the 64-bit PCI window
 * must lie below 2^phys_bits, the width the vCPUs report (CPUID
 * 0x80000008 EAX[7:0], which KVM passes on from the host). Past it the
 * guest can neither address its RAM nor map the BARs placed there, and
 * on real hardware KVM cannot back such addresses with EPT/NPT at all. */
#ifndef KVMBOX_VMM_ADDRESS_WIDTH_H
#define KVMBOX_VMM_ADDRESS_WIDTH_H

#include <stddef.h>
#include <stdint.h>

/* The host's physical address width; 36 where the CPU has no leaf for it. */
unsigned host_phys_bits(void);

/* Checks that guest RAM ending at ram_top fits below 2^phys_bits and
 * narrows the 64-bit BAR window [*base, *base + *size) to what fits (at
 * least `min_size` of it must). Returns 0, or -1 with a message in err. */
int address_width_check(uint64_t ram_top, unsigned phys_bits, uint64_t *mmio64_base,
                        uint64_t *mmio64_size, uint64_t min_size, char *err, size_t errlen);

#endif
