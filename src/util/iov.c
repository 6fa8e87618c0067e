#include "util/iov.h"

#include <stdbool.h>
#include <string.h>

static uint64_t copy_iov(const struct iovec *iov, unsigned n, uint64_t offset, void *buf,
                         uint64_t len, bool to_iov)
{
    uint64_t done = 0;
    for (unsigned k = 0; k < n && done < len; k++) {
        if (offset >= iov[k].iov_len) {
            offset -= iov[k].iov_len;
            continue;
        }
        uint64_t chunk = iov[k].iov_len - offset;
        if (chunk > len - done)
            chunk = len - done;
        uint8_t *seg = (uint8_t *)iov[k].iov_base + offset;
        if (to_iov)
            memcpy(seg, (const uint8_t *)buf + done, chunk);
        else
            memcpy((uint8_t *)buf + done, seg, chunk);
        done += chunk;
        offset = 0;
    }
    return done;
}

uint64_t iov_copy_from(const struct iovec *iov, unsigned n, uint64_t offset, void *buf,
                       uint64_t len)
{
    return copy_iov(iov, n, offset, buf, len, false);
}

uint64_t iov_copy_to(const struct iovec *iov, unsigned n, uint64_t offset, const void *buf,
                     uint64_t len)
{
    return copy_iov(iov, n, offset, (void *)(uintptr_t)buf, len, true);
}
