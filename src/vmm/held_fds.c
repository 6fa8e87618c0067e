#include "vmm/held_fds.h"

#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

void held_fds_init(struct held_fds *h)
{
    memset(h, 0, sizeof *h);
    h->kvm_fd = -1;
}

static int dup_of(int fd)
{
    return fd < 0 ? -1 : fcntl(fd, F_DUPFD_CLOEXEC, 0);
}

void held_fds_open_kvm(struct held_fds *h, const char *path)
{
    if (h->kvm_fd < 0 && path)
        h->kvm_fd = open(path, O_RDWR | O_CLOEXEC);
}

int held_fds_kvm(const struct held_fds *h)
{
    return dup_of(h->kvm_fd);
}

static int find(const struct held_fds *h, enum held_kind kind, const char *name, int flags)
{
    for (unsigned i = 0; i < h->nfiles; i++)
        if (h->files[i].kind == kind && h->files[i].flags == flags &&
            !strcmp(h->files[i].name, name))
            return (int)i;
    return -1;
}

int held_fds_get(const struct held_fds *h, enum held_kind kind, const char *name, int flags)
{
    int i = find(h, kind, name, flags);
    return i < 0 ? -1 : dup_of(h->files[i].fd);
}

void held_fds_keep(struct held_fds *h, enum held_kind kind, const char *name, int flags, int fd)
{
    if (find(h, kind, name, flags) >= 0 || h->nfiles == HELD_FDS_MAX)
        return;
    char *copy = strdup(name);
    int kept = dup_of(fd);
    if (!copy || kept < 0) {
        free(copy);
        if (kept >= 0)
            close(kept);
        return;
    }
    h->files[h->nfiles].kind = kind;
    h->files[h->nfiles].name = copy;
    h->files[h->nfiles].flags = flags;
    h->files[h->nfiles++].fd = kept;
}

void held_fds_release_files(struct held_fds *h)
{
    for (unsigned i = 0; i < h->nfiles; i++) {
        close(h->files[i].fd);
        free(h->files[i].name);
    }
    h->nfiles = 0;
}

void held_fds_close(struct held_fds *h)
{
    held_fds_release_files(h);
    if (h->kvm_fd >= 0)
        close(h->kvm_fd);
    h->kvm_fd = -1;
}
