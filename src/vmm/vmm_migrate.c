/* Live migration of the VMM's VM (docs/migration.md). The sender copies
 * guest memory while the VM runs, again and again what it dirtied (KVM's
 * log and the VMM's own record), until what is left fits the allowed
 * pause; then it pauses the VM, sends the rest, the whole state and a
 * digest of all of memory. The receiver has built the VM from the
 * configuration before memory arrived; it checks the digest, loads the
 * state, and only on the sender's word runs the VM. Each step's failure
 * leaves the source running, except the one moment that cannot be told
 * apart from success (see send_finish). */
#include "vmm/vmm.h"

#include "core/state.h"
#include "migration/migration_stream.h"
#include "util/clock.h"
#include "util/log.h"
#include "vmm/cpuid.h"
#include "vmm/cpuid_compat.h"
#include "vmm/dirty_log.h"
#include "vmm/vcpu.h"
#include "vmm/vm.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define PAGE MSTREAM_PAGE
#define MAX_ITERATIONS 30
#define MSG_TIMEOUT_MS 30000        /* no progress at all for this long: the peer is gone */

static uint64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static uint64_t count_bits(const uint64_t *bits, size_t words)
{
    uint64_t n = 0;
    for (size_t i = 0; i < words; i++)
        n += (uint64_t)__builtin_popcountll(bits[i]);
    return n;
}

static bool test_bit(const uint64_t *bits, uint64_t page)
{
    return bits[page / 64] >> (page % 64) & 1;
}

/* Sends every page whose bit is set, in runs of consecutive pages, and
 * clears the bits. */
static int send_dirty(struct migration_stream *s, const struct guest_mem *mem, uint64_t *bits,
                      char *err, size_t errlen)
{
    uint64_t pages = mem->ram_size / PAGE;
    for (uint64_t page = 0; page < pages;) {
        if (!bits[page / 64]) {
            page = (page / 64 + 1) * 64;
            continue;
        }
        if (!test_bit(bits, page)) {
            page++;
            continue;
        }
        uint64_t run = 1;
        while (page + run < pages && run < MSTREAM_RUN_MAX_PAGES && test_bit(bits, page + run))
            run++;
        if (mstream_send_pages(s, mem, page * PAGE, (uint32_t)run, err, errlen) < 0)
            return -1;
        for (uint64_t i = page; i < page + run; i++)
            bits[i / 64] &= ~(1ULL << (i % 64));
        page += run;
    }
    return 0;
}

/* The CPU the guest sees, as kvmbox gave it (a boot's table, or the one a
 * restore or migration brought), for the receiver to check before memory
 * moves. (Not what KVM_GET_CPUID2 reads back: some hosts fold their own
 * bits in there.) */
static int send_cpuid(struct migration_stream *s, struct vm *vm, char *err, size_t errlen)
{
    _Static_assert(sizeof vm->cpuid->entries[0] == MSTREAM_CPUID_ENTRY, "the wire's CPUID entry");
    if (!vm->cpuid) {
        snprintf(err, errlen, "the guest's CPUID is not known");
        return -1;
    }
    unsigned n = vm->cpuid->nent < MSTREAM_CPUID_MAX ? vm->cpuid->nent : MSTREAM_CPUID_MAX;
    return mstream_send(s, MSG_CPUID, vm->cpuid->entries, n * sizeof vm->cpuid->entries[0], err,
                        errlen);
}

/* Waits for the receiver's answer `want`; its ERROR becomes ours. */
static int expect(struct migration_stream *s, uint16_t want, int timeout_ms, char *err,
                  size_t errlen)
{
    struct mmsg msg;
    if (mstream_recv(s, timeout_ms, &msg, err, errlen) < 0)
        return -1;
    if (msg.type == MSG_ERROR) {
        snprintf(err, errlen, "the destination refused: %s", msg.u.text);
        return -1;
    }
    if (msg.type != want) {
        snprintf(err, errlen, "the destination answered %s, not %s", mstream_type_name(msg.type),
                 mstream_type_name(want));
        return -1;
    }
    return 0;
}

/* The precopy: every page once, then what the guest dirtied meanwhile,
 * until the rest, at the rate measured, fits in the allowed pause. */
