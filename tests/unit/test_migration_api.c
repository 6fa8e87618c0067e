/* A migration being sent, as the VMM and the API drive it, to a
 * destination that never lets it finish: the sender's thread waits for
 * HELLO_ACK (or, paused for the switch-over, for DIGEST_OK), and the test
 * cancels it (vm.cancel-migration, or the VMM exiting). Its
 * progress while it runs and its outcome after; on_end called once; the
 * VM running on; the refusals (no VM, not running, a migration already
 * going, local without shared memory); and, through the real API on the
 * VMM's loop, the deferred answer of vm.send-migration, the endpoints
 * still served meanwhile and the ones refused. Plus the progress JSON's
 * fields. The real-VM parts run where /dev/kvm is usable. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include "real_vm.h"
#include "api/api.h"
#include "api/migration_progress_json.h"
#include "api/migration_request.h"
#include "migration/migration_stream.h"
#include "vmm/vm.h"
#include "vmm/vmm.h"

#include <errno.h>
#include <json-c/json.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#define MEM (64ull << 20)
/* Bounds for what must happen "promptly": far below the sender's own
 * 30 s wait for its peer, far above anything a loaded host needs. */
#define PROMPT_MS 10000

static uint64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* ---- the progress JSON (no VM needed) ---- */

static int64_t get_int(json_object *o, const char *key)
{
    json_object *v;
    assert_true(json_object_object_get_ex(o, key, &v));
    assert_true(json_object_is_type(v, json_type_int));
    return json_object_get_int64(v);
}

static const char *get_str(json_object *o, const char *key)
{
    json_object *v;
    assert_true(json_object_object_get_ex(o, key, &v));
    assert_true(json_object_is_type(v, json_type_string));
    return json_object_get_string(v);
}

static void progress_json_fields(void **state)
{
    (void)state;
    struct migrate_progress p = {
        .status = MIGRATE_RUNNING, .phase = "precopy", .iterations = 2, .ram_pages = 16384,
        .dirty_pages = 10, .bandwidth = 5, .dirty_rate = 7, .throttle_pct = 20,
        .expected_pause_ms = 3, .pause_ms = 4, .elapsed_ms = 9, .bytes = 100, .pages = 20,
        .error = "not shown while running",
    };
    json_object *o = migration_progress_to_json(&p);
    assert_string_equal(get_str(o, "status"), "running");
    assert_string_equal(get_str(o, "phase"), "precopy");
    assert_int_equal(get_int(o, "iteration"), 2);
    assert_int_equal(get_int(o, "ram_bytes"), 16384 * 4096);
    assert_int_equal(get_int(o, "dirty_bytes"), 10 * 4096);
    assert_int_equal(get_int(o, "bytes_sent"), 100);
    assert_int_equal(get_int(o, "pages_sent"), 20);
    assert_int_equal(get_int(o, "bandwidth_bytes_per_s"), 5000);   /* bytes a ms, a second */
    assert_int_equal(get_int(o, "dirty_rate_pages_per_s"), 7);
    assert_int_equal(get_int(o, "throttle_percent"), 20);
    assert_int_equal(get_int(o, "expected_downtime_ms"), 3);
    assert_int_equal(get_int(o, "downtime_ms"), 4);
    assert_int_equal(get_int(o, "elapsed_ms"), 9);
    json_object *v;
    assert_true(json_object_object_get_ex(o, "local", &v));
    assert_true(json_object_is_type(v, json_type_boolean));
    assert_false(json_object_get_boolean(v));
    assert_false(json_object_object_get_ex(o, "error", NULL));
    assert_int_equal(json_object_object_length(o), 14);
    json_object_put(o);

    /* Failed and cancelled say why; no phase is ""; counts beyond
     * int64 are capped, not negative. */
    p = (struct migrate_progress){ .status = MIGRATE_FAILED, .local = true, .bytes = UINT64_MAX,
                                   .error = "the destination refused: x" };
    o = migration_progress_to_json(&p);
    assert_string_equal(get_str(o, "status"), "failed");
    assert_string_equal(get_str(o, "phase"), "");
    assert_string_equal(get_str(o, "error"), "the destination refused: x");
    assert_int_equal(get_int(o, "bytes_sent"), INT64_MAX);
    assert_true(json_object_object_get_ex(o, "local", &v));
    assert_true(json_object_get_boolean(v));
    json_object_put(o);
    p.status = MIGRATE_CANCELLED;
    o = migration_progress_to_json(&p);
    assert_string_equal(get_str(o, "status"), "cancelled");
    assert_true(json_object_object_get_ex(o, "error", NULL));
    json_object_put(o);
    p.status = MIGRATE_COMPLETED;
    o = migration_progress_to_json(&p);
    assert_string_equal(get_str(o, "status"), "completed");
    assert_false(json_object_object_get_ex(o, "error", NULL));
    json_object_put(o);
}

