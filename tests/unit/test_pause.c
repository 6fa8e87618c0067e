/* The VM's pause and resume as the devices see it (device_ops.pause /
 * resume): the worker parks only after its quiesce hook ran, on its own
 * thread; virtio-blk completes what it took before pause returns;
 * virtio-rng, virtio-console and virtio-net write no guest memory, take no
 * request and read no input while paused, and carry on after the resume,
 * with nothing lost. Also: pause then reset, pause twice, resume without
 * pause, destroy while paused, a device activated while paused. A hang is
 * the likely failure, so every test runs under an alarm. */
#include "fake_host.h"
#include "pci_rig.h"
#include "virtio_driver.h"
#include "vq_driver.h"

#include "devices/net/backend.h"
#include "devices/pci/pci.h"
#include "devices/virtio/blk.h"
#include "devices/virtio/console.h"
#include "devices/virtio/net.h"
#include "devices/virtio/rng.h"
#include "devices/virtio/virtio_pci.h"
#include "devices/virtio/worker.h"

#include <fcntl.h>
#include <linux/virtio_blk.h>
#include <linux/virtio_net.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/eventfd.h>
#include <unistd.h>

#define SLOT 1
#define RINGS 0x10000
#define BUFS 0x100000
#define HANG_LIMIT_S 20
/* How long a paused device is given to misbehave. Nothing waits for it to
 * do something: the assertions are that it did not. */
#define QUIET_US 50000

static void on_alarm(int sig)
{
    (void)sig;
    static const char msg[] = "test_pause: hung\n";
    if (write(STDERR_FILENO, msg, sizeof msg - 1) < 0) {
        /* nothing more to do */
    }
    _exit(2);
}

struct rig {
    struct fake_host f;
    struct device hostdev, dev;
    struct pci_host *h;
    struct virtio_pci *vp;
    struct vq_driver drv[2];
};

static void arm_alarm(void)
{
    signal(SIGALRM, on_alarm);
    alarm(HANG_LIMIT_S);
}

static struct rig *rig_new(void)
{
    arm_alarm();
    struct rig *r = test_calloc(1, sizeof *r);
    r->h = pci_rig_init(&r->f, &r->hostdev);
    return r;
}

static void rig_free(struct rig *r)
{
    pci_rig_fini(&r->f, &r->hostdev, &r->dev);
    test_free(r);
    alarm(0);
}

static void vm_pause(struct rig *r) { r->dev.ops->pause(r->dev.dev); }
static void vm_resume(struct rig *r) { r->dev.ops->resume(r->dev.dev); }

/* Used entries the driver finds now, without waiting. */
static unsigned used_now(struct vq_driver *d)
{
    uint16_t id;
    uint32_t len;
    unsigned n = 0;
    while (vqd_get_used(d, &id, &len))
        n++;
    return n;
}

static uint16_t taken(struct rig *r, unsigned q)
{
    return __atomic_load_n(&virtio_pci_queue(r->vp, q)->last_avail, __ATOMIC_SEQ_CST);
}

static bool all_bytes(struct rig *r, uint64_t gpa, uint8_t v, size_t len)
{
    const uint8_t *p = guest_mem_ptr(&r->f.mem, gpa, len);
    for (size_t i = 0; i < len; i++)
        if (p[i] != v)
            return false;
    return true;
}

/* The worker alone: the quiesce hook runs on the worker's thread before
 * pause returns; a kick while paused waits for the resume. */
struct probe {
    int efd;
    pthread_t fn_thread, quiesce_thread;
    unsigned calls, quiesces;
};

static void probe_fn(void *dev, unsigned tag)
{
    struct probe *p = dev;
    (void)tag;
    p->fn_thread = pthread_self();
    __atomic_fetch_add(&p->calls, 1, __ATOMIC_SEQ_CST);
}

static void probe_quiesce(void *dev)
{
    struct probe *p = dev;
    p->quiesce_thread = pthread_self();
    __atomic_fetch_add(&p->quiesces, 1, __ATOMIC_SEQ_CST);
}

static void kick_fd(int fd)
{
    uint64_t one = 1;
    assert_int_equal(write(fd, &one, sizeof one), (ssize_t)sizeof one);
}

static void wait_calls(struct probe *p, unsigned n)
{
    for (int i = 0; i < 2000 && __atomic_load_n(&p->calls, __ATOMIC_SEQ_CST) < n; i++)
        usleep(1000);
    assert_int_equal(__atomic_load_n(&p->calls, __ATOMIC_SEQ_CST), n);
}

