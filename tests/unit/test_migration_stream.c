/* The migration wire protocol: every message round trip on a socketpair,
 * page runs (zero and not) applied into a second guest memory, the
 * memory digest, and every way a stream can be wrong (bounds, checksum,
 * magic, truncation, a stalled peer, stray fds), URLs and their sockets. */
#include "core/mem_scan.h"
#include "migration/mem_digest.h"
#include "migration/migration_stream.h"
#include "migration/migration_url.h"

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <xxhash.h>

#define PAGE 4096ULL
#define MIB (1ULL << 20)
#define T_MS 5000    /* a generous time-out: a slow CI host is not a stalled peer */

struct pair {
    struct migration_stream a, b;  /* a sends, b receives (either may do both) */
};

static void pair_open(struct pair *p)
{
    int sv[2];
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
    mstream_init(&p->a, sv[0]);
    mstream_init(&p->b, sv[1]);
}

static void pair_close(struct pair *p)
{
    mstream_destroy(&p->a);
    mstream_destroy(&p->b);
}

static void expect_err(int r, const char *err, const char *part)
{
    assert_int_equal(r, -1);
    if (!strstr(err, part))
        fail_msg("error \"%s\" does not say \"%s\"", err, part);
}

/* Small messages fit the socket buffer: send, then receive, one thread. */
static void round_trip_every_type(void **state)
{
    (void)state;
    struct pair p;
    pair_open(&p);
    char err[256];
    struct mmsg m;
    uint8_t digest[16];
    for (int i = 0; i < 16; i++)
        digest[i] = (uint8_t)(i * 17);
    static const char config[] = "{\"cpus\":{\"boot_vcpus\":2}}";
    static const char st[] = "opaque state";

    assert_int_equal(mstream_send_hello(&p.a, 16 * MIB, MSTREAM_HELLO_LOCAL, err, sizeof err), 0);
    assert_int_equal(mstream_send(&p.a, MSG_HELLO_ACK, NULL, 0, err, sizeof err), 0);
    assert_int_equal(mstream_send(&p.a, MSG_CONFIG, config, strlen(config), err, sizeof err), 0);
    assert_int_equal(mstream_send_iteration(&p.a, MSG_ITERATION_END, 3, 12345, err, sizeof err), 0);
    assert_int_equal(mstream_send(&p.a, MSG_STATE, st, strlen(st), err, sizeof err), 0);
    assert_int_equal(mstream_send(&p.a, MSG_DIGEST, digest, 16, err, sizeof err), 0);
    assert_int_equal(mstream_send(&p.a, MSG_DIGEST_OK, NULL, 0, err, sizeof err), 0);
    assert_int_equal(mstream_send(&p.a, MSG_COMPLETE, NULL, 0, err, sizeof err), 0);
    assert_int_equal(mstream_send(&p.a, MSG_RUNNING, NULL, 0, err, sizeof err), 0);
    assert_int_equal(mstream_send_error(&p.a, err, sizeof err, "out of %s\n", "memory"), 0);
    assert_int_equal(mstream_send(&p.a, MSG_CANCEL, NULL, 0, err, sizeof err), 0);

    assert_int_equal(mstream_recv(&p.b, T_MS, &m, err, sizeof err), 0);
    assert_int_equal(m.type, MSG_HELLO);
    assert_int_equal(m.u.hello.protocol, MSTREAM_PROTOCOL_VERSION);
    assert_int_equal(m.u.hello.page_size, (uint32_t)sysconf(_SC_PAGESIZE));
    assert_int_equal(m.u.hello.mem_size, 16 * MIB);
    assert_int_equal(m.u.hello.flags, MSTREAM_HELLO_LOCAL);
    assert_string_equal(m.u.hello.version, KVMBOX_VERSION);
    assert_int_equal(m.fd, -1);
    assert_int_equal(mstream_recv(&p.b, T_MS, &m, err, sizeof err), 0);
    assert_int_equal(m.type, MSG_HELLO_ACK);
    assert_int_equal(m.len, 0);
    assert_int_equal(mstream_recv(&p.b, T_MS, &m, err, sizeof err), 0);
    assert_int_equal(m.type, MSG_CONFIG);
    assert_int_equal(m.len, strlen(config));
    assert_memory_equal(m.payload, config, m.len);
    assert_int_equal(mstream_recv(&p.b, T_MS, &m, err, sizeof err), 0);
    assert_int_equal(m.type, MSG_ITERATION_END);
    assert_int_equal(m.u.iteration_end.iteration, 3);
    assert_int_equal(m.u.iteration_end.pages, 12345);
    assert_int_equal(mstream_recv(&p.b, T_MS, &m, err, sizeof err), 0);
    assert_int_equal(m.type, MSG_STATE);
    assert_int_equal(m.len, strlen(st));
    assert_memory_equal(m.payload, st, m.len);
    assert_int_equal(mstream_recv(&p.b, T_MS, &m, err, sizeof err), 0);
    assert_int_equal(m.type, MSG_DIGEST);
    assert_memory_equal(m.u.digest, digest, 16);
    static const uint16_t empty[] = {MSG_DIGEST_OK, MSG_COMPLETE, MSG_RUNNING};
    for (size_t i = 0; i < sizeof empty / sizeof empty[0]; i++) {
        assert_int_equal(mstream_recv(&p.b, T_MS, &m, err, sizeof err), 0);
        assert_int_equal(m.type, empty[i]);
    }
    assert_int_equal(mstream_recv(&p.b, T_MS, &m, err, sizeof err), 0);
    assert_int_equal(m.type, MSG_ERROR);
    assert_string_equal(m.u.text, "out of memory?");   /* the newline is not passed on */
    assert_int_equal(mstream_recv(&p.b, T_MS, &m, err, sizeof err), 0);
    assert_int_equal(m.type, MSG_CANCEL);
    assert_int_equal(p.a.bytes_sent, p.b.bytes_received);

    /* Then the sender hangs up: said as such, at a message boundary. */
    close(p.a.fd);
    p.a.fd = -1;
    expect_err(mstream_recv(&p.b, T_MS, &m, err, sizeof err), err, "connection closed by the peer");
    pair_close(&p);
}

