#include "cli/options.h"

#include "arch/x86/layout.h"
#include "util/size.h"

#include <getopt.h>
#include <stdlib.h>
#include <string.h>

enum {
    OPT_KERNEL = 1000, OPT_INITRD, OPT_CMDLINE, OPT_MEMORY, OPT_CPUS, OPT_DEBUG_EXIT,
    OPT_CPU_FILTER, OPT_VERSION, OPT_RNG, OPT_DISK,
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
          "  --disk path=FILE[,readonly=on][,serial=ID]\n"
          "                     a virtio-blk disk (repeatable; the file is locked)\n"
          "  --rng              a virtio-rng device fed from the host's getrandom\n"
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

/* "path=FILE[,readonly=on|off][,serial=ID]"; a bare FILE is a path. */
static int parse_disk(const char *arg, struct vm_config *cfg, char *err, size_t errlen)
{
    if (cfg->ndisks == CONFIG_MAX_DISKS) {
        snprintf(err, errlen, "at most %d --disk options", CONFIG_MAX_DISKS);
        return -1;
    }
    struct disk_config *d = &cfg->disks[cfg->ndisks];
    memset(d, 0, sizeof *d);
    const char *p = arg;
    while (*p) {
        const char *end = strchr(p, ',');
        size_t n = end ? (size_t)(end - p) : strlen(p);
        const char *eq = memchr(p, '=', n);
        size_t klen = eq ? (size_t)(eq - p) : 0;
        const char *val = eq ? eq + 1 : p;
        size_t vlen = eq ? n - klen - 1 : n;
        if (!eq || (klen == 4 && !strncmp(p, "path", 4))) {
            if (vlen == 0 || vlen >= sizeof d->path) {
                snprintf(err, errlen, "--disk '%s': bad path", arg);
                return -1;
            }
            memcpy(d->path, val, vlen);
            d->path[vlen] = 0;
        } else if (klen == 8 && !strncmp(p, "readonly", 8)) {
            if (vlen == 2 && !strncmp(val, "on", 2))
                d->readonly = true;
            else if (vlen == 3 && !strncmp(val, "off", 3))
                d->readonly = false;
            else {
                snprintf(err, errlen, "--disk '%s': readonly= takes on or off", arg);
                return -1;
            }
        } else if (klen == 6 && !strncmp(p, "serial", 6)) {
            if (vlen > CONFIG_DISK_SERIAL_MAX) {
                snprintf(err, errlen, "--disk '%s': serial= is at most %d characters", arg,
                         CONFIG_DISK_SERIAL_MAX);
                return -1;
            }
            memcpy(d->serial, val, vlen);
            d->serial[vlen] = 0;
        } else {
            snprintf(err, errlen, "--disk '%s': unknown key '%.*s' (path, readonly, serial)", arg,
                     (int)klen, p);
            return -1;
        }
        p += n + (end ? 1 : 0);
    }
    if (!d->path[0]) {
        snprintf(err, errlen, "--disk '%s' needs path=FILE", arg);
        return -1;
    }
    cfg->ndisks++;
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
        case OPT_DISK:
            if (parse_disk(optarg, cfg, err, errlen) < 0)
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
