/* Which parts of guest RAM are known to read as zero without reading
 * them: pages of private anonymous RAM this process never touched
 * (/proc/self/pagemap: neither present nor swapped out) and the holes of
 * a memfd (SEEK_DATA/SEEK_HOLE). A snapshot skips them and the migration
 * digest takes them as zero: reading them would cost a page fault each
 * (and, for a memfd, allocate nothing but still walk the page cache).
 * Where neither source can tell (a snapshot's file mapped privately over
 * RAM, no pagemap), every page may hold data. */
#ifndef KVMBOX_CORE_MEM_SCAN_H
#define KVMBOX_CORE_MEM_SCAN_H

#include "core/guest_mem.h"

#include <stdbool.h>
#include <stdint.h>

struct mem_scan {
    const struct guest_mem *mem;
    int pagemap_fd;              /* -1: no pagemap for this RAM */
    uint64_t entries[512];       /* a window of pagemap entries */
    uintptr_t first;             /* host page number of entries[0] */
    size_t count;                /* valid entries */
};

void mem_scan_open(struct mem_scan *s, const struct guest_mem *mem);
void mem_scan_close(struct mem_scan *s);
/* The next stretch [*start, *end) at or after off that may hold data: a
 * memfd's data extents; otherwise the rest of RAM (pagemap then judges
 * page by page). 0, or 1 when nothing is left. */
int mem_scan_next_stretch(struct mem_scan *s, uint64_t off, uint64_t *start, uint64_t *end);
/* Whether the 4 KiB page at offset off may hold data. */
bool mem_scan_page_may_hold_data(struct mem_scan *s, uint64_t off);
/* Whether any page of [off, off + len) may hold data. */
bool mem_scan_range_may_hold_data(struct mem_scan *s, uint64_t off, uint64_t len);

#endif
