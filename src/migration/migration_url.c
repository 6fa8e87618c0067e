/* Migration URLs and their sockets (migration_url.h). */
#include "migration/migration_url.h"

#include "util/deadline.h"
#include "util/log.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

/* strerror's text as the rest of a message: "connection refused". */
static void put_errno(char *err, size_t errlen, const char *url, int e)
{
    char what[128];
    snprintf(what, sizeof what, "%s", log_strerror(e));
    what[0] = (char)tolower((unsigned char)what[0]);
    snprintf(err, errlen, "%s: %s", url, what);
}

int migration_url_parse(const char *url, struct migration_url *out, char *err, size_t errlen)
{
    memset(out, 0, sizeof *out);
    if (strncmp(url, "unix:", 5) == 0) {
        const char *path = url + 5;
        size_t n = strlen(path);
        if (n == 0) {
            snprintf(err, errlen, "%s: expected unix:/path", url);
            return -1;
        }
        if (n >= sizeof out->path) {
            snprintf(err, errlen, "%s: the path is longer than %zu bytes", url,
                     sizeof out->path - 1);
            return -1;
        }
        out->kind = MIGRATION_URL_UNIX;
        memcpy(out->path, path, n + 1);
        return 0;
    }
    if (strncmp(url, "tcp:", 4) != 0) {
        snprintf(err, errlen, "%s: expected tcp:HOST:PORT or unix:/path", url);
        return -1;
    }
    const char *host = url + 4, *host_end, *colon;
    if (host[0] == '[') {
        /* [v6]:PORT: the address's own colons are inside the brackets. */
        host++;
        host_end = strchr(host, ']');
        if (!host_end || host_end[1] != ':') {
            snprintf(err, errlen, "%s: expected tcp:[IPV6]:PORT", url);
            return -1;
        }
        colon = host_end + 1;
    } else {
        colon = strrchr(host, ':');
        if (!colon) {
            snprintf(err, errlen, "%s: expected tcp:HOST:PORT", url);
            return -1;
        }
        host_end = colon;
        if (memchr(host, ':', (size_t)(host_end - host))) {
            snprintf(err, errlen, "%s: an IPv6 address goes in brackets: tcp:[ADDR]:PORT", url);
            return -1;
        }
    }
    size_t hlen = (size_t)(host_end - host);
    if (hlen >= sizeof out->host) {
        snprintf(err, errlen, "%s: the host name is too long", url);
        return -1;
    }
    const char *port = colon + 1;
    unsigned long v = 0;
    size_t plen = strlen(port);
    bool digits = plen > 0 && plen <= 5;
    for (size_t i = 0; digits && i < plen; i++)
        digits = port[i] >= '0' && port[i] <= '9';
    if (digits)
        v = strtoul(port, NULL, 10);
    if (!digits || v == 0 || v > 65535) {
        snprintf(err, errlen, "%s: the port must be a number from 1 to 65535", url);
        return -1;
    }
    out->kind = MIGRATION_URL_TCP;
    memcpy(out->host, host, hlen);
    out->host[hlen] = '\0';
    snprintf(out->port, sizeof out->port, "%lu", v);
    return 0;
}

static void set_nodelay(int fd)
{
    /* Small control messages (HELLO, DIGEST, COMPLETE) must not wait for
     * Nagle: they are on the switch-over's critical path. */
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
}

static void unix_addr(const struct migration_url *u, struct sockaddr_un *a)
{
    memset(a, 0, sizeof *a);
    a->sun_family = AF_UNIX;
    memcpy(a->sun_path, u->path, strlen(u->path) + 1);
}

static int resolve(const char *url, const struct migration_url *u, bool passive,
                   struct addrinfo **res, char *err, size_t errlen)
{
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM,
                             .ai_flags = AI_NUMERICSERV | (passive ? AI_PASSIVE : 0)};
    if (!passive && !u->host[0]) {
        snprintf(err, errlen, "%s: a host to connect to is needed", url);
        return -1;
    }
    int r = getaddrinfo(u->host[0] ? u->host : NULL, u->port, &hints, res);
    if (r != 0) {
        snprintf(err, errlen, "%s: %s", url, r == EAI_SYSTEM ? log_strerror(errno) : gai_strerror(r));
        return -1;
    }
    return 0;
}

static int listen_unix(const char *url, const struct migration_url *u, int *listen_fd, char *err,
                       size_t errlen)
{
    struct sockaddr_un a;
    unix_addr(u, &a);
    struct stat st;
    if (lstat(u->path, &st) == 0) {
        /* Only a socket is replaced, never a file someone mistyped the
         * path of; and only a dead one: connecting tells. */
        if (!S_ISSOCK(st.st_mode)) {
            snprintf(err, errlen, "%s: exists and is not a socket", url);
            return -1;
        }
        int probe = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (probe >= 0 && connect(probe, (struct sockaddr *)&a, sizeof a) == 0) {
            close(probe);
            snprintf(err, errlen, "%s: another process is listening on this socket", url);
            return -1;
        }
        if (probe >= 0)
            close(probe);
        unlink(u->path);
    }
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        put_errno(err, errlen, url, errno);
        return -1;
    }
    /* Mode 0600 from the start, as the API socket: no moment when others
     * may connect and feed the receiver. */
    mode_t old = umask(0177);
    int r = bind(fd, (struct sockaddr *)&a, sizeof a);
    umask(old);
    if (r < 0 || listen(fd, 1) < 0) {
        int e = errno;
        if (r == 0)
            unlink(u->path);
        close(fd);
        put_errno(err, errlen, url, e);
        return -1;
    }
    *listen_fd = fd;
    return 0;
}

