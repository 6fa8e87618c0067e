#include "api/api.h"

#include "api/api_socket.h"
#include "api/http.h"
#include "api/migration_progress_json.h"
#include "api/migration_request.h"
#include "api/restore_request.h"
#include "api/vm_config_json.h"
#include "core/config.h"
#include "util/log.h"
#include "vmm/vm.h"
#include "vmm/vmm.h"

#include <errno.h>
#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
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
    json_object_object_add(o, "config", vm_config_to_json(cfg));
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

/* The paused VM to a snapshot directory: 204; 400 for a bad body, 500 in
 * the wrong state or when the snapshot cannot be written (nothing then
 * exists under the destination's name). */
static void vm_snapshot_ep(struct api *a, const struct http_request *req, struct http_response *r)
{
    char err[512], path[SNAPSHOT_PATH_MAX];
    if (snapshot_request_from_json(req->body, req->body_len, path, sizeof path, err,
                                   sizeof err) < 0) {
        error1(r, 400, err);
        return;
    }
    enum vm_state s;
    if (vmm_vm_state(a->vmm, &s) == VMM_NO_VM) {
        error1(r, 404, "no VM has been created (vm.create first)");
        return;
    }
    json_object *cfg = vm_config_to_json(a->vmm->cfg);
    const char *text = json_object_to_json_string_ext(cfg, JSON_C_TO_STRING_PRETTY);
    enum vmm_result res = vmm_vm_snapshot(a->vmm, path, text, strlen(text), err, sizeof err);
    json_object_put(cfg);
    if (res != VMM_OK)
        refuse(r, res, err);
    else
        r->status = 204;
}

/* A snapshot into the empty VMM: 204 once the VM is restored (paused, or
 * running with "resume": true). */
static void vm_restore_ep(struct api *a, const struct http_request *req, struct http_response *r)
{
    char err[512];
    struct restore_request rr;
    if (restore_request_from_json(req->body, req->body_len, &rr, err, sizeof err) < 0) {
        error1(r, 400, err);
        return;
    }
    if (restore_vm(a->vmm, &rr, err, sizeof err) != VMM_OK)
        error1(r, 500, err);
    else
        r->status = 204;
}

static void migration_answer(struct http_response *r, enum migration_result res, const char *err)
{
    if (res == MIGRATION_OK)
        r->status = 204;
    else
        error1(r, res == MIGRATION_BAD_REQUEST ? 400 : res == MIGRATION_NO_VM ? 404 : 500, err);
}

/* A vm.send-migration waiting for its answer. */
struct pending_send {
    struct api *a;
    unsigned long ticket;
    bool report;            /* answer 200 with the outcome's figures, not 204 */
};

static void exit_after_answer(void *arg)
{
    struct api *a = arg;
    vmm_request_exit(a->vmm, 0);
}

/* The migration ended (vmm_migrate.c, on the main thread): its request
 * gets its answer now; a VMM that exits does so once that is written. */
static void send_migration_ended(void *ctx, const struct migrate_progress *out, bool vmm_exits)
{
    struct pending_send *p = ctx;
    struct http_response r = { .status = 500 };
    if (out->status == MIGRATE_COMPLETED && p->report)
        respond_json(&r, 200, migration_progress_to_json(out));
    else if (out->status == MIGRATE_COMPLETED)
        r.status = 204;
    else
        error1(&r, 500, out->error);
    http_server_answer(p->a->http, p->ticket, &r, vmm_exits ? exit_after_answer : NULL, p->a);
    free(p);
}

/* The answer comes when the migration is over (as Cloud Hypervisor
 * before v53), but the migration runs on a thread of its own: meanwhile
 * the API serves vm.migration-progress and vm.cancel-migration. */
static void vm_send_migration_ep(struct api *a, const struct http_request *req,
                                 struct http_response *r)
{
    char err[512];
    struct pending_send *p = calloc(1, sizeof *p);
    if (!p) {
        error1(r, 500, "out of memory");
        return;
    }
    p->a = a;
    enum migration_result res = send_migration(a->vmm, req->body, req->body_len,
                                               send_migration_ended, p, &p->report, err,
                                               sizeof err);
    if (res != MIGRATION_OK) {
        free(p);
        if (res == MIGRATION_FAILED)
            log_error("migration failed: %s", err);
        migration_answer(r, res, err);
        return;
    }
    p->ticket = http_server_defer(a->http);
}

