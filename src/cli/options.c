#include "cli/options.h"

#include "cli/kv.h"

#include "arch/x86/layout.h"
#include "core/config_check.h"
#include "sandbox/sandbox.h"
#include "util/size.h"
#include "vmm/cpuid.h"

#include <errno.h>
#include <getopt.h>
#include <sys/stat.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

enum {
    OPT_KERNEL = 1000, OPT_INITRD, OPT_CMDLINE, OPT_MEMORY, OPT_CPUS, OPT_DEBUG_EXIT,
    OPT_CPU_FILTER, OPT_VERSION, OPT_RNG, OPT_DISK, OPT_CONSOLE, OPT_NET, OPT_TESTDEV,
    OPT_API_SOCKET, OPT_EVENT_MONITOR, OPT_RESTORE, OPT_SECCOMP, OPT_USER,
    OPT_LANDLOCK, OPT_LANDLOCK_RULES, OPT_JAIL, OPT_LAST = OPT_JAIL
};

static const struct option long_opts[] = {
    { "kernel", required_argument, NULL, OPT_KERNEL },
    { "initrd", required_argument, NULL, OPT_INITRD },
    { "cmdline", required_argument, NULL, OPT_CMDLINE },
    { "memory", required_argument, NULL, OPT_MEMORY },
    { "cpus", required_argument, NULL, OPT_CPUS },
    { "debug-exit", no_argument, NULL, OPT_DEBUG_EXIT },
    { "testdev", no_argument, NULL, OPT_TESTDEV },
    { "api-socket", required_argument, NULL, OPT_API_SOCKET },
    { "event-monitor", required_argument, NULL, OPT_EVENT_MONITOR },
    { "restore", required_argument, NULL, OPT_RESTORE },
    { "seccomp", required_argument, NULL, OPT_SECCOMP },
    { "user", required_argument, NULL, OPT_USER },
    { "landlock", no_argument, NULL, OPT_LANDLOCK },
    { "landlock-rules", required_argument, NULL, OPT_LANDLOCK_RULES },
    { "jail", required_argument, NULL, OPT_JAIL },
    { "cpu-filter", required_argument, NULL, OPT_CPU_FILTER },
    { "rng", no_argument, NULL, OPT_RNG },
    { "disk", required_argument, NULL, OPT_DISK },
    { "console", required_argument, NULL, OPT_CONSOLE },
    { "net", required_argument, NULL, OPT_NET },
    { "verbose", no_argument, NULL, 'v' },
    { "help", no_argument, NULL, 'h' },
    { "version", no_argument, NULL, OPT_VERSION },
    { NULL, 0, NULL, 0 },
};