static void status_names(void **state)
{
    (void)state;
    assert_string_equal(migration_status_name(MIGRATE_NONE), "none");
    assert_string_equal(migration_status_name(MIGRATE_RUNNING), "running");
    assert_string_equal(migration_status_name(MIGRATE_COMPLETED), "completed");
    assert_string_equal(migration_status_name(MIGRATE_FAILED), "failed");
    assert_string_equal(migration_status_name(MIGRATE_CANCELLED), "cancelled");
    assert_string_equal(migration_status_name((enum migrate_status)42), "none");
}

/* ---- the VMM's side ---- */

struct ended {
    int calls;
    bool vmm_exits;
    struct migrate_progress out;
};

static void on_end(void *ctx, const struct migrate_progress *out, bool vmm_exits)
{
    struct ended *e = ctx;
    e->calls++;
    e->vmm_exits = vmm_exits;
    e->out = *out;
}

static const struct migrate_options opts = { .downtime_ms = 300, .timeout_s = 60,
                                              .timeout_cancel = true, .auto_converge = true };
static const char config[] = "{\"cpus\":{\"boot_vcpus\":1}}";

/* A stream on one end of a socketpair; *peer is the other end. */
static void stream_pair(struct migration_stream *s, int *peer)
{
    int sv[2];
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
    mstream_init(s, sv[0]);
    *peer = sv[1];
}

/* The stream handed to a refused start was closed: the peer sees its end. */
static void expect_closed(int peer)
{
    char c;
    assert_int_equal(recv(peer, &c, 1, MSG_DONTWAIT), 0);
    close(peer);
}

static enum vmm_result start(struct vmm *m, struct migration_stream *s, bool local,
                             struct ended *e, char *err, size_t errlen)
{
    struct migrate_options o = opts;
    o.local = local;
    return vmm_migration_start(m, s, config, sizeof config - 1, &o, on_end, e, err, errlen);
}

static void refusals_without_a_running_vm(void **state)
{
    (void)state;
    static struct vm_config cfg;
    static char kernel[512];
    test_guest_config(&cfg, kernel, sizeof kernel, "count", 1, MEM);
    struct vmm m;
    assert_int_equal(test_vmm_init(&m, &cfg), 0);
    char err[512];
    struct migrate_progress p;
    struct migration_stream s;
    struct ended e = { 0 };
    int peer;
    /* Nothing ever started: no progress, nothing to cancel or reap. */
    assert_int_equal(vmm_migration_progress(&m, &p), VMM_NO_VM);
    assert_int_equal(p.status, MIGRATE_NONE);
    assert_int_equal(vmm_migration_cancel(&m, err, sizeof err), VMM_REFUSED);
    assert_non_null(strstr(err, "no migration is in progress"));
    vmm_migration_reap(&m, false);
    vmm_migration_reap(&m, true);
    /* No VM, then one created but not booted. */
    stream_pair(&s, &peer);
    assert_int_equal(start(&m, &s, false, &e, err, sizeof err), VMM_NO_VM);
    assert_non_null(strstr(err, "not running"));
    expect_closed(peer);
    assert_int_equal(vmm_vm_create(&m, &cfg, NULL, err, sizeof err), VMM_OK);
    stream_pair(&s, &peer);
    assert_int_equal(start(&m, &s, false, &e, err, sizeof err), VMM_REFUSED);
    assert_non_null(strstr(err, "not running"));
    expect_closed(peer);
    assert_null(m.migration);
    assert_int_equal(vmm_migration_progress(&m, &p), VMM_NO_VM);
    assert_int_equal(e.calls, 0);
    test_vmm_fini(&m);
}