/* kvmbox's: the migration being sent, or how the last one ended. */
static void vm_migration_progress_ep(struct api *a, const struct http_request *req,
                                     struct http_response *r)
{
    (void)req;
    struct migrate_progress p;
    if (vmm_migration_progress(a->vmm, &p) != VMM_OK) {
        error1(r, 404, "no migration has been started");
        return;
    }
    respond_json(r, 200, migration_progress_to_json(&p));
}

static void vm_cancel_migration_ep(struct api *a, const struct http_request *req,
                                   struct http_response *r)
{
    (void)req;
    on_vmm(a, r, vmm_migration_cancel);
}

static void vm_receive_migration_ep(struct api *a, const struct http_request *req,
                                    struct http_response *r)
{
    char err[512];
    enum migration_result res = receive_migration(a->vmm, req->body, req->body_len, err,
                                                  sizeof err);
    if (res == MIGRATION_FAILED)
        log_error("receiving a migration failed: %s", err);
    migration_answer(r, res, err);
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
    bool while_migrating;    /* served while a migration is being sent */
} endpoints[] = {
    { "vmm.ping", "GET", vmm_ping, true },
    { "vmm.shutdown", "PUT", vmm_shutdown, true },
    { "vm.info", "GET", vm_info, true },
    { "vm.counters", "GET", vm_counters, true },
    { "vm.pause", "PUT", vm_pause_ep, false },
    { "vm.resume", "PUT", vm_resume_ep, false },
    { "vm.power-button", "PUT", vm_power_button_ep, false },
    { "vm.create", "PUT", vm_create_ep, false },
    { "vm.snapshot", "PUT", vm_snapshot_ep, false },
    { "vm.restore", "PUT", vm_restore_ep, false },
    { "vm.send-migration", "PUT", vm_send_migration_ep, false },
    { "vm.migration-progress", "GET", vm_migration_progress_ep, true },
    { "vm.cancel-migration", "PUT", vm_cancel_migration_ep, true },
    { "vm.receive-migration", "PUT", vm_receive_migration_ep, false },
    { "vm.boot", "PUT", vm_boot_ep, false },
    { "vm.shutdown", "PUT", vm_shutdown_ep, false },
    { "vm.reboot", "PUT", vm_reboot_ep, false },
    { "vm.delete", "PUT", vm_delete_ep, false },
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
        /* Nothing may change the VM under a migration that is moving it. */
        if (a->vmm->migration && !endpoints[i].while_migrating) {
            error1(r, 500, "a migration is in progress (vm.migration-progress; "
                   "vm.cancel-migration stops it)");
            return;
        }
        endpoints[i].fn(a, req, r);
        return;
    }
    error1(r, 404, "unknown endpoint");
}

/* Who may drive the VM: root, or the user kvmbox runs as (SO_PEERCRED,
 * whatever the socket's mode was made or changed to). Others are refused
 * and logged. */
static bool peer_allowed(void *ctx, int fd, char *why, size_t whylen)
{
    (void)ctx;
    struct ucred cred;
    socklen_t len = sizeof cred;
    if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) < 0) {
        snprintf(why, whylen, "the client's credentials cannot be read: %s", log_strerror(errno));
        log_warn("API: a client refused: %s", why);
        return false;
    }
    if (cred.uid == 0 || cred.uid == geteuid())
        return true;
    snprintf(why, whylen, "user %u may not drive this VM (only root and user %u)",
             (unsigned)cred.uid, (unsigned)geteuid());
    log_warn("API: a client refused (pid %d): %s", (int)cred.pid, why);
    return false;
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
        snprintf(err, errlen, "--api-socket: cannot serve it: %s", log_strerror(errno));
        close(a->sock.fd);
        api_socket_close(&a->sock);
        free(a);
        return NULL;
    }
    http_server_set_peer_check(a->http, peer_allowed, a);
    /* --user: the socket (still 0600) is that user's, who drives the VM. */
    const struct vm_config *b = vmm->base;
    if (b->switch_user && b->api_path && lchown(b->api_path, b->uid, b->gid) < 0) {
        snprintf(err, errlen, "--api-socket %s: cannot give it to user %u: %s", b->api_path,
                 (unsigned)b->uid, log_strerror(errno));
        api_stop(a);
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