void options_usage(FILE *out)
{
    fputs("usage: kvmbox run --kernel FILE [options]\n"
          "       kvmbox run --api-socket PATH [--event-monitor ...]\n"
          "\n"
          "Boots one virtual machine on /dev/kvm and runs it until the guest stops.\n"
          "With --api-socket alone it starts empty: the API creates and boots the VM.\n"
          "\n"
          "  --kernel FILE      Linux bzImage, PVH ELF or multiboot kernel (detected)\n"
          "  --initrd FILE[,FILE...]\n"
          "                     Linux initrd, or PVH/multiboot modules in order\n"
          "  --cmdline STRING   kernel command line (Linux default:\n"
          "                     \"console=ttyS0 reboot=k panic=-1\")\n"
          "  --memory SIZE      guest RAM, e.g. 512M, 4G (bare number: MiB; default 512M)\n"
          "  --memory size=SIZE[,shared=on][,hugepages=on]\n"
          "                     shared=on: RAM in a memfd another process can map;\n"
          "                     hugepages=on: in 2 MiB hugetlbfs pages (a multiple of 2M)\n"
          "  --cpus N           number of vCPUs (default 1)\n"
          "  --debug-exit       exit device at port 0xf4: writing V exits with (V<<1)|1\n"
          "  --api-socket PATH  serve Cloud Hypervisor's REST API (HTTP on a Unix socket,\n"
          "                     mode 0600); also path=PATH, or fd=N for one already bound\n"
          "  --restore source_url=file:///DIR[,resume=on][,memory_restore_mode=copy|ondemand]\n"
          "            [,tap=ID:IFNAME][,disk=ID:PATH]\n"
          "                     restore a snapshot (vm.snapshot) instead of booting; paused\n"
          "                     unless resume=on (which it needs without --api-socket);\n"
          "                     tap= and disk= give a NIC or disk of that id a new host side\n"
          "  --event-monitor path=FILE|fd=N\n"
          "                     a JSON line per VMM and VM state change (CH's events)\n"
          "  --seccomp on|off|log\n"
          "                     each thread's system-call filter (default on: a call\n"
          "                     outside it ends kvmbox, naming it; log: the kernel\n"
          "                     logs it and it goes ahead)\n"
          "  --user UID[:GID]|NAME[:GROUP]\n"
          "                     run as this user once start-up is over (every capability\n"
          "                     is dropped in any case); the API socket becomes its\n"
          "                     (see docs/security.md)\n"
          "  --landlock         confine kvmbox's files with Landlock: only those its\n"
          "                     options name, and --landlock-rules'\n"
          "  --landlock-rules path=PATH,access=r|w|rw\n"
          "                     one more file or directory (a snapshot directory, a\n"
          "                     migration socket's); repeatable\n"
          "  --jail DIR         run in mount, PID and IPC namespaces of its own, DIR the\n"
          "                     root once start-up is over (as Firecracker's jailer)\n"
          "  --testdev          QEMU's pc-testdev (ports 0xe0-0xeb, 0x2000-0x2017, MMIO at\n"
          "                     0xff000000), which kvm-unit-tests' ioapic/emulator use\n"
          "  --cpu-filter LIST  hide CPUID features, e.g. cx16,xsave,avx\n"
          "  --disk path=FILE[,readonly=on][,direct=on][,serial=ID]\n"
          "                     a virtio-blk disk (repeatable; the file is locked;\n"
          "                     direct=on bypasses the host page cache)\n"
          "  --net tap=IFNAME[,mac=MAC]\n"
          "                     a virtio-net NIC on an existing host TAP device\n"
          "  --net user[,hostfwd=tcp::HOSTPORT-:GUESTPORT][,restrict=on][,mac=MAC]\n"
          "                     a virtio-net NIC on user-mode networking (libslirp, no\n"
          "                     root needed): guest 10.0.2.15/24, gateway 10.0.2.2,\n"
          "                     DNS 10.0.2.3; restrict=on: nothing beyond them and\n"
          "                     the forwarded ports; both repeatable\n"
          "  --rng              a virtio-rng device fed from the host's getrandom\n"
          "  --console serial|virtio\n"
          "                     the device that gets stdin (default serial); virtio adds\n"
          "                     a virtio-console (the guest's hvc0: console=hvc0)\n"
          "  -v, --verbose      log to stderr what kvmbox does\n"
          "  -h, --help         this help\n"
          "      --version      print the version\n"
          "\n"
          "Each option is given once (--disk and --net once per device) and spelled\n"
          "out in full.\n"
          "\n"
          "Exit status: 0 when the guest powers off or resets, the debug-exit code,\n"
          "1 on errors, 128+N when stopped by signal N. Ctrl-A x quits.\n"
          "\n"
          "CPU features --cpu-filter knows:\n ", out);
    size_t col = 1;
    for (unsigned i = 0; cpu_feature_name(i); i++) {
        const char *n = cpu_feature_name(i);
        if (col + strlen(n) + 1 > 78) {
            fputs("\n ", out);
            col = 1;
        }
        fprintf(out, " %s", n);
        col += strlen(n) + 1;
    }
    fputs("\n", out);
}

/* The core's rule and the layout's need must agree. */
_Static_assert(CONFIG_MIN_MEMORY >= LAYOUT_MIN_RAM, "--memory's minimum below the layout's");