/* A VMM with the counting guest running. */
struct rig {
    struct vmm m;
    struct vm_config cfg;
    char kernel[512];
    char dir[64], api_path[108], dest_path[108];
};

static struct rig *rig_boot(bool shared)
{
    struct rig *r = calloc(1, sizeof *r);
    assert_non_null(r);
    test_guest_config(&r->cfg, r->kernel, sizeof r->kernel, "count", 1, MEM);
    r->cfg.mem_shared = shared;
    assert_int_equal(test_vmm_init(&r->m, &r->cfg), 0);
    char err[512];
    assert_int_equal(vmm_vm_create(&r->m, &r->cfg, NULL, err, sizeof err), VMM_OK);
    if (vmm_vm_boot(&r->m, err, sizeof err) != VMM_OK)
        fail_msg("boot: %s", err);
    return r;
}

static void rig_free(struct rig *r)
{
    test_vmm_fini(&r->m);
    free(r);
}

static void expect_running(struct vmm *m)
{
    enum vm_state s;
    assert_int_equal(vmm_vm_state(m, &s), VMM_OK);
    assert_int_equal(s, VM_STATE_RUNNING);
    assert_non_null(m->vm);
}

/* Waits until the sender has put its first bytes out (it then goes on to
 * wait for HELLO_ACK, which never comes). */
static void until_sent(int peer)
{
    struct pollfd pf = { .fd = peer, .events = POLLIN };
    assert_int_equal(poll(&pf, 1, PROMPT_MS), 1);
}

/* The main loop's part: reaps once the job's thread has ended. */
static void reap_until_done(struct vmm *m)
{
    uint64_t t0 = now_ms();
    while (m->migration && now_ms() - t0 < PROMPT_MS) {
        vmm_migration_reap(m, false);
        if (m->migration)
            usleep(5000);
    }
    assert_null(m->migration);
}

static void cancelled_migration_leaves_the_vm_running(void **state)
{
    (void)state;
    if (!have_kvm()) {
        print_message("no usable /dev/kvm: a migration on a real VM not tested here\n");
        return;
    }
    struct rig *r = rig_boot(false);
    struct vmm *m = &r->m;
    char err[512];
    struct migration_stream s;
    struct ended e = { 0 };
    int peer;
    stream_pair(&s, &peer);
    assert_int_equal(start(m, &s, false, &e, err, sizeof err), VMM_OK);
    assert_non_null(m->migration);
    /* What the destination gets first: HELLO with the memory's size. */
    until_sent(peer);
    struct migration_stream ps;
    mstream_init(&ps, peer);
    struct mmsg msg;
    assert_int_equal(mstream_recv(&ps, PROMPT_MS, &msg, err, sizeof err), 0);
    assert_int_equal(msg.type, MSG_HELLO);
    assert_int_equal(msg.u.hello.mem_size, MEM);
    assert_int_equal(msg.u.hello.flags, 0);
    assert_int_equal(mstream_recv(&ps, PROMPT_MS, &msg, err, sizeof err), 0);
    assert_int_equal(msg.type, MSG_CONFIG);
    assert_int_equal(msg.len, sizeof config - 1);
    assert_memory_equal(msg.payload, config, sizeof config - 1);

    struct migrate_progress p;
    assert_int_equal(vmm_migration_progress(m, &p), VMM_OK);
    assert_int_equal(p.status, MIGRATE_RUNNING);
    assert_int_equal(p.ram_pages, MEM / 4096);
    assert_false(p.local);
    assert_non_null(p.phase);
    /* One at a time: a second is refused, its stream closed. */
    struct migration_stream s2;
    int peer2;
    stream_pair(&s2, &peer2);
    assert_int_equal(start(m, &s2, false, &e, err, sizeof err), VMM_REFUSED);
    assert_non_null(strstr(err, "in progress already"));
    expect_closed(peer2);

    assert_int_equal(vmm_migration_cancel(m, err, sizeof err), VMM_OK);
    reap_until_done(m);
    assert_int_equal(e.calls, 1);
    assert_false(e.vmm_exits);
    assert_int_equal(e.out.status, MIGRATE_CANCELLED);
    assert_non_null(strstr(e.out.error, "cancelled"));
    expect_running(m);
    assert_int_equal(atomic_load(&m->vm->throttle_pct), 0);
    /* Nothing left to cancel; the progress is the outcome now. */
    assert_int_equal(vmm_migration_cancel(m, err, sizeof err), VMM_REFUSED);
    assert_non_null(strstr(err, "no migration is in progress"));
    assert_int_equal(vmm_migration_progress(m, &p), VMM_OK);
    assert_int_equal(p.status, MIGRATE_CANCELLED);
    assert_string_equal(p.error, e.out.error);
    /* The destination's end is closed (nothing but perhaps an ERROR
     * before it). */
    int rc;
    while ((rc = mstream_recv(&ps, PROMPT_MS, &msg, err, sizeof err)) == 0 &&
           msg.type != MSG_ERROR)
        assert_int_equal(msg.type, MSG_CPUID);
    if (rc == 0)
        assert_int_equal(mstream_recv(&ps, PROMPT_MS, &msg, err, sizeof err), -1);
    assert_non_null(strstr(err, "closed"));
    mstream_destroy(&ps);
    /* A later migration may start again; on_end is not called again for
     * the first. */
    stream_pair(&s, &peer);
    struct ended e2 = { 0 };
    assert_int_equal(start(m, &s, false, &e2, err, sizeof err), VMM_OK);
    assert_int_equal(vmm_migration_progress(m, &p), VMM_OK);
    assert_int_equal(p.status, MIGRATE_RUNNING);
    assert_int_equal(vmm_migration_cancel(m, err, sizeof err), VMM_OK);
    reap_until_done(m);
    assert_int_equal(e2.calls, 1);
    assert_int_equal(e.calls, 1);
    close(peer);
    expect_running(m);
    rig_free(r);
}

