/* Sending the VMM's VM to another kvmbox (docs/migration.md). The sender
 * runs on a thread of its own, so that the API goes on serving while it
 * works (vm.migration-progress, vm.cancel-migration). It copies guest
 * memory while the VM runs, again and again what it dirtied (KVM's log and
 * the VMM's own record), slowing the vCPUs down when they dirty faster
 * than the link takes (auto-converge), until what is left fits the allowed
 * pause; then it pauses the VM, sends the rest, the whole state and a
 * digest of all of memory. With `local` (a live upgrade on one host) the
 * memory is not copied at all: its memfd goes over the Unix socket.
 * Each step's failure leaves the source running, except the one moment
 * that cannot be told apart from success (see finish). The receiving end
 * is vmm_receive.c. */
#include "vmm/vmm.h"

#include "core/mem_scan.h"
#include "core/state.h"
#include "migration/mem_digest.h"
#include "migration/migration_stream.h"
#include "sandbox/sandbox.h"
#include "util/deadline.h"
#include "util/log.h"
#include "vmm/dirty_log.h"
#include "vmm/vcpu_throttle.h"
#include "vmm/vm.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define PAGE MSTREAM_PAGE
#define MAX_ITERATIONS 30
/* Once the rest fits the allowed pause, one more pass still pays while it
 * leaves less than half of what it sent dirty and the pause it would
 * save is above this (and for at most SHRINK_PASSES passes in all): the
 * guest sees a shorter pause for a few short passes more. */
#define SHRINK_FLOOR_US 500
#define SHRINK_PASSES 10
#define MSG_TIMEOUT_MS 30000        /* no progress at all for this long: the peer is gone */
/* Auto-converge as QEMU's: a first step of 20%, then 10% more each pass
 * that still does not converge. */
#define THROTTLE_FIRST 20u
#define THROTTLE_STEP 10u
/* Progress is published every this many runs of pages sent. */
#define PUBLISH_EVERY 64

struct migration_job {
    struct vmm *m;
    struct vm *vm;
    struct migration_stream s;
    /* The digest of memory, kept up to date chunk by chunk as the dirty
     * log tells what changed: the pause hashes only the last pass's. */
    struct mem_digest digest;
    struct migrate_options o;
    bool local;                     /* memory handed over as the memfd */
    char *config;                   /* the VmConfig JSON sent first */
    size_t config_len;
    migrate_end_fn on_end;
    void *ctx;
    pthread_t thread;
    uint64_t start_ms;

    /* Protects progress, cancelled, exiting and committed: taken by the
     * job's thread and by the main thread (progress, cancel); a leaf. */
    pthread_mutex_t lock;
    struct migrate_progress progress;
    bool cancelled;                 /* vm.cancel-migration, or the VMM exits */
    bool exiting;                   /* the VMM exits: never run the VM here again */
    bool committed;                 /* COMPLETE went out: too late to cancel */
    atomic_bool done;               /* the thread has ended: the main loop joins it */

    /* The switch-over's steps, microseconds from the pause (for -v). */
    uint64_t pause_us, t_paused, t_pages, t_state, t_digest, t_checked, t_running;
    uint64_t state_bytes;
};

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

/* The job's counters into its progress, for the API to read. */
static void publish(struct migration_job *j, const char *phase, uint64_t dirty_left)
{
    pthread_mutex_lock(&j->lock);
    if (phase)
        j->progress.phase = phase;
    j->progress.dirty_pages = dirty_left;
    j->progress.bytes = atomic_load(&j->s.bytes_sent);
    j->progress.pages = atomic_load(&j->s.pages_sent);
    j->progress.elapsed_ms = (uint64_t)monotonic_ms() - j->start_ms;
    j->progress.throttle_pct = atomic_load(&j->vm->throttle_pct);
    pthread_mutex_unlock(&j->lock);
}

static bool cancelled(struct migration_job *j)
{
    pthread_mutex_lock(&j->lock);
    bool c = j->cancelled;
    pthread_mutex_unlock(&j->lock);
    return c;
}

/* Sends every page whose bit is set, in runs of consecutive pages, and
 * clears the bits. */