/* The size's syntax; config_check_memory judges the value. */
static int parse_memory(const char *arg, uint64_t *out, char *err, size_t errlen)
{
    uint64_t v;
    /* A bare number means MiB, as QEMU's -m: bytes would never be meant. */
    bool bare = arg[0] && strspn(arg, "0123456789") == strlen(arg);
    if (parse_size(arg, &v) < 0 || (bare && v > (UINT64_MAX >> 20))) {
        snprintf(err, errlen, "--memory '%s' is not a size: expected a whole number with an "
                 "optional K, M, G or T suffix, e.g. 512M or 4G (a bare number is MiB)", arg);
        return -1;
    }
    if (bare)
        v <<= 20;
    *out = v;
    return 0;
}

/* Plain decimal digits only: strtol would also take " 2", "+2", and with
 * base 0 "0x2" or an octal "010". */
static int parse_cpus(const char *arg, unsigned *out, char *err, size_t errlen)
{
    size_t ndigits = strspn(arg, "0123456789");
    unsigned long n = 0;
    for (size_t i = 0; i < ndigits && n <= MAX_CPUS; i++)
        n = n * 10 + (unsigned long)(arg[i] - '0');
    if (ndigits == 0 || arg[ndigits]) {
        snprintf(err, errlen, "--cpus '%s': expected a decimal number from 1 to %d", arg,
                 MAX_CPUS);
        return -1;
    }
    char what[64];
    snprintf(what, sizeof what, "--cpus '%s'", arg);
    if (config_check_cpus((int64_t)n, what, err, errlen) < 0)
        return -1;
    *out = (unsigned)n;
    return 0;
}

/* A comma-separated list must have no empty item (",a", "a,,b", "a,"),
 * which a strtok walk would skip without a word. */
static int check_list(const char *opt, const char *arg, const char *item, char *err,
                      size_t errlen)
{
    for (const char *p = arg;; p++) {
        size_t n = strcspn(p, ",");
        if (n == 0) {
            snprintf(err, errlen, "%s '%s': empty %s (a stray comma?)", opt, arg, item);
            return -1;
        }
        p += n;
        if (!*p)
            return 0;
    }
}

/* Splits "a,b,c" (copied into buf) into cfg->initrds. */
static int parse_initrds(const char *arg, struct vm_config *cfg, char *buf, size_t buflen,
                         char *err, size_t errlen)
{
    size_t len = strlen(arg) + 1;
    if (len > buflen) {
        snprintf(err, errlen, "--initrd list is too long");
        return -1;
    }
    if (check_list("--initrd", arg, "file name", err, errlen) < 0)
        return -1;
    memcpy(buf, arg, len);
    cfg->ninitrds = 0;
    for (char *save = NULL, *p = strtok_r(buf, ",", &save); p; p = strtok_r(NULL, ",", &save)) {
        if (cfg->ninitrds == CONFIG_MAX_INITRDS) {
            snprintf(err, errlen, "--initrd names more than %d files", CONFIG_MAX_INITRDS);
            return -1;
        }
        cfg->initrds[cfg->ninitrds++] = p;
    }
    return 0;
}

/* "SIZE" or "size=SIZE[,shared=on|off][,hugepages=on|off]", as Cloud
 * Hypervisor's --memory; a bare SIZE is a size. */
