/* For the unit tests that run a real VM: whether /dev/kvm is usable
 * (KVMBOX_TEST_NO_KVM=1 pretends it is not, to check the other path), and
 * a VMM for a test guest whose console output is not the test's own
 * (run-all.sh reads "ok" lines from that). */
#ifndef KVMBOX_TESTS_REAL_VM_H
#define KVMBOX_TESTS_REAL_VM_H

#include "vmm/vmm.h"

#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static inline bool have_kvm(void)
{
    return !getenv("KVMBOX_TEST_NO_KVM") && access("/dev/kvm", R_OK | W_OK) == 0;
}

/* The PVH test guest (GUEST_BUILD, else build/guest) with cmdline; kernel
 * holds its path and must outlive cfg. */
static inline void test_guest_config(struct vm_config *cfg, char *kernel, size_t size,
                                     const char *cmdline, unsigned cpus, uint64_t mem)
{
    const char *g = getenv("GUEST_BUILD");
    snprintf(kernel, size, "%s/boot-pvh.elf", g && *g ? g : "build/guest");
    memset(cfg, 0, sizeof *cfg);
    cfg->kernel = kernel;
    cfg->cmdline = cmdline;
    cfg->mem_size = mem;
    cfg->cpus = cpus;
    cfg->kvm_path = "/dev/kvm";
}

/* vmm_init with no terminal and the guest's output to /dev/null; -1 if
 * the VMM cannot be set up. */
static inline int test_vmm_init(struct vmm *m, const struct vm_config *cfg)
{
    if (vmm_init(m, cfg) < 0)
        return -1;
    m->stdin_fd = -1;
    m->console_out.fd = open("/dev/null", O_WRONLY | O_CLOEXEC);
    return 0;
}

static inline void test_vmm_fini(struct vmm *m)
{
    close(m->console_out.fd);
    vmm_destroy(m);
}

#endif
