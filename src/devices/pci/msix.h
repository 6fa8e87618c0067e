/* MSI-X for a PCI function: the capability, the vector table and the
 * pending-bit array in a BAR of their own, and delivery. Each vector is a
 * KVM GSI routed to the message the guest wrote, with an eventfd bound to
 * it (irqfd): signalling a vector from any thread is one write(2). */
#ifndef KVMBOX_DEVICES_PCI_MSIX_H
#define KVMBOX_DEVICES_PCI_MSIX_H

#include "devices/pci/pci.h"

#include <pthread.h>

#define MSIX_MAX_VECTORS 64
#define MSIX_BAR_SIZE 0x1000         /* table at 0, PBA at MSIX_PBA_OFFSET */
#define MSIX_PBA_OFFSET 0x800
#define MSIX_NO_VECTOR 0xffff

struct state_writer;
struct state_reader;

struct pci_msix {
    struct pci_dev *dev;
    const struct dev_host *host;
    unsigned cap, nvec;
    /* A leaf lock (nothing but the host's msi_route/irqfd calls and an
     * eventfd write are made under it): the table, the PBA and delivery.
     * Taken by vCPUs (table writes, under nothing or the PCI host's lock)
     * and by device threads and the main loop (msix_notify). */
    pthread_mutex_t lock;
    uint16_t ctrl;                   /* atomic copy of the message control word */
    uint32_t table[MSIX_MAX_VECTORS][4];   /* addr lo, addr hi, data, control */
    uint64_t pba;
    int gsi[MSIX_MAX_VECTORS];
    int efd[MSIX_MAX_VECTORS];
};

/* Adds the capability and BAR `bar` (32-bit memory) to d. The GSIs and
 * eventfds are set up by msix_connect once d is on the bus. */
int msix_init(struct pci_msix *m, struct pci_dev *d, unsigned nvec, unsigned bar);
int msix_connect(struct pci_msix *m);
void msix_destroy(struct pci_msix *m);

/* For the device's config_written hook: enable and function-mask bits. */
void msix_config_written(struct pci_msix *m, unsigned offset, unsigned len);
bool msix_enabled(const struct pci_msix *m);
/* Signals `vector`; a masked vector is left pending. Returns false if
 * MSI-X is off or the vector does not exist (use INTx then). */
bool msix_notify(struct pci_msix *m, unsigned vector);

void msix_save(const struct pci_msix *m, struct state_writer *w);
int msix_load(struct pci_msix *m, struct state_reader *r);

#endif
