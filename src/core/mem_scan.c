#include "core/mem_scan.h"

#include "util/file.h"

#include <fcntl.h>
#include <unistd.h>

#define PAGE 4096u
#define PM_PRESENT (1ULL << 63)
#define PM_SWAPPED (1ULL << 62)

void mem_scan_open(struct mem_scan *s, const struct guest_mem *mem)
{
    s->mem = mem;
    s->first = s->count = 0;
    /* Only private anonymous memory: in a shared or file mapping a page
     * not mapped here may still hold data in the page cache. */
    s->pagemap_fd = mem->backing == GUEST_MEM_ANON && !mem->file_mapped
                        ? open("/proc/self/pagemap", O_RDONLY | O_CLOEXEC) : -1;
}

void mem_scan_close(struct mem_scan *s)
{
    if (s->pagemap_fd >= 0)
        close(s->pagemap_fd);
    s->pagemap_fd = -1;
}

int mem_scan_next_stretch(struct mem_scan *s, uint64_t off, uint64_t *start, uint64_t *end)
{
    const struct guest_mem *mem = s->mem;
    if (mem->memfd >= 0 && !mem->file_mapped)
        return file_data_extent(mem->memfd, off, mem->ram_size, start, end);
    if (off >= mem->ram_size)
        return 1;
    *start = off;
    *end = mem->ram_size;
    return 0;
}

bool mem_scan_page_may_hold_data(struct mem_scan *s, uint64_t off)
{
    if (s->pagemap_fd < 0)
        return true;
    uintptr_t pfn = (uintptr_t)(s->mem->host + off) / PAGE;
    if (pfn < s->first || pfn >= s->first + s->count) {
        ssize_t n = pread(s->pagemap_fd, s->entries, sizeof s->entries, (off_t)(pfn * 8));
        if (n < 8) {
            /* Unreadable after all: every page may hold data from here on. */
            close(s->pagemap_fd);
            s->pagemap_fd = -1;
            return true;
        }
        s->first = pfn;
        s->count = (size_t)n / 8;
    }
    return s->entries[pfn - s->first] & (PM_PRESENT | PM_SWAPPED);
}

bool mem_scan_range_may_hold_data(struct mem_scan *s, uint64_t off, uint64_t len)
{
    uint64_t end = off + len;
    if (s->mem->memfd >= 0 && !s->mem->file_mapped) {
        uint64_t start, stop;
        return mem_scan_next_stretch(s, off, &start, &stop) == 0 && start < end;
    }
    for (; off < end; off += PAGE)
        if (mem_scan_page_may_hold_data(s, off))
            return true;
    return false;
}
