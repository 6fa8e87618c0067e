/* libFuzzer target: the migration receiver's parse of the stream
 * (src/migration/migration_stream.c, mstream_parse) and, for PAGES, the
 * apply into a small guest memory: what a hostile or broken sender can
 * reach. Input: a mode byte, then messages back to back. Mode bit 0 set:
 * each message's trailer is replaced by the right XXH3 first (when its
 * header can be read), so that the fuzzer gets past the checksum to the
 * payload checks after it. Each message is parsed from a buffer of exactly
 * the bytes left, so ASan sees any read past them. An acceptance must
 * describe a message that lies within the input and fits its type; a
 * refusal, one non-empty message. As the receiver does, each PAGES run
 * that changed memory marks its chunks in an incremental memory digest,
 * hashed as the stream passes them: at the end that digest must equal the
 * one computed over the whole memory at once. */
#include "core/mem_scan.h"
#include "migration/mem_digest.h"
#include "migration/migration_stream.h"

#include <xxhash.h>

#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct guest_mem mem;
#define MEM_SIZE (2ULL << 20)

static void check_accepted(const struct mmsg *m, const uint8_t *buf, size_t used)
{
    if (m->payload != buf + MSTREAM_HEADER ||
        m->len + MSTREAM_HEADER + MSTREAM_TRAILER != used || m->fd != -1)
        abort();
    switch (m->type) {
    case MSG_PAGES:
        if (m->u.pages.offset % MSTREAM_PAGE || !m->u.pages.npages ||
            (!m->u.pages.zero && (m->u.pages.npages > MSTREAM_RUN_MAX_PAGES ||
                                  m->len != 16 + (size_t)m->u.pages.npages * MSTREAM_PAGE)))
            abort();
        break;
    case MSG_HELLO:
        if (!m->u.hello.version[0] || strlen(m->u.hello.version) > MSTREAM_VERSION_MAX)
            abort();
        break;
    case MSG_ERROR:
        if (strlen(m->u.text) != m->len)
            abort();
        for (size_t i = 0; i < m->len; i++)
            if ((unsigned char)m->u.text[i] < 0x20)
                abort();
        break;
    case MSG_STATE:
        if (m->len > MSTREAM_STATE_MAX)
            abort();
        break;
    case MSG_CONFIG:
        if (!m->len || m->len > MSTREAM_CONFIG_MAX)
            abort();
        break;
    default:
        break;
    }
    /* Every byte of the payload readable (ASan checks). */
    volatile uint8_t x = 0;
    for (size_t i = 0; i < m->len; i++)
        x ^= m->payload[i];
    (void)x;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char err[256];
    if (!mem.host && guest_mem_init(&mem, MEM_SIZE, err, sizeof err) < 0)
        abort();
    if (size < 1)
        return 0;
    bool fix_sum = data[0] & 1;
    size_t pos = 1;
    struct mem_digest dg;
    struct mem_scan untouched;
    if (mem_digest_init(&dg, &mem) < 0)
        return 0;
    mem_scan_open(&untouched, &mem);
    /* As the receiver: all of it hashed first, then only what changes. */
    mem_digest_update(&dg, &mem, 0, dg.nchunks, NULL);
    while (pos < size) {
        size_t len = size - pos;
        uint8_t *buf = malloc(len);
        if (!buf)
            break;
        memcpy(buf, data + pos, len);
        uint16_t type, flags;
        uint64_t total;
        if (fix_sum && len >= MSTREAM_HEADER &&
            mstream_parse_header(buf, &type, &flags, &total, err, sizeof err) == 0 &&
            total <= len) {
            uint64_t sum = XXH3_64bits(buf, (size_t)total - MSTREAM_TRAILER);
            for (int i = 0; i < 8; i++)
                buf[total - MSTREAM_TRAILER + (size_t)i] = (uint8_t)(sum >> (8 * i));
        }
        struct mmsg m;
        size_t used = 0;
        err[0] = '\0';
        if (mstream_parse(buf, len, &m, &used, err, sizeof err) < 0) {
            if (!err[0] || !memchr(err, 0, sizeof err))
                abort();
            free(buf);
            break;
        }
        if (used > len)
            abort();
        check_accepted(&m, buf, used);
        if (m.type == MSG_PAGES) {
            err[0] = '\0';
            int r = mstream_apply_pages(&m, &mem, &untouched, err, sizeof err);
            bool inside = m.u.pages.offset <= MEM_SIZE &&
                          m.u.pages.npages <= (MEM_SIZE - m.u.pages.offset) / MSTREAM_PAGE;
            if ((r >= 0) != inside || (r < 0 && !err[0]))
                abort();
            if (r == 1) {
                mem_digest_mark(&dg, m.u.pages.offset,
                                (uint64_t)m.u.pages.npages * MSTREAM_PAGE);
                mem_digest_update(&dg, &mem, 0, m.u.pages.offset / MEM_DIGEST_CHUNK, NULL);
            }
        }
        free(buf);
        pos += used;
    }
    uint8_t inc[16], all[16];
    mem_digest_final(&dg, &mem, inc);
    if (mem_digest_all(&mem, all) == 0 && memcmp(inc, all, 16))
        abort();
    mem_digest_destroy(&dg);
    mem_scan_close(&untouched);
    return 0;
}
