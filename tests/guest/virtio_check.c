/* PCI and virtio from the guest's side, with "virtio" on the command line:
 * enumerate bus 0 through both configuration mechanisms and compare them;
 * size every BAR and move the 64-bit virtio BAR into the 32-bit hole;
 * then drive each virtio function with the guest's own driver
 * (runtime/virtio.c), polling only:
 *   blk      get-id, a read the host prepared (blk_head=CKSUM of the first
 *            64 KiB), a few MiB written with several requests in flight
 *            (direct and indirect chains), flushed, read back and compared
 *            by checksum; write-zeroes, discard, a read past the end, an
 *            unknown request; a read-only disk refuses writes. MSI-X: the
 *            completions leave the queue's masked vector pending. With
 *            blk_flood=N, N reads with the queue kept full instead.
 *   rng      bytes from the host, twice, different; the INTx path (ISR,
 *            the PCI status interrupt bit).
 *   console  a line out through the transmit queue, and with vcon_echo
 *            a line in until '.'.
 *   net      see net_check.c.
 * Disk layout the host side (tests/integration/test_virtio.sh) shares. */
#include "checks.h"
#include "guest.h"
#include "virtio.h"

#include <linux/virtio_blk.h>
#include <linux/virtio_config.h>
#include <linux/virtio_console.h>
#include <linux/virtio_ids.h>
#include <linux/virtio_pci.h>

#define SECTOR 512u
#define HEAD_BYTES (64u << 10)          /* host-written, read and cksummed */
#define PATTERN_AT (1u << 20)           /* the guest writes its pattern here */
#define PATTERN_BYTES (4u << 20)
#define ZEROES_AT (6u << 20)            /* write-zeroes */
#define DISCARD_AT (7u << 20)           /* discard */
#define HOLE_BYTES (64u << 10)
#define CHUNK (64u << 10)               /* per request */
#define IN_FLIGHT 8
#define PATTERN_TAG 0x6b766d62ull       /* "kvmb": word = TAG << 32 | byte offset */
#define BAR_WINDOW 0xd0000000ull        /* where the guest moves 64-bit BARs */
#define MSIX_VECTOR_BASE 0x40
#define QUEUE_VECTOR 1

static const char *cmd;

/* The checksum of the pattern test: FNV-1a over 64-bit words, cheap
 * where guest code is emulated. */
static uint64_t mix(uint64_t h, uint64_t w)
{
    return (h ^ w) * 0x100000001b3ull;
}

static bool all_zero(const void *p, size_t n)
{
    const uint64_t *w = p;
    for (size_t i = 0; i < n / 8; i++)
        if (w[i])
            return false;
    return true;
}

/* ---- PCI ---- */

static bool ecam_matches_cf8(const struct pci_cfg *cf8, const struct pci_cfg *ecam, unsigned slot)
{
    for (unsigned off = 0; off < 64; off += 4)
        if (pci_read(cf8, slot, off, 4) != pci_read(ecam, slot, off, 4))
            return false;
    return true;
}

/* Sizes every BAR, moves a 64-bit one below 4 GiB (the guest maps only
 * that much) and turns on memory decoding and bus mastering. */
static bool place_bars(const struct pci_cfg *c, unsigned slot)
{
    bool ok = true;
    for (unsigned bar = 0; bar < 6; bar++) {
        bool is64;
        uint64_t size = pci_bar_size(c, slot, bar, &is64);
        if (!size)
            continue;
        uint64_t at = pci_bar_addr(c, slot, bar);
        print("pci 00:%x.0: BAR %u at 0x%llx, %llu bytes%s\n", slot, bar, at, size,
              is64 ? ", 64-bit" : "");
        if (at & (size - 1))
            ok = false;
        if (is64) {
            uint64_t to = BAR_WINDOW + slot * 0x100000ull;
            pci_bar_move(c, slot, bar, to);
            if (pci_bar_addr(c, slot, bar) != to)
                ok = false;
            print("pci 00:%x.0: BAR %u moved to 0x%llx\n", slot, bar, to);
            bar++;
        }
    }
    uint16_t cmdreg = (uint16_t)pci_read(c, slot, PCI_COMMAND, 2);
    pci_write(c, slot, PCI_COMMAND, cmdreg | PCI_COMMAND_MEMORY | PCI_COMMAND_MASTER, 2);
    return ok;
}

/* ---- virtio-blk ---- */

struct blk_req {
    struct virtio_blk_outhdr hdr;
    uint8_t status;
};

