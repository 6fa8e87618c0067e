/* kvmbox: a virtual machine monitor on /dev/kvm. */
#include "api/api.h"
#include "cli/ctl.h"
#include "cli/restore_option.h"
#include "cli/options.h"
#include "sandbox/jail.h"
#include "util/log.h"
#include "util/stdfds.h"
#include "vmm/vmm.h"

#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#ifndef KVMBOX_VERSION
#define KVMBOX_VERSION "0.1.0"
#endif

static void usage(FILE *out)
{
    fputs("usage: kvmbox COMMAND [options]\n"
          "\n"
          "commands:\n"
          "  run      boot a virtual machine (kvmbox run --help)\n"
          "  ctl      drive a kvmbox that serves --api-socket (kvmbox ctl --help)\n"
          "\n"
          "  -h, --help     this help\n"
          "      --version  print the version\n", out);
}

static int cmd_run(int argc, char **argv)
{
    struct vm_config cfg;
    char buf[4096];
    char err[512];
    switch (options_parse_run(argc, argv, &cfg, buf, sizeof buf, err, sizeof err)) {
    case OPTIONS_HELP:
        options_usage(stdout);
        return 0;
    case OPTIONS_VERSION:
        printf("kvmbox %s\n", KVMBOX_VERSION);
        return 0;
    case OPTIONS_ERROR:
        log_error("%s", err);
        return 1;
    case OPTIONS_RUN:
        break;
    }
    log_set_verbose(cfg.verbose);
    /* A test hook as much as a feature: point kvmbox at another device
     * node (or a missing one) without touching /dev. */
    const char *dev = getenv("KVMBOX_KVM_DEVICE");
    if (dev && *dev)
        cfg.kvm_path = dev;

    /* --restore is read whole before anything starts: bad syntax is an
     * error now, not after the VMM is up. */
    struct restore_request restore;
    if (cfg.restore && restore_option_parse(cfg.restore, &restore, err, sizeof err) < 0) {
        log_error("%s", err);
        return 1;
    }
    if (cfg.restore && !restore.resume && !cfg.api_path && !cfg.api_fd) {
        log_error("--restore without --api-socket needs resume=on: nothing could resume the "
                  "restored VM");
        return 1;
    }
    /* --jail: the namespaces and the fork, while kvmbox has one thread
     * (the parent waits outside and ends as the child does). */
    if (cfg.jail && jail_spawn(err, sizeof err) < 0) {
        log_error("%s", err);
        return 1;
    }
    struct vmm m;
    int status = 1;
    struct api *api = NULL;
    char why[512];
    if (vmm_init(&m, &cfg) < 0)
        goto out;
    bool serve = cfg.api_path || cfg.api_fd;
    m.reboot_on_reset = serve;
    /* With --kernel the VM boots now (a failure ends kvmbox, API or not);
     * without it the VMM starts empty and the API creates the VM. */
    if (cfg.kernel && (vmm_vm_create(&m, &cfg, NULL, why, sizeof why) < 0 ||
                       vmm_vm_boot(&m, why, sizeof why) < 0))
        goto out;
    /* What went wrong inside the restore has been logged already (a
     * disk's size, a locked file): say it once. */
    log_clear_last_error();
    if (cfg.restore && restore_vm(&m, &restore, why, sizeof why) != VMM_OK) {
        if (!*log_last_error())
            log_error("%s", why);
        goto out;
    }
    if (serve && !(api = api_start(&m, why, sizeof why))) {
        log_error("%s", why);
        goto out;
    }
    status = vmm_run(&m);
out:
    api_stop(api);
    vmm_destroy(&m);
    fflush(stdout);
    return status;
}

int main(int argc, char **argv)
{
    /* Before anything is opened: see util/stdfds.h. */
    if (stdfds_ensure_open() < 0) {
        static const char msg[] = "kvmbox: error: cannot open /dev/null for a closed standard stream\n";
        if (write(STDERR_FILENO, msg, sizeof msg - 1) < 0) {
            /* stderr is closed too: the exit status has to say it */
        }
        return 1;
    }
    nofile_limit_raise();
    /* Buffers of 128 KiB and more (an API request's body, a migration
     * message) are mapped for themselves and go back to the system when
     * freed. Left to itself, glibc raises that threshold to the size of
     * the first one freed, and later bursts stay in the heap after they
     * are answered (test_limits.sh: 32 clients with 4 MiB bodies, twice). */
    mallopt(M_MMAP_THRESHOLD, 128 * 1024);
    if (argc < 2) {
        usage(stderr);
        return 1;
    }
    const char *cmd = argv[1];
    if (!strcmp(cmd, "-h") || !strcmp(cmd, "--help")) {
        usage(stdout);
        return 0;
    }
    if (!strcmp(cmd, "--version")) {
        printf("kvmbox %s\n", KVMBOX_VERSION);
        return 0;
    }
    if (!strcmp(cmd, "run"))
        return cmd_run(argc - 1, argv + 1);
    if (!strcmp(cmd, "ctl"))
        return ctl_main(argc - 1, argv + 1);
    log_error("unknown command '%s' (try kvmbox --help)", cmd);
    return 1;
}
