/* What a guest's PCI and virtio drivers do, over a fake_host's buses:
 * configuration mechanism #1, MMIO accesses, and bringing a modern virtio
 * device up (features, queues, DRIVER_OK). For device unit tests. */
#ifndef KVMBOX_TESTS_VIRTIO_DRIVER_H
#define KVMBOX_TESTS_VIRTIO_DRIVER_H

#include "fake_host.h"
#include "vq_driver.h"

#include "devices/pci/pci.h"

#include <linux/virtio_config.h>
#include <linux/virtio_pci.h>
#include <unistd.h>

#define MB (1ull << 20)
static const struct pci_layout test_layout = {
    0xe0000000, { 0xc0000000, 0x20000000 }, { 1ull << 32, 1ull << 36 }
};

static inline uint32_t cf8_read(struct fake_host *f, unsigned slot, unsigned reg)
{
    uint32_t a = 0x80000000u | slot << 11 | reg, v;
    bus_access(&f->pio, 0xcf8, (uint8_t *)&a, 4, true);
    bus_access(&f->pio, 0xcfc, (uint8_t *)&v, 4, false);
    return v;
}

static inline void cf8_write(struct fake_host *f, unsigned slot, unsigned reg, uint32_t v)
{
    uint32_t a = 0x80000000u | slot << 11 | reg;
    bus_access(&f->pio, 0xcf8, (uint8_t *)&a, 4, true);
    bus_access(&f->pio, 0xcfc, (uint8_t *)&v, 4, true);
}

static inline uint64_t mmio_read(struct fake_host *f, uint64_t addr, unsigned len)
{
    uint64_t v = 0;
    bus_access(&f->mmio, addr, (uint8_t *)&v, len, false);
    return v;
}

static inline void mmio_write(struct fake_host *f, uint64_t addr, uint64_t v, unsigned len)
{
    bus_access(&f->mmio, addr, (uint8_t *)&v, len, true);
}

/* Where kvmbox's virtio transport puts its regions in BAR 4. */
#define VDRV_DEVICE_CFG 0x2000
#define VDRV_NOTIFY 0x3000
#define VDRV_NOTIFY_MULT 4

/* BAR 4 (64-bit) of the device in `slot`. */
static inline uint64_t vdrv_bar4(struct fake_host *f, unsigned slot)
{
    return (cf8_read(f, slot, PCI_BAR0 + 16) & ~15u) |
           (uint64_t)cf8_read(f, slot, PCI_BAR0 + 20) << 32;
}

/* Negotiates VERSION_1 plus `features`, sets up queues 0..nq-1 of `qsize`
 * entries (rings from `rings` on, 64 KiB apart) and sets DRIVER_OK;
 * returns the final device status. */
static inline uint8_t vdrv_bring_up_size(struct fake_host *f, unsigned slot, uint64_t features,
                                         struct vq_driver *drv, unsigned nq, uint64_t rings,
                                         uint16_t qsize)
{
    uint64_t bar = vdrv_bar4(f, slot);
    features |= 1ull << VIRTIO_F_VERSION_1;
    mmio_write(f, bar + VIRTIO_PCI_COMMON_STATUS, 0, 1);
    mmio_write(f, bar + VIRTIO_PCI_COMMON_STATUS, 0x03, 1);
    for (unsigned half = 0; half < 2; half++) {
        mmio_write(f, bar + VIRTIO_PCI_COMMON_GFSELECT, half, 4);
        mmio_write(f, bar + VIRTIO_PCI_COMMON_GF, (uint32_t)(features >> (32 * half)), 4);
    }
    mmio_write(f, bar + VIRTIO_PCI_COMMON_STATUS, 0x0b, 1);
    for (unsigned q = 0; q < nq; q++) {
        vqd_init(&drv[q], &f->mem, rings + q * 0x10000, qsize);
        mmio_write(f, bar + VIRTIO_PCI_COMMON_Q_SELECT, q, 2);
        mmio_write(f, bar + VIRTIO_PCI_COMMON_Q_SIZE, qsize, 2);
        mmio_write(f, bar + VIRTIO_PCI_COMMON_Q_DESCLO, drv[q].desc, 8);
        mmio_write(f, bar + VIRTIO_PCI_COMMON_Q_AVAILLO, drv[q].avail, 8);
        mmio_write(f, bar + VIRTIO_PCI_COMMON_Q_USEDLO, drv[q].used, 8);
        mmio_write(f, bar + VIRTIO_PCI_COMMON_Q_ENABLE, 1, 2);
    }
    mmio_write(f, bar + VIRTIO_PCI_COMMON_STATUS, 0x0f, 1);
    return (uint8_t)mmio_read(f, bar + VIRTIO_PCI_COMMON_STATUS, 1);
}

/* The same with 16-entry queues. */
static inline uint8_t vdrv_bring_up(struct fake_host *f, unsigned slot, uint64_t features,
                                    struct vq_driver *drv, unsigned nq, uint64_t rings)
{
    return vdrv_bring_up_size(f, slot, features, drv, nq, rings, 16);
}

/* Publishes what was added to queue q and notifies the device. */
static inline void vdrv_kick(struct fake_host *f, unsigned slot, struct vq_driver *drv, unsigned q)
{
    vqd_publish(drv);
    mmio_write(f, vdrv_bar4(f, slot) + VDRV_NOTIFY + q * VDRV_NOTIFY_MULT, q, 2);
}

/* Waits up to 2 s for the device (on its own thread) to return a chain. */
static inline bool vdrv_wait_used(struct vq_driver *drv, uint16_t *id, uint32_t *len)
{
    for (int i = 0; i < 2000; i++) {
        if (vqd_get_used(drv, id, len))
            return true;
        usleep(1000);
    }
    return false;
}

#endif
