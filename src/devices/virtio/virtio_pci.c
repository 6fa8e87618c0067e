#include "devices/virtio/virtio_pci.h"

#include "devices/virtio/worker.h"
#include "core/state.h"
#include "util/log.h"
#include "util/ratelimit.h"

#include <linux/virtio_config.h>
#include <linux/virtio_pci.h>
#include <linux/virtio_ring.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#define VIRTIO_PCI_VENDOR 0x1af4
#define VIRTIO_PCI_DEVICE_BASE 0x1040   /* modern: 0x1040 + device type */
#define VIRTIO_PCI_SUBSYS_ID 0x40       /* non-transitional devices: 0x40 and up */
#define VIRTIO_PCI_REVISION 1
#define PCI_CAP_ID_VNDR 0x09

/* The 64-bit BAR's regions. */
#define MSIX_BAR 1
#define VIRTIO_BAR 4
#define COMMON_OFF 0x0000
#define COMMON_LEN 0x38
#define ISR_OFF 0x1000
#define DEVICE_OFF 0x2000
#define DEVICE_LEN 0x1000
#define NOTIFY_OFF 0x3000
#define NOTIFY_MULTIPLIER 4
#define VIRTIO_BAR_SIZE 0x4000

#define ISR_QUEUE 0x1                   /* ISR bit 0: a queue interrupt */
#define TRANSPORT_FEATURES                                                                        \
    ((1ull << VIRTIO_F_VERSION_1) | (1ull << VIRTIO_RING_F_INDIRECT_DESC) |                       \
     (1ull << VIRTIO_RING_F_EVENT_IDX))

struct virtq *virtio_pci_queue(struct virtio_pci *vp, unsigned q) { return &vp->vqs[q]; }
int virtio_pci_kick_fd(const struct virtio_pci *vp, unsigned q) { return vp->kick_fd[q]; }

void virtio_config_copy(const void *cfg, size_t size, unsigned offset, uint8_t *data,
                        unsigned len)
{
    memset(data, 0, len);
    if (offset < size)
        memcpy(data, (const uint8_t *)cfg + offset, len < size - offset ? len : size - offset);
}

uint64_t virtio_pci_driver_features(const struct virtio_pci *vp) { return vp->driver_features; }

bool virtio_pci_has_feature(const struct virtio_pci *vp, unsigned bit)
{
    return bit < 64 && (vp->driver_features & (1ull << bit));
}

/* The device status byte: the vCPU adds bits under vp->lock, a device
 * thread adds NEEDS_RESET without it, so every access is atomic and a
 * change is an OR (only a reset clears bits, with the device stopped). */
static uint8_t status_get(const struct virtio_pci *vp)
{
    return __atomic_load_n(&vp->status, __ATOMIC_SEQ_CST);
}

static void status_add(struct virtio_pci *vp, uint8_t bits)
{
    __atomic_fetch_or(&vp->status, bits, __ATOMIC_SEQ_CST);
}

/* Interrupt delivery: the vector the driver chose, else INTx with the ISR.
 * Runs on device threads and the main loop with their own locks held, so
 * it takes only leaf locks (MSI-X's, PCI's INTx lock). */
static void interrupt(struct virtio_pci *vp, uint16_t vector, uint8_t isr_bit)
{
    if (msix_enabled(&vp->msix)) {
        if (vector != MSIX_NO_VECTOR)
            msix_notify(&vp->msix, vector);
        return;
    }
    __atomic_fetch_or(&vp->isr, isr_bit, __ATOMIC_SEQ_CST);
    pci_dev_follow_intx(&vp->pci, &vp->isr);
}

void virtio_pci_notify(struct virtio_pci *vp, unsigned q)
{
    if (q < vp->ops->nqueues && virtq_should_notify(&vp->vqs[q]))
        interrupt(vp, vp->queue_vector[q], ISR_QUEUE);
}

void virtio_pci_config_changed(struct virtio_pci *vp)
{
    __atomic_fetch_add(&vp->config_generation, 1, __ATOMIC_SEQ_CST);
    interrupt(vp, vp->msix_config, VIRTIO_PCI_ISR_CONFIG);
}