static void worker_handshake(void **state)
{
    (void)state;
    arm_alarm();
    struct probe p = { .efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK) };
    struct virtio_worker w;
    worker_init(&w, "probe", probe_fn, &p);
    worker_pause(&w, probe_quiesce);             /* not running: a no-op */
    worker_resume(&w);
    assert_int_equal(worker_add_fd(&w, p.efd, 0, true), 0);
    assert_int_equal(worker_start(&w, NULL, SANDBOX_DEVICE), 0);
    kick_fd(p.efd);
    wait_calls(&p, 1);
    worker_pause(&w, probe_quiesce);
    assert_int_equal(p.quiesces, 1);
    assert_true(pthread_equal(p.quiesce_thread, p.fn_thread));
    worker_pause(&w, probe_quiesce);             /* already parked */
    assert_int_equal(p.quiesces, 1);
    kick_fd(p.efd);
    usleep(QUIET_US);
    assert_int_equal(__atomic_load_n(&p.calls, __ATOMIC_SEQ_CST), 1);
    worker_resume(&w);
    wait_calls(&p, 2);                           /* the kick was kept */
    worker_resume(&w);                           /* not paused: harmless */
    /* Pause, resume at once, pause again: parked each time. */
    for (int i = 0; i < 20; i++) {
        worker_pause(&w, NULL);
        worker_resume(&w);
    }
    kick_fd(p.efd);
    wait_calls(&p, 3);
    /* A stop ends a parked worker. */
    worker_pause(&w, NULL);
    worker_stop(&w);
    worker_pause(&w, NULL);                      /* stopped: a no-op */
    close(p.efd);
    alarm(0);
}

/* virtio-blk: what the worker took is completed when pause returns. */
static struct rig *blk_rig(size_t disk_bytes)
{
    struct rig *r = rig_new();
    char disk_path[64];
    snprintf(disk_path, sizeof disk_path, "kvmbox-pause-XXXXXX");
    int fd = mkstemp(disk_path);
    assert_true(fd >= 0);
    assert_int_equal(ftruncate(fd, (off_t)disk_bytes), 0);
    close(fd);
    struct disk_config cfg = { 0 };
    snprintf(cfg.path, sizeof cfg.path, "%s", disk_path);
    struct blk *b = blk_open(&cfg, -1);
    unlink(disk_path);                            /* open: no file left behind, whatever fails */
    assert_non_null(b);
    r->vp = virtio_blk_create(r->h, b, &r->dev);
    assert_non_null(r->vp);
    assert_int_equal(vdrv_bring_up_size(&r->f, SLOT, 0, r->drv, 1, RINGS, 128), 0x0f);
    return r;
}

enum { BLK_SZ = 64 * 1024 };

/* Request i: header at BUFS + i * 64, status 32 bytes on, data at
 * 0x400000 + i * BLK_SZ. */
static void blk_post(struct rig *r, unsigned i, uint32_t type)
{
    uint64_t hdr = BUFS + i * 64, st = hdr + 32, data = 0x400000 + (uint64_t)i * BLK_SZ;
    struct virtio_blk_outhdr h = { type, 0, (uint64_t)i * BLK_SZ / 512 };
    guest_mem_write(&r->f.mem, hdr, &h, sizeof h);
    guest_mem_fill(&r->f.mem, st, 0xee, 1);
    if (type == VIRTIO_BLK_T_OUT)
        guest_mem_fill(&r->f.mem, data, (int)(0x40 + i), BLK_SZ);
    else
        guest_mem_fill(&r->f.mem, data, 0xee, BLK_SZ);
    struct vq_buf b[] = { { hdr, sizeof h, false }, { data, BLK_SZ, type == VIRTIO_BLK_T_IN },
                          { st, 1, true } };
    unsigned n = 3;
    if (type == VIRTIO_BLK_T_FLUSH) {
        b[1] = b[2];
        n = 2;
    }
    assert_true(vqd_add(&r->drv[0], b, n, 0) >= 0);
}

