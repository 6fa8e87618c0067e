#include "migration/mem_digest.h"

#include "core/mem_scan.h"

#include <stdlib.h>
#include <string.h>
#include <xxhash.h>

static void canonical(XXH128_hash_t h, uint8_t out[16])
{
    XXH128_canonical_t c;
    XXH128_canonicalFromHash(&c, h);
    memcpy(out, c.digest, 16);
}

static uint64_t chunk_len(const struct guest_mem *mem, uint64_t i)
{
    uint64_t at = i * MEM_DIGEST_CHUNK;
    return mem->ram_size - at < MEM_DIGEST_CHUNK ? mem->ram_size - at : MEM_DIGEST_CHUNK;
}

int mem_digest_init(struct mem_digest *d, const struct guest_mem *mem)
{
    memset(d, 0, sizeof *d);
    d->nchunks = (mem->ram_size + MEM_DIGEST_CHUNK - 1) / MEM_DIGEST_CHUNK;
    size_t words = (d->nchunks + 63) / 64;
    d->chunk = calloc(d->nchunks ? d->nchunks : 1, sizeof *d->chunk);
    d->stale = malloc((words ? words : 1) * sizeof *d->stale);
    uint8_t *zeros = calloc(1, MEM_DIGEST_CHUNK);
    if (!d->chunk || !d->stale || !zeros) {
        free(zeros);
        mem_digest_destroy(d);
        return -1;
    }
    memset(d->stale, 0xff, words * sizeof *d->stale);
    canonical(XXH3_128bits(zeros, MEM_DIGEST_CHUNK), d->zero);
    free(zeros);
    return 0;
}

void mem_digest_destroy(struct mem_digest *d)
{
    free(d->chunk);
    free(d->stale);
    d->chunk = NULL;
    d->stale = NULL;
}

void mem_digest_mark(struct mem_digest *d, uint64_t off, uint64_t len)
{
    if (!len)
        return;
    for (uint64_t i = off / MEM_DIGEST_CHUNK; i <= (off + len - 1) / MEM_DIGEST_CHUNK &&
                                              i < d->nchunks; i++)
        d->stale[i / 64] |= 1ULL << (i % 64);
}

void mem_digest_mark_pages(struct mem_digest *d, const uint64_t *pages)
{
    _Static_assert(MEM_DIGEST_CHUNK == 64 * 4096, "a word of pages is a chunk");
    for (uint64_t i = 0; i < d->nchunks; i++)
        if (pages[i])
            d->stale[i / 64] |= 1ULL << (i % 64);
}

void mem_digest_update(struct mem_digest *d, const struct guest_mem *mem, uint64_t first,
                       uint64_t end, const uint64_t *busy)
{
    struct mem_scan scan;
    mem_scan_open(&scan, mem);
    if (end > d->nchunks)
        end = d->nchunks;
    for (uint64_t i = first; i < end; i++) {
        if (!d->stale[i / 64]) {
            i |= 63;             /* a whole word with nothing stale */
            continue;
        }
        if (!(d->stale[i / 64] >> (i % 64) & 1) || (busy && busy[i]))
            continue;
        uint64_t at = i * MEM_DIGEST_CHUNK, len = chunk_len(mem, i);
        if (len == MEM_DIGEST_CHUNK && !mem_scan_range_may_hold_data(&scan, at, len))
            memcpy(d->chunk[i], d->zero, 16);
        else
            canonical(XXH3_128bits(mem->host + at, (size_t)len), d->chunk[i]);
        d->stale[i / 64] &= ~(1ULL << (i % 64));
    }
    mem_scan_close(&scan);
}

void mem_digest_final(struct mem_digest *d, const struct guest_mem *mem, uint8_t out[16])
{
    mem_digest_update(d, mem, 0, d->nchunks, NULL);
    canonical(XXH3_128bits(d->chunk, (size_t)(d->nchunks * 16)), out);
}

int mem_digest_all(const struct guest_mem *mem, uint8_t out[16])
{
    struct mem_digest d;
    if (mem_digest_init(&d, mem) < 0)
        return -1;
    mem_digest_final(&d, mem, out);
    mem_digest_destroy(&d);
    return 0;
}