static int precopy(struct vmm *m, struct migration_stream *s, uint64_t *bits, size_t words,
                   const struct migrate_options *o, struct migrate_report *rep, char *err,
                   size_t errlen)
{
    struct vm *vm = m->vm;
    uint64_t pages = vm->mem.ram_size / PAGE;
    memset(bits, 0, words * sizeof *bits);
    for (uint64_t p = 0; p < pages; p++)
        bits[p / 64] |= 1ULL << (p % 64);
    uint64_t deadline = now_ms() + (uint64_t)o->timeout_s * 1000;
    for (unsigned it = 0;; it++) {
        uint64_t n = count_bits(bits, words), t0 = now_ms(), b0 = s->bytes_sent;
        if (send_dirty(s, &vm->mem, bits, err, errlen) < 0 ||
            mstream_send_iteration_end(s, it, n, err, errlen) < 0 ||
            dirty_log_take(vm, bits, err, errlen) < 0)
            return -1;
        uint64_t ms = now_ms() - t0, bytes = s->bytes_sent - b0;
        /* Bytes a millisecond, of a transfer long enough to tell. */
        if (ms > 0 && bytes > 0)
            rep->bandwidth = bytes / ms;
        uint64_t left = count_bits(bits, words);
        rep->iterations = it + 1;
        rep->expected_pause_ms = rep->bandwidth ? left * PAGE / rep->bandwidth : 0;
        log_debug("migration: pass %u sent %" PRIu64 " pages in %" PRIu64 " ms; %" PRIu64
                  " dirty, an expected pause of %" PRIu64 " ms", it, n, ms, left,
                  rep->expected_pause_ms);
        if (vmm_interrupted(m)) {
            snprintf(err, errlen, "kvmbox is stopping (a signal): the migration is given up");
            return -1;
        }
        if (rep->expected_pause_ms <= o->downtime_ms)
            return 0;
        if (it + 1 >= MAX_ITERATIONS || now_ms() >= deadline) {
            if (o->timeout_cancel) {
                snprintf(err, errlen, "the guest dirties memory faster than it can be sent "
                         "(%" PRIu64 " ms of pause expected after %u passes, %u allowed)",
                         rep->expected_pause_ms, it + 1, o->downtime_ms);
                return -1;
            }
            log_warn("migration: switching over with a pause of about %" PRIu64 " ms, above "
                     "the %u ms asked for", rep->expected_pause_ms, o->downtime_ms);
            return 0;
        }
    }
}

/* Paused: the rest of memory, the state, the digest; DIGEST_OK says the
 * destination has it all and checked it. */
static int stop_and_copy(struct vmm *m, struct migration_stream *s, uint64_t *bits,
                         char *err, size_t errlen)
{
    struct vm *vm = m->vm;
    if (dirty_log_take(vm, bits, err, errlen) < 0 || send_dirty(s, &vm->mem, bits, err, errlen) < 0)
        return -1;
    struct state_writer w;
    state_writer_init(&w);
    int r = vmm_save_state(m, &w, err, errlen);
    if (r == 0)
        r = mstream_send(s, MSG_STATE, w.buf, w.len, err, errlen);
    state_writer_free(&w);
    uint8_t digest[16];
    migration_mem_digest(&vm->mem, digest);
    if (r < 0 || mstream_send(s, MSG_DIGEST, digest, sizeof digest, err, errlen) < 0)
        return -1;
    return expect(s, MSG_DIGEST_OK, MSG_TIMEOUT_MS * 2, err, errlen);
}

