/* The test guests' virtio driver (see virtio.h). */
#include "virtio.h"

#include "guest.h"
#include "interrupts.h"

#include <linux/virtio_config.h>
#include <linux/virtio_pci.h>

#define WAIT_CYCLES 20000000000ull   /* ~8 s at 2.6 GHz */
#define MAX_INDIRECT 16

extern char _end[];
static uintptr_t dma_next;

void *dma_alloc(size_t size, size_t align)
{
    if (!dma_next)
        dma_next = ((uintptr_t)_end + (2u << 20) - 1) & ~(uintptr_t)((2u << 20) - 1);
    uintptr_t at = (dma_next + align - 1) & ~(uintptr_t)(align - 1);
    dma_next = at + size;
    memset((void *)at, 0, size);
    return (void *)at;
}

#define COMMON8(d, off) (*(volatile uint8_t *)((d)->common + (off)))
#define COMMON16(d, off) (*(volatile uint16_t *)((d)->common + (off)))
#define COMMON32(d, off) (*(volatile uint32_t *)((d)->common + (off)))

static volatile uint8_t *region(const struct virtio_dev *d, unsigned cap)
{
    uint8_t bar = (uint8_t)pci_read(d->cfg, d->slot, cap + offsetof(struct virtio_pci_cap, bar), 1);
    uint32_t off = pci_read(d->cfg, d->slot, cap + offsetof(struct virtio_pci_cap, offset), 4);
    if (bar > 5)
        return NULL;
    return (volatile uint8_t *)(uintptr_t)(pci_bar_addr(d->cfg, d->slot, bar) + off);
}

bool virtio_open(struct virtio_dev *d, const struct pci_cfg *cfg, unsigned slot)
{
    memset(d, 0, sizeof *d);
    d->cfg = cfg;
    d->slot = slot;
    uint16_t vendor = (uint16_t)pci_read(cfg, slot, PCI_VENDOR_ID, 2);
    uint16_t device = (uint16_t)pci_read(cfg, slot, PCI_DEVICE_ID, 2);
    if (vendor != 0x1af4 || device < VIRTIO_PCI_DEVICE_BASE || device > VIRTIO_PCI_DEVICE_BASE + 0x3f)
        return false;
    d->type = (uint16_t)(device - VIRTIO_PCI_DEVICE_BASE);
    for (unsigned cap = pci_find_cap(cfg, slot, PCI_CAP_ID_VNDR, 0); cap;
         cap = pci_find_cap(cfg, slot, PCI_CAP_ID_VNDR, cap)) {
        uint8_t type = (uint8_t)pci_read(cfg, slot, cap + offsetof(struct virtio_pci_cap, cfg_type), 1);
        switch (type) {
        case VIRTIO_PCI_CAP_COMMON_CFG: d->common = region(d, cap); break;
        case VIRTIO_PCI_CAP_ISR_CFG: d->isr = region(d, cap); break;
        case VIRTIO_PCI_CAP_DEVICE_CFG: d->device = region(d, cap); break;
        case VIRTIO_PCI_CAP_NOTIFY_CFG:
            d->notify_base = region(d, cap);
            d->notify_mult = pci_read(cfg, slot, cap + sizeof(struct virtio_pci_cap), 4);
            break;
        }
    }
    d->msix_cap = pci_find_cap(cfg, slot, PCI_CAP_ID_MSIX, 0);
    if (!d->common || !d->isr || !d->notify_base)
        return false;
    virtio_reset(d);
    return true;
}

void virtio_reset(struct virtio_dev *d)
{
    COMMON8(d, VIRTIO_PCI_COMMON_STATUS) = 0;
    /* A reset completes when the status reads 0 again. */
    uint64_t end = rdtsc() + WAIT_CYCLES;
    while (COMMON8(d, VIRTIO_PCI_COMMON_STATUS) && rdtsc() < end)
        __asm__ volatile("pause");
}

uint8_t virtio_status(const struct virtio_dev *d)
{
    return COMMON8(d, VIRTIO_PCI_COMMON_STATUS);
}

