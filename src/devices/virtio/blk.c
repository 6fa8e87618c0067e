#include "devices/virtio/blk.h"

#include "core/guest_mem.h"
#include "core/state.h"

#include "devices/virtio/blk_request.h"
#include "devices/virtio/virtio_pci.h"
#include "devices/virtio/worker.h"
#include "util/file.h"
#include "util/log.h"

#include <errno.h>
#include <fcntl.h>
#include <liburing.h>
#include <linux/falloc.h>
#include <linux/fs.h>
#include <linux/virtio_blk.h>
#include <linux/virtio_ids.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/file.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#define BLK_QUEUE_SIZE 256
#define CLASS_STORAGE_OTHER 0x018000
/* Segments in one request: the chain limit minus header and status. */
#define BLK_SEG_MAX (VIRTQ_MAX_SEGS - 2)
#define BLK_MAX_DISCARD_SECTORS (1u << 22)   /* 2 GiB per range */
#define BLK_MAX_DISCARD_SEG 32

/* Bounce buffers for direct=on requests whose buffers are not aligned
 * for O_DIRECT: larger requests are refused (IOERR). */
#define BLK_MAX_BOUNCE (32u << 20)
/* How long the worker spins for completions after submitting. */
#define BLK_POLL_NS 50000L
#define BLK_SUBMIT_BATCH 8

/* A read, write or flush in flight on the io_uring: what its completion
 * needs. The iovecs are the kernel's to read until then. */
struct blk_slot {
    uint16_t head;
    uint32_t type;                   /* VIRTIO_BLK_T_*, for the counters */
    uint8_t *status;
    uint32_t written;                /* the used length on success */
    int64_t expect;                  /* bytes the operation must move */
    struct iovec iov[VIRTQ_MAX_SEGS];
    unsigned niov;
};

struct blk {
    struct disk_config cfg;
    int fd;
    uint64_t capacity;               /* sectors */
    unsigned dio_align;              /* direct=on: buffer and length alignment */
    struct virtio_pci *vp;
    struct virtio_worker worker;
    struct virtq_chain chain;
    struct blk_request req;
    /* Asynchronous I/O: reads, writes and flushes go to an io_uring, up to
     * a queue's worth in flight; without io_uring (an old or locked-down
     * host) everything is served synchronously on the worker. */
    bool uring;
    struct io_uring ring;
    int ring_efd;
    struct blk_slot *slots;          /* BLK_QUEUE_SIZE of them */
    uint16_t free_slot[BLK_QUEUE_SIZE];
    unsigned nfree;
    /* Reads and writes completed successfully (vm.counters), indexed by
     * enum blk_stat: added to by the worker, read by the API's thread,
     * both relaxed. */
    uint64_t stats[4];
};

/* Reads, then writes (+1) of each. */
enum blk_stat { STAT_READ_BYTES, STAT_WRITE_BYTES, STAT_READ_OPS, STAT_WRITE_OPS };
static const char *const stat_names[] = { "read_bytes", "write_bytes", "read_ops", "write_ops" };

static int rw_all(int fd, struct iovec *iov, unsigned n, uint64_t off, bool write_);

void blk_close(struct blk *b)
{
    if (!b)
        return;
    if (b->uring) {
        io_uring_queue_exit(&b->ring);
        close(b->ring_efd);
    }
    free(b->slots);
    if (b->fd >= 0)
        close(b->fd);
    free(b);
}

/* Sets up the io_uring: one entry per queue slot, completions signalled on
 * an eventfd the worker waits on. Falls back to synchronous I/O. */
