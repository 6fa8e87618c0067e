#include "api/vm_config_json.h"

#include "core/config_check.h"
#include "vmm/cpuid.h"

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
    char *err;
    size_t errlen;
    char *pool, *pool_end;   /* what is left of owned_config.strings */
};

static int __attribute__((format(printf, 2, 3))) fail(struct ctx *c, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(c->err, c->errlen, fmt, ap);
    va_end(ap);
    return -1;
}

/* Every field is named "<prefix><key>": prefix is "" at the top, "memory."
 * or "net[1]." below. */

/* o's member `key`, or NULL when it is absent or null: ch-remote sends
 * whole structs, with null for what is not set. */
static json_object *member(json_object *o, const char *key)
{
    json_object *v = NULL;
    return json_object_object_get_ex(o, key, &v) ? v : NULL;
}

static int get_bool(struct ctx *c, json_object *o, const char *prefix, const char *key, bool *out)
{
    json_object *v = member(o, key);
    if (!v)
        return 0;
    if (!json_object_is_type(v, json_type_boolean))
        return fail(c, "%s%s: expected true or false", prefix, key);
    *out = json_object_get_boolean(v);
    return 0;
}

/* *given says whether it was there (JSON integers only: 2.0 is refused). */
static int get_int(struct ctx *c, json_object *o, const char *prefix, const char *key,
                   int64_t *out, bool *given)
{
    json_object *v = member(o, key);
    *given = v != NULL;
    if (!v)
        return 0;
    if (!json_object_is_type(v, json_type_int))
        return fail(c, "%s%s: expected an integer", prefix, key);
    *out = json_object_get_int64(v);   /* beyond int64: INT64_MAX, too large anyway */
    return 0;
}

/* A string without NUL characters (which would cut it short in C); *s
 * stays NULL when absent. */
static int get_string(struct ctx *c, json_object *o, const char *prefix, const char *key,
                      const char **s, size_t *len)
{
    json_object *v = member(o, key);
    *s = NULL;
    *len = 0;
    if (!v)
        return 0;
    if (!json_object_is_type(v, json_type_string))
        return fail(c, "%s%s: expected a string", prefix, key);
    *s = json_object_get_string(v);
    *len = (size_t)json_object_get_string_len(v);
    if (strlen(*s) != *len)
        return fail(c, "%s%s: contains a NUL character", prefix, key);
    return 0;
}

/* An object or array member; *out stays NULL when absent. */
static int get_typed(struct ctx *c, json_object *o, const char *prefix, const char *key,
                     json_type type, json_object **out)
{
    *out = member(o, key);
    if (*out && !json_object_is_type(*out, type))
        return fail(c, "%s%s: expected %s", prefix, key,
                    type == json_type_object ? "an object" : "an array");
    return 0;
}

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
    if (payload && get_string(c, payload, "payload.", key, s, len) < 0)
        return -1;
    if (*s)
        return 0;
    json_object *old;
    if (get_typed(c, root, "", old_key, json_type_object, &old) < 0)
        return -1;
    if (!old)
        return 0;
    char prefix[32];
    snprintf(prefix, sizeof prefix, "%s.", old_key);
    return get_string(c, old, prefix, old_member, s, len);
}

static int parse_payload(struct ctx *c, json_object *root, struct payload *p)
{
    json_object *payload;
    if (get_typed(c, root, "", "payload", json_type_object, &payload) < 0)
        return -1;
    if (payload && (member(payload, "firmware") || member(payload, "igvm")))
        return fail(c, "payload.%s: kvmbox boots kernels only",
                    member(payload, "firmware") ? "firmware" : "igvm");
    if (payload_string(c, root, payload, "kernel", "kernel", "path", &p->kernel,
                       &p->kernel_len) < 0 ||
        payload_string(c, root, payload, "cmdline", "cmdline", "args", &p->cmdline,
                       &p->cmdline_len) < 0 ||
        payload_string(c, root, payload, "initramfs", "initramfs", "path", &p->initramfs,
                       &p->initramfs_len) < 0)
        return -1;
    if (!p->kernel)
        return fail(c, "payload.kernel is required");
    if (!p->kernel_len)
        return fail(c, "payload.kernel: empty path");
    /* An empty command line is a choice; an empty file name is not. */
    if (p->initramfs && !p->initramfs_len)
        return fail(c, "payload.initramfs: empty path");
    return 0;
}

