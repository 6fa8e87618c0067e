/* The live-migration wire protocol: framed, checksummed messages on a
 * stream socket, below the VMM (no KVM, no devices: guest RAM is one
 * mapping, the VM's state an opaque byte stream).
 *
 * Every message, all integers little-endian:
 *   header   magic u32 "KVMM" (bytes 4b 56 4d 4d), type u16, flags u16,
 *            payload length u64                               16 bytes
 *   payload  `length` bytes, laid out per type (MSG_* below)
 *   trailer  XXH3-64 (seed 0) of header and payload           8 bytes
 * The header's form is the same in every protocol version; HELLO's first
 * field says which version the rest is. The stream is untrusted: the type,
 * flags and length are checked against the type's bounds before a byte of
 * the payload is read or any memory is set aside for it, and the payload
 * is parsed only after its checksum holds. */
#ifndef KVMBOX_MIGRATION_MIGRATION_STREAM_H
#define KVMBOX_MIGRATION_MIGRATION_STREAM_H

#include "core/guest_mem.h"
#include "migration/migration_tls.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define MSTREAM_MAGIC 0x4d4d564bu            /* "KVMM" as bytes on the wire */
#define MSTREAM_PROTOCOL_VERSION 2
#define MSTREAM_HEADER 16
#define MSTREAM_TRAILER 8
/* The protocol's page: PAGES runs are of these, whatever the host's. */
#define MSTREAM_PAGE 4096u
/* The most pages one PAGES message carries the bytes of (4 MiB): big
 * enough to keep the socket busy, small enough to buffer. A zero run has
 * no bytes and may cover up to 2^32-1 pages. */
#define MSTREAM_RUN_MAX_PAGES 1024u
#define MSTREAM_STATE_MAX (64ULL << 20)
#define MSTREAM_CONFIG_MAX (1ULL << 20)
#define MSTREAM_TEXT_MAX 1024u               /* ERROR's message */
#define MSTREAM_VERSION_MAX 64u              /* HELLO's kvmbox version string */

/* Message types. The payload of each (offsets in bytes; "reserved" fields
 * are zero, anything else is refused):
 *   HELLO          0 u32 protocol version, 4 u32 sender's host page size,
 *                  8 u64 guest memory size (the mapping's bytes),
 *                  16 u32 flags (MSTREAM_HELLO_LOCAL), 20 u32 reserved,
 *                  24 kvmbox version string, 1..64 printable bytes, no NUL
 *   HELLO_ACK      empty: the receiver takes the migration
 *   CONFIG         the VmConfig JSON text, 1 byte .. 1 MiB
 *   PAGES          0 u64 offset in the mapping (a multiple of 4096),
 *                  8 u32 page count (>= 1), 12 u32 reserved, then count *
 *                  4096 bytes (count <= 1024) -- or nothing at all with
 *                  header flag MSTREAM_PAGES_ZERO: all those pages are zero
 *   ITERATION_END  0 u32 iteration, 4 u32 reserved, 8 u64 pages sent in it
 *   STATE          the state stream (core/state.h), 0 .. 64 MiB
 *   DIGEST         16 bytes: the digest of the sender's RAM (mem_digest.h)
 *   DIGEST_OK      empty: the receiver's digest is the same
 *   COMPLETE       empty: the sender has stopped the VM; run it
 *   RUNNING        empty: the VM runs on the receiver
 *   ERROR          a one-line message, 1 .. 1024 bytes, the peer gives up
 *   CANCEL         empty: the sender gives up; the receiver discards all
 *   MEMFD          0 u64 size of the file; an fd rides with the header
 *                  (SCM_RIGHTS, unix: sockets only): guest memory handed
 *                  over instead of copied (HELLO with MSTREAM_HELLO_LOCAL)
 *   CPUID          the guest's CPUID (vCPU 0's), entries of 40 bytes: the
 *                  receiver refuses, before any memory moves, a guest
 *                  with features its host cannot offer
 *   ITERATION_ACK  as ITERATION_END, from the receiver: everything up to
 *                  that ITERATION_END is applied (the sender's rate is
 *                  what reached the destination, not the socket buffers)
 * Header flags are zero for every type but PAGES. */
