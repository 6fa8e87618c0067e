#include "api/api.h"

#include "api/api_socket.h"
#include "api/http.h"
#include "api/vm_config_json.h"
#include "core/config.h"
#include "vmm/cpuid.h"
#include "vmm/vm.h"
#include "vmm/vmm.h"

#include <arpa/inet.h>
#include <errno.h>
#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#ifndef KVMBOX_VERSION
#define KVMBOX_VERSION "0.1.0"
#endif

#define API_PREFIX "/api/v1/"

struct api {
    struct vmm *vmm;
    struct api_socket sock;
    struct http_server *http;
};

static void error1(struct http_response *r, int status, const char *msg)
{
    http_respond_errors(r, status, &msg, 1);
}

/* The body of a JSON response: the object's text, the object released. */
static void respond_json(struct http_response *r, int status, json_object *o)
{
    const char *text = json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN);
    r->status = status;
    r->body = strdup(text);
    r->body_len = r->body ? strlen(r->body) : 0;
    if (!r->body)
        r->status = 500;
    json_object_put(o);
}

/* ---- vmm.* ---- */

static void vmm_ping(struct api *a, const struct http_request *req, struct http_response *r)
{
    (void)a, (void)req;
    json_object *o = json_object_new_object();
    json_object_object_add(o, "build_version", json_object_new_string("kvmbox-" KVMBOX_VERSION));
    json_object_object_add(o, "version", json_object_new_string(KVMBOX_VERSION));
    json_object_object_add(o, "pid", json_object_new_int64(getpid()));
    json_object_object_add(o, "features", json_object_new_array());
    respond_json(r, 200, o);
}

static void shut_down_after_reply(void *arg)
{
    struct api *a = arg;
    vmm_request_exit(a->vmm, 0);
}

/* The process exits 0 once the 200 has reached the client. */
static void vmm_shutdown(struct api *a, const struct http_request *req, struct http_response *r)
{
    (void)req;
    r->status = 200;
    http_server_after_response(a->http, shut_down_after_reply, a);
}

/* ---- vm.* ---- */

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

/* The VmConfig as CH shapes it, with kvmbox's extensions in "kvmbox"
 * objects: what vm.create takes, so that vm.info's config creates the same
 * VM again (docs/api.md). */
static json_object *config_json(const struct vm_config *c)
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

/* ---- the devices, by the ids Cloud Hypervisor gives them ---- */

/* One DeviceNode of CH's device tree: id, resources, parent, children,
 * pci_bdf (kvmbox lists no resources). */
static void add_node(json_object *tree, const char *id, const char *parent, const char *child,
                     const char *bdf)
{
    json_object *n = json_object_new_object();
    json_object_object_add(n, "id", json_object_new_string(id));
    json_object_object_add(n, "resources", json_object_new_array());
    json_object_object_add(n, "parent", parent ? json_object_new_string(parent) : NULL);
    json_object *children = json_object_new_array();
    if (child)
        json_object_array_add(children, json_object_new_string(child));
    json_object_object_add(n, "children", children);
    json_object_object_add(n, "pci_bdf", bdf ? json_object_new_string(bdf) : NULL);
    json_object_object_add(tree, id, n);
}

/* As CH builds it: a PCI device "_disk0" is the child of its transport's
 * node "_virtio-pci-_disk0", which holds the PCI address. */
static json_object *device_tree_json(const struct vm *vm)
{
    json_object *tree = json_object_new_object();
    for (unsigned i = 0; i < vm->ndevices; i++) {
        const struct device *d = &vm->devices[i];
        char bdf[32], pci_id[DEVICE_ID_MAX + 16];
        if (!d->id[0])
            continue;
        if (d->ops->pci_bdf && d->ops->pci_bdf(d->dev, bdf, sizeof bdf)) {
            snprintf(pci_id, sizeof pci_id, "_virtio-pci-%s", d->id);
            add_node(tree, d->id, pci_id, NULL, NULL);
            add_node(tree, pci_id, NULL, d->id, bdf);
        } else {
            add_node(tree, d->id, NULL, NULL, NULL);
        }
    }
    return tree;
}

