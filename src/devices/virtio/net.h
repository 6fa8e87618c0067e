/* virtio-net (virtio 1.x 5.1): one receive and one transmit queue, the MAC
 * and link status in the configuration, checksum and TSO offloads where
 * the backend (net/backend.h) can take them. The NIC runs its own thread,
 * which polls the queue kicks and the backend's fds together. */
#ifndef KVMBOX_DEVICES_VIRTIO_NET_H
#define KVMBOX_DEVICES_VIRTIO_NET_H

#include "devices/device.h"

#include <stdint.h>

struct pci_host;
struct net_backend;
struct virtio_pci;

/* Takes ownership of `be` (closed on failure too). */
struct virtio_pci *virtio_net_create(struct pci_host *bus, struct net_backend *be,
                                     const uint8_t mac[6], struct device *out);

#endif