void virtio_pci_needs_reset(struct virtio_pci *vp, unsigned q)
{
    log_guest_warn(&vp->warn_limit, "%s: queue %u: %s; the device needs a reset", vp->ops->name,
                   q, vp->vqs[q].error ? vp->vqs[q].error : "error");
    status_add(vp, VIRTIO_CONFIG_S_NEEDS_RESET);
    virtio_pci_config_changed(vp);
}

void virtio_pci_serve_queue(struct virtio_pci *vp, unsigned q, struct virtq_chain *c,
                            virtio_serve_fn serve, void *dev)
{
    struct virtq *vq = &vp->vqs[q];
    int got;
    bool pushed = false;
    do {
        virtq_set_kicks(vq, false);
        while ((got = virtq_pop(vq, c)) == 1) {
            uint32_t written = serve(dev, c);
            if (written != VIRTIO_SERVE_DEFERRED) {
                virtq_chain_written(vq, c);
                virtq_push(vq, c->head, written);
                pushed = true;
            }
        }
        virtq_set_kicks(vq, true);
    } while (got == 0 && virtq_has_work(vq));
    if (pushed)
        virtio_pci_notify(vp, q);
    if (got < 0)
        virtio_pci_needs_reset(vp, q);
}

const struct dev_host *virtio_pci_host(struct virtio_pci *vp)
{
    return pci_dev_host(&vp->pci);
}

int virtio_pci_start_worker(struct virtio_pci *vp, struct virtio_worker *w, const char *name,
                            enum sandbox_role role, void (*fn)(void *dev, unsigned tag),
                            void *dev, int extra_fd)
{
    worker_init(w, vp->id[0] ? vp->id : name, fn, dev);
    for (unsigned q = 0; q < vp->ops->nqueues; q++)
        if (worker_add_fd(w, vp->kick_fd[q], q, true) < 0)
            return -1;
    if (extra_fd >= 0 && worker_add_fd(w, extra_fd, vp->ops->nqueues, true) < 0)
        return -1;
    return worker_start(w, pci_dev_host(&vp->pci), role);
}

/* Back to the state after power-on: device stopped, queues forgotten. */
static void reset_locked(struct virtio_pci *vp)
{
    if (vp->active && vp->ops->reset)
        vp->ops->reset(vp->dev);
    vp->active = false;
    __atomic_store_n(&vp->status, 0, __ATOMIC_SEQ_CST);
    vp->driver_features = 0;
    vp->device_feature_select = vp->driver_feature_select = 0;
    vp->queue_select = 0;
    vp->msix_config = MSIX_NO_VECTOR;
    __atomic_store_n(&vp->isr, 0, __ATOMIC_SEQ_CST);
    if (vp->pci.host)
        pci_dev_follow_intx(&vp->pci, &vp->isr);   /* a pending INTx goes with the ISR */
    for (unsigned q = 0; q < vp->ops->nqueues; q++) {
        virtq_reset(&vp->vqs[q], vp->ops->queue_size);
        vp->queue_vector[q] = MSIX_NO_VECTOR;
    }
}

static void set_status(struct virtio_pci *vp, uint8_t v)
{
    if (v == 0) {
        reset_locked(vp);
        return;
    }
    /* A driver may only add bits until it resets (virtio 1.x 2.1.2): one
     * that clears DRIVER_OK and sets it again must not start the device a
     * second time over its running worker. NEEDS_RESET is the device's. */
    uint8_t add = v & (uint8_t)~status_get(vp) & (uint8_t)~VIRTIO_CONFIG_S_NEEDS_RESET;
    if (add & VIRTIO_CONFIG_S_FEATURES_OK) {
        /* Only features we offered, and the modern interface. */
        if ((vp->driver_features & ~vp->device_features) ||
            !(vp->driver_features & (1ull << VIRTIO_F_VERSION_1)))
            add &= (uint8_t)~VIRTIO_CONFIG_S_FEATURES_OK;
    }
    bool start = add & VIRTIO_CONFIG_S_DRIVER_OK;
    status_add(vp, add);
    if (!start)
        return;
    bool ok = true;
    for (unsigned q = 0; q < vp->ops->nqueues; q++) {
        struct virtq *vq = &vp->vqs[q];
        if (vq->ready && virtq_start(vq, pci_dev_host(&vp->pci)->mem,
                                     virtio_pci_has_feature(vp, VIRTIO_RING_F_EVENT_IDX),
                                     virtio_pci_has_feature(vp, VIRTIO_RING_F_INDIRECT_DESC)) < 0) {
            log_guest_warn(&vp->warn_limit, "%s: queue %u: %s", vp->ops->name, q, vq->error);
            ok = false;
        }
    }
    if (ok && vp->ops->activate && vp->ops->activate(vp->dev) < 0)
        ok = false;
    vp->active = ok;
    /* Started while the VM is paused (a state load): it stays quiet until
     * the resume like every other device. */
    if (ok && vp->paused && vp->ops->pause)
        vp->ops->pause(vp->dev);
    if (!ok)
        status_add(vp, VIRTIO_CONFIG_S_NEEDS_RESET);
}

