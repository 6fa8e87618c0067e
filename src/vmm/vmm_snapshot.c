/* Snapshot and restore of the VMM's VM (docs/snapshot.md): the paused VM's
 * state, configuration and memory into a snapshot directory, and a VM
 * built back from one in an empty VMM, paused until resumed. */
#include "vmm/vmm.h"

#include "core/state.h"
#include "migration/snapshot_dir.h"
#include "util/log.h"
#include "vmm/vm.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* What the terminal typed that the guest has not taken yet, after the
 * VM's sections: the restored guest gets it first. */
static void save_console_input(const struct console *c, struct state_writer *w)
{
    state_begin(w, "console-input", 1);
    state_put_u16(w, (uint16_t)(c->len - c->off));
    state_put_bytes(w, c->buf + c->off, c->len - c->off);
    state_end(w);
}

static int load_console_input(struct console *c, struct state_reader *r, char *err, size_t errlen)
{
    uint32_t version;
    if (state_open(r, "console-input", &version) < 0 || version != 1) {
        snprintf(err, errlen, "no console section after the devices");
        return -1;
    }
    uint16_t n = state_get_u16(r);
    if (n > sizeof c->buf) {
        snprintf(err, errlen, "the console section holds %u bytes, more than kvmbox buffers", n);
        return -1;
    }
    state_get_bytes(r, c->buf, n);
    if (state_close(r) < 0) {
        snprintf(err, errlen, "the console section is damaged");
        return -1;
    }
    c->off = 0;
    c->len = n;
    if (r->pos != r->len) {
        snprintf(err, errlen, "%zu bytes of state left over after the last section",
                 r->len - r->pos);
        return -1;
    }
    return 0;
}

int vmm_save_state(struct vmm *m, struct state_writer *w, char *err, size_t errlen)
{
    if (vm_save_state(m->vm, w, err, errlen) < 0)
        return -1;
    save_console_input(&m->console, w);
    return 0;
}

int vmm_load_state(struct vmm *m, struct vm *vm, const void *state, size_t len, char *err,
                   size_t errlen)
{
    struct state_reader r;
    state_reader_init(&r, state, len);
    if (vm_load_state(vm, &r, err, errlen) < 0 ||
        load_console_input(&m->console, &r, err, errlen) < 0)
        return -1;
    return 0;
}

enum vmm_result vmm_vm_snapshot(struct vmm *m, const char *dir, const char *config_json,
                                size_t config_len, char *err, size_t errlen)
{
    enum vm_state s;
    if (vmm_vm_state(m, &s) == VMM_NO_VM) {
        snprintf(err, errlen, "no VM has been created (vm.create first)");
        return VMM_NO_VM;
    }
    if (!m->vm || s != VM_STATE_PAUSED) {
        snprintf(err, errlen, "cannot snapshot: the VM must be paused (vm.pause first)");
        return VMM_REFUSED;
    }
    event_emit(&m->events, "vm", "snapshotting");
    struct state_writer w;
    state_writer_init(&w);
    struct snapshot_writer *sw = NULL;
    int r = vmm_save_state(m, &w, err, errlen);
    if (r == 0)
        r = snapshot_begin(dir, &sw, err, errlen);
    if (r == 0)
        r = snapshot_put_config(sw, config_json, config_len, err, errlen) < 0 ||
                    snapshot_put_state(sw, w.buf, w.len, err, errlen) < 0 ||
                    snapshot_put_memory(sw, &m->vm->mem, err, errlen) < 0
                ? -1 : 0;
    state_writer_free(&w);
    if (r < 0) {
        if (sw)
            snapshot_abort(sw);
        return VMM_REFUSED;
    }
    if (snapshot_commit(sw, err, errlen) < 0)
        return VMM_REFUSED;
    event_emit(&m->events, "vm", "snapshotted");
    return VMM_OK;
}

struct fill {
    struct snapshot *snap;
    enum snapshot_memory_mode mode;
};

static int fill_memory(void *ctx, struct guest_mem *mem, char *err, size_t errlen)
{
    struct fill *f = ctx;
    return snapshot_load_memory(f->snap, mem, f->mode, err, errlen);
}

enum vmm_result vmm_vm_restore(struct vmm *m, struct vm_config *cfg, vmm_config_release_fn release,
                               struct snapshot *snap, bool ondemand, bool resume, char *err,
                               size_t errlen)
{
    if (m->cfg) {
        snprintf(err, errlen, "a VM has already been created: kvmbox restores into an empty VMM");
        if (release)
            release(cfg);
        return VMM_REFUSED;
    }
    event_emit(&m->events, "vm", "restoring");
    m->cfg = cfg;
    m->release = release;
    m->idle_state = VM_STATE_CREATED;
    struct vm *vm = calloc(1, sizeof *vm);
    if (!vm) {
        snprintf(err, errlen, "out of memory");
        goto fail;
    }
    struct vm_env env = vmm_vm_env(m);
    struct fill f = { snap, ondemand ? SNAPSHOT_MEMORY_ONDEMAND : SNAPSHOT_MEMORY_COPY };
    struct vm_memory_fill fill = { fill_memory, &f };
    log_clear_last_error();
    if (vm_create_for_restore(vm, cfg, &env, &fill) < 0) {
        snprintf(err, errlen, "cannot build the VM: %s",
                 *log_last_error() ? log_last_error() : "see the VMM's log");
        vm_destroy(vm);
        free(vm);
        goto fail;
    }
    char why[512];
    if (vmm_load_state(m, vm, snap->state, snap->state_len, why, sizeof why) < 0 ||
        vm_start_paused(vm, why, sizeof why) < 0) {
        snprintf(err, errlen, "cannot restore the VM: %s", why);
        m->vm = vm;
        char ignored[64];
        vmm_vm_delete(m, ignored, sizeof ignored);
        return VMM_REFUSED;
    }
    m->vm = vm;
    event_emit(&m->events, "vm", "restored");
    if (resume && vm_resume(vm, err, errlen) < 0)
        return VMM_REFUSED;
    return VMM_OK;
fail:
    m->cfg = NULL;
    m->release = NULL;
    if (release)
        release(cfg);
    return VMM_REFUSED;
}
