/* The migration stream over TLS (tls_dir): messages round trip encrypted
 * (the bytes on the socket are not the plaintext), mutual authentication
 * (each side refuses a certificate its CA did not sign, the receiver one
 * that is missing, the sender a receiver whose certificate names another
 * host), a peer without TLS on either side, missing and mismatched files,
 * a silent peer, fds refused. Certificates are made at test time with the
 * openssl command (skipped without it). */
#include "migration/migration_stream.h"
#include "migration/migration_url.h"

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define T_MS 10000   /* generous: a slow CI host is not a stalled peer */

static char top[64];        /* the temporary directory of every tls_dir below */
static char good[128];      /* ca-cert.pem of CA 1, all four others signed by it */
static char rogue[128];     /* CA 1's ca-cert.pem, the client pair from CA 2 */
static char other_ca[128];  /* CA 2's ca-cert.pem, the client pair from CA 2 */
static char mismatch[128];  /* client-key.pem not client-cert.pem's key */

/* Made by this script (it says what each directory holds), which the
 * integration test uses too; make check-unit runs from the top of the
 * tree. */
#define MAKE_CERTS "tests/support/make_tls_certs.sh"

static int setup(void **state)
{
    (void)state;
    if (system("openssl version >/dev/null 2>&1") != 0 || access(MAKE_CERTS, R_OK) != 0)
        return 0;     /* each test skips */
    snprintf(top, sizeof top, "/tmp/kvmbox-tls-XXXXXX");
    if (!mkdtemp(top))
        return -1;
    char cmd[160];
    snprintf(cmd, sizeof cmd, "sh " MAKE_CERTS " %s", top);
    if (system(cmd) != 0) {
        fprintf(stderr, MAKE_CERTS " could not make the test certificates\n");
        return -1;
    }
    snprintf(good, sizeof good, "%s/good", top);
    snprintf(rogue, sizeof rogue, "%s/rogue", top);
    snprintf(other_ca, sizeof other_ca, "%s/other_ca", top);
    snprintf(mismatch, sizeof mismatch, "%s/mismatch", top);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    if (top[0]) {
        char cmd[128];
        snprintf(cmd, sizeof cmd, "rm -rf %s", top);
        if (system(cmd) != 0)
            return -1;
    }
    return 0;
}

#define NEED_CERTS() \
    do { if (!top[0]) skip(); } while (0)

static void expect_err(int r, const char *err, const char *part)
{
    assert_int_equal(r, -1);
    if (getenv("SHOW_ERRORS"))
        print_message("%s\n", err);
    if (!strstr(err, part))
        fail_msg("error \"%s\" does not say \"%s\"", err, part);
}

/* One side's start, on a thread of its own: the handshake needs both. */
struct side {
    struct migration_stream s;
    enum migration_tls_role role;
    const char *dir;        /* NULL: this side stays plaintext */
    const char *host;
    int timeout_ms;
    int r;
    char err[512];
};

static void *start_side(void *arg)
{
    struct side *d = arg;
    d->r = d->dir ? mstream_start_tls(&d->s, d->role, d->dir, d->host, d->timeout_ms, d->err,
                                      sizeof d->err)
                  : 0;
    return NULL;
}

/* Sender and receiver on a socketpair, each starting TLS with its dir
 * (NULL: none) at the same time. */
static void pair_start(struct side *snd, const char *sdir, const char *host, struct side *rcv,
                       const char *rdir)
{
    int sv[2];
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
    *snd = (struct side){.role = MIGRATION_TLS_SENDER, .dir = sdir, .host = host,
                         .timeout_ms = T_MS};
    *rcv = (struct side){.role = MIGRATION_TLS_RECEIVER, .dir = rdir, .timeout_ms = T_MS};
    mstream_init(&snd->s, sv[0]);
    mstream_init(&rcv->s, sv[1]);
    pthread_t th;
    assert_int_equal(pthread_create(&th, NULL, start_side, rcv), 0);
    start_side(snd);
    /* A sender that failed may leave the receiver waiting for more: its
     * end closed tells it. */
    if (snd->r < 0)
        shutdown(snd->s.fd, SHUT_RDWR);
    pthread_join(th, NULL);
}

static void pair_end(struct side *a, struct side *b)
{
    mstream_destroy(&a->s);
    mstream_destroy(&b->s);
}

struct big_send {
    struct migration_stream *s;
    const uint8_t *data;
    size_t len;
    int r;
    char err[256];
};