/* ---- the rest of VmConfig ---- */

static int parse_cpus(struct ctx *c, json_object *root, struct vm_config *cfg)
{
    json_object *cpus;
    if (get_typed(c, root, "", "cpus", json_type_object, &cpus) < 0)
        return -1;
    if (!cpus)
        return 0;
    int64_t boot = 1, max = 0;
    bool boot_given, max_given;
    char what[64];
    if (get_int(c, cpus, "cpus.", "boot_vcpus", &boot, &boot_given) < 0 ||
        get_int(c, cpus, "cpus.", "max_vcpus", &max, &max_given) < 0)
        return -1;
    snprintf(what, sizeof what, "cpus.boot_vcpus %" PRId64, boot);
    if (config_check_cpus(boot, what, c->err, c->errlen) < 0)
        return -1;
    /* No hotplug: max_vcpus above boot_vcpus is accepted and means nothing. */
    if (max_given) {
        snprintf(what, sizeof what, "cpus.max_vcpus %" PRId64, max);
        if (config_check_cpus(max, what, c->err, c->errlen) < 0)
            return -1;
        if (max < boot)
            return fail(c, "cpus.max_vcpus %" PRId64 " is less than cpus.boot_vcpus %" PRId64,
                        max, boot);
    }
    cfg->cpus = (unsigned)boot;
    return 0;
}

static int parse_memory(struct ctx *c, json_object *root, struct vm_config *cfg)
{
    json_object *mem;
    if (get_typed(c, root, "", "memory", json_type_object, &mem) < 0)
        return -1;
    if (!mem)
        return 0;
    int64_t size = (int64_t)cfg->mem_size, hp_size = 0;
    bool given;
    if (get_int(c, mem, "memory.", "size", &size, &given) < 0 ||
        get_bool(c, mem, "memory.", "shared", &cfg->mem_shared) < 0 ||
        get_bool(c, mem, "memory.", "hugepages", &cfg->mem_hugepages) < 0 ||
        get_int(c, mem, "memory.", "hugepage_size", &hp_size, &given) < 0)
        return -1;
    if (given && (uint64_t)hp_size != CONFIG_HUGEPAGE_SIZE)
        return fail(c, "memory.hugepage_size %" PRId64 ": kvmbox's huge pages are 2M (%llu)",
                    hp_size, CONFIG_HUGEPAGE_SIZE);
    char what[64];
    snprintf(what, sizeof what, "memory.size %" PRId64, size);
    cfg->mem_size = size < 0 ? 0 : (uint64_t)size;
    return config_check_memory(cfg->mem_size, cfg->mem_hugepages, what, "memory.hugepages",
                               c->err, c->errlen);
}

/* An array member's items must be objects; returns the item or NULL
 * after writing the message. */