static int send_dirty(struct migration_job *j, uint64_t *bits, uint64_t ndirty, char *err,
                      size_t errlen)
{
    const struct guest_mem *mem = &j->vm->mem;
    uint64_t pages = mem->ram_size / PAGE;
    unsigned runs = 0;
    struct mem_scan untouched;
    mem_scan_open(&untouched, mem);
    int r = 0;
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
        if ((r = mstream_send_pages(&j->s, mem, &untouched, page * PAGE, (uint32_t)run, err,
                                    errlen)) < 0)
            break;
        for (uint64_t i = page; i < page + run; i++)
            bits[i / 64] &= ~(1ULL << (i % 64));
        page += run;
        ndirty -= run;
        if (++runs % PUBLISH_EVERY == 0)
            publish(j, NULL, ndirty);
    }
    mem_scan_close(&untouched);
    return r;
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
        snprintf(err, errlen, "the destination refused: %.400s", msg.u.text);
        return -1;
    }
    if (msg.type != want) {
        snprintf(err, errlen, "the destination answered %s, not %s", mstream_type_name(msg.type),
                 mstream_type_name(want));
        return -1;
    }
    return 0;
}

/* Auto-converge: after a pass that left at least half of what it began
 * with dirty again, the vCPUs lose more of their time. */
static void converge(struct migration_job *j, uint64_t before, uint64_t left, unsigned it)
{
    struct vm *vm = j->vm;
    if (!j->o.auto_converge || it < 1 || left * 2 < before)
        return;
    unsigned pct = atomic_load(&vm->throttle_pct);
    unsigned next = pct ? pct + THROTTLE_STEP : THROTTLE_FIRST;
    if (next > VCPU_THROTTLE_MAX_PCT)
        next = VCPU_THROTTLE_MAX_PCT;
    if (next == pct)
        return;
    atomic_store(&vm->throttle_pct, next);
    log_warn("migration: the guest dirties memory faster than it is sent: its vCPUs are "
             "slowed down by %u%% (auto-converge)", next);
    char props[64];
    snprintf(props, sizeof props, "{\"throttle_pct\":%u}", next);
    event_emit_props(&j->m->events, "vm", "migration-throttled", props);
}

/* The precopy: every page once, then what the guest dirtied meanwhile,
 * until the rest, at the rate measured, fits in the allowed pause. */
