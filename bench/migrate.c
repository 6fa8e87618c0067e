/* bench/migrate: live migration, kvmbox next to QEMU, the same guest with
 * the same dirty rate in the same run (these machines are noisy: the ratios
 * are the figures).
 *
 *   migrate KVMBOX RUNS GUEST_DIR RAM_MIB:REWRITE_MIB...
 *
 * The guest (bench/mem_dirty.S) fills 8 MiB with a pattern, then writes a
 * tick to COM1 every few hundred loop iterations, about every 0.3 ms here;
 * with REWRITE_MIB > 0 it also writes a word into each of the next 16 pages
 * of a REWRITE_MIB region before each tick, round and round, so that the
 * whole region is dirty again within a few ms (GUEST_DIR/mem-dirty-8.elf,
 * GUEST_DIR/mem-rewrite-M.elf). Each migration is a fresh source and
 * destination VMM on this machine; the guest runs 1 s, then moves:
 *   kvmbox  destination `run --api-socket` (empty), PUT vm.receive-migration
 *           {receiver_url}; source `run -v --api-socket` (empty: it stays up
 *           after the VM leaves, to be asked how it went), vm.create +
 *           vm.boot, then PUT vm.send-migration {destination_url,
 *           downtime_ms, "kvmbox": {"report": true}}. Whether that answers
 *           at once or at the end, the outcome is then GET
 *           vm.migration-progress, polled until it is no longer "running",
 *           where kvmbox has it; else (404) the PUT's own answer. The VMM's
 *           figures come from the progress (or the PUT's body) when they
 *           are there, else from the line the source logs with -v
 *           ("migration: done in T ms, a pause of P ms, B bytes sent in N
 *           passes").
 *   QEMU    -M microvm as bench/startup runs it; destination -incoming
 *           defer + QMP migrate-incoming; source migrate-set-parameters
 *           {downtime-limit, max-bandwidth 1 TiB/s: no cap}, migrate, then
 *           query-migrate every 2 ms until "completed" (its "downtime",
 *           ram "transferred" and "dirty-sync-count"); cancelled after 60 s.
 * Figures, medians of RUNS (the two VMMs take turns):
 *   pause     the largest gap between two ticks the guest wrote, from the
 *             migration's request until 0.3 s after the guest ran again,
 *             the source's serial output and then the destination's, each
 *             byte timed here as it arrives: the pause the guest sees;
 *   noise     the same, over the second before the migration: what the
 *             host's scheduling alone makes of the tick stream;
 *   downtime  the VMM's own figure (kvmbox's pause, QEMU's downtime);
 *   total     from the request to the first tick on the destination;
 *   sent      bytes the source sent (kvmbox's stream, QEMU's ram
 *             transferred);
 *   passes    kvmbox's precopy passes, QEMU's dirty-bitmap syncs.
 * Links: loopback TCP; a veth between two network namespaces limited by
 * tc tbf (root only; otherwise a note says it was left out); and, for
 * kvmbox alone, local migration (unix:, the guest's memory, memory.shared,
 * handed over as a memfd, "local": true), left out with a note where
 * kvmbox refuses it.
 *
 * The VMM processes, the working directory and the control connections
 * are bench/vmm_proc.c's (shared with bench/snapshot). */
#define _GNU_SOURCE
#include "vmm_proc.h"

#include <errno.h>
#include <limits.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define TICK 'h'
#define ROUND 'P'
#define BOOTED 'K'
#define TOUCH_MIB 8                /* the guest's fill; mem_dirty.S's TOUCH_MIB */
#define DOWNTIME_MS 300            /* the limit both VMMs are given */
#define MIGRATE_TIMEOUT_S 60
#define BASELINE_MS 1000
#define SETTLE_MS 300
#define POLL_MS 2
#define MAX_RUNS 16
#define VETH_RATE "1gbit"
#define VETH_TBF "tbf rate " VETH_RATE " burst 1mb latency 50ms"

/* ---- the guest's ticks, timed as they arrive */

/* One read of a VMM's stdout that held ticks (or rounds, or a boot). */
struct tick_read {
    double t;
    unsigned ticks, rounds, boots;
};

struct stream {
    int fd;
    bool eof;
    struct tick_read *v;
    size_t n, cap;
};

/* A thread reads both VMMs' serial output while the main thread drives
 * the migration, which may block in one call for all of it. */
struct recorder {
    pthread_t thread;
    pthread_mutex_t lock;
    int wake[2];
    bool nomem;
    struct stream s[2];    /* source, destination */
};

