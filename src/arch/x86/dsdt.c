#include "arch/x86/dsdt.h"

#include "devices/i8042.h"
#include "devices/rtc.h"
#include "devices/serial.h"

#include <string.h>

/* Resource descriptors (ACPI 6.x, 6.4): small ones first. */
#define RES_IRQ 0x22                 /* small: IRQ mask, no flags (edge, active high) */
#define RES_IO 0x47                  /* small: I/O port, 8 bytes */
#define RES_IO_DECODE16 0x01
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

/* IO(Decode16, port, port, 1, len): a fixed range of ports. */
static void res_io(struct aml *a, uint16_t port, uint8_t len)
{
    const uint8_t d[] = { RES_IO, RES_IO_DECODE16, (uint8_t)port, (uint8_t)(port >> 8),
                          (uint8_t)port, (uint8_t)(port >> 8), 0x01, len };
    aml_bytes(a, d, sizeof d);
}

/* IRQNoFlags() {irq}: an ISA interrupt, edge-triggered, active high. */
static void res_irq(struct aml *a, unsigned irq)
{
    const uint8_t d[] = { RES_IRQ, (uint8_t)(1u << irq), (uint8_t)((1u << irq) >> 8) };
    aml_bytes(a, d, sizeof d);
}

/* Opens Device(name) with _HID (and _UID when uid > 0) and its _CRS: up
 * to two port ranges (len 0: none) and one IRQ. */
static void isa_device(struct aml *a, const char *name, const char *hid, unsigned uid,
                       uint16_t port0, uint8_t len0, uint16_t port1, uint8_t len1, unsigned irq)
{
    aml_device(a, name);
    aml_name_decl(a, "_HID");
    aml_eisaid(a, hid);
    if (uid) {
        aml_name_decl(a, "_UID");
        aml_int(a, uid);
    }
    aml_name_decl(a, "_CRS");
    aml_buffer(a);
    if (len0)
        res_io(a, port0, len0);
    if (len1)
        res_io(a, port1, len1);
    res_irq(a, irq);
    aml_byte(a, RES_END);
    aml_byte(a, 0);
    aml_close(a);                    /* the buffer */
    aml_close(a);                    /* the device */
}

/* The legacy devices, as QEMU's DSDT lists them: with them Linux binds
 * its i8042, serial and RTC drivers through PNP and need not probe for
 * them (no PS/2 controller in the DSDT costs a probe of the ports). */
static void isa_devices(struct aml *a)
{
    isa_device(a, "KBD_", "PNP0303", 0, 0x60, 1, 0x64, 1, I8042_KBD_IRQ);
    isa_device(a, "MOU_", "PNP0F13", 0, 0, 0, 0, 0, I8042_AUX_IRQ);
    isa_device(a, "COM1", "PNP0501", 1, SERIAL_COM1_BASE, 8, 0, 0, SERIAL_COM1_IRQ);
    isa_device(a, "RTC_", "PNP0B00", 0, RTC_BASE, 2, 0, 0, RTC_IRQ);
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
    aml_scope(a, "\\_SB_");
    isa_devices(a);
    if (!pci) {
        aml_close(a);
        return;
    }
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
