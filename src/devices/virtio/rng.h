/* virtio-rng (virtio 1.x 5.4): one queue of device-writable buffers,
 * filled from the host's getrandom(2). */
#ifndef KVMBOX_DEVICES_VIRTIO_RNG_H
#define KVMBOX_DEVICES_VIRTIO_RNG_H

#include "devices/device.h"

struct pci_host;
struct virtio_pci;

struct virtio_pci *virtio_rng_create(struct pci_host *bus, struct device *out);

#endif