static uint64_t get_le(const uint8_t *d, unsigned len)
{
    uint64_t v = 0;
    for (unsigned i = 0; i < len; i++)
        v |= (uint64_t)d[i] << (8 * i);
    return v;
}

static void put_le(uint8_t *d, unsigned len, uint64_t v)
{
    for (unsigned i = 0; i < len; i++)
        d[i] = (uint8_t)(v >> (8 * i));
}

/* Reads or writes part of a 64-bit queue address field. */
static void addr_access(uint64_t *field, unsigned part_off, uint8_t *data, unsigned len,
                        bool is_write, bool writable)
{
    unsigned shift = 8 * part_off;
    if (!is_write) {
        put_le(data, len, *field >> shift);
        return;
    }
    if (!writable)
        return;
    uint64_t mask = (len == 8 ? ~0ull : ((1ull << (8 * len)) - 1)) << shift;
    *field = (*field & ~mask) | ((get_le(data, len) << shift) & mask);
}

static void common_io(struct virtio_pci *vp, unsigned off, uint8_t *data, unsigned len,
                      bool is_write)
{
    uint64_t v = is_write ? get_le(data, len) : 0;
    uint64_t r = 0;
    unsigned qs = vp->queue_select;
    struct virtq *q = qs < vp->ops->nqueues ? &vp->vqs[qs] : NULL;
    /* Queue fields may change only while the queue is not enabled. */
    bool q_writable = q && !q->ready;
    switch (off) {
    case VIRTIO_PCI_COMMON_DFSELECT:
        if (is_write) vp->device_feature_select = (uint32_t)v;
        r = vp->device_feature_select;
        break;
    case VIRTIO_PCI_COMMON_DF:
        r = vp->device_feature_select < 2 ? (uint32_t)(vp->device_features >> (32 * vp->device_feature_select)) : 0;
        break;
    case VIRTIO_PCI_COMMON_GFSELECT:
        if (is_write) vp->driver_feature_select = (uint32_t)v;
        r = vp->driver_feature_select;
        break;
    case VIRTIO_PCI_COMMON_GF:
        if (vp->driver_feature_select < 2) {
            unsigned sh = 32 * vp->driver_feature_select;
            if (is_write && !(status_get(vp) & VIRTIO_CONFIG_S_FEATURES_OK))
                vp->driver_features = (vp->driver_features & ~(0xffffffffull << sh)) | ((v & 0xffffffffull) << sh);
            r = (uint32_t)(vp->driver_features >> sh);
        }
        break;
    case VIRTIO_PCI_COMMON_MSIX:
        if (is_write) vp->msix_config = (uint16_t)v < vp->msix.nvec ? (uint16_t)v : MSIX_NO_VECTOR;
        r = vp->msix_config;
        break;
    case VIRTIO_PCI_COMMON_NUMQ: r = vp->ops->nqueues; break;
    case VIRTIO_PCI_COMMON_STATUS:
        if (is_write) set_status(vp, (uint8_t)v);
        r = status_get(vp);
        break;
    case VIRTIO_PCI_COMMON_CFGGENERATION: r = __atomic_load_n(&vp->config_generation, __ATOMIC_SEQ_CST); break;
    case VIRTIO_PCI_COMMON_Q_SELECT:
        if (is_write) vp->queue_select = (uint16_t)v;
        r = vp->queue_select;
        break;
    case VIRTIO_PCI_COMMON_Q_SIZE:
        /* Any size up to the maximum; the ring code takes it modulo. */
        if (is_write && q_writable && v >= 1 && v <= vp->ops->queue_size) q->size = (uint16_t)v;
        r = q ? q->size : 0;
        break;
    case VIRTIO_PCI_COMMON_Q_MSIX:
        if (is_write && q) vp->queue_vector[qs] = (uint16_t)v < vp->msix.nvec ? (uint16_t)v : MSIX_NO_VECTOR;
        r = q ? vp->queue_vector[qs] : MSIX_NO_VECTOR;
        break;
    case VIRTIO_PCI_COMMON_Q_ENABLE:
        if (is_write && q && v == 1) q->ready = true;     /* 0 is not allowed (spec 4.1.4.3.2) */
        r = q ? q->ready : 0;
        break;
    case VIRTIO_PCI_COMMON_Q_NOFF: r = q ? qs : 0; break;
    default:
        if (q && off >= VIRTIO_PCI_COMMON_Q_DESCLO && off + len <= VIRTIO_PCI_COMMON_Q_USEDHI + 4) {
            unsigned field = (off - VIRTIO_PCI_COMMON_Q_DESCLO) / 8, part = (off - VIRTIO_PCI_COMMON_Q_DESCLO) % 8;
            uint64_t *f = field == 0 ? &q->desc_gpa : field == 1 ? &q->avail_gpa : &q->used_gpa;
            if (part + len <= 8) {
                addr_access(f, part, data, len, is_write, q_writable);
                return;
            }
        }
        break;
    }
    if (!is_write)
        put_le(data, len, r);
}