static json_object *item(struct ctx *c, json_object *array, size_t i, const char *name)
{
    json_object *o = json_object_array_get_idx(array, i);
    if (!json_object_is_type(o, json_type_object)) {
        fail(c, "%s[%zu]: expected an object", name, i);
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
    if (get_string(c, o, prefix, "id", &s, &len) < 0)
        return -1;
    if (!s)
        return 0;
    char what[96];
    snprintf(what, sizeof what, "%sid '%.40s'", prefix, s);
    return config_set_id(cfg, dst, s, len, own, what, c->err, c->errlen);
}

static int parse_disks(struct ctx *c, json_object *root, struct vm_config *cfg)
{
    json_object *disks;
    if (get_typed(c, root, "", "disks", json_type_array, &disks) < 0)
        return -1;
    size_t n = disks ? json_object_array_length(disks) : 0;
    if (n > CONFIG_MAX_DISKS)
        return fail(c, "disks: at most %d disks (got %zu)", CONFIG_MAX_DISKS, n);
    for (size_t i = 0; i < n; i++) {
        json_object *o = item(c, disks, i, "disks");
        struct disk_config *d = &cfg->disks[cfg->ndisks];
        char prefix[32], what[64];
        const char *s;
        size_t len;
        snprintf(prefix, sizeof prefix, "disks[%zu].", i);
        if (!o || get_string(c, o, prefix, "path", &s, &len) < 0)
            return -1;
        if (!s)
            return fail(c, "%spath is required", prefix);
        snprintf(what, sizeof what, "%spath", prefix);
        if (config_set_disk_path(d, s, len, what, c->err, c->errlen) < 0 ||
            get_bool(c, o, prefix, "readonly", &d->readonly) < 0 ||
            get_bool(c, o, prefix, "direct", &d->direct) < 0 ||
            get_string(c, o, prefix, "serial", &s, &len) < 0)
            return -1;
        snprintf(what, sizeof what, "%sserial", prefix);
        char own[CONFIG_ID_MAX + 1];
        config_disk_id(cfg, cfg->ndisks, own, sizeof own);
        if ((s && config_set_disk_serial(d, s, len, what, c->err, c->errlen) < 0) ||
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
    if (get_typed(c, o, prefix, "kvmbox", json_type_object, &ext) < 0)
        return -1;
    if (!ext)
        return 0;
    if (get_bool(c, ext, px, "user", user) < 0 ||
        get_bool(c, ext, px, "restrict", &n->restricted) < 0 ||
        get_typed(c, ext, px, "hostfwd", json_type_array, &fwds) < 0)
        return -1;
    size_t nfwd = fwds ? json_object_array_length(fwds) : 0;
    if (nfwd > CONFIG_MAX_HOSTFWDS)
        return fail(c, "%shostfwd: at most %d (got %zu)", px, CONFIG_MAX_HOSTFWDS, nfwd);
    for (size_t j = 0; j < nfwd; j++) {
        json_object *f = json_object_array_get_idx(fwds, j);
        if (!json_object_is_type(f, json_type_string))
            return fail(c, "%shostfwd[%zu]: expected a string", px, j);
        const char *s = json_object_get_string(f);
        size_t len = (size_t)json_object_get_string_len(f);
        if (strlen(s) != len)
            return fail(c, "%shostfwd[%zu]: contains a NUL character", px, j);
        snprintf(what, sizeof what, "%shostfwd[%zu] '%.40s': a hostfwd", px, j, s);
        if (config_parse_hostfwd(s, len, &n->fwd[j], what, c->err, c->errlen) < 0)
            return -1;
    }
    n->nfwd = (unsigned)nfwd;
    if (!*user && (n->nfwd || n->restricted))
        return fail(c, "%s%s: only with kvmbox.user (user-mode networking)", px,
                    n->nfwd ? "hostfwd" : "restrict");
    return 0;
}

static int parse_nets(struct ctx *c, json_object *root, struct vm_config *cfg)
{
    json_object *nets;
    if (get_typed(c, root, "", "net", json_type_array, &nets) < 0)
        return -1;
    size_t count = nets ? json_object_array_length(nets) : 0;
    if (count > CONFIG_MAX_NETS)
        return fail(c, "net: at most %d NICs (got %zu)", CONFIG_MAX_NETS, count);
    for (size_t i = 0; i < count; i++) {
        json_object *o = item(c, nets, i, "net");
        struct net_config *n = &cfg->nets[cfg->nnets];
        char prefix[32], what[96];
        const char *tap, *mac;
        size_t tap_len, mac_len;
        bool user = false;
        snprintf(prefix, sizeof prefix, "net[%zu].", i);
        if (!o || get_string(c, o, prefix, "tap", &tap, &tap_len) < 0 ||
            get_string(c, o, prefix, "mac", &mac, &mac_len) < 0 ||
            parse_net_kvmbox(c, o, prefix, n, &user) < 0)
            return -1;
        if (tap && user)
            return fail(c, "net[%zu]: tap and kvmbox.user exclude each other", i);
        if (!tap && !user)
            return fail(c, "net[%zu]: needs tap (kvmbox does not create TAP devices) or "
                        "kvmbox.user", i);
        n->kind = user ? NET_USER : NET_TAP;
        snprintf(what, sizeof what, "%stap", prefix);
        if (tap && config_set_ifname(n, tap, tap_len, what, c->err, c->errlen) < 0)
            return -1;
        if (mac) {
            snprintf(what, sizeof what, "%smac '%.40s'", prefix, mac);
            if (config_parse_mac(mac, mac_len, n->mac, what, c->err, c->errlen) < 0)
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
    if (get_typed(c, root, "", key, json_type_object, &o) < 0 ||
        (o && get_string(c, o, prefix, "mode", &mode, &len) < 0))
        return -1;
    if (!o || !mode)
        return 0;
    if (strcmp(mode, "Off") && strcmp(mode, "Null") && strcmp(mode, "Tty"))
        return fail(c, "%s.mode %.40s: not supported by kvmbox (Off, Null or Tty)", key, mode);
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
    if (get_typed(c, root, "", "rng", json_type_object, &rng) < 0 ||
        (rng && get_string(c, rng, "rng.", "src", &src, &len) < 0))
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
    if (get_typed(c, root, "", "kvmbox", json_type_object, &ext) < 0)
        return -1;
    if (!ext)
        return 0;
    if (get_bool(c, ext, "kvmbox.", "debug_exit", &cfg->debug_exit) < 0 ||
        get_bool(c, ext, "kvmbox.", "testdev", &cfg->testdev) < 0 ||
        get_string(c, ext, "kvmbox.", "cpu_filter", &filter, &len) < 0)
        return -1;
    char msg[192];
    if (filter && cpu_filter_parse(filter, &cfg->cpu_filter, msg, sizeof msg) < 0)
        return fail(c, "kvmbox.cpu_filter: %s", msg);
    return 0;
}

/* The document, as JSON: strict (no trailing commas, comments or
 * garbage after the object), valid UTF-8. NULL with the message in err. */
static json_object *parse_document(struct ctx *c, const char *body, size_t len)
{
    if (len > INT_MAX) {
        fail(c, "the body is too large");
        return NULL;
    }
    json_tokener *tok = json_tokener_new();
    if (!tok) {
        fail(c, "out of memory");
        return NULL;
    }
    json_tokener_set_flags(tok, JSON_TOKENER_STRICT | JSON_TOKENER_VALIDATE_UTF8);
    json_object *root = json_tokener_parse_ex(tok, body, (int)len);
    enum json_tokener_error e = json_tokener_get_error(tok);
    size_t end = json_tokener_get_parse_end(tok);
    /* A bare number or literal ("null") may go on in a next piece: a NUL
     * says there is none (the body need not end with one). */
    if (e == json_tokener_continue && len) {
        root = json_tokener_parse_ex(tok, "", 1);
        e = json_tokener_get_error(tok) == json_tokener_success ? json_tokener_success
                                                                 : json_tokener_continue;
    }
    while (e == json_tokener_success && end < len && memchr(" \t\r\n", body[end], 4))
        end++;
    if (e == json_tokener_continue)
        fail(c, "the body is not JSON: it ends early");
    else if (e != json_tokener_success)
        fail(c, "the body is not JSON: %s at offset %zu", json_tokener_error_desc(e), end);
    else if (end < len)
        fail(c, "the body is not JSON: more after the value, at offset %zu", end);
    else if (!json_object_is_type(root, json_type_object))
        fail(c, "the body must be a JSON object (a VmConfig)");
    else {
        json_tokener_free(tok);
        return root;
    }
    json_object_put(root);
    json_tokener_free(tok);
    return NULL;
}

int vm_config_from_json(const char *body, size_t len, const struct vm_config *base,
                        struct vm_config **out, char *err, size_t errlen)
{
    struct ctx c = { .err = err, .errlen = errlen };
    struct payload p = { 0 };
    *out = NULL;
    json_object *root = parse_document(&c, body, len);
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
        return fail(&c, "out of memory");
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

void vm_config_free(struct vm_config *cfg)
{
    free(cfg);   /* the start of its owned_config */
}
