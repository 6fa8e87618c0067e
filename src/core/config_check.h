/* The rules for a VM configuration, written once: the command line
 * (cli/options.c) and the API's vm.create (api/vm_config_json.c) read
 * their own syntax and hand the values here, so that a VM one of them
 * accepts the other accepts too, and both refuse alike.
 *
 * Every check takes `what`, how its message names the field and the value
 * as the user wrote it ("--memory 1M", "memory.size 1048576"), and on
 * failure writes one message into err and returns -1. The copying ones
 * (config_set_*) fill their destination only on success. */
#ifndef KVMBOX_CORE_CONFIG_CHECK_H
#define KVMBOX_CORE_CONFIG_CHECK_H

#include "core/config.h"

#include <stddef.h>
#include <stdint.h>

#define MAX_CPUS 255                       /* APIC IDs 0..254; 255 is broadcast */
#define MAX_MEMORY (1ULL << 40)            /* 1T */
#define CONFIG_MIN_MEMORY (2ULL << 20)     /* 2M: LAYOUT_MIN_RAM, the least the x86 layout boots in */
#define CONFIG_DEFAULT_MEMORY (512ULL << 20)
#define CONFIG_HUGEPAGE_SIZE (2ULL << 20)  /* hugetlbfs pages kvmbox uses */

/* The defaults both front ends start from: 512 MiB, one vCPU, the serial
 * console, /dev/kvm, no devices. Zeroes everything but `disks` (see
 * config.h: never touched beyond ndisks). */
void config_init(struct vm_config *cfg);

/* Guest RAM: 2M to 1T, a multiple of 4K, and with hugepages a multiple of
 * 2M (`hugepages_what` names that switch: "hugepages=on"). */
int config_check_memory(uint64_t size, bool hugepages, const char *what,
                        const char *hugepages_what, char *err, size_t errlen);

/* A vCPU count: 1 to MAX_CPUS. */
int config_check_cpus(int64_t n, const char *what, char *err, size_t errlen);

/* A MAC address, text[0..len): six two-digit hex groups separated by ':',
 * unicast and not all zero. */
int config_parse_mac(const char *text, size_t len, uint8_t mac[6], const char *what, char *err,
                     size_t errlen);

/* "tcp:[HOSTADDR]:HOSTPORT-[GUESTADDR]:GUESTPORT", or udp:, as QEMU's
 * hostfwd; an empty address is INADDR_ANY. The message reads
 * "<what> takes tcp:...", so `what` ends with the field's name. */
int config_parse_hostfwd(const char *text, size_t len, struct hostfwd *f, const char *what,
                         char *err, size_t errlen);

/* Copies text[0..len) into a disk's path (1 to 4095 bytes), serial (at
 * most CONFIG_DISK_SERIAL_MAX) or a TAP's interface name (1 to
 * CONFIG_IFNAME_MAX). The messages read "<what> is longer than ...",
 * "<what> is at most ...", "<what> needs an interface name ...". */
int config_set_disk_path(struct disk_config *d, const char *text, size_t len, const char *what,
                         char *err, size_t errlen);
int config_set_disk_serial(struct disk_config *d, const char *text, size_t len, const char *what,
                           char *err, size_t errlen);
int config_set_ifname(struct net_config *n, const char *text, size_t len, const char *what,
                      char *err, size_t errlen);

/* Copies a device id into dst (CONFIG_ID_MAX + 1 bytes): 1 to
 * CONFIG_ID_MAX of [A-Za-z0-9_.-], not starting with '_' (kvmbox's own
 * names, _disk0, _net1, __rng, are made that way, so a user's id never
 * meets one) unless it is `own`, the name this device gets by default
 * anyway; and unlike every id already in cfg (its first ndisks disks and
 * nnets NICs: call it before counting the device being added). */
int config_set_id(const struct vm_config *cfg, char *dst, const char *text, size_t len,
                  const char *own, const char *what, char *err, size_t errlen);

#endif