static void stream_read(struct recorder *r, struct stream *s)
{
    char buf[65536];
    ssize_t n = read(s->fd, buf, sizeof buf);
    double t = now_ms();
    if (n < 0 && (errno == EINTR || errno == EAGAIN))
        return;
    if (n <= 0) {
        s->eof = true;
        return;
    }
    struct tick_read e = { .t = t };
    for (ssize_t i = 0; i < n; i++) {
        e.ticks += buf[i] == TICK;
        e.rounds += buf[i] == ROUND;
        e.boots += buf[i] == BOOTED;
    }
    if (!e.ticks && !e.rounds && !e.boots)
        return;
    pthread_mutex_lock(&r->lock);
    if (s->n == s->cap) {
        size_t cap = s->cap ? s->cap * 2 : 16384;
        struct tick_read *v = realloc(s->v, cap * sizeof *v);
        if (!v)
            r->nomem = true;
        else
            s->v = v, s->cap = cap;
    }
    if (s->n < s->cap)
        s->v[s->n++] = e;
    pthread_mutex_unlock(&r->lock);
}

static void *recorder_main(void *arg)
{
    struct recorder *r = arg;
    for (;;) {
        struct pollfd p[3] = { { .fd = r->wake[0], .events = POLLIN } };
        struct stream *of[3] = { NULL };
        nfds_t n = 1;
        for (int i = 0; i < 2; i++)
            if (!r->s[i].eof) {
                p[n] = (struct pollfd){ .fd = r->s[i].fd, .events = POLLIN };
                of[n++] = &r->s[i];
            }
        if (poll(p, n, -1) < 0) {
            if (errno == EINTR)
                continue;
            return NULL;
        }
        if (p[0].revents)
            return NULL;
        for (nfds_t i = 1; i < n; i++)
            if (p[i].revents)
                stream_read(r, of[i]);
    }
}

static void recorder_start(struct recorder *r, int src_out, int dst_out)
{
    memset(r, 0, sizeof *r);
    r->s[0].fd = src_out;
    r->s[1].fd = dst_out;
    pthread_mutex_init(&r->lock, NULL);
    if (pipe(r->wake) < 0 || pthread_create(&r->thread, NULL, recorder_main, r))
        fail("starting the tick recorder: %s", strerror(errno));
}

static void recorder_stop(struct recorder *r)
{
    if (write(r->wake[1], "x", 1) != 1)
        fail("stopping the tick recorder: %s", strerror(errno));
    pthread_join(r->thread, NULL);
    close(r->wake[0]);
    close(r->wake[1]);
    pthread_mutex_destroy(&r->lock);
    if (r->nomem)
        fail("out of memory for the ticks");
}

static void recorder_free(struct recorder *r)
{
    free(r->s[0].v);
    free(r->s[1].v);
}

/* The first tick of stream i at or after `after`; -1 if none yet. Fails
 * when the stream has ended (the VMM is gone). */
static double recorder_first_tick(struct recorder *r, int i, double after, struct child *c)
{
    double t = -1;
    pthread_mutex_lock(&r->lock);
    for (size_t k = 0; k < r->s[i].n && t < 0; k++)
        if (r->s[i].v[k].ticks && r->s[i].v[k].t >= after)
            t = r->s[i].v[k].t;
    bool eof = r->s[i].eof;
    pthread_mutex_unlock(&r->lock);
    if (t < 0 && eof)
        child_fail(c, "it exited");
    return t;
}

/* ---- figures */

struct outcome {
    bool ok, refused;       /* refused: the VMM does not do this (local) */
    char why[320];
    double pause, noise, downtime, total, bytes, passes, dirty_mib_s;
    bool src_ticked_on;     /* the source's guest ticked after the destination's ran */
};