static void uring_init(struct blk *b)
{
    b->slots = calloc(BLK_QUEUE_SIZE, sizeof *b->slots);
    if (!b->slots)
        return;
    /* Cooperative task running: a completion does not interrupt the
     * worker while it polls; the kernel flags IORING_SQ_TASKRUN instead
     * and the worker collects completions when it looks. Kernels before
     * 5.19 lack it. */
    int ret = io_uring_queue_init(BLK_QUEUE_SIZE, &b->ring,
                                  IORING_SETUP_COOP_TASKRUN | IORING_SETUP_TASKRUN_FLAG);
    if (ret == -EINVAL)
        ret = io_uring_queue_init(BLK_QUEUE_SIZE, &b->ring, 0);
    if (ret < 0) {
        /* Kernels without io_uring, or with it disabled (io_uring_disabled,
         * seccomp), are a configuration; running out of descriptors or
         * memory is a problem the user should hear about. */
        if (ret == -EMFILE || ret == -ENFILE || ret == -ENOMEM)
            log_warn("--disk %s: no io_uring: %s; using synchronous I/O", b->cfg.path,
                     log_strerror(-ret));
        else
            log_debug("--disk %s: no io_uring (%s); synchronous I/O", b->cfg.path, log_strerror(-ret));
        return;
    }
    b->ring_efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (b->ring_efd < 0 || io_uring_register_eventfd(&b->ring, b->ring_efd) < 0) {
        log_warn("--disk %s: cannot signal io_uring completions: %s; using synchronous I/O",
                 b->cfg.path, log_strerror(errno));
        if (b->ring_efd >= 0)
            close(b->ring_efd);
        b->ring_efd = -1;
        io_uring_queue_exit(&b->ring);
        return;
    }
    for (unsigned i = 0; i < BLK_QUEUE_SIZE; i++)
        b->free_slot[i] = (uint16_t)(BLK_QUEUE_SIZE - 1 - i);
    b->nfree = BLK_QUEUE_SIZE;
    b->uring = true;
}

/* Whether every buffer and the length suit O_DIRECT. */
static bool dio_aligned(const struct blk *b, const struct blk_request *r)
{
    for (unsigned i = 0; i < r->ndata; i++)
        if (((uintptr_t)r->data[i].iov_base | r->data[i].iov_len) & (b->dio_align - 1))
            return false;
    return true;
}

/* A direct=on read or write whose buffers are not aligned: through an
 * aligned bounce buffer. */
static int rw_bounce(struct blk *b, const struct blk_request *r, bool write_)
{
    if (r->data_len > BLK_MAX_BOUNCE)
        return -1;
    void *buf;
    if (posix_memalign(&buf, 4096, r->data_len ? r->data_len : 1) != 0)
        return -1;
    struct iovec iov = { buf, r->data_len };
    int ret;
    if (write_) {
        iov_copy_from(r->data, r->ndata, 0, buf, r->data_len);
        ret = rw_all(b->fd, &iov, 1, r->sector * BLK_SECTOR, true);
    } else {
        ret = rw_all(b->fd, &iov, 1, r->sector * BLK_SECTOR, false);
        if (ret == 0)
            iov_copy_to(r->data, r->ndata, 0, buf, r->data_len);
    }
    free(buf);
    return ret;
}

int blk_open_file(const struct disk_config *cfg)
{
    /* Only a regular file or a block device, and without blocking (a
     * FIFO would hang the open forever): file_open_checked. */
    char why[128];
    int fd = file_open_checked(cfg->path, (cfg->readonly ? O_RDONLY : O_RDWR) |
                                              (cfg->direct ? O_DIRECT : 0), why, sizeof why);
    if (fd < 0 && cfg->direct && errno == EINVAL)
        log_error("--disk %s: direct=on, but its file system does not support O_DIRECT",
                  cfg->path);
    else if (fd < 0)
        log_error("--disk %s: %s", cfg->path, why);
    return fd;
}

