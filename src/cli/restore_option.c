#include "cli/restore_option.h"

#include "cli/kv.h"

#include <stdio.h>
#include <string.h>

#define OPT "--restore"

/* "ID:VALUE" into an override. */
static int override(const char *arg, const struct kv *kv, struct restore_override *list,
                    unsigned *n, unsigned max, char *err, size_t errlen)
{
    const char *colon = memchr(kv->val, ':', kv->vlen);
    size_t idlen = colon ? (size_t)(colon - kv->val) : 0;
    size_t vlen = colon ? kv->vlen - idlen - 1 : 0;
    if (*n == max) {
        snprintf(err, errlen, OPT " '%s': at most %u %.*s=", arg, max, (int)kv->klen, kv->key);
        return -1;
    }
    struct restore_override *o = &list[*n];
    if (!colon || !idlen || idlen >= sizeof o->id || !vlen || vlen >= sizeof o->value) {
        snprintf(err, errlen, OPT " '%s': %.*s= takes ID:%s (the device's id, e.g. _net1)", arg,
                 (int)kv->klen, kv->key, kv_is(kv, "tap") ? "IFNAME" : "PATH");
        return -1;
    }
    memcpy(o->id, kv->val, idlen);
    o->id[idlen] = 0;
    memcpy(o->value, colon + 1, vlen);
    o->value[vlen] = 0;
    (*n)++;
    return 0;
}

int restore_option_parse(const char *arg, struct restore_request *req, char *err, size_t errlen)
{
    memset(req, 0, sizeof *req);
    if (kv_check_items(OPT, arg, "tap disk", err, errlen) < 0)
        return -1;
    const char *p = arg;
    struct kv kv;
    bool have_url = false, prefault = false, ondemand = false;
    while (kv_next(&p, &kv)) {
        if (kv_is(&kv, "source_url")) {
            if (snapshot_url_path(kv.val, kv.vlen, req->path, sizeof req->path, err, errlen) < 0)
                return -1;
            have_url = true;
        } else if (kv_is(&kv, "resume")) {
            if (kv_on_off(OPT, arg, &kv, &req->resume, err, errlen) < 0)
                return -1;
        } else if (kv_is(&kv, "prefault")) {
            if (kv_on_off(OPT, arg, &kv, &prefault, err, errlen) < 0)
                return -1;
        } else if (kv_is(&kv, "memory_restore_mode")) {
            if (!kv_val_is(&kv, "copy") && !kv_val_is(&kv, "ondemand")) {
                snprintf(err, errlen, OPT " '%s': memory_restore_mode= takes copy or ondemand",
                         arg);
                return -1;
            }
            ondemand = kv_val_is(&kv, "ondemand");
        } else if (kv_is(&kv, "tap")) {
            if (override(arg, &kv, req->taps, &req->ntaps, CONFIG_MAX_NETS, err, errlen) < 0)
                return -1;
        } else if (kv_is(&kv, "disk")) {
            if (override(arg, &kv, req->disks, &req->ndisks, CONFIG_MAX_DISKS, err, errlen) < 0)
                return -1;
        } else {
            return kv_unknown_key(OPT, arg, &kv,
                                  "source_url, resume, memory_restore_mode, prefault, tap, disk",
                                  err, errlen);
        }
    }
    if (!have_url) {
        snprintf(err, errlen, OPT " '%s' needs source_url=file:///DIR", arg);
        return -1;
    }
    /* prefault asks for RAM read in before the VM runs: copy does that. */
    req->ondemand = ondemand && !prefault;
    return 0;
}
