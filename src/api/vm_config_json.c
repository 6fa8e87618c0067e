#include "api/vm_config_json.h"

#include "api/json_read.h"
#include "core/config_check.h"
#include "vmm/cpuid.h"

#include <arpa/inet.h>
#include <inttypes.h>
#include <json-c/json.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* One allocation: the config, then the strings it points to. */
struct owned_config {
    struct vm_config cfg;   /* first: vm_config_free frees through it */
    char strings[];
};

struct ctx {
    struct json_read jr;     /* first: the error buffer the readers fill */
    char *pool, *pool_end;   /* what is left of owned_config.strings */
};

/* What keep_str takes for s. */
static size_t need(const char *s)
{
    return s ? strlen(s) + 1 : 0;
}

/* Copies a string into the allocation's string space, sized beforehand. */
static const char *keep(struct ctx *c, const char *s, size_t len)
{
    if (!s)
        return NULL;
    char *p = c->pool;
    if (len + 1 > (size_t)(c->pool_end - p))
        abort();   /* the sizing and the copies disagree: a bug, not input */
    memcpy(p, s, len);
    p[len] = 0;
    c->pool += len + 1;
    return p;
}

static const char *keep_str(struct ctx *c, const char *s)
{
    return keep(c, s, s ? strlen(s) : 0);
}

/* ---- payload ---- */

struct payload {
    const char *kernel, *cmdline, *initramfs;
    size_t kernel_len, cmdline_len, initramfs_len;
};

/* A payload string, or the older top-level form ("kernel": {"path": ...})
 * where the payload has none. */
static int payload_string(struct ctx *c, json_object *root, json_object *payload, const char *key,
                          const char *old_key, const char *old_member, const char **s,
                          size_t *len)
{
    if (payload && json_get_string(&c->jr, payload, "payload.", key, s, len) < 0)
        return -1;
    if (*s)
        return 0;
    json_object *old;
    if (json_get_typed(&c->jr, root, "", old_key, json_type_object, &old) < 0)
        return -1;
    if (!old)
        return 0;
    char prefix[32];
    snprintf(prefix, sizeof prefix, "%s.", old_key);
    return json_get_string(&c->jr, old, prefix, old_member, s, len);
}

static int parse_payload(struct ctx *c, json_object *root, struct payload *p)
{
    json_object *payload;
    if (json_get_typed(&c->jr, root, "", "payload", json_type_object, &payload) < 0)
        return -1;
    if (payload && (json_member(payload, "firmware") || json_member(payload, "igvm")))
        return json_fail(&c->jr, "payload.%s: kvmbox boots kernels only",
                    json_member(payload, "firmware") ? "firmware" : "igvm");
    if (payload_string(c, root, payload, "kernel", "kernel", "path", &p->kernel,
                       &p->kernel_len) < 0 ||
        payload_string(c, root, payload, "cmdline", "cmdline", "args", &p->cmdline,
                       &p->cmdline_len) < 0 ||
        payload_string(c, root, payload, "initramfs", "initramfs", "path", &p->initramfs,
                       &p->initramfs_len) < 0)
        return -1;
    if (!p->kernel)
        return json_fail(&c->jr, "payload.kernel is required");
    if (!p->kernel_len)
        return json_fail(&c->jr, "payload.kernel: empty path");
    /* An empty command line is a choice; an empty file name is not. */
    if (p->initramfs && !p->initramfs_len)
        return json_fail(&c->jr, "payload.initramfs: empty path");
    return 0;
}

/* ---- the rest of VmConfig ---- */

