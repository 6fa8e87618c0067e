/* virtio-blk from the guest's side, without a guest: fills the device's
 * virtqueue in guest memory (a memfd) exactly as a driver would, kicks it
 * through the notify register, and reaps the used ring, keeping QD
 * requests in flight for a few seconds. Prints "IOPS MB/s" for one
 * workload; bench/blk.sh runs it next to fio on the same file.
 *
 *   blk_harness FILE randread|seqread BLOCK_BYTES QD SECONDS [direct]  */
#include "fake_host.h"
#include "virtio_driver.h"
#include "vq_driver.h"

#include "devices/pci/pci.h"
#include "devices/virtio/blk.h"

#include <linux/pci_regs.h>
#include <linux/virtio_blk.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <poll.h>
#include <time.h>
#include <unistd.h>

#define QSIZE 256
#define MAX_QD 64
#define HDRS 0x100000ull             /* per slot: header at +0, status at +32 */
#define DATA 0x200000ull             /* per slot: one block */
/* A halted vCPU: KVM polls for its interrupt this long (halt_poll_ns'
 * default) before it puts the thread to sleep. */
#define HALT_POLL_S 50e-6

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

/* MSI-X vector 0 for queue 0, as a guest's driver sets it up: enable the
 * capability, aim and unmask table entry 0, give the queue the vector.
 * The device's notifications then arrive on the vector's eventfd (KVM's
 * irqfd), which the harness sleeps on when nothing is done, as an idle
 * vCPU halts until its interrupt. Returns that eventfd, or -1. */
static int msix_irqfd(struct fake_host *f, unsigned slot)
{
    unsigned cap = cf8_read(f, slot, PCI_CAP_PTR) & 0xff;
    for (unsigned n = 0; cap && (cf8_read(f, slot, cap) & 0xff) != PCI_CAP_ID_MSIX && n < 48; n++)
        cap = (cf8_read(f, slot, cap) >> 8) & 0xff;
    if (!cap)
        return -1;
    uint32_t table = cf8_read(f, slot, cap + PCI_MSIX_TABLE);
    uint64_t at = (cf8_read(f, slot, PCI_BAR0 + 4 * (table & PCI_MSIX_TABLE_BIR)) & ~15u) +
                  (table & PCI_MSIX_TABLE_OFFSET);
    mmio_write(f, at + PCI_MSIX_ENTRY_LOWER_ADDR, 0xfee00000u, 4);
    mmio_write(f, at + PCI_MSIX_ENTRY_UPPER_ADDR, 0, 4);
    mmio_write(f, at + PCI_MSIX_ENTRY_DATA, 0x40, 4);
    mmio_write(f, at + PCI_MSIX_ENTRY_VECTOR_CTRL, 0, 4);
    cf8_write(f, slot, cap, cf8_read(f, slot, cap) | (uint32_t)PCI_MSIX_FLAGS_ENABLE << 16);
    uint64_t bar = vdrv_bar4(f, slot);
    mmio_write(f, bar + VIRTIO_PCI_COMMON_Q_SELECT, 0, 2);
    mmio_write(f, bar + VIRTIO_PCI_COMMON_Q_MSIX, 0, 2);
    if (mmio_read(f, bar + VIRTIO_PCI_COMMON_Q_MSIX, 2) != 0)
        return -1;
    for (unsigned i = 0; i < sizeof f->msi / sizeof f->msi[0]; i++)
        if (f->msi[i].routed && f->msi[i].data == 0x40)
            return f->msi[i].irqfd;
    return -1;
}