/* The sender refuses what the receiver would. */
static void sender_checks_payloads(void **state)
{
    (void)state;
    struct pair p;
    pair_open(&p);
    char err[256];
    expect_err(mstream_send(&p.a, MSG_ERROR, NULL, 0, err, sizeof err), err, "ERROR message of 0");
    expect_err(mstream_send(&p.a, MSG_DIGEST, "short", 5, err, sizeof err), err, "DIGEST");
    expect_err(mstream_send(&p.a, 99, NULL, 0, err, sizeof err), err, "unknown migration message");
    uint8_t hello[30] = {1};
    hello[24] = '\n';
    expect_err(mstream_send(&p.a, MSG_HELLO, hello, sizeof hello, err, sizeof err), err,
               "not printable");
    uint8_t pages[16 + 4096] = {0};
    pages[8] = 2;   /* two pages announced, one carried */
    expect_err(mstream_send(&p.a, MSG_PAGES, pages, sizeof pages, err, sizeof err), err,
               "PAGES run of 2 pages");
    assert_int_equal(p.a.bytes_sent, 0);
    pair_close(&p);
}

/* A known, page-distinct pattern; some pages zero. */
static uint8_t pattern(uint64_t off)
{
    return (uint8_t)((off >> 12) * 7 + (off & 0xff) + 1);
}

static void fill(const struct guest_mem *m, uint64_t off, uint64_t len)
{
    for (uint64_t i = off; i < off + len; i++)
        m->host[i] = pattern(i);
}

struct sender {
    struct migration_stream *s;
    const struct guest_mem *mem;
    struct mem_scan *untouched;      /* may be NULL */
    uint64_t offset;
    uint32_t npages;
    int r;
    char err[256];
};

static void *send_thread(void *arg)
{
    struct sender *t = arg;
    t->r = mstream_send_pages(t->s, t->mem, t->untouched, t->offset, t->npages, t->err, sizeof t->err);
    if (t->r == 0)
        t->r = mstream_send_iteration(t->s, MSG_ITERATION_END, 1, 0, t->err, sizeof t->err);
    return NULL;
}

/* Receives and applies PAGES until ITERATION_END; returns the number of
 * PAGES messages, and the zero ones in *zero_msgs. */
