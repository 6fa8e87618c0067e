#include "vmm/irq.h"

#include "util/log.h"
#include "util/ratelimit.h"

#include <assert.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>

#define PIC_MASTER_PINS 8
#define PIC_LINES 16

static struct kvm_irq_routing_entry irqchip_route(uint32_t gsi, uint32_t chip, uint32_t pin)
{
    return (struct kvm_irq_routing_entry){
        .gsi = gsi, .type = KVM_IRQ_ROUTING_IRQCHIP, .u.irqchip = { .irqchip = chip, .pin = pin },
    };
}

unsigned irq_legacy_routes(struct kvm_irq_routing_entry *out, unsigned cap)
{
    unsigned n = 0;
    for (uint32_t gsi = 0; gsi < IRQ_LEGACY_LINES; gsi++) {
        if (gsi < PIC_LINES && n < cap)
            out[n++] = gsi < PIC_MASTER_PINS
                           ? irqchip_route(gsi, KVM_IRQCHIP_PIC_MASTER, gsi)
                           : irqchip_route(gsi, KVM_IRQCHIP_PIC_SLAVE, gsi - PIC_MASTER_PINS);
        if (n < cap)
            out[n++] = irqchip_route(gsi, KVM_IRQCHIP_IOAPIC, gsi);
    }
    return n;
}

/* Hands the whole table to KVM, which swaps it in atomically. Called with
 * the lock held. */
static int commit(struct irq_router *r)
{
    if (r->vm_fd < 0)
        return 0;
    /* Only the routes in use: the whole table would touch 48 KiB. */
    struct kvm_irq_routing *t = calloc(1, sizeof *t + r->nroutes * sizeof r->routes[0]);
    if (!t)
        return -1;
    t->nr = r->nroutes;
    memcpy(t->entries, r->routes, r->nroutes * sizeof r->routes[0]);
    int ret = ioctl(r->vm_fd, KVM_SET_GSI_ROUTING, t);
    if (ret < 0)   /* the guest's MSI-X writes get here: limited */
        log_guest_warn(&r->warn_limit, "KVM_SET_GSI_ROUTING (%u routes): %s", r->nroutes,
                       log_strerror(errno));
    free(t);
    return ret < 0 ? -1 : 0;
}

int irq_router_init(struct irq_router *r, int vm_fd)
{
    memset(r, 0, sizeof *r);
    r->vm_fd = vm_fd;
    r->cap = IRQ_INITIAL_ROUTES;
    r->routes = calloc(r->cap, sizeof *r->routes);
    if (!r->routes)
        return -1;
    pthread_mutex_init(&r->lock, NULL);
    ratelimit_init(&r->warn_limit);
    r->nroutes = irq_legacy_routes(r->routes, r->cap);
    r->next_msi_gsi = IRQ_LEGACY_LINES;
    return commit(r);
}

void irq_router_destroy(struct irq_router *r)
{
    pthread_mutex_destroy(&r->lock);
    free(r->routes);
    r->routes = NULL;
    ratelimit_destroy(&r->warn_limit);
}

void irq_set_line(struct irq_router *r, unsigned gsi, bool level)
{
    if (r->vm_fd < 0)
        return;
    struct kvm_irq_level irq = { .irq = gsi, .level = level };
    if (ioctl(r->vm_fd, KVM_IRQ_LINE, &irq) < 0)
        log_debug("KVM_IRQ_LINE %u: %s", gsi, log_strerror(errno));
}

static int find_route(const struct irq_router *r, uint32_t gsi)
{
    for (unsigned i = 0; i < r->nroutes; i++)
        if (r->routes[i].gsi == gsi && r->routes[i].type == KVM_IRQ_ROUTING_MSI)
            return (int)i;
    return -1;
}

/* Room for one more route: the table grows as devices ask for vectors
 * (a VM without PCI devices keeps only its legacy lines). */
static bool room_for_one(struct irq_router *r)
{
    if (r->nroutes < r->cap)
        return true;
    if (r->cap >= IRQ_MAX_ROUTES)
        return false;
    unsigned cap = r->cap * 2 < IRQ_MAX_ROUTES ? r->cap * 2 : IRQ_MAX_ROUTES;
    struct kvm_irq_routing_entry *t = realloc(r->routes, cap * sizeof *t);
    if (!t)
        return false;
    r->routes = t;
    r->cap = cap;
    return true;
}

int irq_msi_route(struct irq_router *r, int gsi, uint64_t addr, uint32_t data)
{
    pthread_mutex_lock(&r->lock);
    int ret = -1;
    if (gsi < 0) {
        if (!room_for_one(r))
            goto out;
        gsi = (int)r->next_msi_gsi++;
    } else if (gsi < IRQ_LEGACY_LINES || (uint32_t)gsi >= r->next_msi_gsi) {
        goto out;                    /* not a GSI this router gave out */
    }
    int i = find_route(r, (uint32_t)gsi);
    if (i < 0) {
        if (!room_for_one(r))
            goto out;
        i = (int)r->nroutes++;
    }
    r->routes[i] = (struct kvm_irq_routing_entry){
        .gsi = (uint32_t)gsi, .type = KVM_IRQ_ROUTING_MSI,
        .u.msi = { .address_lo = (uint32_t)addr, .address_hi = (uint32_t)(addr >> 32), .data = data },
    };
    if (commit(r) == 0)
        ret = gsi;
out:
    pthread_mutex_unlock(&r->lock);
    return ret;
}

void irq_msi_unroute(struct irq_router *r, int gsi)
{
    pthread_mutex_lock(&r->lock);
    int i = gsi < 0 ? -1 : find_route(r, (uint32_t)gsi);
    if (i >= 0) {
        r->routes[i] = r->routes[--r->nroutes];
        commit(r);
    }
    pthread_mutex_unlock(&r->lock);
}

int irq_irqfd(struct irq_router *r, int fd, unsigned gsi, bool assign)
{
    if (r->vm_fd < 0)
        return 0;
    struct kvm_irqfd req = { .fd = (uint32_t)fd, .gsi = gsi, .flags = assign ? 0 : KVM_IRQFD_FLAG_DEASSIGN };
    if (ioctl(r->vm_fd, KVM_IRQFD, &req) < 0) {
        log_error("KVM_IRQFD %s GSI %u: %s", assign ? "binding" : "unbinding", gsi,
                  log_strerror(errno));
        return -1;
    }
    return 0;
}