/* The BAR with the virtio regions. */
static void virtio_bar_io(void *opaque, uint64_t offset, uint8_t *data, unsigned len, bool is_write)
{
    struct virtio_pci *vp = opaque;
    if (offset + len <= COMMON_OFF + COMMON_LEN) {
        pthread_mutex_lock(&vp->lock);
        common_io(vp, (unsigned)(offset - COMMON_OFF), data, len, is_write);
        pthread_mutex_unlock(&vp->lock);
    } else if (offset == ISR_OFF && len == 1) {
        if (is_write)
            return;
        /* Reading the ISR clears it and lowers INTx, unless a device
         * thread set a bit again meanwhile: the line follows the ISR. */
        data[0] = __atomic_exchange_n(&vp->isr, 0, __ATOMIC_SEQ_CST);
        pci_dev_follow_intx(&vp->pci, &vp->isr);
    } else if (offset >= DEVICE_OFF && offset + len <= DEVICE_OFF + vp->ops->config_size) {
        unsigned o = (unsigned)(offset - DEVICE_OFF);
        pthread_mutex_lock(&vp->lock);
        if (is_write && vp->ops->config_write)
            vp->ops->config_write(vp->dev, o, data, len);
        else if (!is_write && vp->ops->config_read)
            vp->ops->config_read(vp->dev, o, data, len);
        else if (!is_write)
            memset(data, 0, len);
        pthread_mutex_unlock(&vp->lock);
    } else if (offset >= NOTIFY_OFF && offset < NOTIFY_OFF + NOTIFY_MULTIPLIER * vp->ops->nqueues) {
        /* Reaches here only where KVM could not take it as an ioeventfd. */
        unsigned q = (unsigned)(offset - NOTIFY_OFF) / NOTIFY_MULTIPLIER;
        uint64_t one = 1;
        if (is_write && write(vp->kick_fd[q], &one, sizeof one) < 0)
            log_debug("%s: kick eventfd: write failed", vp->ops->name);
        if (!is_write)
            memset(data, 0, len);
    } else if (!is_write) {
        memset(data, 0, len);
    }
}

/* The notify region moved with its BAR: move the ioeventfds along. */
static void bar_moved(struct pci_dev *d, unsigned bar, uint64_t addr, bool mapped)
{
    struct virtio_pci *vp = (struct virtio_pci *)d;
    const struct dev_host *h = pci_dev_host(d);
    if (bar != VIRTIO_BAR || !h->ioeventfd)
        return;
    for (unsigned q = 0; q < vp->ops->nqueues; q++) {
        if (vp->kick_bound[q])
            h->ioeventfd(h->ctx, vp->kick_fd[q], vp->notify_base + NOTIFY_OFF + NOTIFY_MULTIPLIER * q,
                         2, false, false);
        vp->kick_bound[q] = mapped && h->ioeventfd(h->ctx, vp->kick_fd[q],
                                                   addr + NOTIFY_OFF + NOTIFY_MULTIPLIER * q, 2,
                                                   false, true) == 0;
    }
    vp->notify_base = addr;
}