static struct blk_req *reqs;      /* IN_FLIGHT of them */
static uint8_t *io;               /* CHUNK scratch */

static void blk_bufs(struct vq_buf b[3], struct blk_req *r, uint32_t type, uint64_t sector,
                     void *data, uint32_t len)
{
    r->hdr.type = type;
    r->hdr.ioprio = 0;
    r->hdr.sector = sector;
    r->status = 0xff;
    unsigned n = 0;
    b[n++] = (struct vq_buf){ &r->hdr, sizeof r->hdr, false };
    if (len)
        b[n++] = (struct vq_buf){ data, len, type == VIRTIO_BLK_T_IN || type == VIRTIO_BLK_T_GET_ID };
    b[n] = (struct vq_buf){ &r->status, 1, true };
}

/* One request, waited for; returns its status (0xff: never completed). */
static uint8_t blk_do(struct virtio_dev *d, uint32_t type, uint64_t sector, void *data, uint32_t len)
{
    struct vq_buf b[3];
    blk_bufs(b, &reqs[0], type, sector, data, len);
    if (vq_roundtrip(&d->q[0], b, len ? 3 : 2, false) < 0)
        return 0xff;
    return reqs[0].status;
}

/* PATTERN_BYTES from PATTERN_AT in CHUNK requests, IN_FLIGHT at a time,
 * every other one through an indirect table. */
static bool blk_stream(struct virtio_dev *d, uint32_t type, uint8_t *buf)
{
    for (uint32_t done = 0; done < PATTERN_BYTES;) {
        unsigned n = 0;
        for (; n < IN_FLIGHT && done + n * CHUNK < PATTERN_BYTES; n++) {
            struct vq_buf b[3];
            uint32_t off = done + n * CHUNK;
            blk_bufs(b, &reqs[n], type, (PATTERN_AT + off) / SECTOR, buf + off, CHUNK);
            if (vq_add(&d->q[0], b, 3, n & 1) < 0)
                return false;
        }
        vq_kick(&d->q[0]);
        for (unsigned k = 0; k < n; k++) {
            uint16_t head;
            uint32_t len;
            if (!vq_wait(&d->q[0], &head, &len))
                return false;
        }
        for (unsigned k = 0; k < n; k++)
            if (reqs[k].status != VIRTIO_BLK_S_OK)
                return false;
        done += n * CHUNK;
    }
    return true;
}