static int parse_cpus(struct ctx *c, json_object *root, struct vm_config *cfg)
{
    json_object *cpus;
    if (json_get_typed(&c->jr, root, "", "cpus", json_type_object, &cpus) < 0)
        return -1;
    if (!cpus)
        return 0;
    int64_t boot = 1, max = 0;
    bool boot_given, max_given;
    char what[64];
    if (json_get_int(&c->jr, cpus, "cpus.", "boot_vcpus", &boot, &boot_given) < 0 ||
        json_get_int(&c->jr, cpus, "cpus.", "max_vcpus", &max, &max_given) < 0)
        return -1;
    snprintf(what, sizeof what, "cpus.boot_vcpus %" PRId64, boot);
    if (config_check_cpus(boot, what, c->jr.err, c->jr.errlen) < 0)
        return -1;
    /* No hotplug: max_vcpus above boot_vcpus is accepted and means nothing. */
    if (max_given) {
        snprintf(what, sizeof what, "cpus.max_vcpus %" PRId64, max);
        if (config_check_cpus(max, what, c->jr.err, c->jr.errlen) < 0)
            return -1;
        if (max < boot)
            return json_fail(&c->jr, "cpus.max_vcpus %" PRId64 " is less than cpus.boot_vcpus %" PRId64,
                        max, boot);
    }
    cfg->cpus = (unsigned)boot;
    return 0;
}

static int parse_memory(struct ctx *c, json_object *root, struct vm_config *cfg)
{
    json_object *mem;
    if (json_get_typed(&c->jr, root, "", "memory", json_type_object, &mem) < 0)
        return -1;
    if (!mem)
        return 0;
    int64_t size = (int64_t)cfg->mem_size, hp_size = 0;
    bool given;
    if (json_get_int(&c->jr, mem, "memory.", "size", &size, &given) < 0 ||
        json_get_bool(&c->jr, mem, "memory.", "shared", &cfg->mem_shared) < 0 ||
        json_get_bool(&c->jr, mem, "memory.", "hugepages", &cfg->mem_hugepages) < 0 ||
        json_get_int(&c->jr, mem, "memory.", "hugepage_size", &hp_size, &given) < 0)
        return -1;
    if (given && (uint64_t)hp_size != CONFIG_HUGEPAGE_SIZE)
        return json_fail(&c->jr, "memory.hugepage_size %" PRId64 ": kvmbox's huge pages are 2M (%llu)",
                    hp_size, CONFIG_HUGEPAGE_SIZE);
    char what[64];
    snprintf(what, sizeof what, "memory.size %" PRId64, size);
    cfg->mem_size = size < 0 ? 0 : (uint64_t)size;
    return config_check_memory(cfg->mem_size, cfg->mem_hugepages, what, "memory.hugepages",
                               c->jr.err, c->jr.errlen);
}

/* An array member's items must be objects; returns the item or NULL
 * after writing the message. */
static json_object *item(struct ctx *c, json_object *array, size_t i, const char *name)
{
    json_object *o = json_object_array_get_idx(array, i);
    if (!json_object_is_type(o, json_type_object)) {
        json_fail(&c->jr, "%s[%zu]: expected an object", name, i);
        return NULL;
    }
    return o;
}

/* A device's id, checked against those of the devices before it. `own`
 * is the id the device gets by default, which it may also be given (a
 * config copied from vm.info names every device). */
static int parse_id(struct ctx *c, json_object *o, const char *prefix, const struct vm_config *cfg,
                    const char *own, char *dst)
{
    const char *s;
    size_t len;
    if (json_get_string(&c->jr, o, prefix, "id", &s, &len) < 0)
        return -1;
    if (!s)
        return 0;
    char what[96];
    snprintf(what, sizeof what, "%sid '%.40s'", prefix, s);
    return config_set_id(cfg, dst, s, len, own, what, c->jr.err, c->jr.errlen);
}