/* VIRTIO_PCI_CAP_PCI_CFG: a window into the BARs through configuration
 * space, for drivers that cannot map them. */
static unsigned pci_cfg_cap_offset(const struct virtio_pci *vp)
{
    unsigned p = vp->pci.cfg[PCI_CAP_PTR];
    while (p) {
        if (vp->pci.cfg[p] == PCI_CAP_ID_VNDR && vp->pci.cfg[p + 3] == VIRTIO_PCI_CAP_PCI_CFG)
            return p;
        p = vp->pci.cfg[p + 1];
    }
    return 0;
}

static bool window(struct virtio_pci *vp, unsigned cap, unsigned off, unsigned len,
                   uint32_t *bar_off, unsigned *wlen)
{
    unsigned data = cap + offsetof(struct virtio_pci_cfg_cap, pci_cfg_data);
    if (!cap || off >= data + 4 || off + len <= data)
        return false;
    uint8_t bar = vp->pci.cfg[cap + offsetof(struct virtio_pci_cap, bar)];
    *bar_off = pci_cfg_get32(&vp->pci, cap + offsetof(struct virtio_pci_cap, offset));
    *wlen = pci_cfg_get32(&vp->pci, cap + offsetof(struct virtio_pci_cap, length));
    /* Compared without a sum: bar_off is the driver's, any 32-bit value. */
    return bar == VIRTIO_BAR && (*wlen == 1 || *wlen == 2 || *wlen == 4) &&
           *bar_off <= VIRTIO_BAR_SIZE - *wlen && !(*bar_off & (*wlen - 1));
}

static void cfg_window_read(struct pci_dev *d, unsigned off, unsigned len)
{
    struct virtio_pci *vp = (struct virtio_pci *)d;
    unsigned cap = pci_cfg_cap_offset(vp), wlen;
    uint32_t bar_off;
    if (window(vp, cap, off, len, &bar_off, &wlen))
        virtio_bar_io(vp, bar_off, &d->cfg[cap + offsetof(struct virtio_pci_cfg_cap, pci_cfg_data)],
                      wlen, false);
}

static void config_written(struct pci_dev *d, unsigned off, unsigned len)
{
    struct virtio_pci *vp = (struct virtio_pci *)d;
    msix_config_written(&vp->msix, off, len);
    unsigned cap = pci_cfg_cap_offset(vp), wlen;
    uint32_t bar_off;
    if (window(vp, cap, off, len, &bar_off, &wlen))
        virtio_bar_io(vp, bar_off, &d->cfg[cap + offsetof(struct virtio_pci_cfg_cap, pci_cfg_data)],
                      wlen, true);
}

static const struct pci_dev_ops virtio_pci_ops = {
    .config_read = cfg_window_read, .config_written = config_written, .bar_moved = bar_moved,
};

static void add_virtio_cap(struct virtio_pci *vp, uint8_t type, uint32_t off, uint32_t len,
                           unsigned extra)
{
    struct {
        struct virtio_pci_cap cap;
        uint32_t extra;
    } __attribute__((packed)) c = { 0 };
    c.cap.cap_len = (uint8_t)(sizeof c.cap + extra);
    c.cap.cfg_type = type;
    c.cap.bar = type == VIRTIO_PCI_CAP_PCI_CFG ? 0 : VIRTIO_BAR;
    c.cap.offset = off;
    c.cap.length = len;
    if (type == VIRTIO_PCI_CAP_NOTIFY_CFG)
        c.extra = NOTIFY_MULTIPLIER;
    unsigned at = pci_dev_add_cap(&vp->pci, PCI_CAP_ID_VNDR, &c, sizeof c.cap + extra);
    if (at && type == VIRTIO_PCI_CAP_PCI_CFG) {
        /* The window's BAR, offset, length and data are the driver's. */
        vp->pci.wmask[at + offsetof(struct virtio_pci_cap, bar)] = 0xff;
        memset(&vp->pci.wmask[at + offsetof(struct virtio_pci_cap, offset)], 0xff, 8);
        memset(&vp->pci.wmask[at + offsetof(struct virtio_pci_cfg_cap, pci_cfg_data)], 0xff, 4);
    }
}