static int cmp(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* The median of a field over the runs that succeeded; -1 if none did. */
static double median_of(const struct outcome *o, int n, size_t field)
{
    double v[MAX_RUNS];
    int k = 0;
    for (int i = 0; i < n; i++)
        if (o[i].ok)
            v[k++] = *(const double *)((const char *)&o[i] + field);
    if (!k)
        return -1;
    qsort(v, (size_t)k, sizeof *v, cmp);
    return v[k / 2];
}

/* The largest gap between consecutive ticks in (from, to], across both
 * streams in time order, counting from the last tick at or before `from`. */
static double largest_gap(const struct recorder *r, double from, double to)
{
    size_t total = r->s[0].n + r->s[1].n, n = 0;
    double *t = malloc((total + 1) * sizeof *t);
    if (!t)
        fail("out of memory");
    for (int i = 0; i < 2; i++)
        for (size_t k = 0; k < r->s[i].n; k++)
            if (r->s[i].v[k].ticks && r->s[i].v[k].t <= to)
                t[n++] = r->s[i].v[k].t;
    qsort(t, n, sizeof *t, cmp);
    double gap = 0;
    for (size_t k = 1; k < n; k++)
        if (t[k] > from && t[k] - t[k - 1] > gap)
            gap = t[k] - t[k - 1];
    free(t);
    return gap;
}

/* A number member "key": N anywhere in a JSON text (QMP's or kvmbox's). */
static bool json_number(const char *json, const char *key, double *v)
{
    char quoted[64];
    snprintf(quoted, sizeof quoted, "\"%s\"", key);
    for (const char *p = json; (p = strstr(p, quoted)); p++) {
        const char *q = p + strlen(quoted);
        q += strspn(q, " \t\r\n");
        if (*q != ':')
            continue;
        char *end;
        double x = strtod(q + 1, &end);
        if (end != q + 1) {
            *v = x;
            return true;
        }
    }
    return false;
}

/* A string member "key": "VALUE", copied into out; false if absent. */
static bool json_string(const char *json, const char *key, char *out, size_t cap)
{
    char quoted[64];
    snprintf(quoted, sizeof quoted, "\"%s\"", key);
    for (const char *p = json; (p = strstr(p, quoted)); p++) {
        const char *q = p + strlen(quoted);
        q += strspn(q, " \t\r\n");
        if (*q != ':')
            continue;
        q++;
        q += strspn(q, " \t\r\n");
        if (*q != '"')
            continue;
        q++;
        size_t len = 0;
        while (q[len] && q[len] != '"')
            len += q[len] == '\\' && q[len + 1] ? 2 : 1;
        snprintf(out, cap, "%.*s", (int)len, q);
        return true;
    }
    return false;
}

/* The first of several names a figure may have. */
static bool json_number_any(const char *json, const char *const *keys, double *v)
{
    for (; *keys; keys++)
        if (json_number(json, *keys, v))
            return true;
    return false;
}

/* ---- where a migration goes */

struct link {
    const char *name;
    const char *src_ns, *dst_ns;    /* network namespaces, or NULL */
    const char *addr;               /* the destination's address */
    bool local;                     /* kvmbox's local migration (unix:, memfd) */
};

static char ns_a[64], ns_b[64];

/* Puts `ip netns exec NS` before a command line when ns is set; returns
 * where the command goes. */
static size_t argv_prefix(char **argv, const char *ns)
{
    if (!ns)
        return 0;
    argv[0] = "ip", argv[1] = "netns", argv[2] = "exec", argv[3] = (char *)ns;
    return 4;
}

static unsigned free_port(void)
{
    struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
    socklen_t alen = sizeof a;
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0 || bind(fd, (struct sockaddr *)&a, sizeof a) < 0 ||
        getsockname(fd, (struct sockaddr *)&a, &alen) < 0)
        fail("a free TCP port: %s", strerror(errno));
    close(fd);
    return ntohs(a.sin_port);
}

/* Whether the process listens on TCP port `port` or Unix socket `path`,
 * as its own network namespace sees it (/proc/PID/net). */
static bool listening(pid_t pid, unsigned port, const char *path)
{
    const char *files[] = { "tcp", "tcp6", "unix" };
    for (size_t i = path ? 2 : 0; i < (path ? 3 : 2); i++) {
        char name[64], line[512];
        snprintf(name, sizeof name, "/proc/%d/net/%s", (int)pid, files[i]);
        FILE *f = fopen(name, "r");
        if (!f)
            continue;
        bool found = false;
        while (!found && fgets(line, sizeof line, f)) {
            unsigned lport, st, flags;
            char p[PATH_MAX];
            if (path)
                found = sscanf(line, "%*s %*s %*s %x %*s %*s %*s %4095s", &flags, p) == 2 &&
                        (flags & 0x10000) && !strcmp(p, path);    /* __SO_ACCEPTCON */
            else
                found = sscanf(line, "%*s %*[0-9A-Fa-f]:%x %*s %x", &lport, &st) == 2 &&
                        lport == port && st == 0x0A;             /* TCP_LISTEN */
        }
        fclose(f);
        if (found)
            return true;
    }
    return false;
}

static void wait_listening(struct child *c, unsigned port, const char *path)
{
    double deadline = now_ms() + 10000;
    while (!listening(c->pid, port, path)) {
        if (now_ms() > deadline)
            child_fail(c, "it does not listen for the migration after 10 s");
        bench_sleep(1);
    }
}