static int precopy(struct migration_job *j, uint64_t *bits, size_t words, char *err,
                   size_t errlen)
{
    struct vm *vm = j->vm;
    const struct migrate_options *o = &j->o;
    struct migrate_progress *p = &j->progress;
    uint64_t pages = vm->mem.ram_size / PAGE;
    memset(bits, 0, words * sizeof *bits);
    for (uint64_t i = 0; i < pages; i++)
        bits[i / 64] |= 1ULL << (i % 64);
    uint64_t deadline = (uint64_t)monotonic_ms() + (uint64_t)o->timeout_s * 1000;
    for (unsigned it = 0;; it++) {
        uint64_t n = count_bits(bits, words), t0 = (uint64_t)monotonic_us();
        uint64_t b0 = atomic_load(&j->s.bytes_sent);
        publish(j, "precopy", n);
        /* The pass ends when the destination has applied it (its ACK):
         * the rate measured is what reached it, not what the socket
         * buffers took, and a switch-over starts with nothing in flight. */
        if (send_dirty(j, bits, n, err, errlen) < 0 ||
            mstream_send_iteration(&j->s, MSG_ITERATION_END, it, n, err, errlen) < 0 ||
            expect(&j->s, MSG_ITERATION_ACK, MSG_TIMEOUT_MS, err, errlen) < 0 ||
            dirty_log_take(vm, bits, err, errlen) < 0)
            return -1;
        /* What the guest wrote must be hashed again; what it left alone
         * this pass is hashed now, off the pause. */
        mem_digest_mark_pages(&j->digest, bits);
        mem_digest_update(&j->digest, &vm->mem, 0, j->digest.nchunks, bits);
        uint64_t us = (uint64_t)monotonic_us() - t0, bytes = atomic_load(&j->s.bytes_sent) - b0;
        uint64_t left = count_bits(bits, words);
        pthread_mutex_lock(&j->lock);
        /* Bytes a millisecond, of a transfer long enough to tell. */
        if (us >= 100 && bytes > 0)
            p->bandwidth = bytes * 1000 / us;
        p->dirty_rate = left * 1000000 / (us ? us : 1);
        p->iterations = it + 1;
        uint64_t expected_us = p->bandwidth ? left * PAGE * 1000 / p->bandwidth : 0;
        p->expected_pause_ms = expected_us / 1000;
        uint64_t expected = p->expected_pause_ms;
        pthread_mutex_unlock(&j->lock);
        publish(j, NULL, left);
        log_debug("migration: pass %u sent %" PRIu64 " pages in %.2f ms; %" PRIu64
                  " dirty, an expected pause of %.2f ms", it, n, us / 1e3, left, expected_us / 1e3);
        char props[256];
        snprintf(props, sizeof props, "{\"iteration\":%u,\"pages\":%" PRIu64 ",\"dirty_pages\":%"
                 PRIu64 ",\"expected_pause_ms\":%" PRIu64 "}", it, n, left, expected);
        event_emit_props(&j->m->events, "vm", "migration-progress", props);
        if (cancelled(j)) {
            snprintf(err, errlen, "cancelled");
            return -1;
        }
        if (expected <= o->downtime_ms) {
            if (expected_us < SHRINK_FLOOR_US || left * 2 > n || it + 1 >= SHRINK_PASSES)
                return 0;
            continue;
        }
        if (it + 1 >= MAX_ITERATIONS || (uint64_t)monotonic_ms() >= deadline) {
            if (o->timeout_cancel) {
                snprintf(err, errlen, "the guest dirties memory faster than it can be sent "
                         "(%" PRIu64 " ms of pause expected after %u passes, %u allowed)",
                         expected, it + 1, o->downtime_ms);
                return -1;
            }
            log_warn("migration: switching over with a pause of about %" PRIu64 " ms, above "
                     "the %u ms asked for", expected, o->downtime_ms);
            return 0;
        }
        converge(j, n, left, it);
    }
}

/* Pauses the VM. The terminal's input stops reaching the guest first
 * (the main thread feeds it under console_lock only while it runs), so
 * what is buffered is what the state saves. */
static int pause_vm(struct migration_job *j, char *err, size_t errlen)
{
    char why[256];
    pthread_mutex_lock(&j->m->console_lock);
    int r = vm_pause(j->vm, why, sizeof why);
    pthread_mutex_unlock(&j->m->console_lock);
    if (r < 0)
        snprintf(err, errlen, "cannot pause the VM for the switch-over: %s", why);
    return r;
}

/* Paused: the rest of memory, the state, the digest; DIGEST_OK says the
 * destination has it all and checked it. The state goes before the
 * digest, so that the destination computes its own digest (and loads the
 * state) while this side computes the sender's. A local migration's
 * memory is the destination's: no pages, no digest. */
static int stop_and_copy(struct migration_job *j, uint64_t *bits, char *err, size_t errlen)
{
    struct vm *vm = j->vm;
    if (!j->local) {
        if (dirty_log_take(vm, bits, err, errlen) < 0)
            return -1;
        mem_digest_mark_pages(&j->digest, bits);
        if (send_dirty(j, bits, count_bits(bits, GUEST_MEM_DIRTY_WORDS(&vm->mem)), err,
                       errlen) < 0)
            return -1;
    }
    j->t_pages = (uint64_t)monotonic_us() - j->pause_us;
    struct state_writer w;
    state_writer_init(&w);
    int r = vmm_save_state(j->m, &w, err, errlen);
    if (r == 0)
        r = mstream_send(&j->s, MSG_STATE, w.buf, w.len, err, errlen);
    j->state_bytes = w.len;
    state_writer_free(&w);
    if (r < 0)
        return -1;
    j->t_state = (uint64_t)monotonic_us() - j->pause_us;
    if (!j->local) {
        uint8_t digest[16];
        mem_digest_final(&j->digest, &vm->mem, digest);
        if (mstream_send(&j->s, MSG_DIGEST, digest, sizeof digest, err, errlen) < 0)
            return -1;
    }
    j->t_digest = (uint64_t)monotonic_us() - j->pause_us;
    r = expect(&j->s, MSG_DIGEST_OK, MSG_TIMEOUT_MS * 2, err, errlen);
    j->t_checked = (uint64_t)monotonic_us() - j->pause_us;
    return r;
}

