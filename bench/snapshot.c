/* bench/snapshot: what a snapshot costs and how fast a restored guest runs
 * again, kvmbox next to QEMU on the same guest in the same run (these
 * machines are noisy: the ratios are the figures).
 *
 *   snapshot KVMBOX RUNS GUEST_DIR RAM_MIB:TOUCH_MIB...
 *
 * Each case is a guest (bench/mem_dirty.S, GUEST_DIR/mem-dirty-TOUCH_MIB.elf)
 * with RAM_MIB of RAM that fills TOUCH_MIB of it with a non-zero pattern,
 * then writes a heartbeat byte to COM1 every few hundred loop iterations.
 * The guest boots once under each VMM; when it has touched its memory it
 * is snapshotted RUNS times, the two VMMs taking turns, each paused while
 * the other works (and resumed, its guest running, before each snapshot):
 *   kvmbox  PUT vm.pause, then PUT vm.snapshot to a new directory, timed
 *           from the pause's request to the snapshot's answer (kvmbox
 *           fsyncs every file and the directory before it answers);
 *   QEMU    QMP stop, then migrate to "fd:" (a file the bench opened and
 *           handed over with getfd), polling query-migrate every 1 ms
 *           until it completes, then an fsync of the file by the bench, so
 *           that both figures include making the snapshot durable.
 * Size: the blocks each snapshot holds on disk (st_blocks * 512), next to
 * the memory the guest touched.
 * Restore latency: from fork+exec of a new process to the first heartbeat
 * byte on its stdout, that is the guest running again:
 *   kvmbox  run --restore source_url=file://DIR,resume=on,memory_restore_mode=copy|ondemand
 *   QEMU    the source's command line plus -incoming fd:N (the migration
 *           file); the source ran with migration.store-global-state=off so
 *           that the destination starts once the stream is in, as kvmbox's
 *           resume=on does, without a QMP round trip.
 * RUNS restores of each kind, taking turns so drift hits all alike, from
 * the first snapshot (whose pages are in the host's page cache for both
 * VMMs: this measures the VMMs, not the disk). Medians throughout.
 *
 * Every process this program starts is killed on every way out (and dies
 * with it anyway, PR_SET_PDEATHSIG); SIGINT, SIGTERM and SIGHUP end the
 * run as a failure does, removing the working directory. */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define QEMU "/usr/bin/qemu-system-x86_64"
#define CALL_TIMEOUT_MS 120000    /* a snapshot of GiBs to a slow disk */
#define RESTORE_TIMEOUT_MS 60000
#define HEARTBEAT 'h'
#define MAX_RUNS 16
#define FEW_KIB 64                /* "a few KiB" over the touched memory */

/* ---- processes, and the one piece of state the signal handler needs */

/* The children alive now: at most a source VM and a restored one. */
static volatile pid_t live[2];
static volatile sig_atomic_t interrupted;
static char workdir[256];     /* bounded, so paths under it always fit */

static void on_signal(int sig)
{
    (void)sig;
    interrupted = 1;
    for (size_t i = 0; i < sizeof live / sizeof live[0]; i++)
        if (live[i] > 0)
            kill(live[i], SIGKILL);
}

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st, (void)flag, (void)ftw;
    remove(path);
    return 0;
}