/* ---- one migration */

struct guest_case {
    unsigned ram_mib, rewrite_mib;
    char guest[PATH_MAX];
};

struct mig {
    struct child src, dst;
    struct conn sc, dc;        /* their control connections */
    char url[PATH_MAX + 16];
    unsigned port;
    char sock[PATH_MAX];       /* the unix: socket, local migration */
};

/* The figures' names in vm.migration-progress (and in the answer that
 * "kvmbox": {"report": true} asks for); the downtime is the pause it had,
 * in an answer, never the limit asked for. */
static const char *const PAUSE_KEYS[] = { "downtime_ms", "pause_ms", NULL };
static const char *const BYTES_KEYS[] = { "bytes_sent", "bytes", NULL };
static const char *const PASSES_KEYS[] = { "iteration", "iterations", NULL };

/* The report the source logs with -v, in either of the forms kvmbox has
 * written: "migration: done in T ms, a pause of P ms, B bytes sent in N
 * passes" or "migration: N passes, B bytes, a pause of P ms, T ms in
 * all"; false if it is not there (yet). */
static bool kvmbox_logged_report(struct child *src, struct outcome *o)
{
    static char log[65536];
    child_stderr(src, log, sizeof log);
    unsigned passes;
    unsigned long long bytes, pause, total;
    bool found = false;
    for (const char *p = log; (p = strstr(p, "migration: ")); p++)
        if (sscanf(p, "migration: done in %llu ms, a pause of %llu ms, %llu bytes sent in %u "
                   "passes", &total, &pause, &bytes, &passes) == 4 ||
            sscanf(p, "migration: %u passes, %llu bytes, a pause of %llu ms, %llu ms in all",
                   &passes, &bytes, &pause, &total) == 4) {
            o->passes = passes, o->bytes = (double)bytes, o->downtime = (double)pause;
            found = true;
        }
    return found;
}

static void kvmbox_prepare(struct mig *m, const char *kvmbox, const struct guest_case *g,
                           const struct link *l)
{
    char *argv[16];
    size_t n = argv_prefix(argv, l->dst_ns);
    char *dst[] = { (char *)kvmbox, "run", "--api-socket", "fd=3", NULL };
    memcpy(argv + n, dst, sizeof dst);
    int lfd = control_socket(&m->dc);
    child_start(&m->dst, "kvmbox (destination)", argv, lfd);
    close(lfd);

    n = argv_prefix(argv, l->src_ns);
    char *src[] = { (char *)kvmbox, "run", "-v", "--api-socket", "fd=3", NULL };
    memcpy(argv + n, src, sizeof src);
    lfd = control_socket(&m->sc);
    child_start(&m->src, "kvmbox (source)", argv, lfd);
    close(lfd);

    char body[PATH_MAX + 256];
    snprintf(body, sizeof body, "{\"payload\":{\"kernel\":\"%s\"},\"memory\":{\"size\":%llu%s}}",
             g->guest, (unsigned long long)g->ram_mib << 20, l->local ? ",\"shared\":true" : "");
    http_put(&m->sc, "vm.create", body);
    http_put(&m->sc, "vm.boot", "");
    child_wait_byte(&m->src, 'T', 60000 + 2000.0 * TOUCH_MIB, false);

    snprintf(body, sizeof body, "{\"receiver_url\":\"%s\"}", m->url);
    http_send(&m->dc, "PUT", "vm.receive-migration", body);
    wait_listening(&m->dst, m->port, l->local ? m->sock : NULL);
}