static int parse_disks(struct ctx *c, json_object *root, struct vm_config *cfg)
{
    json_object *disks;
    if (json_get_typed(&c->jr, root, "", "disks", json_type_array, &disks) < 0)
        return -1;
    size_t n = disks ? json_object_array_length(disks) : 0;
    if (n > CONFIG_MAX_DISKS)
        return json_fail(&c->jr, "disks: at most %d disks (got %zu)", CONFIG_MAX_DISKS, n);
    for (size_t i = 0; i < n; i++) {
        json_object *o = item(c, disks, i, "disks");
        struct disk_config *d = &cfg->disks[cfg->ndisks];
        char prefix[32], what[64];
        const char *s;
        size_t len;
        snprintf(prefix, sizeof prefix, "disks[%zu].", i);
        if (!o || json_get_string(&c->jr, o, prefix, "path", &s, &len) < 0)
            return -1;
        if (!s)
            return json_fail(&c->jr, "%spath is required", prefix);
        snprintf(what, sizeof what, "%spath", prefix);
        if (config_set_disk_path(d, s, len, what, c->jr.err, c->jr.errlen) < 0 ||
            json_get_bool(&c->jr, o, prefix, "readonly", &d->readonly) < 0 ||
            json_get_bool(&c->jr, o, prefix, "direct", &d->direct) < 0 ||
            json_get_string(&c->jr, o, prefix, "serial", &s, &len) < 0)
            return -1;
        snprintf(what, sizeof what, "%sserial", prefix);
        char own[CONFIG_ID_MAX + 1];
        config_disk_id(cfg, cfg->ndisks, own, sizeof own);
        if ((s && config_set_disk_serial(d, s, len, what, c->jr.err, c->jr.errlen) < 0) ||
            parse_id(c, o, prefix, cfg, own, d->id) < 0)
            return -1;
        cfg->ndisks++;
    }
    return 0;
}

/* The kvmbox extension of a NetConfig: {"user": true, "hostfwd": [...],
 * "restrict": false}, user-mode networking as `--net user`. */
static int parse_net_kvmbox(struct ctx *c, json_object *o, const char *prefix,
                            struct net_config *n, bool *user)
{
    char px[48], what[128];
    json_object *ext, *fwds;
    snprintf(px, sizeof px, "%skvmbox.", prefix);
    if (json_get_typed(&c->jr, o, prefix, "kvmbox", json_type_object, &ext) < 0)
        return -1;
    if (!ext)
        return 0;
    if (json_get_bool(&c->jr, ext, px, "user", user) < 0 ||
        json_get_bool(&c->jr, ext, px, "restrict", &n->restricted) < 0 ||
        json_get_typed(&c->jr, ext, px, "hostfwd", json_type_array, &fwds) < 0)
        return -1;
    size_t nfwd = fwds ? json_object_array_length(fwds) : 0;
    if (nfwd > CONFIG_MAX_HOSTFWDS)
        return json_fail(&c->jr, "%shostfwd: at most %d (got %zu)", px, CONFIG_MAX_HOSTFWDS, nfwd);
    for (size_t j = 0; j < nfwd; j++) {
        json_object *f = json_object_array_get_idx(fwds, j);
        if (!json_object_is_type(f, json_type_string))
            return json_fail(&c->jr, "%shostfwd[%zu]: expected a string", px, j);
        const char *s = json_object_get_string(f);
        size_t len = (size_t)json_object_get_string_len(f);
        if (strlen(s) != len)
            return json_fail(&c->jr, "%shostfwd[%zu]: contains a NUL character", px, j);
        snprintf(what, sizeof what, "%shostfwd[%zu] '%.40s': a hostfwd", px, j, s);
        if (config_parse_hostfwd(s, len, &n->fwd[j], what, c->jr.err, c->jr.errlen) < 0)
            return -1;
    }
    n->nfwd = (unsigned)nfwd;
    if (!*user && (n->nfwd || n->restricted))
        return json_fail(&c->jr, "%s%s: only with kvmbox.user (user-mode networking)", px,
                    n->nfwd ? "hostfwd" : "restrict");
    return 0;
}