static unsigned receive_into(struct migration_stream *s, struct guest_mem *mem,
                             unsigned *zero_msgs)
{
    char err[256];
    struct mmsg m;
    unsigned n = 0;
    *zero_msgs = 0;
    for (;;) {
        if (mstream_recv(s, T_MS, &m, err, sizeof err) < 0)
            fail_msg("recv: %s", err);
        if (m.type == MSG_ITERATION_END)
            return n;
        assert_int_equal(m.type, MSG_PAGES);
        assert_true(m.u.pages.zero || m.u.pages.npages <= MSTREAM_RUN_MAX_PAGES);
        if (mstream_apply_pages(&m, mem, NULL, err, sizeof err) < 0)
            fail_msg("apply: %s", err);
        n++;
        *zero_msgs += m.u.pages.zero;
    }
}

static void pages_copy_and_digest(void **state)
{
    (void)state;
    char err[256];
    struct guest_mem src, dst;
    assert_int_equal(guest_mem_init(&src, 16 * MIB, err, sizeof err), 0);
    assert_int_equal(guest_mem_init(&dst, 16 * MIB, err, sizeof err), 0);
    /* Data at 0..5 MiB (more than one run's worth), a zero gap, one page at
     * 8 MiB, zero to the end. The destination holds stale bytes in a page
     * the source has zero: the zero run must clear it. */
    fill(&src, 0, 5 * MIB);
    fill(&src, 8 * MIB, PAGE);
    memset(dst.host + 12 * MIB, 0xaa, PAGE);

    uint8_t d1[16], d2[16];
    assert_int_equal(mem_digest_all(&src, d1), 0);
    assert_int_equal(mem_digest_all(&dst, d2), 0);
    assert_memory_not_equal(d1, d2, 16);

    struct pair p;
    pair_open(&p);
    /* Untouched source pages go as zero unread; the result is the same. */
    struct mem_scan scan;
    mem_scan_open(&scan, &src);
    struct sender t = {.s = &p.a, .mem = &src, .untouched = &scan, .offset = 0,
                       .npages = 16 * MIB / PAGE};
    pthread_t th;
    assert_int_equal(pthread_create(&th, NULL, send_thread, &t), 0);
    unsigned zero_msgs, msgs = receive_into(&p.b, &dst, &zero_msgs);
    pthread_join(th, NULL);
    if (t.r)
        fail_msg("send: %s", t.err);
    /* 5 MiB of data: a full 4 MiB run and a 1 MiB one; zero 5..8 MiB;
     * the page at 8 MiB; zero to the end. */
    assert_int_equal(msgs, 5);
    assert_int_equal(zero_msgs, 2);
    assert_int_equal(p.a.pages_sent, 5 * MIB / PAGE + 1);
    assert_int_equal(p.a.zero_pages_sent, 16 * MIB / PAGE - (5 * MIB / PAGE + 1));
    assert_memory_equal(src.host, dst.host, 16 * MIB);
    mem_digest_all(&dst, d2);
    assert_memory_equal(d1, d2, 16);

    /* The documented form: XXH3-128 over each chunk's XXH3-128. */
    uint64_t n = 16 * MIB / MEM_DIGEST_CHUNK;
    uint8_t (*chunks)[16] = calloc(n, 16);
    for (uint64_t i = 0; i < n; i++) {
        XXH128_canonical_t c;
        XXH128_canonicalFromHash(&c, XXH3_128bits(dst.host + i * MEM_DIGEST_CHUNK,
                                                  MEM_DIGEST_CHUNK));
        memcpy(chunks[i], c.digest, 16);
    }
    XXH128_canonical_t c;
    XXH128_canonicalFromHash(&c, XXH3_128bits(chunks, n * 16));
    assert_memory_equal(d1, c.digest, 16);
    free(chunks);

    /* One flipped byte anywhere changes it; so does one in a zero page. */
    dst.host[9 * MIB + 77] ^= 1;
    mem_digest_all(&dst, d2);
    assert_memory_not_equal(d1, d2, 16);
    dst.host[9 * MIB + 77] ^= 1;
    dst.host[3 * MIB] ^= 0x80;
    mem_digest_all(&dst, d2);
    assert_memory_not_equal(d1, d2, 16);

    mem_scan_close(&scan);
    pair_close(&p);
    guest_mem_destroy(&src);
    guest_mem_destroy(&dst);
}