uint64_t virtio_negotiate(struct virtio_dev *d, uint64_t wanted, uint64_t *offered)
{
    COMMON8(d, VIRTIO_PCI_COMMON_STATUS) = VIRTIO_CONFIG_S_ACKNOWLEDGE;
    COMMON8(d, VIRTIO_PCI_COMMON_STATUS) = VIRTIO_CONFIG_S_ACKNOWLEDGE | VIRTIO_CONFIG_S_DRIVER;
    uint64_t have = 0;
    for (unsigned half = 0; half < 2; half++) {
        COMMON32(d, VIRTIO_PCI_COMMON_DFSELECT) = half;
        have |= (uint64_t)COMMON32(d, VIRTIO_PCI_COMMON_DF) << (32 * half);
    }
    *offered = have;
    uint64_t take = (wanted | 1ull << VIRTIO_F_VERSION_1) & have;
    for (unsigned half = 0; half < 2; half++) {
        COMMON32(d, VIRTIO_PCI_COMMON_GFSELECT) = half;
        COMMON32(d, VIRTIO_PCI_COMMON_GF) = (uint32_t)(take >> (32 * half));
    }
    COMMON8(d, VIRTIO_PCI_COMMON_STATUS) =
        VIRTIO_CONFIG_S_ACKNOWLEDGE | VIRTIO_CONFIG_S_DRIVER | VIRTIO_CONFIG_S_FEATURES_OK;
    if (!(COMMON8(d, VIRTIO_PCI_COMMON_STATUS) & VIRTIO_CONFIG_S_FEATURES_OK))
        return 0;
    return take;
}

int virtio_queue_setup(struct virtio_dev *d, unsigned i, uint16_t size, uint16_t vector)
{
    if (i >= VQ_MAX || i >= COMMON16(d, VIRTIO_PCI_COMMON_NUMQ))
        return -1;
    COMMON16(d, VIRTIO_PCI_COMMON_Q_SELECT) = (uint16_t)i;
    uint16_t max = COMMON16(d, VIRTIO_PCI_COMMON_Q_SIZE);
    if (!max)
        return -1;
    if (size > max)
        size = max;
    struct vq *q = &d->q[i];
    q->index = (uint16_t)i;
    q->size = size;
    q->desc = dma_alloc(16u * size, 4096);
    q->avail = dma_alloc(6u + 2u * size, 4096);
    q->used = dma_alloc(6u + 8u * size, 4096);
    for (uint16_t k = 0; k < size; k++)
        q->desc[k].next = (uint16_t)(k + 1);
    q->free_head = 0;
    q->nfree = size;
    q->last_used = 0;
    COMMON16(d, VIRTIO_PCI_COMMON_Q_SIZE) = size;
    uint64_t rings[3] = { (uintptr_t)q->desc, (uintptr_t)q->avail, (uintptr_t)q->used };
    static const unsigned lo[3] = { VIRTIO_PCI_COMMON_Q_DESCLO, VIRTIO_PCI_COMMON_Q_AVAILLO,
                                    VIRTIO_PCI_COMMON_Q_USEDLO };
    for (unsigned r = 0; r < 3; r++) {
        COMMON32(d, lo[r]) = (uint32_t)rings[r];
        COMMON32(d, lo[r] + 4) = (uint32_t)(rings[r] >> 32);
    }
    COMMON16(d, VIRTIO_PCI_COMMON_Q_MSIX) = vector;
    uint16_t accepted = COMMON16(d, VIRTIO_PCI_COMMON_Q_MSIX);
    uint16_t off = COMMON16(d, VIRTIO_PCI_COMMON_Q_NOFF);
    q->notify = (volatile uint16_t *)(d->notify_base + (uint32_t)off * d->notify_mult);
    COMMON16(d, VIRTIO_PCI_COMMON_Q_ENABLE) = 1;
    return accepted;
}

void virtio_driver_ok(struct virtio_dev *d)
{
    COMMON8(d, VIRTIO_PCI_COMMON_STATUS) = VIRTIO_CONFIG_S_ACKNOWLEDGE | VIRTIO_CONFIG_S_DRIVER |
                                           VIRTIO_CONFIG_S_FEATURES_OK | VIRTIO_CONFIG_S_DRIVER_OK;
}

static uint16_t take_desc(struct vq *q)
{
    uint16_t i = q->free_head;
    q->free_head = q->desc[i].next;
    q->nfree--;
    return i;
}

