/* Each role's seccomp filter as a BPF program, and the system calls'
 * names for the SIGSYS report: made at build time by seccomp_gen
 * (seccomp_gen.c, from seccomp_filter.c's lists through libseccomp), so
 * that kvmbox neither builds filters at start-up (a few hundred
 * microseconds a role) nor carries libseccomp. The build host is the
 * target: the system call numbers are this architecture's. */
#ifndef KVMBOX_SANDBOX_SECCOMP_PROGRAMS_H
#define KVMBOX_SANDBOX_SECCOMP_PROGRAMS_H

#include "sandbox/sandbox.h"

#include <linux/filter.h>

#define SECCOMP_NAMED_CALLS 512

/* [0]: a call outside the filter traps (SIGSYS); [1]: the kernel logs it. */
extern const struct sock_filter *const seccomp_program[2][SANDBOX_ROLES];
extern const unsigned short seccomp_program_len[2][SANDBOX_ROLES];
/* NULL where this architecture has no call of that number. */
extern const char *const seccomp_call_name[SECCOMP_NAMED_CALLS];

#endif
