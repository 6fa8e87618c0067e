/* PCI and virtio without /dev/kvm: configuration mechanism #1 and ECAM,
 * BAR sizing and relocation, MSI-X routing and masking, the virtio PCI
 * transport's feature negotiation and queue set-up, and virtio-blk
 * requests (including hostile ones) against a temporary file. */
#include "fake_host.h"
#include "virtio_driver.h"
#include "vq_driver.h"

#include "devices/pci/pci.h"
#include "devices/virtio/blk.h"
#include "devices/virtio/blk_request.h"
#include "devices/virtio/virtio_pci.h"

#include <fcntl.h>
#include <linux/virtio_blk.h>
#include <linux/virtio_ring.h>
#include <linux/virtio_config.h>
#include <linux/virtio_pci.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/eventfd.h>
#include <unistd.h>

static uint32_t ecam_read(struct fake_host *f, unsigned slot, unsigned reg)
{
    uint32_t v;
    bus_access(&f->mmio, test_layout.ecam_base + (slot << 15) + reg, (uint8_t *)&v, 4, false);
    return v;
}

/* A device with a 32-bit 4 KiB BAR and a 64-bit 16 KiB one. */
static uint8_t last_bar_byte;
static void test_bar_io(void *opaque, uint64_t off, uint8_t *data, unsigned len, bool w)
{
    (void)opaque, (void)off;
    if (w)
        last_bar_byte = data[0];
    else
        memset(data, 0xab, len);
}