/* A sub-range, unaligned to runs; and the sender's own bounds. */
static void pages_subrange_and_send_bounds(void **state)
{
    (void)state;
    char err[256];
    struct guest_mem src, dst;
    assert_int_equal(guest_mem_init(&src, 16 * MIB, err, sizeof err), 0);
    assert_int_equal(guest_mem_init(&dst, 16 * MIB, err, sizeof err), 0);
    fill(&src, 0, 16 * MIB);
    struct pair p;
    pair_open(&p);
    struct sender t = {.s = &p.a, .mem = &src, .offset = 3 * PAGE, .npages = 5};
    pthread_t th;
    assert_int_equal(pthread_create(&th, NULL, send_thread, &t), 0);
    unsigned zero_msgs, msgs = receive_into(&p.b, &dst, &zero_msgs);
    pthread_join(th, NULL);
    assert_int_equal(t.r, 0);
    assert_int_equal(msgs, 1);
    assert_memory_equal(dst.host + 3 * PAGE, src.host + 3 * PAGE, 5 * PAGE);
    assert_true(migration_is_zero(dst.host, 3 * PAGE));
    assert_true(migration_is_zero(dst.host + 8 * PAGE, 16 * MIB - 8 * PAGE));

    expect_err(mstream_send_pages(&p.a, &src, NULL, 16 * MIB, 1, err, sizeof err), err,
               "not all guest memory");
    expect_err(mstream_send_pages(&p.a, &src, NULL, 16 * MIB - PAGE, 2, err, sizeof err), err,
               "not all guest memory");
    expect_err(mstream_send_pages(&p.a, &src, NULL, 100, 1, err, sizeof err), err,
               "not all guest memory");
    assert_int_equal(mstream_send_pages(&p.a, &src, NULL, 16 * MIB, 0, err, sizeof err), 0);
    pair_close(&p);
    guest_mem_destroy(&src);
    guest_mem_destroy(&dst);
}

/* A whole message in a buffer, as the sender frames it, checksum fixed
 * after the caller's edits. */
static size_t frame(uint8_t *buf, uint16_t type, uint16_t flags, const void *payload,
                    uint64_t len, bool fix_sum)
{
    buf[0] = 'K', buf[1] = 'V', buf[2] = 'M', buf[3] = 'M';
    buf[4] = (uint8_t)type, buf[5] = (uint8_t)(type >> 8);
    buf[6] = (uint8_t)flags, buf[7] = (uint8_t)(flags >> 8);
    for (int i = 0; i < 8; i++)
        buf[8 + i] = (uint8_t)(len >> (8 * i));
    if (len)
        memcpy(buf + 16, payload, len);
    uint64_t sum = fix_sum ? XXH3_64bits(buf, 16 + len) : 0;
    for (int i = 0; i < 8; i++)
        buf[16 + len + i] = (uint8_t)(sum >> (8 * i));
    return 16 + len + 8;
}