static void refusals_on_a_running_vm(void **state)
{
    (void)state;
    if (!have_kvm()) {
        print_message("no usable /dev/kvm: a migration on a real VM not tested here\n");
        return;
    }
    struct rig *r = rig_boot(false);
    struct vmm *m = &r->m;
    char err[512];
    struct migration_stream s;
    struct ended e = { 0 };
    int peer;
    /* local: the memory must be a memfd. */
    stream_pair(&s, &peer);
    assert_int_equal(start(m, &s, true, &e, err, sizeof err), VMM_REFUSED);
    assert_non_null(strstr(err, "shared"));
    expect_closed(peer);
    /* Paused: refused too. */
    assert_int_equal(vm_pause(m->vm, err, sizeof err), 0);
    stream_pair(&s, &peer);
    assert_int_equal(start(m, &s, false, &e, err, sizeof err), VMM_REFUSED);
    assert_non_null(strstr(err, "not running"));
    expect_closed(peer);
    assert_int_equal(vm_resume(m->vm, err, sizeof err), 0);
    assert_null(m->migration);
    assert_int_equal(e.calls, 0);
    rig_free(r);
}

static void local_migration_with_shared_memory_starts(void **state)
{
    (void)state;
    if (!have_kvm()) {
        print_message("no usable /dev/kvm: a migration on a real VM not tested here\n");
        return;
    }
    struct rig *r = rig_boot(true);
    struct vmm *m = &r->m;
    char err[512];
    struct migration_stream s;
    struct ended e = { 0 };
    int peer;
    stream_pair(&s, &peer);
    assert_int_equal(start(m, &s, true, &e, err, sizeof err), VMM_OK);
    until_sent(peer);
    struct migrate_progress p;
    assert_int_equal(vmm_migration_progress(m, &p), VMM_OK);
    assert_int_equal(p.status, MIGRATE_RUNNING);
    assert_true(p.local);
    struct migration_stream ps;
    mstream_init(&ps, peer);
    struct mmsg msg;
    assert_int_equal(mstream_recv(&ps, PROMPT_MS, &msg, err, sizeof err), 0);
    assert_int_equal(msg.type, MSG_HELLO);
    assert_int_equal(msg.u.hello.flags, MSTREAM_HELLO_LOCAL);
    assert_int_equal(vmm_migration_cancel(m, err, sizeof err), VMM_OK);
    reap_until_done(m);
    assert_int_equal(e.calls, 1);
    assert_int_equal(e.out.status, MIGRATE_CANCELLED);
    assert_true(e.out.local);
    expect_running(m);
    mstream_destroy(&ps);
    rig_free(r);
}

