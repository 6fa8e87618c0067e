#include "core/guest_mem.h"

#include "util/log.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

/* <linux/memfd.h> has it, but clashes with glibc's MFD_* definitions:
 * log2 of the page size in the bits above MFD_HUGE_SHIFT (26). */
#ifndef MFD_HUGE_2MB
#define MFD_HUGE_2MB (21U << 26)
#endif

unsigned guest_mem_layout(uint64_t ram_size, struct guest_mem_region *out)
{
    uint64_t low = ram_size < GUEST_MEM_HOLE_START ? ram_size : GUEST_MEM_HOLE_START;
    out[0] = (struct guest_mem_region){ .gpa = 0, .size = low, .offset = 0 };
    if (ram_size <= low)
        return 1;
    out[1] = (struct guest_mem_region){ .gpa = GUEST_MEM_HIGH_START, .size = ram_size - low,
                                        .offset = low };
    return 2;
}

/* Reserves `size` bytes of address space starting on a 2 MiB boundary.
 * PROT_NONE and unbacked, so it costs nothing; the real mapping replaces
 * it with MAP_FIXED. A huge page can back guest memory only where the
 * host address and the guest-physical one agree modulo 2 MiB, and mmap
 * alone guarantees only 4 KiB alignment. */
static uint8_t *reserve_aligned(uint64_t size)
{
    uint64_t span = size + GUEST_MEM_HUGE_PAGE;
    uint8_t *p = mmap(NULL, span, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (p == MAP_FAILED)
        return NULL;
    uintptr_t mask = GUEST_MEM_HUGE_PAGE - 1;
    uint8_t *a = (uint8_t *)(((uintptr_t)p + mask) & ~mask);
    if (a > p)
        munmap(p, (size_t)(a - p));
    /* mmap returns page-aligned addresses, so a - p < 2 MiB: a tail remains. */
    munmap(a + size, (size_t)(p + span - (a + size)));
    return a;
}

/* Whether a THP setting file ("always [madvise] never") has huge pages on
 * for a region that asked for them with MADV_HUGEPAGE. Only for -v. */
static bool thp_on(const char *path)
{
    char buf[128] = "";
    FILE *f = fopen(path, "r");
    if (!f)
        return false;
    bool got = fgets(buf, sizeof buf, f) != NULL;
    fclose(f);
    return got && !strstr(buf, "[never]") && !strstr(buf, "[deny]");
}

static void log_backing(const struct guest_mem *gm)
{
    if (!log_verbose())
        return;
    static const char *const what[] = {
        [GUEST_MEM_ANON] = "anonymous memory",
        [GUEST_MEM_SHARED] = "a memfd (shared=on)",
        [GUEST_MEM_HUGETLB] = "a memfd of 2 MiB hugetlbfs pages (hugepages=on)",
    };
    const char *thp = NULL;
    if (gm->backing == GUEST_MEM_ANON)
        thp = "/sys/kernel/mm/transparent_hugepage/enabled";
    else if (gm->backing == GUEST_MEM_SHARED)
        thp = "/sys/kernel/mm/transparent_hugepage/shmem_enabled";
    log_debug("guest RAM: %llu MiB in %s%s", (unsigned long long)(gm->ram_size >> 20),
              what[gm->backing],
              !thp ? "" : thp_on(thp) ? ", transparent huge pages on"
                                      : ", transparent huge pages off on this host (4 KiB pages)");
}

/* "HugePages_Free:" of /proc/meminfo, or -1: for the error message only. */
static long free_huge_pages(void)
{
    FILE *f = fopen("/proc/meminfo", "r");
    if (!f)
        return -1;
    char line[128];
    long n = -1;
    while (fgets(line, sizeof line, f))
        if (sscanf(line, "HugePages_Free: %ld", &n) == 1)
            break;
    fclose(f);
    return n;
}

/* The memfd for a shared or hugetlbfs backing, sized to ram_size. */
static int open_memfd(struct guest_mem *gm, char *err, size_t errlen)
{
    bool huge = gm->backing == GUEST_MEM_HUGETLB;
    gm->memfd = memfd_create("kvmbox-ram", MFD_CLOEXEC | MFD_ALLOW_SEALING |
                                               (huge ? MFD_HUGETLB | MFD_HUGE_2MB : 0));
    if (gm->memfd < 0) {
        snprintf(err, errlen, "%s: %s", huge ? "hugepages=on: this host offers no 2 MiB "
                 "hugetlbfs pages (memfd_create)" : "memfd_create", log_strerror(errno));
        return -1;
    }
    if (ftruncate(gm->memfd, (off_t)gm->ram_size) < 0) {
        snprintf(err, errlen, "cannot size guest RAM to %llu bytes: %s",
                 (unsigned long long)gm->ram_size, log_strerror(errno));
        return -1;
    }
    /* Its size is fixed for good: a process it is handed to (a local
     * migration) maps all of it and must never find a page cut away. */
    if (fcntl(gm->memfd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL) < 0)
        log_debug("memfd seals: %s", log_strerror(errno));
    return 0;
}

int guest_mem_init_backed(struct guest_mem *gm, uint64_t ram_size,
                          enum guest_mem_backing backing, char *err, size_t errlen)
{
    memset(gm, 0, sizeof *gm);
    gm->memfd = -1;
    gm->backing = backing;
    gm->ram_size = ram_size;
    gm->nregions = guest_mem_layout(ram_size, gm->regions);

    bool huge = backing == GUEST_MEM_HUGETLB;
    if (huge && ram_size % GUEST_MEM_HUGE_PAGE) {
        snprintf(err, errlen, "hugepages=on: guest RAM must be a multiple of 2M");
        return -1;
    }
    if (backing != GUEST_MEM_ANON && open_memfd(gm, err, errlen) < 0)
        goto fail;
    uint8_t *want = reserve_aligned(ram_size);
    if (!want) {
        snprintf(err, errlen, "cannot map %llu bytes of guest RAM: %s",
                 (unsigned long long)ram_size, log_strerror(errno));
        goto fail;
    }
    /* MAP_NORESERVE: an idle guest costs only what it touches. Not for
     * hugetlbfs, whose pages the host set aside beforehand anyway:
     * reserving them now turns a guest that would die on a fault in the
     * middle of its run (no free huge page) into an error at start. */
    int flags = MAP_FIXED | (backing == GUEST_MEM_ANON ? MAP_PRIVATE | MAP_ANONYMOUS : MAP_SHARED) |
                (huge ? 0 : MAP_NORESERVE);
    void *p = mmap(want, ram_size, PROT_READ | PROT_WRITE, flags, gm->memfd, 0);
    if (p == MAP_FAILED) {
        int e = errno;
        munmap(want, ram_size);
        if (huge && e == ENOMEM)
            snprintf(err, errlen, "hugepages=on: the guest needs %llu free 2 MiB huge pages, "
                     "the host has %ld (raise /proc/sys/vm/nr_hugepages)",
                     (unsigned long long)(ram_size / GUEST_MEM_HUGE_PAGE), free_huge_pages());
        else
            snprintf(err, errlen, "cannot map %llu bytes of guest RAM: %s",
                     (unsigned long long)ram_size, log_strerror(e));
        goto fail;
    }
    gm->host = p;
    /* Transparent huge pages where the host allows them (anonymous THP
     * "always" or "madvise"; for shared=on, shmem THP other than "never").
     * A kernel without THP refuses the advice; 4 KiB pages then. */
    if (!huge)
        madvise(p, ram_size, MADV_HUGEPAGE);
    log_backing(gm);
    return 0;
fail:
    if (gm->memfd >= 0)
        close(gm->memfd);
    gm->memfd = -1;
    return -1;
}

int guest_mem_init(struct guest_mem *gm, uint64_t ram_size, char *err, size_t errlen)
{
    return guest_mem_init_backed(gm, ram_size, GUEST_MEM_ANON, err, errlen);
}

int guest_mem_adopt_memfd(struct guest_mem *gm, int fd, char *err, size_t errlen)
{
    /* Only a memfd sealed against shrinking: another file could be cut
     * short under the guest (a SIGBUS here), or be a file on disk. */
    struct stat st;
    int seals = fcntl(fd, F_GET_SEALS);
    if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) || (uint64_t)st.st_size != gm->ram_size ||
        seals < 0 || !(seals & F_SEAL_SHRINK)) {
        snprintf(err, errlen, "the memory handed over is not a sealed memfd of %llu bytes",
                 (unsigned long long)gm->ram_size);
        close(fd);
        return -1;
    }
    int flags = MAP_FIXED | MAP_SHARED | (gm->backing == GUEST_MEM_HUGETLB ? 0 : MAP_NORESERVE);
    if (mmap(gm->host, gm->ram_size, PROT_READ | PROT_WRITE, flags, fd, 0) == MAP_FAILED) {
        snprintf(err, errlen, "cannot map the memory handed over: %s", log_strerror(errno));
        close(fd);
        return -1;
    }
    if (gm->memfd >= 0)
        close(gm->memfd);
    gm->memfd = fd;
    if (gm->backing == GUEST_MEM_ANON)
        gm->backing = GUEST_MEM_SHARED;
    return 0;
}

