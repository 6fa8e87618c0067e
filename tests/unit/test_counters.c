/* The devices' counters (device_ops.counters, the API's vm.counters) as
 * the VMM reads them, through the virtio transport, without knowing the
 * device type: virtio-blk counts the reads and writes it completed,
 * successfully, with their bytes (not flushes, not failed requests);
 * virtio-net the frames and bytes each way, without the virtio-net
 * header (not dropped runts). Also the PCI address (device_ops.pci_bdf)
 * and a device with no counters (virtio-rng). */
#include "fake_host.h"
#include "pci_rig.h"
#include "virtio_driver.h"
#include "vq_driver.h"

#include "devices/net/backend.h"
#include "devices/pci/pci.h"
#include "devices/virtio/blk.h"
#include "devices/virtio/net.h"
#include "devices/virtio/rng.h"

#include <fcntl.h>
#include <linux/virtio_blk.h>
#include <linux/virtio_net.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#define SLOT 1
#define RINGS 0x10000
#define BUFS 0x100000
#define DATA 0x400000

struct rig {
    struct fake_host f;
    struct device hostdev, dev;
    struct pci_host *h;
    struct vq_driver drv[2];
};

static struct rig *rig_new(void)
{
    struct rig *r = test_calloc(1, sizeof *r);
    r->h = pci_rig_init(&r->f, &r->hostdev);
    return r;
}

static void rig_free(struct rig *r)
{
    pci_rig_fini(&r->f, &r->hostdev, &r->dev);
    test_free(r);
}

/* What one call of the counters op emitted, in order. */
struct seen {
    const char *name[8];
    uint64_t value[8];
    unsigned n;
};

static void collect(void *ctx, const char *name, uint64_t value)
{
    struct seen *s = ctx;
    assert_true(s->n < 8);
    s->name[s->n] = name;
    s->value[s->n++] = value;
}

static struct seen counters_of(struct rig *r)
{
    struct seen s = { .n = 0 };
    assert_non_null(r->dev.ops->counters);
    r->dev.ops->counters(r->dev.dev, collect, &s);
    return s;
}

/* The emitted counters are exactly `names`, with `values`. */
static void assert_counters(struct rig *r, const char *const names[4], const uint64_t values[4])
{
    struct seen s = counters_of(r);
    assert_int_equal(s.n, 4);
    for (unsigned i = 0; i < 4; i++) {
        assert_string_equal(s.name[i], names[i]);
        assert_int_equal(s.value[i], values[i]);
    }
}

static void wait_used(struct vq_driver *d, unsigned n)
{
    uint16_t id;
    uint32_t len;
    for (unsigned i = 0; i < n; i++)
        assert_true(vdrv_wait_used(d, &id, &len));
}

/* ---- virtio-blk ---- */

static const char *const blk_names[4] = { "read_bytes", "write_bytes", "read_ops", "write_ops" };

/* Request i: a header, `len` data bytes at DATA + i * 64 KiB, a status. */
static void blk_post(struct rig *r, unsigned i, uint32_t type, uint64_t sector, uint32_t len)
{
    uint64_t hdr = BUFS + i * 64, data = DATA + (uint64_t)i * 0x10000;
    struct virtio_blk_outhdr h = { .type = type, .sector = sector };
    guest_mem_write(&r->f.mem, hdr, &h, sizeof h);
    struct vq_buf b[3] = { { hdr, sizeof h, false } };
    unsigned n = 1;
    if (len)
        b[n++] = (struct vq_buf){ data, len, type == VIRTIO_BLK_T_IN };
    b[n++] = (struct vq_buf){ hdr + 32, 1, true };
    assert_true(vqd_add(&r->drv[0], b, n, 0) >= 0);
}

static void blk_counts_completed_reads_and_writes(void **state)
{
    (void)state;
    struct rig *r = rig_new();
    /* In the current directory, as test_pci_virtio's disks: O_DIRECT and
     * io_uring want a real file system. */
    char path[] = "kvmbox-counters-XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0 && ftruncate(fd, 1 << 20) == 0);
    close(fd);
    struct disk_config cfg = { .readonly = false };
    snprintf(cfg.path, sizeof cfg.path, "%s", path);
    struct blk *b = blk_open(&cfg, -1);
    unlink(path);
    assert_non_null(b);
    assert_non_null(virtio_blk_create(r->h, b, &r->dev));
    char bdf[32] = "";
    assert_true(r->dev.ops->pci_bdf(r->dev.dev, bdf, sizeof bdf));
    assert_string_equal(bdf, "0000:00:01.0");
    assert_counters(r, blk_names, (const uint64_t[4]){ 0, 0, 0, 0 });
    assert_int_equal(vdrv_bring_up(&r->f, SLOT, 0, r->drv, 1, RINGS), 0x0f);

    /* A write of 8 KiB, then a read of 4 KiB and a flush. */
    blk_post(r, 0, VIRTIO_BLK_T_OUT, 0, 8192);
    vdrv_kick(&r->f, SLOT, &r->drv[0], 0);
    wait_used(&r->drv[0], 1);
    blk_post(r, 1, VIRTIO_BLK_T_IN, 8, 4096);
    blk_post(r, 2, VIRTIO_BLK_T_FLUSH, 0, 0);
    vdrv_kick(&r->f, SLOT, &r->drv[0], 0);
    wait_used(&r->drv[0], 2);
    assert_counters(r, blk_names, (const uint64_t[4]){ 4096, 8192, 1, 1 });

    /* Refused requests (past the end) count nothing. */
    blk_post(r, 3, VIRTIO_BLK_T_IN, 1 << 20, 4096);
    blk_post(r, 4, VIRTIO_BLK_T_OUT, 1 << 20, 4096);
    vdrv_kick(&r->f, SLOT, &r->drv[0], 0);
    wait_used(&r->drv[0], 2);
    assert_counters(r, blk_names, (const uint64_t[4]){ 4096, 8192, 1, 1 });
    rig_free(r);
}