/* A destination that takes the migration (HELLO_ACK) and everything sent
 * to it, but never confirms the digest: the sender pauses the VM for the
 * switch-over and waits. */
struct dest {
    struct migration_stream s;
    atomic_bool got_digest;
    unsigned seen;            /* a bit per message type received */
};

static void *dest_thread(void *arg)
{
    struct dest *d = arg;
    char err[256];
    struct mmsg msg;
    /* No cmocka asserts off the test's thread: `seen` tells. */
    while (mstream_recv(&d->s, 30000, &msg, err, sizeof err) == 0) {
        d->seen |= 1u << msg.type;
        if (msg.type == MSG_CPUID && mstream_send(&d->s, MSG_HELLO_ACK, NULL, 0, err, sizeof err) < 0)
            break;
        if (msg.type == MSG_ITERATION_END &&
            mstream_send_iteration(&d->s, MSG_ITERATION_ACK, msg.u.iteration_end.iteration,
                                   msg.u.iteration_end.pages, err, sizeof err) < 0)
            break;
        if (msg.type == MSG_DIGEST)
            atomic_store(&d->got_digest, true);
    }
    return NULL;
}

/* Cancelled while the VM is paused for the switch-over: it runs again. */
static void cancel_at_the_switch_over_resumes_the_vm(void **state)
{
    (void)state;
    if (!have_kvm()) {
        print_message("no usable /dev/kvm: a migration on a real VM not tested here\n");
        return;
    }
    struct rig *r = rig_boot(false);
    struct vmm *m = &r->m;
    char err[512];
    struct migration_stream s;
    struct ended e = { 0 };
    struct dest d = { 0 };
    int peer;
    stream_pair(&s, &peer);
    mstream_init(&d.s, peer);
    pthread_t t;
    assert_int_equal(pthread_create(&t, NULL, dest_thread, &d), 0);
    assert_int_equal(start(m, &s, false, &e, err, sizeof err), VMM_OK);
    uint64_t t0 = now_ms();
    while (!atomic_load(&d.got_digest) && now_ms() - t0 < 3 * PROMPT_MS)
        usleep(5000);
    assert_true(atomic_load(&d.got_digest));
    struct migrate_progress p;
    assert_int_equal(vmm_migration_progress(m, &p), VMM_OK);
    assert_int_equal(p.status, MIGRATE_RUNNING);
    assert_string_equal(p.phase, "switch-over");
    assert_true(p.iterations >= 1);
    assert_true(p.bytes > 0);
    enum vm_state st;
    assert_int_equal(vmm_vm_state(m, &st), VMM_OK);
    assert_int_equal(st, VM_STATE_PAUSED);

    assert_int_equal(vmm_migration_cancel(m, err, sizeof err), VMM_OK);
    reap_until_done(m);
    pthread_join(t, NULL);
    assert_int_equal(e.calls, 1);
    assert_false(e.vmm_exits);
    assert_int_equal(e.out.status, MIGRATE_CANCELLED);
    assert_true(e.out.pages > 0);
    expect_running(m);
    assert_int_equal(atomic_load(&m->vm->throttle_pct), 0);
    unsigned want = 1u << MSG_HELLO | 1u << MSG_CONFIG | 1u << MSG_CPUID | 1u << MSG_PAGES |
                    1u << MSG_ITERATION_END | 1u << MSG_STATE | 1u << MSG_DIGEST;
    assert_int_equal(d.seen & want, want);
    assert_int_equal(d.seen & (1u << MSG_COMPLETE), 0);   /* never committed */
    mstream_destroy(&d.s);
    rig_free(r);
}

/* At exit, a job still running is cancelled and joined at once, not
 * after the sender's own time-outs. */
