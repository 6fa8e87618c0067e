/* PCI bus 0 behind a host bridge: configuration mechanism #1 (ports
 * 0xCF8/0xCFC) and ECAM (an MMCONFIG window, described to the guest by the
 * ACPI MCFG table), BARs that kvmbox places at start-up and the guest may
 * size and move, capability lists, and INTx lines to IOAPIC pins. A PCI
 * device embeds a struct pci_dev and gives it its BAR handlers. */
#ifndef KVMBOX_DEVICES_PCI_PCI_H
#define KVMBOX_DEVICES_PCI_PCI_H

#include "devices/device.h"
#include "core/bus.h"

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#define PCI_SLOTS 32
#define PCI_CFG_SIZE 256             /* conventional space; ECAM's rest reads 0 */
#define PCI_ECAM_SIZE (1u << 20)     /* bus 0: 32 devices x 8 functions x 4 KiB */
#define PCI_NUM_BARS 6
#define PCI_INTX_GSI_BASE 16         /* slot s, pin INTA..INTD: GSI 16 + (s + pin) % 8 */
#define PCI_INTX_GSIS 8

/* Configuration space offsets. */
#define PCI_VENDOR_ID 0x00
#define PCI_DEVICE_ID 0x02
#define PCI_COMMAND 0x04
#define PCI_STATUS 0x06
#define PCI_REVISION 0x08
#define PCI_CLASS_PROG 0x09
#define PCI_HEADER_TYPE 0x0e
#define PCI_BAR0 0x10
#define PCI_SUBSYS_VENDOR 0x2c
#define PCI_SUBSYS_ID 0x2e
#define PCI_CAP_PTR 0x34
#define PCI_INT_LINE 0x3c
#define PCI_INT_PIN 0x3d

#define PCI_COMMAND_IO 0x1
#define PCI_COMMAND_MEMORY 0x2
#define PCI_COMMAND_MASTER 0x4
#define PCI_COMMAND_INTX_DISABLE 0x400
#define PCI_STATUS_INTERRUPT 0x08
#define PCI_STATUS_CAP_LIST 0x10

#define PCI_BAR_IO 0x1
#define PCI_BAR_MEM64 0x4
#define PCI_BAR_PREFETCH 0x8

struct pci_host;
struct pci_dev;

struct pci_bar {
    uint64_t size;                   /* power of two; 0: no BAR */
    uint32_t flags;                  /* PCI_BAR_IO, PCI_BAR_MEM64, PCI_BAR_PREFETCH */
    bus_io_fn io;
    void *opaque;
    const char *name;
    uint64_t mapped_at;              /* where it is on the bus now */
    bool mapped;
};

/* The hooks run on the vCPU thread doing the access, with the host's
 * configuration lock held: they may take their device's own locks and
 * stop their device's threads, but must never take the host's lock again
 * (pci_config_read/write) and never wait for a vCPU. Interrupt delivery
 * (pci_dev_set_intx, MSI-X) takes only leaf locks, so it is allowed. */
struct pci_dev_ops {
    /* Before a configuration read of [offset, offset + len): a chance to
     * refresh those bytes (the virtio PCI configuration window). */
    void (*config_read)(struct pci_dev *d, unsigned offset, unsigned len);
    /* After a configuration write the generic code has applied (for
     * capabilities such as MSI-X). */
    void (*config_written)(struct pci_dev *d, unsigned offset, unsigned len);
    /* A BAR was mapped at `addr`, or unmapped (for ioeventfds). */
    void (*bar_moved)(struct pci_dev *d, unsigned bar, uint64_t addr, bool mapped);
};

struct pci_dev {
    uint8_t cfg[PCI_CFG_SIZE];
    uint8_t wmask[PCI_CFG_SIZE];     /* bits the guest may write */
    struct pci_bar bars[PCI_NUM_BARS];
    const struct pci_dev_ops *ops;
    struct pci_host *host;
    unsigned slot;
    unsigned intx_gsi;
    bool intx_level;                 /* under the host's intx_lock */
    bool intx_disabled;              /* COMMAND.INTX_DISABLE, mirrored under intx_lock */
    uint8_t next_cap;                /* where the next capability goes */
};

struct pci_window {
    uint64_t base, size;
};

struct pci_layout {
    uint64_t ecam_base;
    struct pci_window mmio32, mmio64;
};

/* The host bridge with bus 0; registers CF8/CFC and the ECAM window. */
struct pci_host *pci_host_create(const struct dev_host *host, const struct pci_layout *layout,
                                 struct device *out);

/* Identity of a type-0 function. */
void pci_dev_init(struct pci_dev *d, uint16_t vendor, uint16_t device, uint32_t class_code,
                  uint8_t revision, uint16_t subsys_vendor, uint16_t subsys_id);
/* Declares BAR `idx` (a 64-bit BAR also takes idx + 1). */
void pci_dev_add_bar(struct pci_dev *d, unsigned idx, uint64_t size, uint32_t flags, bus_io_fn io,
                     void *opaque, const char *name);
/* Appends a capability of `len` bytes with the given body (ID and next
 * pointer are filled in); returns its offset, or 0 if space ran out.
 * Writable bits are set by the caller in d->wmask. */
unsigned pci_dev_add_cap(struct pci_dev *d, uint8_t id, const void *body, unsigned len);
/* Puts the device in a free slot, places its BARs in the windows and
 * enables decoding, as firmware would. Returns the slot, or -1. */
int pci_host_add(struct pci_host *h, struct pci_dev *d);

/* Drives the device's INTx line (ignored while the guest disables INTx).
 * Takes only the host's leaf INTx lock: callable from any thread, with
 * any device lock held. */
void pci_dev_set_intx(struct pci_dev *d, bool level);
/* Drives the INTx line to (*pending != 0), reading *pending (an atomic
 * byte, e.g. virtio's ISR) under the INTx lock: a thread that sets a bit
 * and one that clears it, each calling this afterwards, leave the line
 * matching the bits, whatever order they ran in. */
void pci_dev_follow_intx(struct pci_dev *d, const uint8_t *pending);
/* The host a device was added to. */
const struct dev_host *pci_dev_host(const struct pci_dev *d);

/* Little-endian helpers on configuration space. */
static inline uint16_t pci_cfg_get16(const struct pci_dev *d, unsigned off)
{
    return (uint16_t)(d->cfg[off] | d->cfg[off + 1] << 8);
}
static inline uint32_t pci_cfg_get32(const struct pci_dev *d, unsigned off)
{
    return (uint32_t)pci_cfg_get16(d, off) | (uint32_t)pci_cfg_get16(d, off + 2) << 16;
}
static inline void pci_cfg_set16(struct pci_dev *d, unsigned off, uint16_t v)
{
    d->cfg[off] = (uint8_t)v;
    d->cfg[off + 1] = (uint8_t)(v >> 8);
}
static inline void pci_cfg_set32(struct pci_dev *d, unsigned off, uint32_t v)
{
    pci_cfg_set16(d, off, (uint16_t)v);
    pci_cfg_set16(d, off + 2, (uint16_t)(v >> 16));
}

/* Configuration access by (slot, offset) as both mechanisms do; exposed for
 * unit tests and the fuzzer. Reads of absent devices give all-ones. */
uint32_t pci_config_read(struct pci_host *h, unsigned slot, unsigned fn, unsigned off, unsigned len);
void pci_config_write(struct pci_host *h, unsigned slot, unsigned fn, unsigned off, unsigned len,
                      uint32_t v);

#endif
