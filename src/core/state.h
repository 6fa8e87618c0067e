/* The VM state model: devices and vCPUs write their state as named,
 * versioned sections of little-endian fields, and read it back. Snapshot and
 * live migration stream these sections; nothing else knows their layout. */
#ifndef KVMBOX_CORE_STATE_H
#define KVMBOX_CORE_STATE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct state_writer {
    uint8_t *buf;
    size_t len, cap;
    size_t section_len_at;  /* where the open section's length field is */
    bool open;
    bool failed;            /* out of memory, or misuse: the stream is void */
};

void state_writer_init(struct state_writer *w);
void state_writer_free(struct state_writer *w);
void state_begin(struct state_writer *w, const char *name, uint32_t version);
void state_end(struct state_writer *w);
void state_put_u8(struct state_writer *w, uint8_t v);
void state_put_u16(struct state_writer *w, uint16_t v);
void state_put_u32(struct state_writer *w, uint32_t v);
void state_put_u64(struct state_writer *w, uint64_t v);
void state_put_bytes(struct state_writer *w, const void *p, size_t n);
/* A string as a u16 length and its bytes (no NUL); at most 65535. */
void state_put_str(struct state_writer *w, const char *s);

struct state_reader {
    const uint8_t *buf;
    size_t len, pos;
    size_t section_end;
    bool failed;            /* truncated or mismatched input */
};

void state_reader_init(struct state_reader *r, const void *buf, size_t len);
/* Opens the next section, which must be called name; stores its version.
 * Returns 0, or -1 (and marks the reader failed). */
int state_open(struct state_reader *r, const char *name, uint32_t *version);
/* Closes the section: -1 if anything inside it failed or was left unread. */
int state_close(struct state_reader *r);
uint8_t state_get_u8(struct state_reader *r);
uint16_t state_get_u16(struct state_reader *r);
uint32_t state_get_u32(struct state_reader *r);
uint64_t state_get_u64(struct state_reader *r);
void state_get_bytes(struct state_reader *r, void *p, size_t n);
/* The next n bytes of the open section, in place (valid while the
 * stream's buffer is), or NULL (the reader failed) if fewer are left. */
const void *state_get_span(struct state_reader *r, size_t n);
/* Reads a state_put_str string into buf (NUL-terminated); one that does
 * not fit fails the reader. */
void state_get_str(struct state_reader *r, char *buf, size_t size);

#endif