static void exit_cancels_and_joins_a_running_job(void **state)
{
    (void)state;
    if (!have_kvm()) {
        print_message("no usable /dev/kvm: a migration on a real VM not tested here\n");
        return;
    }
    struct rig *r = rig_boot(false);
    struct vmm *m = &r->m;
    char err[512];
    struct migration_stream s;
    struct ended e = { 0 };
    int peer;
    stream_pair(&s, &peer);
    assert_int_equal(start(m, &s, false, &e, err, sizeof err), VMM_OK);
    until_sent(peer);
    uint64_t t0 = now_ms();
    vmm_migration_reap(m, true);
    assert_true(now_ms() - t0 < PROMPT_MS);
    assert_null(m->migration);
    assert_int_equal(e.calls, 1);
    assert_false(e.vmm_exits);
    assert_int_equal(e.out.status, MIGRATE_CANCELLED);
    expect_running(m);
    close(peer);
    /* vmm_destroy does the same with a job left running. */
    stream_pair(&s, &peer);
    struct ended e2 = { 0 };
    assert_int_equal(start(m, &s, false, &e2, err, sizeof err), VMM_OK);
    until_sent(peer);
    t0 = now_ms();
    rig_free(r);
    assert_true(now_ms() - t0 < PROMPT_MS);
    assert_int_equal(e2.calls, 1);
    assert_int_equal(e2.out.status, MIGRATE_CANCELLED);
    close(peer);
}

/* ---- through the API, on the VMM's loop polled here ---- */

static int api_client(struct vmm *m, const char *path)
{
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_un a = { .sun_family = AF_UNIX };
    strcpy(a.sun_path, path);
    assert_int_equal(connect(fd, (struct sockaddr *)&a, sizeof a), 0);
    event_loop_poll(&m->loop, 100);   /* accepted */
    return fd;
}

static int api_send(struct vmm *m, const char *path, const char *method, const char *endpoint,
                    const char *body)
{
    int fd = api_client(m, path);
    char req[1024];
    int n = snprintf(req, sizeof req,
                     "%s /api/v1/%s HTTP/1.1\r\nConnection: close\r\nContent-Length: %zu\r\n\r\n%s",
                     method, endpoint, body ? strlen(body) : 0, body ? body : "");
    assert_int_equal(send(fd, req, n, MSG_NOSIGNAL), n);
    return fd;
}

/* Serves the loop (and, as its wake would, reaps a finished migration)
 * until the server has answered on fd and closed it, for at most `ms`.
 * Returns the answer (malloc'd), or what came of it by then (*closed
 * false when the server has not closed). */
static char *api_wait(struct vmm *m, int fd, int ms, bool *closed)
{
    static char buf[65536];
    size_t got = 0;
    *closed = false;
    uint64_t t0 = now_ms();
    while (!*closed && now_ms() - t0 < (uint64_t)ms) {
        event_loop_poll(&m->loop, 5);
        vmm_migration_reap(m, false);
        ssize_t n = recv(fd, buf + got, sizeof buf - 1 - got, MSG_DONTWAIT);
        if (n == 0 || (n < 0 && errno != EAGAIN))
            *closed = true;
        else if (n > 0)
            got += (size_t)n;
    }
    buf[got] = '\0';
    return strdup(buf);
}

/* One request, its whole answer. */
static char *api_call(struct vmm *m, const char *path, const char *method, const char *endpoint,
                      const char *body)
{
    int fd = api_send(m, path, method, endpoint, body);
    bool closed;
    char *a = api_wait(m, fd, PROMPT_MS, &closed);
    assert_true(closed);
    close(fd);
    return a;
}

static void expect_answer(char *a, const char *status_line, const char *in_body)
{
    if (strncmp(a, status_line, strlen(status_line)) || (in_body && !strstr(a, in_body)))
        fail_msg("expected %s ... %s, got:\n%s", status_line, in_body ? in_body : "", a);
    free(a);
}