enum mstream_type {
    MSG_HELLO = 1,
    MSG_HELLO_ACK = 2,
    MSG_CONFIG = 3,
    MSG_PAGES = 4,
    MSG_ITERATION_END = 5,
    MSG_STATE = 6,
    MSG_DIGEST = 7,
    MSG_DIGEST_OK = 8,
    MSG_COMPLETE = 9,
    MSG_RUNNING = 10,
    MSG_ERROR = 11,
    MSG_CANCEL = 12,
    MSG_MEMFD = 13,
    MSG_CPUID = 14,
    MSG_ITERATION_ACK = 15,
};
#define MSTREAM_TYPE_MAX MSG_ITERATION_ACK
/* CPUID: the guest's table as KVM's struct kvm_cpuid_entry2 (40 bytes
 * each, x86-64 ABI), 1 to 256 entries. */
#define MSTREAM_CPUID_ENTRY 40u
#define MSTREAM_CPUID_MAX 256u

#define MSTREAM_PAGES_ZERO 0x1u     /* PAGES header flag: a run of zero pages */
#define MSTREAM_HELLO_LOCAL 0x1u    /* HELLO flag: guest memory comes as a MEMFD */

/* A parsed message. Pointers point into the buffer it was parsed from
 * (for mstream_recv: the stream's, valid until its next mstream_recv). */
struct mmsg {
    uint16_t type;
    uint16_t flags;
    const uint8_t *payload;
    size_t len;
    int fd;             /* MEMFD: the received fd (the caller's to close); else -1 */
    union {
        struct {
            uint32_t protocol, page_size, flags;
            uint64_t mem_size;
            char version[MSTREAM_VERSION_MAX + 1];
        } hello;
        struct {
            uint64_t offset;
            uint32_t npages;
            bool zero;
            const uint8_t *data;   /* npages * 4096 bytes; NULL for a zero run */
        } pages;
        struct {
            uint32_t iteration;
            uint64_t pages;
        } iteration_end;
        uint8_t digest[16];
        /* ERROR's message, NUL-terminated, control characters shown as '?'
         * (it is the peer's text and will be printed). */
        char text[MSTREAM_TEXT_MAX + 1];
        uint64_t memfd_size;
    } u;
    /* CONFIG and STATE: the payload (not NUL-terminated). */
};

/* One end of a migration connection: messages go over the socket as
 * they are, or, after mstream_start_tls, inside a TLS session on it
 * (migration_tls.h); the messages are the same either way. One thread may
 * send while another receives (the counters of each direction are written
 * by that side only); neither direction may be used from two threads at
 * once. Another thread stops a blocked send or receive with
 * shutdown(s->fd, SHUT_RDWR). The struct may be copied to hand it over
 * (nothing points into it). */
struct migration_stream {
    int fd;
    struct migration_tls *tls;   /* NULL: plaintext */
    /* A send that makes no progress for this long fails (a receiver that
     * stopped reading); < 0 waits for ever. mstream_init: 30 s. */
    int send_timeout_ms;
    _Atomic uint64_t bytes_sent, bytes_received;     /* whole messages, framing included */
    _Atomic uint64_t pages_sent, zero_pages_sent;    /* by mstream_send_pages */
    /* The receive buffer (a whole message: header, payload, trailer). */
    uint8_t *rbuf;
    size_t rcap;
    /* mstream_send_pages's copy of a run, taken once so that the bytes
     * hashed are the bytes sent while the guest keeps writing. */
    uint8_t *pbuf;
};

/* Every function below returns 0, or -1 with one line in err. */

/* The stream takes fd; mstream_destroy closes it. Plaintext. */
void mstream_init(struct migration_stream *s, int fd);
void mstream_destroy(struct migration_stream *s);

/* Encrypts and authenticates the stream from here on (tls_dir): the TLS
 * handshake on s->fd (blocking or not), each side checking the other's
 * certificate against tls_dir's CA (migration_tls.h has the files), all
 * within timeout_ms (< 0: no limit). The sender is the TLS client, the
 * receiver the server; peer_host is the sender's name for the receiver
 * (tcp:HOST:PORT's HOST, which its certificate must carry; NULL for
 * unix:). Before the first message; -1 with the reason (the stream stays
 * usable only for mstream_destroy). No fd passing over TLS. */
