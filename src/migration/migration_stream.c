/* The live-migration wire protocol (migration_stream.h has the format). */
#include "migration/migration_stream.h"

#include "core/mem_scan.h"
#include "util/log.h"

/* XXH3's state on the stack: kvmbox links libxxhash statically, so the
 * layout this header declares is the library's. */
#define XXH_STATIC_LINKING_ONLY
#include <xxhash.h>

#include <errno.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#define PAGES_PREFIX 16   /* PAGES' offset, count, reserved */
#define MAX_FDS 4         /* room for a peer that sends more than one */

static void put16(uint8_t *p, uint16_t v) { p[0] = (uint8_t)v; p[1] = (uint8_t)(v >> 8); }
static void put32(uint8_t *p, uint32_t v) { put16(p, (uint16_t)v); put16(p + 2, (uint16_t)(v >> 16)); }
static void put64(uint8_t *p, uint64_t v) { put32(p, (uint32_t)v); put32(p + 4, (uint32_t)(v >> 32)); }
static uint16_t get16(const uint8_t *p) { return (uint16_t)(p[0] | p[1] << 8); }
static uint32_t get32(const uint8_t *p) { return get16(p) | (uint32_t)get16(p + 2) << 16; }
static uint64_t get64(const uint8_t *p) { return get32(p) | (uint64_t)get32(p + 4) << 32; }

/* What each type may be: its name for messages, its payload's bounds and
 * the header flags it may carry. Checked before a payload is read. */
static const struct {
    const char *name;
    uint64_t min, max;
    uint16_t flags;
} rules[MSTREAM_TYPE_MAX + 1] = {
    [MSG_HELLO] = {"HELLO", 24, 24 + MSTREAM_VERSION_MAX, 0},
    [MSG_HELLO_ACK] = {"HELLO_ACK", 0, 0, 0},
    [MSG_CONFIG] = {"CONFIG", 1, MSTREAM_CONFIG_MAX, 0},
    [MSG_PAGES] = {"PAGES", PAGES_PREFIX,
                   PAGES_PREFIX + (uint64_t)MSTREAM_RUN_MAX_PAGES * MSTREAM_PAGE,
                   MSTREAM_PAGES_ZERO},
    [MSG_ITERATION_END] = {"ITERATION_END", 16, 16, 0},
    [MSG_STATE] = {"STATE", 0, MSTREAM_STATE_MAX, 0},
    [MSG_DIGEST] = {"DIGEST", 16, 16, 0},
    [MSG_DIGEST_OK] = {"DIGEST_OK", 0, 0, 0},
    [MSG_COMPLETE] = {"COMPLETE", 0, 0, 0},
    [MSG_RUNNING] = {"RUNNING", 0, 0, 0},
    [MSG_ERROR] = {"ERROR", 1, MSTREAM_TEXT_MAX, 0},
    [MSG_CANCEL] = {"CANCEL", 0, 0, 0},
    [MSG_MEMFD] = {"MEMFD", 8, 8, 0},
    [MSG_CPUID] = {"CPUID", MSTREAM_CPUID_ENTRY, MSTREAM_CPUID_ENTRY * MSTREAM_CPUID_MAX, 0},
    [MSG_ITERATION_ACK] = {"ITERATION_ACK", 16, 16, 0},
};

const char *mstream_type_name(uint16_t type)
{
    return type >= 1 && type <= MSTREAM_TYPE_MAX ? rules[type].name : "unknown";
}

bool migration_is_zero(const void *p, size_t len)
{
    const uint8_t *b = p;
    if (len < 8) {
        for (size_t i = 0; i < len; i++)
            if (b[i])
                return false;
        return true;
    }
    /* The first word zero and each byte equal to the one 8 further on:
     * all zero, with one vectorised memcmp and no zero buffer. */
    uint64_t w;
    memcpy(&w, b, 8);
    return w == 0 && memcmp(b, b + 8, len - 8) == 0;
}