static int parse_nets(struct ctx *c, json_object *root, struct vm_config *cfg)
{
    json_object *nets;
    if (json_get_typed(&c->jr, root, "", "net", json_type_array, &nets) < 0)
        return -1;
    size_t count = nets ? json_object_array_length(nets) : 0;
    if (count > CONFIG_MAX_NETS)
        return json_fail(&c->jr, "net: at most %d NICs (got %zu)", CONFIG_MAX_NETS, count);
    for (size_t i = 0; i < count; i++) {
        json_object *o = item(c, nets, i, "net");
        struct net_config *n = &cfg->nets[cfg->nnets];
        char prefix[32], what[96];
        const char *tap, *mac;
        size_t tap_len, mac_len;
        bool user = false;
        snprintf(prefix, sizeof prefix, "net[%zu].", i);
        if (!o || json_get_string(&c->jr, o, prefix, "tap", &tap, &tap_len) < 0 ||
            json_get_string(&c->jr, o, prefix, "mac", &mac, &mac_len) < 0 ||
            parse_net_kvmbox(c, o, prefix, n, &user) < 0)
            return -1;
        if (tap && user)
            return json_fail(&c->jr, "net[%zu]: tap and kvmbox.user exclude each other", i);
        if (!tap && !user)
            return json_fail(&c->jr, "net[%zu]: needs tap (kvmbox does not create TAP devices) or "
                        "kvmbox.user", i);
        n->kind = user ? NET_USER : NET_TAP;
        snprintf(what, sizeof what, "%stap", prefix);
        if (tap && config_set_ifname(n, tap, tap_len, what, c->jr.err, c->jr.errlen) < 0)
            return -1;
        if (mac) {
            snprintf(what, sizeof what, "%smac '%.40s'", prefix, mac);
            if (config_parse_mac(mac, mac_len, n->mac, what, c->jr.err, c->jr.errlen) < 0)
                return -1;
            n->has_mac = true;
        }
        char own[CONFIG_ID_MAX + 1];
        config_net_id(cfg, cfg->nnets, own, sizeof own);   /* the disks are all in */
        if (parse_id(c, o, prefix, cfg, own, n->id) < 0)
            return -1;
        cfg->nnets++;
    }
    return 0;
}

/* serial / console {"mode": ...}: the UART always exists and takes the
 * terminal unless console.mode is "Tty", which gives it to a
 * virtio-console; "Off" and "Null" are accepted (kvmbox has no other
 * place to send the guest's output than stdout). */
static int parse_console(struct ctx *c, json_object *root, const char *key, struct vm_config *cfg)
{
    json_object *o;
    const char *mode;
    size_t len;
    char prefix[16];
    snprintf(prefix, sizeof prefix, "%s.", key);
    if (json_get_typed(&c->jr, root, "", key, json_type_object, &o) < 0 ||
        (o && json_get_string(&c->jr, o, prefix, "mode", &mode, &len) < 0))
        return -1;
    if (!o || !mode)
        return 0;
    if (strcmp(mode, "Off") && strcmp(mode, "Null") && strcmp(mode, "Tty"))
        return json_fail(&c->jr, "%s.mode %.40s: not supported by kvmbox (Off, Null or Tty)", key, mode);
    if (!strcmp(key, "console"))
        cfg->console = !strcmp(mode, "Tty") ? CONSOLE_VIRTIO : CONSOLE_SERIAL;
    return 0;
}

/* rng {"src": ...}: a virtio-rng, fed from getrandom whatever src says. */
static int parse_rng(struct ctx *c, json_object *root, struct vm_config *cfg)
{
    json_object *rng;
    const char *src;
    size_t len;
    if (json_get_typed(&c->jr, root, "", "rng", json_type_object, &rng) < 0 ||
        (rng && json_get_string(&c->jr, rng, "rng.", "src", &src, &len) < 0))
        return -1;
    cfg->rng = rng != NULL;
    return 0;
}

/* The top-level kvmbox extension: {"debug_exit", "testdev", "cpu_filter"},
 * as --debug-exit, --testdev and --cpu-filter. */
static int parse_kvmbox(struct ctx *c, json_object *root, struct vm_config *cfg)
{
    json_object *ext;
    const char *filter;
    size_t len;
    if (json_get_typed(&c->jr, root, "", "kvmbox", json_type_object, &ext) < 0)
        return -1;
    if (!ext)
        return 0;
    if (json_get_bool(&c->jr, ext, "kvmbox.", "debug_exit", &cfg->debug_exit) < 0 ||
        json_get_bool(&c->jr, ext, "kvmbox.", "testdev", &cfg->testdev) < 0 ||
        json_get_string(&c->jr, ext, "kvmbox.", "cpu_filter", &filter, &len) < 0)
        return -1;
    char msg[192];
    if (filter && cpu_filter_parse(filter, &cfg->cpu_filter, msg, sizeof msg) < 0)
        return json_fail(&c->jr, "kvmbox.cpu_filter: %s", msg);
    return 0;
}