/* The point of no return: once COMPLETE is sent, the destination may run
 * the VM. Its RUNNING settles it; the connection closing instead means it
 * is gone (a process that exits closes its end), and the VM runs here
 * again; silence cannot be told apart from a destination that runs, so
 * then the VM stays paused here, and says so. *stay_paused tells the
 * caller not to resume the VM on failure. */
static int finish(struct migration_job *j, bool *stay_paused, char *err, size_t errlen)
{
    pthread_mutex_lock(&j->lock);
    bool go = !j->cancelled;
    j->committed = go;
    if (go)
        j->progress.phase = "completing";
    pthread_mutex_unlock(&j->lock);
    if (!go) {
        snprintf(err, errlen, "cancelled");
        return -1;
    }
    if (mstream_send(&j->s, MSG_COMPLETE, NULL, 0, err, errlen) < 0)
        return -1;
    struct mmsg msg = { .type = 0 };
    char rerr[256];
    if (mstream_recv(&j->s, MSG_TIMEOUT_MS * 2, &msg, rerr, sizeof rerr) == 0 &&
        msg.type == MSG_RUNNING) {
        j->t_running = (uint64_t)monotonic_us() - j->pause_us;
        return 0;
    }
    pthread_mutex_lock(&j->lock);
    bool exiting = j->exiting;
    pthread_mutex_unlock(&j->lock);
    bool gone = msg.type != MSG_RUNNING && strstr(rerr, "closed");
    if (exiting || !gone) {
        snprintf(err, errlen, "no word from the destination after the switch-over (%s): it "
                 "may be running the VM, so the VM stays paused here; resume it only if "
                 "the destination does not run it", rerr);
        *stay_paused = true;
        return -1;
    }
    snprintf(err, errlen, "the destination closed the connection at the switch-over: the "
             "VM runs here again");
    return -1;
}

/* The migration, start to end, on the job's thread. */
static int migrate(struct migration_job *j, char *err, size_t errlen)
{
    struct vm *vm = j->vm;
    struct migrate_progress *p = &j->progress;
    size_t words = GUEST_MEM_DIRTY_WORDS(&vm->mem);
    uint64_t *bits = calloc(words, sizeof *bits);
    bool logging = false, paused = false, stay_paused = false;
    int r = -1;
    if (!bits || (!j->local && mem_digest_init(&j->digest, &vm->mem) < 0)) {
        snprintf(err, errlen, "out of memory");
        goto out;
    }
    if (mstream_send_hello(&j->s, vm->mem.ram_size, j->local ? MSTREAM_HELLO_LOCAL : 0, err,
                           errlen) < 0 ||
        mstream_send(&j->s, MSG_CONFIG, j->config, j->config_len, err, errlen) < 0 ||
        send_cpuid(&j->s, vm, err, errlen) < 0)
        goto out;
    /* Local: the destination builds its VM on this very memory. */
    if (j->local && mstream_send_fd(&j->s, vm->mem.memfd, vm->mem.ram_size, err, errlen) < 0)
        goto out;
    if (expect(&j->s, MSG_HELLO_ACK, MSG_TIMEOUT_MS, err, errlen) < 0)
        goto out;
    if (!j->local) {
        if (dirty_log_start(vm, err, errlen) < 0)
            goto out;
        logging = true;
        if (precopy(j, bits, words, err, errlen) < 0)
            goto out;
    }
    publish(j, "switch-over", 0);
    j->pause_us = (uint64_t)monotonic_us();
    if (pause_vm(j, err, errlen) < 0)
        goto out;
    paused = true;
    j->t_paused = (uint64_t)monotonic_us() - j->pause_us;
    if (stop_and_copy(j, bits, err, errlen) < 0 || finish(j, &stay_paused, err, errlen) < 0)
        goto out;
    pthread_mutex_lock(&j->lock);
    p->pause_ms = (j->t_running + 999) / 1000;
    pthread_mutex_unlock(&j->lock);
    log_debug("migration: the switch-over, in ms from the pause: vCPUs parked %.2f, last pages "
              "sent %.2f, state (%" PRIu64 " bytes) sent %.2f, digest sent %.2f, the "
              "destination's DIGEST_OK %.2f, its RUNNING %.2f", j->t_paused / 1e3,
              j->t_pages / 1e3, j->state_bytes, j->t_state / 1e3, j->t_digest / 1e3,
              j->t_checked / 1e3, j->t_running / 1e3);
    r = 0;
out:
    atomic_store(&vm->throttle_pct, 0);
    if (logging)
        dirty_log_stop(vm);
    if (r < 0 && paused && !stay_paused) {
        char why[128];
        if (vm_resume(vm, why, sizeof why) < 0)
            log_error("migration: the VM could not be resumed: %s", why);
    }
    free(bits);
    mem_digest_destroy(&j->digest);
    return r;
}