int mstream_parse_header(const uint8_t *hdr, uint16_t *type, uint16_t *flags, uint64_t *total,
                         char *err, size_t errlen)
{
    uint32_t magic = get32(hdr);
    if (magic != MSTREAM_MAGIC) {
        /* A TLS record, handshake (22) or alert (21), version 3.x. */
        if ((hdr[0] == 0x16 || hdr[0] == 0x15) && hdr[1] == 0x03) {
            snprintf(err, errlen, "not a kvmbox migration stream in plaintext: the peer speaks "
                     "TLS (give this side tls_dir too)");
            return -1;
        }
        snprintf(err, errlen, "not a kvmbox migration stream (magic %08x, expected %08x \"KVMM\")",
                 magic, MSTREAM_MAGIC);
        return -1;
    }
    uint16_t t = get16(hdr + 4), f = get16(hdr + 6);
    uint64_t len = get64(hdr + 8);
    if (t < 1 || t > MSTREAM_TYPE_MAX) {
        snprintf(err, errlen, "unknown migration message type %u", t);
        return -1;
    }
    if (f & ~rules[t].flags) {
        snprintf(err, errlen, "%s message with unknown flags 0x%x", rules[t].name, f);
        return -1;
    }
    if (len < rules[t].min || len > rules[t].max) {
        snprintf(err, errlen, "%s message of %llu bytes (expected %llu to %llu)", rules[t].name,
                 (unsigned long long)len, (unsigned long long)rules[t].min,
                 (unsigned long long)rules[t].max);
        return -1;
    }
    *type = t;
    *flags = f;
    *total = MSTREAM_HEADER + len + MSTREAM_TRAILER;
    return 0;
}

/* The payload's layout, per type; p holds exactly len bytes, within the
 * type's bounds already. Shared by the receiver and by the sender's check
 * of what it is about to send. */
static int parse_payload(uint16_t type, uint16_t flags, const uint8_t *p, size_t len,
                         struct mmsg *m, char *err, size_t errlen)
{
    m->type = type;
    m->flags = flags;
    m->payload = p;
    m->len = len;
    m->fd = -1;
    switch (type) {
    case MSG_HELLO: {
        m->u.hello.protocol = get32(p);
        m->u.hello.page_size = get32(p + 4);
        m->u.hello.mem_size = get64(p + 8);
        m->u.hello.flags = get32(p + 16);
        size_t vlen = len - 24;
        if (m->u.hello.flags & ~MSTREAM_HELLO_LOCAL || get32(p + 20)) {
            snprintf(err, errlen, "HELLO with unknown flags 0x%x or a reserved field set",
                     m->u.hello.flags);
            return -1;
        }
        if (vlen == 0) {
            snprintf(err, errlen, "HELLO without a kvmbox version");
            return -1;
        }
        for (size_t i = 0; i < vlen; i++) {
            if (p[24 + i] < 0x20 || p[24 + i] > 0x7e) {
                snprintf(err, errlen, "HELLO's kvmbox version is not printable text");
                return -1;
            }
        }
        memcpy(m->u.hello.version, p + 24, vlen);
        m->u.hello.version[vlen] = '\0';
        return 0;
    }
    case MSG_PAGES: {
        m->u.pages.offset = get64(p);
        m->u.pages.npages = get32(p + 8);
        m->u.pages.zero = flags & MSTREAM_PAGES_ZERO;
        m->u.pages.data = m->u.pages.zero ? NULL : p + PAGES_PREFIX;
        if (get32(p + 12)) {
            snprintf(err, errlen, "PAGES with a reserved field set");
            return -1;
        }
        if (m->u.pages.offset % MSTREAM_PAGE || m->u.pages.npages == 0) {
            snprintf(err, errlen, "PAGES run at offset 0x%llx of %u pages (expected page-aligned, "
                     "at least one)", (unsigned long long)m->u.pages.offset, m->u.pages.npages);
            return -1;
        }
        /* npages < 2^32: the product cannot overflow 64 bits. */
        uint64_t bytes = m->u.pages.zero ? 0 : (uint64_t)m->u.pages.npages * MSTREAM_PAGE;
        if (len - PAGES_PREFIX != bytes) {
            snprintf(err, errlen, "PAGES run of %u %spages in %zu bytes of payload",
                     m->u.pages.npages, m->u.pages.zero ? "zero " : "", len);
            return -1;
        }
        return 0;
    }
    case MSG_ITERATION_END:
    case MSG_ITERATION_ACK:
        m->u.iteration_end.iteration = get32(p);
        m->u.iteration_end.pages = get64(p + 8);
        if (get32(p + 4)) {
            snprintf(err, errlen, "%s with a reserved field set", rules[type].name);
            return -1;
        }
        return 0;
    case MSG_DIGEST:
        memcpy(m->u.digest, p, 16);
        return 0;
    case MSG_ERROR:
        /* The peer's words, printed on our stderr: no control characters. */
        for (size_t i = 0; i < len; i++)
            m->u.text[i] = p[i] < 0x20 || p[i] == 0x7f ? '?' : (char)p[i];
        m->u.text[len] = '\0';
        return 0;
    case MSG_MEMFD:
        m->u.memfd_size = get64(p);
        return 0;
    case MSG_CPUID:
        if (len % MSTREAM_CPUID_ENTRY) {
            snprintf(err, errlen, "CPUID message of %zu bytes: not whole entries", len);
            return -1;
        }
        return 0;
    default:
        return 0;   /* CONFIG, STATE: opaque bytes; the rest: empty */
    }
}

