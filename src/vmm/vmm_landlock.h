/* The Landlock ruleset of a VMM started with --landlock (docs/security.md):
 * the paths its configuration names, what kvmbox itself opens late, and
 * --landlock-rules. */
#ifndef KVMBOX_VMM_VMM_LANDLOCK_H
#define KVMBOX_VMM_VMM_LANDLOCK_H

#include "core/config.h"
#include "sandbox/landlock.h"

/* 0 with *out (NULL without --landlock, or on a kernel without Landlock:
 * then a warning says so and kvmbox goes on), or -1 with the reason. */
int vmm_landlock_ruleset(const struct vm_config *base, struct landlock_ruleset **out, char *err,
                         size_t errlen);

#endif
