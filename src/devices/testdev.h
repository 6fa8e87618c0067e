/* QEMU's pc-testdev (hw/misc/pc-testdev.c), which kvm-unit-tests' ioapic,
 * emulator and eventinj tests drive; only with --testdev.
 *
 *   0xe0-0xe3   a 32-bit latch: reads give back what was written, by byte,
 *               word or dword (0xe1 is its second byte)
 *   0xe4        a dword write of a guest-physical address makes KVM drop
 *               its mapping of that page, so the next guest access to it
 *               faults into KVM again (reads give 0)
 *   0xe8-0xeb   the same latch, for string I/O
 *   0x2000+N    a byte write of V drives interrupt line N (0-23) to V != 0
 *   0xff000000  64 KiB of MMIO that reads back what was written */
#ifndef KVMBOX_DEVICES_TESTDEV_H
#define KVMBOX_DEVICES_TESTDEV_H

#include "devices/device.h"

#define TESTDEV_LATCH_PORT 0xe0
#define TESTDEV_FLUSH_PORT 0xe4
#define TESTDEV_LATCH_STRING_PORT 0xe8
#define TESTDEV_IRQ_PORT 0x2000
#define TESTDEV_IRQ_LINES 24
#define TESTDEV_IOMEM_BASE 0xff000000ULL
#define TESTDEV_IOMEM_SIZE 0x10000

int testdev_create(const struct dev_host *host, struct device *out);

extern const struct device_ops testdev_ops;

#endif