static int listen_tcp(const char *url, const struct migration_url *u, int *listen_fd, char *err,
                      size_t errlen)
{
    struct addrinfo *res;
    if (resolve(url, u, true, &res, err, errlen) < 0)
        return -1;
    int e = EADDRNOTAVAIL;
    for (struct addrinfo *ai = res; ai; ai = ai->ai_next) {
        int fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC, ai->ai_protocol);
        if (fd < 0) {
            e = errno;
            continue;
        }
        int one = 1;
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
        if (bind(fd, ai->ai_addr, ai->ai_addrlen) == 0 && listen(fd, 1) == 0) {
            freeaddrinfo(res);
            *listen_fd = fd;
            return 0;
        }
        e = errno;
        close(fd);
    }
    freeaddrinfo(res);
    put_errno(err, errlen, url, e);
    return -1;
}

int migration_listen(const char *url, int *listen_fd, char *err, size_t errlen)
{
    struct migration_url u;
    if (migration_url_parse(url, &u, err, errlen) < 0)
        return -1;
    return u.kind == MIGRATION_URL_UNIX ? listen_unix(url, &u, listen_fd, err, errlen)
                                        : listen_tcp(url, &u, listen_fd, err, errlen);
}

int migration_accept(int listen_fd, int timeout_ms, int *fd, char *err, size_t errlen)
{
    struct pollfd p = {.fd = listen_fd, .events = POLLIN};
    int64_t deadline = timeout_ms < 0 ? -1 : monotonic_ms() + timeout_ms;
    for (;;) {
        int r = poll(&p, 1, poll_ms_left(deadline));
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0) {
            snprintf(err, errlen, "accept: %s", log_strerror(errno));
            return -1;
        }
        if (r == 0) {
            snprintf(err, errlen, "no migration connection within %d ms", timeout_ms);
            return -1;
        }
        int c = accept4(listen_fd, NULL, NULL, SOCK_CLOEXEC);
        if (c >= 0) {
            struct sockaddr_storage ss;
            socklen_t sl = sizeof ss;
            if (getsockname(c, (struct sockaddr *)&ss, &sl) == 0 && ss.ss_family != AF_UNIX)
                set_nodelay(c);
            *fd = c;
            return 0;
        }
        if (errno == EINTR || errno == EAGAIN || errno == ECONNABORTED)
            continue;
        /* shutdown() of the listening socket by another thread. */
        snprintf(err, errlen, "accept: %s", errno == EINVAL ? "stopped" : log_strerror(errno));
        return -1;
    }
}

/* A non-blocking connect, waited for with poll, then blocking again. */
static int connect_one(const struct sockaddr *sa, socklen_t len, int family, int64_t deadline,
                       int *fd)
{
    int s = socket(family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (s < 0)
        return errno;
    int e = 0;
    if (connect(s, sa, len) < 0) {
        e = errno;
        if (e == EINPROGRESS) {
            struct pollfd p = {.fd = s, .events = POLLOUT};
            int r;
            while ((r = poll(&p, 1, poll_ms_left(deadline))) < 0 && errno == EINTR)
                ;
            socklen_t el = sizeof e;
            if (r == 0)
                e = ETIMEDOUT;
            else if (r < 0)
                e = errno;
            else if (getsockopt(s, SOL_SOCKET, SO_ERROR, &e, &el) < 0)
                e = errno;
        }
    }
    if (e) {
        close(s);
        return e;
    }
    fcntl(s, F_SETFL, fcntl(s, F_GETFL) & ~O_NONBLOCK);
    *fd = s;
    return 0;
}

int migration_connect(const char *url, int timeout_ms, int *fd, char *err, size_t errlen)
{
    struct migration_url u;
    if (migration_url_parse(url, &u, err, errlen) < 0)
        return -1;
    int64_t deadline = timeout_ms < 0 ? -1 : monotonic_ms() + timeout_ms;
    if (u.kind == MIGRATION_URL_UNIX) {
        struct sockaddr_un a;
        unix_addr(&u, &a);
        int e = connect_one((struct sockaddr *)&a, sizeof a, AF_UNIX, deadline, fd);
        if (e)
            put_errno(err, errlen, url, e);
        return e ? -1 : 0;
    }
    struct addrinfo *res;
    if (resolve(url, &u, false, &res, err, errlen) < 0)
        return -1;
    int e = EADDRNOTAVAIL;
    for (struct addrinfo *ai = res; ai; ai = ai->ai_next) {
        e = connect_one(ai->ai_addr, ai->ai_addrlen, ai->ai_family, deadline, fd);
        if (!e) {
            set_nodelay(*fd);
            break;
        }
        if (e == ETIMEDOUT)
            break;
    }
    freeaddrinfo(res);
    if (e) {
        if (e == ETIMEDOUT)
            snprintf(err, errlen, "%s: no connection within %d ms", url, timeout_ms);
        else
            put_errno(err, errlen, url, e);
        return -1;
    }
    return 0;
}
