/* PCI configuration access for the test guests (see pci.h). */
#include "pci.h"

#include "guest.h"

static uint32_t cf8_address(unsigned slot, unsigned off)
{
    return 0x80000000u | slot << 11 | (off & 0xfc);
}

static volatile void *ecam_at(const struct pci_cfg *c, unsigned slot, unsigned off)
{
    return (volatile void *)(uintptr_t)(c->ecam + ((uint64_t)slot << 15) + off);
}

uint32_t pci_read(const struct pci_cfg *c, unsigned slot, unsigned off, unsigned len)
{
    if (c->ecam) {
        switch (len) {
        case 1: return *(volatile uint8_t *)ecam_at(c, slot, off);
        case 2: return *(volatile uint16_t *)ecam_at(c, slot, off);
        default: return *(volatile uint32_t *)ecam_at(c, slot, off);
        }
    }
    outl(0xcf8, cf8_address(slot, off));
    uint16_t port = (uint16_t)(0xcfc + (off & 3));
    switch (len) {
    case 1: return inb(port);
    case 2: return inw(port);
    default: return inl(port);
    }
}

void pci_write(const struct pci_cfg *c, unsigned slot, unsigned off, uint32_t v, unsigned len)
{
    if (c->ecam) {
        switch (len) {
        case 1: *(volatile uint8_t *)ecam_at(c, slot, off) = (uint8_t)v; return;
        case 2: *(volatile uint16_t *)ecam_at(c, slot, off) = (uint16_t)v; return;
        default: *(volatile uint32_t *)ecam_at(c, slot, off) = v; return;
        }
    }
    outl(0xcf8, cf8_address(slot, off));
    uint16_t port = (uint16_t)(0xcfc + (off & 3));
    switch (len) {
    case 1: outb(port, (uint8_t)v); return;
    case 2: outw(port, (uint16_t)v); return;
    default: outl(port, v); return;
    }
}

unsigned pci_find_cap(const struct pci_cfg *c, unsigned slot, uint8_t id, unsigned from)
{
    if (!(pci_read(c, slot, PCI_STATUS, 2) & PCI_STATUS_CAP_LIST))
        return 0;
    unsigned at = from ? pci_read(c, slot, from + 1, 1) : pci_read(c, slot, PCI_CAPABILITY_LIST, 1);
    /* 48 steps at most: a list that loops must not hang the guest. */
    for (unsigned n = 0; at >= 0x40 && n < 48; n++) {
        if (pci_read(c, slot, at, 1) == id)
            return at;
        at = pci_read(c, slot, at + 1, 1);
    }
    return 0;
}

static uint16_t decode_off(const struct pci_cfg *c, unsigned slot)
{
    uint16_t cmd = (uint16_t)pci_read(c, slot, PCI_COMMAND, 2);
    pci_write(c, slot, PCI_COMMAND, cmd & ~(PCI_COMMAND_MEMORY | PCI_COMMAND_IO), 2);
    return cmd;
}

uint64_t pci_bar_size(const struct pci_cfg *c, unsigned slot, unsigned bar, bool *is64)
{
    unsigned off = PCI_BASE_ADDRESS_0 + 4 * bar;
    uint16_t cmd = decode_off(c, slot);
    uint32_t lo = pci_read(c, slot, off, 4);
    *is64 = !(lo & PCI_BASE_ADDRESS_SPACE_IO) &&
            (lo & PCI_BASE_ADDRESS_MEM_TYPE_MASK) == PCI_BASE_ADDRESS_MEM_TYPE_64;
    pci_write(c, slot, off, 0xffffffffu, 4);
    uint64_t mask = pci_read(c, slot, off, 4);
    pci_write(c, slot, off, lo, 4);
    if (*is64) {
        uint32_t hi = pci_read(c, slot, off + 4, 4);
        pci_write(c, slot, off + 4, 0xffffffffu, 4);
        mask |= (uint64_t)pci_read(c, slot, off + 4, 4) << 32;
        pci_write(c, slot, off + 4, hi, 4);
    } else {
        mask |= 0xffffffff00000000ull;
    }
    pci_write(c, slot, PCI_COMMAND, cmd, 2);
    mask &= (lo & PCI_BASE_ADDRESS_SPACE_IO) ? ~3ull : ~15ull;
    return mask == 0xffffffff00000000ull ? 0 : ~mask + 1;
}

uint64_t pci_bar_addr(const struct pci_cfg *c, unsigned slot, unsigned bar)
{
    unsigned off = PCI_BASE_ADDRESS_0 + 4 * bar;
    uint32_t lo = pci_read(c, slot, off, 4);
    uint64_t a = lo & ~15u;
    if ((lo & PCI_BASE_ADDRESS_MEM_TYPE_MASK) == PCI_BASE_ADDRESS_MEM_TYPE_64)
        a |= (uint64_t)pci_read(c, slot, off + 4, 4) << 32;
    return a;
}

void pci_bar_move(const struct pci_cfg *c, unsigned slot, unsigned bar, uint64_t addr)
{
    unsigned off = PCI_BASE_ADDRESS_0 + 4 * bar;
    uint16_t cmd = decode_off(c, slot);
    uint32_t lo = pci_read(c, slot, off, 4);
    pci_write(c, slot, off, (uint32_t)addr | (lo & 15u), 4);
    if ((lo & PCI_BASE_ADDRESS_MEM_TYPE_MASK) == PCI_BASE_ADDRESS_MEM_TYPE_64)
        pci_write(c, slot, off + 4, (uint32_t)(addr >> 32), 4);
    pci_write(c, slot, PCI_COMMAND, cmd, 2);
}
