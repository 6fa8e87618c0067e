/* Save/load round trip of the PCI bus and a virtio device on it, as
 * snapshot and migration will use it: a driver sets the device up (BAR
 * moved, MSI-X enabled and routed, a queue in use), the state goes into a
 * stream, and a second VM loads it over a copy of guest RAM. The loaded
 * device must look the same through configuration space and its BARs,
 * and go on serving the same queue where the first left off. */
#include "fake_host.h"
#include "pci_rig.h"
#include "virtio_driver.h"
#include "vq_driver.h"

#include "core/state.h"
#include "devices/pci/pci.h"
#include "devices/virtio/rng.h"
#include "devices/virtio/virtio_pci.h"

#include <linux/virtio_pci.h>

#define SLOT 1
#define RINGS 0x10000
#define BUFS 0x100000
#define MOVED_BAR4 0xd0000000ull          /* where the driver moves the virtio BAR */

struct vmish {
    struct fake_host f;
    struct device hostdev, rngdev;
    struct pci_host *h;
};

static void vmish_init(struct vmish *v)
{
    v->h = pci_rig_init(&v->f, &v->hostdev);
    assert_non_null(virtio_rng_create(v->h, &v->rngdev));
}

static void vmish_destroy(struct vmish *v)
{
    pci_rig_fini(&v->f, &v->hostdev, &v->rngdev);
}

static unsigned msix_cap(struct fake_host *f)
{
    unsigned p = cf8_read(f, SLOT, PCI_CAP_PTR) & 0xff;
    while (p && (cf8_read(f, SLOT, p) & 0xff) != 0x11)
        p = (cf8_read(f, SLOT, p) >> 8) & 0xff;
    return p;
}

/* One 64-byte request through the device; true when it came back. */
static bool one_request(struct fake_host *f, struct vq_driver *drv)
{
    struct vq_buf b = { BUFS, 64, true };
    vqd_add(drv, &b, 1, 0);
    vdrv_kick(f, SLOT, drv, 0);
    uint16_t id;
    uint32_t len;
    return vdrv_wait_used(drv, &id, &len) && len == 64;
}

static void pci_and_virtio_round_trip(void **state)
{
    (void)state;
    struct vmish *a = test_calloc(1, sizeof *a), *b = test_calloc(1, sizeof *b);
    vmish_init(a);
    vmish_init(b);

    /* The driver on A: BAR 4 moved, MSI-X on with vector 0 routed, the
     * queue up, two requests served. */
    cf8_write(&a->f, SLOT, PCI_BAR0 + 16, (uint32_t)MOVED_BAR4);
    cf8_write(&a->f, SLOT, PCI_BAR0 + 20, 0);
    uint64_t bar1 = cf8_read(&a->f, SLOT, PCI_BAR0 + 4) & ~15u;
    unsigned cap = msix_cap(&a->f);
    cf8_write(&a->f, SLOT, cap, cf8_read(&a->f, SLOT, cap) | 0x80000000u);
    mmio_write(&a->f, bar1 + 0, 0xfee00000, 4);
    mmio_write(&a->f, bar1 + 8, 0x4061, 4);
    mmio_write(&a->f, bar1 + 12, 0, 4);
    struct vq_driver drv;
    assert_int_equal(vdrv_bring_up(&a->f, SLOT, 0, &drv, 1, RINGS), 0x0f);
    mmio_write(&a->f, MOVED_BAR4 + VIRTIO_PCI_COMMON_Q_SELECT, 0, 2);
    mmio_write(&a->f, MOVED_BAR4 + VIRTIO_PCI_COMMON_Q_MSIX, 0, 2);
    assert_true(one_request(&a->f, &drv));
    assert_true(one_request(&a->f, &drv));

    /* Saved as snapshot will: the bus, then the device, in one stream. */
    struct state_writer w;
    state_writer_init(&w);
    a->hostdev.ops->save(a->hostdev.dev, &w);
    a->rngdev.ops->save(a->rngdev.dev, &w);
    assert_false(w.failed);

    /* B gets A's RAM and the stream. */
    memcpy(b->f.mem.host, a->f.mem.host, a->f.mem.ram_size);
    struct state_reader r;
    state_reader_init(&r, w.buf, w.len);
    assert_int_equal(b->hostdev.ops->load(b->hostdev.dev, &r), 0);
    assert_int_equal(b->rngdev.ops->load(b->rngdev.dev, &r), 0);

    /* The same configuration space, dword by dword... */
    for (unsigned off = 0; off < PCI_CFG_SIZE; off += 4)
        assert_int_equal(cf8_read(&b->f, SLOT, off), cf8_read(&a->f, SLOT, off));
    /* ...the BAR where the driver put it, the device running... */
    assert_int_equal(mmio_read(&b->f, MOVED_BAR4 + VIRTIO_PCI_COMMON_STATUS, 1), 0x0f);
    mmio_write(&b->f, MOVED_BAR4 + VIRTIO_PCI_COMMON_Q_SELECT, 0, 2);
    assert_int_equal(mmio_read(&b->f, MOVED_BAR4 + VIRTIO_PCI_COMMON_Q_DESCLO, 8), drv.desc);
    assert_int_equal(mmio_read(&b->f, MOVED_BAR4 + VIRTIO_PCI_COMMON_Q_MSIX, 2), 0);
    /* ...the MSI-X table, and vector 0 routed to the same message. */
    for (unsigned i = 0; i < 16; i += 4)
        assert_int_equal(mmio_read(&b->f, bar1 + i, 4), mmio_read(&a->f, bar1 + i, 4));
    assert_true(b->f.msi[0].routed);
    assert_int_equal(b->f.msi[0].data, 0x4061);

    /* A goes away; B serves the next request on the same ring, from the
     * indices A left (the driver's own state is in guest RAM and here). */
    a->rngdev.ops->destroy(a->rngdev.dev);
    a->rngdev.dev = NULL;
    drv.mem = &b->f.mem;
    assert_true(one_request(&b->f, &drv));
    uint64_t irq;
    assert_true(b->f.msi[0].irqfd >= 0);
    for (int i = 0; i < 1000 && read(b->f.msi[0].irqfd, &irq, sizeof irq) < 0; i++)
        usleep(1000);
    assert_true(irq >= 1);

    /* A stream cut short is refused. */
    struct vmish *c = test_calloc(1, sizeof *c);
    vmish_init(c);
    state_reader_init(&r, w.buf, w.len / 2);
    assert_int_equal(c->hostdev.ops->load(c->hostdev.dev, &r) == 0 &&
                     c->rngdev.ops->load(c->rngdev.dev, &r) == 0, 0);
    vmish_destroy(c);
    test_free(c);

    state_writer_free(&w);
    a->hostdev.ops->destroy(a->hostdev.dev);
    fake_host_destroy(&a->f);
    vmish_destroy(b);
    test_free(a);
    test_free(b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(pci_and_virtio_round_trip),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