static void config_and_bars(void **state)
{
    (void)state;
    struct fake_host f;
    fake_host_init(&f, 16 * MB);
    struct device dev;
    struct pci_host *h = pci_host_create(&f.host, &test_layout, &dev);
    assert_non_null(h);
    struct pci_dev d;
    pci_dev_init(&d, 0x1234, 0x5678, 0x018000, 2, 0x1234, 1);
    d.cfg[PCI_INT_PIN] = 1;
    pci_dev_add_bar(&d, 0, 0x1000, 0, test_bar_io, NULL, "bar0");
    pci_dev_add_bar(&d, 2, 0x4000, PCI_BAR_MEM64, test_bar_io, NULL, "bar2");
    int slot = pci_host_add(h, &d);
    assert_int_equal(slot, 1);                               /* 0 is the host bridge */

    /* Both mechanisms see the same function; absent ones read all-ones. */
    assert_int_equal(cf8_read(&f, 0, 0), 0x00081b36);
    assert_int_equal(cf8_read(&f, 1, 0), 0x56781234);
    assert_int_equal(ecam_read(&f, 1, 0), 0x56781234);
    assert_int_equal(cf8_read(&f, 7, 0), 0xffffffffu);
    assert_int_equal(ecam_read(&f, 7, 0), 0xffffffffu);
    assert_int_equal(ecam_read(&f, 1, 0x100), 0);            /* no extended capabilities */
    assert_int_equal(cf8_read(&f, 1, PCI_INT_LINE) & 0xff, 17);   /* slot 1, INTA: as _PRT says */

    /* Placed in the windows, decoding on. */
    uint32_t bar0 = cf8_read(&f, 1, PCI_BAR0);
    assert_int_equal(bar0, 0xc0000000);
    uint64_t bar2 = cf8_read(&f, 1, PCI_BAR0 + 8) | (uint64_t)cf8_read(&f, 1, PCI_BAR0 + 12) << 32;
    assert_int_equal(bar2 & ~15ull, 1ull << 32);
    assert_int_equal(bar2 & 15, PCI_BAR_MEM64);
    assert_int_equal(mmio_read(&f, 0xc0000010, 1), 0xab);

    /* Sizing: all-ones reads back the size mask; decoding off meanwhile. */
    cf8_write(&f, 1, PCI_COMMAND, 0);
    assert_int_equal(mmio_read(&f, 0xc0000010, 1), 0xff);   /* unmapped */
    cf8_write(&f, 1, PCI_BAR0, 0xffffffffu);
    assert_int_equal(cf8_read(&f, 1, PCI_BAR0), 0xfffff000u);
    cf8_write(&f, 1, PCI_BAR0 + 12, 0xffffffffu);
    assert_int_equal(cf8_read(&f, 1, PCI_BAR0 + 12), 0xffffffffu);
    cf8_write(&f, 1, PCI_BAR0 + 8, 0xffffffffu);
    assert_int_equal(cf8_read(&f, 1, PCI_BAR0 + 8), 0xffffc000u | PCI_BAR_MEM64);
    /* Relocation: the BAR decodes at its new address only. */
    cf8_write(&f, 1, PCI_BAR0, 0xd0000000);
    cf8_write(&f, 1, PCI_BAR0 + 8, 0x0);
    cf8_write(&f, 1, PCI_BAR0 + 12, 0x2);
    cf8_write(&f, 1, PCI_COMMAND, PCI_COMMAND_MEMORY);
    assert_int_equal(mmio_read(&f, 0xd0000000, 1), 0xab);
    assert_int_equal(mmio_read(&f, 0xc0000000, 1), 0xff);
    assert_int_equal(mmio_read(&f, 0x200000000ull, 1), 0xab);
    /* A BAR moved onto another range stays unmapped instead of overlapping. */
    cf8_write(&f, 1, PCI_BAR0, test_layout.ecam_base);
    assert_int_equal(ecam_read(&f, 1, 0), 0x56781234);       /* ECAM still answers */

    /* Read-only fields stay put; INTx follows the line and INTx-disable. */
    cf8_write(&f, 1, 0, 0);
    assert_int_equal(cf8_read(&f, 1, 0), 0x56781234);
    pci_dev_set_intx(&d, true);
    assert_true(f.irq[17]);
    cf8_write(&f, 1, PCI_COMMAND, PCI_COMMAND_MEMORY | PCI_COMMAND_INTX_DISABLE);
    assert_false(f.irq[17]);
    cf8_write(&f, 1, PCI_COMMAND, PCI_COMMAND_MEMORY);
    assert_true(f.irq[17]);
    pci_dev_set_intx(&d, false);
    assert_false(f.irq[17]);

    /* Odd accesses: misaligned ECAM, 8-byte, CF8 bytes, the reset port. */
    uint64_t v8;
    bus_access(&f.mmio, test_layout.ecam_base + (1 << 15) + 1, (uint8_t *)&v8, 2, false);
    assert_int_equal(v8 & 0xffff, 0xffff);
    uint8_t b = 0x06;
    bus_access(&f.pio, 0xcf9, &b, 1, true);
    assert_int_equal(f.stop, VM_STOP_RESET);
    dev.ops->destroy(dev.dev);
    fake_host_destroy(&f);
}

/* virtio over PCI: capabilities, feature negotiation, a queue, MSI-X. */
struct transport {
    struct fake_host f;
    struct device dev, blkdev;
    struct pci_host *h;
    struct virtio_pci *vp;
    uint64_t bar4, bar1;
    char path[64];
};

static uint8_t common_read8(struct transport *t, unsigned off) { return (uint8_t)mmio_read(&t->f, t->bar4 + off, 1); }
static void common_write(struct transport *t, unsigned off, uint64_t v, unsigned len) { mmio_write(&t->f, t->bar4 + off, v, len); }

/* The disk file is made in the current directory, not /tmp: O_DIRECT
 * needs a file system that has it (tmpfs may not). */
