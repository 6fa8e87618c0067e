/* CRC-32C (Castagnoli), the checksum of iSCSI, ext4 and btrfs metadata:
 * it guards a snapshot's state file against truncation and bit rot. A
 * table of 256 constants rather than a dependency: state files are small
 * (kilobytes), so a byte at a time is fast enough. */
#ifndef KVMBOX_UTIL_CRC32C_H
#define KVMBOX_UTIL_CRC32C_H

#include <stddef.h>
#include <stdint.h>

/* Extends `crc` (0 to start) over n bytes at p: crc32c(crc32c(0, a), b)
 * equals the CRC of a followed by b. crc32c(0, "123456789", 9) is
 * 0xe3069283, the standard check value. */
uint32_t crc32c(uint32_t crc, const void *p, size_t n);

#endif
