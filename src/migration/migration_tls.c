/* TLS under the migration stream (migration_tls.h). */
#include "migration/migration_tls.h"

#include "util/deadline.h"
#include "util/log.h"

#include <ctype.h>
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <gnutls/gnutls.h>
#include <limits.h>
#include <poll.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define GNUTLS_LIBRARY "libgnutls.so.30"
/* TLS's largest record: smaller parts of a message are gathered into one
 * (a 16-byte header alone would be a record of its own). */
#define RECORD_MAX 16384

/* The GnuTLS functions used here, the types taken from its header. */
#define GNUTLS_FUNCTIONS(X) \
    X(gnutls_certificate_allocate_credentials) X(gnutls_certificate_free_credentials) \
    X(gnutls_certificate_set_x509_trust_file) X(gnutls_certificate_set_x509_key_file) \
    X(gnutls_init) X(gnutls_deinit) X(gnutls_set_default_priority) X(gnutls_credentials_set) \
    X(gnutls_certificate_server_set_request) X(gnutls_certificate_send_x509_rdn_sequence) \
    X(gnutls_session_set_verify_cert) \
    X(gnutls_session_get_verify_cert_status) X(gnutls_certificate_verification_status_print) \
    X(gnutls_transport_set_ptr) X(gnutls_transport_set_push_function) \
    X(gnutls_transport_set_vec_push_function) X(gnutls_transport_set_pull_function) \
    X(gnutls_transport_set_pull_timeout_function) X(gnutls_handshake_set_timeout) \
    X(gnutls_handshake) X(gnutls_record_send) X(gnutls_record_recv) \
    X(gnutls_record_get_direction) X(gnutls_bye) X(gnutls_strerror) X(gnutls_error_is_fatal) \
    X(gnutls_alert_get) X(gnutls_alert_get_name) X(gnutls_alert_send_appropriate)

struct gnutls_api {
    void *lib;
#define GNUTLS_FIELD(name) __typeof__(name) *name;
    GNUTLS_FUNCTIONS(GNUTLS_FIELD)
#undef GNUTLS_FIELD
    gnutls_free_function *free;     /* a variable in the library, not a function */
};

struct migration_tls {
    struct gnutls_api api;
    int fd;
    enum migration_tls_role role;
    gnutls_certificate_credentials_t cred;
    gnutls_session_t session;
    bool established;               /* the handshake is through */
    /* The socket's last error, for the message (either thread may set it). */
    _Atomic int io_errno;
    /* The peer's first bytes: a plaintext migration stream's "KVMM" says
     * the peer has no tls_dir. Written during the handshake only. */
    uint8_t first[4];
    size_t nfirst;
    char peer_host[256];            /* the sender's name for the receiver, for messages */
    uint8_t stage[RECORD_MAX];      /* the sending thread's */
};

/* Loads libgnutls and resolves the table; -1 with err. Every session
 * loads it for itself (dlopen counts references): no global to share.
 * RTLD_NODELETE: GnuTLS initialises itself when loaded, once is enough. */
