#include "vmm/address_width.h"

#include <cpuid.h>
#include <stdio.h>

unsigned host_phys_bits(void)
{
    unsigned a, b, c, d;
    if (__get_cpuid(0x80000000, &a, &b, &c, &d) && a >= 0x80000008) {
        __cpuid(0x80000008, a, b, c, d);
        if (a & 0xff)
            return a & 0xff;
    }
    return 36;   /* what Intel's SDM says a CPU without the leaf has */
}

int address_width_check(uint64_t ram_top, unsigned phys_bits, uint64_t *mmio64_base,
                        uint64_t *mmio64_size, uint64_t min_size, char *err, size_t errlen)
{
    uint64_t limit = phys_bits >= 64 ? UINT64_MAX : 1ull << phys_bits;
    if (ram_top > limit) {
        snprintf(err, errlen,
                 "guest RAM would end at 0x%llx, beyond the %u-bit physical addresses this "
                 "host's CPUs have (%llu GiB): give less --memory",
                 (unsigned long long)ram_top, phys_bits, (unsigned long long)(limit >> 30));
        return -1;
    }
    uint64_t room = *mmio64_base < limit ? limit - *mmio64_base : 0;
    if (room < min_size) {
        snprintf(err, errlen,
                 "no room for the 64-bit PCI window above guest RAM within the %u-bit physical "
                 "addresses this host's CPUs have: give less --memory",
                 phys_bits);
        return -1;
    }
    if (*mmio64_size > room)
        *mmio64_size = room;
    return 0;
}