/* Sends the VM; true when it runs on the destination. */
static bool kvmbox_migrate(struct mig *m, const struct link *l, struct outcome *o)
{
    char body[PATH_MAX + 256], answer[4096], progress[4096];
    snprintf(body, sizeof body, "{\"destination_url\":\"%s\",\"downtime_ms\":%d,\"timeout_s\":%d"
             "%s,\"kvmbox\":{\"report\":true}}", m->url, DOWNTIME_MS, MIGRATE_TIMEOUT_S,
             l->local ? ",\"local\":true" : "");
    http_send(&m->sc, "PUT", "vm.send-migration", body);
    int st = http_answer(&m->sc, answer, sizeof answer);
    if (st / 100 != 2) {
        snprintf(o->why, sizeof o->why, "send-migration: %d %.250s", st, answer);
        o->refused = st == 400;
        return false;
    }
    /* Where vm.send-migration answers at once, the outcome is the
     * progress's; where it waits for the end, its answer was the outcome
     * and there is no progress to ask for (404) or none any more (400). */
    http_send(&m->sc, "GET", "vm.migration-progress", "");
    int ps = http_answer(&m->sc, progress, sizeof progress);
    const char *report = answer;
    if (ps == 200) {
        char status[64] = "";
        double deadline = now_ms() + (MIGRATE_TIMEOUT_S + 30) * 1000.0;
        while (json_string(progress, "status", status, sizeof status) &&
               !strcmp(status, "running")) {
            if (now_ms() > deadline)
                fail("kvmbox: vm.migration-progress still says running after %d s: %s",
                     MIGRATE_TIMEOUT_S + 30, progress);
            bench_sleep(POLL_MS);
            http_send(&m->sc, "GET", "vm.migration-progress", "");
            if ((ps = http_answer(&m->sc, progress, sizeof progress)) != 200)
                fail("kvmbox: GET vm.migration-progress answered %d: %s", ps, progress);
        }
        if (strcmp(status, "completed")) {
            char error[256] = "";
            json_string(progress, "error", error, sizeof error);
            snprintf(o->why, sizeof o->why, "%.60s: %.250s", status[0] ? status : "no status",
                     error);
            return false;
        }
        report = progress;
    }
    /* The VM runs on the destination when its receive answers. */
    char received[1024];
    int rs = http_answer(&m->dc, received, sizeof received);
    if (rs != 204) {
        snprintf(o->why, sizeof o->why, "the source says it is done, the destination's "
                 "receive-migration answered %d %.200s", rs, received);
        return false;
    }
    bool have = json_number_any(report, PAUSE_KEYS, &o->downtime);
    json_number_any(report, BYTES_KEYS, &o->bytes);
    json_number_any(report, PASSES_KEYS, &o->passes);
    /* Else the line the source logged (written before it answered, but a
     * moment later where the migration runs on its own thread). */
    for (int tries = 0; !have && tries < 50; tries++) {
        have = kvmbox_logged_report(&m->src, o);
        if (!have)
            bench_sleep(10);
    }
    if (!have)
        o->downtime = o->bytes = o->passes = -1;
    return true;
}

/* The command line of a QEMU with QMP on fd 3, then `extra`. */
static void qemu_cmd(char **argv, size_t cap, const char *ns, const struct guest_case *g,
                     char *mem, const char *extra1, const char *extra2)
{
    size_t n = argv_prefix(argv, ns);
    char *const more[] = { "-chardev", "socket,id=qmp,fd=3,server=on,wait=off",
                           "-mon", "chardev=qmp,mode=control",
                           (char *)extra1, (char *)extra2, NULL };
    qemu_argv(argv + n, cap - n, g->ram_mib, g->guest, mem, more);
}

static void qemu_prepare(struct mig *m, const struct guest_case *g, const struct link *l)
{
    char *argv[48], mem[32], cmd[PATH_MAX + 128], reply[1024];
    qemu_cmd(argv, 48, l->dst_ns, g, mem, "-incoming", "defer");
    int lfd = control_socket(&m->dc);
    child_start(&m->dst, "qemu (destination)", argv, lfd);
    close(lfd);
    qmp_start(&m->dc);
    snprintf(cmd, sizeof cmd, "{\"execute\":\"migrate-incoming\",\"arguments\":{\"uri\":\"%s\"}}\n",
             m->url);
    qmp_call(&m->dc, cmd, -1, reply, sizeof reply);

    qemu_cmd(argv, 48, l->src_ns, g, mem, NULL, NULL);
    lfd = control_socket(&m->sc);
    child_start(&m->src, "qemu (source)", argv, lfd);
    close(lfd);
    qmp_start(&m->sc);
    snprintf(cmd, sizeof cmd, "{\"execute\":\"migrate-set-parameters\",\"arguments\":"
             "{\"downtime-limit\":%d,\"max-bandwidth\":1099511627776}}\n", DOWNTIME_MS);
    qmp_call(&m->sc, cmd, -1, reply, sizeof reply);
    child_wait_byte(&m->src, 'T', 60000 + 2000.0 * TOUCH_MIB, false);
    wait_listening(&m->dst, m->port, NULL);
}

