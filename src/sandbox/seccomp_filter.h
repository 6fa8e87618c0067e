/* The seccomp filter of each thread role (sandbox.h), made with
 * libseccomp; at build time, by seccomp_gen (seccomp_programs.h). */
#ifndef KVMBOX_SANDBOX_SECCOMP_FILTER_H
#define KVMBOX_SANDBOX_SECCOMP_FILTER_H

#include "sandbox/sandbox.h"

#include <linux/filter.h>
#include <stdbool.h>
#include <stddef.h>

/* Makes role's filter as a BPF program (*prog's, malloc'd) for a thread
 * to load: a call outside it traps (SIGSYS: sandbox.c reports it and ends
 * kvmbox), or with log_only is logged by the kernel and goes ahead. 0,
 * or -1 with the reason. */
int seccomp_filter_build(enum sandbox_role role, bool log_only, struct sock_fprog *prog,
                         char *err, size_t errlen);

#endif
