#include "arch/x86/dsdt.h"

#include <string.h>

/* Large resource descriptors (ACPI 6.x, 6.4.3). */
#define RES_IO 0x47                  /* small: I/O port, 8 bytes */
#define RES_DWORD_MEM 0x87
#define RES_WORD_ADDR 0x88
#define RES_QWORD_MEM 0x8a
#define RES_END 0x79
#define ADDR_MEMORY 0
#define ADDR_IO 1
#define ADDR_BUS 2
#define ADDR_FLAGS_FIXED 0x0c        /* MinFixed | MaxFixed; bit 0 clear: producer */
#define MEM_READ_WRITE 0x01
#define IO_ENTIRE_RANGE 0x03

static void le(struct aml *a, uint64_t v, unsigned n)
{
    for (unsigned i = 0; i < n; i++)
        aml_byte(a, (uint8_t)(v >> (8 * i)));
}

/* A Word/DWord/QWord address space descriptor: granularity 0, [min, max],
 * no translation. */
static void address_space(struct aml *a, uint8_t tag, unsigned width, uint8_t type,
                          uint8_t type_flags, uint64_t min, uint64_t max)
{
    aml_byte(a, tag);
    le(a, 3 + 5 * width, 2);         /* length of what follows this field */
    aml_byte(a, type);
    aml_byte(a, ADDR_FLAGS_FIXED);
    aml_byte(a, type_flags);
    le(a, 0, width);                 /* granularity */
    le(a, min, width);
    le(a, max, width);
    le(a, 0, width);                 /* translation */
    le(a, max - min + 1, width);     /* length */
}

static void pci_crs(struct aml *a, const struct pci_layout *pci)
{
    aml_name_decl(a, "_CRS");
    aml_buffer(a);
    address_space(a, RES_WORD_ADDR, 2, ADDR_BUS, 0, 0, 0);            /* bus 0 only */
    /* The configuration ports themselves: consumed, not passed on. */
    const uint8_t cf8[] = { RES_IO, 0x01, 0xf8, 0x0c, 0xf8, 0x0c, 0x01, 0x08 };
    aml_bytes(a, cf8, sizeof cf8);
    address_space(a, RES_WORD_ADDR, 2, ADDR_IO, IO_ENTIRE_RANGE, 0x0000, 0x0cf7);
    address_space(a, RES_WORD_ADDR, 2, ADDR_IO, IO_ENTIRE_RANGE, 0x0d00, 0xffff);
    address_space(a, RES_DWORD_MEM, 4, ADDR_MEMORY, MEM_READ_WRITE, pci->mmio32.base,
                  pci->mmio32.base + pci->mmio32.size - 1);
    address_space(a, RES_QWORD_MEM, 8, ADDR_MEMORY, MEM_READ_WRITE, pci->mmio64.base,
                  pci->mmio64.base + pci->mmio64.size - 1);
    aml_byte(a, RES_END);
    aml_byte(a, 0);                  /* checksum 0: not computed */
    aml_close(a);
}

/* _PRT: slot s, pin p (INTA = 0) to GSI 16 + (s + p) % 8, with no link
 * device (Source Zero: the last element is the GSI), as pci_host_add
 * assigns them. */
static void pci_prt(struct aml *a)
{
    aml_name_decl(a, "_PRT");
    aml_package(a, (PCI_SLOTS - 1) * 4);
    for (unsigned slot = 1; slot < PCI_SLOTS; slot++) {
        for (unsigned pin = 0; pin < 4; pin++) {
            aml_package(a, 4);
            aml_int(a, (uint64_t)slot << 16 | 0xffff);
            aml_int(a, pin);
            aml_int(a, 0);
            aml_int(a, PCI_INTX_GSI_BASE + (slot + pin) % PCI_INTX_GSIS);
            aml_close(a);
        }
    }
    aml_close(a);
}

void dsdt_build(struct aml *a, uint8_t s5_slp_typ, const struct pci_layout *pci)
{
    aml_name_decl(a, "_S5_");
    aml_package(a, 4);
    aml_int(a, s5_slp_typ);
    aml_int(a, s5_slp_typ);
    aml_int(a, 0);
    aml_int(a, 0);
    aml_close(a);
    if (!pci)
        return;
    aml_scope(a, "\\_SB_");
    aml_device(a, "PCI0");
    aml_name_decl(a, "_HID");
    aml_eisaid(a, "PNP0A08");        /* PCI Express root bridge: ECAM */
    aml_name_decl(a, "_CID");
    aml_eisaid(a, "PNP0A03");        /* and a PCI root bridge */
    aml_name_decl(a, "_SEG");
    aml_int(a, 0);
    aml_name_decl(a, "_BBN");
    aml_int(a, 0);
    aml_name_decl(a, "_UID");
    aml_int(a, 0);
    pci_crs(a, pci);
    pci_prt(a);
    aml_close(a);
    aml_close(a);
}
