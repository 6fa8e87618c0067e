/* The host bridge and bus 0: configuration access, BAR placement and
 * mapping, INTx lines. */
#include "devices/pci/pci.h"

#include "core/state.h"
#include "util/log.h"

#include <endian.h>
#include <stdlib.h>
#include <string.h>

#define PCI_CONFIG_ADDRESS 0xcf8
#define PCI_CONFIG_DATA 0xcfc
#define PCI_RESET_CONTROL_OFFSET 1     /* port 0xcf9 */
#define RESET_CONTROL_RESET 0x04
#define CONFIG_ADDRESS_ENABLE 0x80000000u
#define PCI_IO_WINDOW_BASE 0xc000
#define PCI_IO_WINDOW_END 0x10000
#define PCI_CAP_FIRST 0x40

/* Red Hat's PCI host bridge ID (as QEMU's generic host bridge uses). */
#define HOST_BRIDGE_VENDOR 0x1b36
#define HOST_BRIDGE_DEVICE 0x0008
#define CLASS_HOST_BRIDGE 0x060000

/* Locking (see docs/architecture.md, "Locks"):
 * - `lock` protects every function's configuration space, the slot table
 *   and BAR placement. Configuration accesses hold it while they call the
 *   device's config_read/config_written hooks, so those hooks may take
 *   the device's own locks (a virtio transport's, and under it its
 *   device's), and may stop a device thread. It is never taken by device
 *   threads, by interrupt delivery or by the main loop.
 * - `intx_lock` is a leaf: it protects the INTx state (each function's
 *   intx_level and intx_disabled, and the GSI levels handed to the host).
 *   Anything may raise or lower a line with any other lock held, so
 *   nothing is called with it held except the host's set_irq.
 * Order: lock -> (device locks) -> intx_lock. */
struct pci_host {
    struct dev_host host;
    struct pci_layout layout;
    pthread_mutex_t lock;            /* configuration space and BAR moves */
    pthread_mutex_t intx_lock;       /* INTx levels; a leaf */
    uint32_t config_address;         /* the 0xCF8 latch; written under lock */
    struct pci_dev *devs[PCI_SLOTS];
    struct pci_dev bridge;
    uint64_t next_mmio32, next_mmio64, next_io;
};

const struct dev_host *pci_dev_host(const struct pci_dev *d) { return &d->host->host; }

void pci_dev_init(struct pci_dev *d, uint16_t vendor, uint16_t device, uint32_t class_code,
                  uint8_t revision, uint16_t subsys_vendor, uint16_t subsys_id)
{
    memset(d, 0, sizeof *d);
    pci_cfg_set16(d, PCI_VENDOR_ID, vendor);
    pci_cfg_set16(d, PCI_DEVICE_ID, device);
    d->cfg[PCI_REVISION] = revision;
    d->cfg[PCI_CLASS_PROG] = (uint8_t)class_code;
    d->cfg[PCI_CLASS_PROG + 1] = (uint8_t)(class_code >> 8);
    d->cfg[PCI_CLASS_PROG + 2] = (uint8_t)(class_code >> 16);
    pci_cfg_set16(d, PCI_SUBSYS_VENDOR, subsys_vendor);
    pci_cfg_set16(d, PCI_SUBSYS_ID, subsys_id);
    pci_cfg_set16(d, PCI_STATUS, 0);
    /* The guest may write the command register's decode, master and INTx
     * disable bits, and the interrupt line (a scratch byte for the OS). */
    uint16_t cmd_mask = PCI_COMMAND_IO | PCI_COMMAND_MEMORY | PCI_COMMAND_MASTER |
                        PCI_COMMAND_INTX_DISABLE;
    d->wmask[PCI_COMMAND] = (uint8_t)cmd_mask;
    d->wmask[PCI_COMMAND + 1] = (uint8_t)(cmd_mask >> 8);
    d->wmask[PCI_INT_LINE] = 0xff;
    d->next_cap = PCI_CAP_FIRST;
}