static void apply_bounds(void **state)
{
    (void)state;
    char err[256];
    struct guest_mem mem;
    assert_int_equal(guest_mem_init(&mem, 16 * MIB, err, sizeof err), 0);
    static uint8_t buf[16 + 16 + 2 * 4096 + 8];
    struct mmsg m;
    size_t used;
    struct {
        uint64_t offset;
        uint32_t npages;
        bool zero;
        bool ok;
    } cases[] = {
        {16 * MIB - PAGE, 1, true, true},
        {16 * MIB - PAGE, 1, false, true},
        {16 * MIB, 1, true, false},                  /* just past the end */
        {16 * MIB - PAGE, 2, false, false},          /* straddles the end */
        {16 * MIB - PAGE, 0xffffffffu, true, false}, /* count far too big */
        {~0ULL - PAGE + 1, 1, true, false},          /* offset + size wraps */
        {~0ULL - PAGE + 1, 0xffffffffu, true, false},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        uint8_t pl[16 + 4096] = {0};
        for (int b = 0; b < 8; b++)
            pl[b] = (uint8_t)(cases[i].offset >> (8 * b));
        for (int b = 0; b < 4; b++)
            pl[8 + b] = (uint8_t)(cases[i].npages >> (8 * b));
        memset(pl + 16, 0x5a, 4096);
        size_t n = frame(buf, MSG_PAGES, cases[i].zero ? MSTREAM_PAGES_ZERO : 0, pl,
                         cases[i].zero ? 16 : 16 + 4096ULL * (cases[i].npages == 1), true);
        int r = mstream_parse(buf, n, &m, &used, err, sizeof err);
        if (r == 0)
            r = mstream_apply_pages(&m, &mem, NULL, err, sizeof err);
        if (cases[i].ok) {
            assert_true(r >= 0);
        } else {
            assert_int_equal(r, -1);
            assert_true(strstr(err, "outside guest memory") || strstr(err, "PAGES run of"));
        }
    }
    assert_int_equal(mem.host[16 * MIB - 1], 0x5a);
    /* Unaligned and empty runs are refused in the parse already. */
    uint8_t pl[16] = {1};
    expect_err(mstream_parse(buf, frame(buf, MSG_PAGES, MSTREAM_PAGES_ZERO, pl, 16, true), &m,
                             &used, err, sizeof err), err, "page-aligned");
    pl[0] = 0;
    expect_err(mstream_parse(buf, frame(buf, MSG_PAGES, MSTREAM_PAGES_ZERO, pl, 16, true), &m,
                             &used, err, sizeof err), err, "at least one");
    /* A non-PAGES message is not applied. */
    assert_int_equal(mstream_parse(buf, frame(buf, MSG_CANCEL, 0, NULL, 0, true), &m, &used, err,
                                   sizeof err), 0);
    expect_err(mstream_apply_pages(&m, &mem, NULL, err, sizeof err), err, "expected PAGES");
    guest_mem_destroy(&mem);
}

/* Damage found by the parser, and by mstream_recv from a socket. */
static void damaged_messages(void **state)
{
    (void)state;
    char err[256];
    static uint8_t buf[64 + 4096];
    struct mmsg m;
    size_t used, n;
    uint8_t digest[16] = {1, 2, 3};

    n = frame(buf, MSG_DIGEST, 0, digest, 16, true);
    assert_int_equal(mstream_parse(buf, n, &m, &used, err, sizeof err), 0);
    assert_int_equal(used, n);
    buf[20] ^= 4;
    expect_err(mstream_parse(buf, n, &m, &used, err, sizeof err), err,
               "DIGEST message fails its checksum");
    n = frame(buf, MSG_DIGEST, 0, digest, 16, true);
    buf[0] = 'X';
    expect_err(mstream_parse(buf, n, &m, &used, err, sizeof err), err,
               "not a kvmbox migration stream");
    n = frame(buf, MSG_DIGEST, 0, digest, 16, true);
    expect_err(mstream_parse(buf, n - 1, &m, &used, err, sizeof err), err,
               "truncated DIGEST message");
    expect_err(mstream_parse(buf, 10, &m, &used, err, sizeof err), err, "truncated migration");
    n = frame(buf, MSG_DIGEST, 2, digest, 16, true);
    expect_err(mstream_parse(buf, n, &m, &used, err, sizeof err), err, "unknown flags");
    n = frame(buf, 0, 0, NULL, 0, true);
    expect_err(mstream_parse(buf, n, &m, &used, err, sizeof err), err, "type 0");
    /* A length beyond the type's bound is refused from the header alone:
     * nothing is allocated for it. */
    n = frame(buf, MSG_STATE, 0, NULL, 0, true);
    buf[15] = 0x10;
    expect_err(mstream_parse(buf, n, &m, &used, err, sizeof err), err, "STATE message of");
    uint8_t hello[24 + 4] = {1, 0, 0, 0, 0, 0x10, 0, 0};
    memcpy(hello + 24, "1.0x", 4);
    hello[16] = 2;   /* an unknown HELLO flag */
    n = frame(buf, MSG_HELLO, 0, hello, sizeof hello, true);
    expect_err(mstream_parse(buf, n, &m, &used, err, sizeof err), err, "HELLO with unknown flags");

    /* The same through a socket: a corrupted message is refused. */
    struct pair p;
    pair_open(&p);
    n = frame(buf, MSG_DIGEST, 0, digest, 16, true);
    buf[n - 1] ^= 1;
    assert_int_equal(write(p.a.fd, buf, n), (ssize_t)n);
    expect_err(mstream_recv(&p.b, T_MS, &m, err, sizeof err), err, "fails its checksum");
    pair_close(&p);

    /* Garbage: not even a header. */
    pair_open(&p);
    assert_int_equal(write(p.a.fd, "GET / HTTP/1.1\r\n", 16), 16);
    expect_err(mstream_recv(&p.b, T_MS, &m, err, sizeof err), err, "not a kvmbox migration stream");
    pair_close(&p);
}