int vm_config_from_json(const char *body, size_t len, const struct vm_config *base,
                        struct vm_config **out, char *err, size_t errlen)
{
    struct ctx c = { .jr = { err, errlen } };
    struct payload p = { 0 };
    *out = NULL;
    json_object *root = json_read_object(&c.jr, body, len, "a VmConfig");
    if (!root || parse_payload(&c, root, &p) < 0) {
        json_object_put(root);
        return -1;
    }
    /* The strings the config points to, each with its NUL. */
    size_t size = p.kernel_len + 1 + (p.cmdline ? p.cmdline_len + 1 : 0) +
                  (p.initramfs ? p.initramfs_len + 1 : 0);
    if (base)
        size += need(base->kvm_path) + need(base->api_path) + need(base->event_path);
    struct owned_config *oc = calloc(1, sizeof *oc + size);
    if (!oc) {
        json_object_put(root);
        return json_fail(&c.jr, "out of memory");
    }
    c.pool = oc->strings;
    c.pool_end = oc->strings + size;
    struct vm_config *cfg = &oc->cfg;
    config_init(cfg);
    cfg->kernel = keep(&c, p.kernel, p.kernel_len);
    cfg->cmdline = keep(&c, p.cmdline, p.cmdline_len);
    if (p.initramfs) {
        cfg->initrds[0] = keep(&c, p.initramfs, p.initramfs_len);
        cfg->ninitrds = 1;
    }
    if (base) {
        cfg->verbose = base->verbose;
        cfg->kvm_path = keep_str(&c, base->kvm_path);
        cfg->api_path = keep_str(&c, base->api_path);
        cfg->event_path = keep_str(&c, base->event_path);
        cfg->api_fd = base->api_fd;
        cfg->event_fd = base->event_fd;
    }
    int r = parse_cpus(&c, root, cfg) < 0 || parse_memory(&c, root, cfg) < 0 ||
            parse_disks(&c, root, cfg) < 0 || parse_nets(&c, root, cfg) < 0 ||
            parse_rng(&c, root, cfg) < 0 || parse_console(&c, root, "serial", cfg) < 0 ||
            parse_console(&c, root, "console", cfg) < 0 || parse_kvmbox(&c, root, cfg) < 0
                ? -1 : 0;
    json_object_put(root);
    if (r < 0) {
        free(oc);
        return -1;
    }
    *out = cfg;
    return 0;
}

/* ---- and back: vm.info's config, a snapshot's config.json ---- */

static void add_str(json_object *o, const char *key, const char *val)
{
    json_object_object_add(o, key, json_object_new_string(val));
}

static void add_bool(json_object *o, const char *key, bool val)
{
    json_object_object_add(o, key, json_object_new_boolean(val));
}

/* "tcp:[HOSTADDR]:PORT-[GUESTADDR]:PORT", as --net hostfwd= takes it. */
static json_object *hostfwd_json(const struct hostfwd *f)
{
    char host[INET_ADDRSTRLEN] = "", guest[INET_ADDRSTRLEN] = "", text[96];
    if (f->host_addr.s_addr != INADDR_ANY)
        inet_ntop(AF_INET, &f->host_addr, host, sizeof host);
    if (f->guest_addr.s_addr != INADDR_ANY)
        inet_ntop(AF_INET, &f->guest_addr, guest, sizeof guest);
    snprintf(text, sizeof text, "%s:%s:%u-%s:%u", f->udp ? "udp" : "tcp", host, f->host_port,
             guest, f->guest_port);
    return json_object_new_string(text);
}

