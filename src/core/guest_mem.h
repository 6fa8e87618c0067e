/* Guest physical memory: one mapping, made once, split into RAM regions
 * around the 32-bit MMIO hole. Every access the VMM or a device makes on
 * behalf of the guest goes through these bounds-checked helpers, so a
 * hostile guest address or length can never reach outside guest RAM. */
#ifndef KVMBOX_CORE_GUEST_MEM_H
#define KVMBOX_CORE_GUEST_MEM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define GUEST_MEM_MAX_REGIONS 2

struct guest_mem_region {
    uint64_t gpa;     /* guest-physical start */
    uint64_t size;
    uint64_t offset;  /* offset of the region in the mapping (and the memfd) */
};

/* What backs guest RAM. Whatever the backing, the mapping starts on a
 * 2 MiB boundary, so guest-physical and host-virtual addresses agree
 * modulo 2 MiB and KVM can map the guest's huge pages with huge pages. */
enum guest_mem_backing {
    /* Private anonymous memory with MADV_HUGEPAGE: transparent huge
     * pages wherever the host allows them (the default: fastest). */
    GUEST_MEM_ANON,
    /* A memfd (shared=on): a file another process, or a later kvmbox,
     * can map; huge pages if the host enables THP for shmem. */
    GUEST_MEM_SHARED,
    /* A memfd of 2 MiB hugetlbfs pages (hugepages=on), reserved from the
     * host's pool up front; the size must be a multiple of 2 MiB. */
    GUEST_MEM_HUGETLB,
};

#define GUEST_MEM_HUGE_PAGE (2ULL << 20)

struct guest_mem {
    int memfd;        /* the file behind the memory, -1 for GUEST_MEM_ANON */
    enum guest_mem_backing backing;
    uint8_t *host;    /* mapping of all guest RAM (memfd offset = mapping offset) */
    /* A snapshot's memory file is mapped MAP_PRIVATE over RAM (restore on
     * demand): a page not yet touched holds the file's bytes, not zero, so
     * a later snapshot must read every page (migration/snapshot_dir.c). */
    bool file_mapped;
    /* Live migration's record of what the VMM and its devices write into
     * guest memory (KVM logs only the guest's own writes): a bit per 4 KiB
     * page of the mapping, set while `dirty_on`. Allocated by the first
     * guest_mem_dirty_start and kept until guest_mem_destroy, because a
     * device thread may still be marking as tracking stops. Words and the
     * flag are accessed atomically. */
    uint64_t *dirty;
    bool dirty_on;
    uint64_t ram_size;
    unsigned nregions;
    struct guest_mem_region regions[GUEST_MEM_MAX_REGIONS];
};

/* Where RAM lies in guest-physical space: below a hole for 32-bit MMIO
 * (PCI BARs, IOAPIC, LAPIC) and from 4 GiB up. Defined here, where RAM is
 * laid out; arch/x86/layout.h places the rest of the machine around it. */
#define GUEST_MEM_HOLE_START 0xc0000000ULL
#define GUEST_MEM_HIGH_START 0x100000000ULL

/* Computes the RAM regions for ram_size bytes: everything below the MMIO
 * hole, the rest from 4 GiB up. Pure; used by e820 and unit tests. */
unsigned guest_mem_layout(uint64_t ram_size, struct guest_mem_region *out);

/* Maps ram_size bytes with MAP_NORESERVE semantics (an idle guest costs
 * only what it touches). guest_mem_init is the default backing
 * (GUEST_MEM_ANON). -1 with a message in err on failure. */
int guest_mem_init(struct guest_mem *gm, uint64_t ram_size, char *err, size_t errlen);
int guest_mem_init_backed(struct guest_mem *gm, uint64_t ram_size,
                          enum guest_mem_backing backing, char *err, size_t errlen);
/* Puts the memfd `fd` (another kvmbox's guest memory, handed over by a
 * local migration) in place of this mapping's memory, shared: the guest's
 * memory is then the same pages in both processes. The file must be a
 * memfd of at least ram_size bytes; gm takes fd. Before KVM maps gm. */
int guest_mem_adopt_memfd(struct guest_mem *gm, int fd, char *err, size_t errlen);
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
/* Dirty tracking for live migration (the VMM's and devices' writes; KVM's
 * dirty log has the guest's). Start clears the record and turns marking
 * on (-1 when out of memory); stop turns it off. Marking is by guest
 * address, by host pointer into the mapping, or by iovec (a chain's
 * writable buffers), and costs one atomic load while tracking is off. */
int guest_mem_dirty_start(struct guest_mem *gm);
void guest_mem_dirty_stop(struct guest_mem *gm);
void guest_mem_dirty_mark(const struct guest_mem *gm, uint64_t offset, uint64_t len);
void guest_mem_dirty_host(const struct guest_mem *gm, const void *p, uint64_t len);
struct iovec;
void guest_mem_dirty_iov(const struct guest_mem *gm, const struct iovec *iov, unsigned n);
/* ORs the pages marked since the last take into bits (one per 4 KiB page
 * of the mapping, GUEST_MEM_DIRTY_WORDS(gm) words) and clears them. */
#define GUEST_MEM_DIRTY_WORDS(gm) (((gm)->ram_size / 4096 + 63) / 64)
void guest_mem_dirty_take(struct guest_mem *gm, uint64_t *bits);

/* Makes KVM forget its mapping of the guest page holding gpa, so that the
 * guest's next access to it faults into KVM again (pc-testdev's flush
 * port); the page's contents stay. Returns 0, or -1 if gpa is not RAM or
 * the host refuses. */
int guest_mem_flush_page(const struct guest_mem *gm, uint64_t gpa);

#endif