struct blk *blk_open(const struct disk_config *cfg, int fd)
{
    if (fd < 0 && (fd = blk_open_file(cfg)) < 0)
        return NULL;
    struct blk *b = calloc(1, sizeof *b);
    if (!b) {
        close(fd);
        return NULL;
    }
    b->cfg = *cfg;
    b->ring_efd = -1;
    b->dio_align = BLK_SECTOR;
    b->fd = fd;
    /* A writer excludes everyone; readers share. */
    if (flock(b->fd, (cfg->readonly ? LOCK_SH : LOCK_EX) | LOCK_NB) < 0 &&
        !(errno == EWOULDBLOCK && cfg->lock_may_be_held)) {
        log_error("--disk %s: %s", cfg->path,
                  errno == EWOULDBLOCK ? "locked by another process (another kvmbox using it?)"
                                       : log_strerror(errno));
        goto fail;
    }
    struct stat st;
    uint64_t bytes = 0;
    if (fstat(b->fd, &st) < 0) {
        log_error("--disk %s: %s", cfg->path, log_strerror(errno));
        goto fail;
    }
    if (S_ISBLK(st.st_mode)) {
        if (ioctl(b->fd, BLKGETSIZE64, &bytes) < 0) {
            log_error("--disk %s: cannot get its size: %s", cfg->path, log_strerror(errno));
            goto fail;
        }
        int ssz;
        if (ioctl(b->fd, BLKSSZGET, &ssz) == 0 && ssz > (int)BLK_SECTOR)
            b->dio_align = (unsigned)ssz;
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
    uring_init(b);
    return b;
fail:
    blk_close(b);
    return NULL;
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
        /* Write zeroes the slow way where the file system cannot: one
         * zero page, repeated in an iovec (a 64 KiB array of zeroes in the
         * binary cost every VM its resident pages). */
        static const uint8_t zero_page[4096];
        struct iovec zv[16];
        for (unsigned z = 0; z < 16; z++)
            zv[z] = (struct iovec){ (void *)zero_page, sizeof zero_page };
        for (off_t done = 0; done < len;) {
            off_t left = len - done;
            int nv = 0;
            while (nv < 16 && left > 0) {
                zv[nv].iov_len = left < (off_t)sizeof zero_page ? (size_t)left : sizeof zero_page;
                left -= (off_t)zv[nv++].iov_len;
            }
            ssize_t w = pwritev(b->fd, zv, nv, off + done);
            if (w <= 0)
                return -1;
            done += w;
        }
    }
    return 0;
}

/* Counts a read or write that completed successfully; other requests
 * (flush, discard, get-id) are not counted, as Cloud Hypervisor does. */
static void count(struct blk *b, uint32_t type, uint64_t bytes)
{
    if (type != VIRTIO_BLK_T_IN && type != VIRTIO_BLK_T_OUT)
        return;
    unsigned w = type == VIRTIO_BLK_T_OUT;
    __atomic_fetch_add(&b->stats[STAT_READ_BYTES + w], bytes, __ATOMIC_RELAXED);
    __atomic_fetch_add(&b->stats[STAT_READ_OPS + w], 1, __ATOMIC_RELAXED);
}

static void blk_counters(const void *dev, device_counter_fn emit, void *ctx)
{
    device_emit_counters(((const struct blk *)dev)->stats, stat_names, 4, emit, ctx);
}

/* The used length of a read: data and status. It is 32 bits; a longer
 * read saturates. */
static uint32_t read_used_len(const struct blk_request *r)
{
    return r->data_len < UINT32_MAX ? (uint32_t)r->data_len + 1 : UINT32_MAX;
}

/* Serves the request parsed into b->req (`p` says how it parsed) on this
 * thread; returns the used length. */