static void api_send_migration_is_answered_when_it_ends(void **state)
{
    (void)state;
    if (!have_kvm()) {
        print_message("no usable /dev/kvm: the migration API on a real VM not tested here\n");
        return;
    }
    struct rig *r = calloc(1, sizeof *r);
    strcpy(r->dir, "/tmp/kvmbox-mig-api-XXXXXX");
    assert_non_null(mkdtemp(r->dir));
    snprintf(r->api_path, sizeof r->api_path, "%s/api.sock", r->dir);
    snprintf(r->dest_path, sizeof r->dest_path, "%s/dest.sock", r->dir);
    test_guest_config(&r->cfg, r->kernel, sizeof r->kernel, "count", 1, MEM);
    r->cfg.api_path = r->api_path;
    struct vmm *m = &r->m;
    assert_int_equal(test_vmm_init(m, &r->cfg), 0);
    char err[512];
    struct api *api = api_start(m, err, sizeof err);
    if (!api)
        fail_msg("api_start: %s", err);
    const char *p = r->api_path;
    /* The VM as CH's client makes it. */
    char create[1024];
    snprintf(create, sizeof create, "{\"payload\":{\"kernel\":\"%s\",\"cmdline\":\"count\"},"
             "\"memory\":{\"size\":%llu}}", r->kernel, MEM);
    expect_answer(api_call(m, p, "PUT", "vm.create", create), "HTTP/1.1 204 ", NULL);
    expect_answer(api_call(m, p, "PUT", "vm.boot", NULL), "HTTP/1.1 204 ", NULL);
    expect_answer(api_call(m, p, "GET", "vm.migration-progress", NULL), "HTTP/1.1 404 ",
                  "no migration has been started");

    /* A destination that takes the connection (the backlog does) but
     * never answers. */
    int dest = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_un a = { .sun_family = AF_UNIX };
    strcpy(a.sun_path, r->dest_path);
    assert_int_equal(bind(dest, (struct sockaddr *)&a, sizeof a), 0);
    assert_int_equal(listen(dest, 4), 0);
    char body[256];
    snprintf(body, sizeof body, "{\"destination_url\":\"unix:%s\"}", r->dest_path);
    int send_fd = api_send(m, p, "PUT", "vm.send-migration", body);
    bool closed;
    char *ans = api_wait(m, send_fd, 200, &closed);
    assert_false(closed);
    assert_string_equal(ans, "");   /* no answer while it runs */
    free(ans);
    assert_non_null(m->migration);

    /* Meanwhile: progress, info and ping are served... */
    expect_answer(api_call(m, p, "GET", "vm.migration-progress", NULL), "HTTP/1.1 200 ",
                  "\"status\":\"running\"");
    expect_answer(api_call(m, p, "GET", "vm.info", NULL), "HTTP/1.1 200 ", "\"Running\"");
    expect_answer(api_call(m, p, "GET", "vmm.ping", NULL), "HTTP/1.1 200 ", NULL);
    /* ...what would change the VM is not. */
    static const char *const gated[] = { "vm.pause", "vm.shutdown", "vm.reboot", "vm.delete",
                                         "vm.snapshot", "vm.send-migration" };
    for (size_t i = 0; i < sizeof gated / sizeof gated[0]; i++)
        expect_answer(api_call(m, p, "PUT", gated[i], body), "HTTP/1.1 500 ",
                      "a migration is in progress");
    expect_running(m);

    expect_answer(api_call(m, p, "PUT", "vm.cancel-migration", NULL), "HTTP/1.1 204 ", NULL);
    /* The deferred answer: the migration failed (cancelled), 500 with why. */
    ans = api_wait(m, send_fd, PROMPT_MS, &closed);
    assert_true(closed);
    expect_answer(ans, "HTTP/1.1 500 ", "cancelled");
    close(send_fd);
    assert_null(m->migration);
    expect_running(m);
    expect_answer(api_call(m, p, "GET", "vm.migration-progress", NULL), "HTTP/1.1 200 ",
                  "\"status\":\"cancelled\"");
    expect_answer(api_call(m, p, "PUT", "vm.cancel-migration", NULL), "HTTP/1.1 500 ",
                  "no migration is in progress");
    /* The VM is the API's again. */
    expect_answer(api_call(m, p, "PUT", "vm.pause", NULL), "HTTP/1.1 204 ", NULL);
    expect_answer(api_call(m, p, "PUT", "vm.resume", NULL), "HTTP/1.1 204 ", NULL);

    /* A client that leaves before the end: the answer goes nowhere. */
    send_fd = api_send(m, p, "PUT", "vm.send-migration", body);
    ans = api_wait(m, send_fd, 200, &closed);
    free(ans);
    assert_non_null(m->migration);
    close(send_fd);
    for (int i = 0; i < 20; i++)
        event_loop_poll(&m->loop, 5);
    expect_answer(api_call(m, p, "PUT", "vm.cancel-migration", NULL), "HTTP/1.1 204 ", NULL);
    uint64_t t0 = now_ms();
    while (m->migration && now_ms() - t0 < PROMPT_MS) {
        event_loop_poll(&m->loop, 5);
        vmm_migration_reap(m, false);
    }
    assert_null(m->migration);
    expect_running(m);

    close(dest);
    api_stop(api);
    test_vmm_fini(m);
    unlink(r->dest_path);
    rmdir(r->dir);
    free(r);
}

