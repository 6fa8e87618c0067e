/* virtio-blk (virtio 1.x 5.2) on a host file or block device: read, write,
 * flush, get-id, discard and write-zeroes, served by the device's worker
 * thread. The file is locked (flock) so that a second kvmbox cannot write
 * it at the same time; readonly=on opens it read-only and offers
 * VIRTIO_BLK_F_RO. Host I/O errors reach the guest as VIRTIO_BLK_S_IOERR. */
#ifndef KVMBOX_DEVICES_VIRTIO_BLK_H
#define KVMBOX_DEVICES_VIRTIO_BLK_H

#include "devices/device.h"
#include "core/config.h"

struct pci_host;
struct virtio_pci;
struct blk;

/* The disk's file opened as cfg says (readonly, direct), not yet locked:
 * its descriptor, or -1 after logging why. */
int blk_open_file(const struct disk_config *cfg);
/* The disk on fd (blk_open_file's or a dup of it, taken; -1: opened
 * now), locked; logs why and returns NULL if it cannot. */
struct blk *blk_open(const struct disk_config *cfg, int fd);
/* Puts an opened disk on the PCI bus; on failure the disk is closed. */
struct virtio_pci *virtio_blk_create(struct pci_host *bus, struct blk *b, struct device *out);
void blk_close(struct blk *b);

/* One request, as the worker serves it: for tests and the fuzzer. Returns
 * the bytes written into the chain (data and status), as the used ring
 * takes them. */
struct virtq_chain;
uint32_t blk_serve(struct blk *b, const struct virtq_chain *c);

#endif
