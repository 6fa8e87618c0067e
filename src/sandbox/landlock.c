#include "sandbox/landlock.h"
#include "util/log.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/landlock.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

/* Rights newer kernels know than Debian 12's headers do. */
#ifndef LANDLOCK_ACCESS_FS_TRUNCATE
#define LANDLOCK_ACCESS_FS_TRUNCATE (1ULL << 14)
#endif
#ifndef LANDLOCK_ACCESS_FS_IOCTL_DEV
#define LANDLOCK_ACCESS_FS_IOCTL_DEV (1ULL << 15)
#endif

/* The rights a file rule may carry; a directory's may carry all. */
#define FILE_READ (LANDLOCK_ACCESS_FS_READ_FILE | LANDLOCK_ACCESS_FS_EXECUTE)
#define FILE_WRITE (LANDLOCK_ACCESS_FS_WRITE_FILE | LANDLOCK_ACCESS_FS_TRUNCATE | \
                    LANDLOCK_ACCESS_FS_IOCTL_DEV)
#define DIR_READ (FILE_READ | LANDLOCK_ACCESS_FS_READ_DIR)
#define DIR_WRITE (FILE_WRITE | LANDLOCK_ACCESS_FS_REMOVE_DIR | LANDLOCK_ACCESS_FS_REMOVE_FILE | \
                   LANDLOCK_ACCESS_FS_MAKE_DIR | LANDLOCK_ACCESS_FS_MAKE_REG | \
                   LANDLOCK_ACCESS_FS_MAKE_SOCK | LANDLOCK_ACCESS_FS_REFER)

struct landlock_ruleset {
    int fd;
    uint64_t handled;       /* what this kernel's ABI restricts */
};

int landlock_rule_parse(const char *arg, char *path, size_t pathlen, unsigned *access, char *err,
                        size_t errlen)
{
    const char *p = NULL, *a = NULL;
    size_t plen = 0, alen = 0;
    if (!strncmp(arg, "path=", 5)) {
        /* path=PATH,access=A: the path runs to the last ",access=". */
        p = arg + 5;
        const char *cut = NULL;
        for (const char *s = p; (s = strstr(s, ",access=")); s++)
            cut = s;
        if (cut) {
            plen = (size_t)(cut - p);
            a = cut + 8;
            alen = strlen(a);
        }
    } else if (!strncmp(arg, "access=", 7)) {
        a = arg + 7;
        const char *comma = strchr(a, ',');
        if (comma && !strncmp(comma, ",path=", 6)) {
            alen = (size_t)(comma - a);
            p = comma + 6;
            plen = strlen(p);
        }
    }
    if (!p || !a) {
        snprintf(err, errlen, "--landlock-rules '%s': expected path=PATH,access=r|w|rw", arg);
        return -1;
    }
    if (!plen || plen >= pathlen || memchr(p, '\0', plen)) {
        snprintf(err, errlen, "--landlock-rules '%s': %s path", arg, plen ? "too long a" : "an empty");
        return -1;
    }
    if ((alen == 1 && *a == 'r') || (alen == 1 && *a == 'w') || (alen == 2 && !strncmp(a, "rw", 2))) {
        *access = (a[0] == 'r' ? LANDLOCK_READ : 0) | (a[alen - 1] == 'w' ? LANDLOCK_WRITE : 0);
    } else {
        snprintf(err, errlen, "--landlock-rules '%s': access is r, w or rw", arg);
        return -1;
    }
    memcpy(path, p, plen);
    path[plen] = '\0';
    return 0;
}

struct landlock_ruleset *landlock_ruleset_new(bool *missing, char *err, size_t errlen)
{
    *missing = false;
    long abi = syscall(SYS_landlock_create_ruleset, NULL, 0, LANDLOCK_CREATE_RULESET_VERSION);
    if (abi < 1) {
        *missing = errno == ENOSYS || errno == EOPNOTSUPP;
        snprintf(err, errlen, "Landlock: %s", *missing ? "this kernel does not offer it"
                                                       : log_strerror(errno));
        return NULL;
    }
    /* Each ABI handles the rights of the ones before and its own. */
    uint64_t handled = DIR_READ | DIR_WRITE | LANDLOCK_ACCESS_FS_MAKE_CHAR |
                       LANDLOCK_ACCESS_FS_MAKE_FIFO | LANDLOCK_ACCESS_FS_MAKE_BLOCK |
                       LANDLOCK_ACCESS_FS_MAKE_SYM;
    if (abi < 2)
        handled &= ~(uint64_t)LANDLOCK_ACCESS_FS_REFER;
    if (abi < 3)
        handled &= ~(uint64_t)LANDLOCK_ACCESS_FS_TRUNCATE;
    if (abi < 5)
        handled &= ~(uint64_t)LANDLOCK_ACCESS_FS_IOCTL_DEV;
    struct landlock_ruleset_attr attr = { .handled_access_fs = handled };
    struct landlock_ruleset *r = malloc(sizeof *r);
    if (!r) {
        snprintf(err, errlen, "Landlock: out of memory");
        return NULL;
    }
    r->handled = handled;
    r->fd = (int)syscall(SYS_landlock_create_ruleset, &attr, sizeof attr, 0);
    if (r->fd < 0) {
        snprintf(err, errlen, "Landlock: cannot make a ruleset: %s", log_strerror(errno));
        free(r);
        return NULL;
    }
    return r;
}

int landlock_allow(struct landlock_ruleset *r, const char *path, unsigned access, char *err,
                   size_t errlen)
{
    int fd = open(path, O_PATH | O_CLOEXEC);
    if (fd < 0) {
        if (errno == ENOENT)
            return 0;
        snprintf(err, errlen, "Landlock: %s: %s", path, log_strerror(errno));
        return -1;
    }
    struct stat st;
    bool dir = fstat(fd, &st) == 0 && S_ISDIR(st.st_mode);
    uint64_t allowed = ((access & LANDLOCK_READ) ? (dir ? DIR_READ : FILE_READ) : 0) |
                       ((access & LANDLOCK_WRITE) ? (dir ? DIR_WRITE : FILE_WRITE) : 0);
    struct landlock_path_beneath_attr rule = {
        .allowed_access = allowed & r->handled, .parent_fd = fd,
    };
    int ret = 0;
    if (rule.allowed_access &&
        syscall(SYS_landlock_add_rule, r->fd, LANDLOCK_RULE_PATH_BENEATH, &rule, 0) < 0) {
        snprintf(err, errlen, "Landlock: %s: %s", path, log_strerror(errno));
        ret = -1;
    }
    close(fd);
    return ret;
}

int landlock_enter(const struct landlock_ruleset *r, char *err, size_t errlen)
{
    if (syscall(SYS_landlock_restrict_self, r->fd, 0) < 0) {
        snprintf(err, errlen, "Landlock: %s", log_strerror(errno));
        return -1;
    }
    return 0;
}

void landlock_ruleset_free(struct landlock_ruleset *r)
{
    if (!r)
        return;
    close(r->fd);
    free(r);
}