static int parse_memory_opt(const char *arg, struct vm_config *cfg, char *err, size_t errlen)
{
    if (!*arg)
        return parse_memory(arg, &cfg->mem_size, err, errlen);
    if (kv_check_items("--memory", arg, NULL, err, errlen) < 0)
        return -1;
    const char *p = arg;
    struct kv kv;
    bool sized = false;
    char size[32];
    while (kv_next(&p, &kv)) {
        /* A bare SIZE only first, and the size only once: "512M,size=1G"
         * is not resolved silently. */
        if ((!kv.key && kv.val == arg) || kv_is(&kv, "size")) {
            if (sized) {
                snprintf(err, errlen, "--memory '%s': the size is given twice", arg);
                return -1;
            }
            sized = true;
            if (!kv_copy(&kv, size, sizeof size)) {
                snprintf(err, errlen, "--memory '%s': size= takes a size such as 512M", arg);
                return -1;
            }
            if (parse_memory(size, &cfg->mem_size, err, errlen) < 0)
                return -1;
        } else if (kv_is(&kv, "shared")) {
            if (kv_on_off("--memory", arg, &kv, &cfg->mem_shared, err, errlen) < 0)
                return -1;
        } else if (kv_is(&kv, "hugepages")) {
            if (kv_on_off("--memory", arg, &kv, &cfg->mem_hugepages, err, errlen) < 0)
                return -1;
        } else {
            return kv_unknown_key("--memory", arg, &kv, "size, shared, hugepages", err, errlen);
        }
    }
    char what[64];
    if (sized)
        snprintf(what, sizeof what, "--memory %s", size);
    else
        snprintf(what, sizeof what, "--memory '%s'", arg);
    return config_check_memory(cfg->mem_size, cfg->mem_hugepages, what, "hugepages=on", err,
                               errlen);
}

/* "path=PATH" or "fd=N" (Cloud Hypervisor's forms), and a bare "PATH"
 * where `bare_path` allows it. */
static int parse_path_or_fd(const char *opt, const char *arg, bool bare_path, const char **path,
                            int *fd, char *err, size_t errlen)
{
    if (!strncmp(arg, "fd=", 3)) {
        const char *p = arg + 3;
        unsigned long v = 0;
        bool digits = *p != 0;
        for (; *p; p++) {
            if (*p < '0' || *p > '9' || v > 65535) {
                digits = false;
                break;
            }
            v = v * 10 + (unsigned long)(*p - '0');
        }
        if (!digits || v < 3 || v > 65535) {
            snprintf(err, errlen, "%s '%s': fd= takes a file descriptor number, 3 or more", opt,
                     arg);
            return -1;
        }
        *fd = (int)v;
        return 0;
    }
    bool keyed = !strncmp(arg, "path=", 5);
    const char *p = keyed ? arg + 5 : arg;
    if ((!keyed && !bare_path) || !*p || strchr(p, ',')) {
        snprintf(err, errlen, "%s '%s': expected %spath=PATH or fd=N", opt, arg,
                 bare_path ? "PATH, " : "");
        return -1;
    }
    *path = p;
    return 0;
}

static int parse_api_socket(const char *arg, struct vm_config *cfg, char *err, size_t errlen)
{
    return parse_path_or_fd("--api-socket", arg, true, &cfg->api_path, &cfg->api_fd, err, errlen);
}

/* "OPT 'ARG': KEY", how a message from core/config_check.c names an item
 * of a device option; an ARG too long to quote in a one-line message (a
 * path of thousands of characters) is cut short. */
static void item_what(char *what, size_t size, const char *opt, const char *arg, const char *key)
{
    size_t n = strlen(arg);
    snprintf(what, size, "%s '%.*s%s': %s", opt, n > 48 ? 45 : (int)n, arg, n > 48 ? "..." : "",
             key);
}

/* "path=FILE[,readonly=on|off][,direct=on|off][,serial=ID]"; a bare FILE
 * is a path. */
static int parse_disk(const char *arg, struct vm_config *cfg, char *err, size_t errlen)
{
    if (cfg->ndisks == CONFIG_MAX_DISKS) {
        snprintf(err, errlen, "at most %d --disk options", CONFIG_MAX_DISKS);
        return -1;
    }
    struct disk_config *d = &cfg->disks[cfg->ndisks];
    memset(d, 0, sizeof *d);
    if (kv_check_items("--disk", arg, NULL, err, errlen) < 0)
        return -1;
    const char *p = arg;
    struct kv kv;
    char what[96];
    while (kv_next(&p, &kv)) {
        /* A bare FILE only first: "x,y" is not two paths. */
        if ((!kv.key && kv.val == arg) || kv_is(&kv, "path")) {
            item_what(what, sizeof what, "--disk", arg, "the path");
            if (d->path[0]) {
                snprintf(err, errlen, "--disk '%s': the path is given twice", arg);
                return -1;
            }
            if (config_set_disk_path(d, kv.val, kv.vlen, what, err, errlen) < 0)
                return -1;
        } else if (kv_is(&kv, "readonly")) {
            if (kv_on_off("--disk", arg, &kv, &d->readonly, err, errlen) < 0)
                return -1;
        } else if (kv_is(&kv, "direct")) {
            if (kv_on_off("--disk", arg, &kv, &d->direct, err, errlen) < 0)
                return -1;
        } else if (kv_is(&kv, "serial")) {
            item_what(what, sizeof what, "--disk", arg, "serial=");
            if (config_set_disk_serial(d, kv.val, kv.vlen, what, err, errlen) < 0)
                return -1;
        } else {
            return kv_unknown_key("--disk", arg, &kv, "path, readonly, direct, serial", err, errlen);
        }
    }
    if (!d->path[0]) {
        snprintf(err, errlen, "--disk '%s' needs path=FILE", arg);
        return -1;
    }
    cfg->ndisks++;
    return 0;
}

