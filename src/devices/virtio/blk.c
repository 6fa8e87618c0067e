#include "devices/virtio/blk.h"

#include "devices/virtio/blk_request.h"
#include "devices/virtio/virtio_pci.h"
#include "devices/virtio/worker.h"
#include "util/log.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/falloc.h>
#include <linux/fs.h>
#include <linux/virtio_blk.h>
#include <linux/virtio_ids.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

#define BLK_QUEUE_SIZE 256
#define CLASS_STORAGE_OTHER 0x018000
/* Segments in one request: the chain limit minus header and status. */
#define BLK_SEG_MAX (VIRTQ_MAX_SEGS - 2)
#define BLK_MAX_DISCARD_SECTORS (1u << 22)   /* 2 GiB per range */
#define BLK_MAX_DISCARD_SEG 32

struct blk {
    struct disk_config cfg;
    int fd;
    uint64_t capacity;               /* sectors */
    struct virtio_pci *vp;
    struct virtio_worker worker;
    struct virtq_chain chain;
    struct blk_request req;
};

struct blk *blk_open(const struct disk_config *cfg)
{
    struct blk *b = calloc(1, sizeof *b);
    if (!b)
        return NULL;
    b->cfg = *cfg;
    b->fd = open(cfg->path, (cfg->readonly ? O_RDONLY : O_RDWR) | O_CLOEXEC);
    if (b->fd < 0) {
        log_error("--disk %s: %s", cfg->path, strerror(errno));
        goto fail;
    }
    /* A writer excludes everyone; readers share. */
    if (flock(b->fd, (cfg->readonly ? LOCK_SH : LOCK_EX) | LOCK_NB) < 0) {
        log_error("--disk %s: %s", cfg->path,
                  errno == EWOULDBLOCK ? "locked by another process (another kvmbox using it?)"
                                       : strerror(errno));
        goto fail;
    }
    struct stat st;
    uint64_t bytes = 0;
    if (fstat(b->fd, &st) < 0) {
        log_error("--disk %s: %s", cfg->path, strerror(errno));
        goto fail;
    }
    if (S_ISBLK(st.st_mode)) {
        if (ioctl(b->fd, BLKGETSIZE64, &bytes) < 0) {
            log_error("--disk %s: cannot get its size: %s", cfg->path, strerror(errno));
            goto fail;
        }
    } else if (S_ISREG(st.st_mode)) {
        bytes = (uint64_t)st.st_size;
    } else {
        log_error("--disk %s: not a regular file or block device", cfg->path);
        goto fail;
    }
    if (bytes % BLK_SECTOR)
        log_warn("--disk %s: size is not a multiple of 512; the last %llu bytes are not seen",
                 cfg->path, (unsigned long long)(bytes % BLK_SECTOR));
    b->capacity = bytes / BLK_SECTOR;
    return b;
fail:
    blk_close(b);
    return NULL;
}

void blk_close(struct blk *b)
{
    if (!b)
        return;
    if (b->fd >= 0)
        close(b->fd);
    free(b);
}

/* Full preadv/pwritev over an iovec array, resuming after short transfers. */
static int rw_all(int fd, struct iovec *iov, unsigned n, uint64_t off, bool write_)
{
    while (n) {
        ssize_t done = write_ ? pwritev(fd, iov, (int)n, (off_t)off) : preadv(fd, iov, (int)n, (off_t)off);
        if (done < 0 && errno == EINTR)
            continue;
        if (done <= 0)
            return -1;               /* error, or end of file inside the disk */
        off += (uint64_t)done;
        while (n && (size_t)done >= iov->iov_len) {
            done -= (ssize_t)iov->iov_len;
            iov++;
            n--;
        }
        if (n) {
            iov->iov_base = (uint8_t *)iov->iov_base + done;
            iov->iov_len -= (size_t)done;
        }
    }
    return 0;
}

static int discard_or_zero(struct blk *b, const struct blk_request *r)
{
    unsigned n = (unsigned)(r->data_len / sizeof(struct virtio_blk_discard_write_zeroes));
    if (n > BLK_MAX_DISCARD_SEG)
        return -1;
    for (unsigned i = 0; i < n; i++) {
        struct virtio_blk_discard_write_zeroes seg;
        iov_copy_from(r->data, r->ndata, i * sizeof seg, &seg, sizeof seg);
        if (seg.num_sectors > BLK_MAX_DISCARD_SECTORS || seg.sector > b->capacity ||
            seg.num_sectors > b->capacity - seg.sector)
            return -1;
        off_t off = (off_t)(seg.sector * BLK_SECTOR), len = (off_t)seg.num_sectors * BLK_SECTOR;
        int mode = r->type == VIRTIO_BLK_T_DISCARD ? FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE
                                                   : FALLOC_FL_ZERO_RANGE | FALLOC_FL_KEEP_SIZE;
        if (fallocate(b->fd, mode, off, len) == 0)
            continue;
        if (r->type == VIRTIO_BLK_T_DISCARD)
            continue;                /* discard is a hint: not supported is fine */
        /* Write zeroes the slow way where the file system cannot. */
        static const uint8_t zeroes[64 * 1024];
        for (off_t done = 0; done < len;) {
            size_t chunk = (size_t)(len - done) < sizeof zeroes ? (size_t)(len - done) : sizeof zeroes;
            ssize_t w = pwrite(b->fd, zeroes, chunk, off + done);
            if (w <= 0)
                return -1;
            done += w;
        }
    }
    return 0;
}