static void blk_rw_disk(struct virtio_dev *d, uint64_t offered)
{
    uint64_t want = 1ull << VIRTIO_BLK_F_FLUSH | 1ull << VIRTIO_BLK_F_DISCARD |
                    1ull << VIRTIO_BLK_F_WRITE_ZEROES | 1ull << VIRTIO_BLK_F_SEG_MAX |
                    1ull << VIRTIO_BLK_F_BLK_SIZE | 1ull << VIRTIO_RING_F_INDIRECT_DESC;
    check((offered & want) == want,
          "virtio-blk: offers flush, discard, write-zeroes, seg_max, blk_size, indirect");
    char buf[64];
    volatile struct virtio_blk_config *cfg = (volatile void *)d->device;
    uint64_t capacity = cfg->capacity;
    print("virtio-blk: %llu sectors, seg_max %u, blk_size %u, max_discard_sectors %u\n", capacity,
          cfg->seg_max, cfg->blk_size, cfg->max_discard_sectors);
    if (cmdline_get(cmd, "blk_bytes", buf, sizeof buf))
        check(capacity * SECTOR == parse_u64(buf), "virtio-blk: capacity is the file's size");

    char *id = dma_alloc(VIRTIO_BLK_ID_BYTES + 1, 16);
    uint8_t st = blk_do(d, VIRTIO_BLK_T_GET_ID, 0, id, VIRTIO_BLK_ID_BYTES);
    print("virtio-blk: get-id status %u, '%s'\n", st, id);
    if (cmdline_get(cmd, "blk_serial", buf, sizeof buf))
        check(st == VIRTIO_BLK_S_OK && !strncmp(id, buf, VIRTIO_BLK_ID_BYTES),
              "virtio-blk: get-id returns serial=");

    st = blk_do(d, VIRTIO_BLK_T_IN, 0, io, HEAD_BYTES);
    uint32_t sum = posix_cksum(io, HEAD_BYTES);
    print("virtio-blk: first %u bytes read, status %u, cksum %u\n", HEAD_BYTES, st, sum);
    if (cmdline_get(cmd, "blk_head", buf, sizeof buf))
        check(st == VIRTIO_BLK_S_OK && sum == parse_u64(buf),
              "virtio-blk: a read returns the file's bytes (cksum)");
    check(virtio_msix_pending(d, QUEUE_VECTOR),
          "msi-x: a completion leaves the queue's masked vector pending in the PBA");
    virtio_msix_mask(d, QUEUE_VECTOR, false);
    check(!virtio_msix_pending(d, QUEUE_VECTOR), "msi-x: unmasking delivers it (PBA bit clear)");
    virtio_msix_mask(d, QUEUE_VECTOR, true);

    uint8_t *wbuf = dma_alloc(PATTERN_BYTES, 4096), *rbuf = dma_alloc(PATTERN_BYTES, 4096);
    uint64_t *w = (uint64_t *)wbuf, wsum = 0xcbf29ce484222325ull, rsum = wsum;
    for (uint32_t i = 0; i < PATTERN_BYTES / 8; i++) {
        w[i] = PATTERN_TAG << 32 | (PATTERN_AT + 8ull * i);
        wsum = mix(wsum, w[i]);
    }
    bool ok = blk_stream(d, VIRTIO_BLK_T_OUT, wbuf);
    check(ok, "virtio-blk: a few MiB written, 8 requests in flight, direct and indirect chains");
    check(blk_do(d, VIRTIO_BLK_T_FLUSH, 0, NULL, 0) == VIRTIO_BLK_S_OK, "virtio-blk: flush");
    ok = blk_stream(d, VIRTIO_BLK_T_IN, rbuf);
    const uint64_t *r = (const uint64_t *)rbuf;
    for (uint32_t i = 0; i < PATTERN_BYTES / 8; i++)
        rsum = mix(rsum, r[i]);
    print("virtio-blk: %u bytes at %u: written checksum 0x%llx, read back 0x%llx\n", PATTERN_BYTES,
          PATTERN_AT, wsum, rsum);
    check(ok && wsum == rsum, "virtio-blk: read back, same checksum");

    struct virtio_blk_discard_write_zeroes *seg = dma_alloc(sizeof *seg, 16);
    seg->sector = ZEROES_AT / SECTOR;
    seg->num_sectors = HOLE_BYTES / SECTOR;
    seg->flags = 0;
    st = blk_do(d, VIRTIO_BLK_T_WRITE_ZEROES, 0, seg, sizeof *seg);
    uint8_t st2 = blk_do(d, VIRTIO_BLK_T_IN, ZEROES_AT / SECTOR, io, HOLE_BYTES);
    check(st == VIRTIO_BLK_S_OK && st2 == VIRTIO_BLK_S_OK && all_zero(io, HOLE_BYTES),
          "virtio-blk: write-zeroes, then the range reads as zeroes");
    seg->sector = DISCARD_AT / SECTOR;
    st = blk_do(d, VIRTIO_BLK_T_DISCARD, 0, seg, sizeof *seg);
    check(st == VIRTIO_BLK_S_OK, "virtio-blk: discard");

    st = blk_do(d, VIRTIO_BLK_T_IN, capacity, io, SECTOR);
    check(st == VIRTIO_BLK_S_IOERR, "virtio-blk: a read past the end fails with IOERR");
    st = blk_do(d, 0x99, 0, io, SECTOR);
    check(st == VIRTIO_BLK_S_UNSUPP, "virtio-blk: an unknown request type gets UNSUPP");
}

static void blk_ro_disk(struct virtio_dev *d, uint64_t offered)
{
    check((offered & (1ull << VIRTIO_BLK_F_RO)) && !(offered & (1ull << VIRTIO_BLK_F_DISCARD)),
          "virtio-blk read-only: offers RO, not discard");
    memset(io, 0x5a, SECTOR);
    check(blk_do(d, VIRTIO_BLK_T_OUT, 0, io, SECTOR) == VIRTIO_BLK_S_IOERR,
          "virtio-blk read-only: a write fails with IOERR");
    check(blk_do(d, VIRTIO_BLK_T_IN, 0, io, SECTOR) == VIRTIO_BLK_S_OK,
          "virtio-blk read-only: a read works");
}

/* blk_flood=N: N reads of CHUNK bytes with the queue kept full (85
 * three-descriptor chains in 256 entries), all into one buffer: what the
 * host holds for a guest's block requests is what a full queue holds,
 * however many it sends. Prints how many were in flight at most. */
