/* Guest physical memory: one memfd, mapped once, split into RAM regions
 * around the 32-bit MMIO hole. Every access the VMM or a device makes on
 * behalf of the guest goes through these bounds-checked helpers, so a
 * hostile guest address or length can never reach outside guest RAM. */
#ifndef KVMBOX_VMM_GUEST_MEM_H
#define KVMBOX_VMM_GUEST_MEM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define GUEST_MEM_MAX_REGIONS 2

struct guest_mem_region {
    uint64_t gpa;     /* guest-physical start */
    uint64_t size;
    uint64_t offset;  /* offset of the region in the memfd and the mapping */
};

struct guest_mem {
    int memfd;
    uint8_t *host;    /* mapping of the whole memfd */
    uint64_t ram_size;
    unsigned nregions;
    struct guest_mem_region regions[GUEST_MEM_MAX_REGIONS];
};

/* Computes the RAM regions for ram_size bytes: everything below the MMIO
 * hole, the rest from 4 GiB up. Pure; used by e820 and unit tests. */
unsigned guest_mem_layout(uint64_t ram_size, struct guest_mem_region *out);

int guest_mem_init(struct guest_mem *gm, uint64_t ram_size, char *err, size_t errlen);
void guest_mem_destroy(struct guest_mem *gm);

/* Host pointer for [gpa, gpa+len) if it lies wholly inside one RAM region
 * (len 0 is allowed), else NULL. Overflowing gpa+len is rejected. */
void *guest_mem_ptr(const struct guest_mem *gm, uint64_t gpa, uint64_t len);
bool guest_mem_contains(const struct guest_mem *gm, uint64_t gpa, uint64_t len);
int guest_mem_read(const struct guest_mem *gm, uint64_t gpa, void *buf, uint64_t len);
int guest_mem_write(const struct guest_mem *gm, uint64_t gpa, const void *buf, uint64_t len);
int guest_mem_fill(const struct guest_mem *gm, uint64_t gpa, int byte, uint64_t len);
/* End (exclusive) of the RAM region that starts at or below 4 GiB. */
uint64_t guest_mem_low_end(const struct guest_mem *gm);

#endif
