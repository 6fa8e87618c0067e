/* virtio-net and virtio-console through the PCI transport, driven as a
 * guest's drivers would: frames each way (runts, oversized frames, no
 * receive buffer yet), the configuration, the console's output, input with
 * flow control and emergency write; and the slirp backend's glue. */
#include "fake_host.h"
#include "virtio_driver.h"
#include "vq_driver.h"

#include "devices/net/backend.h"
#include "devices/pci/pci.h"
#include "devices/virtio/console.h"
#include "devices/virtio/net.h"
#include "devices/virtio/virtio_pci.h"

#include <fcntl.h>
#include <linux/virtio_console.h>
#include <linux/virtio_net.h>
#include <stdlib.h>
#include <unistd.h>

#define SLOT 1
#define RINGS 0x10000
#define BUFS 0x100000

/* A backend over a pipe: frames the guest sends are recorded; a frame
 * written to rx_pipe is delivered when the guest has a buffer. */
struct fake_be {
    struct net_backend be;
    int rx_pipe[2];
    uint8_t sent[2048];
    size_t sent_len;
    unsigned nsent;
    uint64_t offloads;
    uint8_t pending[2048];
    size_t pending_len;
};

static void fb_send(struct net_backend *be, const struct iovec *iov, unsigned n, size_t len)
{
    struct fake_be *f = (struct fake_be *)be;
    f->sent_len = iov_copy_from(iov, n, 0, f->sent, len < sizeof f->sent ? len : sizeof f->sent);
    __atomic_fetch_add(&f->nsent, 1, __ATOMIC_SEQ_CST);
}

static unsigned fb_poll_fill(struct net_backend *be, struct pollfd *p, unsigned max, int *timeout,
                             bool rx)
{
    struct fake_be *f = (struct fake_be *)be;
    (void)max, (void)timeout;
    p[0] = (struct pollfd){ .fd = rx ? f->rx_pipe[0] : -1, .events = POLLIN };
    return 1;
}

static void fb_poll_done(struct net_backend *be, const struct pollfd *p, unsigned n)
{
    struct fake_be *f = (struct fake_be *)be;
    (void)n;
    if (!f->pending_len && (p[0].revents & POLLIN)) {
        ssize_t got = read(f->rx_pipe[0], f->pending, sizeof f->pending);
        f->pending_len = got > 0 ? (size_t)got : 0;
    }
    static const struct virtio_net_hdr_v1 hdr = { .flags = VIRTIO_NET_HDR_F_DATA_VALID };
    if (f->pending_len && be->deliver(be->nic, &hdr, f->pending, f->pending_len))
        f->pending_len = 0;
}

static void fb_set_offloads(struct net_backend *be, uint64_t features)
{
    ((struct fake_be *)be)->offloads = features;
}

static void fb_close(struct net_backend *be)
{
    struct fake_be *f = (struct fake_be *)be;
    close(f->rx_pipe[0]);
    close(f->rx_pipe[1]);
    free(f);
}

static const struct net_backend_ops fb_ops = {
    .send = fb_send, .poll_fill = fb_poll_fill, .poll_done = fb_poll_done,
    .set_offloads = fb_set_offloads, .close = fb_close,
};

struct rig {
    struct fake_host f;
    struct device hostdev, dev;
    struct pci_host *h;
    struct vq_driver drv[2];
};

static void rig_destroy(struct rig *r)
{
    r->dev.ops->destroy(r->dev.dev);
    r->hostdev.ops->destroy(r->hostdev.dev);
    fake_host_destroy(&r->f);
    test_free(r);
}