static void make_disk(struct transport *t, const char *contents, size_t len, bool readonly,
                      bool direct)
{
    memset(t, 0, sizeof *t);
    fake_host_init(&t->f, 32 * MB);
    t->h = pci_host_create(&t->f.host, &test_layout, &t->dev);
    snprintf(t->path, sizeof t->path, "kvmbox-blk-XXXXXX");
    int fd = mkstemp(t->path);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, contents, len), (ssize_t)len);
    close(fd);
    struct disk_config cfg = { .readonly = readonly, .direct = direct };
    snprintf(cfg.path, sizeof cfg.path, "%s", t->path);
    snprintf(cfg.serial, sizeof cfg.serial, "SERIAL-1");
    struct blk *b = blk_open(&cfg, -1);
    assert_non_null(b);
    t->vp = virtio_blk_create(t->h, b, &t->blkdev);
    assert_non_null(t->vp);
    t->bar4 = cf8_read(&t->f, 1, PCI_BAR0 + 16) & ~15u;
    t->bar4 |= (uint64_t)cf8_read(&t->f, 1, PCI_BAR0 + 20) << 32;
    t->bar1 = cf8_read(&t->f, 1, PCI_BAR0 + 4) & ~15u;
}

static void make_blk(struct transport *t, const char *contents, size_t len, bool readonly)
{
    make_disk(t, contents, len, readonly, false);
}

static void free_blk(struct transport *t)
{
    t->blkdev.ops->destroy(t->blkdev.dev);
    t->dev.ops->destroy(t->dev.dev);
    unlink(t->path);
    fake_host_destroy(&t->f);
}

