#include "arch/x86/e820.h"

#include "arch/x86/layout.h"
#include "core/guest_mem.h"

unsigned e820_build(uint64_t ram_size, struct e820_entry *out)
{
    struct guest_mem_region regions[GUEST_MEM_MAX_REGIONS];
    unsigned nregions = guest_mem_layout(ram_size, regions);
    uint64_t low_end = regions[0].size;
    unsigned n = 0;

    out[n++] = (struct e820_entry){ 0, LAYOUT_EBDA_START, E820_RAM };
    out[n++] = (struct e820_entry){ LAYOUT_EBDA_START, LAYOUT_HIGH_START - LAYOUT_EBDA_START,
                                    E820_RESERVED };
    if (low_end > LAYOUT_HIGH_START)
        out[n++] = (struct e820_entry){ LAYOUT_HIGH_START, low_end - LAYOUT_HIGH_START, E820_RAM };
    /* The PCI ECAM window: reserved, which Linux requires before it
     * trusts the MCFG table. */
    out[n++] = (struct e820_entry){ LAYOUT_PCI_ECAM_BASE, LAYOUT_PCI_ECAM_SIZE, E820_RESERVED };
    /* IOAPIC, LAPIC, KVM's TSS and identity-map pages and the firmware
     * window: never to be used as RAM or handed out as PCI space. */
    out[n++] = (struct e820_entry){ LAYOUT_IOAPIC_BASE, LAYOUT_4G - LAYOUT_IOAPIC_BASE,
                                    E820_RESERVED };
    if (nregions > 1)
        out[n++] = (struct e820_entry){ regions[1].gpa, regions[1].size, E820_RAM };
    return n;
}