enum vmm_result vmm_vm_send_migration(struct vmm *m, int fd, const char *config_json,
                                      size_t config_len, const struct migrate_options *o,
                                      struct migrate_report *rep, char *err, size_t errlen)
{
    memset(rep, 0, sizeof *rep);
    struct migration_stream s;
    mstream_init(&s, fd);
    enum vm_state st;
    if (vmm_vm_state(m, &st) == VMM_NO_VM || !m->vm || st != VM_STATE_RUNNING) {
        snprintf(err, errlen, "cannot migrate: the VM is not running");
        mstream_destroy(&s);
        return m->cfg ? VMM_REFUSED : VMM_NO_VM;
    }
    struct vm *vm = m->vm;
    size_t words = GUEST_MEM_DIRTY_WORDS(&vm->mem);
    uint64_t *bits = calloc(words, sizeof *bits);
    uint64_t start = now_ms();
    bool logging = false, paused = false;
    event_emit(&m->events, "vm", "migration-started");
    int r = -1;
    if (!bits) {
        snprintf(err, errlen, "out of memory");
        goto out;
    }
    if (mstream_send_hello(&s, vm->mem.ram_size, 0, err, errlen) < 0 ||
        mstream_send(&s, MSG_CONFIG, config_json, config_len, err, errlen) < 0 ||
        send_cpuid(&s, vm, err, errlen) < 0 ||
        expect(&s, MSG_HELLO_ACK, MSG_TIMEOUT_MS, err, errlen) < 0)
        goto out;
    if (dirty_log_start(vm, err, errlen) < 0)
        goto out;
    logging = true;
    if (precopy(m, &s, bits, words, o, rep, err, errlen) < 0)
        goto out;
    uint64_t pause_start = now_ms();
    char why[256];
    if (vm_pause(vm, why, sizeof why) < 0) {
        snprintf(err, errlen, "cannot pause the VM for the switch-over: %s", why);
        goto out;
    }
    paused = true;
    if (stop_and_copy(m, &s, bits, err, errlen) < 0)
        goto out;
    /* The point of no return: once COMPLETE is sent, the destination may
     * run the VM. Its RUNNING settles it; the connection closing instead
     * means it is gone (a process that exits closes its end), and the VM
     * runs here again; silence cannot be told apart from a destination
     * that runs, so then the VM stays paused here, and says so. */
    if (mstream_send(&s, MSG_COMPLETE, NULL, 0, err, errlen) < 0)
        goto out;
    struct mmsg msg = { .type = 0 };
    char rerr[256];
    if (mstream_recv(&s, MSG_TIMEOUT_MS * 2, &msg, rerr, sizeof rerr) < 0 || msg.type != MSG_RUNNING) {
        bool gone = msg.type != MSG_RUNNING && strstr(rerr, "closed");
        if (!gone) {
            snprintf(err, errlen, "no word from the destination after the switch-over (%s): it "
                     "may be running the VM, so the VM stays paused here; resume it only if "
                     "the destination does not run it", rerr);
            paused = false;          /* left paused on purpose */
            goto out;
        }
        snprintf(err, errlen, "the destination closed the connection at the switch-over: the "
                 "VM runs here again");
        goto out;
    }
    rep->pause_ms = now_ms() - pause_start;
    rep->total_ms = now_ms() - start;
    rep->bytes = s.bytes_sent;
    rep->pages = s.pages_sent;
    r = 0;
out:
    if (logging)
        dirty_log_stop(vm);
    if (r < 0 && paused) {
        char why2[128];
        if (vm_resume(vm, why2, sizeof why2) < 0)
            log_error("migration: the VM could not be resumed: %s", why2);
    }
    free(bits);
    if (r < 0) {
        /* The destination learns why, if it still listens. */
        char ignored[64];
        mstream_send_error(&s, ignored, sizeof ignored, "%s", err);
        event_emit(&m->events, "vm", "migration-failed");
        mstream_destroy(&s);
        return VMM_REFUSED;
    }
    mstream_destroy(&s);
    event_emit(&m->events, "vm", "migration-completed");
    /* The VM lives on the destination now: never here again. */
    char ignored[64];
    vmm_vm_delete(m, ignored, sizeof ignored);
    if (m->base->kernel)
        vmm_request_exit(m, 0);
    return VMM_OK;
}

/* ---- the receiver ---- */