static void virtio_transport(void **state)
{
    (void)state;
    struct transport *t = test_calloc(1, sizeof *t);
    char disk[4096];
    for (unsigned i = 0; i < sizeof disk; i++)
        disk[i] = (char)i;
    make_blk(t, disk, sizeof disk, false);
    assert_int_equal(cf8_read(&t->f, 1, 0), 0x10421af4);     /* modern virtio-blk */
    /* The vendor capabilities name the regions; MSI-X is in the list. */
    unsigned p = cf8_read(&t->f, 1, PCI_CAP_PTR) & 0xff, types = 0;
    bool msix = false;
    while (p) {
        uint32_t h = cf8_read(&t->f, 1, p);
        if ((h & 0xff) == 0x09)
            types |= 1u << ((h >> 24) & 0xff);
        if ((h & 0xff) == 0x11)
            msix = true;
        p = (h >> 8) & 0xff;
    }
    assert_int_equal(types, 0x3e);                           /* common, notify, ISR, device, PCI cfg */
    assert_true(msix);

    /* Features: the device offers VERSION_1; a driver asking for more than
     * offered does not get FEATURES_OK. */
    common_write(t, VIRTIO_PCI_COMMON_DFSELECT, 1, 4);
    assert_int_equal(mmio_read(&t->f, t->bar4 + VIRTIO_PCI_COMMON_DF, 4) & 1, 1);
    common_write(t, VIRTIO_PCI_COMMON_STATUS, VIRTIO_CONFIG_S_ACKNOWLEDGE | VIRTIO_CONFIG_S_DRIVER, 1);
    common_write(t, VIRTIO_PCI_COMMON_GFSELECT, 1, 4);
    common_write(t, VIRTIO_PCI_COMMON_GF, 0x80000001u, 4);   /* bit 63: not offered */
    common_write(t, VIRTIO_PCI_COMMON_STATUS, 0x0b, 1);
    assert_int_equal(common_read8(t, VIRTIO_PCI_COMMON_STATUS) & VIRTIO_CONFIG_S_FEATURES_OK, 0);
    common_write(t, VIRTIO_PCI_COMMON_STATUS, 0, 1);         /* reset */
    assert_int_equal(common_read8(t, VIRTIO_PCI_COMMON_STATUS), 0);
    common_write(t, VIRTIO_PCI_COMMON_STATUS, 0x03, 1);
    common_write(t, VIRTIO_PCI_COMMON_GFSELECT, 0, 4);
    common_write(t, VIRTIO_PCI_COMMON_GF, (1u << VIRTIO_BLK_F_FLUSH) | (1u << 29), 4);
    common_write(t, VIRTIO_PCI_COMMON_GFSELECT, 1, 4);
    common_write(t, VIRTIO_PCI_COMMON_GF, 1, 4);
    common_write(t, VIRTIO_PCI_COMMON_STATUS, 0x0b, 1);
    assert_int_equal(common_read8(t, VIRTIO_PCI_COMMON_STATUS), 0x0b);
    /* Capacity through the device configuration. */
    assert_int_equal(mmio_read(&t->f, t->bar4 + 0x2000, 8), sizeof disk / 512);

    /* MSI-X: vector 1 for queue 0; the table entry routes the GSI. */
    unsigned cap = cf8_read(&t->f, 1, PCI_CAP_PTR) & 0xff;
    while ((cf8_read(&t->f, 1, cap) & 0xff) != 0x11)
        cap = (cf8_read(&t->f, 1, cap) >> 8) & 0xff;
    uint32_t ctrl = cf8_read(&t->f, 1, cap);
    assert_int_equal((ctrl >> 16) & 0x7ff, 1);               /* 2 vectors */
    cf8_write(&t->f, 1, cap, ctrl | 0x80000000u);            /* enable */
    mmio_write(&t->f, t->bar1 + 16, 0xfee00000, 4);
    mmio_write(&t->f, t->bar1 + 24, 0x4055, 4);
    mmio_write(&t->f, t->bar1 + 28, 0, 4);                   /* unmask vector 1 */
    assert_true(t->f.msi[1].routed);
    assert_int_equal(t->f.msi[1].data, 0x4055);

    /* Queue 0 through the common configuration; then DRIVER_OK. */
    struct vq_driver drv;
    vqd_init(&drv, &t->f.mem, 0x10000, 16);
    common_write(t, VIRTIO_PCI_COMMON_Q_SELECT, 0, 2);
    assert_int_equal(mmio_read(&t->f, t->bar4 + VIRTIO_PCI_COMMON_Q_SIZE, 2), 256);
    common_write(t, VIRTIO_PCI_COMMON_Q_SIZE, 16, 2);
    common_write(t, VIRTIO_PCI_COMMON_Q_MSIX, 1, 2);
    common_write(t, VIRTIO_PCI_COMMON_Q_DESCLO, drv.desc, 4);
    common_write(t, VIRTIO_PCI_COMMON_Q_DESCHI, drv.desc >> 32, 4);
    common_write(t, VIRTIO_PCI_COMMON_Q_AVAILLO, drv.avail, 8);   /* one 8-byte access */
    common_write(t, VIRTIO_PCI_COMMON_Q_USEDLO, drv.used, 4);
    common_write(t, VIRTIO_PCI_COMMON_Q_USEDHI, 0, 4);
    common_write(t, VIRTIO_PCI_COMMON_Q_ENABLE, 1, 2);
    common_write(t, VIRTIO_PCI_COMMON_STATUS, 0x0f, 1);
    assert_int_equal(common_read8(t, VIRTIO_PCI_COMMON_STATUS), 0x0f);
    /* Status bits cannot be cleared but by a reset (found by the fuzzer:
     * DRIVER_OK cleared and set again started a second worker). */
    common_write(t, VIRTIO_PCI_COMMON_STATUS, 0x0b, 1);
    assert_int_equal(common_read8(t, VIRTIO_PCI_COMMON_STATUS), 0x0f);
    common_write(t, VIRTIO_PCI_COMMON_STATUS, 0x0f, 1);

    /* A read of sector 2 through the worker; the notify write kicks it. */
    uint64_t hdr_at = 0x100000, data_at = 0x101000, status_at = 0x102000;
    struct virtio_blk_outhdr hdr = { VIRTIO_BLK_T_IN, 0, 2 };
    guest_mem_write(&t->f.mem, hdr_at, &hdr, sizeof hdr);
    guest_mem_fill(&t->f.mem, status_at, 0xee, 1);
    struct vq_buf b[] = { { hdr_at, sizeof hdr, false }, { data_at, 1024, true }, { status_at, 1, true } };
    vqd_add(&drv, b, 3, 0);
    vqd_publish(&drv);
    mmio_write(&t->f, t->bar4 + 0x3000, 0, 2);               /* notify queue 0 */
    uint16_t id;
    uint32_t len = 0;
    for (int i = 0; i < 2000 && !vqd_get_used(&drv, &id, &len); i++)
        usleep(1000);
    assert_int_equal(len, 1025);
    uint8_t status;
    guest_mem_read(&t->f.mem, status_at, &status, 1);
    assert_int_equal(status, VIRTIO_BLK_S_OK);
    assert_memory_equal(guest_mem_ptr(&t->f.mem, data_at, 1024), disk + 1024, 1024);
    /* The interrupt went to vector 1's eventfd. */
    uint64_t count = 0;
    assert_true(t->f.msi[1].irqfd >= 0);
    for (int i = 0; i < 1000 && read(t->f.msi[1].irqfd, &count, 8) < 0; i++)
        usleep(1000);
    assert_int_equal(count, 1);
    /* Masked, the vector goes pending; unmasking delivers it. */
    mmio_write(&t->f, t->bar1 + 28, 1, 4);
    vqd_set_used_event(&drv, 1);             /* event index: interrupt after this one */
    vqd_add(&drv, b, 3, 0);
    vqd_publish(&drv);
    mmio_write(&t->f, t->bar4 + 0x3000, 0, 2);
    for (int i = 0; i < 2000 && !vqd_get_used(&drv, &id, &len); i++)
        usleep(1000);
    usleep(1000);
    assert_true(mmio_read(&t->f, t->bar1 + 0x800, 4) & 2);   /* PBA bit 1 */
    mmio_write(&t->f, t->bar1 + 28, 0, 4);
    assert_int_equal(mmio_read(&t->f, t->bar1 + 0x800, 4), 0);
    assert_int_equal(read(t->f.msi[1].irqfd, &count, 8), 8);
    /* A driver reset stops the worker and forgets the queue. */
    common_write(t, VIRTIO_PCI_COMMON_STATUS, 0, 1);
    assert_int_equal(mmio_read(&t->f, t->bar4 + VIRTIO_PCI_COMMON_Q_ENABLE, 2), 0);
    free_blk(t);
    test_free(t);
}

