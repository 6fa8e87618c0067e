/* --jail DIR (docs/security.md), as Firecracker's jailer: kvmbox runs in
 * mount, PID and IPC namespaces of its own, and once start-up is over DIR
 * is its root directory. What start-up opened (the kernel, disks, TAPs,
 * /dev/kvm, the API socket) stays open; paths the API names later are
 * inside DIR. Needs root (CAP_SYS_ADMIN), which the privilege drop then
 * takes away. */
#ifndef KVMBOX_SANDBOX_JAIL_H
#define KVMBOX_SANDBOX_JAIL_H

#include <stddef.h>

/* First thing, while the process has one thread: the new namespaces, and
 * a fork into the new PID namespace. The parent stays outside: it hands
 * SIGINT, SIGTERM and SIGHUP on and exits with the child's status (it
 * never returns). In the child (PID 1 there) 0 is returned; -1 with the
 * reason before any fork. */
int jail_spawn(char *err, size_t errlen);
/* Start-up over (the main thread, with its privileges still): DIR becomes
 * every thread's root, with the new PID namespace's /proc mounted in it
 * and /dev/net/tun made there (a TAP the API names later); the host's
 * file system is out of reach. 0, or -1 with the reason. */
int jail_enter(const char *dir, char *err, size_t errlen);

#endif
