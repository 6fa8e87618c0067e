#include "devices/pci/msix.h"

#include "core/state.h"
#include "util/log.h"

#include <errno.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#define PCI_CAP_ID_MSIX 0x11
#define CTRL_ENABLE 0x8000
#define CTRL_FUNC_MASK 0x4000
#define ENTRY_MASKED 0x1
enum { ADDR_LO, ADDR_HI, DATA, CONTROL };

static void msix_bar_io(void *opaque, uint64_t offset, uint8_t *data, unsigned len, bool is_write);

int msix_init(struct pci_msix *m, struct pci_dev *d, unsigned nvec, unsigned bar)
{
    memset(m, 0, sizeof *m);
    if (nvec == 0 || nvec > MSIX_MAX_VECTORS)
        return -1;
    m->dev = d;
    m->nvec = nvec;
    pthread_mutex_init(&m->lock, NULL);
    for (unsigned v = 0; v < MSIX_MAX_VECTORS; v++) {
        m->table[v][CONTROL] = ENTRY_MASKED;
        m->gsi[v] = m->efd[v] = -1;
    }
    uint8_t body[12] = { 0 };
    uint16_t ctrl = (uint16_t)(nvec - 1);
    uint32_t table = 0 | bar, pba = MSIX_PBA_OFFSET | bar;
    memcpy(&body[2], &ctrl, 2);
    memcpy(&body[4], &table, 4);
    memcpy(&body[8], &pba, 4);
    m->cap = pci_dev_add_cap(d, PCI_CAP_ID_MSIX, body, sizeof body);
    if (!m->cap)
        return -1;
    d->wmask[m->cap + 3] = (CTRL_ENABLE | CTRL_FUNC_MASK) >> 8;
    pci_dev_add_bar(d, bar, MSIX_BAR_SIZE, 0, msix_bar_io, m, "msix");
    return 0;
}

int msix_connect(struct pci_msix *m)
{
    m->host = pci_dev_host(m->dev);
    for (unsigned v = 0; v < m->nvec; v++) {
        m->efd[v] = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
        if (m->efd[v] < 0) {
            log_error("pci %02x: MSI-X vector %u: eventfd: %s", m->dev->slot, v,
                      log_strerror(errno));
            return -1;
        }
        m->gsi[v] = m->host->msi_route ? m->host->msi_route(m->host->ctx, -1, 0, 0) : -1;
        if (m->gsi[v] < 0) {
            log_error("pci %02x: MSI-X vector %u: no interrupt route left", m->dev->slot, v);
            return -1;
        }
        if (m->host->irqfd(m->host->ctx, m->efd[v], (unsigned)m->gsi[v], true) < 0)
            return -1;               /* the host said why */
    }
    return 0;
}

void msix_destroy(struct pci_msix *m)
{
    for (unsigned v = 0; v < m->nvec; v++) {
        if (m->efd[v] >= 0)
            close(m->efd[v]);
        m->efd[v] = -1;
    }
    pthread_mutex_destroy(&m->lock);
}

/* The message control word as the guest last wrote it. Device threads
 * read it to deliver interrupts without the PCI host's lock, so it is a
 * copy, kept atomic, not a read of configuration space. */
static uint16_t control(const struct pci_msix *m)
{
    return __atomic_load_n(&m->ctrl, __ATOMIC_SEQ_CST);
}

static void refresh_control(struct pci_msix *m)
{
    __atomic_store_n(&m->ctrl, pci_cfg_get16(m->dev, m->cap + 2), __ATOMIC_SEQ_CST);
}

bool msix_enabled(const struct pci_msix *m)
{
    return m->cap && (control(m) & CTRL_ENABLE);
}

static bool vector_masked(const struct pci_msix *m, unsigned v)
{
    return !(control(m) & CTRL_ENABLE) || (control(m) & CTRL_FUNC_MASK) ||
           (m->table[v][CONTROL] & ENTRY_MASKED);
}

static void fire(struct pci_msix *m, unsigned v)
{
    uint64_t one = 1;
    if (m->efd[v] >= 0 && write(m->efd[v], &one, sizeof one) < 0)
        log_debug("MSI-X vector %u: eventfd write failed", v);
}