static void truncated_and_stalled(void **state)
{
    (void)state;
    char err[256];
    static uint8_t buf[16 + 16 + 4096 + 8];
    struct mmsg m;
    uint8_t pl[16 + 4096] = {0};
    pl[8] = 1;
    size_t n = frame(buf, MSG_PAGES, 0, pl, sizeof pl, true);

    /* The peer closes half-way through a message. */
    struct pair p;
    pair_open(&p);
    assert_int_equal(write(p.a.fd, buf, 1000), 1000);
    close(p.a.fd);
    p.a.fd = -1;
    expect_err(mstream_recv(&p.b, T_MS, &m, err, sizeof err), err,
               "closed by the peer in the middle of a PAGES message (1000 of 4136 bytes)");
    pair_close(&p);

    /* A stalled peer: half a header, then nothing. */
    pair_open(&p);
    assert_int_equal(write(p.a.fd, buf, 8), 8);
    expect_err(mstream_recv(&p.b, 100, &m, err, sizeof err), err, "for 100 ms (stalled)");
    /* ... and one that sends nothing at all. */
    pair_close(&p);
    pair_open(&p);
    expect_err(mstream_recv(&p.b, 50, &m, err, sizeof err), err, "stalled");
    /* A receiver that stops reading stalls the sender, which gives up. */
    p.a.send_timeout_ms = 100;
    int sz = 4096;
    setsockopt(p.a.fd, SOL_SOCKET, SO_SNDBUF, &sz, sizeof sz);
    int r = 0;
    for (int i = 0; i < 1000 && r == 0; i++)
        r = mstream_send(&p.a, MSG_STATE, pl, sizeof pl, err, sizeof err);
    expect_err(r, err, "sending STATE: the peer took nothing for 100 ms");
    pair_close(&p);
    (void)n;
}

/* SCM_RIGHTS: a memfd handed over is the same file. */
static void fd_passing(void **state)
{
    (void)state;
    char err[256];
    struct pair p;
    pair_open(&p);
    int mfd = memfd_create("test-guest-ram", MFD_CLOEXEC);
    assert_true(mfd >= 0);
    assert_int_equal(ftruncate(mfd, 2 * MIB), 0);
    assert_int_equal(pwrite(mfd, "kvmbox", 6, MIB), 6);
    assert_int_equal(mstream_send_fd(&p.a, mfd, 2 * MIB, err, sizeof err), 0);
    assert_int_equal(mstream_send(&p.a, MSG_COMPLETE, NULL, 0, err, sizeof err), 0);
    int got = -1;
    uint64_t size = 0;
    assert_int_equal(mstream_recv_fd(&p.b, T_MS, &got, &size, err, sizeof err), 0);
    assert_true(got >= 0 && got != mfd);
    assert_int_equal(size, 2 * MIB);
    char b[6];
    assert_int_equal(pread(got, b, 6, MIB), 6);
    assert_memory_equal(b, "kvmbox", 6);
    close(got);
    struct mmsg m;
    assert_int_equal(mstream_recv(&p.b, T_MS, &m, err, sizeof err), 0);
    assert_int_equal(m.type, MSG_COMPLETE);

    /* An fd riding with anything else is closed and refused; a MEMFD
     * without one is refused. */
    static uint8_t buf[64];
    size_t n = frame(buf, MSG_COMPLETE, 0, NULL, 0, true);
    union {
        struct cmsghdr h;
        char c[CMSG_SPACE(sizeof(int))];
    } ctl = {0};
    struct iovec iov = {buf, n};
    struct msghdr mh = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = ctl.c,
                        .msg_controllen = sizeof ctl.c};
    struct cmsghdr *c = CMSG_FIRSTHDR(&mh);
    c->cmsg_level = SOL_SOCKET;
    c->cmsg_type = SCM_RIGHTS;
    c->cmsg_len = CMSG_LEN(sizeof(int));
    memcpy(CMSG_DATA(c), &mfd, sizeof mfd);
    assert_int_equal(sendmsg(p.a.fd, &mh, 0), (ssize_t)n);
    expect_err(mstream_recv(&p.b, T_MS, &m, err, sizeof err), err,
               "a COMPLETE message with unexpected file descriptors");
    uint8_t sz[8] = {0};
    n = frame(buf, MSG_MEMFD, 0, sz, 8, true);
    assert_int_equal(write(p.a.fd, buf, n), (ssize_t)n);
    expect_err(mstream_recv_fd(&p.b, T_MS, &got, &size, err, sizeof err), err,
               "without its file descriptor");
    close(mfd);
    pair_close(&p);
}

