#include "api/restore_request.h"

#include "api/json_read.h"
#include "api/vm_config_json.h"
#include "core/config_check.h"
#include "migration/snapshot_dir.h"

#include <stdio.h>
#include <string.h>

int snapshot_url_path(const char *url, size_t len, char *path, size_t size, char *err,
                      size_t errlen)
{
    static const char scheme[] = "file://";
    size_t n = sizeof scheme - 1;
    if (len < n || strncmp(url, scheme, n) || len - n == 0 || url[n] != '/') {
        snprintf(err, errlen, "'%.*s': expected file:///DIR (an absolute path; file:// is the "
                 "only scheme)", (int)(len < 200 ? len : 200), url);
        return -1;
    }
    if (len - n >= size) {
        snprintf(err, errlen, "the snapshot path is longer than %zu bytes", size - 1);
        return -1;
    }
    memcpy(path, url + n, len - n);
    path[len - n] = 0;
    return 0;
}

int snapshot_request_from_json(const char *body, size_t len, char *path, size_t size, char *err,
                               size_t errlen)
{
    struct json_read jr = { err, errlen };
    json_object *root = json_read_object(&jr, body, len, "a SnapshotConfig");
    const char *url;
    size_t ulen;
    int r = -1;
    if (root && json_get_string(&jr, root, "", "destination_url", &url, &ulen) == 0) {
        if (!url)
            json_fail(&jr, "destination_url is required");
        else
            r = snapshot_url_path(url, ulen, path, size, err, errlen);
    }
    json_object_put(root);
    return r;
}

/* {"ID": "VALUE", ...} into overrides. */
static int read_overrides(struct json_read *jr, json_object *ext, const char *key, size_t max,
                          struct restore_override *out, unsigned *n)
{
    json_object *o;
    if (json_get_typed(jr, ext, "kvmbox.", key, json_type_object, &o) < 0)
        return -1;
    if (!o)
        return 0;
    json_object_object_foreach(o, id, val) {
        if (*n == max)
            return json_fail(jr, "kvmbox.%s: at most %zu", key, max);
        const char *v;
        size_t vlen;
        char prefix[96];
        snprintf(prefix, sizeof prefix, "kvmbox.%s.", key);
        if (json_get_string(jr, o, prefix, id, &v, &vlen) < 0)
            return -1;
        if (!v)
            continue;
        struct restore_override *ov = &out[(*n)++];
        if (strlen(id) >= sizeof ov->id || vlen == 0 || vlen >= sizeof ov->value)
            return json_fail(jr, "kvmbox.%s.%.40s: an id of at most %d characters and a value of "
                             "1 to %zu", key, id, CONFIG_ID_MAX, sizeof ov->value - 1);
        snprintf(ov->id, sizeof ov->id, "%s", id);
        memcpy(ov->value, v, vlen + 1);
        (void)val;
    }
    return 0;
}

int restore_request_from_json(const char *body, size_t len, struct restore_request *req,
                              char *err, size_t errlen)
{
    memset(req, 0, sizeof *req);
    struct json_read jr = { err, errlen };
    json_object *root = json_read_object(&jr, body, len, "a RestoreConfig");
    if (!root)
        return -1;
    const char *url, *mode;
    size_t ulen, mlen;
    bool prefault = false;
    json_object *ext;
    int r = -1;
    if (json_get_string(&jr, root, "", "source_url", &url, &ulen) < 0 ||
        json_get_bool(&jr, root, "", "resume", &req->resume) < 0 ||
        json_get_bool(&jr, root, "", "prefault", &prefault) < 0 ||
        json_get_string(&jr, root, "", "memory_restore_mode", &mode, &mlen) < 0 ||
        json_get_typed(&jr, root, "", "kvmbox", json_type_object, &ext) < 0)
        goto out;
    if (!url) {
        json_fail(&jr, "source_url is required");
        goto out;
    }
    if (snapshot_url_path(url, ulen, req->path, sizeof req->path, err, errlen) < 0)
        goto out;
    /* prefault asks for RAM read in before the VM runs: copy does that. */
    if (mode && !strcasecmp(mode, "ondemand"))
        req->ondemand = !prefault;
    else if (mode && strcasecmp(mode, "copy")) {
        json_fail(&jr, "memory_restore_mode '%.40s': expected copy or ondemand", mode);
        goto out;
    }
    if (ext && (read_overrides(&jr, ext, "taps", CONFIG_MAX_NETS, req->taps, &req->ntaps) < 0 ||
                read_overrides(&jr, ext, "disks", CONFIG_MAX_DISKS, req->disks, &req->ndisks) < 0))
        goto out;
    r = 0;
out:
    json_object_put(root);
    return r;
}

/* Puts the overrides into the snapshot's configuration, each by the id
 * its device has there. */
static int apply_overrides(struct vm_config *cfg, const struct restore_request *req, char *err,
                           size_t errlen)
{
    char id[CONFIG_ID_MAX + 1], what[96];
    for (unsigned k = 0; k < req->ntaps; k++) {
        unsigned i = 0;
        for (; i < cfg->nnets; i++) {
            config_net_id(cfg, i, id, sizeof id);
            if (!strcmp(id, req->taps[k].id))
                break;
        }
        if (i == cfg->nnets || cfg->nets[i].kind != NET_TAP) {
            snprintf(err, errlen, "tap override for '%s': the snapshot has no TAP NIC of that id",
                     req->taps[k].id);
            return -1;
        }
        snprintf(what, sizeof what, "the tap override for %s", id);
        if (config_set_ifname(&cfg->nets[i], req->taps[k].value, strlen(req->taps[k].value), what,
                              err, errlen) < 0)
            return -1;
    }
    for (unsigned k = 0; k < req->ndisks; k++) {
        unsigned i = 0;
        for (; i < cfg->ndisks; i++) {
            config_disk_id(cfg, i, id, sizeof id);
            if (!strcmp(id, req->disks[k].id))
                break;
        }
        if (i == cfg->ndisks) {
            snprintf(err, errlen, "disk override for '%s': the snapshot has no disk of that id",
                     req->disks[k].id);
            return -1;
        }
        snprintf(what, sizeof what, "the disk override for %s", id);
        if (config_set_disk_path(&cfg->disks[i], req->disks[k].value,
                                 strlen(req->disks[k].value), what, err, errlen) < 0)
            return -1;
    }
    return 0;
}

enum vmm_result restore_vm(struct vmm *m, const struct restore_request *req, char *err,
                           size_t errlen)
{
    if (m->cfg) {
        snprintf(err, errlen, "a VM has already been created: kvmbox restores into an empty VMM");
        return VMM_REFUSED;
    }
    struct snapshot snap;
    if (snapshot_open(req->path, &snap, err, errlen) < 0)
        return VMM_REFUSED;
    struct vm_config *cfg;
    char why[512];
    enum vmm_result r = VMM_REFUSED;
    if (vm_config_from_json(snap.config_json, snap.config_len, m->base, &cfg, why, sizeof why) < 0)
        snprintf(err, errlen, "%s/config.json: %s", req->path, why);
    else if (apply_overrides(cfg, req, err, errlen) < 0)
        vm_config_free(cfg);
    else
        r = vmm_vm_restore(m, cfg, vm_config_free, &snap, req->ondemand, req->resume, err, errlen);
    /* An on-demand mapping keeps what it needs of the memory file. */
    snapshot_close(&snap);
    return r;
}