#define FLOOD_QUEUE 256
static void blk_flood(struct virtio_dev *d, uint64_t total)
{
    struct blk_req *fr = dma_alloc(FLOOD_QUEUE * sizeof *fr, 64);
    uint8_t *buf = dma_alloc(CHUNK, 4096);
    uint16_t slot_of[FLOOD_QUEUE];
    uint8_t busy[FLOOD_QUEUE] = { 0 };
    uint64_t sent = 0, done = 0, report = 4096;
    unsigned inflight = 0, most = 0;
    bool ok = true;
    while (ok && done < total) {
        bool added = false;
        for (unsigned slot = 0; slot < FLOOD_QUEUE && sent < total; slot++) {
            if (busy[slot])
                continue;
            struct vq_buf b[3];
            blk_bufs(b, &fr[slot], VIRTIO_BLK_T_IN, 0, buf, CHUNK);
            int head = vq_add(&d->q[0], b, 3, false);
            if (head < 0)
                break;                       /* the ring is full */
            slot_of[head] = (uint16_t)slot;
            busy[slot] = 1;
            sent++;
            inflight++;
            added = true;
        }
        if (inflight > most)
            most = inflight;
        if (added)
            vq_kick(&d->q[0]);
        uint16_t head;
        uint32_t len;
        if (!vq_wait(&d->q[0], &head, &len) || head >= FLOOD_QUEUE) {
            ok = false;
            break;
        }
        do {
            unsigned slot = slot_of[head];
            ok &= fr[slot].status == VIRTIO_BLK_S_OK;
            busy[slot] = 0;
            inflight--;
            done++;
        } while (vq_take(&d->q[0], &head, &len) && head < FLOOD_QUEUE);
        if (done >= report) {
            print("blk_flood: %llu of %llu done\n", (unsigned long long)done,
                  (unsigned long long)total);
            report += 4096;
        }
    }
    print("blk_flood: %llu requests, at most %u in flight\n", (unsigned long long)done, most);
    check(ok && done == total, "virtio-blk: a flood of reads, the queue kept full, all completed");
}

static void blk_checks(struct virtio_dev *d)
{
    uint64_t offered;
    bool msix = virtio_msix_enable(d, MSIX_VECTOR_BASE);
    uint64_t got = virtio_negotiate(d, 1ull << VIRTIO_BLK_F_FLUSH | 1ull << VIRTIO_BLK_F_DISCARD |
                                           1ull << VIRTIO_BLK_F_WRITE_ZEROES | 1ull << VIRTIO_BLK_F_RO |
                                           1ull << VIRTIO_BLK_F_SEG_MAX | 1ull << VIRTIO_BLK_F_BLK_SIZE |
                                           1ull << VIRTIO_RING_F_INDIRECT_DESC,
                                    &offered);
    check(got & (1ull << VIRTIO_F_VERSION_1), "virtio-blk: features negotiated, FEATURES_OK kept");
    *(volatile uint16_t *)(d->common + VIRTIO_PCI_COMMON_MSIX) = 0;
    char flood[24];
    bool flooding = cmdline_get(cmd, "blk_flood", flood, sizeof flood);
    int vec = virtio_queue_setup(d, 0, flooding ? FLOOD_QUEUE : 64, QUEUE_VECTOR);
    check(msix && vec == QUEUE_VECTOR, "msi-x: table enabled, the queue takes vector 1");
    virtio_driver_ok(d);
    check(virtio_status(d) & VIRTIO_CONFIG_S_DRIVER_OK, "virtio-blk: DRIVER_OK");
    if (flooding)
        blk_flood(d, parse_u64(flood));
    else if (offered & (1ull << VIRTIO_BLK_F_RO))
        blk_ro_disk(d, offered);
    else
        blk_rw_disk(d, offered);
    /* blk_keep: the device stays live (its worker thread with it), for a
     * host that looks at it afterwards. */
    if (!cmdline_has(cmd, "blk_keep"))
        virtio_reset(d);
}

/* ---- virtio-rng ---- */

/* The ISR once more, read through the VIRTIO_PCI_CAP_PCI_CFG window (a
 * driver that cannot map BARs reads it so): this read once hung the vCPU
 * in kvmbox for good, because lowering INTx took the PCI lock that the
 * configuration read already held. */