static bool qemu_migrate(struct mig *m, struct outcome *o)
{
    char cmd[PATH_MAX + 128], reply[4096], status[64] = "";
    snprintf(cmd, sizeof cmd, "{\"execute\":\"migrate\",\"arguments\":{\"uri\":\"%s\"}}\n",
             m->url);
    qmp_call(&m->sc, cmd, -1, reply, sizeof reply);
    double deadline = now_ms() + MIGRATE_TIMEOUT_S * 1000.0;
    for (;;) {
        qmp_call(&m->sc, "{\"execute\":\"query-migrate\"}\n", -1, reply, sizeof reply);
        json_string(reply, "status", status, sizeof status);
        if (!strcmp(status, "completed"))
            break;
        if (!strcmp(status, "failed") || !strcmp(status, "cancelled")) {
            char error[256] = "";
            json_string(reply, "error-desc", error, sizeof error);
            snprintf(o->why, sizeof o->why, "%.60s: %.250s", status, error);
            return false;
        }
        if (now_ms() > deadline) {
            qmp_call(&m->sc, "{\"execute\":\"migrate_cancel\"}\n", -1, cmd, sizeof cmd);
            snprintf(o->why, sizeof o->why, "did not converge within %d s", MIGRATE_TIMEOUT_S);
            return false;
        }
        bench_sleep(POLL_MS);
    }
    if (!json_number(reply, "downtime", &o->downtime))
        o->downtime = -1;
    if (!json_number(reply, "transferred", &o->bytes))
        o->bytes = -1;
    if (!json_number(reply, "dirty-sync-count", &o->passes))
        o->passes = -1;
    return true;
}

static void run_one(const char *kvmbox, const struct guest_case *g, const struct link *l,
                    bool qemu, struct outcome *o)
{
    struct mig m;
    memset(&m, 0, sizeof m);
    memset(o, 0, sizeof *o);
    if (l->local) {
        snprintf(m.sock, sizeof m.sock, "%s/local.sock", bench_workdir);
        snprintf(m.url, sizeof m.url, "unix:%s", m.sock);
    } else {
        m.port = free_port();
        snprintf(m.url, sizeof m.url, "tcp:%s:%u", l->addr, m.port);
    }
    if (qemu)
        qemu_prepare(&m, g, l);
    else
        kvmbox_prepare(&m, kvmbox, g, l);

    struct recorder r;
    recorder_start(&r, m.src.out, m.dst.out);
    double t_base = now_ms();
    bench_sleep(BASELINE_MS);
    double t0 = now_ms();
    o->ok = qemu ? qemu_migrate(&m, o) : kvmbox_migrate(&m, l, o);
    double first = -1;
    if (o->ok) {
        double deadline = now_ms() + 10000;
        while ((first = recorder_first_tick(&r, 1, t0, &m.dst)) < 0) {
            if (now_ms() > deadline)
                child_fail(&m.dst, "no tick from the guest 10 s after the migration");
            bench_sleep(1);
        }
        bench_sleep(first + SETTLE_MS - now_ms());
    }
    recorder_stop(&r);

    /* The second before: the noise, and the guest's dirty rate. */
    unsigned rounds = 0;
    for (size_t k = 0; k < r.s[0].n; k++)
        if (r.s[0].v[k].t > t_base && r.s[0].v[k].t <= t0)
            rounds += r.s[0].v[k].rounds;
    o->noise = largest_gap(&r, t_base, t0);
    o->dirty_mib_s = rounds * (double)g->rewrite_mib / ((t0 - t_base) / 1e3);
    if (o->ok) {
        for (size_t k = 0; k < r.s[1].n; k++)
            if (r.s[1].v[k].boots)
                child_fail(&m.dst, "the guest booted afresh on the destination");
        o->pause = largest_gap(&r, t0, first + SETTLE_MS);
        o->total = first - t0;
        for (size_t k = 0; k < r.s[0].n; k++)
            o->src_ticked_on |= r.s[0].v[k].ticks && r.s[0].v[k].t > first + 100;
    }
    recorder_free(&r);
    close(m.sc.fd);
    close(m.dc.fd);
    child_stop(&m.src);
    child_stop(&m.dst);
    if (l->local)
        unlink(m.sock);
}

/* ---- the namespaces of the rate-limited link */

static void veth_teardown(void)
{
    char cmd[256];
    snprintf(cmd, sizeof cmd, "ip netns del %s 2>/dev/null; ip netns del %s 2>/dev/null", ns_a,
             ns_b);
    if (ns_a[0] && system(cmd) < 0)
        fprintf(stderr, "bench/migrate: could not remove the namespaces %s, %s\n", ns_a, ns_b);
}

/* Two namespaces joined by a veth, the source's side limited by tc tbf;
 * false with the reason in why. */
