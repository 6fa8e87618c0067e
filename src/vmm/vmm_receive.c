/* Receiving a VM from another kvmbox (docs/migration.md), on the main
 * thread: the API call waits for its end. The VM is built from the
 * sender's configuration before memory arrives; pages are applied as they
 * come; with the state the VM's vCPUs and devices are loaded and parked,
 * and this side's digest of all of memory is computed while the sender
 * computes its own; only on the sender's COMPLETE does the VM run. A
 * local migration's memory is the sender's memfd: nothing to copy or
 * check. The sending end is vmm_migrate.c. */
#include "vmm/vmm.h"

#include "core/mem_scan.h"
#include "core/state.h"
#include "migration/mem_digest.h"
#include "migration/migration_stream.h"
#include "util/deadline.h"
#include "util/log.h"
#include "vmm/cpuid.h"
#include "vmm/cpuid_compat.h"
#include "vmm/vm.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define MSG_TIMEOUT_MS 30000        /* no progress at all for this long: the peer is gone */

int vmm_check_cpuid(struct vmm *m, const void *entries, size_t n, char *err, size_t errlen)
{
    static const struct cpu_filter none;
    int kvm = held_fds_kvm(&m->held);
    if (kvm < 0)
        kvm = open(m->base->kvm_path, O_RDWR | O_CLOEXEC);
    if (kvm < 0) {
        snprintf(err, errlen, "cannot open %s: %s", m->base->kvm_path, log_strerror(errno));
        return -1;
    }
    char why[256];
    struct kvm_cpuid2 *host = cpuid_build(kvm, &none, why, sizeof why);
    close(kvm);
    if (!host) {
        snprintf(err, errlen, "%s", why);
        return -1;
    }
    /* Copied: the wire's bytes need not be aligned as the struct is. */
    struct kvm_cpuid_entry2 *guest = calloc(n ? n : 1, sizeof *guest);
    int r = -1;
    if (!guest)
        snprintf(err, errlen, "out of memory");
    else {
        memcpy(guest, entries, n * sizeof *guest);
        r = cpuid_check_compatible(guest, (unsigned)n, host->entries, host->nent, err, errlen);
    }
    free(guest);
    free(host);
    return r;
}

/* A local migration's memory: the sender's memfd in place of ours. */
static int adopt_memfd(void *ctx, struct guest_mem *mem, char *err, size_t errlen)
{
    int *fd = ctx;
    int r = guest_mem_adopt_memfd(mem, *fd, err, errlen);
    *fd = -1;                   /* taken either way */
    return r;
}

/* STATE: this side's digest of memory (compared when the sender's comes),
 * and the state loaded into the parked VM. */
static int take_state(struct vmm *m, struct vm *vm, const struct mmsg *msg,
                      struct mem_digest *d, uint8_t digest[16], char *err, size_t errlen)
{
    if (vm_get_state(vm) != VM_STATE_CREATED) {
        snprintf(err, errlen, "a second STATE in the migration stream");
        return -1;
    }
    uint64_t t0 = (uint64_t)monotonic_us();
    if (d)
        mem_digest_final(d, &vm->mem, digest);
    uint64_t t1 = (uint64_t)monotonic_us();
    char why[512];
    if (vmm_load_state(m, vm, msg->payload, msg->len, why, sizeof why) < 0) {
        snprintf(err, errlen, "cannot load the VM's state: %s", why);
        return -1;
    }
    uint64_t t2 = (uint64_t)monotonic_us();
    if (vm_start_paused(vm, why, sizeof why) < 0) {
        snprintf(err, errlen, "cannot load the VM's state: %s", why);
        return -1;
    }
    log_debug("migration: the state arrived: the digest brought up to date in %.2f ms, the "
              "state loaded in %.2f ms, the vCPUs started parked in %.2f ms", (t1 - t0) / 1e3,
              (t2 - t1) / 1e3, ((uint64_t)monotonic_us() - t2) / 1e3);
    return 0;
}

