/* The API's Unix socket, as Cloud Hypervisor makes it: created mode 0600,
 * guarded by a lock file (PATH.lock, flock) so that a stale socket left by
 * a dead kvmbox is replaced safely and a second kvmbox on the same path
 * gets a clear error instead of stealing it. */
#ifndef KVMBOX_API_API_SOCKET_H
#define KVMBOX_API_API_SOCKET_H

#include <stddef.h>

struct api_socket {
    int fd;                  /* listening */
    int lock_fd;             /* PATH.lock, held while we serve; -1 with fd= */
    char *path, *lock_path;  /* NULL with fd= */
    /* The directory they are in, held: they are removed at the end even
     * when the path no longer leads there (--jail's new root). */
    int dir_fd;
};

/* Binds and listens on `path` (path != NULL) or takes over `fd` (a socket
 * already bound, as a supervisor passes it). Returns 0, or -1 with the
 * reason in err. */
int api_socket_open(struct api_socket *s, const char *path, int fd, char *err, size_t errlen);
/* Removes the socket and its lock file (when we made them). The listening
 * fd belongs to whoever took it over (the HTTP server closes it). */
void api_socket_close(struct api_socket *s);

#endif