static void *send_big(void *arg)
{
    struct big_send *b = arg;
    static const char config[] = "{\"memory\":{\"size\":1}}";
    b->r = mstream_send_hello(b->s, 1 << 20, 0, b->err, sizeof b->err) < 0 ||
           mstream_send(b->s, MSG_CONFIG, config, strlen(config), b->err, sizeof b->err) < 0 ||
           mstream_send(b->s, MSG_STATE, b->data, b->len, b->err, sizeof b->err) < 0 ||
           mstream_send(b->s, MSG_COMPLETE, NULL, 0, b->err, sizeof b->err) < 0
               ? -1 : 0;
    return NULL;
}

/* Messages both ways, one larger than the socket's buffer and than many
 * TLS records; the counters count the messages, not TLS's overhead. */
static void round_trip(void **state)
{
    (void)state;
    NEED_CERTS();
    struct side snd, rcv;
    pair_start(&snd, good, "localhost", &rcv, good);
    if (snd.r < 0 || rcv.r < 0)
        fail_msg("sender: %s / receiver: %s", snd.r < 0 ? snd.err : "ok",
                 rcv.r < 0 ? rcv.err : "ok");
    size_t len = (3 << 20) + 12345;
    uint8_t *data = malloc(len);
    assert_non_null(data);
    for (size_t i = 0; i < len; i++)
        data[i] = (uint8_t)(i * 2654435761u >> 13);
    struct big_send b = {.s = &snd.s, .data = data, .len = len};
    pthread_t th;
    assert_int_equal(pthread_create(&th, NULL, send_big, &b), 0);
    struct mmsg m;
    char err[256];
    assert_int_equal(mstream_recv(&rcv.s, T_MS, &m, err, sizeof err), 0);
    assert_int_equal(m.type, MSG_HELLO);
    assert_int_equal(m.u.hello.mem_size, 1 << 20);
    assert_int_equal(mstream_recv(&rcv.s, T_MS, &m, err, sizeof err), 0);
    assert_int_equal(m.type, MSG_CONFIG);
    assert_int_equal(mstream_recv(&rcv.s, T_MS, &m, err, sizeof err), 0);
    assert_int_equal(m.type, MSG_STATE);
    assert_int_equal(m.len, len);
    assert_memory_equal(m.payload, data, len);
    assert_int_equal(mstream_recv(&rcv.s, T_MS, &m, err, sizeof err), 0);
    assert_int_equal(m.type, MSG_COMPLETE);
    pthread_join(th, NULL);
    assert_int_equal(b.r, 0);
    /* And back. */
    assert_int_equal(mstream_send(&rcv.s, MSG_RUNNING, NULL, 0, err, sizeof err), 0);
    assert_int_equal(mstream_recv(&snd.s, T_MS, &m, err, sizeof err), 0);
    assert_int_equal(m.type, MSG_RUNNING);
    assert_int_equal(snd.s.bytes_sent, rcv.s.bytes_received);
    assert_int_equal(rcv.s.bytes_sent, snd.s.bytes_received);
    assert_int_equal(snd.s.bytes_sent, 4 * (16 + 8) + 24 + strlen(KVMBOX_VERSION) +
                                           strlen("{\"memory\":{\"size\":1}}") + len);
    /* No fd travels over TLS. */
    expect_err(mstream_send_fd(&snd.s, 0, 4096, err, sizeof err), err, "cannot travel over TLS");
    /* The sender goes: the receiver reads a closed connection, as on a
     * plain socket (the sender's VMM looks for "closed"). */
    mstream_destroy(&snd.s);
    expect_err(mstream_recv(&rcv.s, T_MS, &m, err, sizeof err), err,
               "connection closed by the peer");
    mstream_destroy(&rcv.s);
    free(data);
}

/* What goes on the socket is not the plaintext: read under TLS. */
static void encrypted_on_the_wire(void **state)
{
    (void)state;
    NEED_CERTS();
    struct side snd, rcv;
    pair_start(&snd, good, "127.0.0.1", &rcv, good);
    assert_int_equal(snd.r, 0);
    assert_int_equal(rcv.r, 0);
    static const char secret[] = "{\"secret\":\"the guest's memory in plain sight\"}";
    char err[256];
    assert_int_equal(mstream_send(&snd.s, MSG_CONFIG, secret, strlen(secret), err, sizeof err), 0);
    uint8_t raw[4096];
    ssize_t n = recv(rcv.s.fd, raw, sizeof raw, 0);
    assert_true(n > (ssize_t)strlen(secret));
    assert_null(memmem(raw, (size_t)n, "secret", 6));
    assert_null(memmem(raw, (size_t)n, "KVMM", 4));
    assert_int_equal(raw[0], 0x17);     /* a TLS application-data record */
    pair_end(&snd, &rcv);
}

/* A sender whose certificate another CA signed: the receiver says why,
 * the sender learns it was refused. And the other way round. */
