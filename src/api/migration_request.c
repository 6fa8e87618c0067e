#include "api/migration_request.h"

#include "api/json_read.h"
#include "api/vm_config_json.h"
#include "migration/migration_stream.h"
#include "migration/migration_url.h"

#include <limits.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#define CONNECT_TIMEOUT_MS 10000
/* How long a receiver waits for its sender (and then for each message). */
#define ACCEPT_TIMEOUT_MS (10 * 60 * 1000)
#define ACCEPT_SLICE_MS 200
#define MSG_TIMEOUT_MS 30000

/* A url member that must be there; copied into buf. */
static int get_url(struct json_read *jr, json_object *root, const char *key, char *buf,
                   size_t size)
{
    const char *s;
    size_t len;
    if (json_get_string(jr, root, "", key, &s, &len) < 0)
        return -1;
    if (!s)
        return json_fail(jr, "%s is required", key);
    if (len >= size)
        return json_fail(jr, "%s is too long", key);
    memcpy(buf, s, len + 1);
    return 0;
}

/* tls_dir, optional: "" when not given (the stream stays plaintext). */
static int get_tls_dir(struct json_read *jr, json_object *root, char *buf, size_t size)
{
    const char *s;
    size_t len;
    buf[0] = '\0';
    if (json_get_string(jr, root, "", "tls_dir", &s, &len) < 0)
        return -1;
    if (s && (len == 0 || len >= size))
        return json_fail(jr, "tls_dir: expected a directory's path of 1 to %zu bytes", size - 1);
    if (s)
        memcpy(buf, s, len + 1);
    return 0;
}

static int u32_member(struct json_read *jr, json_object *root, const char *key, uint32_t *out)
{
    int64_t v = *out;
    bool given;
    if (json_get_int(jr, root, "", key, &v, &given) < 0)
        return -1;
    if (given && (v < 0 || v > UINT32_MAX))
        return json_fail(jr, "%s: out of range", key);
    *out = (uint32_t)v;
    return 0;
}

enum migration_result send_migration(struct vmm *m, const char *body, size_t len,
                                     migrate_end_fn on_end, void *ctx, bool *report,
                                     char *err, size_t errlen)
{
    struct json_read jr = { err, errlen };
    json_object *root = json_read_object(&jr, body, len, "a SendMigrationData");
    if (!root)
        return MIGRATION_BAD_REQUEST;
    char url[512], tls_dir[PATH_MAX];
    const char *strategy;
    size_t slen;
    json_object *ext = NULL;
    struct migrate_options o = { .downtime_ms = 300, .timeout_s = 3600, .timeout_cancel = true,
                                 .auto_converge = true };
    *report = false;
    int bad = get_url(&jr, root, "destination_url", url, sizeof url) < 0 ||
              u32_member(&jr, root, "downtime_ms", &o.downtime_ms) < 0 ||
              u32_member(&jr, root, "timeout_s", &o.timeout_s) < 0 ||
              json_get_string(&jr, root, "", "timeout_strategy", &strategy, &slen) < 0 ||
              json_get_bool(&jr, root, "", "local", &o.local) < 0 ||
              get_tls_dir(&jr, root, tls_dir, sizeof tls_dir) < 0 ||
              json_get_typed(&jr, root, "", "kvmbox", json_type_object, &ext) < 0;
    /* kvmbox's own: {"auto_converge": true, "report": false}. */
    if (!bad && ext)
        bad = json_get_bool(&jr, ext, "kvmbox.", "auto_converge", &o.auto_converge) < 0 ||
              json_get_bool(&jr, ext, "kvmbox.", "report", report) < 0;
    if (!bad && strategy) {
        if (!strcasecmp(strategy, "ignore"))
            o.timeout_cancel = false;
        else if (strcasecmp(strategy, "cancel"))
            bad = json_fail(&jr, "timeout_strategy '%.20s': expected Cancel or Ignore", strategy);
    }
    struct migration_url u;
    if (!bad && migration_url_parse(url, &u, err, errlen) < 0)
        bad = -1;
    if (!bad && o.local && u.kind != MIGRATION_URL_UNIX)
        bad = json_fail(&jr, "local: the memory is handed over on one host: the destination_url "
                        "must be unix:/path");
    /* The memory fd goes beside the stream (SCM_RIGHTS), not in it: TLS
     * could not cover it, and on one host there is no wire to protect. */
    if (!bad && o.local && tls_dir[0])
        bad = json_fail(&jr, "tls_dir and local do not go together: a local migration hands the "
                        "memory over on this host (leave tls_dir out)");
    json_object_put(root);
    if (bad)
        return MIGRATION_BAD_REQUEST;
    if (!m->vm) {
        snprintf(err, errlen, "cannot migrate: the VM is not running");
        return m->cfg ? MIGRATION_FAILED : MIGRATION_NO_VM;
    }
    int fd;
    if (migration_connect(url, CONNECT_TIMEOUT_MS, &fd, err, errlen) < 0)
        return MIGRATION_FAILED;
    struct migration_stream s;
    mstream_init(&s, fd);
    /* The receiver's certificate must carry the name it was reached by. */
    if (tls_dir[0] && mstream_start_tls(&s, MIGRATION_TLS_SENDER, tls_dir,
                                        u.kind == MIGRATION_URL_TCP ? u.host : NULL,
                                        MSG_TIMEOUT_MS, err, errlen) < 0) {
        mstream_destroy(&s);
        return MIGRATION_FAILED;
    }
    json_object *cfg = vm_config_to_json(m->cfg);
    const char *text = json_object_to_json_string_ext(cfg, JSON_C_TO_STRING_PLAIN);
    enum vmm_result r = vmm_migration_start(m, &s, text, strlen(text), &o, on_end, ctx, err,
                                            errlen);
    json_object_put(cfg);
    return r == VMM_OK ? MIGRATION_OK : r == VMM_NO_VM ? MIGRATION_NO_VM : MIGRATION_FAILED;
}