static json_object *net_json(const struct vm_config *c, unsigned i)
{
    const struct net_config *n = &c->nets[i];
    json_object *o = json_object_new_object();
    char id[CONFIG_ID_MAX + 1], mac[18];
    uint8_t m[6];
    config_net_mac(c, i, m);
    snprintf(mac, sizeof mac, "%02x:%02x:%02x:%02x:%02x:%02x", m[0], m[1], m[2], m[3], m[4], m[5]);
    config_net_id(c, i, id, sizeof id);
    if (n->kind == NET_TAP) {
        add_str(o, "tap", n->ifname);
    } else {
        json_object *ext = json_object_new_object(), *fwd = json_object_new_array();
        add_bool(ext, "user", true);
        for (unsigned f = 0; f < n->nfwd; f++)
            json_object_array_add(fwd, hostfwd_json(&n->fwd[f]));
        json_object_object_add(ext, "hostfwd", fwd);
        add_bool(ext, "restrict", n->restricted);
        json_object_object_add(o, "kvmbox", ext);
    }
    add_str(o, "mac", mac);
    add_str(o, "id", id);
    return o;
}

static json_object *mode_json(bool tty)
{
    json_object *o = json_object_new_object();
    add_str(o, "mode", tty ? "Tty" : "Off");
    return o;
}

json_object *vm_config_to_json(const struct vm_config *c)
{
    json_object *cfg = json_object_new_object();
    json_object *cpus = json_object_new_object();
    json_object_object_add(cpus, "boot_vcpus", json_object_new_int((int)c->cpus));
    json_object_object_add(cpus, "max_vcpus", json_object_new_int((int)c->cpus));
    json_object_object_add(cfg, "cpus", cpus);
    json_object *mem = json_object_new_object();
    json_object_object_add(mem, "size", json_object_new_int64((int64_t)c->mem_size));
    add_bool(mem, "shared", c->mem_shared);
    add_bool(mem, "hugepages", c->mem_hugepages);
    json_object_object_add(cfg, "memory", mem);
    json_object *payload = json_object_new_object();
    add_str(payload, "kernel", c->kernel ? c->kernel : "");
    if (c->cmdline)
        add_str(payload, "cmdline", c->cmdline);
    if (c->ninitrds)
        add_str(payload, "initramfs", c->initrds[0]);
    json_object_object_add(cfg, "payload", payload);
    json_object *disks = json_object_new_array();
    for (unsigned i = 0; i < c->ndisks; i++) {
        json_object *d = json_object_new_object();
        char id[CONFIG_ID_MAX + 1];
        config_disk_id(c, i, id, sizeof id);
        add_str(d, "path", c->disks[i].path);
        add_bool(d, "readonly", c->disks[i].readonly);
        add_bool(d, "direct", c->disks[i].direct);
        if (c->disks[i].serial[0])
            add_str(d, "serial", c->disks[i].serial);
        add_str(d, "id", id);
        json_object_array_add(disks, d);
    }
    json_object_object_add(cfg, "disks", disks);
    json_object *nets = json_object_new_array();
    for (unsigned i = 0; i < c->nnets; i++)
        json_object_array_add(nets, net_json(c, i));
    json_object_object_add(cfg, "net", nets);
    if (c->rng) {
        json_object *rng = json_object_new_object();
        add_str(rng, "src", "getrandom");
        json_object_object_add(cfg, "rng", rng);
    }
    /* The UART always exists; the terminal's input goes to one of them. */
    json_object_object_add(cfg, "serial", mode_json(true));
    json_object_object_add(cfg, "console", mode_json(c->console == CONSOLE_VIRTIO));
    json_object *ext = json_object_new_object();
    add_bool(ext, "debug_exit", c->debug_exit);
    add_bool(ext, "testdev", c->testdev);
    char filter[512] = "";
    for (unsigned i = 0; cpu_feature_name(i); i++)
        if (c->cpu_filter.hide[i])
            snprintf(filter + strlen(filter), sizeof filter - strlen(filter), "%s%s",
                     filter[0] ? "," : "", cpu_feature_name(i));
    if (filter[0])
        add_str(ext, "cpu_filter", filter);
    json_object_object_add(cfg, "kvmbox", ext);
    return cfg;
}

void vm_config_free(struct vm_config *cfg)
{
    free(cfg);   /* the start of its owned_config */
}
