/* Landlock (docs/security.md), with --landlock: kvmbox's threads may
 * open only the paths its configuration names (kernel, initrds, disks,
 * /dev/kvm, /dev/net/tun), the libraries it loads late (/usr/lib, /lib)
 * and what --landlock-rules adds (a snapshot's directory, a migration
 * socket's, a TLS directory); descriptors opened before stay as they
 * are. Like the privileges it is each thread's own: applied in
 * sandbox_enter, before the thread's seccomp filter. */
#ifndef KVMBOX_SANDBOX_LANDLOCK_H
#define KVMBOX_SANDBOX_LANDLOCK_H

#include <stdbool.h>
#include <stddef.h>

enum landlock_access { LANDLOCK_READ = 1, LANDLOCK_WRITE = 2 };

/* --landlock-rules' value, path=PATH,access=r|w|rw (either order; the
 * path may hold commas): the path into path[pathlen], the access into
 * *access. -1 with the reason. */
int landlock_rule_parse(const char *arg, char *path, size_t pathlen, unsigned *access, char *err,
                        size_t errlen);

struct landlock_ruleset;
/* A ruleset to add paths to; NULL with the reason when this kernel has
 * no Landlock (*missing set: not an error for a caller that goes on
 * without it) or it cannot be made. */
struct landlock_ruleset *landlock_ruleset_new(bool *missing, char *err, size_t errlen);
/* path (a file or a directory: all beneath it) with `access`. A path that
 * does not exist is skipped (nothing to allow); -1 with the reason for
 * anything else. */
int landlock_allow(struct landlock_ruleset *r, const char *path, unsigned access, char *err,
                   size_t errlen);
/* The calling thread (and the threads it starts) restricted to the
 * ruleset. -1 with the reason. */
int landlock_enter(const struct landlock_ruleset *r, char *err, size_t errlen);
void landlock_ruleset_free(struct landlock_ruleset *r);

#endif
