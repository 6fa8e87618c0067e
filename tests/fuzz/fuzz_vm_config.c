/* libFuzzer target: vm.create's body (src/api/vm_config_json.c), the
 * input taken whole as the JSON text (not NUL-terminated: the parser gets
 * a copy of exactly `size` bytes, so ASan sees any read past it). A
 * refusal must leave one non-empty message and no config; an acceptance
 * must hand out a config within every rule of core/config_check.h, its
 * strings whole, freed without a leak. */
#include "api/vm_config_json.h"
#include "core/config_check.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check(const struct vm_config *c)
{
    if (!c->kernel || !c->kernel[0] || c->ninitrds > 1 || (c->ninitrds && !c->initrds[0][0]))
        abort();
    if (c->cpus < 1 || c->cpus > MAX_CPUS || c->mem_size < CONFIG_MIN_MEMORY ||
        c->mem_size > MAX_MEMORY || c->mem_size & 0xfff ||
        (c->mem_hugepages && c->mem_size % CONFIG_HUGEPAGE_SIZE))
        abort();
    if (c->ndisks > CONFIG_MAX_DISKS || c->nnets > CONFIG_MAX_NETS)
        abort();
    /* An id may start with '_' only as the one kvmbox would give that
     * device anyway (a snapshot's config.json names them so): _diskI,
     * then _netN counting on after the disks. */
    const char *ids[CONFIG_MAX_DISKS + CONFIG_MAX_NETS];
    char own[CONFIG_MAX_DISKS + CONFIG_MAX_NETS][16];
    unsigned nids = 0;
    for (unsigned i = 0; i < c->ndisks; i++) {
        const struct disk_config *d = &c->disks[i];
        if (!d->path[0] || strnlen(d->path, sizeof d->path) == sizeof d->path ||
            strnlen(d->serial, sizeof d->serial) == sizeof d->serial)
            abort();
        snprintf(own[nids], sizeof own[nids], "_disk%u", i);
        ids[nids++] = d->id;
    }
    for (unsigned i = 0; i < c->nnets; i++) {
        const struct net_config *n = &c->nets[i];
        if (n->kind == NET_TAP ? !n->ifname[0] || n->nfwd || n->restricted : n->ifname[0])
            abort();
        if (n->nfwd > CONFIG_MAX_HOSTFWDS || (n->has_mac && (n->mac[0] & 1)))
            abort();
        for (unsigned j = 0; j < n->nfwd; j++)
            if (!n->fwd[j].host_port || !n->fwd[j].guest_port)
                abort();
        snprintf(own[nids], sizeof own[nids], "_net%u", c->ndisks + i);
        ids[nids++] = n->id;
    }
    for (unsigned i = 0; i < nids; i++) {
        if (strnlen(ids[i], CONFIG_ID_MAX + 1) > CONFIG_ID_MAX ||
            (ids[i][0] == '_' && strcmp(ids[i], own[i])))
            abort();
        for (unsigned j = 0; j < i; j++)
            if (ids[i][0] && !strcmp(ids[i], ids[j]))
                abort();
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *body = malloc(size ? size : 1);
    if (!body)
        return 0;
    memcpy(body, data, size);
    struct vm_config base;
    config_init(&base);
    base.api_path = "/run/kvmbox.sock";
    char err[256];
    err[0] = 0;
    struct vm_config *cfg = (struct vm_config *)&base;
    int r = vm_config_from_json(body, size, &base, &cfg, err, sizeof err);
    if (r < 0) {
        if (cfg || !err[0] || !memchr(err, 0, sizeof err))
            abort();
    } else {
        if (r != 0 || !cfg || strcmp(cfg->api_path, "/run/kvmbox.sock"))
            abort();
        check(cfg);
        vm_config_free(cfg);
    }
    free(body);
    return 0;
}