struct virtio_pci *virtio_pci_create(struct pci_host *bus, const struct virtio_dev_ops *ops,
                                     void *dev, uint64_t features)
{
    if (ops->nqueues == 0 || ops->nqueues > VIRTIO_MAX_QUEUES || ops->config_size > DEVICE_LEN)
        return NULL;
    struct virtio_pci *vp = calloc(1, sizeof *vp);
    if (!vp)
        return NULL;
    vp->ops = ops;
    vp->dev = dev;
    vp->device_features = features | TRANSPORT_FEATURES;
    pthread_mutex_init(&vp->lock, NULL);
    ratelimit_init(&vp->warn_limit);
    for (unsigned q = 0; q < VIRTIO_MAX_QUEUES; q++)
        vp->kick_fd[q] = -1;
    struct pci_dev *d = &vp->pci;
    pci_dev_init(d, VIRTIO_PCI_VENDOR, (uint16_t)(VIRTIO_PCI_DEVICE_BASE + ops->device_type),
                 ops->class_code, VIRTIO_PCI_REVISION, VIRTIO_PCI_VENDOR, VIRTIO_PCI_SUBSYS_ID);
    d->ops = &virtio_pci_ops;
    d->cfg[PCI_INT_PIN] = 1;                       /* INTA */
    pci_dev_add_bar(d, VIRTIO_BAR, VIRTIO_BAR_SIZE, PCI_BAR_MEM64 | PCI_BAR_PREFETCH,
                    virtio_bar_io, vp, ops->name);
    add_virtio_cap(vp, VIRTIO_PCI_CAP_COMMON_CFG, COMMON_OFF, COMMON_LEN, 0);
    add_virtio_cap(vp, VIRTIO_PCI_CAP_ISR_CFG, ISR_OFF, 1, 0);
    if (ops->config_size)
        add_virtio_cap(vp, VIRTIO_PCI_CAP_DEVICE_CFG, DEVICE_OFF, ops->config_size, 0);
    add_virtio_cap(vp, VIRTIO_PCI_CAP_NOTIFY_CFG, NOTIFY_OFF, NOTIFY_MULTIPLIER * ops->nqueues, 4);
    add_virtio_cap(vp, VIRTIO_PCI_CAP_PCI_CFG, 0, 0, 4);
    /* One vector per queue plus the configuration vector. */
    const char *why = "no room for its MSI-X capability";
    if (msix_init(&vp->msix, d, ops->nqueues + 1, MSIX_BAR) < 0)
        goto fail;
    for (unsigned q = 0; q < ops->nqueues; q++) {
        vp->kick_fd[q] = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
        if (vp->kick_fd[q] < 0) {
            why = log_strerror(errno);
            goto fail;
        }
    }
    reset_locked(vp);
    why = "no free PCI slot or BAR space";
    if (pci_host_add(bus, d) < 0)
        goto fail;
    why = "its MSI-X vectors could not be set up";
    if (msix_connect(&vp->msix) < 0)
        goto fail;
    return vp;
fail:
    log_error("%s: cannot create its virtio PCI device: %s", ops->name, why);
    vp->dev = NULL;                  /* still the caller's to free */
    virtio_pci_destroy(vp);
    return NULL;
}

void virtio_pci_destroy(struct virtio_pci *vp)
{
    if (!vp)
        return;
    if (vp->active && vp->ops->reset)
        vp->ops->reset(vp->dev);
    if (vp->dev && vp->ops->destroy)
        vp->ops->destroy(vp->dev);
    msix_destroy(&vp->msix);
    for (unsigned q = 0; q < VIRTIO_MAX_QUEUES; q++)
        if (vp->kick_fd[q] >= 0)
            close(vp->kick_fd[q]);
    pthread_mutex_destroy(&vp->lock);
    ratelimit_destroy(&vp->warn_limit);
    free(vp);
}

static void vp_save(const void *opaque, struct state_writer *w)
{
    const struct virtio_pci *vp = opaque;
    state_begin(w, vp->ops->name, 1);
    state_put_u64(w, vp->driver_features);
    state_put_u32(w, vp->device_feature_select);
    state_put_u32(w, vp->driver_feature_select);
    state_put_u16(w, vp->msix_config);
    state_put_u8(w, status_get(vp));
    state_put_u8(w, vp->config_generation);
    state_put_u16(w, vp->queue_select);
    state_put_u8(w, __atomic_load_n(&vp->isr, __ATOMIC_SEQ_CST));
    for (unsigned q = 0; q < vp->ops->nqueues; q++) {
        virtq_save(&vp->vqs[q], w);
        state_put_u16(w, vp->queue_vector[q]);
    }
    msix_save(&vp->msix, w);
    if (vp->ops->save)
        vp->ops->save(vp->dev, w);
    state_end(w);
}