int main(int argc, char **argv)
{
    if (argc < 6) {
        fprintf(stderr, "usage: %s FILE randread|seqread BLOCK_BYTES QD SECONDS [direct]\n", argv[0]);
        return 2;
    }
    bool seq = !strcmp(argv[2], "seqread");
    uint32_t bs = (uint32_t)strtoul(argv[3], NULL, 0);
    unsigned qd = (unsigned)strtoul(argv[4], NULL, 0);
    double secs = strtod(argv[5], NULL);
    bool direct = argc > 6 && !strcmp(argv[6], "direct");
    if (!bs || bs % 512 || !qd || qd > MAX_QD) {
        fprintf(stderr, "bad block size or queue depth\n");
        return 2;
    }
    struct stat st;
    if (stat(argv[1], &st) < 0 || (uint64_t)st.st_size < bs) {
        perror(argv[1]);
        return 1;
    }
    uint64_t blocks = (uint64_t)st.st_size / bs;

    static struct fake_host f;
    uint64_t ram = DATA + (uint64_t)MAX_QD * bs + (1u << 20);
    ram = (ram + (2u << 20) - 1) & ~((2ull << 20) - 1);
    fake_host_init(&f, ram);
    struct device hostdev, blkdev;
    struct pci_host *h = pci_host_create(&f.host, &test_layout, &hostdev);
    struct disk_config cfg = { .direct = direct };
    snprintf(cfg.path, sizeof cfg.path, "%s", argv[1]);
    struct blk *b = blk_open(&cfg, -1);
    if (!h || !b || !virtio_blk_create(h, b, &blkdev))
        return 1;
    static struct vq_driver drv;
    if (vdrv_bring_up_size(&f, 1, 0, &drv, 1, 0x10000, QSIZE) != 0x0f) {
        fprintf(stderr, "the device did not come up\n");
        return 1;
    }

    int irqfd = msix_irqfd(&f, 1);
    if (irqfd < 0) {
        fprintf(stderr, "MSI-X did not come up\n");
        return 1;
    }

    uint16_t slot_of_head[QSIZE];
    uint64_t next_block = 0, done = 0;
    unsigned seed = 1;
    /* Posts slot s's next read; returns its head. */
#define POST(s)                                                                                   \
    do {                                                                                          \
        uint64_t blk = seq ? next_block++ % blocks : (uint64_t)rand_r(&seed) % blocks;           \
        struct virtio_blk_outhdr hdr = { VIRTIO_BLK_T_IN, 0, blk * bs / 512 };                   \
        guest_mem_write(&f.mem, HDRS + (s) * 64, &hdr, sizeof hdr);                               \
        struct vq_buf bufs[] = { { HDRS + (s) * 64, sizeof hdr, false },                          \
                                 { DATA + (uint64_t)(s) * bs, bs, true },                         \
                                 { HDRS + (s) * 64 + 32, 1, true } };                             \
        int head = vqd_add(&drv, bufs, 3, 0);                                                     \
        if (head < 0)                                                                             \
            abort();                                                                              \
        slot_of_head[head] = (uint16_t)(s);                                                       \
    } while (0)

    for (unsigned s = 0; s < qd; s++)
        POST(s);
    vdrv_kick(&f, 1, &drv, 0);
    double start = now(), end = start + secs, t = start, idle_since = start;
    while (t < end) {
        uint16_t id;
        uint32_t len;
        bool any = false;
        while (vqd_get_used(&drv, &id, &len)) {
            uint8_t status;
            guest_mem_read(&f.mem, HDRS + slot_of_head[id] * 64 + 32, &status, 1);
            if (status != VIRTIO_BLK_S_OK || len != bs + 1) {
                fprintf(stderr, "request failed (status %u, len %u)\n", status, len);
                return 1;
            }
            done++;
            POST(slot_of_head[id]);
            any = true;
        }
        if (any) {
            vqd_publish(&drv);
            if (vqd_kick_wanted(&drv))
                mmio_write(&f, vdrv_bar4(&f, 1) + VDRV_NOTIFY, 0, 2);
        } else if (now() - idle_since > HALT_POLL_S) {
            /* Idle until the interrupt; the eventfd keeps a notification
             * that came since the used ring was read, so none is lost. */
            struct pollfd p = { .fd = irqfd, .events = POLLIN };
            uint64_t n;
            if (poll(&p, 1, 10) > 0 && read(irqfd, &n, sizeof n) < 0)
                return 1;
        }
        t = now();
        if (any)
            idle_since = t;
    }
    double elapsed = t - start;
    printf("%.0f %.1f\n", done / elapsed, done * (double)bs / elapsed / 1e6);
    /* Let what is in flight finish before the device goes. */
    mmio_write(&f, vdrv_bar4(&f, 1) + VIRTIO_PCI_COMMON_STATUS, 0, 1);
    blkdev.ops->destroy(blkdev.dev);
    hostdev.ops->destroy(hostdev.dev);
    fake_host_destroy(&f);
    return 0;
}