static int api_load(struct gnutls_api *api, char *err, size_t errlen)
{
    api->lib = dlopen(GNUTLS_LIBRARY, RTLD_NOW | RTLD_LOCAL | RTLD_NODELETE);
    if (!api->lib) {
        snprintf(err, errlen, "tls_dir needs GnuTLS (Debian package libgnutls30): %s",
                 dlerror());
        return -1;
    }
    /* dlsym's void * to a function pointer: the POSIX way, through the
     * pointer's representation. */
#define GNUTLS_RESOLVE(name)                                                          \
    if (!(*(void **)&api->name = dlsym(api->lib, #name))) {                           \
        snprintf(err, errlen, "tls_dir: %s has no %s (GnuTLS 3.6 or later needed)",   \
                 GNUTLS_LIBRARY, #name);                                              \
        goto fail;                                                                    \
    }
    GNUTLS_FUNCTIONS(GNUTLS_RESOLVE)
#undef GNUTLS_RESOLVE
    if (!(api->free = dlsym(api->lib, "gnutls_free"))) {
        snprintf(err, errlen, "tls_dir: %s has no gnutls_free", GNUTLS_LIBRARY);
        goto fail;
    }
    return 0;
fail:
    dlclose(api->lib);
    api->lib = NULL;
    return -1;
}

/* The socket under the session: never blocking (the stream's own poll
 * waits, with its time-outs), never SIGPIPE. GnuTLS reads errno after a
 * -1 (EAGAIN: try again later). */
static ssize_t push_vec(gnutls_transport_ptr_t p, const giovec_t *iov, int n)
{
    struct migration_tls *t = p;
    struct msghdr mh = {.msg_iov = (struct iovec *)iov, .msg_iovlen = (size_t)n};
    ssize_t w = sendmsg(t->fd, &mh, MSG_NOSIGNAL | MSG_DONTWAIT);
    if (w < 0)
        t->io_errno = errno;
    return w;
}

static ssize_t push(gnutls_transport_ptr_t p, const void *buf, size_t len)
{
    giovec_t iov = {(void *)buf, len};
    return push_vec(p, &iov, 1);
}

static ssize_t pull(gnutls_transport_ptr_t p, void *buf, size_t len)
{
    struct migration_tls *t = p;
    ssize_t r = recv(t->fd, buf, len, MSG_DONTWAIT);
    if (r < 0) {
        t->io_errno = errno;
        return r;
    }
    for (size_t i = 0; i < (size_t)r && t->nfirst < sizeof t->first; i++)
        t->first[t->nfirst++] = ((uint8_t *)buf)[i];
    return r;
}

static int pull_timeout(gnutls_transport_ptr_t p, unsigned ms)
{
    struct migration_tls *t = p;
    struct pollfd pfd = {.fd = t->fd, .events = POLLIN};
    int r;
    while ((r = poll(&pfd, 1, ms == GNUTLS_INDEFINITE_TIMEOUT ? -1 : (int)ms)) < 0 &&
           errno == EINTR)
        ;
    return r;
}

/* What the handshake waits for (one thread: the word is its own). */
static short direction(struct migration_tls *t)
{
    return t->api.gnutls_record_get_direction(t->session) ? POLLOUT : POLLIN;
}

static bool peer_closed(int e)
{
    return e == EPIPE || e == ECONNRESET;
}

/* What a failed call (r < 0, fatal) means, as the rest of a message. */
static void describe(struct migration_tls *t, int r, char *out, size_t outlen)
{
    if (r == GNUTLS_E_PREMATURE_TERMINATION ||
        ((r == GNUTLS_E_PUSH_ERROR || r == GNUTLS_E_PULL_ERROR) && peer_closed(t->io_errno))) {
        snprintf(out, outlen, "connection closed by the peer");
    } else if (r == GNUTLS_E_PUSH_ERROR || r == GNUTLS_E_PULL_ERROR) {
        snprintf(out, outlen, "%s", log_strerror(t->io_errno));
    } else if (r == GNUTLS_E_FATAL_ALERT_RECEIVED) {
        snprintf(out, outlen, "the peer ended the TLS session (alert: %s)",
                 t->api.gnutls_alert_get_name(t->api.gnutls_alert_get(t->session)));
    } else {
        snprintf(out, outlen, "TLS: %s", t->api.gnutls_strerror(r));
    }
}

/* Whether the peer began with a plaintext migration stream's magic. */
static bool plaintext_peer(const struct migration_tls *t)
{
    return t->nfirst == sizeof t->first && !memcmp(t->first, "KVMM", 4);
}

/* Certificate problems, said so that the operator knows which side's
 * files to look at. */
static void describe_start(struct migration_tls *t, int r, char *err, size_t errlen)
{
    const char *peer = t->role == MIGRATION_TLS_SENDER ? "receiver" : "sender";
    char why[384];
    if (plaintext_peer(t)) {
        snprintf(why, sizeof why, "it does not use TLS (it sent a plaintext migration "
                 "stream): give both sides tls_dir");
    } else if (r == GNUTLS_E_CERTIFICATE_VERIFICATION_ERROR) {
        gnutls_datum_t text = {NULL, 0};
        unsigned status = t->api.gnutls_session_get_verify_cert_status(t->session);
        if (t->api.gnutls_certificate_verification_status_print(status, GNUTLS_CRT_X509,
                                                                &text, 0) == 0 && text.data) {
            size_t n = strlen((char *)text.data);
            while (n && isspace((unsigned char)text.data[n - 1]))
                text.data[--n] = '\0';
            snprintf(why, sizeof why, "its certificate is not trusted (checked against "
                     MIGRATION_TLS_CA "): %s%s%s%s", (char *)text.data,
                     status & GNUTLS_CERT_UNEXPECTED_OWNER ? " (the name connected to: " : "",
                     status & GNUTLS_CERT_UNEXPECTED_OWNER ? t->peer_host : "",
                     status & GNUTLS_CERT_UNEXPECTED_OWNER ? ")" : "");
            (*t->api.free)(text.data);
        } else {
            snprintf(why, sizeof why, "its certificate is not trusted (status 0x%x)", status);
        }
    } else if (r == GNUTLS_E_NO_CERTIFICATE_FOUND || r == GNUTLS_E_CERTIFICATE_REQUIRED) {
        snprintf(why, sizeof why, "it sent no certificate (%s)",
                 t->role == MIGRATION_TLS_RECEIVER
                     ? "a receiver with tls_dir requires one, signed by the CA of its "
                       MIGRATION_TLS_CA
                     : "expected " MIGRATION_TLS_SERVER_CERT);
    } else if (r == GNUTLS_E_FATAL_ALERT_RECEIVED) {
        gnutls_alert_description_t a = t->api.gnutls_alert_get(t->session);
        bool cert = a == GNUTLS_A_BAD_CERTIFICATE || a == GNUTLS_A_UNSUPPORTED_CERTIFICATE ||
                    a == GNUTLS_A_CERTIFICATE_REVOKED || a == GNUTLS_A_CERTIFICATE_EXPIRED ||
                    a == GNUTLS_A_CERTIFICATE_UNKNOWN || a == GNUTLS_A_UNKNOWN_CA ||
                    a == GNUTLS_A_CERTIFICATE_REQUIRED || a == GNUTLS_A_ACCESS_DENIED;
        snprintf(why, sizeof why, "it refused %s (alert: %s)",
                 cert ? "this side's certificate" : "the TLS session",
                 t->api.gnutls_alert_get_name(a));
    } else if (r == GNUTLS_E_PREMATURE_TERMINATION || r == 0 ||
               ((r == GNUTLS_E_PUSH_ERROR || r == GNUTLS_E_PULL_ERROR) &&
                peer_closed(t->io_errno))) {
        snprintf(why, sizeof why, "connection closed by the peer (%s)",
                 t->established ? "after the handshake: did it refuse this side's certificate?"
                                : "a kvmbox without tls_dir closes on a TLS hello");
    } else if (t->nfirst && t->first[0] != 0x16 && t->first[0] != 0x15) {
        /* A TLS peer begins with a handshake (22) or an alert (21) record. */
        snprintf(why, sizeof why, "it does not speak TLS");
    } else {
        describe(t, r, why, sizeof why);
    }
    snprintf(err, errlen, "TLS handshake with the %s: %s", peer, why);
}

/* Waits for what the session wants until the deadline; -1 with err. */
static int wait_session(struct migration_tls *t, int64_t deadline, int timeout_ms, char *err,
                        size_t errlen)
{
    struct pollfd p = {.fd = t->fd, .events = direction(t)};
    int r;
    while ((r = poll(&p, 1, poll_ms_left(deadline))) < 0 && errno == EINTR)
        ;
    if (r > 0)
        return 0;
    if (r == 0)
        snprintf(err, errlen, "TLS handshake with the %s: nothing from it for %d ms (stalled)",
                 t->role == MIGRATION_TLS_SENDER ? "receiver" : "sender", timeout_ms);
    else
        snprintf(err, errlen, "TLS handshake: %s", log_strerror(errno));
    return -1;
}

/* dir/name, checked readable first: GnuTLS's own word for a missing file
 * names neither the file nor the reason. */
static int file_path(const char *dir, const char *name, char *path, size_t size, char *err,
                     size_t errlen)
{
    if ((size_t)snprintf(path, size, "%s/%s", dir, name) >= size) {
        snprintf(err, errlen, "tls_dir %s: the path is too long", dir);
        return -1;
    }
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        char what[128];
        snprintf(what, sizeof what, "%s", log_strerror(errno));
        what[0] = (char)tolower((unsigned char)what[0]);
        snprintf(err, errlen, "tls_dir %s: %s: %s", dir, name, what);
        return -1;
    }
    close(fd);
    return 0;
}

static int load_credentials(struct migration_tls *t, const char *dir, char *err, size_t errlen)
{
    const char *cert_name = t->role == MIGRATION_TLS_SENDER ? MIGRATION_TLS_CLIENT_CERT
                                                            : MIGRATION_TLS_SERVER_CERT;
    const char *key_name = t->role == MIGRATION_TLS_SENDER ? MIGRATION_TLS_CLIENT_KEY
                                                           : MIGRATION_TLS_SERVER_KEY;
    char ca[PATH_MAX], cert[PATH_MAX], key[PATH_MAX];
    if (file_path(dir, MIGRATION_TLS_CA, ca, sizeof ca, err, errlen) < 0 ||
        file_path(dir, cert_name, cert, sizeof cert, err, errlen) < 0 ||
        file_path(dir, key_name, key, sizeof key, err, errlen) < 0)
        return -1;
    int r = t->api.gnutls_certificate_allocate_credentials(&t->cred);
    if (r < 0) {
        snprintf(err, errlen, "tls_dir %s: %s", dir, t->api.gnutls_strerror(r));
        return -1;
    }
    r = t->api.gnutls_certificate_set_x509_trust_file(t->cred, ca, GNUTLS_X509_FMT_PEM);
    if (r <= 0) {
        snprintf(err, errlen, "tls_dir %s: %s: %s", dir, MIGRATION_TLS_CA,
                 r == 0 ? "no certificate in it" : t->api.gnutls_strerror(r));
        return -1;
    }
    r = t->api.gnutls_certificate_set_x509_key_file(t->cred, cert, key, GNUTLS_X509_FMT_PEM);
    if (r < 0) {
        snprintf(err, errlen, "tls_dir %s: %s and %s: %s", dir, cert_name, key_name,
                 t->api.gnutls_strerror(r));
        return -1;
    }
    return 0;
}

static int new_session(struct migration_tls *t, const char *peer_host, char *err, size_t errlen)
{
    bool sender = t->role == MIGRATION_TLS_SENDER;
    int r = t->api.gnutls_init(&t->session, (sender ? GNUTLS_CLIENT : GNUTLS_SERVER) |
                               GNUTLS_NONBLOCK | GNUTLS_NO_TICKETS);
    if (r < 0) {
        t->session = NULL;
        snprintf(err, errlen, "TLS: %s", t->api.gnutls_strerror(r));
        return -1;
    }
    if ((r = t->api.gnutls_set_default_priority(t->session)) < 0 ||
        (r = t->api.gnutls_credentials_set(t->session, GNUTLS_CRD_CERTIFICATE, t->cred)) < 0) {
        snprintf(err, errlen, "TLS: %s", t->api.gnutls_strerror(r));
        return -1;
    }
    /* Mutual: the receiver takes no sender without a certificate from
     * its CA; the sender checks the receiver's chain and name. Both are
     * checked inside the handshake, which fails with the reason. */
    if (!sender) {
        t->api.gnutls_certificate_server_set_request(t->session, GNUTLS_CERT_REQUIRE);
        /* Not naming the CA it wants: a sender holding a certificate from
         * another CA sends it anyway (rather than none), and the refusal
         * says "issuer is unknown". */
        t->api.gnutls_certificate_send_x509_rdn_sequence(t->session, 1);
    }
    t->api.gnutls_session_set_verify_cert(t->session, sender ? peer_host : NULL, 0);
    t->api.gnutls_transport_set_ptr(t->session, t);
    t->api.gnutls_transport_set_push_function(t->session, push);
    t->api.gnutls_transport_set_vec_push_function(t->session, push_vec);
    t->api.gnutls_transport_set_pull_function(t->session, pull);
    t->api.gnutls_transport_set_pull_timeout_function(t->session, pull_timeout);
    /* The time-out is ours (wait_session): GnuTLS's own would wait in
     * pull_timeout, blocking. */
    t->api.gnutls_handshake_set_timeout(t->session, 0);
    return 0;
}

static int handshake(struct migration_tls *t, int64_t deadline, int timeout_ms, char *err,
                     size_t errlen)
{
    for (;;) {
        int r = t->api.gnutls_handshake(t->session);
        if (r == 0) {
            t->established = true;
            return 0;
        }
        if (r == GNUTLS_E_AGAIN || !t->api.gnutls_error_is_fatal(r)) {
            if (r == GNUTLS_E_AGAIN && wait_session(t, deadline, timeout_ms, err, errlen) < 0)
                return -1;
            continue;
        }
        describe_start(t, r, err, errlen);
        /* The peer learns why (bad certificate, unknown CA), if it listens
         * -- in TLS, which a peer without it would take for its stream. */
        if (!plaintext_peer(t))
            t->api.gnutls_alert_send_appropriate(t->session, r);
        return -1;
    }
}

/* The receiver's word that it takes the sender's certificate (see the
 * header), sent and awaited within the deadline. */
static int accept_byte(struct migration_tls *t, int64_t deadline, int timeout_ms, char *err,
                       size_t errlen)
{
    uint8_t b = MIGRATION_TLS_ACCEPTED;
    for (;;) {
        ssize_t r = t->role == MIGRATION_TLS_RECEIVER
                        ? t->api.gnutls_record_send(t->session, &b, 1)
                        : t->api.gnutls_record_recv(t->session, &b, 1);
        if (r == 1)
            break;
        if (r == GNUTLS_E_AGAIN || (r < 0 && !t->api.gnutls_error_is_fatal((int)r))) {
            if (r == GNUTLS_E_AGAIN && wait_session(t, deadline, timeout_ms, err, errlen) < 0)
                return -1;
            continue;
        }
        describe_start(t, (int)r, err, errlen);
        return -1;
    }
    if (b != MIGRATION_TLS_ACCEPTED) {
        snprintf(err, errlen, "TLS handshake with the receiver: it answered 0x%02x, not a kvmbox "
                 "receiver's 0x%02x", b, MIGRATION_TLS_ACCEPTED);
        return -1;
    }
    return 0;
}

int migration_tls_start(int fd, enum migration_tls_role role, const char *dir,
                        const char *peer_host, int timeout_ms, struct migration_tls **out,
                        char *err, size_t errlen)
{
    struct migration_tls *t = calloc(1, sizeof *t);
    if (!t) {
        snprintf(err, errlen, "out of memory for a TLS session");
        return -1;
    }
    t->fd = fd;
    t->role = role;
    snprintf(t->peer_host, sizeof t->peer_host, "%s", peer_host ? peer_host : "");
    int64_t deadline = timeout_ms < 0 ? -1 : monotonic_ms() + timeout_ms;
    if (api_load(&t->api, err, errlen) < 0) {
        free(t);
        return -1;
    }
    if (load_credentials(t, dir, err, errlen) < 0 || new_session(t, peer_host, err, errlen) < 0 ||
        handshake(t, deadline, timeout_ms, err, errlen) < 0 ||
        accept_byte(t, deadline, timeout_ms, err, errlen) < 0) {
        bool plaintext = plaintext_peer(t);
        migration_tls_end(t);
        return plaintext ? MIGRATION_TLS_PLAINTEXT_PEER : -1;
    }
    *out = t;
    return 0;
}

/* The outcome of a record call: bytes, AGAIN with *events, or -1. `wait`
 * is what the call waits for, not gnutls_record_get_direction's word: the
 * other direction's thread may have changed that meanwhile. (Only a key
 * update would make a receive write; kvmbox asks for none.) */
static ssize_t io_result(struct migration_tls *t, ssize_t r, short wait, short *events,
                         char *err, size_t errlen)
{
    if (r >= 0)
        return r;
    if (r == GNUTLS_E_AGAIN || !t->api.gnutls_error_is_fatal((int)r)) {
        /* Not fatal (interrupted, a warning alert): poll says at once. */
        *events = r == GNUTLS_E_AGAIN ? wait : (short)(POLLIN | POLLOUT);
        return MIGRATION_TLS_AGAIN;
    }
    describe(t, (int)r, err, errlen);
    return -1;
}

ssize_t migration_tls_send(struct migration_tls *t, const struct iovec *iov, int n,
                           short *events, char *err, size_t errlen)
{
    const void *p = iov[0].iov_base;
    size_t len = iov[0].iov_len;
    if (len < RECORD_MAX) {
        /* Gathered the same way again after AGAIN: the same bytes, as
         * GnuTLS wants them. */
        len = 0;
        for (int i = 0; i < n && len < RECORD_MAX; i++) {
            size_t k = iov[i].iov_len < RECORD_MAX - len ? iov[i].iov_len : RECORD_MAX - len;
            memcpy(t->stage + len, iov[i].iov_base, k);
            len += k;
        }
        p = t->stage;
    }
    return io_result(t, t->api.gnutls_record_send(t->session, p, len), POLLOUT, events, err,
                     errlen);
}

ssize_t migration_tls_recv(struct migration_tls *t, void *buf, size_t len, short *events,
                           char *err, size_t errlen)
{
    ssize_t r = t->api.gnutls_record_recv(t->session, buf, len);
    if (r == GNUTLS_E_PREMATURE_TERMINATION ||
        ((r == GNUTLS_E_PULL_ERROR || r == GNUTLS_E_PUSH_ERROR) && peer_closed(t->io_errno)))
        return 0;    /* closed, as a plain socket says it */
    return io_result(t, r, POLLIN, events, err, errlen);
}

void migration_tls_end(struct migration_tls *t)
{
    if (!t)
        return;
    if (t->session && t->established) {
        /* One try: a peer that takes nothing now gets no goodbye. */
        t->api.gnutls_bye(t->session, GNUTLS_SHUT_WR);
    }
    if (t->session)
        t->api.gnutls_deinit(t->session);
    if (t->cred)
        t->api.gnutls_certificate_free_credentials(t->cred);
    if (t->api.lib)
        dlclose(t->api.lib);
    free(t);
}
