#include "api/api_socket.h"
#include "util/log.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#define API_BACKLOG 16

static int take_fd(struct api_socket *s, int fd, char *err, size_t errlen)
{
    int type = 0;
    socklen_t len = sizeof type;
    if (getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &len) < 0 || type != SOCK_STREAM) {
        snprintf(err, errlen, "--api-socket fd=%d: not a stream socket", fd);
        return -1;
    }
    /* Listening already, or bound and waiting for us to listen. */
    if (listen(fd, API_BACKLOG) < 0) {
        snprintf(err, errlen, "--api-socket fd=%d: %s", fd, log_strerror(errno));
        return -1;
    }
    fcntl(fd, F_SETFD, FD_CLOEXEC);
    s->fd = fd;
    return 0;
}

int api_socket_open(struct api_socket *s, const char *path, int fd, char *err, size_t errlen)
{
    memset(s, 0, sizeof *s);
    s->fd = s->lock_fd = s->dir_fd = -1;
    if (!path)
        return take_fd(s, fd, err, errlen);
    struct sockaddr_un a = { .sun_family = AF_UNIX };
    if (strlen(path) >= sizeof a.sun_path) {
        snprintf(err, errlen, "--api-socket %s: the path is longer than %zu characters", path,
                 sizeof a.sun_path - 1);
        return -1;
    }
    memcpy(a.sun_path, path, strlen(path) + 1);
    if (asprintf(&s->lock_path, "%s.lock", path) < 0) {
        s->lock_path = NULL;
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    s->lock_fd = open(s->lock_path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (s->lock_fd < 0) {
        snprintf(err, errlen, "--api-socket %s: cannot create %s: %s", path, s->lock_path,
                 log_strerror(errno));
        goto fail;
    }
    if (flock(s->lock_fd, LOCK_EX | LOCK_NB) < 0) {
        snprintf(err, errlen, "--api-socket %s: %s", path,
                 errno == EWOULDBLOCK ? "another kvmbox is serving this socket"
                                      : log_strerror(errno));
        close(s->lock_fd);
        s->lock_fd = -1;
        goto fail;
    }
    /* We hold the lock: whatever is at the path is a dead server's. Only a
     * socket is replaced, never a file someone mistyped the path of. */
    struct stat st;
    if (lstat(path, &st) == 0) {
        if (!S_ISSOCK(st.st_mode)) {
            snprintf(err, errlen, "--api-socket %s: exists and is not a socket", path);
            goto fail_locked;
        }
        unlink(path);
    }
    s->fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (s->fd < 0) {
        snprintf(err, errlen, "--api-socket %s: socket: %s", path, log_strerror(errno));
        goto fail_locked;
    }
    /* Mode 0600 from the start: no moment when others may connect. */
    mode_t old = umask(0177);
    int r = bind(s->fd, (struct sockaddr *)&a, sizeof a);
    umask(old);
    if (r < 0 || listen(s->fd, API_BACKLOG) < 0) {
        snprintf(err, errlen, "--api-socket %s: %s", path, log_strerror(errno));
        if (r == 0)
            unlink(path);
        close(s->fd);
        s->fd = -1;
        goto fail_locked;
    }
    s->path = strdup(path);
    char dir[sizeof a.sun_path];
    const char *slash = strrchr(path, '/');
    snprintf(dir, sizeof dir, "%.*s", slash ? (int)(slash - path) + 1 : 1, slash ? path : ".");
    s->dir_fd = open(dir, O_PATH | O_DIRECTORY | O_CLOEXEC);
    return 0;
fail_locked:
    unlink(s->lock_path);            /* ours: we hold it (another server's stays) */
    close(s->lock_fd);
    s->lock_fd = -1;
fail:
    free(s->lock_path);
    s->lock_path = NULL;
    return -1;
}

/* path, in the directory held (or by its path, if none is). */
static void remove_file(int dir_fd, const char *path)
{
    const char *slash = strrchr(path, '/');
    if (dir_fd >= 0)
        unlinkat(dir_fd, slash ? slash + 1 : path, 0);
    else
        unlink(path);
}

void api_socket_close(struct api_socket *s)
{
    if (s->path)
        remove_file(s->dir_fd, s->path);
    if (s->lock_path)
        remove_file(s->dir_fd, s->lock_path);
    if (s->dir_fd >= 0)
        close(s->dir_fd);
    s->dir_fd = -1;
    if (s->lock_fd >= 0)
        close(s->lock_fd);
    free(s->path);
    free(s->lock_path);
    s->path = s->lock_path = NULL;
    s->lock_fd = -1;
}