int mstream_start_tls(struct migration_stream *s, enum migration_tls_role role, const char *tls_dir,
                      const char *peer_host, int timeout_ms, char *err, size_t errlen);

/* Sends one message (header flags zero: PAGES go by mstream_send_pages);
 * the payload must fit its type's layout and bounds, checked by the
 * receiver's own parser: a sender never puts out what a receiver would
 * refuse. */
int mstream_send(struct migration_stream *s, uint16_t type, const void *payload, size_t len,
                 char *err, size_t errlen);
/* Builds and sends HELLO / ERROR (a printf-like message,
 * cut at MSTREAM_TEXT_MAX). */
int mstream_send_hello(struct migration_stream *s, uint64_t mem_size, uint32_t flags, char *err,
                       size_t errlen);
/* ITERATION_END (sender) or ITERATION_ACK (receiver). */
int mstream_send_iteration(struct migration_stream *s, uint16_t type, uint32_t iteration,
                           uint64_t pages, char *err, size_t errlen);
int mstream_send_error(struct migration_stream *s, char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
/* Sends pages [offset, offset + npages * 4096) of mem's mapping as PAGES
 * messages: maximal runs of zero pages as the flag only, the others in
 * runs of at most MSTREAM_RUN_MAX_PAGES. offset must be page-aligned and
 * the range inside ram_size. Each page is read once (copied, then hashed
 * and sent from the copy), so a guest writing meanwhile cannot make the
 * checksum lie; the dirty log catches that write for a later pass.
 * untouched (may be NULL): pages it knows were never touched go as zero,
 * unread. */
struct mem_scan;
int mstream_send_pages(struct migration_stream *s, const struct guest_mem *mem,
                       struct mem_scan *untouched, uint64_t offset, uint32_t npages, char *err,
                       size_t errlen);
/* Sends a MEMFD message with fd attached (unix: sockets without TLS). */
int mstream_send_fd(struct migration_stream *s, int fd, uint64_t size, char *err, size_t errlen);

/* Receives the next message: header checked, payload read into s's buffer,
 * checksum verified, payload parsed. timeout_ms bounds each wait for more
 * bytes (< 0: for ever): a stalled peer is an error, not a hang. A
 * connection closed between two messages says so ("closed by the peer"),
 * one closed inside a message names the message. Any fd that comes with a
 * message other than MEMFD is closed and the message refused. */
int mstream_recv(struct migration_stream *s, int timeout_ms, struct mmsg *out, char *err,
                 size_t errlen);
/* mstream_recv, expecting a MEMFD: *fd (the caller's) and its size. */
int mstream_recv_fd(struct migration_stream *s, int timeout_ms, int *fd, uint64_t *size,
                    char *err, size_t errlen);

/* The pure part of mstream_recv, for a whole message in buf (header,
 * payload, trailer): every check, the checksum included. On success
 * *used is the message's size (buf may hold more after it). */
int mstream_parse(const uint8_t *buf, size_t len, struct mmsg *out, size_t *used, char *err,
                  size_t errlen);
/* The header alone: magic, type, flags and length within the type's
 * bounds; *total is the whole message's size. */
int mstream_parse_header(const uint8_t *hdr, uint16_t *type, uint16_t *flags, uint64_t *total,
                         char *err, size_t errlen);
const char *mstream_type_name(uint16_t type);

/* For PAGES: writes the run at mem->host + offset (a zero run zeroes it),
 * after checking it lies inside ram_size (overflow-safe). untouched (may
 * be NULL): pages it knows were never touched are zero already. Returns
 * 1 when memory changed, 0 when it held those bytes already (a zero run
 * over zero pages), -1 with the reason. */
int mstream_apply_pages(const struct mmsg *m, struct guest_mem *mem, struct mem_scan *untouched,
                        char *err, size_t errlen);

/* Whether len bytes at p are all zero. */
bool migration_is_zero(const void *p, size_t len);

#endif