void guest_mem_destroy(struct guest_mem *gm)
{
    free(gm->dirty);
    gm->dirty = NULL;
    if (gm->host)
        munmap(gm->host, gm->ram_size);
    if (gm->memfd >= 0)
        close(gm->memfd);
    gm->host = NULL;
    gm->memfd = -1;
}

void *guest_mem_ptr(const struct guest_mem *gm, uint64_t gpa, uint64_t len)
{
    for (unsigned i = 0; i < gm->nregions; i++) {
        const struct guest_mem_region *r = &gm->regions[i];
        if (gpa < r->gpa)
            continue;
        uint64_t off = gpa - r->gpa;
        /* Written so that no sum can overflow: off <= size, then len <= rest. */
        if (off > r->size || len > r->size - off)
            continue;
        return gm->host + r->offset + off;
    }
    return NULL;
}

bool guest_mem_contains(const struct guest_mem *gm, uint64_t gpa, uint64_t len)
{
    return guest_mem_ptr(gm, gpa, len) != NULL;
}

int guest_mem_read(const struct guest_mem *gm, uint64_t gpa, void *buf, uint64_t len)
{
    const void *p = guest_mem_ptr(gm, gpa, len);
    if (!p)
        return -1;
    memcpy(buf, p, len);
    return 0;
}