void pci_dev_add_bar(struct pci_dev *d, unsigned idx, uint64_t size, uint32_t flags, bus_io_fn io,
                     void *opaque, const char *name)
{
    if (idx >= PCI_NUM_BARS || ((flags & PCI_BAR_MEM64) && idx + 1 >= PCI_NUM_BARS))
        return;
    d->bars[idx] = (struct pci_bar){ .size = size, .flags = flags, .io = io, .opaque = opaque,
                                     .name = name };
    pci_cfg_set32(d, PCI_BAR0 + 4 * idx, flags);
}

unsigned pci_dev_add_cap(struct pci_dev *d, uint8_t id, const void *body, unsigned len)
{
    unsigned off = d->next_cap;
    if (len < 2 || off + len > PCI_CFG_SIZE)
        return 0;
    memcpy(&d->cfg[off], body, len);
    d->cfg[off] = id;
    d->cfg[off + 1] = 0;
    /* Link it at the end of the list. */
    if (!(pci_cfg_get16(d, PCI_STATUS) & PCI_STATUS_CAP_LIST)) {
        d->cfg[PCI_CAP_PTR] = (uint8_t)off;
        pci_cfg_set16(d, PCI_STATUS, pci_cfg_get16(d, PCI_STATUS) | PCI_STATUS_CAP_LIST);
    } else {
        unsigned p = d->cfg[PCI_CAP_PTR];
        while (d->cfg[p + 1])
            p = d->cfg[p + 1];
        d->cfg[p + 1] = (uint8_t)off;
    }
    d->next_cap = (uint8_t)((off + len + 3) & ~3u);
    return off;
}

/* The address BAR idx decodes now, from configuration space. */
static uint64_t bar_address(const struct pci_dev *d, unsigned idx)
{
    const struct pci_bar *b = &d->bars[idx];
    uint64_t lo = pci_cfg_get32(d, PCI_BAR0 + 4 * idx);
    if (b->flags & PCI_BAR_IO)
        return lo & ~3ull;
    uint64_t a = lo & ~15ull;
    if (b->flags & PCI_BAR_MEM64)
        a |= (uint64_t)pci_cfg_get32(d, PCI_BAR0 + 4 * (idx + 1)) << 32;
    return a;
}

static void unmap_bar(struct pci_dev *d, unsigned idx)
{
    struct pci_bar *b = &d->bars[idx];
    if (!b->mapped)
        return;
    struct bus *bus = (b->flags & PCI_BAR_IO) ? d->host->host.pio : d->host->host.mmio;
    bus_unregister(bus, b->mapped_at);
    b->mapped = false;
    if (d->ops && d->ops->bar_moved)
        d->ops->bar_moved(d, idx, b->mapped_at, false);
}

/* Brings every BAR's bus mapping in line with configuration space: moved
 * BARs move, disabled decoding unmaps. A BAR the guest points at an
 * address already taken stays unmapped (as on hardware, it decodes
 * nothing useful); the guest's next move may fix that. */
static void remap_bars(struct pci_dev *d)
{
    uint16_t cmd = pci_cfg_get16(d, PCI_COMMAND);
    for (unsigned idx = 0; idx < PCI_NUM_BARS; idx++) {
        struct pci_bar *b = &d->bars[idx];
        if (!b->size)
            continue;
        bool io = b->flags & PCI_BAR_IO;
        uint64_t addr = bar_address(d, idx);
        bool on = cmd & (io ? PCI_COMMAND_IO : PCI_COMMAND_MEMORY);
        bool valid = on && addr != 0 && addr + b->size > addr &&
                     (!io || addr + b->size <= PCI_IO_WINDOW_END);
        if (b->mapped && (!valid || b->mapped_at != addr))
            unmap_bar(d, idx);
        if (!valid || b->mapped)
            continue;
        struct bus *bus = io ? d->host->host.pio : d->host->host.mmio;
        if (bus_register(bus, addr, b->size, b->io, b->opaque, b->name) < 0) {
            log_debug("pci %02x: BAR%u at 0x%llx overlaps another range; left unmapped", d->slot,
                      idx, (unsigned long long)addr);
            continue;
        }
        b->mapped = true;
        b->mapped_at = addr;
        if (d->ops && d->ops->bar_moved)
            d->ops->bar_moved(d, idx, addr, true);
    }
}