int mstream_parse(const uint8_t *buf, size_t len, struct mmsg *out, size_t *used, char *err,
                  size_t errlen)
{
    uint16_t type, flags;
    uint64_t total;
    if (len < MSTREAM_HEADER) {
        snprintf(err, errlen, "truncated migration message header (%zu of %d bytes)", len,
                 MSTREAM_HEADER);
        return -1;
    }
    if (mstream_parse_header(buf, &type, &flags, &total, err, errlen) < 0)
        return -1;
    if (len < total) {
        snprintf(err, errlen, "truncated %s message (%zu of %llu bytes)", rules[type].name, len,
                 (unsigned long long)total);
        return -1;
    }
    size_t plen = (size_t)(total - MSTREAM_HEADER - MSTREAM_TRAILER);
    uint64_t want = get64(buf + MSTREAM_HEADER + plen);
    uint64_t got = XXH3_64bits(buf, MSTREAM_HEADER + plen);
    if (want != got) {
        snprintf(err, errlen, "%s message fails its checksum (XXH3 %016llx, expected %016llx): "
                 "corrupted on the way", rules[type].name, (unsigned long long)got,
                 (unsigned long long)want);
        return -1;
    }
    if (parse_payload(type, flags, buf + MSTREAM_HEADER, plen, out, err, errlen) < 0)
        return -1;
    *used = (size_t)total;
    return 0;
}

void mstream_init(struct migration_stream *s, int fd)
{
    memset(s, 0, sizeof *s);
    s->fd = fd;
    s->send_timeout_ms = 30000;
}

void mstream_destroy(struct migration_stream *s)
{
    migration_tls_end(s->tls);
    s->tls = NULL;
    if (s->fd >= 0)
        close(s->fd);
    s->fd = -1;
    free(s->rbuf);
    free(s->pbuf);
    s->rbuf = s->pbuf = NULL;
    s->rcap = 0;
}

/* Waits until fd is ready for `events`: 1, 0 on time-out, -1 on error. */
static int wait_fd(int fd, short events, int timeout_ms)
{
    struct pollfd p = {.fd = fd, .events = events};
    int r;
    while ((r = poll(&p, 1, timeout_ms)) < 0 && errno == EINTR)
        ;
    return r;
}

