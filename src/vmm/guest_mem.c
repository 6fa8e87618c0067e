#include "vmm/guest_mem.h"

#include "arch/x86/layout.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

unsigned guest_mem_layout(uint64_t ram_size, struct guest_mem_region *out)
{
    uint64_t low = ram_size < LAYOUT_MMIO_HOLE_START ? ram_size : LAYOUT_MMIO_HOLE_START;
    out[0] = (struct guest_mem_region){ .gpa = 0, .size = low, .offset = 0 };
    if (ram_size <= low)
        return 1;
    out[1] = (struct guest_mem_region){ .gpa = LAYOUT_4G, .size = ram_size - low, .offset = low };
    return 2;
}

int guest_mem_init(struct guest_mem *gm, uint64_t ram_size, char *err, size_t errlen)
{
    memset(gm, 0, sizeof *gm);
    gm->memfd = -1;
    gm->ram_size = ram_size;
    gm->nregions = guest_mem_layout(ram_size, gm->regions);

    /* A memfd so that snapshots and migration can later share or map the
     * same pages; MAP_NORESERVE so that an idle guest costs only what it
     * touches. */
    gm->memfd = memfd_create("kvmbox-ram", MFD_CLOEXEC);
    if (gm->memfd < 0) {
        snprintf(err, errlen, "memfd_create: %s", strerror(errno));
        return -1;
    }
    if (ftruncate(gm->memfd, (off_t)ram_size) < 0) {
        snprintf(err, errlen, "cannot size guest RAM to %llu bytes: %s",
                 (unsigned long long)ram_size, strerror(errno));
        goto fail;
    }
    void *p = mmap(NULL, ram_size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_NORESERVE,
                   gm->memfd, 0);
    if (p == MAP_FAILED) {
        snprintf(err, errlen, "cannot map %llu bytes of guest RAM: %s",
                 (unsigned long long)ram_size, strerror(errno));
        goto fail;
    }
    gm->host = p;
    return 0;
fail:
    close(gm->memfd);
    gm->memfd = -1;
    return -1;
}

void guest_mem_destroy(struct guest_mem *gm)
{
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
    return 0;
}

int guest_mem_fill(const struct guest_mem *gm, uint64_t gpa, int byte, uint64_t len)
{
    void *p = guest_mem_ptr(gm, gpa, len);
    if (!p)
        return -1;
    memset(p, byte, len);
    return 0;
}

uint64_t guest_mem_low_end(const struct guest_mem *gm)
{
    return gm->regions[0].gpa + gm->regions[0].size;
}