/* The level of a shared INTx GSI is the OR of its devices' lines. Called
 * with intx_lock held; intx_gsi and the interrupt pin are fixed once the
 * device is on the bus, so the slot table is safe to walk here. */
static void update_intx_locked(struct pci_host *h, unsigned gsi)
{
    bool level = false;
    for (unsigned s = 0; s < PCI_SLOTS; s++) {
        struct pci_dev *d = h->devs[s];
        if (d && d->intx_gsi == gsi && d->cfg[PCI_INT_PIN] && d->intx_level && !d->intx_disabled)
            level = true;
    }
    if (h->host.set_irq)
        h->host.set_irq(h->host.ctx, gsi, level);
}

static void update_intx(struct pci_host *h, unsigned gsi)
{
    pthread_mutex_lock(&h->intx_lock);
    update_intx_locked(h, gsi);
    pthread_mutex_unlock(&h->intx_lock);
}

void pci_dev_set_intx(struct pci_dev *d, bool level)
{
    struct pci_host *h = d->host;
    pthread_mutex_lock(&h->intx_lock);
    d->intx_level = level;
    if (d->cfg[PCI_INT_PIN])
        update_intx_locked(h, d->intx_gsi);
    pthread_mutex_unlock(&h->intx_lock);
}

void pci_dev_follow_intx(struct pci_dev *d, const uint8_t *pending)
{
    struct pci_host *h = d->host;
    pthread_mutex_lock(&h->intx_lock);
    /* Read under the lock: of two threads updating the line, the one that
     * takes the lock last sees the other's change of *pending. */
    d->intx_level = __atomic_load_n(pending, __ATOMIC_SEQ_CST) != 0;
    if (d->cfg[PCI_INT_PIN])
        update_intx_locked(h, d->intx_gsi);
    pthread_mutex_unlock(&h->intx_lock);
}

/* The status register's interrupt bit mirrors the INTx state, which lives
 * under intx_lock, not in configuration space. */
static bool intx_status(struct pci_dev *d)
{
    pthread_mutex_lock(&d->host->intx_lock);
    bool level = d->intx_level;
    pthread_mutex_unlock(&d->host->intx_lock);
    return level;
}

static struct pci_dev *lookup(struct pci_host *h, unsigned slot, unsigned fn)
{
    return slot < PCI_SLOTS && fn == 0 ? h->devs[slot] : NULL;
}

uint32_t pci_config_read(struct pci_host *h, unsigned slot, unsigned fn, unsigned off, unsigned len)
{
    if (len != 1 && len != 2 && len != 4)
        return 0xffffffffu;
    pthread_mutex_lock(&h->lock);
    struct pci_dev *d = lookup(h, slot, fn);
    uint32_t v = 0;
    if (!d)
        v = 0xffffffffu;
    else if (off + len <= PCI_CFG_SIZE) {
        if (d->ops && d->ops->config_read)
            d->ops->config_read(d, off, len);
        for (unsigned i = 0; i < len; i++) {
            uint8_t b = d->cfg[off + i];
            if (off + i == PCI_STATUS && intx_status(d))
                b |= PCI_STATUS_INTERRUPT;
            v |= (uint32_t)b << (8 * i);
        }
    }
    pthread_mutex_unlock(&h->lock);
    if (len < 4)
        v &= (1u << (8 * len)) - 1;
    return v;
}

/* A write to one BAR dword: only the address bits above the BAR's size
 * stick; the low flag bits read back as declared. So writing all-ones
 * reads back ~(size - 1) | flags: the size probe. */
static void write_bar_dword(struct pci_dev *d, unsigned idx, uint32_t v)
{
    struct pci_bar *b = &d->bars[idx];
    struct pci_bar *lower = idx > 0 ? &d->bars[idx - 1] : NULL;
    uint32_t stored;
    if (b->size)
        stored = ((uint32_t)(v & ~(b->size - 1)) & ((b->flags & PCI_BAR_IO) ? ~3u : ~15u)) |
                 b->flags;
    else if (lower && lower->size && (lower->flags & PCI_BAR_MEM64))
        stored = v & (uint32_t)(~(lower->size - 1) >> 32);   /* upper half of a 64-bit BAR */
    else
        stored = 0;
    pci_cfg_set32(d, PCI_BAR0 + 4 * idx, stored);
}