/* "tap=IFNAME[,mac=MAC]" or "user[,hostfwd=tcp::H-:G]...[,restrict=on][,mac=MAC]". */
static int parse_net(const char *arg, struct vm_config *cfg, char *err, size_t errlen)
{
    if (cfg->nnets == CONFIG_MAX_NETS) {
        snprintf(err, errlen, "at most %d --net options", CONFIG_MAX_NETS);
        return -1;
    }
    struct net_config *n = &cfg->nets[cfg->nnets];
    memset(n, 0, sizeof *n);
    if (kv_check_items("--net", arg, "hostfwd", err, errlen) < 0)
        return -1;
    const char *p = arg;
    struct kv kv;
    bool have_kind = false;
    char what[96];
    while (kv_next(&p, &kv)) {
        if (!have_kind) {
            have_kind = true;
            if (kv_is(&kv, "tap")) {
                n->kind = NET_TAP;
                item_what(what, sizeof what, "--net", arg, "tap=");
                if (config_set_ifname(n, kv.val, kv.vlen, what, err, errlen) < 0)
                    return -1;
                continue;
            }
            if (!kv.key && kv_val_is(&kv, "user")) {
                n->kind = NET_USER;
                continue;
            }
            snprintf(err, errlen, "--net '%s': expected tap=IFNAME or user first", arg);
            return -1;
        }
        if (kv_is(&kv, "mac")) {
            snprintf(what, sizeof what, "--net mac=%.*s", (int)kv.vlen, kv.val);
            if (config_parse_mac(kv.val, kv.vlen, n->mac, what, err, errlen) < 0)
                return -1;
            n->has_mac = true;
        } else if (kv_is(&kv, "hostfwd") && n->kind == NET_USER) {
            if (n->nfwd == CONFIG_MAX_HOSTFWDS) {
                snprintf(err, errlen, "--net '%s': at most %d hostfwd=", arg, CONFIG_MAX_HOSTFWDS);
                return -1;
            }
            item_what(what, sizeof what, "--net", arg, "hostfwd=");
            if (config_parse_hostfwd(kv.val, kv.vlen, &n->fwd[n->nfwd++], what, err,
                                     errlen) < 0)
                return -1;
        } else if (kv_is(&kv, "restrict") && n->kind == NET_USER) {
            if (kv_on_off("--net", arg, &kv, &n->restricted, err, errlen) < 0)
                return -1;
        } else {
            return kv_unknown_key("--net", arg, &kv, n->kind == NET_USER ? "mac, hostfwd, restrict" : "mac",
                               err, errlen);
        }
    }
    if (!have_kind) {
        snprintf(err, errlen, "--net needs tap=IFNAME or user");
        return -1;
    }
    cfg->nnets++;
    return 0;
}

#define NOPTS (OPT_LAST - OPT_KERNEL + 1)

/* What each option's value looks like, for messages, and whether it may
 * be given more than once: --disk and --net add a device each time, and a
 * flag given twice means what it means once. Any other option given twice
 * is refused rather than resolved (QEMU takes the last, which hides a
 * mistake in a long command line), as Cloud Hypervisor does. */