static void pci_window_isr(struct virtio_dev *d)
{
    unsigned win = 0, isr_off = 0;
    for (unsigned p = pci_find_cap(d->cfg, d->slot, 0x09, 0); p;
         p = pci_find_cap(d->cfg, d->slot, 0x09, p)) {
        uint8_t type = (uint8_t)pci_read(d->cfg, d->slot, p + 3, 1);
        if (type == VIRTIO_PCI_CAP_PCI_CFG)
            win = p;
        if (type == VIRTIO_PCI_CAP_ISR_CFG)
            isr_off = pci_read(d->cfg, d->slot, p + 8, 4);
    }
    uint8_t *buf = dma_alloc(16, 16);
    struct vq_buf b = { buf, 16, true };
    long got = vq_roundtrip(&d->q[0], &b, 1, false);       /* asserts INTx */
    bool raised = pci_read(d->cfg, d->slot, PCI_STATUS, 2) & PCI_STATUS_INTERRUPT;
    pci_write(d->cfg, d->slot, win + 4, 4, 1);               /* the window: BAR 4, */
    pci_write(d->cfg, d->slot, win + 8, isr_off, 4);         /* the ISR's offset, */
    pci_write(d->cfg, d->slot, win + 12, 1, 4);              /* one byte */
    uint8_t via = (uint8_t)pci_read(d->cfg, d->slot, win + 16, 1);
    bool lowered = !(pci_read(d->cfg, d->slot, PCI_STATUS, 2) & PCI_STATUS_INTERRUPT);
    print("virtio-rng: ISR through the PCI configuration window: 0x%x\n", via);
    check(win && got > 0 && raised && (via & 1) && lowered && !*d->isr,
          "virtio pci-cfg window: reading the ISR through it returns the bit and deasserts INTx");
}

static void rng_checks(struct virtio_dev *d)
{
    uint64_t offered;
    virtio_negotiate(d, 0, &offered);
    virtio_queue_setup(d, 0, 8, VIRTIO_MSI_NO_VECTOR);
    virtio_driver_ok(d);
    uint8_t *a = dma_alloc(64, 64), *b = dma_alloc(64, 64);
    struct vq_buf ba = { a, 64, true }, bb = { b, 64, true };
    long la = vq_roundtrip(&d->q[0], &ba, 1, false);
    long lb = vq_roundtrip(&d->q[0], &bb, 1, false);
    print("virtio-rng: %ld and %ld bytes\n", la, lb);
    check(la > 0 && lb > 0 && !all_zero(a, 64) && memcmp(a, b, 64),
          "virtio-rng: two reads return different random bytes");
    /* No MSI-X: completions raise INTx, seen in the status register and
     * the ISR, which a read clears. */
    bool status_bit = pci_read(d->cfg, d->slot, PCI_STATUS, 2) & PCI_STATUS_INTERRUPT;
    uint8_t isr = *d->isr, isr_again = *d->isr;
    bool cleared = !(pci_read(d->cfg, d->slot, PCI_STATUS, 2) & PCI_STATUS_INTERRUPT);
    print("virtio-rng: INTx status %d, ISR 0x%x then 0x%x\n", status_bit, isr, isr_again);
    check(status_bit && (isr & 1) && !isr_again && cleared,
          "intx: a completion asserts the line (status bit, ISR); reading the ISR deasserts it");
    pci_window_isr(d);
    virtio_reset(d);
}

/* ---- virtio-console ---- */

static void console_checks(struct virtio_dev *d)
{
    uint64_t offered;
    virtio_negotiate(d, 1ull << VIRTIO_CONSOLE_F_EMERG_WRITE, &offered);
    virtio_queue_setup(d, 0, 8, VIRTIO_MSI_NO_VECTOR);
    virtio_queue_setup(d, 1, 8, VIRTIO_MSI_NO_VECTOR);
    virtio_driver_ok(d);
    static const char line[] = "vcon: hello through the transmit queue\n";
    char *out = dma_alloc(sizeof line, 16);
    memcpy(out, line, sizeof line - 1);
    struct vq_buf b = { out, sizeof line - 1, false };
    check(vq_roundtrip(&d->q[1], &b, 1, false) >= 0, "virtio-console: a line out (host checks stdout)");
    if (offered & (1ull << VIRTIO_CONSOLE_F_EMERG_WRITE)) {
        volatile struct virtio_console_config *cfg = (volatile void *)d->device;
        for (const char *p = "vcon: emergency write\n"; *p; p++)
            cfg->emerg_wr = (uint8_t)*p;
    }
    if (!cmdline_has(cmd, "vcon_echo"))
        return;
    print("vcon: ready\n");
    char got[64];
    size_t n = 0;
    bool done = false;
    char *in = dma_alloc(16 * 8, 16);
    for (unsigned i = 0; i < 8; i++) {
        struct vq_buf r = { in + 16 * i, 16, true };
        vq_add(&d->q[0], &r, 1, false);
    }
    vq_kick(&d->q[0]);
    while (!done) {
        uint16_t head;
        uint32_t len;
        if (!vq_wait(&d->q[0], &head, &len))
            break;
        const char *p = in + 16 * head;
        for (uint32_t k = 0; k < len && k < 16 && !done; k++) {
            if (p[k] == '.')
                done = true;
            else if (n + 1 < sizeof got)
                got[n++] = p[k];
        }
        struct vq_buf r = { in + 16 * head, 16, true };
        vq_add(&d->q[0], &r, 1, false);
        vq_kick(&d->q[0]);
    }
    got[n] = 0;
    print("vcon: got '%s'\n", got);
    check(done, "virtio-console: input arrives on the receive queue");
}