static void net_frames(void **state)
{
    (void)state;
    struct rig *r = test_calloc(1, sizeof *r);
    fake_host_init(&r->f, 32 * MB);
    r->h = pci_host_create(&r->f.host, &test_layout, &r->hostdev);
    struct fake_be *be = calloc(1, sizeof *be);
    assert_int_equal(pipe2(be->rx_pipe, O_NONBLOCK | O_CLOEXEC), 0);
    be->be.ops = &fb_ops;
    be->be.features = 1ull << VIRTIO_NET_F_GUEST_CSUM;
    const uint8_t mac[6] = { 0x52, 0x54, 0, 1, 2, 3 };
    assert_non_null(virtio_net_create(r->h, &be->be, mac, &r->dev));
    assert_int_equal(cf8_read(&r->f, SLOT, 0), 0x10411af4);   /* modern virtio-net */
    uint64_t bar = vdrv_bar4(&r->f, SLOT);
    mmio_write(&r->f, bar + VIRTIO_PCI_COMMON_DFSELECT, 0, 4);
    uint32_t offered = (uint32_t)mmio_read(&r->f, bar + VIRTIO_PCI_COMMON_DF, 4);
    assert_true(offered & (1u << VIRTIO_NET_F_MAC));
    assert_true(offered & (1u << VIRTIO_NET_F_STATUS));
    assert_true(offered & (1u << VIRTIO_NET_F_GUEST_CSUM));
    /* MAC and link status in the device configuration. */
    for (int i = 0; i < 6; i++)
        assert_int_equal(mmio_read(&r->f, bar + VDRV_DEVICE_CFG + i, 1), mac[i]);
    assert_int_equal(mmio_read(&r->f, bar + VDRV_DEVICE_CFG + 6, 2), VIRTIO_NET_S_LINK_UP);

    uint64_t features = (1ull << VIRTIO_NET_F_MAC) | (1ull << VIRTIO_NET_F_GUEST_CSUM);
    assert_int_equal(vdrv_bring_up(&r->f, SLOT, features, r->drv, 2, RINGS), 0x0f);
    assert_true(be->offloads & (1ull << VIRTIO_NET_F_GUEST_CSUM));

    /* Transmit: header and frame in separate buffers reach the backend
     * whole; a runt is returned but not sent. */
    struct virtio_net_hdr_v1 hdr = { 0 };
    uint8_t frame[60];
    for (unsigned i = 0; i < sizeof frame; i++)
        frame[i] = (uint8_t)(i * 7);
    guest_mem_write(&r->f.mem, BUFS, &hdr, sizeof hdr);
    guest_mem_write(&r->f.mem, BUFS + 0x100, frame, sizeof frame);
    struct vq_buf tx[] = { { BUFS, sizeof hdr, false }, { BUFS + 0x100, sizeof frame, false } };
    vqd_add(&r->drv[1], tx, 2, 0);
    vdrv_kick(&r->f, SLOT, &r->drv[1], 1);
    uint16_t id;
    uint32_t len;
    assert_true(vdrv_wait_used(&r->drv[1], &id, &len));
    assert_int_equal(len, 0);
    assert_int_equal(__atomic_load_n(&be->nsent, __ATOMIC_SEQ_CST), 1);
    assert_int_equal(be->sent_len, sizeof hdr + sizeof frame);
    assert_memory_equal(be->sent + sizeof hdr, frame, sizeof frame);
    struct vq_buf runt[] = { { BUFS, sizeof hdr, false }, { BUFS + 0x100, 8, false } };
    vqd_add(&r->drv[1], runt, 2, 0);
    vdrv_kick(&r->f, SLOT, &r->drv[1], 1);
    assert_true(vdrv_wait_used(&r->drv[1], &id, &len));
    assert_int_equal(__atomic_load_n(&be->nsent, __ATOMIC_SEQ_CST), 1);

    /* Receive: a frame that arrives before any buffer waits for one. */
    uint8_t in[100];
    for (unsigned i = 0; i < sizeof in; i++)
        in[i] = (uint8_t)(0xa0 + i);
    assert_int_equal(write(be->rx_pipe[1], in, sizeof in), (ssize_t)sizeof in);
    usleep(20000);
    assert_false(vqd_get_used(&r->drv[0], &id, &len));
    struct vq_buf rx = { BUFS + 0x1000, 1526, true };
    vqd_add(&r->drv[0], &rx, 1, 0);
    vdrv_kick(&r->f, SLOT, &r->drv[0], 0);
    assert_true(vdrv_wait_used(&r->drv[0], &id, &len));
    assert_int_equal(len, sizeof hdr + sizeof in);
    struct virtio_net_hdr_v1 got;
    guest_mem_read(&r->f.mem, BUFS + 0x1000, &got, sizeof got);
    assert_int_equal(got.num_buffers, 1);
    assert_int_equal(got.flags, VIRTIO_NET_HDR_F_DATA_VALID);
    assert_memory_equal(guest_mem_ptr(&r->f.mem, BUFS + 0x1000 + sizeof hdr, sizeof in), in,
                        sizeof in);
    /* A frame larger than the buffer comes back as an empty buffer. */
    struct vq_buf small = { BUFS + 0x2000, 40, true };
    vqd_add(&r->drv[0], &small, 1, 0);
    vdrv_kick(&r->f, SLOT, &r->drv[0], 0);
    assert_int_equal(write(be->rx_pipe[1], in, sizeof in), (ssize_t)sizeof in);
    assert_true(vdrv_wait_used(&r->drv[0], &id, &len));
    assert_int_equal(len, 0);
    /* A reset stops the NIC's thread. */
    mmio_write(&r->f, bar + VIRTIO_PCI_COMMON_STATUS, 0, 1);
    rig_destroy(r);
}