static uint32_t execute(struct blk *b, enum blk_parse p)
{
    struct blk_request *r = &b->req;
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
        case VIRTIO_BLK_T_OUT: {
            bool write_ = r->type == VIRTIO_BLK_T_OUT;
            int ret = b->cfg.direct && !dio_aligned(b, r)
                          ? rw_bounce(b, r, write_)
                          : rw_all(b->fd, r->data, r->ndata, r->sector * BLK_SECTOR, write_);
            if (ret < 0) {
                status = VIRTIO_BLK_S_IOERR;
                break;
            }
            count(b, r->type, r->data_len);
            if (!write_)
                written = read_used_len(r);
            break;
        }
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

uint32_t blk_serve(struct blk *b, const struct virtq_chain *c)
{
    return execute(b, blk_parse_request(c, b->capacity, b->cfg.readonly, &b->req));
}

/* Puts the parsed read, write or flush (b->req) on the io_uring. Returns
 * false when it has to be served synchronously instead. */
static bool submit(struct blk *b, const struct virtq_chain *c)
{
    struct blk_request *r = &b->req;
    if (!b->uring || !b->nfree)
        return false;
    bool rw = r->type == VIRTIO_BLK_T_IN || r->type == VIRTIO_BLK_T_OUT;
    if (!rw && (r->type != VIRTIO_BLK_T_FLUSH || b->cfg.readonly))
        return false;
    if (rw && ((b->cfg.direct && !dio_aligned(b, r)) || r->data_len > INT32_MAX))
        return false;
    struct io_uring_sqe *sqe = io_uring_get_sqe(&b->ring);
    if (!sqe)
        return false;
    uint16_t i = b->free_slot[--b->nfree];
    struct blk_slot *s = &b->slots[i];
    s->head = c->head;
    s->type = r->type;
    s->status = r->status;
    s->written = r->type == VIRTIO_BLK_T_IN ? read_used_len(r) : 1;
    s->expect = rw ? (int64_t)r->data_len : 0;
    memcpy(s->iov, r->data, r->ndata * sizeof *r->data);
    s->niov = r->ndata;
    off_t off = (off_t)(r->sector * BLK_SECTOR);
    if (r->type == VIRTIO_BLK_T_IN)
        io_uring_prep_readv(sqe, b->fd, s->iov, r->ndata, off);
    else if (r->type == VIRTIO_BLK_T_OUT)
        io_uring_prep_writev(sqe, b->fd, s->iov, r->ndata, off);
    else
        io_uring_prep_fsync(sqe, b->fd, IORING_FSYNC_DATASYNC);
    io_uring_sqe_set_data64(sqe, i);
    return true;
}

static uint32_t serve(void *dev, const struct virtq_chain *c)
{
    struct blk *b = dev;
    enum blk_parse p = blk_parse_request(c, b->capacity, b->cfg.readonly, &b->req);
    if (p == BLK_PARSE_OK && submit(b, c)) {
        /* A long run of requests goes to the kernel in groups, so the
         * disk starts on the first while the rest are still parsed. */
        if (io_uring_sq_ready(&b->ring) >= BLK_SUBMIT_BATCH)
            io_uring_submit(&b->ring);
        return VIRTIO_SERVE_DEFERRED;
    }
    return execute(b, p);
}

/* Hands finished operations back to the driver. With `push` false (a
 * reset is under way) they are only accounted for. */
static void complete(struct blk *b, bool push)
{
    struct io_uring_cqe *cqe;
    bool pushed = false;
    while (io_uring_peek_cqe(&b->ring, &cqe) == 0) {
        uint16_t i = (uint16_t)io_uring_cqe_get_data64(cqe);
        struct blk_slot *s = &b->slots[i];
        /* A short transfer inside the disk means the file shrank or the
         * device failed: an I/O error either way. */
        bool ok = cqe->res >= 0 && cqe->res == s->expect;
        if (!ok)
            log_debug("virtio-blk: %s: operation returned %d of %lld", b->cfg.path, cqe->res,
                      (long long)s->expect);
        io_uring_cqe_seen(&b->ring, cqe);
        b->free_slot[b->nfree++] = i;
        if (!push)
            continue;
        *s->status = ok ? VIRTIO_BLK_S_OK : VIRTIO_BLK_S_IOERR;
        if (ok)
            count(b, s->type, (uint64_t)s->expect);
        /* The kernel wrote a read's buffers, on the VMM's behalf: KVM's
         * dirty log does not see that, a migration must. */
        const struct guest_mem *mem = virtio_pci_queue(b->vp, 0)->mem;
        if (s->type == VIRTIO_BLK_T_IN)
            guest_mem_dirty_iov(mem, s->iov, s->niov);
        guest_mem_dirty_host(mem, s->status, 1);
        virtq_push(virtio_pci_queue(b->vp, 0), s->head, ok ? s->written : 1);
        pushed = true;
    }
    if (pushed)
        virtio_pci_notify(b->vp, 0);
}

/* After submitting, the worker spins for a short while on the completion
 * queue and on the avail ring, as QEMU's adaptive polling does: a fast
 * file (page cache, NVMe) completes within it and a busy driver posts its
 * next request within it, which saves the worker a sleep and a wake-up
 * each time. At queue depth 1 that is most of the device's own latency.
 * Returns whether new requests are waiting. */
static bool poll_briefly(struct blk *b)
{
    struct virtq *vq = virtio_pci_queue(b->vp, 0);
    struct timespec t0, t;
    bool work = false;
    /* The driver need not kick while we watch the ring ourselves. */
    virtq_set_kicks(vq, false);
    clock_gettime(CLOCK_MONOTONIC, &t0);
    do {
        if (IO_URING_READ_ONCE(*b->ring.sq.kflags) & IORING_SQ_TASKRUN)
            io_uring_get_events(&b->ring);
        if (io_uring_cq_ready(&b->ring)) {
            complete(b, true);
            clock_gettime(CLOCK_MONOTONIC, &t0);
        }
        if ((work = virtq_has_work(vq)))
            break;
        __builtin_ia32_pause();
        clock_gettime(CLOCK_MONOTONIC, &t);
    } while ((t.tv_sec - t0.tv_sec) * 1000000000L + (t.tv_nsec - t0.tv_nsec) < BLK_POLL_NS);
    virtq_set_kicks(vq, true);
    return work || virtq_has_work(vq);
}

static void blk_event(void *dev, unsigned tag)
{
    struct blk *b = dev;
    if (tag != 0) {
        complete(b, true);
        return;
    }
    bool more;
    do {
        virtio_pci_serve_queue(b->vp, 0, &b->chain, serve, b);
        more = b->uring && io_uring_submit(&b->ring) >= 0 && b->nfree < BLK_QUEUE_SIZE &&
               poll_briefly(b);
    } while (more);
}

static int blk_activate(void *dev)
{
    struct blk *b = dev;
    return virtio_pci_start_worker(b->vp, &b->worker, "virtio-blk", SANDBOX_BLOCK, blk_event, b,
                                   b->uring ? b->ring_efd : -1);
}

/* Waits for every operation in flight (which still writes into guest
 * memory) and completes it: returned to the driver with `push`, only
 * accounted for without (a reset forgets the queue). */
static void wait_in_flight(struct blk *b, bool push)
{
    if (!b->uring)
        return;
    /* What serve prepared and a failed submit left behind goes now. */
    if (io_uring_sq_ready(&b->ring))
        io_uring_submit(&b->ring);
    while (b->nfree < BLK_QUEUE_SIZE) {
        struct io_uring_cqe *cqe;
        int ret = io_uring_wait_cqe(&b->ring, &cqe);
        if (ret == -EINTR)
            continue;
        if (ret < 0) {
            log_warn("virtio-blk: %s: waiting for I/O in flight: %s", b->cfg.path, log_strerror(-ret));
            break;
        }
        complete(b, push);
    }
}

static void blk_reset(void *dev)
{
    struct blk *b = dev;
    worker_stop(&b->worker);
    wait_in_flight(b, false);
}

/* The VM's pause, on the worker before it parks: every request taken from
 * the ring is completed, in the used ring and notified; what the driver
 * posted but the worker has not taken stays in the avail ring. Run on the
 * worker because the io_uring's completions are this thread's task work
 * (cooperative task running). */
static void blk_quiesce(void *dev) { wait_in_flight(dev, true); }

static void blk_pause(void *dev)
{
    struct blk *b = dev;
    worker_pause(&b->worker, blk_quiesce);
}

static void blk_resume(void *dev)
{
    struct blk *b = dev;
    worker_resume(&b->worker);
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
    virtio_config_copy(&c, sizeof c, off, data, len);
}

static void blk_destroy(void *dev) { blk_close(dev); }

/* What the guest's driver knows of the disk and relies on: a snapshot
 * restored onto a disk of another size or writability would corrupt it, so
 * the restore refuses it by name. (Requests in flight are not state: the
 * pause completed them all.) */
static void blk_save(const void *dev, struct state_writer *w)
{
    const struct blk *b = dev;
    state_put_u64(w, b->capacity);
    state_put_u8(w, b->cfg.readonly);
}

static int blk_load(void *dev, struct state_reader *r)
{
    struct blk *b = dev;
    uint64_t capacity = state_get_u64(r);
    bool readonly = state_get_u8(r) != 0;
    if (r->failed)
        return -1;
    if (capacity != b->capacity) {
        log_error("disk %s: the snapshot's disk has %llu bytes, %s has %llu", b->vp->id,
                  (unsigned long long)capacity * BLK_SECTOR, b->cfg.path,
                  (unsigned long long)b->capacity * BLK_SECTOR);
        return -1;
    }
    if (readonly != b->cfg.readonly) {
        log_error("disk %s: the snapshot's disk was %s, this one is %s", b->vp->id,
                  readonly ? "read-only" : "writable", b->cfg.readonly ? "read-only" : "writable");
        return -1;
    }
    return 0;
}

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
    .pause = blk_pause,
    .resume = blk_resume,
    .save = blk_save,
    .load = blk_load,
    .destroy = blk_destroy,
    .counters = blk_counters,
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
    *out = (struct device){ .ops = &virtio_pci_device_ops, .dev = b->vp };
    return b->vp;
}
