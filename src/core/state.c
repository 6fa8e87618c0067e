#include "core/state.h"

#include "util/grow.h"

#include <stdlib.h>
#include <string.h>

/* Section layout: u16 name length, name bytes, u32 version, u32 payload
 * length, payload. All integers little-endian. */

void state_writer_init(struct state_writer *w) { memset(w, 0, sizeof *w); }

void state_writer_free(struct state_writer *w)
{
    free(w->buf);
    memset(w, 0, sizeof *w);
}

static void put_raw(struct state_writer *w, const void *p, size_t n)
{
    if (w->failed)
        return;
    if (!grow_to(&w->buf, &w->cap, w->len + n)) {
        w->failed = true;
        return;
    }
    memcpy(w->buf + w->len, p, n);
    w->len += n;
}

static void put_le(struct state_writer *w, uint64_t v, unsigned bytes)
{
    uint8_t b[8];
    for (unsigned i = 0; i < bytes; i++)
        b[i] = (uint8_t)(v >> (8 * i));
    put_raw(w, b, bytes);
}

void state_begin(struct state_writer *w, const char *name, uint32_t version)
{
    size_t n = strlen(name);
    if (w->open || n > UINT16_MAX) {
        w->failed = true;
        return;
    }
    put_le(w, n, 2);
    put_raw(w, name, n);
    put_le(w, version, 4);
    w->section_len_at = w->len;
    put_le(w, 0, 4);
    w->open = true;
}

void state_end(struct state_writer *w)
{
    if (!w->open || w->failed) {
        w->failed = true;
        return;
    }
    size_t payload = w->len - w->section_len_at - 4;
    for (unsigned i = 0; i < 4; i++)
        w->buf[w->section_len_at + i] = (uint8_t)(payload >> (8 * i));
    w->open = false;
}

void state_put_u8(struct state_writer *w, uint8_t v) { put_le(w, v, 1); }
void state_put_u16(struct state_writer *w, uint16_t v) { put_le(w, v, 2); }
void state_put_u32(struct state_writer *w, uint32_t v) { put_le(w, v, 4); }
void state_put_u64(struct state_writer *w, uint64_t v) { put_le(w, v, 8); }
void state_put_bytes(struct state_writer *w, const void *p, size_t n) { put_raw(w, p, n); }

void state_put_str(struct state_writer *w, const char *s)
{
    size_t n = strlen(s);
    if (n > UINT16_MAX) {
        w->failed = true;
        return;
    }
    state_put_u16(w, (uint16_t)n);
    put_raw(w, s, n);
}

void state_reader_init(struct state_reader *r, const void *buf, size_t len)
{
    memset(r, 0, sizeof *r);
    r->buf = buf;
    r->len = len;
    r->section_end = len;
}

static bool get_raw(struct state_reader *r, void *p, size_t n, size_t limit)
{
    if (r->failed || n > limit - r->pos) {
        r->failed = true;
        memset(p, 0, n);
        return false;
    }
    memcpy(p, r->buf + r->pos, n);
    r->pos += n;
    return true;
}

static uint64_t get_le(struct state_reader *r, unsigned bytes, size_t limit)
{
    uint8_t b[8];
    if (!get_raw(r, b, bytes, limit))
        return 0;
    uint64_t v = 0;
    for (unsigned i = 0; i < bytes; i++)
        v |= (uint64_t)b[i] << (8 * i);
    return v;
}

int state_open(struct state_reader *r, const char *name, uint32_t *version)
{
    size_t n = (size_t)get_le(r, 2, r->len);
    if (r->failed || n != strlen(name) || n > r->len - r->pos ||
        memcmp(r->buf + r->pos, name, n) != 0) {
        r->failed = true;
        return -1;
    }
    r->pos += n;
    *version = (uint32_t)get_le(r, 4, r->len);
    size_t payload = (size_t)get_le(r, 4, r->len);
    if (r->failed || payload > r->len - r->pos) {
        r->failed = true;
        return -1;
    }
    r->section_end = r->pos + payload;
    return 0;
}

int state_close(struct state_reader *r)
{
    bool ok = !r->failed && r->pos == r->section_end;
    r->section_end = r->len;
    if (!ok)
        r->failed = true;
    return ok ? 0 : -1;
}

uint8_t state_get_u8(struct state_reader *r) { return (uint8_t)get_le(r, 1, r->section_end); }
uint16_t state_get_u16(struct state_reader *r) { return (uint16_t)get_le(r, 2, r->section_end); }
uint32_t state_get_u32(struct state_reader *r) { return (uint32_t)get_le(r, 4, r->section_end); }
uint64_t state_get_u64(struct state_reader *r) { return get_le(r, 8, r->section_end); }
void state_get_bytes(struct state_reader *r, void *p, size_t n) { get_raw(r, p, n, r->section_end); }

const void *state_get_span(struct state_reader *r, size_t n)
{
    if (r->failed || n > r->section_end - r->pos) {
        r->failed = true;
        return NULL;
    }
    const void *p = r->buf + r->pos;
    r->pos += n;
    return p;
}

void state_get_str(struct state_reader *r, char *buf, size_t size)
{
    uint16_t n = state_get_u16(r);
    if (size == 0 || n >= size) {
        r->failed = true;
        if (size)
            buf[0] = 0;
        return;
    }
    state_get_bytes(r, buf, n);
    buf[r->failed ? 0 : n] = 0;
}