/* HELLO, CONFIG and CPUID: what the sender offers, and the configuration
 * to build the VM from; a local migration's memfd (*memfd, else -1). */
static int take_offer(struct vmm *m, struct migration_stream *s, struct vm_config **cfg,
                      int *memfd, char *err, size_t errlen)
{
    *memfd = -1;
    struct mmsg msg;
    char why[512];
    if (mstream_recv(s, MSG_TIMEOUT_MS, &msg, err, errlen) < 0)
        return -1;
    if (msg.type != MSG_HELLO) {
        snprintf(err, errlen, "the sender began with %s, not HELLO", mstream_type_name(msg.type));
        goto refuse;
    }
    if (msg.u.hello.protocol != MSTREAM_PROTOCOL_VERSION ||
        (msg.u.hello.flags & ~MSTREAM_HELLO_LOCAL)) {
        snprintf(err, errlen, "the sender (kvmbox %s) speaks protocol %u; this kvmbox %u",
                 msg.u.hello.version, msg.u.hello.protocol, MSTREAM_PROTOCOL_VERSION);
        goto refuse;
    }
    bool local = msg.u.hello.flags & MSTREAM_HELLO_LOCAL;
    uint64_t mem_size = msg.u.hello.mem_size;
    if (mstream_recv(s, MSG_TIMEOUT_MS, &msg, err, errlen) < 0)
        return -1;
    if (msg.type != MSG_CONFIG) {
        snprintf(err, errlen, "the sender sent %s, not its CONFIG", mstream_type_name(msg.type));
        goto refuse;
    }
    if (vm_config_from_json((const char *)msg.payload, msg.len, m->base, cfg, why,
                            sizeof why) < 0) {
        snprintf(err, errlen, "the sender's VmConfig: %s", why);
        goto refuse;
    }
    /* Shared storage: the source holds its disks' locks until the VM is
     * handed over. */
    for (unsigned i = 0; i < (*cfg)->ndisks; i++)
        (*cfg)->disks[i].lock_may_be_held = true;
    if ((*cfg)->mem_size != mem_size) {
        snprintf(err, errlen, "the sender's HELLO and VmConfig disagree on the memory size");
        goto refuse_config;
    }
    /* The guest's CPU, checked against this host's before any memory
     * moves (the receiver's HELLO_ACK, once it has built the VM, says the
     * migration is taken). */
    if (mstream_recv(s, MSG_TIMEOUT_MS, &msg, err, errlen) < 0)
        goto fail_config;
    if (msg.type != MSG_CPUID) {
        snprintf(err, errlen, "the sender sent %s, not the guest's CPUID",
                 mstream_type_name(msg.type));
        goto refuse_config;
    }
    if (vmm_check_cpuid(m, msg.payload, msg.len / MSTREAM_CPUID_ENTRY, err, errlen) < 0)
        goto refuse_config;
    /* Local: the guest's memory itself, as a file to map. */
    uint64_t memfd_size;
    if (local && mstream_recv_fd(s, MSG_TIMEOUT_MS, memfd, &memfd_size, err, errlen) < 0)
        goto refuse_config;
    if (local && memfd_size != mem_size) {
        snprintf(err, errlen, "the memory handed over has %llu bytes, the VM %llu",
                 (unsigned long long)memfd_size, (unsigned long long)mem_size);
        goto refuse_config;
    }
    return 0;
refuse_config:
    mstream_send_error(s, why, sizeof why, "%s", err);
fail_config:
    vm_config_free(*cfg);
    if (*memfd >= 0)
        close(*memfd);
    *memfd = -1;
    return -1;
refuse:
    mstream_send_error(s, why, sizeof why, "%s", err);
    return -1;
}