static void *job_thread(void *arg)
{
    struct migration_job *j = arg;
    char err[512];
    int r = migrate(j, err, sizeof err);
    if (r < 0) {
        /* The destination learns why, if it still listens. */
        char ignored[64];
        mstream_send_error(&j->s, ignored, sizeof ignored, "%s", err);
    }
    publish(j, "done", 0);
    pthread_mutex_lock(&j->lock);
    if (r == 0)
        j->progress.status = MIGRATE_COMPLETED;
    else {
        j->progress.status = j->cancelled ? MIGRATE_CANCELLED : MIGRATE_FAILED;
        snprintf(j->progress.error, sizeof j->progress.error, "%s",
                 j->exiting ? "the migration was cancelled: kvmbox is exiting"
                 : j->cancelled ? "the migration was cancelled: the VM runs on here" : err);
    }
    pthread_mutex_unlock(&j->lock);
    atomic_store(&j->done, true);
    /* The main loop wakes, joins this thread and hands the outcome on. */
    uint64_t one = 1;
    if (write(j->m->wake_fd, &one, sizeof one) < 0) {
        /* an eventfd cannot fill at these counts */
    }
    return NULL;
}

static void job_free(struct migration_job *j)
{
    mstream_destroy(&j->s);
    pthread_mutex_destroy(&j->lock);
    free(j->config);
    free(j);
}

enum vmm_result vmm_migration_start(struct vmm *m, struct migration_stream *s,
                                    const char *config_json, size_t config_len,
                                    const struct migrate_options *o, migrate_end_fn on_end,
                                    void *ctx, char *err, size_t errlen)
{
    enum vm_state st;
    enum vmm_result res = VMM_REFUSED;
    if (vmm_vm_state(m, &st) == VMM_NO_VM || !m->vm || st != VM_STATE_RUNNING) {
        snprintf(err, errlen, "cannot migrate: the VM is not running");
        mstream_destroy(s);
        return m->cfg ? VMM_REFUSED : VMM_NO_VM;
    }
    if (m->migration) {
        snprintf(err, errlen, "a migration is in progress already");
        mstream_destroy(s);
        return VMM_REFUSED;
    }
    if (o->local && m->vm->mem.memfd < 0) {
        snprintf(err, errlen, "local: the guest's memory must be a memfd another process can "
                 "map (--memory shared=on, or \"shared\": true)");
        mstream_destroy(s);
        return VMM_REFUSED;
    }
    struct migration_job *j = calloc(1, sizeof *j);
    if (!j || !(j->config = malloc(config_len ? config_len : 1))) {
        snprintf(err, errlen, "out of memory");
        free(j);
        mstream_destroy(s);
        return VMM_REFUSED;
    }
    memcpy(j->config, config_json, config_len);
    j->config_len = config_len;
    j->m = m;
    j->vm = m->vm;
    j->o = *o;
    j->local = o->local;
    j->on_end = on_end;
    j->ctx = ctx;
    j->start_ms = (uint64_t)monotonic_ms();
    j->s = *s;
    pthread_mutex_init(&j->lock, NULL);
    j->progress = (struct migrate_progress){
        .status = MIGRATE_RUNNING, .phase = "starting",
        .ram_pages = m->vm->mem.ram_size / PAGE, .local = o->local,
    };
    event_emit(&m->events, "vm", "migration-started");
    int e = sandbox_thread_create(&j->thread, NULL, "migration", SANDBOX_MIGRATION, job_thread, j);
    if (e) {
        snprintf(err, errlen, "cannot start the migration's thread: %s", log_strerror(e));
        event_emit(&m->events, "vm", "migration-failed");
        job_free(j);
        return res;
    }
    m->migration = j;
    return VMM_OK;
}