int mstream_start_tls(struct migration_stream *s, enum migration_tls_role role, const char *tls_dir,
                      const char *peer_host, int timeout_ms, char *err, size_t errlen)
{
    if (s->tls) {
        snprintf(err, errlen, "the migration stream is encrypted already");
        return -1;
    }
    int r = migration_tls_start(s->fd, role, tls_dir, peer_host, timeout_ms, &s->tls, err,
                                errlen);
    if (r == MIGRATION_TLS_PLAINTEXT_PEER && role == MIGRATION_TLS_RECEIVER) {
        /* A sender without tls_dir cannot read a TLS alert: it is told in
         * its own plaintext stream, and the connection is drained until it
         * hangs up (closing with its messages unread would reset the
         * connection, and the ERROR could be lost on the way). */
        char ignored[64];
        uint8_t junk[4096];
        mstream_send_error(s, ignored, sizeof ignored, "the receiver requires TLS: give the "
                           "sender tls_dir too");
        shutdown(s->fd, SHUT_WR);
        for (int i = 0; i < 512 && wait_fd(s->fd, POLLIN, 1000) > 0 &&
                        recv(s->fd, junk, sizeof junk, 0) > 0; i++)
            ;   /* at most 2 MiB, more than HELLO, CONFIG and CPUID */
    }
    return r < 0 ? -1 : 0;
}

/* The transport: the socket itself, or the TLS session on it. Neither
 * call blocks: MIGRATION_TLS_AGAIN asks the caller to poll for *events
 * (and so to apply its time-out); -1 leaves the reason in why. */

/* Sends from iov[0..n), with fd_to_pass (>= 0, plaintext only) riding
 * with the first byte: the bytes sent. */
static ssize_t xport_send(struct migration_stream *s, const struct iovec *iov, int n,
                          int fd_to_pass, short *events, char *why, size_t whylen)
{
    if (s->tls)
        return migration_tls_send(s->tls, iov, n, events, why, whylen);
    union {
        struct cmsghdr h;
        char buf[CMSG_SPACE(sizeof(int))];
    } ctl;
    struct msghdr mh = {.msg_iov = (struct iovec *)iov, .msg_iovlen = (size_t)n};
    if (fd_to_pass >= 0) {
        memset(&ctl, 0, sizeof ctl);
        mh.msg_control = ctl.buf;
        mh.msg_controllen = sizeof ctl.buf;
        struct cmsghdr *c = CMSG_FIRSTHDR(&mh);
        c->cmsg_level = SOL_SOCKET;
        c->cmsg_type = SCM_RIGHTS;
        c->cmsg_len = CMSG_LEN(sizeof(int));
        memcpy(CMSG_DATA(c), &fd_to_pass, sizeof(int));
    }
    for (;;) {
        /* MSG_NOSIGNAL: a receiver gone is an error here, not SIGPIPE. */
        ssize_t w = sendmsg(s->fd, &mh, MSG_NOSIGNAL | MSG_DONTWAIT);
        if (w >= 0)
            return w;
        if (errno == EINTR)
            continue;
        if (errno == EAGAIN) {
            *events = POLLOUT;
            return MIGRATION_TLS_AGAIN;
        }
        snprintf(why, whylen, "%s", errno == EPIPE || errno == ECONNRESET
                                        ? "connection closed by the peer" : log_strerror(errno));
        return -1;
    }
}

/* Receives up to n bytes into buf: the bytes, 0 when the peer has closed.
 * Any fd that comes along goes to *fd (the first; more, or one when *fd
 * is taken, are closed and *extra_fd set). */
