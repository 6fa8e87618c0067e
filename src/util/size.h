#ifndef KVMBOX_UTIL_SIZE_H
#define KVMBOX_UTIL_SIZE_H

#include <stdint.h>

/* Parses "512", "512K", "512M", "4G", "1T" (binary multiples; a bare number
 * is bytes; an optional trailing 'B' or "iB" is accepted). Returns 0 or -1
 * on malformed input or overflow. */
int parse_size(const char *s, uint64_t *out);

#endif
