#include "vmm/vmm_landlock.h"

#include "util/log.h"

#include <limits.h>

/* What kvmbox opens after start-up whatever the VM: libraries loaded
 * when first needed (libslirp, GnuTLS) and GnuTLS's settings, libslirp's
 * DNS servers, its own /proc files (the pagemap snapshots and migration
 * read), the TUN device for a TAP the API names. */
static const struct {
    const char *path;
    unsigned access;
} always[] = {
    { "/usr/lib", LANDLOCK_READ }, { "/lib", LANDLOCK_READ }, { "/etc/gnutls", LANDLOCK_READ },
    { "/etc/resolv.conf", LANDLOCK_READ }, { "/proc/self", LANDLOCK_READ },
    { "/dev/net/tun", LANDLOCK_READ | LANDLOCK_WRITE },
};

int vmm_landlock_ruleset(const struct vm_config *base, struct landlock_ruleset **out, char *err,
                         size_t errlen)
{
    *out = NULL;
    if (!base->landlock)
        return 0;
    bool missing;
    struct landlock_ruleset *r = landlock_ruleset_new(&missing, err, errlen);
    if (!r) {
        if (!missing)
            return -1;
        log_warn("%s; --landlock has no effect", err);
        return 0;
    }
    int bad = 0;
    for (size_t i = 0; i < sizeof always / sizeof always[0]; i++)
        bad |= landlock_allow(r, always[i].path, always[i].access, err, errlen);
    bad |= landlock_allow(r, base->kvm_path, LANDLOCK_READ | LANDLOCK_WRITE, err, errlen);
    if (base->kernel)
        bad |= landlock_allow(r, base->kernel, LANDLOCK_READ, err, errlen);
    for (unsigned i = 0; i < base->ninitrds; i++)
        bad |= landlock_allow(r, base->initrds[i], LANDLOCK_READ, err, errlen);
    for (unsigned i = 0; i < base->ndisks; i++)
        bad |= landlock_allow(r, base->disks[i].path,
                              LANDLOCK_READ | (base->disks[i].readonly ? 0 : LANDLOCK_WRITE), err,
                              errlen);
    for (unsigned i = 0; i < base->nlandlock_rules; i++) {
        char path[PATH_MAX];
        unsigned access;
        bad |= landlock_rule_parse(base->landlock_rules[i], path, sizeof path, &access, err,
                                   errlen) ||
               landlock_allow(r, path, access, err, errlen);
    }
    if (bad) {
        landlock_ruleset_free(r);
        return -1;
    }
    *out = r;
    return 0;
}
