#include "api/api.h"

#include "api/api_socket.h"
#include "api/http.h"
#include "core/config.h"
#include "vmm/vm.h"

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
    struct vm *vm;
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
    vm_request_stop(a->vm, VM_STOP_USER, 0);
}

/* The process exits 0 once the 200 has reached the client. */
static void vmm_shutdown(struct api *a, const struct http_request *req, struct http_response *r)
{
    (void)req;
    r->status = 200;
    http_server_after_response(a->http, shut_down_after_reply, a);
}

/* ---- vm.* ---- */

/* The VmConfig as CH shapes it (the fields kvmbox has). */
static json_object *config_json(const struct vm_config *c)
{
    json_object *cfg = json_object_new_object();
    json_object *cpus = json_object_new_object();
    json_object_object_add(cpus, "boot_vcpus", json_object_new_int((int)c->cpus));
    json_object_object_add(cpus, "max_vcpus", json_object_new_int((int)c->cpus));
    json_object_object_add(cfg, "cpus", cpus);
    json_object *mem = json_object_new_object();
    json_object_object_add(mem, "size", json_object_new_int64((int64_t)c->mem_size));
    json_object_object_add(mem, "shared", json_object_new_boolean(c->mem_shared));
    json_object_object_add(mem, "hugepages", json_object_new_boolean(c->mem_hugepages));
    json_object_object_add(cfg, "memory", mem);
    json_object *payload = json_object_new_object();
    json_object_object_add(payload, "kernel", json_object_new_string(c->kernel ? c->kernel : ""));
    if (c->cmdline)
        json_object_object_add(payload, "cmdline", json_object_new_string(c->cmdline));
    if (c->ninitrds)
        json_object_object_add(payload, "initramfs", json_object_new_string(c->initrds[0]));
    json_object_object_add(cfg, "payload", payload);
    json_object *disks = json_object_new_array();
    for (unsigned i = 0; i < c->ndisks; i++) {
        json_object *d = json_object_new_object();
        char id[16];
        snprintf(id, sizeof id, "_disk%u", i);
        json_object_object_add(d, "path", json_object_new_string(c->disks[i].path));
        json_object_object_add(d, "readonly", json_object_new_boolean(c->disks[i].readonly));
        json_object_object_add(d, "direct", json_object_new_boolean(c->disks[i].direct));
        if (c->disks[i].serial[0])
            json_object_object_add(d, "serial", json_object_new_string(c->disks[i].serial));
        json_object_object_add(d, "id", json_object_new_string(id));
        json_object_array_add(disks, d);
    }
    json_object_object_add(cfg, "disks", disks);
    if (c->rng) {
        json_object *rng = json_object_new_object();
        json_object_object_add(rng, "src", json_object_new_string("getrandom"));
        json_object_object_add(cfg, "rng", rng);
    }
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

/* {"_disk0": {"read_bytes": N, ...}, "_net1": {"rx_bytes": N, ...}}: the
 * devices that count something. */
static void vm_counters(struct api *a, const struct http_request *req, struct http_response *r)
{
    (void)req;
    json_object *o = json_object_new_object();
    for (unsigned i = 0; i < a->vm->ndevices; i++) {
        const struct device *d = &a->vm->devices[i];
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
    json_object *o = json_object_new_object();
    json_object_object_add(o, "config", config_json(a->vm->cfg));
    json_object_object_add(o, "state", json_object_new_string(vm_state_name(vm_get_state(a->vm))));
    json_object_object_add(o, "memory_actual_size", json_object_new_int64((int64_t)a->vm->cfg->mem_size));
    json_object_object_add(o, "device_tree", device_tree_json(a->vm));
    respond_json(r, 200, o);
}

/* Pause and resume: 204, or 500 with the reason when the VM is in the
 * wrong state for it (as CH answers). */
static void vm_pause_ep(struct api *a, const struct http_request *req, struct http_response *r)
{
    (void)req;
    char err[256];
    if (vm_pause(a->vm, err, sizeof err) < 0)
        error1(r, 500, err);
    else
        r->status = 204;
}

static void vm_resume_ep(struct api *a, const struct http_request *req, struct http_response *r)
{
    (void)req;
    char err[256];
    if (vm_resume(a->vm, err, sizeof err) < 0)
        error1(r, 500, err);
    else
        r->status = 204;
}

static void vm_power_button_ep(struct api *a, const struct http_request *req,
                               struct http_response *r)
{
    (void)req;
    char err[256];
    if (vm_power_button(a->vm, err, sizeof err) < 0)
        error1(r, 500, err);
    else
        r->status = 204;
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

struct api *api_start(struct vm *vm, char *err, size_t errlen)
{
    struct api *a = calloc(1, sizeof *a);
    if (!a) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    a->vm = vm;
    if (api_socket_open(&a->sock, vm->cfg->api_path, vm->cfg->api_fd, err, errlen) < 0) {
        free(a);
        return NULL;
    }
    a->http = http_server_new(a->sock.fd, &vm->loop, handle, a);
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