static int console_pipe[2];
static unsigned rx_space_calls;
static void on_rx_space(void *ctx)
{
    (void)ctx;
    __atomic_fetch_add(&rx_space_calls, 1, __ATOMIC_SEQ_CST);
}

static void console_io(void **state)
{
    (void)state;
    struct rig *r = test_calloc(1, sizeof *r);
    fake_host_init(&r->f, 32 * MB);
    r->h = pci_host_create(&r->f.host, &test_layout, &r->hostdev);
    assert_int_equal(pipe2(console_pipe, O_NONBLOCK | O_CLOEXEC), 0);
    r->f.console_fd = console_pipe[1];
    struct virtio_console *con = virtio_console_create(r->h, on_rx_space, NULL, &r->dev);
    assert_non_null(con);
    assert_int_equal(cf8_read(&r->f, SLOT, 0), 0x10431af4);   /* modern virtio-console */
    /* Before the driver is up, input waits. */
    assert_false(virtio_console_can_receive(con));
    assert_int_equal(virtio_console_receive(con, (const uint8_t *)"x", 1), 0);
    assert_int_equal(vdrv_bring_up(&r->f, SLOT, 1ull << VIRTIO_CONSOLE_F_EMERG_WRITE, r->drv, 2,
                                   RINGS), 0x0f);
    assert_true(__atomic_load_n(&rx_space_calls, __ATOMIC_SEQ_CST) >= 1);
    /* Up, but no receive buffer: still refused; a buffer wakes the main loop. */
    assert_false(virtio_console_can_receive(con));
    unsigned calls = __atomic_load_n(&rx_space_calls, __ATOMIC_SEQ_CST);
    struct vq_buf rx = { BUFS, 4, true };
    vqd_add(&r->drv[0], &rx, 1, 0);
    vdrv_kick(&r->f, SLOT, &r->drv[0], 0);
    for (int i = 0; i < 2000 && __atomic_load_n(&rx_space_calls, __ATOMIC_SEQ_CST) == calls; i++)
        usleep(1000);
    assert_int_equal(__atomic_load_n(&rx_space_calls, __ATOMIC_SEQ_CST), calls + 1);
    assert_true(virtio_console_can_receive(con));
    /* Input longer than the buffer: it takes what fits. */
    assert_int_equal(virtio_console_receive(con, (const uint8_t *)"hello", 5), 4);
    uint16_t id;
    uint32_t len;
    assert_true(vqd_get_used(&r->drv[0], &id, &len));
    assert_int_equal(len, 4);
    assert_memory_equal(guest_mem_ptr(&r->f.mem, BUFS, 4), "hell", 4);
    assert_false(virtio_console_can_receive(con));

    /* Output: two buffers of one chain, written in order. */
    guest_mem_write(&r->f.mem, BUFS + 0x1000, "out ", 4);
    guest_mem_write(&r->f.mem, BUFS + 0x2000, "put\n", 4);
    struct vq_buf tx[] = { { BUFS + 0x1000, 4, false }, { BUFS + 0x2000, 4, false } };
    vqd_add(&r->drv[1], tx, 2, 0);
    vdrv_kick(&r->f, SLOT, &r->drv[1], 1);
    assert_true(vdrv_wait_used(&r->drv[1], &id, &len));
    char out[16] = { 0 };
    assert_int_equal(read(console_pipe[0], out, sizeof out), 8);
    assert_string_equal(out, "out put\n");
    /* Emergency write: one character through the configuration. */
    mmio_write(&r->f, vdrv_bar4(&r->f, SLOT) + VDRV_DEVICE_CFG + 8, '!', 4);
    assert_int_equal(read(console_pipe[0], out, sizeof out), 1);
    assert_int_equal(out[0], '!');
    /* After a reset, input is refused again. */
    mmio_write(&r->f, vdrv_bar4(&r->f, SLOT) + VIRTIO_PCI_COMMON_STATUS, 0, 1);
    assert_false(virtio_console_can_receive(con));
    rig_destroy(r);
    close(console_pipe[0]);
    close(console_pipe[1]);
}

