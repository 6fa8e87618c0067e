/* An address bus: port I/O or MMIO ranges claimed by devices. The vCPU exit
 * dispatcher looks an access up here; devices never see KVM. */
#ifndef KVMBOX_CORE_BUS_H
#define KVMBOX_CORE_BUS_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* offset is relative to the range base; len is 1, 2, 4 or 8 bytes. A read
 * fills data; data is in guest (little-endian) byte order. */
typedef void (*bus_io_fn)(void *opaque, uint64_t offset, uint8_t *data, unsigned len,
                          bool is_write);

struct bus_range {
    uint64_t base, len;
    bus_io_fn io;   /* NULL: claimed but ignored (reads all-ones) */
    void *opaque;
    const char *name;
};

struct bus {
    const char *name;           /* "pio" or "mmio", for messages */
    pthread_rwlock_t lock;      /* ranges may move at run time (PCI BARs) */
    struct bus_range *ranges;   /* sorted by base, non-overlapping */
    size_t n, cap;
    atomic_ulong unhandled;     /* accesses nobody claimed */
};

void bus_init(struct bus *b, const char *name);
void bus_destroy(struct bus *b);
/* Returns 0, or -1 if len is 0, the range wraps, or it overlaps another. */
int bus_register(struct bus *b, uint64_t base, uint64_t len, bus_io_fn io, void *opaque,
                 const char *name);
int bus_unregister(struct bus *b, uint64_t base);
/* Performs the access. Returns false if no device claims it wholly; then a
 * read yields all-ones and a write is dropped, as on a real ISA/PCI bus. */
bool bus_access(struct bus *b, uint64_t addr, uint8_t *data, unsigned len, bool is_write);

#endif