static bool veth_setup(char *why, size_t cap)
{
    if (geteuid() != 0) {
        snprintf(why, cap, "not root");
        return false;
    }
    int pid = (int)getpid();
    snprintf(ns_a, sizeof ns_a, "kvmbox-bm-%d-a", pid);
    snprintf(ns_b, sizeof ns_b, "kvmbox-bm-%d-b", pid);
    atexit(veth_teardown);
    char cmd[2048], err[sizeof bench_workdir + 16];
    snprintf(err, sizeof err, "%s/veth.err", bench_workdir);
    snprintf(cmd, sizeof cmd,
             "{ ip netns add %1$s && ip netns add %2$s && "
             "ip link add vbm%3$da netns %1$s type veth peer name vbm%3$db netns %2$s && "
             "ip -n %1$s addr add 10.98.0.1/24 dev vbm%3$da && "
             "ip -n %2$s addr add 10.98.0.2/24 dev vbm%3$db && "
             "ip -n %1$s link set vbm%3$da up && ip -n %2$s link set vbm%3$db up && "
             "ip -n %1$s link set lo up && ip -n %2$s link set lo up && "
             "tc -n %1$s qdisc add dev vbm%3$da root " VETH_TBF "; } 2>%4$s",
             ns_a, ns_b, pid, err);
    if (system(cmd) == 0)
        return true;
    FILE *f = fopen(err, "r");
    if (!f || !fgets(why, (int)cap, f))
        snprintf(why, cap, "ip netns / tc failed");
    why[strcspn(why, "\n")] = '\0';
    if (f)
        fclose(f);
    return false;
}

/* ---- the table */

static void print_value(double v, const char *unit, double scale)
{
    if (v < 0)
        printf(" %9s %-3s", "-", "");
    else
        printf(" %9.*f %-3s", v / scale >= 100 ? 0 : 1, v / scale, unit);
}

static void print_ratio(double k, double q)
{
    if (k < 0 || q <= 0)
        printf(" %9s %-3s", "-", "");
    else
        printf(" %9.2f %-3s", k / q, "");
}

#define FIELD(f) offsetof(struct outcome, f)

static void print_row(const char *label, const char *vmm, const struct outcome *o, int runs)
{
    int ok = 0;
    const char *why = NULL;
    bool split = false;
    for (int i = 0; i < runs; i++) {
        ok += o[i].ok;
        split |= o[i].src_ticked_on;
        if (!o[i].ok && !why)
            why = o[i].why;
    }
    printf("  %-28s %-7s", label, vmm);
    if (!ok) {
        printf(" failed: %s\n", why);
        return;
    }
    print_value(median_of(o, runs, FIELD(pause)), "ms", 1);
    print_value(median_of(o, runs, FIELD(noise)), "ms", 1);
    print_value(median_of(o, runs, FIELD(downtime)), "ms", 1);
    print_value(median_of(o, runs, FIELD(total)), "ms", 1);
    print_value(median_of(o, runs, FIELD(bytes)), "MiB", 1048576);
    double passes = median_of(o, runs, FIELD(passes));
    if (passes < 0)
        printf(" %6s", "-");
    else
        printf(" %6.0f", passes);
    if (ok < runs)
        printf("   (%d of %d failed: %s)", runs - ok, runs, why);
    if (split)
        printf("   (the source's guest ticked on after the destination's ran)");
    printf("\n");
}

static void print_ratios(const struct outcome *k, const struct outcome *q, int runs)
{
    printf("  %-28s %-7s", "", "ratio");
    size_t fields[] = { FIELD(pause), FIELD(noise), FIELD(downtime), FIELD(total),
                        FIELD(bytes) };
    for (size_t i = 0; i < sizeof fields / sizeof fields[0]; i++)
        print_ratio(median_of(k, runs, fields[i]), median_of(q, runs, fields[i]));
    printf("\n");
}

