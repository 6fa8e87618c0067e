/* The digest of all of guest memory that both ends of a migration compare
 * at the switch-over (docs/migration.md): XXH3-128 over the sequence of
 * the XXH3-128 digests (canonical, 16 bytes each) of each MEM_DIGEST_CHUNK
 * of RAM [0, ram_size) (the last chunk may be shorter). Every byte counts.
 *
 * Kept incrementally, so that the pause hashes only what changed last: a
 * chunk is hashed once it stops changing and again only when it was
 * written since (a sender learns that from the dirty log, a receiver from
 * the pages it applies). A chunk known to be zero without reading it
 * (core/mem_scan.h: never touched) gets the zero chunk's digest. */
#ifndef KVMBOX_MIGRATION_MEM_DIGEST_H
#define KVMBOX_MIGRATION_MEM_DIGEST_H

#include "core/guest_mem.h"

#include <stdint.h>

/* 64 pages: one word of a page bitmap is one chunk. */
#define MEM_DIGEST_CHUNK (64u * 4096u)

struct mem_digest {
    uint64_t nchunks;
    uint8_t (*chunk)[16];        /* each chunk's digest, where not stale */
    uint64_t *stale;             /* a bit per chunk: to be hashed (again) */
    uint8_t zero[16];            /* a whole chunk of zeros' digest */
};

/* Every chunk stale. -1 when memory ran out. */
int mem_digest_init(struct mem_digest *d, const struct guest_mem *mem);
void mem_digest_destroy(struct mem_digest *d);
/* The chunks of [off, off + len) changed. */
void mem_digest_mark(struct mem_digest *d, uint64_t off, uint64_t len);
/* The chunks with a page set in `pages` (a bit per 4 KiB page) changed. */
void mem_digest_mark_pages(struct mem_digest *d, const uint64_t *pages);
/* Hashes the stale chunks in [first, end) (chunk numbers), except those
 * with a page set in `busy` (may be NULL): still changing, they stay
 * stale. */
void mem_digest_update(struct mem_digest *d, const struct guest_mem *mem, uint64_t first,
                       uint64_t end, const uint64_t *busy);
/* Every stale chunk hashed; the digest of it all. */
void mem_digest_final(struct mem_digest *d, const struct guest_mem *mem, uint8_t out[16]);
/* All at once (no state kept). -1 when memory ran out. */
int mem_digest_all(const struct guest_mem *mem, uint8_t out[16]);

#endif
