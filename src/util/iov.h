/* Copies between a flat buffer and a scatter-gather list (struct iovec),
 * as virtio chains, TAP frames and disk requests come. */
#ifndef KVMBOX_UTIL_IOV_H
#define KVMBOX_UTIL_IOV_H

#include <stdint.h>
#include <sys/uio.h>

/* Copies between a buffer and the bytes [offset, offset + len) of an iovec
 * array; returns the bytes copied (short if the iovecs end first). */
uint64_t iov_copy_from(const struct iovec *iov, unsigned n, uint64_t offset, void *buf,
                       uint64_t len);
uint64_t iov_copy_to(const struct iovec *iov, unsigned n, uint64_t offset, const void *buf,
                     uint64_t len);

#endif