/* ---- virtio-net ---- */

static const char *const net_names[4] = { "rx_bytes", "rx_frames", "tx_bytes", "tx_frames" };

/* A backend that drops what the guest sends and, for each write to its
 * eventfd, offers the guest one RX_LEN-byte frame. */
#define RX_LEN 100

struct counting_be {
    struct net_backend be;
    int efd;
};

static void cb_send(struct net_backend *be, const struct iovec *iov, unsigned n, size_t len)
{
    (void)be, (void)iov, (void)n, (void)len;
}

static unsigned cb_poll_fill(struct net_backend *be, struct pollfd *p, unsigned max, int *timeout,
                             bool rx)
{
    (void)max, (void)timeout;
    p->fd = rx ? ((struct counting_be *)be)->efd : -1;
    p->events = POLLIN;
    return 1;
}

static void cb_poll_done(struct net_backend *be, const struct pollfd *p, unsigned n)
{
    static const uint8_t frame[RX_LEN];
    static const struct virtio_net_hdr_v1 hdr;
    uint64_t frames;
    (void)n;
    if ((p->revents & POLLIN) && read(p->fd, &frames, sizeof frames) == sizeof frames)
        while (frames-- && be->deliver(be->nic, &hdr, frame, sizeof frame))
            ;
}

static void cb_offloads(struct net_backend *be, uint64_t features) { (void)be, (void)features; }

static void cb_close(struct net_backend *be)
{
    close(((struct counting_be *)be)->efd);
    free(be);
}

static const struct net_backend_ops cb_ops = {
    .send = cb_send, .poll_fill = cb_poll_fill, .poll_done = cb_poll_done,
    .set_offloads = cb_offloads, .close = cb_close,
};

static void net_counts_frames_each_way(void **state)
{
    (void)state;
    struct rig *r = rig_new();
    struct counting_be *be = calloc(1, sizeof *be);
    assert_non_null(be);
    be->be.ops = &cb_ops;
    be->efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    const uint8_t mac[6] = { 0x52, 0x54, 0, 1, 2, 3 };
    assert_non_null(virtio_net_create(r->h, &be->be, mac, &r->dev));
    assert_int_equal(vdrv_bring_up(&r->f, SLOT, 0, r->drv, 2, RINGS), 0x0f);

    /* Sent: a 60-byte frame and a 1000-byte one; a runt is dropped. */
    const uint32_t sizes[3] = { 60, 1000, 4 };
    for (unsigned i = 0; i < 3; i++) {
        struct vq_buf tx = { BUFS + i * 0x1000, (uint32_t)NET_HDR_LEN + sizes[i], false };
        assert_true(vqd_add(&r->drv[1], &tx, 1, 0) >= 0);
    }
    vdrv_kick(&r->f, SLOT, &r->drv[1], 1);
    wait_used(&r->drv[1], 3);
    /* Received: two frames into two buffers. */
    for (unsigned i = 0; i < 2; i++) {
        struct vq_buf rx = { DATA + i * 0x1000, 2048, true };
        assert_true(vqd_add(&r->drv[0], &rx, 1, 0) >= 0);
    }
    vdrv_kick(&r->f, SLOT, &r->drv[0], 0);
    uint64_t two = 2;
    assert_int_equal(write(be->efd, &two, sizeof two), (ssize_t)sizeof two);
    wait_used(&r->drv[0], 2);
    assert_counters(r, net_names, (const uint64_t[4]){ 2 * RX_LEN, 2, 1060, 2 });
    rig_free(r);
}

/* A device that counts nothing emits nothing, through the same op. */
static void rng_counts_nothing(void **state)
{
    (void)state;
    struct rig *r = rig_new();
    assert_non_null(virtio_rng_create(r->h, &r->dev));
    assert_int_equal(counters_of(r).n, 0);
    rig_free(r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(blk_counts_completed_reads_and_writes),
        cmocka_unit_test(net_counts_frames_each_way),
        cmocka_unit_test(rng_counts_nothing),
    };
    return cmocka_run_group_tests_name("counters", tests, NULL, NULL);
}