int main(int argc, char **argv)
{
    const char *kvmbox;
    int runs;
    int ncases = bench_args(argc, argv, "migrate", "RAM_MIB:REWRITE_MIB", MAX_RUNS, &kvmbox, &runs);
    struct guest_case *cases = calloc((size_t)ncases, sizeof *cases);
    if (!cases)
        return 1;
    for (int i = 0; i < ncases; i++) {
        struct guest_case *g = &cases[i];
        char end, name[PATH_MAX];
        if (sscanf(argv[4 + i], "%u:%u%c", &g->ram_mib, &g->rewrite_mib, &end) != 2 ||
            16 + TOUCH_MIB > g->ram_mib || 16 + g->rewrite_mib > g->ram_mib ||
            16 + g->rewrite_mib > 3072) {
            fprintf(stderr, "bench/migrate: '%s': expected RAM_MIB:REWRITE_MIB, the guest's "
                    "memory (from 16 MiB up) inside RAM and below 3 GiB\n", argv[4 + i]);
            return 1;
        }
        if (g->rewrite_mib)
            snprintf(name, sizeof name, "%s/mem-rewrite-%u.elf", argv[3], g->rewrite_mib);
        else
            snprintf(name, sizeof name, "%s/mem-dirty-%d.elf", argv[3], TOUCH_MIB);
        if (!realpath(name, g->guest)) {
            fprintf(stderr, "bench/migrate: %s: %s (make %s)\n", name, strerror(errno), name);
            return 1;
        }
    }
    if (access(kvmbox, X_OK) < 0) {
        fprintf(stderr, "bench/migrate: %s is missing (make all)\n", kvmbox);
        return 1;
    }
    bench_setup("migrate");

    bool have_qemu = access(qemu_path(), X_OK) == 0;
    struct link links[3] = { { .name = "loopback", .addr = "127.0.0.1" } };
    int nlinks = 1;
    char why[256];
    if (veth_setup(why, sizeof why))
        links[nlinks++] = (struct link){ .name = "veth " VETH_RATE, .src_ns = ns_a,
                                         .dst_ns = ns_b, .addr = "10.98.0.2" };
    links[nlinks++] = (struct link){ .name = "local", .local = true };

    printf("bench-migrate: live migration, kvmbox against QEMU -M microvm, the same guest and "
           "dirty rate, median of %d; downtime limit %d ms for both, no bandwidth cap\n", runs,
           DOWNTIME_MS);
    printf("  pause: the largest gap in the guest's ticks (one every ~0.3 ms), timed on the host "
           "as the source's and then the destination's serial bytes arrive;\n"
           "  noise: the same in the second before the migration; downtime: the VMM's own "
           "figure; total: request to the first tick on the destination;\n"
           "  sent: the source's bytes; passes: kvmbox's precopy passes, QEMU's "
           "dirty-sync-count\n");
    if (!have_qemu)
        printf("  %s not usable here: no peer figures (make deps installs it)\n", qemu_path());
    if (nlinks == 2)
        printf("  the rate-limited veth (two network namespaces, tc %s) is left out: %s\n",
               VETH_TBF, why);
    else
        printf("  veth: two network namespaces joined by a veth, tc %s on the source's side\n",
               VETH_TBF);
    printf("  %-28s %-7s %13s %13s %13s %13s %13s %6s\n", "case / link", "VMM", "pause", "noise",
           "downtime", "total", "sent", "passes");

    bool local_refused = false;
    struct outcome k[MAX_RUNS], q[MAX_RUNS];
    for (int i = 0; i < ncases; i++) {
        const struct guest_case *g = &cases[i];
        for (int li = 0; li < nlinks; li++) {
            const struct link *l = &links[li];
            if (l->local && local_refused)
                continue;
            bool peer = have_qemu && !l->local;
            for (int r = 0; r < runs; r++) {
                run_one(kvmbox, g, l, false, &k[r]);
                if (k[r].refused && l->local)
                    break;
                if (peer)
                    run_one(kvmbox, g, l, true, &q[r]);
            }
            if (l->local && k[0].refused) {
                local_refused = true;
                printf("  local migration left out: kvmbox refuses it (%s)\n", k[0].why);
                continue;
            }
            char label[96];
            if (li == 0) {
                double kd = median_of(k, runs, FIELD(dirty_mib_s));
                if (g->rewrite_mib && peer)
                    printf("%u MiB, busy: rewrites %u MiB round and round, %.0f MiB/s under "
                           "kvmbox, %.0f under QEMU before the migration\n", g->ram_mib,
                           g->rewrite_mib, kd, median_of(q, runs, FIELD(dirty_mib_s)));
                else if (g->rewrite_mib)
                    printf("%u MiB, busy: rewrites %u MiB round and round, %.0f MiB/s before "
                           "the migration\n", g->ram_mib, g->rewrite_mib, kd);
                else
                    printf("%u MiB, idle: ticks only (%d MiB filled at boot)\n", g->ram_mib,
                           TOUCH_MIB);
            }
            snprintf(label, sizeof label, "  %s", l->name);
            print_row(label, "kvmbox", k, runs);
            if (peer) {
                print_row("", "QEMU", q, runs);
                print_ratios(k, q, runs);
            }
        }
    }
    free(cases);
    return 0;
}