int vmm_check_cpuid(struct vmm *m, const void *entries, size_t n, char *err, size_t errlen)
{
    static const struct cpu_filter none;
    int kvm = open(m->base->kvm_path, O_RDWR | O_CLOEXEC);
    if (kvm < 0) {
        snprintf(err, errlen, "cannot open %s: %s", m->base->kvm_path, strerror(errno));
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

enum vmm_result vmm_vm_receive_migration(struct vmm *m, struct migration_stream *s,
                                         struct vm_config *cfg, vmm_config_release_fn release,
                                         char *err, size_t errlen)
{
    if (m->cfg) {
        snprintf(err, errlen, "a VM has already been created: a migration arrives in an empty VMM");
        if (release)
            release(cfg);
        return VMM_REFUSED;
    }
    m->cfg = cfg;
    m->release = release;
    m->idle_state = VM_STATE_CREATED;
    event_emit(&m->events, "vm", "receiving");
    struct vm *vm = calloc(1, sizeof *vm);
    struct vm_env env = { &m->console_out, &m->events, m->wake_fd };
    uint8_t *state = NULL;
    size_t state_len = 0;
    char why[512];
    if (!vm) {
        snprintf(err, errlen, "out of memory");
        goto fail_config;
    }
    log_clear_last_error();
    if (vm_create_for_restore(vm, cfg, &env, NULL) < 0) {
        snprintf(err, errlen, "cannot build the VM: %s",
                 *log_last_error() ? log_last_error() : "see the VMM's log");
        vm_destroy(vm);
        free(vm);
        goto fail_config;
    }
    m->vm = vm;
    for (;;) {
        struct mmsg msg;
        if (mstream_recv(s, MSG_TIMEOUT_MS, &msg, why, sizeof why) < 0) {
            snprintf(err, errlen, "the migration stream broke: %s", why);
            goto fail;
        }
        switch (msg.type) {
        case MSG_PAGES:
            if (mstream_apply_pages(&msg, &vm->mem, why, sizeof why) < 0) {
                snprintf(err, errlen, "%s", why);
                goto refuse;
            }
            break;
        case MSG_ITERATION_END:
            if (vmm_interrupted(m)) {
                snprintf(err, errlen, "kvmbox is stopping (a signal): the migration is refused");
                goto refuse;
            }
            log_debug("migration: pass %u, %" PRIu64 " pages", msg.u.iteration_end.iteration,
                      msg.u.iteration_end.pages);
            break;
        case MSG_STATE:
            free(state);
            if (!(state = malloc(msg.len ? msg.len : 1))) {
                snprintf(err, errlen, "out of memory for the state");
                goto refuse;
            }
            memcpy(state, msg.payload, msg.len);
            state_len = msg.len;
            break;
        case MSG_DIGEST: {
            uint8_t mine[16];
            migration_mem_digest(&vm->mem, mine);
            if (memcmp(mine, msg.u.digest, sizeof mine)) {
                snprintf(err, errlen, "guest memory arrived different from what was sent "
                         "(the digests differ): refused");
                goto refuse;
            }
            if (!state) {
                snprintf(err, errlen, "the sender's digest came before its state");
                goto refuse;
            }
            if (vmm_load_state(m, vm, state, state_len, why, sizeof why) < 0 ||
                vm_start_paused(vm, why, sizeof why) < 0) {
                snprintf(err, errlen, "cannot load the VM's state: %s", why);
                goto refuse;
            }
            if (mstream_send(s, MSG_DIGEST_OK, NULL, 0, why, sizeof why) < 0) {
                snprintf(err, errlen, "%s", why);
                goto fail;
            }
            break;
        }
        case MSG_COMPLETE:
            if (vm_get_state(vm) != VM_STATE_PAUSED) {
                snprintf(err, errlen, "the sender completed before the state arrived");
                goto refuse;
            }
            if (vm_resume(vm, why, sizeof why) < 0) {
                snprintf(err, errlen, "cannot run the VM: %s", why);
                goto fail;
            }
            if (mstream_send(s, MSG_RUNNING, NULL, 0, why, sizeof why) < 0)
                log_warn("migration: the VM runs here, but the sender could not be told: %s", why);
            free(state);
            event_emit(&m->events, "vm", "received");
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
    free(state);
    {
        char ignored[64];
        vmm_vm_delete(m, ignored, sizeof ignored);
    }
    event_emit(&m->events, "vm", "receive-failed");
    return VMM_REFUSED;
fail_config:
    m->cfg = NULL;
    m->release = NULL;
    if (release)
        release(cfg);
    return VMM_REFUSED;
}