uint32_t blk_serve(struct blk *b, const struct virtq_chain *c)
{
    struct blk_request *r = &b->req;
    enum blk_parse p = blk_parse_request(c, b->capacity, b->cfg.readonly, r);
    if (p == BLK_PARSE_NO_STATUS)
        return 0;
    uint8_t status = VIRTIO_BLK_S_OK;
    uint32_t written = 1;
    if (p == BLK_PARSE_IOERR)
        status = VIRTIO_BLK_S_IOERR;
    else if (p == BLK_PARSE_UNSUPP)
        status = VIRTIO_BLK_S_UNSUPP;
    else {
        switch (r->type) {
        case VIRTIO_BLK_T_IN:
            if (rw_all(b->fd, r->data, r->ndata, r->sector * BLK_SECTOR, false) < 0)
                status = VIRTIO_BLK_S_IOERR;
            else   /* the used length is 32 bits; a longer read saturates */
                written = r->data_len < UINT32_MAX ? (uint32_t)r->data_len + 1 : UINT32_MAX;
            break;
        case VIRTIO_BLK_T_OUT:
            if (rw_all(b->fd, r->data, r->ndata, r->sector * BLK_SECTOR, true) < 0)
                status = VIRTIO_BLK_S_IOERR;
            break;
        case VIRTIO_BLK_T_FLUSH:
            if (!b->cfg.readonly && fdatasync(b->fd) < 0)
                status = VIRTIO_BLK_S_IOERR;
            break;
        case VIRTIO_BLK_T_GET_ID: {
            char id[VIRTIO_BLK_ID_BYTES] = { 0 };
            memcpy(id, b->cfg.serial, strnlen(b->cfg.serial, sizeof id));
            written += (uint32_t)iov_copy_to(r->data, r->ndata, 0, id, sizeof id);
            break;
        }
        default:
            if (discard_or_zero(b, r) < 0)
                status = VIRTIO_BLK_S_IOERR;
            break;
        }
    }
    *r->status = status;
    return written;
}

static uint32_t serve(void *dev, const struct virtq_chain *c) { return blk_serve(dev, c); }

static void blk_event(void *dev, unsigned queue)
{
    struct blk *b = dev;
    virtio_pci_serve_queue(b->vp, queue, &b->chain, serve, b);
}

static int blk_activate(void *dev)
{
    struct blk *b = dev;
    return virtio_pci_start_worker(b->vp, &b->worker, "virtio-blk", blk_event, b);
}

static void blk_reset(void *dev)
{
    struct blk *b = dev;
    worker_stop(&b->worker);
}

static void blk_config_read(void *dev, unsigned off, uint8_t *data, unsigned len)
{
    struct blk *b = dev;
    struct virtio_blk_config c = { 0 };
    c.capacity = b->capacity;
    c.seg_max = BLK_SEG_MAX;
    c.blk_size = BLK_SECTOR;
    c.num_queues = 1;
    c.max_discard_sectors = BLK_MAX_DISCARD_SECTORS;
    c.max_discard_seg = BLK_MAX_DISCARD_SEG;
    c.discard_sector_alignment = 1;
    c.max_write_zeroes_sectors = BLK_MAX_DISCARD_SECTORS;
    c.max_write_zeroes_seg = BLK_MAX_DISCARD_SEG;
    c.write_zeroes_may_unmap = 0;
    if (off + len <= sizeof c)
        memcpy(data, (const uint8_t *)&c + off, len);
    else
        memset(data, 0, len);
}

static void blk_destroy(void *dev) { blk_close(dev); }

static const struct virtio_dev_ops blk_ops = {
    .name = "virtio-blk",
    .device_type = VIRTIO_ID_BLOCK,
    .class_code = CLASS_STORAGE_OTHER,
    .nqueues = 1,
    .queue_size = BLK_QUEUE_SIZE,
    .config_size = sizeof(struct virtio_blk_config),
    .config_read = blk_config_read,
    .activate = blk_activate,
    .reset = blk_reset,
    .destroy = blk_destroy,
};

struct virtio_pci *virtio_blk_create(struct pci_host *bus, struct blk *b, struct device *out)
{
    uint64_t features = (1ull << VIRTIO_BLK_F_SEG_MAX) | (1ull << VIRTIO_BLK_F_BLK_SIZE) |
                        (1ull << VIRTIO_BLK_F_FLUSH) | (1ull << VIRTIO_BLK_F_DISCARD) |
                        (1ull << VIRTIO_BLK_F_WRITE_ZEROES);
    if (b->cfg.readonly)
        features = (features & ~((1ull << VIRTIO_BLK_F_DISCARD) | (1ull << VIRTIO_BLK_F_WRITE_ZEROES))) |
                   (1ull << VIRTIO_BLK_F_RO);
    b->vp = virtio_pci_create(bus, &blk_ops, b, features);
    if (!b->vp) {
        blk_close(b);
        return NULL;
    }
    *out = (struct device){ &virtio_pci_device_ops, b->vp };
    return b->vp;
}