static ssize_t xport_recv(struct migration_stream *s, uint8_t *buf, size_t n, int *fd,
                          bool *extra_fd, short *events, char *why, size_t whylen)
{
    if (s->tls)
        return migration_tls_recv(s->tls, buf, n, events, why, whylen);
    union {
        struct cmsghdr h;
        char buf[CMSG_SPACE(MAX_FDS * sizeof(int))];
    } ctl;
    struct iovec iov = {buf, n};
    struct msghdr mh = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = ctl.buf,
                        .msg_controllen = sizeof ctl.buf};
    ssize_t r;
    while ((r = recvmsg(s->fd, &mh, MSG_DONTWAIT | MSG_CMSG_CLOEXEC)) < 0 && errno == EINTR)
        ;
    if (r < 0 && errno == EAGAIN) {
        *events = POLLIN;
        return MIGRATION_TLS_AGAIN;
    }
    if (r < 0) {
        snprintf(why, whylen, "%s", errno == ECONNRESET ? "connection closed by the peer"
                                                        : log_strerror(errno));
        return -1;
    }
    for (struct cmsghdr *c = CMSG_FIRSTHDR(&mh); c; c = CMSG_NXTHDR(&mh, c)) {
        if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS)
            continue;
        size_t nfd = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
        for (size_t i = 0; i < nfd; i++) {
            int f;
            memcpy(&f, CMSG_DATA(c) + i * sizeof(int), sizeof f);
            if (*fd < 0) {
                *fd = f;
            } else {
                close(f);
                *extra_fd = true;
            }
        }
    }
    if (mh.msg_flags & MSG_CTRUNC)
        *extra_fd = true;
    return r;
}

/* Writes every byte of iov[0..n) (which it consumes), with fd_to_pass
 * (>= 0) riding with the first byte. */
static int send_all(struct migration_stream *s, struct iovec *iov, int n, int fd_to_pass,
                    const char *what, char *err, size_t errlen)
{
    if (fd_to_pass >= 0 && s->tls) {
        snprintf(err, errlen, "sending %s: a file descriptor cannot travel over TLS (local "
                 "migration is for a unix: socket without tls_dir)", what);
        return -1;
    }
    while (n > 0) {
        short events = 0;
        char why[256];
        ssize_t w = xport_send(s, iov, n, fd_to_pass, &events, why, sizeof why);
        if (w == MIGRATION_TLS_AGAIN) {
            int r = wait_fd(s->fd, events, s->send_timeout_ms);
            if (r > 0)
                continue;
            if (r == 0)
                snprintf(err, errlen, "sending %s: the peer took nothing for %d ms (stalled)",
                         what, s->send_timeout_ms);
            else
                snprintf(err, errlen, "sending %s: %s", what, log_strerror(errno));
            return -1;
        }
        if (w < 0) {
            snprintf(err, errlen, "sending %s: %s", what, why);
            return -1;
        }
        fd_to_pass = -1;
        s->bytes_sent += (uint64_t)w;
        size_t left = (size_t)w;
        while (n > 0 && left >= iov->iov_len) {
            left -= iov->iov_len;
            iov++;
            n--;
        }
        if (n > 0) {
            iov->iov_base = (uint8_t *)iov->iov_base + left;
            iov->iov_len -= left;
        }
    }
    return 0;
}

/* Frames and sends one message whose payload is the `nparts` parts. The
 * header is checked by the receiver's own rules first. */
static int send_msg(struct migration_stream *s, uint16_t type, uint16_t flags,
                    const struct iovec *parts, int nparts, int fd_to_pass, char *err, size_t errlen)
{
    uint64_t len = 0;
    for (int i = 0; i < nparts; i++)
        len += parts[i].iov_len;
    uint8_t hdr[MSTREAM_HEADER], trailer[MSTREAM_TRAILER];
    put32(hdr, MSTREAM_MAGIC);
    put16(hdr + 4, type);
    put16(hdr + 6, flags);
    put64(hdr + 8, len);
    uint16_t t, f;
    uint64_t total;
    if (mstream_parse_header(hdr, &t, &f, &total, err, errlen) < 0)
        return -1;
    XXH3_state_t st;
    XXH3_INITSTATE(&st);
    XXH3_64bits_reset(&st);
    XXH3_64bits_update(&st, hdr, sizeof hdr);
    struct iovec iov[4];
    int n = 0;
    iov[n++] = (struct iovec){hdr, sizeof hdr};
    for (int i = 0; i < nparts; i++) {
        if (!parts[i].iov_len)
            continue;
        XXH3_64bits_update(&st, parts[i].iov_base, parts[i].iov_len);
        iov[n++] = parts[i];
    }
    put64(trailer, XXH3_64bits_digest(&st));
    iov[n++] = (struct iovec){trailer, sizeof trailer};
    return send_all(s, iov, n, fd_to_pass, rules[type].name, err, errlen);
}