static void add_counter(void *ctx, const char *name, uint64_t value)
{
    json_object_object_add(ctx, name, json_object_new_uint64(value));
}

/* The status for a refusal: 404 when no VM has been created, 500 for a
 * VM in the wrong state (as CH answers). */
static void refuse(struct http_response *r, enum vmm_result res, const char *err)
{
    error1(r, res == VMM_NO_VM ? 404 : 500, err);
}

/* The booted VM, or NULL after answering why there is none. */
static struct vm *booted_vm(struct api *a, const char *verb, struct http_response *r)
{
    enum vm_state s, next;
    const char *why;
    char err[128];
    if (vmm_vm_state(a->vmm, &s) == VMM_NO_VM) {
        error1(r, 404, "no VM has been created (vm.create first)");
        return NULL;
    }
    if (!a->vmm->vm) {
        /* Created or Shutdown: the table says which in words. */
        vm_state_allows(s, VM_ACTION_PAUSE, &next, &why);
        snprintf(err, sizeof err, "cannot %s: %s", verb, why);
        error1(r, 500, err);
        return NULL;
    }
    return a->vmm->vm;
}

/* {"_disk0": {"read_bytes": N, ...}, "_net1": {"rx_bytes": N, ...}}: the
 * devices that count something. */
static void vm_counters(struct api *a, const struct http_request *req, struct http_response *r)
{
    (void)req;
    struct vm *vm = booted_vm(a, "count", r);
    if (!vm)
        return;
    json_object *o = json_object_new_object();
    for (unsigned i = 0; i < vm->ndevices; i++) {
        const struct device *d = &vm->devices[i];
        if (!d->id[0] || !d->ops->counters)
            continue;
        json_object *c = json_object_new_object();
        d->ops->counters(d->dev, add_counter, c);
        if (json_object_object_length(c))
            json_object_object_add(o, d->id, c);
        else
            json_object_put(c);
    }
    respond_json(r, 200, o);
}

static void vm_info(struct api *a, const struct http_request *req, struct http_response *r)
{
    (void)req;
    enum vm_state s;
    if (vmm_vm_state(a->vmm, &s) == VMM_NO_VM) {
        error1(r, 404, "no VM has been created (vm.create first)");
        return;
    }
    const struct vm_config *cfg = a->vmm->cfg;
    json_object *o = json_object_new_object();
    json_object_object_add(o, "config", config_json(cfg));
    json_object_object_add(o, "state", json_object_new_string(vm_state_name(s)));
    json_object_object_add(o, "memory_actual_size", json_object_new_int64((int64_t)cfg->mem_size));
    if (a->vmm->vm)
        json_object_object_add(o, "device_tree", device_tree_json(a->vmm->vm));
    respond_json(r, 200, o);
}

/* An action on the booted VM: 204, or the refusal. */
static void on_vm(struct api *a, struct http_response *r, const char *verb,
                  int (*fn)(struct vm *vm, char *err, size_t errlen))
{
    char err[256];
    struct vm *vm = booted_vm(a, verb, r);
    if (!vm)
        return;
    if (fn(vm, err, sizeof err) < 0)
        error1(r, 500, err);
    else
        r->status = 204;
}

static void vm_pause_ep(struct api *a, const struct http_request *req, struct http_response *r)
{
    (void)req;
    on_vm(a, r, "pause", vm_pause);
}

static void vm_resume_ep(struct api *a, const struct http_request *req, struct http_response *r)
{
    (void)req;
    on_vm(a, r, "resume", vm_resume);
}

static void vm_power_button_ep(struct api *a, const struct http_request *req,
                               struct http_response *r)
{
    (void)req;
    on_vm(a, r, "press the power button", vm_power_button);
}

/* An action on the VM's life (vmm.c): 204, or the refusal. */
static void on_vmm(struct api *a, struct http_response *r,
                   enum vmm_result (*fn)(struct vmm *m, char *err, size_t errlen))
{
    char err[512];
    enum vmm_result res = fn(a->vmm, err, sizeof err);
    if (res != VMM_OK)
        refuse(r, res, err);
    else
        r->status = 204;
}

