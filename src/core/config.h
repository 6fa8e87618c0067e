/* Everything the user asked for, as parsed from the command line
 * (cli/options.c) or a vm.create body (api/vm_config_json.c), both checked
 * by the same rules (core/config_check.h). The VM is built from this alone. */
#ifndef KVMBOX_CORE_CONFIG_H
#define KVMBOX_CORE_CONFIG_H

#include <netinet/in.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#define CONFIG_MAX_INITRDS 16
#define CONFIG_MAX_DISKS 8
#define CONFIG_DISK_SERIAL_MAX 20   /* virtio-blk's ID string */
/* A device's API id (Cloud Hypervisor's DiskConfig/NetConfig `id`): what
 * vm.info, vm.counters and thread names call it. Empty: the VMM's default
 * name (_disk0, _net1, ...). core/config_check.c says what an id may be. */
#define CONFIG_ID_MAX 31

struct disk_config {
    char path[4096];
    char serial[CONFIG_DISK_SERIAL_MAX + 1];
    char id[CONFIG_ID_MAX + 1];
    bool readonly;
    bool direct;              /* O_DIRECT: no host page cache */
    /* Set by a migration's receiver, never by a user: the source holds the
     * disk's lock until it hands the VM over, so a busy lock is expected
     * (the source, paused, no longer writes once the VM runs here). */
    bool lock_may_be_held;
};

#define CONFIG_MAX_NETS 4
#define CONFIG_MAX_HOSTFWDS 8
#define CONFIG_IFNAME_MAX 15        /* IFNAMSIZ - 1 */

enum net_kind { NET_TAP, NET_USER };

/* hostfwd: connections to the host's address:port reach the guest's. */
struct hostfwd {
    bool udp;
    struct in_addr host_addr, guest_addr;   /* INADDR_ANY: every host address / the DHCP one */
    uint16_t host_port, guest_port;
};

struct net_config {
    enum net_kind kind;
    char ifname[CONFIG_IFNAME_MAX + 1];     /* tap= */
    char id[CONFIG_ID_MAX + 1];             /* the API's id; empty: the default */
    uint8_t mac[6];
    bool has_mac;                           /* else 52:54:00:12:34:(0x56 + index) */
    struct hostfwd fwd[CONFIG_MAX_HOSTFWDS]; /* user: */
    unsigned nfwd;
    bool restricted;                        /* user: restrict=on, no way out but hostfwd */
};

/* Which device gets the terminal's input (output goes to stdout from all). */
enum console_kind { CONSOLE_SERIAL, CONSOLE_VIRTIO };

#define CPU_FEATURE_MAX 64
#define CONFIG_MAX_LANDLOCK_RULES 16

/* --cpu-filter: CPUID features to hide (vmm/cpuid.c names them and
 * applies the filter). */
struct cpu_filter {
    bool hide[CPU_FEATURE_MAX];   /* indexed like cpu_feature_name() */
};

struct vm_config {
    const char *kernel;
    const char *initrds[CONFIG_MAX_INITRDS];
    unsigned ninitrds;
    const char *cmdline;      /* NULL: the format's default */
    uint64_t mem_size;
    bool mem_shared;          /* --memory shared=on: a memfd another process can map */
    bool mem_hugepages;       /* --memory hugepages=on: 2 MiB hugetlbfs pages */
    unsigned cpus;
    bool debug_exit;
    bool testdev;             /* QEMU's pc-testdev, for kvm-unit-tests */
    bool rng;                 /* a virtio-rng device */
    enum console_kind console;
    unsigned ndisks;
    struct net_config nets[CONFIG_MAX_NETS];
    unsigned nnets;
    struct cpu_filter cpu_filter;
    bool verbose;
    const char *kvm_path;     /* normally /dev/kvm */
    const char *api_path;     /* --api-socket PATH: the API's Unix socket, or NULL */
    int api_fd;               /* --api-socket fd=N: a socket already bound (0: none) */
    const char *event_path;   /* --event-monitor path=FILE, or NULL */
    int event_fd;             /* --event-monitor fd=N (0: none) */
    const char *restore;      /* --restore's value (cli/restore_option.c reads it), or NULL */
    int seccomp;              /* --seccomp: enum sandbox_mode (0: off; the CLI's default is on) */
    /* After start-up no capability is kept (the command line's kvmbox;
     * false in a configuration made in code), and with --user the VMM
     * becomes that user and group (sandbox/privileges.h). */
    bool drop_privileges;
    bool switch_user;
    uint32_t uid, gid;
    /* --landlock, and each --landlock-rules value as given
     * (sandbox/landlock.h reads them). */
    bool landlock;
    const char *landlock_rules[CONFIG_MAX_LANDLOCK_RULES];
    unsigned nlandlock_rules;
    const char *jail;         /* --jail DIR (sandbox/jail.h), or NULL */
    /* Last, and filled only as far as ndisks: 8 x 4 KiB that options_parse_run
     * does not zero, so that a VM without disks never touches them (every
     * touched page of the stack stays resident for the VM's life). */
    struct disk_config disks[CONFIG_MAX_DISKS];
};

/* A device's API id: the configuration's, else Cloud Hypervisor's default,
 * one counter for disks and then NICs (_disk0, _disk1, _net2). The VM names
 * its devices and vm.info reports the configuration by the same rule. */
static inline void config_disk_id(const struct vm_config *c, unsigned i, char *buf, size_t len)
{
    if (c->disks[i].id[0])
        snprintf(buf, len, "%s", c->disks[i].id);
    else
        snprintf(buf, len, "_disk%u", i);
}

static inline void config_net_id(const struct vm_config *c, unsigned i, char *buf, size_t len)
{
    if (c->nets[i].id[0])
        snprintf(buf, len, "%s", c->nets[i].id);
    else
        snprintf(buf, len, "_net%u", c->ndisks + i);
}

/* A NIC's MAC: the configuration's, else QEMU's 52:54:00:12:34:(56 + i). */
static inline void config_net_mac(const struct vm_config *c, unsigned i, uint8_t mac[6])
{
    static const uint8_t base[6] = { 0x52, 0x54, 0x00, 0x12, 0x34, 0x56 };
    memcpy(mac, c->nets[i].has_mac ? c->nets[i].mac : base, 6);
    if (!c->nets[i].has_mac)
        mac[5] = (uint8_t)(mac[5] + i);
}

#endif