/* Requests straight into blk_serve, hostile ones included. */
struct blk_fixture {
    struct transport t;
    struct blk *b;
    struct vq_driver d;
    struct virtq q;
    struct virtq_chain c;
};

static uint8_t serve(struct blk_fixture *x, const struct vq_buf *bufs, unsigned n, uint32_t *written)
{
    guest_mem_fill(&x->t.f.mem, bufs[n - 1].gpa + bufs[n - 1].len - 1, 0xee, 1);
    vqd_add(&x->d, bufs, n, 0);
    vqd_publish(&x->d);
    assert_int_equal(virtq_pop(&x->q, &x->c), 1);
    *written = blk_serve(x->b, &x->c);
    virtq_push(&x->q, x->c.head, *written);
    uint16_t id;
    uint32_t len;
    assert_true(vqd_get_used(&x->d, &id, &len));
    uint8_t st;
    guest_mem_read(&x->t.f.mem, bufs[n - 1].gpa + bufs[n - 1].len - 1, &st, 1);
    return st;
}

static struct blk_fixture *blk_fixture(bool readonly)
{
    struct blk_fixture *x = test_calloc(1, sizeof *x);
    static char disk[8192];
    for (unsigned i = 0; i < sizeof disk; i++)
        disk[i] = (char)(i * 7);
    make_blk(&x->t, disk, sizeof disk, readonly);
    x->b = x->t.vp->dev;
    vqd_init(&x->d, &x->t.f.mem, 0x10000, 64);
    virtq_reset(&x->q, 64);
    x->q.desc_gpa = x->d.desc, x->q.avail_gpa = x->d.avail, x->q.used_gpa = x->d.used;
    x->q.ready = true;
    assert_int_equal(virtq_start(&x->q, &x->t.f.mem, false, true), 0);
    return x;
}