static void blk_in_flight_at_pause(void **state)
{
    (void)state;
    enum { N = 24 };
    struct rig *r = blk_rig(2 * N * BLK_SZ);
    /* Writes and a flush; pause as soon as the worker has taken them all,
     * while the flush (at least) is likely still on the io_uring. */
    for (unsigned i = 0; i < N; i++)
        blk_post(r, i, VIRTIO_BLK_T_OUT);
    blk_post(r, N, VIRTIO_BLK_T_FLUSH);
    vdrv_kick(&r->f, SLOT, &r->drv[0], 0);
    for (int i = 0; i < 200000 && taken(r, 0) != N + 1; i++)
        usleep(10);
    assert_int_equal(taken(r, 0), N + 1);
    vm_pause(r);
    assert_int_equal(used_now(&r->drv[0]), N + 1);
    for (unsigned i = 0; i <= N; i++) {
        uint8_t st;
        guest_mem_read(&r->f.mem, BUFS + i * 64 + 32, &st, 1);
        assert_int_equal(st, VIRTIO_BLK_S_OK);
    }

    /* Paused: reads posted and kicked stay in the avail ring, their
     * buffers untouched. */
    for (unsigned i = 0; i < 4; i++)
        blk_post(r, N + 1 + i, VIRTIO_BLK_T_IN);
    vdrv_kick(&r->f, SLOT, &r->drv[0], 0);
    usleep(QUIET_US);
    assert_int_equal(taken(r, 0), N + 1);
    assert_int_equal(used_now(&r->drv[0]), 0);
    for (unsigned i = 0; i < 4; i++)
        assert_true(all_bytes(r, 0x400000 + (uint64_t)(N + 1 + i) * BLK_SZ, 0xee, BLK_SZ));
    vm_pause(r);                                  /* twice: harmless */

    /* Resumed: served, reading what the writes put there. */
    vm_resume(r);
    uint16_t id;
    uint32_t len;
    for (unsigned i = 0; i < 4; i++) {
        assert_true(vdrv_wait_used(&r->drv[0], &id, &len));
        assert_int_equal(len, BLK_SZ + 1);
    }
    for (unsigned i = 0; i < 4; i++) {
        unsigned j = N + 1 + i;
        /* Request j read sector range j, written by request j only if j < N. */
        uint8_t want = j < N ? (uint8_t)(0x40 + j) : 0;
        assert_true(all_bytes(r, 0x400000 + (uint64_t)j * BLK_SZ, want, BLK_SZ));
    }
    vm_resume(r);                                 /* twice: harmless */
    rig_free(r);
}

/* Pausing right after a kick: whatever the worker took by then is back in
 * the used ring when pause returns, the rest after resume. */
static void blk_pause_races_kick(void **state)
{
    (void)state;
    enum { N = 16 };
    struct rig *r = blk_rig(2 * N * BLK_SZ);
    for (int round = 0; round < 20; round++) {
        for (unsigned i = 0; i < N; i++)
            blk_post(r, i, (i & 1) ? VIRTIO_BLK_T_IN : VIRTIO_BLK_T_OUT);
        vdrv_kick(&r->f, SLOT, &r->drv[0], 0);
        if (round & 1)
            usleep(100);
        vm_pause(r);
        uint16_t t = taken(r, 0);
        unsigned done = used_now(&r->drv[0]);
        assert_int_equal(done, (uint16_t)(t - round * N));
        vm_resume(r);
        uint16_t id;
        uint32_t len;
        for (; done < N; done++)
            assert_true(vdrv_wait_used(&r->drv[0], &id, &len));
    }
    rig_free(r);
}

/* virtio-rng: the pattern for a worker device; also reset and destroy of
 * a paused device, and activation while paused. */
static struct rig *rng_rig(void)
{
    struct rig *r = rig_new();
    r->vp = virtio_rng_create(r->h, &r->dev);
    assert_non_null(r->vp);
    return r;
}

static void rng_post(struct rig *r, uint64_t gpa)
{
    guest_mem_fill(&r->f.mem, gpa, 0, 256);
    struct vq_buf b = { gpa, 256, true };
    assert_true(vqd_add(&r->drv[0], &b, 1, 0) >= 0);
    vdrv_kick(&r->f, SLOT, &r->drv[0], 0);
}

static void rng_paused(void **state)
{
    (void)state;
    struct rig *r = rng_rig();
    vm_resume(r);                                 /* never paused: harmless */
    assert_int_equal(vdrv_bring_up(&r->f, SLOT, 0, r->drv, 1, RINGS), 0x0f);
    uint16_t id;
    uint32_t len;
    rng_post(r, BUFS);
    assert_true(vdrv_wait_used(&r->drv[0], &id, &len));
    vm_pause(r);
    rng_post(r, BUFS + 0x1000);
    usleep(QUIET_US);
    assert_int_equal(used_now(&r->drv[0]), 0);
    assert_true(all_bytes(r, BUFS + 0x1000, 0, 256));
    vm_resume(r);
    assert_true(vdrv_wait_used(&r->drv[0], &id, &len));
    assert_int_equal(len, 256);
    assert_false(all_bytes(r, BUFS + 0x1000, 0, 256));
    /* Reset while paused stops the parked worker; the device starts
     * again afterwards. */
    vm_pause(r);
    mmio_write(&r->f, vdrv_bar4(&r->f, SLOT) + VIRTIO_PCI_COMMON_STATUS, 0, 1);
    vm_resume(r);
    assert_int_equal(vdrv_bring_up(&r->f, SLOT, 0, r->drv, 1, RINGS), 0x0f);
    rng_post(r, BUFS);
    assert_true(vdrv_wait_used(&r->drv[0], &id, &len));
    /* Destroy while paused. */
    vm_pause(r);
    rig_free(r);
}