enum vmm_result vmm_vm_receive_migration(struct vmm *m, struct migration_stream *s,
                                         struct vm_config *cfg, vmm_config_release_fn release,
                                         int memfd, char *err, size_t errlen)
{
    bool local = memfd >= 0;
    if (m->cfg) {
        snprintf(err, errlen, "a VM has already been created: a migration arrives in an empty VMM");
        if (release)
            release(cfg);
        if (local)
            close(memfd);
        return VMM_REFUSED;
    }
    m->cfg = cfg;
    m->release = release;
    m->idle_state = VM_STATE_CREATED;
    event_emit(&m->events, "vm", "receiving");
    struct vm *vm = calloc(1, sizeof *vm);
    struct vm_env env = vmm_vm_env(m);
    struct vm_memory_fill fill = { adopt_memfd, &memfd };
    uint8_t mine[16];
    bool have_state = false;
    char why[512];
    /* This side's digest, chunk by chunk: pages come in ascending order
     * within a pass, so the chunks below the newest run are hashed as the
     * stream goes (cursor), the rest at the pass's end. */
    struct mem_digest digest = { 0 };
    uint64_t cursor = 0;
    struct mem_scan untouched;
    bool scanning = false;
    if (!vm) {
        snprintf(err, errlen, "out of memory");
        goto refuse_config;
    }
    log_clear_last_error();
    if (vm_create_for_restore(vm, cfg, &env, local ? &fill : NULL) < 0) {
        snprintf(err, errlen, "cannot build the VM: %s",
                 *log_last_error() ? log_last_error() : "see the VMM's log");
        vm_destroy(vm);
        free(vm);
        goto refuse_config;
    }
    m->vm = vm;
    /* Built: the migration is taken, and memory may come. */
    if (mstream_send(s, MSG_HELLO_ACK, NULL, 0, why, sizeof why) < 0) {
        snprintf(err, errlen, "%s", why);
        goto fail;
    }
    if (!local && mem_digest_init(&digest, &vm->mem) < 0) {
        snprintf(err, errlen, "out of memory");
        goto fail;
    }
    mem_scan_open(&untouched, &vm->mem);
    scanning = true;
    /* The fresh memory's digest now, before pages come (untouched: taken
     * as zero, unread); from here only what the stream changes is hashed
     * again. */
    mem_digest_update(&digest, &vm->mem, 0, digest.nchunks, NULL);
    for (;;) {
        struct mmsg msg;
        if (mstream_recv(s, MSG_TIMEOUT_MS, &msg, why, sizeof why) < 0) {
            snprintf(err, errlen, "the migration stream broke: %s", why);
            goto fail;
        }
        switch (msg.type) {
        case MSG_PAGES:
            /* (Local: the memory is shared; a page sent would be a lie.) */
            if (local || have_state) {
                snprintf(err, errlen, "pages where none belong in the migration stream");
                goto refuse;
            }
            int changed = mstream_apply_pages(&msg, &vm->mem, &untouched, why, sizeof why);
            if (changed < 0) {
                snprintf(err, errlen, "%s", why);
                goto refuse;
            }
            if (changed)
                mem_digest_mark(&digest, msg.u.pages.offset,
                                (uint64_t)msg.u.pages.npages * MSTREAM_PAGE);
            if (msg.u.pages.offset / MEM_DIGEST_CHUNK > cursor) {
                mem_digest_update(&digest, &vm->mem, cursor, msg.u.pages.offset / MEM_DIGEST_CHUNK,
                                  NULL);
                cursor = msg.u.pages.offset / MEM_DIGEST_CHUNK;
            } else if (msg.u.pages.offset / MEM_DIGEST_CHUNK < cursor) {
                cursor = 0;      /* the pass's end went unannounced */
            }
            break;
        case MSG_ITERATION_END:
            if (vmm_interrupted(m)) {
                snprintf(err, errlen, "kvmbox is stopping (a signal): the migration is refused");
                goto refuse;
            }
            log_debug("migration: pass %u, %" PRIu64 " pages", msg.u.iteration_end.iteration,
                      msg.u.iteration_end.pages);
            if (!local)
                mem_digest_update(&digest, &vm->mem, cursor, digest.nchunks, NULL);
            cursor = 0;
            if (mstream_send_iteration(s, MSG_ITERATION_ACK, msg.u.iteration_end.iteration,
                                       msg.u.iteration_end.pages, why, sizeof why) < 0) {
                snprintf(err, errlen, "%s", why);
                goto fail;
            }
            break;
        case MSG_STATE:
            if (take_state(m, vm, &msg, local ? NULL : &digest, mine, err, errlen) < 0)
                goto refuse;
            have_state = true;
            /* Local: nothing to compare; the VM is ready. */
            if (local && mstream_send(s, MSG_DIGEST_OK, NULL, 0, why, sizeof why) < 0) {
                snprintf(err, errlen, "%s", why);
                goto fail;
            }
            break;
        case MSG_DIGEST:
            if (!have_state || local) {
                snprintf(err, errlen, "the sender's digest came before its state");
                goto refuse;
            }
            if (memcmp(mine, msg.u.digest, sizeof mine)) {
                snprintf(err, errlen, "guest memory arrived different from what was sent "
                         "(the digests differ): refused");
                goto refuse;
            }
            if (mstream_send(s, MSG_DIGEST_OK, NULL, 0, why, sizeof why) < 0) {
                snprintf(err, errlen, "%s", why);
                goto fail;
            }
            break;
        case MSG_COMPLETE:
            if (vm_get_state(vm) != VM_STATE_PAUSED) {
                snprintf(err, errlen, "the sender completed before the state arrived");
                goto refuse;
            }
            uint64_t t0 = (uint64_t)monotonic_us();
            if (vm_resume(vm, why, sizeof why) < 0) {
                snprintf(err, errlen, "cannot run the VM: %s", why);
                goto fail;
            }
            log_debug("migration: COMPLETE: the VM resumed in %.2f ms",
                      ((uint64_t)monotonic_us() - t0) / 1e3);
            if (mstream_send(s, MSG_RUNNING, NULL, 0, why, sizeof why) < 0)
                log_warn("migration: the VM runs here, but the sender could not be told: %s", why);
            event_emit(&m->events, "vm", "received");
            mem_scan_close(&untouched);
            mem_digest_destroy(&digest);
            return VMM_OK;
        case MSG_ERROR:
            snprintf(err, errlen, "the sender gave up: %s", msg.u.text);
            goto fail;
        case MSG_CANCEL:
            snprintf(err, errlen, "the sender cancelled the migration");
            goto fail;
        default:
            snprintf(err, errlen, "unexpected %s in the migration stream",
                     mstream_type_name(msg.type));
            goto refuse;
        }
    }
refuse:
    mstream_send_error(s, why, sizeof why, "%s", err);
fail:
    if (scanning)
        mem_scan_close(&untouched);
    mem_digest_destroy(&digest);
    {
        char ignored[64];
        vmm_vm_delete(m, ignored, sizeof ignored);
    }
    event_emit(&m->events, "vm", "receive-failed");
    return VMM_REFUSED;
refuse_config:
    /* The sender learns why before any memory moves. */
    mstream_send_error(s, why, sizeof why, "%s", err);
    event_emit(&m->events, "vm", "receive-failed");
    if (memfd >= 0)
        close(memfd);
    m->cfg = NULL;
    m->release = NULL;
    if (release)
        release(cfg);
    return VMM_REFUSED;
}