/* A port nobody listens on right now (the kernel's pick, released). */
static int free_port(void)
{
    int s = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t l = sizeof a;
    assert_int_equal(bind(s, (struct sockaddr *)&a, sizeof a), 0);
    assert_int_equal(getsockname(s, (struct sockaddr *)&a, &l), 0);
    close(s);
    return ntohs(a.sin_port);
}

/* listen, connect, accept on url; one message each way. */
static void loopback(const char *listen_url, const char *connect_url)
{
    char err[256];
    int lfd, cfd, afd;
    if (migration_listen(listen_url, &lfd, err, sizeof err) < 0)
        fail_msg("listen: %s", err);
    if (migration_connect(connect_url, T_MS, &cfd, err, sizeof err) < 0)
        fail_msg("connect: %s", err);
    if (migration_accept(lfd, T_MS, &afd, err, sizeof err) < 0)
        fail_msg("accept: %s", err);
    struct migration_stream a, b;
    mstream_init(&a, cfd);
    mstream_init(&b, afd);
    struct mmsg m;
    assert_int_equal(mstream_send_hello(&a, 2 * MIB, 0, err, sizeof err), 0);
    assert_int_equal(mstream_recv(&b, T_MS, &m, err, sizeof err), 0);
    assert_int_equal(m.type, MSG_HELLO);
    assert_int_equal(mstream_send(&b, MSG_HELLO_ACK, NULL, 0, err, sizeof err), 0);
    assert_int_equal(mstream_recv(&a, T_MS, &m, err, sizeof err), 0);
    assert_int_equal(m.type, MSG_HELLO_ACK);
    mstream_destroy(&a);
    mstream_destroy(&b);
    close(lfd);
}

static void tcp_loopback(void **state)
{
    (void)state;
    char l[64], c[64], err[256];
    int port = free_port();
    snprintf(l, sizeof l, "tcp:0.0.0.0:%d", port);
    snprintf(c, sizeof c, "tcp:127.0.0.1:%d", port);
    loopback(l, c);
    /* SO_REUSEADDR: the same port again at once; by name this time. */
    snprintf(c, sizeof c, "tcp:localhost:%d", port);
    snprintf(l, sizeof l, "tcp:127.0.0.1:%d", port);
    loopback(l, c);
    /* Nobody listening: a clear refusal naming the URL. */
    int fd;
    expect_err(migration_connect(c, T_MS, &fd, err, sizeof err), err, ": connection refused");
    assert_true(strncmp(err, c, strlen(c)) == 0);
    /* A port taken. */
    int lfd, lfd2;
    assert_int_equal(migration_listen(l, &lfd, err, sizeof err), 0);
    expect_err(migration_listen(l, &lfd2, err, sizeof err), err, "address already in use");
    /* Nobody connects: accept gives up. */
    expect_err(migration_accept(lfd, 50, &fd, err, sizeof err), err, "no migration connection");
    close(lfd);
}

static void *stop_listener(void *arg)
{
    usleep(50 * 1000);
    shutdown(*(int *)arg, SHUT_RDWR);
    return NULL;
}