int mstream_send(struct migration_stream *s, uint16_t type, const void *payload, size_t len,
                 char *err, size_t errlen)
{
    uint8_t hdr[MSTREAM_HEADER];
    put32(hdr, MSTREAM_MAGIC);
    put16(hdr + 4, type);
    put16(hdr + 6, 0);
    put64(hdr + 8, len);
    uint16_t t, f;
    uint64_t total;
    struct mmsg m;
    if (mstream_parse_header(hdr, &t, &f, &total, err, errlen) < 0 ||
        parse_payload(type, 0, payload, len, &m, err, errlen) < 0)
        return -1;
    struct iovec part = {(void *)payload, len};
    return send_msg(s, type, 0, &part, 1, -1, err, errlen);
}

int mstream_send_hello(struct migration_stream *s, uint64_t mem_size, uint32_t flags, char *err,
                       size_t errlen)
{
    static const char version[] = KVMBOX_VERSION;
    _Static_assert(sizeof version - 1 <= MSTREAM_VERSION_MAX, "version string too long");
    uint8_t p[24 + sizeof version - 1];
    put32(p, MSTREAM_PROTOCOL_VERSION);
    put32(p + 4, (uint32_t)sysconf(_SC_PAGESIZE));
    put64(p + 8, mem_size);
    put32(p + 16, flags);
    put32(p + 20, 0);
    memcpy(p + 24, version, sizeof version - 1);
    return mstream_send(s, MSG_HELLO, p, sizeof p, err, errlen);
}

int mstream_send_iteration(struct migration_stream *s, uint16_t type, uint32_t iteration,
                           uint64_t pages, char *err, size_t errlen)
{
    uint8_t p[16];
    put32(p, iteration);
    put32(p + 4, 0);
    put64(p + 8, pages);
    return mstream_send(s, type, p, sizeof p, err, errlen);
}

int mstream_send_error(struct migration_stream *s, char *err, size_t errlen, const char *fmt, ...)
{
    char text[MSTREAM_TEXT_MAX + 1];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(text, sizeof text, fmt, ap);
    va_end(ap);
    size_t len = n < 0 ? 0 : (size_t)n < sizeof text ? (size_t)n : sizeof text - 1;
    if (len == 0) {
        memcpy(text, "error", 6);
        len = 5;
    }
    return mstream_send(s, MSG_ERROR, text, len, err, errlen);
}

int mstream_send_fd(struct migration_stream *s, int fd, uint64_t size, char *err, size_t errlen)
{
    uint8_t p[8];
    put64(p, size);
    struct iovec part = {p, sizeof p};
    return send_msg(s, MSG_MEMFD, 0, &part, 1, fd, err, errlen);
}

/* One PAGES message: a zero run (no bytes), or npages copied into pbuf. */
static int send_run(struct migration_stream *s, uint64_t offset, uint32_t npages, bool zero,
                    char *err, size_t errlen)
{
    uint8_t prefix[PAGES_PREFIX];
    put64(prefix, offset);
    put32(prefix + 8, npages);
    put32(prefix + 12, 0);
    struct iovec parts[2] = {{prefix, sizeof prefix},
                             {s->pbuf, zero ? 0 : (size_t)npages * MSTREAM_PAGE}};
    if (send_msg(s, MSG_PAGES, zero ? MSTREAM_PAGES_ZERO : 0, parts, 2, -1, err, errlen) < 0)
        return -1;
    if (zero)
        s->zero_pages_sent += npages;
    else
        s->pages_sent += npages;
    return 0;
}