#define HDR 0x100000ull
#define DATA 0x200000ull
#define STATUS 0x300000ull

static void put_hdr(struct blk_fixture *x, uint32_t type, uint64_t sector)
{
    struct virtio_blk_outhdr h = { type, 0, sector };
    guest_mem_write(&x->t.f.mem, HDR, &h, sizeof h);
}

static void blk_requests(void **state)
{
    (void)state;
    struct blk_fixture *x = blk_fixture(false);
    uint32_t w;
    struct vq_buf hdr = { HDR, 16, false }, st = { STATUS, 1, true };

    /* Write two sectors, flush, read them back. */
    guest_mem_fill(&x->t.f.mem, DATA, 0x5a, 1024);
    put_hdr(x, VIRTIO_BLK_T_OUT, 4);
    struct vq_buf wr[] = { hdr, { DATA, 1024, false }, st };
    assert_int_equal(serve(x, wr, 3, &w), VIRTIO_BLK_S_OK);
    assert_int_equal(w, 1);
    put_hdr(x, VIRTIO_BLK_T_FLUSH, 0);
    struct vq_buf fl[] = { hdr, st };
    assert_int_equal(serve(x, fl, 2, &w), VIRTIO_BLK_S_OK);
    put_hdr(x, VIRTIO_BLK_T_IN, 4);
    guest_mem_fill(&x->t.f.mem, DATA, 0, 1024);
    struct vq_buf rd[] = { hdr, { DATA, 512, true }, { DATA + 512, 512, true }, st };
    assert_int_equal(serve(x, rd, 4, &w), VIRTIO_BLK_S_OK);
    assert_int_equal(w, 1025);
    const uint8_t *got = guest_mem_ptr(&x->t.f.mem, DATA, 1024);
    for (unsigned i = 0; i < 1024; i++)
        assert_int_equal(got[i], 0x5a);
    /* The status may share the last buffer with the data. */
    struct vq_buf rd2[] = { hdr, { DATA, 513, true } };
    put_hdr(x, VIRTIO_BLK_T_IN, 0);
    assert_int_equal(serve(x, rd2, 2, &w), VIRTIO_BLK_S_OK);
    assert_int_equal(w, 513);

    /* get-id gives the serial, NUL-padded. */
    put_hdr(x, VIRTIO_BLK_T_GET_ID, 0);
    struct vq_buf id[] = { hdr, { DATA, 20, true }, st };
    assert_int_equal(serve(x, id, 3, &w), VIRTIO_BLK_S_OK);
    assert_memory_equal(guest_mem_ptr(&x->t.f.mem, DATA, 9), "SERIAL-1", 9);

    /* Discard and write-zeroes of sector 4, then it reads as zeroes. */
    struct virtio_blk_discard_write_zeroes seg = { 4, 1, 0 };
    guest_mem_write(&x->t.f.mem, DATA + 0x1000, &seg, sizeof seg);
    struct vq_buf dz[] = { hdr, { DATA + 0x1000, sizeof seg, false }, st };
    put_hdr(x, VIRTIO_BLK_T_WRITE_ZEROES, 0);
    assert_int_equal(serve(x, dz, 3, &w), VIRTIO_BLK_S_OK);
    put_hdr(x, VIRTIO_BLK_T_DISCARD, 0);
    assert_int_equal(serve(x, dz, 3, &w), VIRTIO_BLK_S_OK);
    put_hdr(x, VIRTIO_BLK_T_IN, 4);
    assert_int_equal(serve(x, rd, 4, &w), VIRTIO_BLK_S_OK);
    assert_int_equal(got[0], 0);
    assert_int_equal(got[511], 0);
    assert_int_equal(got[512], 0x5a);

    /* Hostile requests: each gets an error status, the disk is untouched. */
    put_hdr(x, VIRTIO_BLK_T_IN, 15);                         /* runs past sector 16 */
    assert_int_equal(serve(x, rd, 4, &w), VIRTIO_BLK_S_IOERR);
    put_hdr(x, VIRTIO_BLK_T_IN, UINT64_MAX);                 /* sector + length overflows */
    assert_int_equal(serve(x, rd, 4, &w), VIRTIO_BLK_S_IOERR);
    put_hdr(x, VIRTIO_BLK_T_OUT, 0);
    struct vq_buf odd[] = { hdr, { DATA, 100, false }, st };  /* not whole sectors */
    assert_int_equal(serve(x, odd, 3, &w), VIRTIO_BLK_S_IOERR);
    put_hdr(x, 77, 0);                                       /* unknown type */
    assert_int_equal(serve(x, fl, 2, &w), VIRTIO_BLK_S_UNSUPP);
    struct vq_buf shorthdr[] = { { HDR, 8, false }, st };    /* header cut short */
    assert_int_equal(serve(x, shorthdr, 2, &w), VIRTIO_BLK_S_IOERR);
    seg = (struct virtio_blk_discard_write_zeroes){ 10, 100, 0 };   /* past the end */
    guest_mem_write(&x->t.f.mem, DATA + 0x1000, &seg, sizeof seg);
    put_hdr(x, VIRTIO_BLK_T_DISCARD, 0);
    assert_int_equal(serve(x, dz, 3, &w), VIRTIO_BLK_S_IOERR);
    struct vq_buf dzodd[] = { hdr, { DATA + 0x1000, 10, false }, st };
    assert_int_equal(serve(x, dzodd, 3, &w), VIRTIO_BLK_S_IOERR);
    /* No writable byte at all: nothing to answer in, written 0. */
    struct vq_buf nostatus[] = { hdr };
    put_hdr(x, VIRTIO_BLK_T_FLUSH, 0);
    vqd_add(&x->d, nostatus, 1, 0);
    vqd_publish(&x->d);
    assert_int_equal(virtq_pop(&x->q, &x->c), 1);
    assert_int_equal(blk_serve(x->b, &x->c), 0);
    free_blk(&x->t);
    test_free(x);

    /* Read-only: writes, discards and write-zeroes are refused. */
    x = blk_fixture(true);
    put_hdr(x, VIRTIO_BLK_T_OUT, 0);
    assert_int_equal(serve(x, wr, 3, &w), VIRTIO_BLK_S_IOERR);
    put_hdr(x, VIRTIO_BLK_T_WRITE_ZEROES, 0);
    assert_int_equal(serve(x, dz, 3, &w), VIRTIO_BLK_S_IOERR);
    put_hdr(x, VIRTIO_BLK_T_IN, 0);
    assert_int_equal(serve(x, rd, 4, &w), VIRTIO_BLK_S_OK);
    assert_int_equal(got[0], 0);                             /* sector 0 of the original */
    assert_int_equal(((uint8_t *)guest_mem_ptr(&x->t.f.mem, DATA, 2))[1], 7);
    free_blk(&x->t);
    test_free(x);
}

