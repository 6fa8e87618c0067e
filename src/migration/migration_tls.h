/* TLS under the migration stream (tls_dir): encryption and mutual
 * authentication between the two kvmboxes, with GnuTLS.
 *
 * tls_dir holds PEM files with fixed names, as Cloud Hypervisor's and
 * QEMU's: the receiver (TLS server) reads ca-cert.pem, server-cert.pem
 * and server-key.pem, the sender (TLS client) ca-cert.pem,
 * client-cert.pem and client-key.pem; one directory with all five serves
 * both. Each side accepts only a peer whose certificate chains to its
 * ca-cert.pem: the receiver requires a client certificate, and the sender
 * also checks that the receiver's certificate names the host it connected
 * to (tcp:HOST:PORT's HOST, a DNS name or an IP address in
 * subjectAltName). After the handshake the receiver sends one byte, 'K'
 * (MIGRATION_TLS_ACCEPTED): with TLS 1.3 the sender's handshake ends before
 * the receiver has judged its certificate, so this is how a refused sender
 * learns it then, with the reason, rather than at its first message.
 *
 * libgnutls is loaded with dlopen when a migration uses TLS, not linked:
 * linked, it and its libraries (nettle, gmp, p11-kit, ...) added 2.5 MiB
 * to the resident memory of every kvmbox, whose VMM is under 2 MiB.
 *
 * Nothing here blocks: the socket is used with MSG_DONTWAIT and the
 * caller waits with poll for the events a call asks for. One thread may
 * send while another receives (GnuTLS allows one of each). */
#ifndef KVMBOX_MIGRATION_MIGRATION_TLS_H
#define KVMBOX_MIGRATION_MIGRATION_TLS_H

#include <stddef.h>
#include <sys/types.h>
#include <sys/uio.h>

#define MIGRATION_TLS_CA "ca-cert.pem"
#define MIGRATION_TLS_SERVER_CERT "server-cert.pem"
#define MIGRATION_TLS_SERVER_KEY "server-key.pem"
#define MIGRATION_TLS_CLIENT_CERT "client-cert.pem"
#define MIGRATION_TLS_CLIENT_KEY "client-key.pem"
#define MIGRATION_TLS_ACCEPTED 'K'

/* Returned by send and recv: nothing can move now; poll for *events. */
#define MIGRATION_TLS_AGAIN (-2)
/* Returned by migration_tls_start: the peer began a plaintext migration
 * stream (it has no tls_dir); err says so too. */
#define MIGRATION_TLS_PLAINTEXT_PEER (-3)

enum migration_tls_role {
    MIGRATION_TLS_SENDER,     /* the TLS client: connects, sends the VM */
    MIGRATION_TLS_RECEIVER,   /* the TLS server: accepts, receives it */
};

struct migration_tls;

/* Loads the role's files from dir, runs the handshake on fd (connected;
 * not taken: the caller closes it after migration_tls_end) and checks the
 * peer's certificate, all within timeout_ms (< 0: no limit). peer_host:
 * for the sender, the name the receiver's certificate must carry (NULL:
 * the chain alone is checked, as for a unix: socket). 0 and *out, or -1
 * with one line in err naming the file or the reason ("tls_dir /d:
 * client-key.pem: no such file or directory", "the receiver's certificate
 * is not trusted: ...") -- MIGRATION_TLS_PLAINTEXT_PEER instead of -1 for
 * a peer without TLS. */
int migration_tls_start(int fd, enum migration_tls_role role, const char *dir,
                        const char *peer_host, int timeout_ms, struct migration_tls **out,
                        char *err, size_t errlen);

/* Sends from the n parts of iov (at least one byte): the bytes sent (a
 * TLS record's worth at most: the caller loops), MIGRATION_TLS_AGAIN with
 * *events to wait for, or -1 with err ("connection closed by the peer"
 * when it is gone). After AGAIN, call again with the same bytes. */
ssize_t migration_tls_send(struct migration_tls *t, const struct iovec *iov, int n,
                           short *events, char *err, size_t errlen);
/* Receives up to len bytes: the bytes, 0 when the peer has closed the
 * connection, MIGRATION_TLS_AGAIN with *events, or -1 with err. */
ssize_t migration_tls_recv(struct migration_tls *t, void *buf, size_t len, short *events,
                           char *err, size_t errlen);

/* Says goodbye (close_notify, if the socket takes it at once) and frees
 * everything but the fd. NULL is fine. */
void migration_tls_end(struct migration_tls *t);

#endif