/* The slirp glue without a network: an ARP request for the gateway is
 * answered at once through deliver. */
static uint8_t slirp_reply[128];
static size_t slirp_reply_len;
static bool capture(void *nic, const struct virtio_net_hdr_v1 *hdr, const uint8_t *frame,
                    size_t len)
{
    (void)nic, (void)hdr;
    slirp_reply_len = len;
    memcpy(slirp_reply, frame, len < sizeof slirp_reply ? len : sizeof slirp_reply);
    return true;
}

static void slirp_answers_arp(void **state)
{
    (void)state;
    struct net_config cfg = { .kind = NET_USER };
    struct net_backend *be = net_slirp_open(&cfg);
    assert_non_null(be);
    be->deliver = capture;
    static const uint8_t arp[42] = {
        0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x52, 0x54, 0, 0x12, 0x34, 0x56, 0x08, 0x06,
        0, 1, 0x08, 0, 6, 4, 0, 1,                       /* Ethernet/IPv4, request */
        0x52, 0x54, 0, 0x12, 0x34, 0x56, 10, 0, 2, 15,   /* sender: the guest */
        0, 0, 0, 0, 0, 0, 10, 0, 2, 2,                   /* target: the gateway */
    };
    uint8_t pkt[NET_HDR_LEN + sizeof arp] = { 0 };
    memcpy(pkt + NET_HDR_LEN, arp, sizeof arp);
    struct iovec iov = { pkt, sizeof pkt };
    be->ops->send(be, &iov, 1, sizeof pkt);
    assert_true(slirp_reply_len >= 42);
    assert_int_equal(slirp_reply[12], 0x08);
    assert_int_equal(slirp_reply[13], 0x06);             /* ARP */
    assert_int_equal(slirp_reply[21], 2);                /* a reply */
    static const uint8_t gateway[4] = { 10, 0, 2, 2 }, guest[4] = { 10, 0, 2, 15 };
    assert_memory_equal(slirp_reply + 28, gateway, 4);
    assert_memory_equal(slirp_reply + 38, guest, 4);
    be->ops->close(be);
}

static void tap_missing(void **state)
{
    (void)state;
    assert_null(net_tap_open("kvmbox-nope0", -1));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(net_frames),
        cmocka_unit_test(console_io),
        cmocka_unit_test(slirp_answers_arp),
        cmocka_unit_test(tap_missing),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