/* Many requests in flight at once through the worker (io_uring where the
 * host has it): 16 writes, then 16 reads of what they wrote, then a
 * flush; buffered, and with direct=on, where unaligned buffers take the
 * bounce path. */
static void in_flight(bool direct)
{
    enum { N = 16, SZ = 4096 };
    struct transport *t = test_calloc(1, sizeof *t);
    static char disk[N * SZ * 2];
    make_disk(t, disk, sizeof disk, false, direct);
    struct vq_driver drv;
    assert_int_equal(vdrv_bring_up(&t->f, 1, 1ull << VIRTIO_RING_F_INDIRECT_DESC, &drv, 1, 0x10000),
                     0x0f);
    for (int pass = 0; pass < 2; pass++) {
        uint32_t type = pass ? VIRTIO_BLK_T_IN : VIRTIO_BLK_T_OUT;
        for (unsigned i = 0; i < N; i++) {
            uint64_t hdr = 0x100000 + i * 64, st = hdr + 32, data = 0x400000 + i * 0x2000;
            /* Every other read lands at an odd address: with direct=on that
             * takes the bounce path, the rest go straight to the file. */
            if (pass)
                data += (i & 1) ? 100 : 0;
            struct virtio_blk_outhdr h = { type, 0, (uint64_t)i * SZ / 512 };
            guest_mem_write(&t->f.mem, hdr, &h, sizeof h);
            if (!pass)
                guest_mem_fill(&t->f.mem, data, (int)(0x30 + i), SZ);
            struct vq_buf b[] = { { hdr, sizeof h, false }, { data, SZ, pass == 1 },
                                  { st, 1, true } };
            assert_true(vqd_add(&drv, b, 3, 0x600000 + i * 64) >= 0);
        }
        vdrv_kick(&t->f, 1, &drv, 0);
        for (unsigned done = 0; done < N; done++) {
            uint16_t id;
            uint32_t len;
            assert_true(vdrv_wait_used(&drv, &id, &len));
            assert_int_equal(len, pass ? SZ + 1 : 1);
        }
        for (unsigned i = 0; i < N; i++) {
            uint8_t st;
            guest_mem_read(&t->f.mem, 0x100000 + i * 64 + 32, &st, 1);
            assert_int_equal(st, VIRTIO_BLK_S_OK);
            if (pass) {
                const uint8_t *p = guest_mem_ptr(&t->f.mem, 0x400000 + i * 0x2000 + ((i & 1) ? 100 : 0), SZ);
                assert_int_equal(p[0], 0x30 + i);
                assert_int_equal(p[SZ - 1], 0x30 + i);
            }
        }
    }
    /* The file holds what was written. */
    int fd = open(t->path, O_RDONLY);
    char c;
    assert_int_equal(pread(fd, &c, 1, 5 * SZ + 100), 1);
    assert_int_equal(c, 0x35);
    close(fd);
    mmio_write(&t->f, vdrv_bar4(&t->f, 1) + VIRTIO_PCI_COMMON_STATUS, 0, 1);
    free_blk(t);
    test_free(t);
}

