/* The sandbox (docs/security.md): each of kvmbox's threads runs under a
 * seccomp filter of its role (made with libseccomp at build time:
 * seccomp_programs.h), and no thread may gain privileges (no_new_privs).
 * A thread enters its role's filter itself, first thing, so that every
 * guest instruction and every API request is handled under one.
 *
 * --seccomp on (the default): a forbidden call kills the process; the
 * report names the call and the thread. log: the kernel logs it (dmesg,
 * audit) and the call goes ahead, for finding what a new feature needs.
 * off: no filter (no_new_privs stays).
 *
 * A thread created by another starts under its creator's filters and
 * adds its own: it can do only what both allow. So device threads, which
 * a guest's register write on a vCPU thread asks for, are created by the
 * VM's spawner thread (vmm/thread_spawner.h), whose filter allows thread
 * creation and what every device thread needs; the vCPUs' allows neither. */
#ifndef KVMBOX_SANDBOX_SANDBOX_H
#define KVMBOX_SANDBOX_SANDBOX_H

#include "sandbox/landlock.h"
#include "sandbox/privileges.h"

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>

/* OFF is 0: a configuration made in code (a unit test's) has no filter
 * unless it asks; the command line's default is ON. */
enum sandbox_mode { SANDBOX_SECCOMP_OFF, SANDBOX_SECCOMP_ON, SANDBOX_SECCOMP_LOG };

enum sandbox_role {
    SANDBOX_MAIN,          /* the loop, the API, the VM's life, snapshots, receiving */
    SANDBOX_VCPU,          /* KVM_RUN and the exits' device emulation */
    SANDBOX_BLOCK,         /* virtio-blk's worker: io_uring, file I/O */
    SANDBOX_NET_TAP,       /* virtio-net on a TAP */
    SANDBOX_NET_USER,      /* virtio-net on libslirp: its sockets to the host */
    SANDBOX_DEVICE,        /* the other device threads: rng, console, RTC */
    SANDBOX_CONSOLE_OUT,   /* the guest's output to stdout */
    SANDBOX_MIGRATION,     /* a migration being sent */
    SANDBOX_SPAWNER,       /* creates device threads */
    SANDBOX_ROLES
};

/* What every thread's sandbox_enter applies (zero: no filter, nothing
 * dropped). */
struct sandbox_config {
    enum sandbox_mode seccomp;
    struct sandbox_privileges privileges;
    struct landlock_ruleset *landlock;    /* taken; NULL: no Landlock */
};

/* Once, before any thread but the main one exists: no_new_privs, the
 * SIGSYS report, and the configuration every later sandbox_enter
 * applies. 0, or -1 with the reason. */
int sandbox_init(const struct sandbox_config *c, char *err, size_t errlen);
/* One more path for the Landlock ruleset (nothing without --landlock),
 * for the threads that enter it from now on. 0, or -1 with the reason. */
int sandbox_landlock_allow(const char *path, unsigned access, char *err, size_t errlen);
/* The calling thread's privileges dropped (sandbox/privileges.h), its
 * Landlock domain entered (sandbox/landlock.h), then its filter (nothing
 * before sandbox_init). 0, or -1 with the reason (logged). */
int sandbox_enter(enum sandbox_role role);
const char *sandbox_role_name(enum sandbox_role role);
/* on, off or log into *mode; -1 for anything else. */
int sandbox_mode_parse(const char *s, enum sandbox_mode *mode);

/* pthread_create for a thread of `role` named `name` (cut to 15
 * characters): the thread names itself and enters its role's filter
 * before fn runs. Returns pthread_create's error number. */
int sandbox_thread_create(pthread_t *t, const pthread_attr_t *attr, const char *name,
                          enum sandbox_role role, void *(*fn)(void *), void *arg);

#endif
