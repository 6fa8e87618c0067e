/* Parsing of one virtio-blk request (virtio 1.x 5.2.6) from a descriptor
 * chain, with no I/O: the header from the readable buffers, the data
 * buffers, and the status byte at the very end of the writable ones. Kept
 * apart from the device so that unit tests and the fuzzer drive it alone. */
#ifndef KVMBOX_DEVICES_VIRTIO_BLK_REQUEST_H
#define KVMBOX_DEVICES_VIRTIO_BLK_REQUEST_H

#include "devices/virtio/virtqueue.h"

#include <stdint.h>

#define BLK_SECTOR 512u

enum blk_parse {
    BLK_PARSE_OK,
    BLK_PARSE_NO_STATUS,     /* no writable byte for the status: push with 0 */
    BLK_PARSE_IOERR,         /* answer VIRTIO_BLK_S_IOERR */
    BLK_PARSE_UNSUPP,        /* answer VIRTIO_BLK_S_UNSUPP */
};

struct blk_request {
    uint32_t type;
    uint64_t sector;
    /* The data buffers: device-readable for writes, discard and write
     * zeroes; device-writable (minus the status byte) for reads and get-id. */
    struct iovec data[VIRTQ_MAX_SEGS];
    unsigned ndata;
    uint64_t data_len;
    uint8_t *status;
};

/* Fills r from c. For reads and writes it also checks that the length is
 * whole sectors and that [sector, sector + length) lies within
 * `capacity` sectors; `readonly` turns writes into IOERR. */
enum blk_parse blk_parse_request(const struct virtq_chain *c, uint64_t capacity, bool readonly,
                                 struct blk_request *r);

#endif