/* Points the vector's GSI at the guest's message; then, if it was pending
 * while masked, delivers it now. Called with the lock held. */
static void activate(struct pci_msix *m, unsigned v)
{
    uint64_t addr = m->table[v][ADDR_LO] | (uint64_t)m->table[v][ADDR_HI] << 32;
    if (m->gsi[v] >= 0 && m->host && m->host->msi_route)
        m->host->msi_route(m->host->ctx, m->gsi[v], addr, m->table[v][DATA]);
    if (m->pba & (1ull << v)) {
        m->pba &= ~(1ull << v);
        fire(m, v);
    }
}

void msix_config_written(struct pci_msix *m, unsigned offset, unsigned len)
{
    if (offset >= m->cap + 4 || offset + len <= m->cap + 2)
        return;                      /* not the message control word */
    pthread_mutex_lock(&m->lock);
    refresh_control(m);
    for (unsigned v = 0; v < m->nvec; v++)
        if (!vector_masked(m, v))
            activate(m, v);
    pthread_mutex_unlock(&m->lock);
}

bool msix_notify(struct pci_msix *m, unsigned vector)
{
    if (!msix_enabled(m) || vector >= m->nvec)
        return false;
    pthread_mutex_lock(&m->lock);
    if (vector_masked(m, vector))
        m->pba |= 1ull << vector;
    else
        fire(m, vector);
    pthread_mutex_unlock(&m->lock);
    return true;
}

/* The table and PBA take dword and qword accesses (PCI 6.8.2). */
static void msix_bar_io(void *opaque, uint64_t offset, uint8_t *data, unsigned len, bool is_write)
{
    struct pci_msix *m = opaque;
    if ((len != 4 && len != 8) || (offset & (len - 1))) {
        if (!is_write)
            memset(data, 0xff, len);
        return;
    }
    pthread_mutex_lock(&m->lock);
    for (unsigned part = 0; part < len / 4; part++) {
        uint64_t off = offset + 4 * part;
        uint8_t *p = data + 4 * part;
        uint32_t v;
        if (off < (uint64_t)16 * m->nvec) {
            unsigned vec = (unsigned)(off / 16), reg = (unsigned)(off % 16) / 4;
            if (!is_write) {
                memcpy(p, &m->table[vec][reg], 4);
                continue;
            }
            bool was_masked = vector_masked(m, vec);
            memcpy(&v, p, 4);
            m->table[vec][reg] = reg == CONTROL ? (v & ENTRY_MASKED) : v;
            /* A live vector's new message takes effect at once; one that
             * comes unmasked gets its route and any pending delivery. */
            if (!vector_masked(m, vec) && (was_masked || reg != CONTROL))
                activate(m, vec);
        } else if (off >= MSIX_PBA_OFFSET && off < MSIX_PBA_OFFSET + 8) {
            if (!is_write) {
                v = (uint32_t)(m->pba >> (off == MSIX_PBA_OFFSET ? 0 : 32));
                memcpy(p, &v, 4);
            }                        /* the PBA is read-only */
        } else if (!is_write) {
            memset(p, 0, 4);
        }
    }
    pthread_mutex_unlock(&m->lock);
}

void msix_save(const struct pci_msix *m, struct state_writer *w)
{
    state_put_u32(w, m->nvec);
    for (unsigned v = 0; v < m->nvec; v++)
        for (unsigned r = 0; r < 4; r++)
            state_put_u32(w, m->table[v][r]);
    state_put_u64(w, m->pba);
}

int msix_load(struct pci_msix *m, struct state_reader *r)
{
    if (state_get_u32(r) != m->nvec)
        return -1;
    pthread_mutex_lock(&m->lock);
    for (unsigned v = 0; v < m->nvec; v++)
        for (unsigned reg = 0; reg < 4; reg++)
            m->table[v][reg] = state_get_u32(r);
    m->pba = state_get_u64(r);
    refresh_control(m);              /* configuration space is loaded first */
    for (unsigned v = 0; v < m->nvec; v++)
        if (!vector_masked(m, v))
            activate(m, v);
    pthread_mutex_unlock(&m->lock);
    return 0;
}
