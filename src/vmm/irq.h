/* Interrupt plumbing for the VM: the GSI routing table that KVM holds
 * (legacy lines to the PIC and IOAPIC, MSI messages on GSIs from 24 up),
 * raising and lowering a line, and binding eventfds to GSIs (irqfd) so that
 * device threads inject interrupts without an ioctl of their own. */
#ifndef KVMBOX_VMM_IRQ_H
#define KVMBOX_VMM_IRQ_H

#include "util/ratelimit.h"

#include <linux/kvm.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#define IRQ_LEGACY_LINES 24          /* IOAPIC pins; the PIC has the first 16 */
#define IRQ_MAX_ROUTES 1024
#define IRQ_INITIAL_ROUTES 64            /* the 40 legacy routes and a few MSIs */

struct irq_router {
    int vm_fd;                       /* -1: build the table only (unit tests) */
    /* The table; taken under MSI-X's lock when a vector is re-routed, so
     * a leaf below it: nothing else is locked or waited for under it. */
    pthread_mutex_t lock;
    struct ratelimit warn_limit;     /* routing failures the guest can cause */
    unsigned nroutes;
    uint32_t next_msi_gsi;
    /* On the heap, grown as routes are added (up to IRQ_MAX_ROUTES): a
     * full table in the struct cost every VM 48 KiB it never used. */
    struct kvm_irq_routing_entry *routes;
    unsigned cap;
};

/* Fills the routes a PC has from reset, as KVM's default table does:
 * GSI 0-15 to both the PIC pin and the IOAPIC pin of the same number,
 * GSI 16-23 to the IOAPIC alone. Returns how many entries it wrote. */
unsigned irq_legacy_routes(struct kvm_irq_routing_entry *out, unsigned cap);

/* Sets up the legacy routes and hands them to KVM (KVM_SET_GSI_ROUTING). */
int irq_router_init(struct irq_router *r, int vm_fd);
void irq_router_destroy(struct irq_router *r);

/* Drives a legacy line (GSI 0-23) to `level` (KVM_IRQ_LINE). */
void irq_set_line(struct irq_router *r, unsigned gsi, bool level);

/* Routes GSI `gsi` to the MSI message (addr, data); gsi < 0 allocates a
 * new GSI. Returns the GSI, or -1 (table full, or KVM refused). */
int irq_msi_route(struct irq_router *r, int gsi, uint64_t addr, uint32_t data);
/* Takes an MSI GSI's route away again; its number is not reused. */
void irq_msi_unroute(struct irq_router *r, int gsi);

/* Binds eventfd `fd` to `gsi` (a write injects it), or unbinds it. */
int irq_irqfd(struct irq_router *r, int fd, unsigned gsi, bool assign);

#endif