/* The VmConfig in the body becomes the VM's configuration: 204, 400 for a
 * body that is not a valid VmConfig, 500 when a VM exists already. */
static void vm_create_ep(struct api *a, const struct http_request *req, struct http_response *r)
{
    char err[512];
    struct vm_config *cfg;
    if (vm_config_from_json(req->body, req->body_len, a->vmm->base, &cfg, err, sizeof err) < 0) {
        error1(r, 400, err);
        return;
    }
    enum vmm_result res = vmm_vm_create(a->vmm, cfg, vm_config_free, err, sizeof err);
    if (res != VMM_OK) {
        vm_config_free(cfg);
        refuse(r, res, err);
    } else {
        r->status = 204;
    }
}

static void vm_boot_ep(struct api *a, const struct http_request *req, struct http_response *r)
{
    (void)req;
    on_vmm(a, r, vmm_vm_boot);
}

static void vm_shutdown_ep(struct api *a, const struct http_request *req, struct http_response *r)
{
    (void)req;
    on_vmm(a, r, vmm_vm_shutdown);
}

static void vm_reboot_ep(struct api *a, const struct http_request *req, struct http_response *r)
{
    (void)req;
    on_vmm(a, r, vmm_vm_reboot);
}

static void vm_delete_ep(struct api *a, const struct http_request *req, struct http_response *r)
{
    (void)req;
    on_vmm(a, r, vmm_vm_delete);
}

typedef void (*endpoint_fn)(struct api *a, const struct http_request *req, struct http_response *r);

static const struct {
    const char *name;        /* after /api/v1/ */
    const char *method;
    endpoint_fn fn;
} endpoints[] = {
    { "vmm.ping", "GET", vmm_ping },
    { "vmm.shutdown", "PUT", vmm_shutdown },
    { "vm.info", "GET", vm_info },
    { "vm.counters", "GET", vm_counters },
    { "vm.pause", "PUT", vm_pause_ep },
    { "vm.resume", "PUT", vm_resume_ep },
    { "vm.power-button", "PUT", vm_power_button_ep },
    { "vm.create", "PUT", vm_create_ep },
    { "vm.boot", "PUT", vm_boot_ep },
    { "vm.shutdown", "PUT", vm_shutdown_ep },
    { "vm.reboot", "PUT", vm_reboot_ep },
    { "vm.delete", "PUT", vm_delete_ep },
};

static void handle(void *ctx, const struct http_request *req, struct http_response *r)
{
    struct api *a = ctx;
    if (strncmp(req->path, API_PREFIX, strlen(API_PREFIX))) {
        error1(r, 404, "not an API path: the API lives under /api/v1/");
        return;
    }
    const char *name = req->path + strlen(API_PREFIX);
    for (size_t i = 0; i < sizeof endpoints / sizeof endpoints[0]; i++) {
        if (strcmp(name, endpoints[i].name))
            continue;
        if (strcmp(req->method, endpoints[i].method)) {
            char msg[96];
            snprintf(msg, sizeof msg, "%s takes %s, not %s", endpoints[i].name,
                     endpoints[i].method, req->method);
            error1(r, 400, msg);
            return;
        }
        endpoints[i].fn(a, req, r);
        return;
    }
    error1(r, 404, "unknown endpoint");
}

struct api *api_start(struct vmm *vmm, char *err, size_t errlen)
{
    struct api *a = calloc(1, sizeof *a);
    if (!a) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    a->vmm = vmm;
    if (api_socket_open(&a->sock, vmm->base->api_path, vmm->base->api_fd, err, errlen) < 0) {
        free(a);
        return NULL;
    }
    a->http = http_server_new(a->sock.fd, &vmm->loop, handle, a);
    if (!a->http) {
        snprintf(err, errlen, "--api-socket: cannot serve it: %s", strerror(errno));
        close(a->sock.fd);
        api_socket_close(&a->sock);
        free(a);
        return NULL;
    }
    return a;
}

void api_stop(struct api *a)
{
    if (!a)
        return;
    http_server_free(a->http);
    api_socket_close(&a->sock);
    free(a);
}