int mstream_send_pages(struct migration_stream *s, const struct guest_mem *mem,
                       struct mem_scan *untouched, uint64_t offset, uint32_t npages, char *err,
                       size_t errlen)
{
    if (offset % MSTREAM_PAGE || offset > mem->ram_size ||
        npages > (mem->ram_size - offset) / MSTREAM_PAGE) {
        snprintf(err, errlen, "pages at offset 0x%llx, %u of them, are not all guest memory "
                 "(0x%llx bytes)", (unsigned long long)offset, npages,
                 (unsigned long long)mem->ram_size);
        return -1;
    }
    if (!s->pbuf && !(s->pbuf = malloc((size_t)MSTREAM_RUN_MAX_PAGES * MSTREAM_PAGE))) {
        snprintf(err, errlen, "out of memory for a page run");
        return -1;
    }
    /* Each page is copied, then looked at in the copy: one read of guest
     * memory, and the bytes hashed are the bytes sent. A zero page is left
     * out of the copy and joins a zero run; so does a page never touched,
     * unread (a fault each, for nothing). */
    uint32_t data = 0, zeros = 0;
    uint64_t data_at = 0, zeros_at = 0;
    for (uint32_t i = 0; i < npages; i++) {
        uint64_t at = offset + (uint64_t)i * MSTREAM_PAGE;
        uint8_t *slot = s->pbuf + (size_t)data * MSTREAM_PAGE;
        bool zero = untouched && !mem_scan_page_may_hold_data(untouched, at);
        if (!zero) {
            memcpy(slot, mem->host + at, MSTREAM_PAGE);
            zero = migration_is_zero(slot, MSTREAM_PAGE);
        }
        if (zero) {
            if (data && send_run(s, data_at, data, false, err, errlen) < 0)
                return -1;
            data = 0;
            if (!zeros++)
                zeros_at = at;
            continue;
        }
        if (zeros && send_run(s, zeros_at, zeros, true, err, errlen) < 0)
            return -1;
        zeros = 0;
        if (!data) {
            data_at = at;
            if (slot != s->pbuf)
                memcpy(s->pbuf, slot, MSTREAM_PAGE);
        }
        if (++data == MSTREAM_RUN_MAX_PAGES) {
            if (send_run(s, data_at, data, false, err, errlen) < 0)
                return -1;
            data = 0;
        }
    }
    if (data && send_run(s, data_at, data, false, err, errlen) < 0)
        return -1;
    if (zeros && send_run(s, zeros_at, zeros, true, err, errlen) < 0)
        return -1;
    return 0;
}

/* Reads exactly n bytes into buf; fds as xport_recv. `got` is how much of
 * the message came before buf. */
static int recv_all(struct migration_stream *s, uint8_t *buf, size_t n, int timeout_ms, int *fd,
                    bool *extra_fd, const char *what, size_t got, uint64_t total, char *err,
                    size_t errlen)
{
    size_t done = 0;
    while (done < n) {
        short events = 0;
        char why[256];
        ssize_t r = xport_recv(s, buf + done, n - done, fd, extra_fd, &events, why, sizeof why);
        if (r == MIGRATION_TLS_AGAIN) {
            int w = wait_fd(s->fd, events, timeout_ms);
            if (w > 0)
                continue;
            if (w == 0)
                snprintf(err, errlen, "receiving %s: nothing from the peer for %d ms (stalled)",
                         what, timeout_ms);
            else
                snprintf(err, errlen, "receiving %s: %s", what, log_strerror(errno));
            return -1;
        }
        if (r < 0) {
            snprintf(err, errlen, "receiving %s: %s", what, why);
            return -1;
        }
        if (r == 0) {
            if (got + done == 0)
                snprintf(err, errlen, "connection closed by the peer");
            else
                snprintf(err, errlen, "connection closed by the peer in the middle of %s "
                         "(%zu of %llu bytes)", what, got + done, (unsigned long long)total);
            return -1;
        }
        done += (size_t)r;
        s->bytes_received += (uint64_t)r;
    }
    return 0;
}

