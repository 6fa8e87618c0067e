#include "cli/options.h"

#include "arch/x86/layout.h"
#include "util/size.h"

#include <arpa/inet.h>
#include <getopt.h>
#include <stdlib.h>
#include <string.h>

enum {
    OPT_KERNEL = 1000, OPT_INITRD, OPT_CMDLINE, OPT_MEMORY, OPT_CPUS, OPT_DEBUG_EXIT,
    OPT_CPU_FILTER, OPT_VERSION, OPT_RNG, OPT_DISK, OPT_CONSOLE, OPT_NET,
};

static const struct option long_opts[] = {
    { "kernel", required_argument, NULL, OPT_KERNEL },
    { "initrd", required_argument, NULL, OPT_INITRD },
    { "cmdline", required_argument, NULL, OPT_CMDLINE },
    { "memory", required_argument, NULL, OPT_MEMORY },
    { "cpus", required_argument, NULL, OPT_CPUS },
    { "debug-exit", no_argument, NULL, OPT_DEBUG_EXIT },
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
          "\n"
          "Boots one virtual machine on /dev/kvm and runs it until the guest stops.\n"
          "\n"
          "  --kernel FILE      Linux bzImage, PVH ELF or multiboot kernel (detected)\n"
          "  --initrd FILE[,FILE...]\n"
          "                     Linux initrd, or PVH/multiboot modules in order\n"
          "  --cmdline STRING   kernel command line (Linux default:\n"
          "                     \"console=ttyS0 reboot=k panic=-1\")\n"
          "  --memory SIZE      guest RAM, e.g. 512M, 4G (bare number: MiB; default 512M)\n"
          "  --cpus N           number of vCPUs (default 1)\n"
          "  --debug-exit       exit device at port 0xf4: writing V exits with (V<<1)|1\n"
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

static int parse_memory(const char *arg, uint64_t *out, char *err, size_t errlen)
{
    uint64_t v;
    /* A bare number means MiB, as QEMU's -m: bytes would never be meant. */
    bool bare = arg[0] && strspn(arg, "0123456789") == strlen(arg);
    if (parse_size(arg, &v) < 0 || (bare && v > (UINT64_MAX >> 20))) {
        snprintf(err, errlen, "--memory '%s' is not a size (examples: 512M, 4G)", arg);
        return -1;
    }
    if (bare)
        v <<= 20;
    if (v < LAYOUT_MIN_RAM) {
        snprintf(err, errlen, "--memory %s is too small: at least 2M", arg);
        return -1;
    }
    if (v > MAX_MEMORY) {
        snprintf(err, errlen, "--memory %s is too large: at most 1T", arg);
        return -1;
    }
    if (v & 0xfff) {
        snprintf(err, errlen, "--memory %s is not a multiple of 4K", arg);
        return -1;
    }
    *out = v;
    return 0;
}

static int parse_cpus(const char *arg, unsigned *out, char *err, size_t errlen)
{
    char *end;
    long n = strtol(arg, &end, 10);
    if (!*arg || *end || n < 1 || n > MAX_CPUS) {
        snprintf(err, errlen, "--cpus '%s' must be a number from 1 to %d", arg, MAX_CPUS);
        return -1;
    }
    *out = (unsigned)n;
    return 0;
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
    memcpy(buf, arg, len);
    cfg->ninitrds = 0;
    for (char *save = NULL, *p = strtok_r(buf, ",", &save); p; p = strtok_r(NULL, ",", &save)) {
        if (cfg->ninitrds == CONFIG_MAX_INITRDS) {
            snprintf(err, errlen, "--initrd names more than %d files", CONFIG_MAX_INITRDS);
            return -1;
        }
        cfg->initrds[cfg->ninitrds++] = p;
    }
    if (cfg->ninitrds == 0) {
        snprintf(err, errlen, "--initrd names no file");
        return -1;
    }
    return 0;
}

/* One item of a comma-separated device option: "key=value", or a bare
 * "value" (key NULL). */
struct kv {
    const char *key, *val;
    size_t klen, vlen;
};

static bool kv_next(const char **p, struct kv *kv)
{
    if (!**p)
        return false;
    const char *end = strchr(*p, ',');
    size_t n = end ? (size_t)(end - *p) : strlen(*p);
    const char *eq = memchr(*p, '=', n);
    kv->key = eq ? *p : NULL;
    kv->klen = eq ? (size_t)(eq - *p) : 0;
    kv->val = eq ? eq + 1 : *p;
    kv->vlen = eq ? n - kv->klen - 1 : n;
    *p += n + (end ? 1 : 0);
    return true;
}

static bool kv_is(const struct kv *kv, const char *key)
{
    return kv->key && kv->klen == strlen(key) && !strncmp(kv->key, key, kv->klen);
}

static bool kv_val_is(const struct kv *kv, const char *val)
{
    return kv->vlen == strlen(val) && !strncmp(kv->val, val, kv->vlen);
}

/* Copies the value into a string of `size` bytes; false if it is empty
 * or does not fit. */
static bool kv_copy(const struct kv *kv, char *dst, size_t size)
{
    if (kv->vlen == 0 || kv->vlen >= size)
        return false;
    memcpy(dst, kv->val, kv->vlen);
    dst[kv->vlen] = 0;
    return true;
}

static int parse_on_off(const char *opt, const char *arg, const struct kv *kv, bool *out,
                        char *err, size_t errlen)
{
    if (kv_val_is(kv, "on") || kv_val_is(kv, "off")) {
        *out = kv_val_is(kv, "on");
        return 0;
    }
    snprintf(err, errlen, "%s '%s': %.*s= takes on or off", opt, arg, (int)kv->klen, kv->key);
    return -1;
}

static int unknown_key(const char *opt, const char *arg, const struct kv *kv, const char *known,
                       char *err, size_t errlen)
{
    if (kv->key)
        snprintf(err, errlen, "%s '%s': unknown key '%.*s' (%s)", opt, arg, (int)kv->klen,
                 kv->key, known);
    else
        snprintf(err, errlen, "%s '%s': unexpected '%.*s' (%s)", opt, arg, (int)kv->vlen,
                 kv->val, known);
    return -1;
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
    const char *p = arg;
    struct kv kv;
    while (kv_next(&p, &kv)) {
        if (!kv.key || kv_is(&kv, "path")) {
            if (!kv_copy(&kv, d->path, sizeof d->path)) {
                snprintf(err, errlen, "--disk '%s': bad path", arg);
                return -1;
            }
        } else if (kv_is(&kv, "readonly")) {
            if (parse_on_off("--disk", arg, &kv, &d->readonly, err, errlen) < 0)
                return -1;
        } else if (kv_is(&kv, "direct")) {
            if (parse_on_off("--disk", arg, &kv, &d->direct, err, errlen) < 0)
                return -1;
        } else if (kv_is(&kv, "serial")) {
            if (kv.vlen > CONFIG_DISK_SERIAL_MAX) {
                snprintf(err, errlen, "--disk '%s': serial= is at most %d characters", arg,
                         CONFIG_DISK_SERIAL_MAX);
                return -1;
            }
            memcpy(d->serial, kv.val, kv.vlen);
            d->serial[kv.vlen] = 0;
        } else {
            return unknown_key("--disk", arg, &kv, "path, readonly, direct, serial", err, errlen);
        }
    }
    if (!d->path[0]) {
        snprintf(err, errlen, "--disk '%s' needs path=FILE", arg);
        return -1;
    }
    cfg->ndisks++;
    return 0;
}

static bool parse_mac(const struct kv *kv, uint8_t mac[6])
{
    char s[18], tail;
    unsigned b[6];
    if (!kv_copy(kv, s, sizeof s) ||
        sscanf(s, "%2x:%2x:%2x:%2x:%2x:%2x%c", &b[0], &b[1], &b[2], &b[3], &b[4], &b[5],
               &tail) != 6 || kv->vlen != 17)
        return false;
    for (int i = 0; i < 6; i++)
        mac[i] = (uint8_t)b[i];
    /* A multicast address cannot be a station's. */
    return !(mac[0] & 1);
}

static bool parse_port(const char *s, size_t n, uint16_t *port)
{
    unsigned long v = 0;
    if (n == 0 || n > 5 || strspn(s, "0123456789") < n)
        return false;
    for (size_t i = 0; i < n; i++)
        v = v * 10 + (unsigned long)(s[i] - '0');
    if (v == 0 || v > 65535)
        return false;
    *port = (uint16_t)v;
    return true;
}

/* "ADDR:PORT" with ADDR optional (INADDR_ANY). */
static bool parse_addr_port(const char *s, size_t n, struct in_addr *addr, uint16_t *port)
{
    const char *colon = memrchr(s, ':', n);
    char a[16];
    if (!colon)
        return false;
    size_t alen = (size_t)(colon - s);
    addr->s_addr = INADDR_ANY;
    if (alen) {
        if (alen >= sizeof a)
            return false;
        memcpy(a, s, alen);
        a[alen] = 0;
        if (inet_pton(AF_INET, a, addr) != 1)
            return false;
    }
    return parse_port(colon + 1, n - alen - 1, port);
}

/* "tcp:[HOSTADDR]:HOSTPORT-[GUESTADDR]:GUESTPORT", or udp:, as QEMU. */
static bool parse_hostfwd(const struct kv *kv, struct hostfwd *f)
{
    const char *s = kv->val, *end = kv->val + kv->vlen;
    if (kv->vlen > 4 && !strncmp(s, "tcp:", 4))
        f->udp = false;
    else if (kv->vlen > 4 && !strncmp(s, "udp:", 4))
        f->udp = true;
    else
        return false;
    s += 4;
    const char *dash = memchr(s, '-', (size_t)(end - s));
    return dash && parse_addr_port(s, (size_t)(dash - s), &f->host_addr, &f->host_port) &&
           parse_addr_port(dash + 1, (size_t)(end - dash - 1), &f->guest_addr, &f->guest_port);
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
    const char *p = arg;
    struct kv kv;
    bool have_kind = false;
    while (kv_next(&p, &kv)) {
        if (!have_kind) {
            have_kind = true;
            if (kv_is(&kv, "tap")) {
                n->kind = NET_TAP;
                if (!kv_copy(&kv, n->ifname, sizeof n->ifname)) {
                    snprintf(err, errlen, "--net '%s': tap= needs an interface name of at most "
                             "%d characters", arg, CONFIG_IFNAME_MAX);
                    return -1;
                }
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
            if (!parse_mac(&kv, n->mac)) {
                snprintf(err, errlen, "--net '%s': mac= takes a unicast address like "
                         "52:54:00:12:34:56", arg);
                return -1;
            }
            n->has_mac = true;
        } else if (kv_is(&kv, "hostfwd") && n->kind == NET_USER) {
            if (n->nfwd == CONFIG_MAX_HOSTFWDS) {
                snprintf(err, errlen, "--net '%s': at most %d hostfwd=", arg, CONFIG_MAX_HOSTFWDS);
                return -1;
            }
            if (!parse_hostfwd(&kv, &n->fwd[n->nfwd++])) {
                snprintf(err, errlen, "--net '%s': hostfwd= takes tcp:[HOSTADDR]:HOSTPORT-"
                         "[GUESTADDR]:GUESTPORT (or udp:...), e.g. tcp::2222-:22", arg);
                return -1;
            }
        } else if (kv_is(&kv, "restrict") && n->kind == NET_USER) {
            if (parse_on_off("--net", arg, &kv, &n->restricted, err, errlen) < 0)
                return -1;
        } else {
            return unknown_key("--net", arg, &kv, n->kind == NET_USER ? "mac, hostfwd, restrict" : "mac",
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

enum options_result options_parse_run(int argc, char **argv, struct vm_config *cfg,
                                      char *buf, size_t buflen, char *err, size_t errlen)
{
    memset(cfg, 0, sizeof *cfg);
    cfg->mem_size = 512ULL << 20;
    cfg->cpus = 1;
    cfg->kvm_path = "/dev/kvm";

    optind = 0;   /* reset getopt: the parser may run more than once */
    opterr = 0;   /* our messages, not getopt's */
    int c;
    while ((c = getopt_long(argc, argv, "+:vh", long_opts, NULL)) != -1) {
        switch (c) {
        case OPT_KERNEL: cfg->kernel = optarg; break;
        case OPT_INITRD:
            if (parse_initrds(optarg, cfg, buf, buflen, err, errlen) < 0)
                return OPTIONS_ERROR;
            break;
        case OPT_CMDLINE: cfg->cmdline = optarg; break;
        case OPT_MEMORY:
            if (parse_memory(optarg, &cfg->mem_size, err, errlen) < 0)
                return OPTIONS_ERROR;
            break;
        case OPT_CPUS:
            if (parse_cpus(optarg, &cfg->cpus, err, errlen) < 0)
                return OPTIONS_ERROR;
            break;
        case OPT_DEBUG_EXIT: cfg->debug_exit = true; break;
        case OPT_CPU_FILTER:
            if (cpu_filter_parse(optarg, &cfg->cpu_filter, err, errlen) < 0)
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
            snprintf(err, errlen, "option '%s' needs a value", argv[optind - 1]);
            return OPTIONS_ERROR;
        default:
            snprintf(err, errlen, "unknown option '%s' (see kvmbox run --help)",
                     argv[optind - 1]);
            return OPTIONS_ERROR;
        }
    }
    if (optind < argc) {
        snprintf(err, errlen, "unexpected argument '%s' (see kvmbox run --help)", argv[optind]);
        return OPTIONS_ERROR;
    }
    if (!cfg->kernel) {
        snprintf(err, errlen, "--kernel is required (see kvmbox run --help)");
        return OPTIONS_ERROR;
    }
    return OPTIONS_RUN;
}