static void blk_in_flight(void **state)
{
    (void)state;
    in_flight(false);
}

static void blk_direct(void **state)
{
    (void)state;
    char path[] = "kvmbox-dio-XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    int dfd = open(path, O_RDWR | O_DIRECT);
    close(fd);
    unlink(path);
    if (dfd < 0)
        skip();                      /* this file system has no O_DIRECT */
    close(dfd);
    in_flight(true);
}

/* Start-up refusals: a missing file, and a second writer. */
static void blk_open_errors(void **state)
{
    (void)state;
    struct disk_config cfg = { 0 };
    snprintf(cfg.path, sizeof cfg.path, "/nonexistent/disk.img");
    assert_null(blk_open(&cfg, -1));
    char path[] = "/tmp/kvmbox-lock-XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    assert_int_equal(ftruncate(fd, 4096), 0);
    close(fd);
    snprintf(cfg.path, sizeof cfg.path, "%s", path);
    struct blk *a = blk_open(&cfg, -1);
    assert_non_null(a);
    assert_null(blk_open(&cfg, -1));                             /* locked */
    cfg.readonly = true;
    assert_null(blk_open(&cfg, -1));                             /* a reader waits for the writer */
    blk_close(a);
    struct blk *r1 = blk_open(&cfg, -1), *r2 = blk_open(&cfg, -1);   /* readers share */
    assert_non_null(r1);
    assert_non_null(r2);
    blk_close(r1);
    blk_close(r2);
    unlink(path);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(config_and_bars),
        cmocka_unit_test(virtio_transport),
        cmocka_unit_test(blk_requests),
        cmocka_unit_test(blk_open_errors),
        cmocka_unit_test(blk_in_flight),
        cmocka_unit_test(blk_direct),
    };
    return cmocka_run_group_tests_name("pci_virtio", tests, NULL, NULL);
}