int mstream_recv(struct migration_stream *s, int timeout_ms, struct mmsg *out, char *err,
                 size_t errlen)
{
    uint8_t hdr[MSTREAM_HEADER];
    int fd = -1;
    bool extra_fd = false;
    uint16_t type, flags;
    uint64_t total = MSTREAM_HEADER;
    char what[40] = "a message header";
    int r = -1;
    if (recv_all(s, hdr, sizeof hdr, timeout_ms, &fd, &extra_fd, what, 0, total, err, errlen) < 0 ||
        mstream_parse_header(hdr, &type, &flags, &total, err, errlen) < 0)
        goto out;
    snprintf(what, sizeof what, "a %s message", rules[type].name);
    if (total > s->rcap) {
        /* Bounded by the type's limit, checked above. */
        uint8_t *nb = realloc(s->rbuf, (size_t)total);
        if (!nb) {
            snprintf(err, errlen, "out of memory for %s of %llu bytes", what,
                     (unsigned long long)total);
            goto out;
        }
        s->rbuf = nb;
        s->rcap = (size_t)total;
    }
    memcpy(s->rbuf, hdr, sizeof hdr);
    size_t used;
    if (recv_all(s, s->rbuf + MSTREAM_HEADER, (size_t)total - MSTREAM_HEADER, timeout_ms, &fd,
                 &extra_fd, what, MSTREAM_HEADER, total, err, errlen) < 0 ||
        mstream_parse(s->rbuf, (size_t)total, out, &used, err, errlen) < 0)
        goto out;
    if (extra_fd || (fd >= 0) != (type == MSG_MEMFD)) {
        snprintf(err, errlen, "%s %s", what,
                 type == MSG_MEMFD && fd < 0 ? "without its file descriptor"
                                             : "with unexpected file descriptors");
        goto out;
    }
    out->fd = fd;
    fd = -1;
    r = 0;
out:
    if (fd >= 0)
        close(fd);
    return r;
}

int mstream_recv_fd(struct migration_stream *s, int timeout_ms, int *fd, uint64_t *size,
                    char *err, size_t errlen)
{
    struct mmsg m;
    if (mstream_recv(s, timeout_ms, &m, err, errlen) < 0)
        return -1;
    if (m.type != MSG_MEMFD) {
        snprintf(err, errlen, "expected MEMFD, got %s", mstream_type_name(m.type));
        return -1;
    }
    *fd = m.fd;
    *size = m.u.memfd_size;
    return 0;
}

int mstream_apply_pages(const struct mmsg *m, struct guest_mem *mem, struct mem_scan *untouched,
                        char *err, size_t errlen)
{
    if (m->type != MSG_PAGES) {
        snprintf(err, errlen, "expected PAGES, got %s", mstream_type_name(m->type));
        return -1;
    }
    uint64_t off = m->u.pages.offset, n = m->u.pages.npages;
    /* Never off + n * PAGE: it may wrap. */
    if (off > mem->ram_size || n > (mem->ram_size - off) / MSTREAM_PAGE) {
        snprintf(err, errlen, "PAGES run at offset 0x%llx, %llu pages, lies outside guest memory "
                 "(0x%llx bytes)", (unsigned long long)off, (unsigned long long)n,
                 (unsigned long long)mem->ram_size);
        return -1;
    }
    uint8_t *dst = mem->host + off;
    if (!m->u.pages.zero) {
        memcpy(dst, m->u.pages.data, n * MSTREAM_PAGE);
        return 1;
    }
    /* Fresh RAM is zero already: writing zeros there would only make the
     * host allocate it, and even reading it costs a fault. Only pages that
     * hold something are cleared. */
    int changed = 0;
    for (uint64_t i = 0; i < n; i++, dst += MSTREAM_PAGE)
        if ((!untouched || mem_scan_page_may_hold_data(untouched, off + i * MSTREAM_PAGE)) &&
            !migration_is_zero(dst, MSTREAM_PAGE)) {
            memset(dst, 0, MSTREAM_PAGE);
            changed = 1;
        }
    return changed;
}

