/* virtio-console (virtio 1.x 5.3), one port, no multiport: the guest's
 * hvc0. Output (transmitq) goes to the host's console_write from the
 * device's worker; input is offered by the VMM's main loop, which owns the terminal,
 * exactly as it offers input to the UART. */
#ifndef KVMBOX_DEVICES_VIRTIO_CONSOLE_H
#define KVMBOX_DEVICES_VIRTIO_CONSOLE_H

#include "devices/device.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct pci_host;
struct virtio_console;

/* The guest's output goes to the PCI host's console_write. rx_space (may be NULL) is called,
 * from the device's worker, when the driver gives receive buffers after a
 * receive could not take everything it was offered. */
struct virtio_console *virtio_console_create(struct pci_host *bus,
                                             void (*rx_space)(void *ctx), void *rx_ctx,
                                             struct device *out);
/* Offers input bytes; returns how many the driver's buffers took. */
size_t virtio_console_receive(struct virtio_console *c, const uint8_t *buf, size_t n);
bool virtio_console_can_receive(struct virtio_console *c);

#endif