static const struct { const char *value; bool repeatable; } opt_info[NOPTS] = {
    [OPT_KERNEL - OPT_KERNEL] = { "FILE", false },
    [OPT_INITRD - OPT_KERNEL] = { "FILE[,FILE...]", false },
    [OPT_CMDLINE - OPT_KERNEL] = { "STRING", false },
    [OPT_MEMORY - OPT_KERNEL] = { "SIZE or size=SIZE[,...]", false },
    [OPT_CPUS - OPT_KERNEL] = { "N", false },
    [OPT_DEBUG_EXIT - OPT_KERNEL] = { NULL, true },
    [OPT_CPU_FILTER - OPT_KERNEL] = { "LIST", false },
    [OPT_VERSION - OPT_KERNEL] = { NULL, true },
    [OPT_RNG - OPT_KERNEL] = { NULL, true },
    [OPT_DISK - OPT_KERNEL] = { "path=FILE[,...]", true },
    [OPT_CONSOLE - OPT_KERNEL] = { "serial or virtio", false },
    [OPT_NET - OPT_KERNEL] = { "tap=IFNAME[,...] or user[,...]", true },
    [OPT_TESTDEV - OPT_KERNEL] = { NULL, true },
    [OPT_API_SOCKET - OPT_KERNEL] = { "PATH, path=PATH or fd=N", false },
    [OPT_EVENT_MONITOR - OPT_KERNEL] = { "path=FILE or fd=N", false },
    [OPT_RESTORE - OPT_KERNEL] = { "source_url=file:///DIR[,...]", false },
    [OPT_SECCOMP - OPT_KERNEL] = { "on, off or log", false },
    [OPT_USER - OPT_KERNEL] = { "UID[:GID] or NAME[:GROUP]", false },
    [OPT_LANDLOCK - OPT_KERNEL] = { NULL, true },
    [OPT_LANDLOCK_RULES - OPT_KERNEL] = { "path=PATH,access=r|w|rw", true },
    [OPT_JAIL - OPT_KERNEL] = { "DIR", false },
};

/* The VMM's own settings, which hold whatever the VM's configuration
 * comes from (the command line, a snapshot, the API). */
static bool vmm_option(unsigned opt)
{
    return opt == OPT_API_SOCKET || opt == OPT_EVENT_MONITOR || opt == OPT_RESTORE ||
           opt == OPT_SECCOMP || opt == OPT_USER || opt == OPT_LANDLOCK ||
           opt == OPT_LANDLOCK_RULES || opt == OPT_JAIL;
}

static bool is_long_option(const char *arg)
{
    if (strncmp(arg, "--", 2))
        return false;
    size_t n = strcspn(arg + 2, "=");
    for (const struct option *o = long_opts; o->name; o++)
        if (strlen(o->name) == n && !strncmp(o->name, arg + 2, n))
            return true;
    return false;
}

/* What every long option gets before its value is read. `text` is the
 * argv element that named it, `given` what each option was given so far. */
static int check_option(const struct option *o, const char *text, const char *next,
                        const char **given, char *err, size_t errlen)
{
    /* getopt_long takes any unique prefix ("--mem"); a prefix that is
     * unique today would change meaning when an option is added. */
    size_t n = strcspn(text + 2, "=");
    if (n != strlen(o->name)) {
        snprintf(err, errlen, "unknown option '%.*s' (options are not abbreviated: did you "
                 "mean --%s?)", (int)n + 2, text, o->name);
        return -1;
    }
    if (o->val < OPT_KERNEL || o->val >= OPT_KERNEL + NOPTS)
        return 0;   /* --verbose, --help */
    unsigned id = (unsigned)(o->val - OPT_KERNEL);
    const char *val = o->has_arg ? optarg : "";
    if (given[id] && !opt_info[id].repeatable) {
        snprintf(err, errlen, "--%s given twice ('%s', then '%s'): give it once", o->name,
                 given[id], val);
        return -1;
    }
    given[id] = val;
    if (!o->has_arg)
        return 0;
    /* "--kernel --cpus 2" would boot a kernel file named "--cpus". */
    if (val == next && is_long_option(val)) {
        snprintf(err, errlen, "--%s needs a value (%s), but the next argument is the option "
                 "'%s'", o->name, opt_info[id].value, val);
        return -1;
    }
    /* An empty command line is a choice; an empty file name or size is not. */
    if (!*val && o->val != OPT_CMDLINE) {
        snprintf(err, errlen, "--%s '': empty value (expected %s)", o->name, opt_info[id].value);
        return -1;
    }
    return 0;
}

