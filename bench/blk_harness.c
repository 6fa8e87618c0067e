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

#include <linux/virtio_blk.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <sched.h>
#include <time.h>

#define QSIZE 256
#define MAX_QD 64
#define HDRS 0x100000ull             /* per slot: header at +0, status at +32 */
#define DATA 0x200000ull             /* per slot: one block */

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
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
    struct blk *b = blk_open(&cfg);
    if (!h || !b || !virtio_blk_create(h, b, &blkdev))
        return 1;
    static struct vq_driver drv;
    if (vdrv_bring_up_size(&f, 1, 0, &drv, 1, 0x10000, QSIZE) != 0x0f) {
        fprintf(stderr, "the device did not come up\n");
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
    double start = now(), end = start + secs, t = start;
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
        if (any)
            vdrv_kick(&f, 1, &drv, 0);
        else
            sched_yield();           /* a guest vCPU shares the host's CPUs too */
        t = now();
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