/* Waits for the sender in short slices, so that a signal still ends
 * kvmbox while it waits (the main loop is busy here). */
static int wait_for_sender(struct vmm *m, int lfd, int *fd, char *err, size_t errlen)
{
    for (int waited = 0; waited < ACCEPT_TIMEOUT_MS; waited += ACCEPT_SLICE_MS) {
        if (vmm_interrupted(m)) {
            snprintf(err, errlen, "kvmbox is stopping (a signal): no longer waiting for a sender");
            return -1;
        }
        struct pollfd p = { .fd = lfd, .events = POLLIN };
        if (poll(&p, 1, ACCEPT_SLICE_MS) == 1)
            return migration_accept(lfd, 0, fd, err, errlen);
    }
    snprintf(err, errlen, "no sender came within %d s", ACCEPT_TIMEOUT_MS / 1000);
    return -1;
}

enum migration_result receive_migration(struct vmm *m, const char *body, size_t len, char *err,
                                        size_t errlen)
{
    struct json_read jr = { err, errlen };
    json_object *root = json_read_object(&jr, body, len, "a ReceiveMigrationData");
    if (!root)
        return MIGRATION_BAD_REQUEST;
    char url[512], tls_dir[PATH_MAX];
    int bad = get_url(&jr, root, "receiver_url", url, sizeof url) < 0 ||
              get_tls_dir(&jr, root, tls_dir, sizeof tls_dir) < 0 ? -1 : 0;
    json_object_put(root);
    if (bad < 0)
        return MIGRATION_BAD_REQUEST;
    if (m->cfg) {
        snprintf(err, errlen, "a VM has already been created: a migration arrives in an empty VMM");
        return MIGRATION_FAILED;
    }
    struct migration_url u;
    int lfd, fd;
    if (migration_url_parse(url, &u, err, errlen) < 0)
        return MIGRATION_BAD_REQUEST;
    if (migration_listen(url, &lfd, err, errlen) < 0)
        return MIGRATION_FAILED;
    int r = wait_for_sender(m, lfd, &fd, err, errlen);
    close(lfd);
    if (u.kind == MIGRATION_URL_UNIX)
        unlink(u.path);
    if (r < 0) {
        event_emit(&m->events, "vm", "receive-failed");
        return MIGRATION_FAILED;
    }
    struct migration_stream s;
    mstream_init(&s, fd);
    struct vm_config *cfg;
    int memfd;
    enum migration_result res = MIGRATION_FAILED;
    if ((tls_dir[0] && mstream_start_tls(&s, MIGRATION_TLS_RECEIVER, tls_dir, NULL,
                                         MSG_TIMEOUT_MS, err, errlen) < 0) ||
        take_offer(m, &s, &cfg, &memfd, err, errlen) < 0)
        event_emit(&m->events, "vm", "receive-failed");
    else if (vmm_vm_receive_migration(m, &s, cfg, vm_config_free, memfd, err, errlen) == VMM_OK)
        res = MIGRATION_OK;
    mstream_destroy(&s);
    return res;
}
