#include "sandbox/privileges.h"
#include "util/log.h"

#include <errno.h>
#include <grp.h>
#include <limits.h>
#include <linux/capability.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

/* A decimal id, or -1 when s is not one. */
static long long parse_id(const char *s)
{
    if (!*s || strspn(s, "0123456789") != strlen(s) || strlen(s) > 10)
        return -1;
    long long v = strtoll(s, NULL, 10);
    return v < UINT32_MAX ? v : -1;      /* (uid_t)-1 means "unchanged" to the kernel */
}

int privileges_parse_user(const char *s, struct sandbox_privileges *p, char *err, size_t errlen)
{
    char user[256], *group;
    if (snprintf(user, sizeof user, "%s", s) >= (int)sizeof user || !*user) {
        snprintf(err, errlen, "--user '%s': expected UID[:GID] or NAME[:GROUP]", s);
        return -1;
    }
    if ((group = strchr(user, ':')))
        *group++ = '\0';
    long long uid = parse_id(user), gid = -1;
    if (uid < 0) {
        /* The password database is read now, at start-up, while files
         * may still be opened. */
        struct passwd *pw = *user ? getpwnam(user) : NULL;
        if (!pw) {
            snprintf(err, errlen, "--user '%s': no such user", s);
            return -1;
        }
        uid = pw->pw_uid;
        gid = pw->pw_gid;
    } else {
        gid = uid;
    }
    if (group) {
        gid = parse_id(group);
        if (gid < 0) {
            struct group *gr = *group ? getgrnam(group) : NULL;
            if (!gr) {
                snprintf(err, errlen, "--user '%s': no such group '%s'", s, group);
                return -1;
            }
            gid = gr->gr_gid;
        }
    }
    p->switch_user = true;
    p->uid = (uint32_t)uid;
    p->gid = (uint32_t)gid;
    return 0;
}

/* The calling thread's credentials only: the raw calls, not glibc's
 * process-wide wrappers (see the header). */
static int switch_user(const struct sandbox_privileges *p, char *err, size_t errlen)
{
    gid_t groups[1] = { p->gid };
    if (getuid() == p->uid && geteuid() == p->uid && getgid() == p->gid && getegid() == p->gid)
        return 0;     /* already that user (kvmbox started as it) */
    int pdeath = 0;
    prctl(PR_GET_PDEATHSIG, &pdeath, 0, 0, 0);
    if (syscall(SYS_setgroups, 1, groups) < 0 ||
        syscall(SYS_setresgid, p->gid, p->gid, p->gid) < 0 ||
        syscall(SYS_setresuid, p->uid, p->uid, p->uid) < 0) {
        snprintf(err, errlen, "--user: cannot become user %u, group %u: %s%s", (unsigned)p->uid,
                 (unsigned)p->gid, log_strerror(errno),
                 errno == EPERM ? " (kvmbox must start as root to switch users)" : "");
        return -1;
    }
    /* A process whose user changed is made undumpable, which gives its
     * /proc files to root: kvmbox could no longer read its own
     * /proc/self/pagemap (snapshots and migration find untouched memory
     * there). Its user owns it anyway (the threat model's edge). */
    prctl(PR_SET_DUMPABLE, 1, 0, 0, 0);
    /* It also clears the parent-death signal (--jail's: sandbox/jail.c). */
    if (pdeath)
        prctl(PR_SET_PDEATHSIG, pdeath, 0, 0, 0);
    return 0;
}

int privileges_drop(const struct sandbox_privileges *p, char *err, size_t errlen)
{
    if (!p->drop && !p->switch_user)
        return 0;
    /* The bounding set first, while CAP_SETPCAP is there to allow it (a
     * kvmbox started without it keeps the set: with no capability and
     * no_new_privs it can gain none back), up to the first number this
     * kernel does not know (EINVAL). */
    for (int cap = 0; prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) == 0; cap++)
        continue;
    if (errno != EINVAL && errno != EPERM) {
        snprintf(err, errlen, "cannot empty the capability bounding set: %s", log_strerror(errno));
        return -1;
    }
    if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) < 0 && errno != EINVAL) {
        snprintf(err, errlen, "cannot clear the ambient capabilities: %s", log_strerror(errno));
        return -1;
    }
    if (p->switch_user && switch_user(p, err, errlen) < 0)
        return -1;
    /* Whatever is left (all of root's, when staying root). */
    struct __user_cap_header_struct hdr = { .version = _LINUX_CAPABILITY_VERSION_3 };
    struct __user_cap_data_struct none[_LINUX_CAPABILITY_U32S_3] = { 0 };
    if (syscall(SYS_capset, &hdr, none) < 0) {
        snprintf(err, errlen, "cannot drop the capabilities: %s", log_strerror(errno));
        return -1;
    }
    return 0;
}