/* A receiver waiting for ever is stopped by shutdown() (cancel). */
static void accept_stopped(void **state)
{
    (void)state;
    char url[64], err[256];
    snprintf(url, sizeof url, "tcp:127.0.0.1:%d", free_port());
    int lfd, fd;
    assert_int_equal(migration_listen(url, &lfd, err, sizeof err), 0);
    pthread_t th;
    assert_int_equal(pthread_create(&th, NULL, stop_listener, &lfd), 0);
    expect_err(migration_accept(lfd, -1, &fd, err, sizeof err), err, "stopped");
    pthread_join(th, NULL);
    close(lfd);
}

static void unix_loopback(void **state)
{
    (void)state;
    char dir[] = "/tmp/kvmbox-mstream-XXXXXX", url[160], path[128], err[256];
    assert_non_null(mkdtemp(dir));
    snprintf(path, sizeof path, "%s/m.sock", dir);
    snprintf(url, sizeof url, "unix:%s", path);
    loopback(url, url);
    /* Mode 0600; a stale socket (ours, closed above) was just replaced. */
    struct stat st;
    assert_int_equal(stat(path, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0600);
    loopback(url, url);
    /* A live one is not stolen; a non-socket is not replaced. */
    int lfd, lfd2, fd;
    assert_int_equal(migration_listen(url, &lfd, err, sizeof err), 0);
    expect_err(migration_listen(url, &lfd2, err, sizeof err), err, "another process is listening");
    close(lfd);
    unlink(path);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fclose(f);
    expect_err(migration_listen(url, &lfd, err, sizeof err), err, "exists and is not a socket");
    assert_int_equal(stat(path, &st), 0);
    assert_true(S_ISREG(st.st_mode));
    unlink(path);
    expect_err(migration_connect(url, T_MS, &fd, err, sizeof err), err,
               "no such file or directory");
    rmdir(dir);
}

static void bad_urls(void **state)
{
    (void)state;
    struct {
        const char *url, *says;
    } cases[] = {
        {"ftp:host:1", "expected tcp:HOST:PORT or unix:/path"},
        {"tcp:host", "expected tcp:HOST:PORT"},
        {"tcp:host:0", "port must be a number from 1 to 65535"},
        {"tcp:host:65536", "port must be a number"},
        {"tcp:host:7x", "port must be a number"},
        {"tcp:host:", "port must be a number"},
        {"tcp:host:-1", "port must be a number"},
        {"tcp:::1:7000", "IPv6 address goes in brackets"},
        {"tcp:[::1:7000", "expected tcp:[IPV6]:PORT"},
        {"unix:", "expected unix:/path"},
    };
    char err[256];
    struct migration_url u;
    int fd;
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        expect_err(migration_url_parse(cases[i].url, &u, err, sizeof err), err, cases[i].says);
        assert_true(strncmp(err, cases[i].url, strlen(cases[i].url)) == 0);
        expect_err(migration_listen(cases[i].url, &fd, err, sizeof err), err, cases[i].says);
        expect_err(migration_connect(cases[i].url, 100, &fd, err, sizeof err), err, cases[i].says);
    }
    char longp[200] = "unix:/";
    memset(longp + 6, 'a', sizeof longp - 7);
    expect_err(migration_url_parse(longp, &u, err, sizeof err), err, "path is longer");
    assert_int_equal(migration_url_parse("tcp:[::1]:7000", &u, err, sizeof err), 0);
    assert_string_equal(u.host, "::1");
    assert_string_equal(u.port, "7000");
    assert_int_equal(migration_url_parse("tcp::7000", &u, err, sizeof err), 0);
    assert_string_equal(u.host, "");
    expect_err(migration_connect("tcp::7000", 100, &fd, err, sizeof err), err, "a host to connect");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(round_trip_every_type),
        cmocka_unit_test(sender_checks_payloads),
        cmocka_unit_test(pages_copy_and_digest),
        cmocka_unit_test(pages_subrange_and_send_bounds),
        cmocka_unit_test(apply_bounds),
        cmocka_unit_test(damaged_messages),
        cmocka_unit_test(truncated_and_stalled),
        cmocka_unit_test(fd_passing),
        cmocka_unit_test(tcp_loopback),
        cmocka_unit_test(accept_stopped),
        cmocka_unit_test(unix_loopback),
        cmocka_unit_test(bad_urls),
    };
    return cmocka_run_group_tests_name("migration_stream", tests, NULL, NULL);
}