static void foreign_certificates(void **state)
{
    (void)state;
    NEED_CERTS();
    struct side snd, rcv;
    pair_start(&snd, rogue, "localhost", &rcv, good);
    expect_err(rcv.r, rcv.err, "TLS handshake with the sender: its certificate is not trusted");
    if (!strstr(rcv.err, "issuer is unknown"))
        fail_msg("receiver: %s", rcv.err);
    expect_err(snd.r, snd.err, "TLS handshake with the receiver: ");
    if (!strstr(snd.err, "refused this side's certificate") && !strstr(snd.err, "closed"))
        fail_msg("sender: %s", snd.err);
    pair_end(&snd, &rcv);

    /* The sender trusts another CA than the one of the receiver's
     * certificate. */
    pair_start(&snd, other_ca, "localhost", &rcv, good);
    expect_err(snd.r, snd.err, "TLS handshake with the receiver: its certificate is not trusted");
    expect_err(rcv.r, rcv.err, "TLS handshake with the sender: ");
    pair_end(&snd, &rcv);

    /* The receiver's certificate is good but for another host. */
    pair_start(&snd, good, "migrate.example.org", &rcv, good);
    expect_err(snd.r, snd.err, "TLS handshake with the receiver: its certificate is not trusted");
    if (!strstr(snd.err, "match"))
        fail_msg("sender: %s", snd.err);
    expect_err(rcv.r, rcv.err, "TLS handshake with the sender: ");
    pair_end(&snd, &rcv);
}

/* One side without tls_dir: each says what is wrong, in one line. */
static void plaintext_peer(void **state)
{
    (void)state;
    NEED_CERTS();
    char err[256];
    struct mmsg m;
    /* A plaintext sender: its HELLO reaches a TLS receiver, which says
     * why it refuses, and tells the sender so in the sender's own
     * (plaintext) stream: it could not read a TLS alert. */
    struct side snd, rcv;
    int sv[2];
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
    mstream_init(&snd.s, sv[0]);
    rcv = (struct side){.role = MIGRATION_TLS_RECEIVER, .dir = good, .timeout_ms = T_MS};
    mstream_init(&rcv.s, sv[1]);
    assert_int_equal(mstream_send_hello(&snd.s, 1 << 20, 0, err, sizeof err), 0);
    pthread_t th;
    assert_int_equal(pthread_create(&th, NULL, start_side, &rcv), 0);
    assert_int_equal(mstream_recv(&snd.s, T_MS, &m, err, sizeof err), 0);
    assert_int_equal(m.type, MSG_ERROR);
    assert_non_null(strstr(m.u.text, "the receiver requires TLS"));
    mstream_destroy(&snd.s);    /* the receiver waits for this */
    pthread_join(th, NULL);
    expect_err(rcv.r, rcv.err, "TLS handshake with the sender: it does not use TLS");
    mstream_destroy(&rcv.s);

    /* A TLS sender, a plaintext receiver: the receiver reads a TLS hello
     * where a message should be, says so and hangs up; the sender hears
     * the connection close in its handshake. */
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
    snd = (struct side){.role = MIGRATION_TLS_SENDER, .dir = good, .host = "localhost",
                        .timeout_ms = T_MS};
    mstream_init(&snd.s, sv[0]);
    mstream_init(&rcv.s, sv[1]);
    assert_int_equal(pthread_create(&th, NULL, start_side, &snd), 0);
    expect_err(mstream_recv(&rcv.s, T_MS, &m, err, sizeof err), err, "the peer speaks TLS");
    mstream_destroy(&rcv.s);
    pthread_join(th, NULL);
    expect_err(snd.r, snd.err, "TLS handshake with the receiver: connection closed by the peer");
    mstream_destroy(&snd.s);
}

/* Files: missing ones named, a key that is not the certificate's, a CA
 * file without a certificate. Nothing is read from the socket first. */
