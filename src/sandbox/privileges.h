/* Privileges (docs/security.md): once start-up is over kvmbox holds no
 * capability, and with --user it runs as that user.
 *
 * Credentials are each thread's own in Linux; glibc makes setuid() apply
 * to the whole process by signalling every thread to make the call too,
 * which the other threads' seccomp filters would refuse. So each thread
 * drops its own, first thing (sandbox_enter, before its filter): the
 * main thread once it has opened what start-up needs, every other thread
 * as it starts. A thread started by one that had dropped already
 * inherits that and has nothing to do. */
#ifndef KVMBOX_SANDBOX_PRIVILEGES_H
#define KVMBOX_SANDBOX_PRIVILEGES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct sandbox_privileges {
    bool drop;             /* drop every capability (the command line's kvmbox) */
    bool switch_user;      /* --user: become uid:gid (its only group: gid) */
    uint32_t uid, gid;
};

/* --user's value: UID[:GID] or NAME[:GROUP]; without a group, the user's
 * own (a NAME's from the password database, a bare UID's: the same
 * number). Fills switch_user, uid and gid. -1 with the reason. */
int privileges_parse_user(const char *s, struct sandbox_privileges *p, char *err, size_t errlen);

/* The calling thread: the capability bounding set and ambient set
 * emptied (where it may), then uid and gid switched if asked, then no
 * capability left. 0, or -1 with the reason. */
int privileges_drop(const struct sandbox_privileges *p, char *err, size_t errlen);

#endif