void pci_config_write(struct pci_host *h, unsigned slot, unsigned fn, unsigned off, unsigned len,
                      uint32_t v)
{
    if ((len != 1 && len != 2 && len != 4) || off + len > PCI_CFG_SIZE)
        return;
    pthread_mutex_lock(&h->lock);
    struct pci_dev *d = lookup(h, slot, fn);
    if (!d) {
        pthread_mutex_unlock(&h->lock);
        return;
    }
    bool bars = off < PCI_BAR0 + 4 * PCI_NUM_BARS && off + len > PCI_BAR0;
    bool command = off < PCI_COMMAND + 2 && off + len > PCI_COMMAND;
    if (bars) {
        /* BARs are dword registers: merge a partial write into its dword. */
        unsigned dw = off & ~3u;
        uint32_t cur = pci_cfg_get32(d, dw);
        for (unsigned i = 0; i < len; i++) {
            unsigned shift = 8 * ((off & 3) + i);
            cur = (cur & ~(0xffu << shift)) | (((v >> (8 * i)) & 0xffu) << shift);
        }
        write_bar_dword(d, (dw - PCI_BAR0) / 4, cur);
    } else {
        for (unsigned i = 0; i < len; i++) {
            uint8_t m = d->wmask[off + i];
            d->cfg[off + i] = (uint8_t)((d->cfg[off + i] & ~m) | ((v >> (8 * i)) & m));
        }
    }
    if (bars || command)
        remap_bars(d);
    if (command) {
        pthread_mutex_lock(&h->intx_lock);
        d->intx_disabled = pci_cfg_get16(d, PCI_COMMAND) & PCI_COMMAND_INTX_DISABLE;
        if (d->cfg[PCI_INT_PIN])
            update_intx_locked(h, d->intx_gsi);
        pthread_mutex_unlock(&h->intx_lock);
    }
    if (d->ops && d->ops->config_written)
        d->ops->config_written(d, off, len);
    pthread_mutex_unlock(&h->lock);
}

static uint32_t le_value(const uint8_t *data, unsigned len)
{
    uint32_t v = 0;
    for (unsigned i = 0; i < len && i < 4; i++)
        v |= (uint32_t)data[i] << (8 * i);
    return v;
}

static void le_store(uint8_t *data, unsigned len, uint32_t v)
{
    for (unsigned i = 0; i < len; i++)
        data[i] = i < 4 ? (uint8_t)(v >> (8 * i)) : 0;
}

/* Port 0xCF8 (dword: the configuration address latch) and 0xCF9 (byte:
 * the reset control register, which `reboot=pci` uses). */
static void config_address_io(void *opaque, uint64_t offset, uint8_t *data, unsigned len,
                              bool is_write)
{
    struct pci_host *h = opaque;
    if (offset == 0 && len == 4) {
        if (is_write)
            h->config_address = le_value(data, 4);
        else
            le_store(data, 4, h->config_address);
        return;
    }
    if (offset == PCI_RESET_CONTROL_OFFSET && len == 1) {
        if (is_write && (data[0] & RESET_CONTROL_RESET) && h->host.request_stop)
            h->host.request_stop(h->host.ctx, VM_STOP_RESET, 0);
        else if (!is_write)
            data[0] = 0;
        return;
    }
    if (!is_write)
        memset(data, 0xff, len);
}

static void config_data_io(void *opaque, uint64_t offset, uint8_t *data, unsigned len,
                           bool is_write)
{
    struct pci_host *h = opaque;
    uint32_t a = h->config_address;
    unsigned bus = (a >> 16) & 0xff, slot = (a >> 11) & 31, fn = (a >> 8) & 7;
    unsigned reg = (a & 0xfc) + (unsigned)offset;
    if (!(a & CONFIG_ADDRESS_ENABLE) || bus != 0 || offset + len > 4) {
        if (!is_write)
            memset(data, 0xff, len);
        return;
    }
    if (is_write)
        pci_config_write(h, slot, fn, reg, len, le_value(data, len));
    else
        le_store(data, len, pci_config_read(h, slot, fn, reg, len));
}