static int vp_load(void *opaque, struct state_reader *r)
{
    struct virtio_pci *vp = opaque;
    uint32_t version;
    if (state_open(r, vp->ops->name, &version) < 0 || version != 1)
        return -1;
    pthread_mutex_lock(&vp->lock);
    reset_locked(vp);
    vp->driver_features = state_get_u64(r);
    vp->device_feature_select = state_get_u32(r);
    vp->driver_feature_select = state_get_u32(r);
    vp->msix_config = state_get_u16(r);
    uint8_t status = state_get_u8(r);
    vp->config_generation = state_get_u8(r);
    vp->queue_select = state_get_u16(r);
    __atomic_store_n(&vp->isr, state_get_u8(r), __ATOMIC_SEQ_CST);
    pci_dev_follow_intx(&vp->pci, &vp->isr);
    /* A queue size the driver could not have written is a damaged (or
     * forged) stream, as the transport would have refused it. */
    bool sizes_ok = true;
    for (unsigned q = 0; q < vp->ops->nqueues; q++) {
        virtq_load(&vp->vqs[q], r);
        vp->queue_vector[q] = state_get_u16(r);
        sizes_ok &= vp->vqs[q].size >= 1 && vp->vqs[q].size <= vp->ops->queue_size;
    }
    int ret = sizes_ok ? msix_load(&vp->msix, r) : -1;
    if (ret == 0 && vp->ops->load)
        ret = vp->ops->load(vp->dev, r);
    /* Restart a running device exactly as the driver left it. */
    __atomic_store_n(&vp->status, status & (uint8_t)~VIRTIO_CONFIG_S_DRIVER_OK, __ATOMIC_SEQ_CST);
    if (ret == 0 && (status & VIRTIO_CONFIG_S_DRIVER_OK))
        set_status(vp, status);
    pthread_mutex_unlock(&vp->lock);
    return ret < 0 ? -1 : state_close(r);
}

static void vp_destroy(void *opaque) { virtio_pci_destroy(opaque); }

/* The VM's pause and resume. Taken under `lock` so that they are ordered
 * against an activation or a reset (a state load). Holding it while the
 * device's thread acknowledges is safe for the same reason a reset may
 * join that thread under it: device threads never take it. It is free
 * here because the VMM parks the vCPUs first, and a parked vCPU is
 * outside any bus access; the pausing thread holds no device lock. */
static void vp_pause(void *opaque)
{
    struct virtio_pci *vp = opaque;
    pthread_mutex_lock(&vp->lock);
    if (!vp->paused && vp->active && vp->ops->pause)
        vp->ops->pause(vp->dev);
    vp->paused = true;
    pthread_mutex_unlock(&vp->lock);
}

static void vp_resume(void *opaque)
{
    struct virtio_pci *vp = opaque;
    pthread_mutex_lock(&vp->lock);
    if (vp->paused && vp->active && vp->ops->resume)
        vp->ops->resume(vp->dev);
    vp->paused = false;
    pthread_mutex_unlock(&vp->lock);
}

static void vp_counters(const void *opaque, device_counter_fn emit, void *ctx)
{
    const struct virtio_pci *vp = opaque;
    if (vp->ops->counters)
        vp->ops->counters(vp->dev, emit, ctx);
}

/* Every device sits on bus 0 of segment 0, function 0 of its slot. */
static bool vp_pci_bdf(const void *opaque, char *buf, size_t len)
{
    const struct virtio_pci *vp = opaque;
    snprintf(buf, len, "0000:00:%02x.0", vp->pci.slot);
    return true;
}

static void vp_set_id(void *opaque, const char *id)
{
    struct virtio_pci *vp = opaque;
    snprintf(vp->id, sizeof vp->id, "%s", id);
}

const struct device_ops virtio_pci_device_ops = {
    .name = "virtio-pci", .save = vp_save, .load = vp_load, .destroy = vp_destroy,
    .pause = vp_pause, .resume = vp_resume, .counters = vp_counters, .pci_bdf = vp_pci_bdf,
    .set_id = vp_set_id,
};