enum vmm_result vmm_migration_progress(struct vmm *m, struct migrate_progress *out)
{
    struct migration_job *j = m->migration;
    if (!j) {
        *out = m->last_migration;
        return out->status == MIGRATE_NONE ? VMM_NO_VM : VMM_OK;
    }
    pthread_mutex_lock(&j->lock);
    *out = j->progress;
    out->elapsed_ms = (uint64_t)monotonic_ms() - j->start_ms;
    pthread_mutex_unlock(&j->lock);
    return VMM_OK;
}

/* Asks the job to stop: its connection is shut down, so that a send or
 * receive in progress ends at once. Refused once COMPLETE went out,
 * unless the VMM exits (then the VM stays paused here, whatever the
 * destination does). Returns false when refused. */
static bool job_cancel(struct migration_job *j, bool exiting)
{
    pthread_mutex_lock(&j->lock);
    bool ok = !j->committed || exiting;
    if (ok) {
        j->cancelled = true;
        j->exiting = j->exiting || exiting;
        shutdown(j->s.fd, SHUT_RDWR);
    }
    pthread_mutex_unlock(&j->lock);
    return ok;
}

enum vmm_result vmm_migration_cancel(struct vmm *m, char *err, size_t errlen)
{
    if (!m->migration || atomic_load(&m->migration->done)) {
        snprintf(err, errlen, "no migration is in progress");
        return VMM_REFUSED;
    }
    if (!job_cancel(m->migration, false)) {
        snprintf(err, errlen, "too late to cancel: the destination may be running the VM");
        return VMM_REFUSED;
    }
    log_debug("migration: cancelled");
    return VMM_OK;
}

void vmm_migration_reap(struct vmm *m, bool exiting)
{
    struct migration_job *j = m->migration;
    if (!j || (!exiting && !atomic_load(&j->done)))
        return;
    if (exiting)
        job_cancel(j, true);
    pthread_join(j->thread, NULL);
    m->migration = NULL;
    struct migrate_progress out = j->progress;
    out.elapsed_ms = (uint64_t)monotonic_ms() - j->start_ms;
    m->last_migration = out;
    bool ok = out.status == MIGRATE_COMPLETED;
    if (ok) {
        log_debug("migration: done in %" PRIu64 " ms, a pause of %" PRIu64 " ms, %" PRIu64
                 " bytes sent in %u passes", out.elapsed_ms, out.pause_ms, out.bytes,
                 out.iterations);
        char props[256];
        snprintf(props, sizeof props, "{\"total_ms\":%" PRIu64 ",\"pause_ms\":%" PRIu64
                 ",\"bytes\":%" PRIu64 "}", out.elapsed_ms, out.pause_ms, out.bytes);
        event_emit_props(&m->events, "vm", "migration-completed", props);
        /* The VM lives on the destination now: never here again. */
        char ignored[64];
        vmm_vm_delete(m, ignored, sizeof ignored);
    } else {
        log_error("migration failed: %s", out.error);
        event_emit(&m->events, "vm", "migration-failed");
    }
    migrate_end_fn on_end = j->on_end;
    void *ctx = j->ctx;
    job_free(j);
    bool vmm_exits = ok && m->base->kernel;
    if (on_end)
        on_end(ctx, &out, vmm_exits);
    else if (vmm_exits)
        vmm_request_exit(m, 0);
}