int guest_mem_write(const struct guest_mem *gm, uint64_t gpa, const void *buf, uint64_t len)
{
    void *p = guest_mem_ptr(gm, gpa, len);
    if (!p)
        return -1;
    memcpy(p, buf, len);
    guest_mem_dirty_host(gm, p, len);
    return 0;
}

int guest_mem_fill(const struct guest_mem *gm, uint64_t gpa, int byte, uint64_t len)
{
    void *p = guest_mem_ptr(gm, gpa, len);
    if (!p)
        return -1;
    memset(p, byte, len);
    guest_mem_dirty_host(gm, p, len);
    return 0;
}

int guest_mem_dirty_start(struct guest_mem *gm)
{
    size_t words = GUEST_MEM_DIRTY_WORDS(gm);
    if (!gm->dirty && !(gm->dirty = calloc(words, sizeof *gm->dirty)))
        return -1;
    for (size_t i = 0; i < words; i++)
        __atomic_store_n(&gm->dirty[i], 0, __ATOMIC_RELAXED);
    __atomic_store_n(&gm->dirty_on, true, __ATOMIC_SEQ_CST);
    return 0;
}

void guest_mem_dirty_stop(struct guest_mem *gm)
{
    __atomic_store_n(&gm->dirty_on, false, __ATOMIC_SEQ_CST);
}

void guest_mem_dirty_mark(const struct guest_mem *gm, uint64_t offset, uint64_t len)
{
    /* The flag is read first: with tracking off (always, but while a VM
     * migrates) a write costs this one load. */
    if (!__atomic_load_n(&gm->dirty_on, __ATOMIC_ACQUIRE) || !len || offset >= gm->ram_size)
        return;
    if (len > gm->ram_size - offset)
        len = gm->ram_size - offset;
    for (uint64_t page = offset / 4096, last = (offset + len - 1) / 4096; page <= last; page++)
        __atomic_fetch_or(&gm->dirty[page / 64], 1ULL << (page % 64), __ATOMIC_RELEASE);
}

void guest_mem_dirty_host(const struct guest_mem *gm, const void *p, uint64_t len)
{
    uintptr_t at = (uintptr_t)p, base = (uintptr_t)gm->host;
    if (at >= base)
        guest_mem_dirty_mark(gm, at - base, len);
}

void guest_mem_dirty_iov(const struct guest_mem *gm, const struct iovec *iov, unsigned n)
{
    for (unsigned i = 0; i < n; i++)
        guest_mem_dirty_host(gm, iov[i].iov_base, iov[i].iov_len);
}

void guest_mem_dirty_take(struct guest_mem *gm, uint64_t *bits)
{
    if (!gm->dirty)
        return;
    for (size_t i = 0, n = GUEST_MEM_DIRTY_WORDS(gm); i < n; i++)
        bits[i] |= __atomic_exchange_n(&gm->dirty[i], 0, __ATOMIC_ACQ_REL);
}

uint64_t guest_mem_low_end(const struct guest_mem *gm)
{
    return gm->regions[0].gpa + gm->regions[0].size;
}

/* Changing a mapping's protection makes the kernel tell KVM (its MMU
 * notifier), which drops the range from the guest's page tables. QEMU
 * takes the page to PROT_NONE and back; adding PROT_EXEC and taking it
 * away notifies KVM just the same but never takes access away, so a vCPU
 * or device thread touching the page meanwhile cannot fault. A hugetlbfs
 * page changes protection only as a whole (EINVAL for less). */
int guest_mem_flush_page(const struct guest_mem *gm, uint64_t gpa)
{
    static const uint64_t page_sizes[] = { 4096, GUEST_MEM_HUGE_PAGE };
    for (size_t i = 0; i < sizeof page_sizes / sizeof page_sizes[0]; i++) {
        uint64_t size = page_sizes[i];
        uint8_t *p = guest_mem_ptr(gm, gpa & ~(size - 1), size);
        if (!p)
            return -1;
        if (mprotect(p, size, PROT_READ | PROT_WRITE | PROT_EXEC) == 0)
            return mprotect(p, size, PROT_READ | PROT_WRITE);
        if (errno != EINVAL)
            return -1;
    }
    return -1;
}
