/* Where a migration goes: Cloud Hypervisor's URL forms, `tcp:HOST:PORT`
 * (HOST a name, an IPv4 address or a bracketed IPv6 one; 0.0.0.0 or an
 * empty HOST to listen on every address) and `unix:/path`. The receiver
 * listens and accepts one connection; the sender connects. Every socket
 * is SOCK_CLOEXEC and blocking (migration_stream.c waits with poll). */
#ifndef KVMBOX_MIGRATION_MIGRATION_URL_H
#define KVMBOX_MIGRATION_MIGRATION_URL_H

#include <stddef.h>

enum migration_url_kind { MIGRATION_URL_TCP, MIGRATION_URL_UNIX };

struct migration_url {
    enum migration_url_kind kind;
    char host[256];     /* tcp: without brackets; "" means every address */
    char port[8];       /* tcp: decimal, 1..65535 */
    char path[108];     /* unix: fits sockaddr_un's sun_path with its NUL */
};

/* Every function returns 0, or -1 with one line in err that starts with
 * the URL ("tcp:host:7000: connection refused"). */

/* Parses a URL; pure. */
int migration_url_parse(const char *url, struct migration_url *out, char *err, size_t errlen);

/* Binds and listens. tcp: every address HOST resolves to is tried in
 * turn, with SO_REUSEADDR (a receiver restarted at once gets its port
 * back). unix: the socket is created mode 0600; a stale socket at the
 * path (nobody accepts on it) is replaced, a live one or anything that is
 * not a socket is refused. */
int migration_listen(const char *url, int *listen_fd, char *err, size_t errlen);

/* Waits up to timeout_ms (< 0: for ever) for one connection; TCP_NODELAY
 * is set on a TCP one. Interrupted by shutdown(listen_fd) from another
 * thread (an error: "stopped"). */
int migration_accept(int listen_fd, int timeout_ms, int *fd, char *err, size_t errlen);

/* Connects, trying each address the name resolves to until timeout_ms
 * (< 0: the kernel's own time-outs) has passed; TCP_NODELAY on TCP. */
int migration_connect(const char *url, int timeout_ms, int *fd, char *err, size_t errlen);

#endif