/* Kills what is left and removes the working directory. */
static void cleanup(void)
{
    for (size_t i = 0; i < sizeof live / sizeof live[0]; i++)
        if (live[i] > 0) {
            kill(live[i], SIGKILL);
            waitpid(live[i], NULL, 0);
            live[i] = 0;
        }
    if (workdir[0])
        nftw(workdir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

static void __attribute__((noreturn, format(printf, 1, 2))) fail(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "bench/snapshot: ");
    vfprintf(stderr, fmt, ap);
    fprintf(stderr, "\n");
    va_end(ap);
    exit(1);    /* cleanup() runs from atexit */
}

static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

/* Waits until fd is ready for `events`; -1 at the deadline (ms) or when a
 * signal asked this program to stop. */
static int wait_fd(int fd, short events, double deadline)
{
    for (;;) {
        if (interrupted)
            fail("interrupted");
        double left = deadline - now_ms();
        if (left <= 0)
            return -1;
        struct pollfd p = { .fd = fd, .events = events };
        int n = poll(&p, 1, (int)left + 1);
        if (n > 0)
            return 0;
        if (n < 0 && errno != EINTR)
            return -1;
    }
}

struct child {
    const char *name;
    pid_t pid;
    int out;       /* its stdout, a pipe */
    int err;       /* its stderr, a memfd shown when something fails */
    double t0;     /* when it was forked (ms) */
};

/* Starts argv with stdout on a pipe, stderr in a memfd and, if pass_fd is
 * not -1, that descriptor as fd 3. */
static void child_start(struct child *c, const char *name, char *const argv[], int pass_fd)
{
    int p[2];
    c->name = name;
    if (pipe2(p, O_CLOEXEC) < 0 || (c->err = memfd_create("stderr", MFD_CLOEXEC)) < 0)
        fail("pipe/memfd: %s", strerror(errno));
    c->out = p[0];
    pid_t parent = getpid();
    c->t0 = now_ms();
    c->pid = fork();
    if (c->pid < 0)
        fail("fork: %s", strerror(errno));
    if (c->pid == 0) {
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        if (getppid() != parent)
            _exit(127);
        int null = open("/dev/null", O_RDONLY);
        /* dup2 clears close-on-exec, but not when it is already fd 3. */
        if (null < 0 || dup2(null, 0) < 0 || dup2(p[1], 1) < 0 || dup2(c->err, 2) < 0 ||
            (pass_fd >= 0 && (pass_fd == 3 ? fcntl(3, F_SETFD, 0) : dup2(pass_fd, 3)) < 0))
            _exit(127);
        execv(argv[0], argv);
        dprintf(2, "exec %s: %s\n", argv[0], strerror(errno));
        _exit(127);
    }
    close(p[1]);
    for (size_t i = 0; i < sizeof live / sizeof live[0]; i++)
        if (live[i] <= 0) {
            live[i] = c->pid;
            break;
        }
}

static void child_stop(struct child *c)
{
    kill(c->pid, SIGKILL);
    waitpid(c->pid, NULL, 0);
    for (size_t i = 0; i < sizeof live / sizeof live[0]; i++)
        if (live[i] == c->pid)
            live[i] = 0;
    close(c->out);
    close(c->err);
}

/* Fails, showing the end of the child's stderr. */
static void __attribute__((noreturn, format(printf, 2, 3))) child_fail(struct child *c,
                                                                       const char *fmt, ...)
{
    char what[256], tail[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(what, sizeof what, fmt, ap);
    va_end(ap);
    off_t size = lseek(c->err, 0, SEEK_END);
    off_t from = size > (off_t)sizeof tail - 1 ? size - (off_t)sizeof tail + 1 : 0;
    ssize_t n = pread(c->err, tail, sizeof tail - 1, from);
    tail[n > 0 ? n : 0] = '\0';
    fail("%s: %s%s%s", c->name, what, n > 0 ? "; its stderr:\n" : "", tail);
}

/* Reads the child's output until byte `want` (ms since its fork). A 'K'
 * on the way, with `no_boot`, means the guest booted afresh: a restore
 * that did not restore. */
static double child_wait_byte(struct child *c, char want, double timeout_ms, bool no_boot)
{
    double deadline = now_ms() + timeout_ms;
    char buf[4096];
    for (;;) {
        if (wait_fd(c->out, POLLIN, deadline) < 0)
            child_fail(c, "no '%c' from the guest within %.0f s", want, timeout_ms / 1e3);
        ssize_t n = read(c->out, buf, sizeof buf);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            child_fail(c, "it exited before the guest wrote '%c'", want);
        double t = now_ms() - c->t0;
        if (no_boot && memchr(buf, 'K', (size_t)n))
            child_fail(c, "the guest booted afresh instead of going on where it was");
        if (memchr(buf, want, (size_t)n))
            return t;
    }
}

/* Throws away what the guest wrote so far, so a full pipe never holds up
 * the VMM. */
static void child_drain(struct child *c)
{
    char buf[65536];
    struct pollfd p = { .fd = c->out, .events = POLLIN };
    while (poll(&p, 1, 0) == 1 && read(c->out, buf, sizeof buf) > 0)
        ;
}

/* ---- a connection to a VMM's control socket: HTTP (kvmbox) or QMP */

struct conn {
    int fd;
    size_t len;
    char buf[8192];
};

/* Sends msg, with fd attached (SCM_RIGHTS) unless it is -1. */
static void conn_send(struct conn *c, const char *msg, int fd)
{
    size_t len = strlen(msg);
    while (len) {
        if (wait_fd(c->fd, POLLOUT, now_ms() + CALL_TIMEOUT_MS) < 0)
            fail("sending a request: timed out");
        struct iovec iov = { (void *)msg, len };
        char ctl[CMSG_SPACE(sizeof(int))] = { 0 };
        struct msghdr m = { .msg_iov = &iov, .msg_iovlen = 1 };
        if (fd >= 0) {
            m.msg_control = ctl;
            m.msg_controllen = sizeof ctl;
            struct cmsghdr *h = CMSG_FIRSTHDR(&m);
            h->cmsg_level = SOL_SOCKET;
            h->cmsg_type = SCM_RIGHTS;
            h->cmsg_len = CMSG_LEN(sizeof(int));
            memcpy(CMSG_DATA(h), &fd, sizeof fd);
        }
        ssize_t n = sendmsg(c->fd, &m, MSG_NOSIGNAL | MSG_DONTWAIT);
        if (n < 0 && (errno == EAGAIN || errno == EINTR))
            continue;
        if (n <= 0)
            fail("sending a request: %s", strerror(errno));
        msg += n;
        len -= (size_t)n;
        fd = -1;
    }
}

/* Reads until `pred` finds a whole message in c->buf (its length, or 0). */
static size_t conn_read(struct conn *c, size_t (*pred)(const struct conn *))
{
    double deadline = now_ms() + CALL_TIMEOUT_MS;
    size_t n;
    while (!(n = pred(c))) {
        if (c->len == sizeof c->buf - 1)
            fail("an answer longer than %zu bytes", c->len);
        if (wait_fd(c->fd, POLLIN, deadline) < 0)
            fail("no answer within %d s", CALL_TIMEOUT_MS / 1000);
        ssize_t got = read(c->fd, c->buf + c->len, sizeof c->buf - 1 - c->len);
        if (got < 0 && errno == EINTR)
            continue;
        if (got <= 0)
            fail("the VMM closed its control socket");
        c->len += (size_t)got;
        c->buf[c->len] = '\0';
    }
    return n;
}

static void conn_consume(struct conn *c, size_t n)
{
    memmove(c->buf, c->buf + n, c->len - n);
    c->len -= n;
    c->buf[c->len] = '\0';
}

/* An HTTP answer: headers, then Content-Length bytes of body. */
static size_t http_whole(const struct conn *c)
{
    const char *end = strstr(c->buf, "\r\n\r\n");
    if (!end)
        return 0;
    size_t head = (size_t)(end - c->buf) + 4, body = 0;
    const char *cl = strcasestr(c->buf, "\r\nContent-Length:");
    if (cl && cl < end)
        body = strtoul(cl + 17, NULL, 10);
    return c->len >= head + body ? head + body : 0;
}

/* PUT /api/v1/WHAT with a JSON body (or none); fails unless it gets 204. */
static void http_put(struct conn *c, const char *what, const char *body)
{
    char req[1024];
    snprintf(req, sizeof req, "PUT /api/v1/%s HTTP/1.1\r\nHost: localhost\r\n"
             "Content-Type: application/json\r\nContent-Length: %zu\r\n\r\n%s", what,
             strlen(body), body);
    conn_send(c, req, -1);
    size_t n = conn_read(c, http_whole);
    int status = 0;
    sscanf(c->buf, "HTTP/1.1 %3d", &status);
    if (status != 204)
        fail("kvmbox: PUT %s: %.*s", what, (int)n, c->buf);
    conn_consume(c, n);
}

/* A QMP line. */
static size_t qmp_line(const struct conn *c)
{
    const char *nl = strchr(c->buf, '\n');
    return nl ? (size_t)(nl - c->buf) + 1 : 0;
}

/* Sends a QMP command (with fd attached unless -1) and reads up to its
 * answer, skipping events; the answer's line is left in reply. Fails on
 * an error answer. */
static void qmp_call(struct conn *c, const char *cmd, int fd, char *reply, size_t cap)
{
    conn_send(c, cmd, fd);
    for (;;) {
        size_t n = conn_read(c, qmp_line);
        bool answer = !strncmp(c->buf, "{\"return\"", 9), error = !strncmp(c->buf, "{\"error\"", 8);
        if (answer || error)
            snprintf(reply, cap, "%.*s", (int)n, c->buf);
        conn_consume(c, n);
        if (error)
            fail("QEMU: %.*s: %s", (int)strcspn(cmd, "\r\n"), cmd, reply);
        if (answer)
            return;
    }
}

/* A listening Unix socket on a free abstract name, and c connected to it
 * (queued in the backlog until the VMM accepts). Returns the listener. */
static int control_socket(struct conn *c)
{
    struct sockaddr_un a = { .sun_family = AF_UNIX };
    socklen_t alen = sizeof(sa_family_t);    /* autobind */
    int lfd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (lfd < 0 || bind(lfd, (struct sockaddr *)&a, alen) < 0 || listen(lfd, 4) < 0 ||
        (alen = sizeof a, getsockname(lfd, (struct sockaddr *)&a, &alen)) < 0)
        fail("a control socket: %s", strerror(errno));
    c->len = 0;
    c->buf[0] = '\0';
    c->fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (c->fd < 0 || connect(c->fd, (struct sockaddr *)&a, alen) < 0)
        fail("connecting to a control socket: %s", strerror(errno));
    return lfd;
}

/* ---- figures */

static int cmp(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double median(const double *v, int n)
{
    double s[MAX_RUNS];
    memcpy(s, v, (size_t)n * sizeof *v);
    qsort(s, (size_t)n, sizeof *s, cmp);
    return s[n / 2];
}

/* Bytes allocated on disk for a file, or for the files of a directory. */
static double disk_bytes(const char *path)
{
    struct stat st;
    if (stat(path, &st) < 0)
        fail("%s: %s", path, strerror(errno));
    if (!S_ISDIR(st.st_mode))
        return st.st_blocks * 512.0;
    DIR *d = opendir(path);
    if (!d)
        fail("%s: %s", path, strerror(errno));
    double sum = 0;
    for (struct dirent *e; (e = readdir(d));)
        if (e->d_name[0] != '.') {
            char sub[PATH_MAX];
            snprintf(sub, sizeof sub, "%s/%s", path, e->d_name);
            sum += disk_bytes(sub);
        }
    closedir(d);
    return sum;
}

struct guest_case {
    unsigned ram_mib, touch_mib;
    char *guest;
};

/* One VMM's source VM and what it measured. */
struct source {
    struct child c;
    struct conn ctl;               /* kvmbox's API or QEMU's QMP */
    bool is_qemu;
    double touch_ms;               /* 'K' to 'T': the guest filling its memory */
    double heartbeat_ms;           /* between heartbeats, the latency's resolution */
    double snap_ms[MAX_RUNS];
    double size[MAX_RUNS];         /* bytes on disk */
};

/* Boots the guest with the control socket's listener as fd 3, waits until
 * it has touched its memory and notes how long that took and the
 * heartbeat's period. */
static void source_boot(struct source *s, const char *name, char *const argv[], int lfd,
                        const struct guest_case *g)
{
    child_start(&s->c, name, argv, lfd);
    close(lfd);
    double boot_ms = 60000 + 2000.0 * g->touch_mib;   /* emulated guest code: slow */
    double k = child_wait_byte(&s->c, 'K', boot_ms, false);
    s->touch_ms = child_wait_byte(&s->c, 'T', boot_ms, false) - k;
    enum { BEATS = 50 };
    double h0 = child_wait_byte(&s->c, HEARTBEAT, 10000, false), h = h0;
    /* Counted by bytes, not reads: several may come in one read. */
    char buf[4096];
    int beats = 0;
    while (beats < BEATS) {
        if (wait_fd(s->c.out, POLLIN, now_ms() + 10000) < 0)
            child_fail(&s->c, "the heartbeat stopped");
        ssize_t n = read(s->c.out, buf, sizeof buf);
        if (n <= 0)
            child_fail(&s->c, "it exited while the guest ran");
        h = now_ms() - s->c.t0;
        for (ssize_t i = 0; i < n; i++)
            beats += buf[i] == HEARTBEAT;
    }
    s->heartbeat_ms = (h - h0) / beats;
}

/* Parks a source's vCPUs: vm.pause or QMP stop. */
static void source_pause(struct source *s)
{
    char reply[256];
    if (s->is_qemu)
        qmp_call(&s->ctl, "{\"execute\":\"stop\"}\n", -1, reply, sizeof reply);
    else
        http_put(&s->ctl, "vm.pause", "");
}

/* Resumes a paused source and waits until its guest runs, so that each
 * snapshot starts from a running VM, as a user's would. */
static void source_resume(struct source *s)
{
    char reply[256];
    child_drain(&s->c);
    if (s->is_qemu)
        qmp_call(&s->ctl, "{\"execute\":\"cont\"}\n", -1, reply, sizeof reply);
    else
        http_put(&s->ctl, "vm.resume", "");
    child_wait_byte(&s->c, HEARTBEAT, 10000, false);
}

static void kvmbox_boot(struct source *s, const char *kvmbox, const struct guest_case *g)
{
    char mem[32];
    snprintf(mem, sizeof mem, "%uM", g->ram_mib);
    char *argv[] = { (char *)kvmbox, "run", "--kernel", g->guest, "--memory", mem,
                     "--api-socket", "fd=3", NULL };
    s->is_qemu = false;
    source_boot(s, "kvmbox (source)", argv, control_socket(&s->ctl), g);
}

/* Snapshot r of a running kvmbox, timed from the pause's request to the
 * snapshot's answer; leaves it paused. */
static void kvmbox_snapshot(struct source *s, int r)
{
    char dir[PATH_MAX], body[PATH_MAX + 64];
    snprintf(dir, sizeof dir, "%s/kvmbox-%d", workdir, r);
    snprintf(body, sizeof body, "{\"destination_url\":\"file://%s\"}", dir);
    double t0 = now_ms();
    source_pause(s);
    http_put(&s->ctl, "vm.snapshot", body);
    s->snap_ms[r] = now_ms() - t0;
    s->size[r] = disk_bytes(dir);
}

/* The QEMU command line shared by the source and the restored VM, then
 * `extra` (NULL-terminated). */
static void qemu_argv(char **argv, size_t cap, const struct guest_case *g, char *mem,
                      char *const *extra)
{
    snprintf(mem, 32, "%uM", g->ram_mib);
    char *const base[] = { QEMU, "-M", "microvm", "-enable-kvm", "-cpu", "max,-arch-capabilities",
                           "-m", mem, "-nodefaults", "-no-user-config", "-display", "none",
                           "-serial", "stdio", "-kernel", g->guest,
                           "-global", "migration.store-global-state=off" };
    size_t n = sizeof base / sizeof base[0];
    memcpy(argv, base, sizeof base);
    while (*extra && n < cap - 1)
        argv[n++] = *extra++;
    argv[n] = NULL;
}

static void qemu_boot(struct source *s, const struct guest_case *g)
{
    char mem[32], reply[1024], *argv[32];
    /* QMP on the listening socket passed as fd 3. */
    char *const qmp[] = { "-chardev", "socket,id=qmp,fd=3,server=on,wait=off",
                          "-mon", "chardev=qmp,mode=control", NULL };
    qemu_argv(argv, 32, g, mem, qmp);
    s->is_qemu = true;
    source_boot(s, "qemu (source)", argv, control_socket(&s->ctl), g);
    conn_read(&s->ctl, qmp_line);    /* the greeting */
    conn_consume(&s->ctl, qmp_line(&s->ctl));
    qmp_call(&s->ctl, "{\"execute\":\"qmp_capabilities\"}\n", -1, reply, sizeof reply);
    /* No bandwidth cap: QEMU's default would throttle the copy. */
    qmp_call(&s->ctl, "{\"execute\":\"migrate-set-parameters\",\"arguments\":"
             "{\"max-bandwidth\":1099511627776}}\n", -1, reply, sizeof reply);
}

/* Snapshot r of a running QEMU: stop, migrate to a file handed over by
 * getfd, poll until complete, fsync; leaves it stopped. */
static void qemu_snapshot(struct source *s, int r)
{
    char file[PATH_MAX], reply[1024];
    snprintf(file, sizeof file, "%s/qemu-%d", workdir, r);
    double t0 = now_ms();
    source_pause(s);
    int fd = open(file, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd < 0)
        fail("%s: %s", file, strerror(errno));
    qmp_call(&s->ctl, "{\"execute\":\"getfd\",\"arguments\":{\"fdname\":\"mig\"}}\n", fd, reply,
             sizeof reply);
    qmp_call(&s->ctl, "{\"execute\":\"migrate\",\"arguments\":{\"uri\":\"fd:mig\"}}\n", -1, reply,
             sizeof reply);
    for (;;) {
        qmp_call(&s->ctl, "{\"execute\":\"query-migrate\"}\n", -1, reply, sizeof reply);
        if (strstr(reply, "\"status\": \"completed\""))
            break;
        if (strstr(reply, "\"status\": \"failed\"") || strstr(reply, "\"status\": \"cancelled\""))
            fail("QEMU's migration to %s: %s", file, reply);
        usleep(1000);
    }
    if (fsync(fd) < 0)
        fail("fsync %s: %s", file, strerror(errno));
    close(fd);
    s->snap_ms[r] = now_ms() - t0;
    s->size[r] = disk_bytes(file);
}

static void source_stop(struct source *s)
{
    close(s->ctl.fd);
    child_stop(&s->c);
}

/* One restore: ms from fork+exec to the first heartbeat. */
static double restore_once(const char *name, char *const argv[], int pass_fd)
{
    struct child c;
    child_start(&c, name, argv, pass_fd);
    double t = child_wait_byte(&c, HEARTBEAT, RESTORE_TIMEOUT_MS, true);
    child_stop(&c);
    return t;
}

static void run_case(const char *kvmbox, bool have_qemu, const struct guest_case *g, int runs)
{
    /* Each source is paused while the other boots or is measured, so
     * that neither's spinning guest takes a CPU from the other; the
     * snapshots take turns so that drift (the disk's write-back, other
     * load) hits both alike. */
    struct source k, q;
    kvmbox_boot(&k, kvmbox, g);
    source_pause(&k);
    if (have_qemu) {
        qemu_boot(&q, g);
        source_pause(&q);
    }
    for (int r = 0; r < runs; r++) {
        source_resume(&k);
        kvmbox_snapshot(&k, r);
        if (have_qemu) {
            source_resume(&q);
            qemu_snapshot(&q, r);
        }
    }
    source_stop(&k);
    if (have_qemu)
        source_stop(&q);

    /* Restores, taking turns. */
    double copy[MAX_RUNS], ondemand[MAX_RUNS], qemu[MAX_RUNS];
    char src[PATH_MAX + 64], src_od[PATH_MAX + 64], file[PATH_MAX], mem[32], *qargv[32];
    snprintf(src, sizeof src, "source_url=file://%s/kvmbox-0,resume=on,memory_restore_mode=copy",
             workdir);
    snprintf(src_od, sizeof src_od,
             "source_url=file://%s/kvmbox-0,resume=on,memory_restore_mode=ondemand", workdir);
    snprintf(file, sizeof file, "%s/qemu-0", workdir);
    char *kargv[] = { (char *)kvmbox, "run", "--restore", src, NULL };
    char *kargv_od[] = { (char *)kvmbox, "run", "--restore", src_od, NULL };
    char *const incoming[] = { "-incoming", "fd:3", NULL };
    qemu_argv(qargv, 32, g, mem, incoming);
    for (int r = 0; r < runs; r++) {
        copy[r] = restore_once("kvmbox --restore (copy)", kargv, -1);
        ondemand[r] = restore_once("kvmbox --restore (ondemand)", kargv_od, -1);
        if (have_qemu) {
            int fd = open(file, O_RDONLY | O_CLOEXEC);
            if (fd < 0)
                fail("%s: %s", file, strerror(errno));
            qemu[r] = restore_once("qemu -incoming", qargv, fd);
            close(fd);
        }
    }

    double touched = g->touch_mib * 1048576.0;
    printf("%u MiB of RAM, %u MiB touched (touching took %.1f s under kvmbox", g->ram_mib,
           g->touch_mib, k.touch_ms / 1e3);
    if (have_qemu)
        printf(", %.1f s under QEMU", q.touch_ms / 1e3);
    printf("); a heartbeat every %.2f ms\n", k.heartbeat_ms);
    printf("  %-34s %13s %12s %11s\n", "", "kvmbox", have_qemu ? "QEMU" : "",
           have_qemu ? "kvmbox/QEMU" : "");
    struct { const char *name; double kv, qv; const char *unit; double scale; } row[] = {
        { "snapshot time (pause to durable)", median(k.snap_ms, runs),
          have_qemu ? median(q.snap_ms, runs) : 0, "ms", 1 },
        { "snapshot size on disk", median(k.size, runs), have_qemu ? median(q.size, runs) : 0,
          "MiB", 1048576 },
        { "restore to running, copy", median(copy, runs), have_qemu ? median(qemu, runs) : 0,
          "ms", 1 },
        { "restore to running, ondemand", median(ondemand, runs),
          have_qemu ? median(qemu, runs) : 0, "ms", 1 },
    };
    for (size_t i = 0; i < sizeof row / sizeof row[0]; i++) {
        printf("  %-34s %9.2f %-3s", row[i].name, row[i].kv / row[i].scale, row[i].unit);
        if (have_qemu)
            printf(" %8.2f %-3s %11.3f", row[i].qv / row[i].scale, row[i].unit,
                   row[i].kv / row[i].qv);
        if (i == 1) {
            double over = (row[i].kv - touched) / 1024;
            printf("   kvmbox: touched %+.0f KiB (goal: a few KiB, <= %d: %s)", over, FEW_KIB,
                   over <= FEW_KIB ? "holds" : "MISSED");
        } else if (i >= 2 && have_qemu) {
            double ratio = row[i].kv / row[i].qv;
            printf("   (goal: <= 0.50: %s)", ratio <= 0.5 ? "holds" : "MISSED");
        }
        printf("\n");
    }

    /* The next case starts with an empty working directory. */
    for (int r = 0; r < runs; r++) {
        char path[PATH_MAX];
        snprintf(path, sizeof path, "%s/kvmbox-%d", workdir, r);
        nftw(path, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
        snprintf(path, sizeof path, "%s/qemu-%d", workdir, r);
        unlink(path);
    }
}

int main(int argc, char **argv)
{
    if (argc < 5) {
        fprintf(stderr, "usage: snapshot KVMBOX RUNS GUEST_DIR RAM_MIB:TOUCH_MIB...\n");
        return 1;
    }
    const char *kvmbox = argv[1];
    int runs = atoi(argv[2]);
    if (runs < 1 || runs > MAX_RUNS) {
        fprintf(stderr, "bench/snapshot: RUNS is 1 to %d\n", MAX_RUNS);
        return 1;
    }
    int ncases = argc - 4;
    struct guest_case *cases = calloc((size_t)ncases, sizeof *cases);
    if (!cases)
        return 1;
    for (int i = 0; i < ncases; i++) {
        struct guest_case *g = &cases[i];
        char end;
        if (sscanf(argv[4 + i], "%u:%u%c", &g->ram_mib, &g->touch_mib, &end) != 2 ||
            16 + g->touch_mib > g->ram_mib || 16 + g->touch_mib > 3072) {
            fprintf(stderr, "bench/snapshot: '%s': expected RAM_MIB:TOUCH_MIB, the touched "
                    "memory (from 16 MiB up) inside RAM and below 3 GiB\n", argv[4 + i]);
            return 1;
        }
        if (asprintf(&g->guest, "%s/mem-dirty-%u.elf", argv[3], g->touch_mib) < 0)
            return 1;
        if (access(g->guest, R_OK) < 0) {
            fprintf(stderr, "bench/snapshot: %s: %s (make %s)\n", g->guest, strerror(errno),
                    g->guest);
            return 1;
        }
    }
    if (access(kvmbox, X_OK) < 0) {
        fprintf(stderr, "bench/snapshot: %s is missing (make all)\n", kvmbox);
        return 1;
    }

    const char *tmp = getenv("TMPDIR");
    int len = snprintf(workdir, sizeof workdir, "%s/kvmbox-bench-snapshot-XXXXXX",
                       tmp && *tmp ? tmp : "/tmp");
    if (len < 0 || (size_t)len >= sizeof workdir) {
        fprintf(stderr, "bench/snapshot: TMPDIR is too long for a working directory\n");
        return 1;
    }
    if (!mkdtemp(workdir)) {
        fprintf(stderr, "bench/snapshot: %s: %s\n", workdir, strerror(errno));
        workdir[0] = '\0';
        return 1;
    }
    atexit(cleanup);
    struct sigaction sa = { .sa_handler = on_signal };    /* no SA_RESTART: poll returns */
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGHUP, &sa, NULL);
    setvbuf(stdout, NULL, _IOLBF, 0);

    bool have_qemu = access(QEMU, X_OK) == 0;
    printf("bench-snapshot: kvmbox against QEMU -M microvm on the same guest, median of %d; "
           "snapshots in %s (page cache warm for both)\n", runs, workdir);
    if (!have_qemu)
        printf("  %s not usable here: no peer figures (make deps installs it)\n", QEMU);
    for (int i = 0; i < ncases; i++)
        run_case(kvmbox, have_qemu, &cases[i], runs);
    for (int i = 0; i < ncases; i++)
        free(cases[i].guest);
    free(cases);
    return 0;
}