enum options_result options_parse_run(int argc, char **argv, struct vm_config *cfg,
                                      char *buf, size_t buflen, char *err, size_t errlen)
{
    config_init(cfg);
    cfg->seccomp = SANDBOX_SECCOMP_ON;      /* a user's kvmbox is sandboxed */
    cfg->drop_privileges = true;

    optind = 0;   /* reset getopt: the parser may run more than once */
    opterr = 0;   /* our messages, not getopt's */
    const char *given[NOPTS] = { 0 };
    int c, longindex, at;
    /* `at`: the element getopt reads next. A long option always starts a
     * fresh element (a cluster of short ones ends first), so when one is
     * found, argv[at] names it. */
    while ((longindex = -1, at = optind ? optind : 1,
            c = getopt_long(argc, argv, "+:vh", long_opts, &longindex)) != -1) {
        if (c != ':' && c != '?' && longindex >= 0 &&
            check_option(&long_opts[longindex], argv[at], at + 1 < argc ? argv[at + 1] : NULL,
                         given, err, errlen) < 0)
            return OPTIONS_ERROR;
        switch (c) {
        case OPT_KERNEL: cfg->kernel = optarg; break;
        case OPT_INITRD:
            if (parse_initrds(optarg, cfg, buf, buflen, err, errlen) < 0)
                return OPTIONS_ERROR;
            break;
        case OPT_CMDLINE: cfg->cmdline = optarg; break;
        case OPT_MEMORY:
            if (parse_memory_opt(optarg, cfg, err, errlen) < 0)
                return OPTIONS_ERROR;
            break;
        case OPT_CPUS:
            if (parse_cpus(optarg, &cfg->cpus, err, errlen) < 0)
                return OPTIONS_ERROR;
            break;
        case OPT_DEBUG_EXIT: cfg->debug_exit = true; break;
        case OPT_TESTDEV: cfg->testdev = true; break;
        case OPT_API_SOCKET:
            if (parse_api_socket(optarg, cfg, err, errlen) < 0)
                return OPTIONS_ERROR;
            break;
        case OPT_RESTORE: cfg->restore = optarg; break;
        case OPT_SECCOMP: {
            enum sandbox_mode mode;
            if (sandbox_mode_parse(optarg, &mode) < 0) {
                snprintf(err, errlen, "--seccomp '%s': expected on, off or log", optarg);
                return OPTIONS_ERROR;
            }
            cfg->seccomp = (int)mode;
            break;
        }
        case OPT_LANDLOCK: cfg->landlock = true; break;
        case OPT_JAIL: {
            struct stat st;
            if (stat(optarg, &st) < 0 || !S_ISDIR(st.st_mode)) {
                snprintf(err, errlen, "--jail '%s': %s", optarg,
                         errno == ENOENT ? "no such directory" : "not a directory");
                return OPTIONS_ERROR;
            }
            cfg->jail = optarg;
            break;
        }
        case OPT_LANDLOCK_RULES: {
            char path[4096];
            unsigned access;
            if (landlock_rule_parse(optarg, path, sizeof path, &access, err, errlen) < 0)
                return OPTIONS_ERROR;
            if (cfg->nlandlock_rules == CONFIG_MAX_LANDLOCK_RULES) {
                snprintf(err, errlen, "at most %d --landlock-rules options",
                         CONFIG_MAX_LANDLOCK_RULES);
                return OPTIONS_ERROR;
            }
            cfg->landlock_rules[cfg->nlandlock_rules++] = optarg;
            break;
        }
        case OPT_USER: {
            struct sandbox_privileges p = { 0 };
            if (privileges_parse_user(optarg, &p, err, errlen) < 0)
                return OPTIONS_ERROR;
            cfg->switch_user = true;
            cfg->uid = p.uid;
            cfg->gid = p.gid;
            break;
        }
        case OPT_EVENT_MONITOR:
            if (parse_path_or_fd("--event-monitor", optarg, false, &cfg->event_path,
                                 &cfg->event_fd, err, errlen) < 0)
                return OPTIONS_ERROR;
            break;
        case OPT_CPU_FILTER:
            if (check_list("--cpu-filter", optarg, "feature name", err, errlen) < 0 ||
                cpu_filter_parse(optarg, &cfg->cpu_filter, err, errlen) < 0)
                return OPTIONS_ERROR;
            break;
        case OPT_RNG: cfg->rng = true; break;
        case OPT_CONSOLE:
            if (!strcmp(optarg, "serial")) {
                cfg->console = CONSOLE_SERIAL;
            } else if (!strcmp(optarg, "virtio")) {
                cfg->console = CONSOLE_VIRTIO;
            } else {
                snprintf(err, errlen, "--console '%s': expected serial or virtio", optarg);
                return OPTIONS_ERROR;
            }
            break;
        case OPT_DISK:
            if (parse_disk(optarg, cfg, err, errlen) < 0)
                return OPTIONS_ERROR;
            break;
        case OPT_NET:
            if (parse_net(optarg, cfg, err, errlen) < 0)
                return OPTIONS_ERROR;
            break;
        case 'v': cfg->verbose = true; break;
        case 'h': return OPTIONS_HELP;
        case OPT_VERSION: return OPTIONS_VERSION;
        case ':':
            snprintf(err, errlen, "option '%s' needs a value", argv[at]);
            return OPTIONS_ERROR;
        default:
            if (optopt >= OPT_KERNEL)   /* a known long option given "=VALUE" */
                snprintf(err, errlen, "option '%.*s' takes no value (got '%s')",
                         (int)strcspn(argv[at], "="), argv[at], argv[at]);
            else if (optopt)            /* in a cluster, argv[at] may be "-vx" */
                snprintf(err, errlen, "unknown option '-%c' (see kvmbox run --help)", optopt);
            else
                snprintf(err, errlen, "unknown option '%s' (see kvmbox run --help)", argv[at]);
            return OPTIONS_ERROR;
        }
    }
    if (optind < argc) {
        snprintf(err, errlen, "unexpected argument '%s' (see kvmbox run --help)", argv[optind]);
        return OPTIONS_ERROR;
    }
    /* Without --kernel, kvmbox starts empty (the API's vm.create brings
     * the VM's whole configuration) or restores a snapshot (whose
     * config.json has it): a VM option here would be ignored. */
    bool serve = cfg->api_path || cfg->api_fd;
    if (cfg->nlandlock_rules && !cfg->landlock) {
        snprintf(err, errlen, "--landlock-rules without --landlock");
        return OPTIONS_ERROR;
    }
    if (cfg->kernel && cfg->restore) {
        snprintf(err, errlen, "--kernel and --restore: a restored VM's kernel is in its snapshot");
        return OPTIONS_ERROR;
    }
    if (!cfg->kernel && !serve && !cfg->restore) {
        snprintf(err, errlen, "--kernel is required, or --restore, or --api-socket to start "
                 "without a VM (see kvmbox run --help)");
        return OPTIONS_ERROR;
    }
    for (unsigned id = 0; !cfg->kernel && id < NOPTS; id++) {
        if (given[id] && !vmm_option(id + OPT_KERNEL)) {
            for (const struct option *o = long_opts; o->name; o++) {
                if (o->val == (int)id + OPT_KERNEL) {
                    snprintf(err, errlen, "--%s without --kernel: the VM's configuration comes "
                             "from %s", o->name,
                             cfg->restore ? "the snapshot" : "the API's vm.create");
                    break;
                }
            }
            return OPTIONS_ERROR;
        }
    }
    return OPTIONS_RUN;
}
