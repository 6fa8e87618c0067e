#include "devices/virtio/blk_request.h"

#include <linux/virtio_blk.h>
#include <string.h>

/* Copies the iovecs covering [offset, offset + len) of `src` into dst. */
static unsigned slice(const struct iovec *src, unsigned n, uint64_t offset, uint64_t len,
                      struct iovec *dst)
{
    unsigned k = 0;
    for (unsigned i = 0; i < n && len; i++) {
        if (offset >= src[i].iov_len) {
            offset -= src[i].iov_len;
            continue;
        }
        uint64_t chunk = src[i].iov_len - offset;
        if (chunk > len)
            chunk = len;
        dst[k++] = (struct iovec){ (uint8_t *)src[i].iov_base + offset, chunk };
        len -= chunk;
        offset = 0;
    }
    return k;
}

static bool in_range(uint64_t sector, uint64_t bytes, uint64_t capacity)
{
    uint64_t sectors = bytes / BLK_SECTOR;
    return sector <= capacity && sectors <= capacity - sector;
}

enum blk_parse blk_parse_request(const struct virtq_chain *c, uint64_t capacity, bool readonly,
                                 struct blk_request *r)
{
    r->type = 0;
    r->sector = 0;
    r->ndata = 0;
    r->data_len = 0;
    r->status = NULL;
    if (c->in_len == 0)
        return BLK_PARSE_NO_STATUS;
    unsigned k = c->nin;
    while (c->in[k - 1].iov_len == 0)
        k--;                         /* skip empty trailing buffers; in_len > 0 */
    const struct iovec *last = &c->in[k - 1];
    r->status = (uint8_t *)last->iov_base + last->iov_len - 1;

    struct virtio_blk_outhdr hdr;
    if (virtq_chain_read(c, 0, &hdr, sizeof hdr) != sizeof hdr)
        return BLK_PARSE_IOERR;
    r->type = hdr.type;
    r->sector = hdr.sector;
    uint64_t out_data = c->out_len - sizeof hdr;
    uint64_t in_data = c->in_len - 1;

    switch (r->type) {
    case VIRTIO_BLK_T_IN:
    case VIRTIO_BLK_T_GET_ID:
        r->ndata = slice(c->in, c->nin, 0, in_data, r->data);
        r->data_len = in_data;
        if (r->type == VIRTIO_BLK_T_GET_ID)
            return BLK_PARSE_OK;
        break;
    case VIRTIO_BLK_T_OUT:
    case VIRTIO_BLK_T_DISCARD:
    case VIRTIO_BLK_T_WRITE_ZEROES:
        r->ndata = slice(c->out, c->nout, sizeof hdr, out_data, r->data);
        r->data_len = out_data;
        if (readonly)
            return BLK_PARSE_IOERR;
        if (r->type != VIRTIO_BLK_T_OUT)
            return r->data_len && r->data_len % sizeof(struct virtio_blk_discard_write_zeroes) == 0
                       ? BLK_PARSE_OK : BLK_PARSE_IOERR;
        break;
    case VIRTIO_BLK_T_FLUSH:
        return BLK_PARSE_OK;
    default:
        return BLK_PARSE_UNSUPP;
    }
    if (r->data_len % BLK_SECTOR || !in_range(r->sector, r->data_len, capacity))
        return BLK_PARSE_IOERR;
    return BLK_PARSE_OK;
}