static void rng_activated_while_paused(void **state)
{
    (void)state;
    struct rig *r = rng_rig();
    vm_pause(r);                                  /* not active: nothing to park yet */
    assert_int_equal(vdrv_bring_up(&r->f, SLOT, 0, r->drv, 1, RINGS), 0x0f);
    rng_post(r, BUFS);
    usleep(QUIET_US);
    assert_int_equal(used_now(&r->drv[0]), 0);
    vm_resume(r);
    uint16_t id;
    uint32_t len;
    assert_true(vdrv_wait_used(&r->drv[0], &id, &len));
    rig_free(r);
}

/* virtio-console: no output, no input while paused. */
static unsigned rx_space_calls;
static void on_rx_space(void *ctx)
{
    (void)ctx;
    __atomic_fetch_add(&rx_space_calls, 1, __ATOMIC_SEQ_CST);
}

static void console_paused(void **state)
{
    (void)state;
    struct rig *r = rig_new();
    int out[2];
    assert_int_equal(pipe2(out, O_NONBLOCK | O_CLOEXEC), 0);
    r->f.console_fd = out[1];
    struct virtio_console *con = virtio_console_create(r->h, on_rx_space, NULL, &r->dev);
    assert_non_null(con);
    assert_int_equal(vdrv_bring_up(&r->f, SLOT, 0, r->drv, 2, RINGS), 0x0f);
    struct vq_buf rx = { BUFS, 8, true };
    guest_mem_fill(&r->f.mem, BUFS, 0, 8);
    vqd_add(&r->drv[0], &rx, 1, 0);
    vdrv_kick(&r->f, SLOT, &r->drv[0], 0);
    for (int i = 0; i < 2000 && !virtio_console_can_receive(con); i++)
        usleep(1000);
    assert_true(virtio_console_can_receive(con));

    vm_pause(r);
    assert_false(virtio_console_can_receive(con));
    assert_int_equal(virtio_console_receive(con, (const uint8_t *)"hi", 2), 0);
    guest_mem_write(&r->f.mem, BUFS + 0x1000, "out", 3);
    struct vq_buf tx = { BUFS + 0x1000, 3, false };
    vqd_add(&r->drv[1], &tx, 1, 0);
    vdrv_kick(&r->f, SLOT, &r->drv[1], 1);
    usleep(QUIET_US);
    char got[8];
    assert_int_equal(read(out[0], got, sizeof got), -1);   /* nothing written */
    assert_int_equal(used_now(&r->drv[0]) + used_now(&r->drv[1]), 0);
    assert_true(all_bytes(r, BUFS, 0, 8));

    unsigned calls = __atomic_load_n(&rx_space_calls, __ATOMIC_SEQ_CST);
    vm_resume(r);
    assert_true(__atomic_load_n(&rx_space_calls, __ATOMIC_SEQ_CST) > calls);   /* input flows */
    assert_true(virtio_console_can_receive(con));
    assert_int_equal(virtio_console_receive(con, (const uint8_t *)"hi", 2), 2);
    assert_memory_equal(guest_mem_ptr(&r->f.mem, BUFS, 2), "hi", 2);
    uint16_t id;
    uint32_t len;
    assert_true(vdrv_wait_used(&r->drv[1], &id, &len));
    assert_int_equal(read(out[0], got, sizeof got), 3);
    assert_memory_equal(got, "out", 3);
    rig_free(r);
    close(out[0]);
    close(out[1]);
}

/* virtio-net over a backend of pipes: counts what the guest sends and
 * delivers what is written to rx[1], one frame per read. */
struct pipe_be {
    struct net_backend be;
    int rx[2];
    unsigned nsent;
};

static void pb_send(struct net_backend *be, const struct iovec *iov, unsigned n, size_t len)
{
    (void)iov, (void)n, (void)len;
    __atomic_fetch_add(&((struct pipe_be *)be)->nsent, 1, __ATOMIC_SEQ_CST);
}

