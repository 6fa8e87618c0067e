/* What the VMM opened while it still could, kept for every VM it builds
 * afterwards: /dev/kvm (root's alone on many hosts), and each TAP, disk,
 * kernel and initrd a VM was given (attaching to a TAP takes
 * CAP_NET_ADMIN unless it was made for kvmbox's user; a file may be
 * root's, or in a directory only root may enter). A reboot builds a
 * fresh VM from the configuration, and a VMM that has dropped its
 * privileges (sandbox/privileges.h) could not open these again. A VM
 * takes dups. Main thread only. */
#ifndef KVMBOX_VMM_HELD_FDS_H
#define KVMBOX_VMM_HELD_FDS_H

#include "core/config.h"

#define HELD_FDS_MAX (CONFIG_MAX_DISKS + CONFIG_MAX_NETS + 1 + CONFIG_MAX_INITRDS)

enum held_kind { HELD_TAP, HELD_DISK, HELD_IMAGE };

struct held_fds {
    int kvm_fd;                                   /* -1: none */
    struct {
        enum held_kind kind;
        char *name;             /* the TAP's interface, the file's path */
        int flags;              /* how it was opened (a disk's O_RDONLY, O_DIRECT) */
        int fd;
    } files[HELD_FDS_MAX];
    unsigned nfiles;
};

void held_fds_init(struct held_fds *h);
/* Opens path (/dev/kvm) to hold, unless one is held; a failure is left
 * for the VM's own open to report. */
void held_fds_open_kvm(struct held_fds *h, const char *path);
/* A dup of what is held (-1: nothing held, or no descriptor left). */
int held_fds_kvm(const struct held_fds *h);
int held_fds_get(const struct held_fds *h, enum held_kind kind, const char *name, int flags);
/* Keeps a dup of fd (nothing when the same is held already). */
void held_fds_keep(struct held_fds *h, enum held_kind kind, const char *name, int flags, int fd);
/* The TAPs and files let go (the VM's configuration is gone). */
void held_fds_release_files(struct held_fds *h);
void held_fds_close(struct held_fds *h);

#endif