/* ECAM: bus 0 only; offset = device << 15 | function << 12 | register. */
static void ecam_io(void *opaque, uint64_t offset, uint8_t *data, unsigned len, bool is_write)
{
    struct pci_host *h = opaque;
    unsigned slot = (unsigned)(offset >> 15) & 31, fn = (unsigned)(offset >> 12) & 7;
    unsigned reg = (unsigned)offset & 0xfff;
    if (len > 4 || (reg & (len - 1))) {          /* 8-byte or unaligned: not for config */
        if (!is_write)
            memset(data, 0xff, len);
        return;
    }
    if (reg >= PCI_CFG_SIZE) {                    /* no extended capabilities */
        if (!is_write)
            le_store(data, len, lookup(h, slot, fn) ? 0 : 0xffffffffu);
        return;
    }
    if (is_write)
        pci_config_write(h, slot, fn, reg, len, le_value(data, len));
    else
        le_store(data, len, pci_config_read(h, slot, fn, reg, len));
}

/* Natural alignment: a BAR is aligned to its size. */
static uint64_t take(uint64_t *next, uint64_t end, uint64_t size)
{
    uint64_t a = (*next + size - 1) & ~(size - 1);
    if (a < *next || a + size > end || a + size < a)
        return 0;
    *next = a + size;
    return a;
}

int pci_host_add(struct pci_host *h, struct pci_dev *d)
{
    pthread_mutex_lock(&h->lock);
    int slot = -1;
    for (unsigned s = 0; s < PCI_SLOTS; s++)
        if (!h->devs[s]) {
            slot = (int)s;
            break;
        }
    if (slot < 0)
        goto out;
    for (unsigned idx = 0; idx < PCI_NUM_BARS; idx++) {
        struct pci_bar *b = &d->bars[idx];
        if (!b->size)
            continue;
        uint64_t a;
        if (b->flags & PCI_BAR_IO)
            a = take(&h->next_io, PCI_IO_WINDOW_END, b->size);
        else if (b->flags & PCI_BAR_MEM64)
            a = take(&h->next_mmio64, h->layout.mmio64.base + h->layout.mmio64.size, b->size);
        else
            a = take(&h->next_mmio32, h->layout.mmio32.base + h->layout.mmio32.size, b->size);
        if (!a) {
            log_error("pci: no room for %s's %llu-byte BAR%u", b->name,
                      (unsigned long long)b->size, idx);
            slot = -1;
            goto out;
        }
        pci_cfg_set32(d, PCI_BAR0 + 4 * idx, (uint32_t)a | b->flags);
        if (b->flags & PCI_BAR_MEM64)
            pci_cfg_set32(d, PCI_BAR0 + 4 * (idx + 1), (uint32_t)(a >> 32));
    }
    d->host = h;
    d->slot = (unsigned)slot;
    if (d->cfg[PCI_INT_PIN]) {
        d->intx_gsi = PCI_INTX_GSI_BASE + ((unsigned)slot + d->cfg[PCI_INT_PIN] - 1) % PCI_INTX_GSIS;
        d->cfg[PCI_INT_LINE] = (uint8_t)d->intx_gsi;
    }
    pthread_mutex_lock(&h->intx_lock);   /* update_intx_locked walks the slots */
    h->devs[slot] = d;
    pthread_mutex_unlock(&h->intx_lock);
    pci_cfg_set16(d, PCI_COMMAND, PCI_COMMAND_IO | PCI_COMMAND_MEMORY);
    remap_bars(d);
out:
    pthread_mutex_unlock(&h->lock);
    return slot;
}

static void pci_host_save(const void *opaque, struct state_writer *w)
{
    const struct pci_host *h = opaque;
    state_begin(w, "pci", 1);
    state_put_u32(w, h->config_address);
    for (unsigned s = 0; s < PCI_SLOTS; s++) {
        const struct pci_dev *d = h->devs[s];
        state_put_u8(w, d != NULL);
        if (d) {
            state_put_bytes(w, d->cfg, PCI_CFG_SIZE);
            state_put_u8(w, intx_status((struct pci_dev *)d));
        }
    }
    state_end(w);
}

