/* Everything the user asked for, as parsed from the command line. The VM is
 * built from this alone. */
#ifndef KVMBOX_VMM_CONFIG_H
#define KVMBOX_VMM_CONFIG_H

#include "vmm/cpuid.h"

#include <stdbool.h>
#include <stdint.h>

#define CONFIG_MAX_INITRDS 16
#define CONFIG_MAX_DISKS 8
#define CONFIG_DISK_SERIAL_MAX 20   /* virtio-blk's ID string */

struct disk_config {
    char path[4096];
    char serial[CONFIG_DISK_SERIAL_MAX + 1];
    bool readonly;
};

struct vm_config {
    const char *kernel;
    const char *initrds[CONFIG_MAX_INITRDS];
    unsigned ninitrds;
    const char *cmdline;      /* NULL: the format's default */
    uint64_t mem_size;
    unsigned cpus;
    bool debug_exit;
    bool rng;                 /* a virtio-rng device */
    struct disk_config disks[CONFIG_MAX_DISKS];
    unsigned ndisks;
    struct cpu_filter cpu_filter;
    bool verbose;
    const char *kvm_path;     /* normally /dev/kvm */
};

#endif