static unsigned pb_poll_fill(struct net_backend *be, struct pollfd *p, unsigned max, int *timeout,
                             bool rx)
{
    (void)max, (void)timeout;
    p[0] = (struct pollfd){ .fd = rx ? ((struct pipe_be *)be)->rx[0] : -1, .events = POLLIN };
    return 1;
}

static void pb_poll_done(struct net_backend *be, const struct pollfd *p, unsigned n)
{
    (void)n;
    uint8_t frame[256];
    static const struct virtio_net_hdr_v1 hdr;
    if (!(p[0].revents & POLLIN))
        return;
    ssize_t got = read(p[0].fd, frame, sizeof frame);
    if (got > 0)
        be->deliver(be->nic, &hdr, frame, (size_t)got);   /* polled only with a buffer */
}

static void pb_nop_offloads(struct net_backend *be, uint64_t features) { (void)be, (void)features; }

static void pb_close(struct net_backend *be)
{
    struct pipe_be *b = (struct pipe_be *)be;
    close(b->rx[0]);
    close(b->rx[1]);
    free(b);
}

static const struct net_backend_ops pb_ops = {
    .send = pb_send, .poll_fill = pb_poll_fill, .poll_done = pb_poll_done,
    .set_offloads = pb_nop_offloads, .close = pb_close,
};

static void net_paused(void **state)
{
    (void)state;
    struct rig *r = rig_new();
    struct pipe_be *be = calloc(1, sizeof *be);
    assert_int_equal(pipe2(be->rx, O_NONBLOCK | O_CLOEXEC), 0);
    be->be.ops = &pb_ops;
    const uint8_t mac[6] = { 0x52, 0x54, 0, 1, 2, 3 };
    r->vp = virtio_net_create(r->h, &be->be, mac, &r->dev);
    assert_non_null(r->vp);
    assert_int_equal(vdrv_bring_up(&r->f, SLOT, 0, r->drv, 2, RINGS), 0x0f);

    vm_pause(r);
    vm_pause(r);
    /* A frame arrives and the guest posts a buffer and a frame to send. */
    uint8_t in[64];
    memset(in, 0xab, sizeof in);
    assert_int_equal(write(be->rx[1], in, sizeof in), (ssize_t)sizeof in);
    guest_mem_fill(&r->f.mem, BUFS, 0, 2048);
    struct vq_buf rx = { BUFS, 2048, true };
    vqd_add(&r->drv[0], &rx, 1, 0);
    vdrv_kick(&r->f, SLOT, &r->drv[0], 0);
    guest_mem_fill(&r->f.mem, BUFS + 0x1000, 0x11, NET_HDR_LEN + 60);
    struct vq_buf tx = { BUFS + 0x1000, NET_HDR_LEN + 60, false };
    vqd_add(&r->drv[1], &tx, 1, 0);
    vdrv_kick(&r->f, SLOT, &r->drv[1], 1);
    usleep(QUIET_US);
    assert_int_equal(used_now(&r->drv[0]) + used_now(&r->drv[1]), 0);
    assert_int_equal(__atomic_load_n(&be->nsent, __ATOMIC_SEQ_CST), 0);
    assert_true(all_bytes(r, BUFS, 0, 2048));
    struct pollfd still = { .fd = be->rx[0], .events = POLLIN };
    assert_int_equal(poll(&still, 1, 0), 1);           /* the frame waits in the backend */

    vm_resume(r);
    uint16_t id;
    uint32_t len;
    assert_true(vdrv_wait_used(&r->drv[0], &id, &len));
    assert_int_equal(len, NET_HDR_LEN + sizeof in);
    assert_memory_equal(guest_mem_ptr(&r->f.mem, BUFS + NET_HDR_LEN, sizeof in), in, sizeof in);
    assert_true(vdrv_wait_used(&r->drv[1], &id, &len));
    assert_int_equal(__atomic_load_n(&be->nsent, __ATOMIC_SEQ_CST), 1);
    /* Destroy while paused stops the parked thread. */
    vm_pause(r);
    rig_free(r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(worker_handshake),
        cmocka_unit_test(blk_in_flight_at_pause),
        cmocka_unit_test(blk_pause_races_kick),
        cmocka_unit_test(rng_paused),
        cmocka_unit_test(rng_activated_while_paused),
        cmocka_unit_test(console_paused),
        cmocka_unit_test(net_paused),
    };
    return cmocka_run_group_tests_name("pause", tests, NULL, NULL);
}