void virtio_checks(const char *cmdline)
{
    if (!cmdline_has(cmdline, "virtio"))
        return;
    cmd = cmdline;
    reqs = dma_alloc(IN_FLIGHT * sizeof *reqs, 64);
    io = dma_alloc(CHUNK, 4096);
    const uint8_t *mcfg = acpi_find("MCFG");
    static struct pci_cfg cf8 = { 0 }, ecam;
    check(mcfg != NULL, "pci: ACPI MCFG table present");
    if (!mcfg)
        return;
    memcpy(&ecam.ecam, mcfg + 44, 8);
    print("pci: ECAM at 0x%llx, buses %u-%u\n", ecam.ecam, mcfg[54], mcfg[55]);

    unsigned found = 0, virtio = 0, mismatches = 0;
    uint8_t slots[32];
    for (unsigned slot = 0; slot < 32; slot++) {
        uint32_t id = pci_read(&cf8, slot, PCI_VENDOR_ID, 4);
        if ((id & 0xffff) == 0xffff) {
            if (pci_read(&ecam, slot, PCI_VENDOR_ID, 4) != id)
                mismatches++;
            continue;
        }
        uint32_t class = pci_read(&cf8, slot, PCI_CLASS_REVISION, 4) >> 8;
        print("pci 00:%x.0: %x:%x class %x, pin %u line %u\n", slot, id & 0xffff, id >> 16, class,
              pci_read(&cf8, slot, PCI_INTERRUPT_PIN, 1), pci_read(&cf8, slot, PCI_INTERRUPT_LINE, 1));
        if (!ecam_matches_cf8(&cf8, &ecam, slot))
            mismatches++;
        if (slot == 0)
            check(class == 0x060000, "pci: 00:0.0 is a host bridge");
        found++;
        if ((id & 0xffff) == 0x1af4)
            slots[virtio++] = (uint8_t)slot;
    }
    check(!mismatches, "pci: ECAM and mechanism #1 read the same configuration space");
    char buf[16];
    if (cmdline_get(cmdline, "expect_virtio", buf, sizeof buf))
        check(virtio == parse_u64(buf), "pci: one virtio function per device asked for");

    for (unsigned i = 0; i < virtio; i++) {
        /* Alternate the mechanisms, so each drives a device. */
        const struct pci_cfg *c = i & 1 ? &ecam : &cf8;
        unsigned slot = slots[i];
        uint8_t pin = (uint8_t)pci_read(c, slot, PCI_INTERRUPT_PIN, 1);
        uint8_t line = (uint8_t)pci_read(c, slot, PCI_INTERRUPT_LINE, 1);
        check(pin == 1 && line >= 16 && line < 24, "pci: INTA routed to an IOAPIC pin (GSI 16-23)");
        check(place_bars(c, slot), "pci: BARs sized, aligned, the 64-bit BAR moved below 4 GiB");
        struct virtio_dev *d = dma_alloc(sizeof *d, 64);
        bool ok = virtio_open(d, c, slot);
        check(ok, "virtio: common, notify, ISR and device regions found at the moved BAR");
        if (!ok)
            continue;
        print("virtio: 00:%x.0 is type %u, %u queues\n", slot, d->type,
              *(volatile uint16_t *)(d->common + VIRTIO_PCI_COMMON_NUMQ));
        switch (d->type) {
        case VIRTIO_ID_BLOCK: blk_checks(d); break;
        case VIRTIO_ID_RNG: rng_checks(d); break;
        case VIRTIO_ID_CONSOLE: console_checks(d); break;
        case VIRTIO_ID_NET: net_checks(d, cmdline); break;
        default: check(false, "virtio: a device type the guest knows"); break;
        }
    }
}