static void bad_files(void **state)
{
    (void)state;
    NEED_CERTS();
    char err[512], dir[160], cmd[1024];
    int sv[2];
    struct migration_stream s;
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
    mstream_init(&s, sv[0]);
    snprintf(dir, sizeof dir, "%s/nonexistent", top);
    expect_err(mstream_start_tls(&s, MIGRATION_TLS_SENDER, dir, NULL, T_MS, err, sizeof err), err,
               "ca-cert.pem: no such file or directory");
    assert_non_null(strstr(err, dir));
    /* Only the receiver's files: the sender misses its own. */
    snprintf(dir, sizeof dir, "%s/receiver-only", top);
    snprintf(cmd, sizeof cmd, "mkdir %s && cp %s/ca-cert.pem %s/server-*.pem %s/", dir, good,
             good, dir);
    assert_int_equal(system(cmd), 0);
    expect_err(mstream_start_tls(&s, MIGRATION_TLS_SENDER, dir, NULL, T_MS, err, sizeof err), err,
               "client-cert.pem: no such file or directory");
    snprintf(cmd, sizeof cmd, "cp %s/client-cert.pem %s/", good, dir);
    assert_int_equal(system(cmd), 0);
    expect_err(mstream_start_tls(&s, MIGRATION_TLS_SENDER, dir, NULL, T_MS, err, sizeof err), err,
               "client-key.pem: no such file or directory");
    expect_err(mstream_start_tls(&s, MIGRATION_TLS_SENDER, mismatch, NULL, T_MS, err, sizeof err),
               err, "client-cert.pem and client-key.pem: ");
    /* A CA file with no certificate in it. */
    snprintf(cmd, sizeof cmd, "cp %s/client-key.pem %s/ && echo junk > %s/ca-cert.pem", good, dir,
             dir);
    assert_int_equal(system(cmd), 0);
    expect_err(mstream_start_tls(&s, MIGRATION_TLS_SENDER, dir, NULL, T_MS, err, sizeof err), err,
               "ca-cert.pem: ");
    /* The socket was never touched. */
    uint8_t b;
    assert_int_equal(recv(sv[1], &b, 1, MSG_DONTWAIT), -1);
    mstream_destroy(&s);
    close(sv[1]);
}

/* A peer that never answers the hello: the handshake gives up. */
static void silent_peer(void **state)
{
    (void)state;
    NEED_CERTS();
    char err[512];
    int sv[2];
    struct migration_stream s;
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
    mstream_init(&s, sv[0]);
    expect_err(mstream_start_tls(&s, MIGRATION_TLS_SENDER, good, "localhost", 200, err,
                                 sizeof err),
               err, "nothing from it for 200 ms (stalled)");
    mstream_destroy(&s);
    close(sv[1]);
}

struct tcp_receiver {
    int lfd;
    struct side side;
};

static void *accept_and_start(void *arg)
{
    struct tcp_receiver *t = arg;
    int fd;
    if (migration_accept(t->lfd, T_MS, &fd, t->side.err, sizeof t->side.err) < 0) {
        t->side.r = -1;
        return NULL;
    }
    mstream_init(&t->side.s, fd);
    start_side(&t->side);
    return NULL;
}

/* Over TCP, as between hosts: the sender names the receiver by address. */
static void tcp_loopback(void **state)
{
    (void)state;
    NEED_CERTS();
    char url[64], err[256];
    int s = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t l = sizeof a;
    assert_int_equal(bind(s, (struct sockaddr *)&a, sizeof a), 0);
    assert_int_equal(getsockname(s, (struct sockaddr *)&a, &l), 0);
    close(s);
    snprintf(url, sizeof url, "tcp:127.0.0.1:%d", ntohs(a.sin_port));
    struct tcp_receiver t = {.side = {.role = MIGRATION_TLS_RECEIVER, .dir = good,
                                      .timeout_ms = T_MS}};
    assert_int_equal(migration_listen(url, &t.lfd, err, sizeof err), 0);
    pthread_t th;
    assert_int_equal(pthread_create(&th, NULL, accept_and_start, &t), 0);
    struct side snd = {.role = MIGRATION_TLS_SENDER, .dir = good, .host = "127.0.0.1",
                       .timeout_ms = T_MS};
    int fd;
    assert_int_equal(migration_connect(url, T_MS, &fd, err, sizeof err), 0);
    mstream_init(&snd.s, fd);
    start_side(&snd);
    pthread_join(th, NULL);
    close(t.lfd);
    if (snd.r < 0 || t.side.r < 0)
        fail_msg("sender: %s / receiver: %s", snd.r < 0 ? snd.err : "ok",
                 t.side.r < 0 ? t.side.err : "ok");
    struct mmsg m;
    assert_int_equal(mstream_send_hello(&snd.s, 1 << 20, 0, err, sizeof err), 0);
    assert_int_equal(mstream_recv(&t.side.s, T_MS, &m, err, sizeof err), 0);
    assert_int_equal(m.type, MSG_HELLO);
    assert_int_equal(mstream_send(&t.side.s, MSG_HELLO_ACK, NULL, 0, err, sizeof err), 0);
    assert_int_equal(mstream_recv(&snd.s, T_MS, &m, err, sizeof err), 0);
    assert_int_equal(m.type, MSG_HELLO_ACK);
    pair_end(&snd, &t.side);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(round_trip),
        cmocka_unit_test(encrypted_on_the_wire),
        cmocka_unit_test(foreign_certificates),
        cmocka_unit_test(plaintext_peer),
        cmocka_unit_test(bad_files),
        cmocka_unit_test(silent_peer),
        cmocka_unit_test(tcp_loopback),
    };
    return cmocka_run_group_tests_name("migration_tls", tests, setup, teardown);
}