/* A sender of another protocol version: the receiver refuses it by name
 * (an ERROR to the sender, and the call's own error), before anything is
 * built. No /dev/kvm needed: nothing gets that far. */
struct receiver {
    struct vmm *m;
    char body[256];
    enum migration_result res;
    char err[512];
};

static void *receiver_thread(void *arg)
{
    struct receiver *r = arg;
    r->res = receive_migration(r->m, r->body, strlen(r->body), r->err, sizeof r->err);
    return NULL;
}

static void another_protocol_version_is_refused(void **state)
{
    (void)state;
    static struct vm_config cfg;
    static char kernel[512];
    test_guest_config(&cfg, kernel, sizeof kernel, "count", 1, MEM);
    struct vmm m;
    assert_int_equal(test_vmm_init(&m, &cfg), 0);
    char dir[] = "/tmp/kvmbox-proto-XXXXXX", path[108];
    assert_non_null(mkdtemp(dir));
    snprintf(path, sizeof path, "%s/r.sock", dir);
    struct receiver r = { .m = &m };
    snprintf(r.body, sizeof r.body, "{\"receiver_url\":\"unix:%s\"}", path);
    pthread_t t;
    assert_int_equal(pthread_create(&t, NULL, receiver_thread, &r), 0);
    struct sockaddr_un a = { .sun_family = AF_UNIX };
    snprintf(a.sun_path, sizeof a.sun_path, "%s", path);
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    uint64_t t0 = now_ms();
    while (connect(fd, (struct sockaddr *)&a, sizeof a) < 0 && now_ms() - t0 < PROMPT_MS)
        usleep(5000);
    struct migration_stream s;
    mstream_init(&s, fd);
    /* HELLO as migration_stream.h lays it out, protocol 99. */
    uint8_t hello[32] = { 99, 0, 0, 0, 0x00, 0x10, 0, 0 };
    memcpy(hello + 8, &(uint64_t){ MEM }, 8);
    memcpy(hello + 24, "future9", 7);
    char err[512];
    assert_int_equal(mstream_send(&s, MSG_HELLO, hello, 31, err, sizeof err), 0);
    struct mmsg msg;
    assert_int_equal(mstream_recv(&s, PROMPT_MS, &msg, err, sizeof err), 0);
    assert_int_equal(msg.type, MSG_ERROR);
    assert_non_null(strstr(msg.u.text, "speaks protocol 99"));
    pthread_join(t, NULL);
    assert_int_equal(r.res, MIGRATION_FAILED);
    assert_non_null(strstr(r.err, "protocol 99"));
    assert_null(m.cfg);                     /* still empty: another may come */
    mstream_destroy(&s);
    unlink(path);
    rmdir(dir);
    test_vmm_fini(&m);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(progress_json_fields),
        cmocka_unit_test(status_names),
        cmocka_unit_test(refusals_without_a_running_vm),
        cmocka_unit_test(cancelled_migration_leaves_the_vm_running),
        cmocka_unit_test(refusals_on_a_running_vm),
        cmocka_unit_test(local_migration_with_shared_memory_starts),
        cmocka_unit_test(cancel_at_the_switch_over_resumes_the_vm),
        cmocka_unit_test(exit_cancels_and_joins_a_running_job),
        cmocka_unit_test(api_send_migration_is_answered_when_it_ends),
        cmocka_unit_test(another_protocol_version_is_refused),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