/* Restores configuration spaces into the same devices (same slots, same
 * command line) and maps the BARs where the guest had them. */
static int pci_host_load(void *opaque, struct state_reader *r)
{
    struct pci_host *h = opaque;
    uint32_t version;
    if (state_open(r, "pci", &version) < 0 || version != 1)
        return -1;
    pthread_mutex_lock(&h->lock);
    h->config_address = state_get_u32(r);
    for (unsigned s = 0; s < PCI_SLOTS; s++) {
        struct pci_dev *d = h->devs[s];
        bool present = state_get_u8(r);
        if (present != (d != NULL)) {
            pthread_mutex_unlock(&h->lock);
            return -1;
        }
        if (d) {
            /* Only what the guest could have written comes from the
             * stream: the rest (identity, the capability chain, sizes)
             * is the device's own, so a damaged or forged stream cannot
             * give it a capability list that leads outside the space. */
            uint8_t cfg[PCI_CFG_SIZE];
            state_get_bytes(r, cfg, PCI_CFG_SIZE);
            for (unsigned i = 0; i < PCI_CFG_SIZE; i++)
                d->cfg[i] = (uint8_t)((d->cfg[i] & ~d->wmask[i]) | (cfg[i] & d->wmask[i]));
            /* BARs as a guest's write would leave them: the size's bits. */
            for (unsigned b = 0; b < PCI_NUM_BARS; b++) {
                uint32_t v;
                memcpy(&v, &cfg[PCI_BAR0 + 4 * b], 4);
                write_bar_dword(d, b, le32toh(v));
            }
            /* Older streams kept the interrupt bit in the status register. */
            pci_cfg_set16(d, PCI_STATUS, pci_cfg_get16(d, PCI_STATUS) & ~PCI_STATUS_INTERRUPT);
            bool level = state_get_u8(r);
            pthread_mutex_lock(&h->intx_lock);
            d->intx_level = level;
            d->intx_disabled = pci_cfg_get16(d, PCI_COMMAND) & PCI_COMMAND_INTX_DISABLE;
            pthread_mutex_unlock(&h->intx_lock);
            remap_bars(d);
        }
    }
    for (unsigned gsi = PCI_INTX_GSI_BASE; gsi < PCI_INTX_GSI_BASE + PCI_INTX_GSIS; gsi++)
        update_intx(h, gsi);
    pthread_mutex_unlock(&h->lock);
    return state_close(r);
}

static void pci_host_destroy(void *opaque)
{
    struct pci_host *h = opaque;
    pthread_mutex_destroy(&h->lock);
    pthread_mutex_destroy(&h->intx_lock);
    free(h);
}

static const struct device_ops pci_host_ops = {
    .name = "pci", .save = pci_host_save, .load = pci_host_load, .destroy = pci_host_destroy,
};

struct pci_host *pci_host_create(const struct dev_host *host, const struct pci_layout *layout,
                                 struct device *out)
{
    struct pci_host *h = calloc(1, sizeof *h);
    if (!h)
        return NULL;
    h->host = *host;
    h->layout = *layout;
    pthread_mutex_init(&h->lock, NULL);
    pthread_mutex_init(&h->intx_lock, NULL);
    h->next_mmio32 = layout->mmio32.base;
    h->next_mmio64 = layout->mmio64.base;
    h->next_io = PCI_IO_WINDOW_BASE;
    if (bus_register(host->pio, PCI_CONFIG_ADDRESS, 4, config_address_io, h, "pci-address") < 0 ||
        bus_register(host->pio, PCI_CONFIG_DATA, 4, config_data_io, h, "pci-data") < 0 ||
        bus_register(host->mmio, layout->ecam_base, PCI_ECAM_SIZE, ecam_io, h, "pci-ecam") < 0) {
        pci_host_destroy(h);
        return NULL;
    }
    pci_dev_init(&h->bridge, HOST_BRIDGE_VENDOR, HOST_BRIDGE_DEVICE, CLASS_HOST_BRIDGE, 0,
                 HOST_BRIDGE_VENDOR, 0);
    pci_host_add(h, &h->bridge);
    *out = (struct device){ .ops = &pci_host_ops, .dev = h };
    return h;
}