int vq_add(struct vq *q, const struct vq_buf *bufs, unsigned n, bool indirect)
{
    if (!n || (indirect && n > MAX_INDIRECT) || q->nfree < (indirect ? 1 : n))
        return -1;
    struct vring_desc *table = NULL;
    if (indirect)
        table = dma_alloc(MAX_INDIRECT * sizeof *table, 16);
    uint16_t head = take_desc(q), at = head;
    for (unsigned k = 0; k < n; k++) {
        struct vring_desc *e = indirect ? &table[k] : &q->desc[at];
        e->addr = (uintptr_t)bufs[k].addr;
        e->len = bufs[k].len;
        e->flags = (uint16_t)(bufs[k].device_writes ? VRING_DESC_F_WRITE : 0);
        if (k + 1 < n) {
            e->flags |= VRING_DESC_F_NEXT;
            if (indirect) {
                e->next = (uint16_t)(k + 1);
            } else {
                uint16_t nx = take_desc(q);
                e->next = nx;
                at = nx;
            }
        }
    }
    if (indirect) {
        q->desc[head].addr = (uintptr_t)table;
        q->desc[head].len = n * sizeof *table;
        q->desc[head].flags = VRING_DESC_F_INDIRECT;
    }
    q->avail->ring[q->avail->idx % q->size] = head;
    __asm__ volatile("" ::: "memory");   /* x86 keeps stores in order */
    q->avail->idx++;
    return head;
}

void vq_kick(struct vq *q)
{
    __asm__ volatile("mfence" ::: "memory");
    *q->notify = q->index;
}

static void free_chain(struct vq *q, uint16_t head)
{
    uint16_t i = head, n = 1;
    while ((q->desc[i].flags & VRING_DESC_F_NEXT) && n < q->size) {
        i = q->desc[i].next;
        n++;
    }
    q->desc[i].next = q->free_head;
    q->free_head = head;
    q->nfree = (uint16_t)(q->nfree + n);
}

bool vq_take(struct vq *q, uint16_t *head, uint32_t *len)
{
    if (*(volatile uint16_t *)&q->used->idx == q->last_used)
        return false;
    __asm__ volatile("" ::: "memory");
    struct vring_used_elem e = q->used->ring[q->last_used % q->size];
    q->last_used++;
    *head = (uint16_t)e.id;
    *len = e.len;
    if (e.id < q->size)
        free_chain(q, (uint16_t)e.id);
    return true;
}

bool vq_wait(struct vq *q, uint16_t *head, uint32_t *len)
{
    uint64_t end = rdtsc() + WAIT_CYCLES;
    while (!vq_take(q, head, len))
        if (rdtsc() > end)
            return false;
    return true;
}

long vq_roundtrip(struct vq *q, const struct vq_buf *bufs, unsigned n, bool indirect)
{
    uint16_t head;
    uint32_t len;
    if (vq_add(q, bufs, n, indirect) < 0)
        return -1;
    vq_kick(q);
    return vq_wait(q, &head, &len) ? (long)len : -1;
}

bool virtio_msix_enable(struct virtio_dev *d, uint8_t vector_base)
{
    if (!d->msix_cap)
        return false;
    const struct pci_cfg *c = d->cfg;
    uint16_t ctl = (uint16_t)pci_read(c, d->slot, d->msix_cap + PCI_MSIX_FLAGS, 2);
    uint32_t table = pci_read(c, d->slot, d->msix_cap + PCI_MSIX_TABLE, 4);
    uint32_t pba = pci_read(c, d->slot, d->msix_cap + PCI_MSIX_PBA, 4);
    d->msix_vectors = (ctl & PCI_MSIX_FLAGS_QSIZE) + 1u;
    d->msix_table = (volatile uint32_t *)(uintptr_t)(pci_bar_addr(c, d->slot, table & PCI_MSIX_TABLE_BIR) +
                                                   (table & PCI_MSIX_TABLE_OFFSET));
    d->msix_pba = (volatile uint32_t *)(uintptr_t)(pci_bar_addr(c, d->slot, pba & PCI_MSIX_PBA_BIR) +
                                                 (pba & PCI_MSIX_PBA_OFFSET));
    for (unsigned v = 0; v < d->msix_vectors; v++) {
        volatile uint32_t *e = d->msix_table + 4 * v;
        e[3] = PCI_MSIX_ENTRY_CTRL_MASKBIT;
        e[0] = 0xfee00000u;              /* destination: APIC ID 0 */
        e[1] = 0;
        e[2] = (uint32_t)(vector_base + v);
    }
    pci_write(c, d->slot, d->msix_cap + PCI_MSIX_FLAGS,
              (ctl & ~PCI_MSIX_FLAGS_MASKALL) | PCI_MSIX_FLAGS_ENABLE, 2);
    return true;
}

bool virtio_msix_pending(const struct virtio_dev *d, unsigned vector)
{
    return d->msix_pba && vector < d->msix_vectors && (d->msix_pba[vector / 32] >> (vector % 32)) & 1;
}

void virtio_msix_mask(struct virtio_dev *d, unsigned vector, bool masked)
{
    if (d->msix_table && vector < d->msix_vectors)
        d->msix_table[4 * vector + 3] = masked ? PCI_MSIX_ENTRY_CTRL_MASKBIT : 0;
}
