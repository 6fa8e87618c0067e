/* VMM processes and their control connections for the benchmarks; see
 * vmm_proc.h. */
#define _GNU_SOURCE
#include "vmm_proc.h"

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
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

#define MAX_CHILDREN 8

/* ---- the one piece of state the signal handler needs */

/* The children alive now. */
static volatile pid_t live[MAX_CHILDREN];
static volatile sig_atomic_t interrupted;
char bench_workdir[256];     /* bounded, so paths under it always fit */
static char prefix[64];

static void on_signal(int sig)
{
    (void)sig;
    interrupted = 1;
    for (size_t i = 0; i < MAX_CHILDREN; i++)
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
    for (size_t i = 0; i < MAX_CHILDREN; i++)
        if (live[i] > 0) {
            kill(live[i], SIGKILL);
            waitpid(live[i], NULL, 0);
            live[i] = 0;
        }
    if (bench_workdir[0])
        nftw(bench_workdir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

void fail(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "%s", prefix);
    vfprintf(stderr, fmt, ap);
    fprintf(stderr, "\n");
    va_end(ap);
    exit(1);    /* cleanup() runs from atexit */
}

void bench_setup(const char *name)
{
    snprintf(prefix, sizeof prefix, "bench/%s: ", name);
    const char *tmp = getenv("TMPDIR");
    int len = snprintf(bench_workdir, sizeof bench_workdir, "%s/kvmbox-bench-%s-XXXXXX",
                       tmp && *tmp ? tmp : "/tmp", name);
    if (len < 0 || (size_t)len >= sizeof bench_workdir) {
        bench_workdir[0] = '\0';
        fail("TMPDIR is too long for a working directory");
    }
    if (!mkdtemp(bench_workdir)) {
        int e = errno;
        bench_workdir[0] = '\0';
        fail("%s: %s", bench_workdir, strerror(e));
    }
    atexit(cleanup);
    struct sigaction sa = { .sa_handler = on_signal };    /* no SA_RESTART: poll returns */
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGHUP, &sa, NULL);
    setvbuf(stdout, NULL, _IOLBF, 0);
}

double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

int wait_fd(int fd, short events, double deadline)
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

void bench_sleep(double ms)
{
    double deadline = now_ms() + ms;
    for (double left = ms; left > 0; left = deadline - now_ms()) {
        if (interrupted)
            fail("interrupted");
        poll(NULL, 0, (int)left + 1);
    }
    if (interrupted)
        fail("interrupted");
}

/* ---- children */

void child_start(struct child *c, const char *name, char *const argv[], int pass_fd)
{
    int p[2];
    c->name = name;
    if (pipe2(p, O_CLOEXEC) < 0 || (c->err = memfd_create("stderr", MFD_CLOEXEC)) < 0)
        fail("pipe/memfd: %s", strerror(errno));
    c->out = p[0];
    size_t slot = 0;
    while (slot < MAX_CHILDREN && live[slot] > 0)
        slot++;
    if (slot == MAX_CHILDREN)
        fail("more than %d VMM processes at a time", MAX_CHILDREN);
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
        execvp(argv[0], argv);
        dprintf(2, "exec %s: %s\n", argv[0], strerror(errno));
        _exit(127);
    }
    close(p[1]);
    live[slot] = c->pid;
}

void child_stop(struct child *c)
{
    kill(c->pid, SIGKILL);
    waitpid(c->pid, NULL, 0);
    for (size_t i = 0; i < MAX_CHILDREN; i++)
        if (live[i] == c->pid)
            live[i] = 0;
    close(c->out);
    close(c->err);
}

size_t child_stderr(struct child *c, char *buf, size_t cap)
{
    off_t size = lseek(c->err, 0, SEEK_END);
    off_t from = size > (off_t)cap - 1 ? size - (off_t)cap + 1 : 0;
    ssize_t n = pread(c->err, buf, cap - 1, from);
    buf[n > 0 ? n : 0] = '\0';
    return n > 0 ? (size_t)n : 0;
}

void child_fail(struct child *c, const char *fmt, ...)
{
    char what[256], tail[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(what, sizeof what, fmt, ap);
    va_end(ap);
    size_t n = child_stderr(c, tail, sizeof tail);
    fail("%s: %s%s%s", c->name, what, n > 0 ? "; its stderr:\n" : "", tail);
}

double child_wait_byte(struct child *c, char want, double timeout_ms, bool no_boot)
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

void child_drain(struct child *c)
{
    char buf[65536];
    struct pollfd p = { .fd = c->out, .events = POLLIN };
    while (poll(&p, 1, 0) == 1 && read(c->out, buf, sizeof buf) > 0)
        ;
}

/* ---- control connections */

void conn_send(struct conn *c, const char *msg, int fd)
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
static size_t http_head(const struct conn *c, size_t *body)
{
    const char *end = strstr(c->buf, "\r\n\r\n");
    if (!end)
        return 0;
    const char *cl = strcasestr(c->buf, "\r\nContent-Length:");
    *body = cl && cl < end ? strtoul(cl + 17, NULL, 10) : 0;
    return (size_t)(end - c->buf) + 4;
}

static size_t http_whole(const struct conn *c)
{
    size_t body, head = http_head(c, &body);
    return head && c->len >= head + body ? head + body : 0;
}

void http_send(struct conn *c, const char *method, const char *what, const char *body)
{
    char req[1024];
    snprintf(req, sizeof req, "%s /api/v1/%s HTTP/1.1\r\nHost: localhost\r\n"
             "Content-Type: application/json\r\nContent-Length: %zu\r\n\r\n%s", method, what,
             strlen(body), body);
    conn_send(c, req, -1);
}

int http_answer(struct conn *c, char *body, size_t cap)
{
    size_t n = conn_read(c, http_whole), blen, head = http_head(c, &blen);
    int status = 0;
    sscanf(c->buf, "HTTP/1.1 %3d", &status);
    if (body)
        snprintf(body, cap, "%.*s", (int)blen, c->buf + head);
    conn_consume(c, n);
    return status;
}

void http_put(struct conn *c, const char *what, const char *body)
{
    char answer[1024];
    http_send(c, "PUT", what, body);
    int status = http_answer(c, answer, sizeof answer);
    if (status != 204)
        fail("kvmbox: PUT %s: %d %s", what, status, answer);
}

/* A QMP line. */
static size_t qmp_line(const struct conn *c)
{
    const char *nl = strchr(c->buf, '\n');
    return nl ? (size_t)(nl - c->buf) + 1 : 0;
}

void qmp_call(struct conn *c, const char *cmd, int fd, char *reply, size_t cap)
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

void qmp_start(struct conn *c)
{
    char reply[256];
    conn_read(c, qmp_line);    /* the greeting */
    conn_consume(c, qmp_line(c));
    qmp_call(c, "{\"execute\":\"qmp_capabilities\"}\n", -1, reply, sizeof reply);
}

int control_socket(struct conn *c)
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

const char *qemu_path(void)
{
    const char *q = getenv("QEMU");
    return q && *q ? q : QEMU_DEFAULT;
}

void qemu_argv(char **argv, size_t cap, unsigned ram_mib, const char *kernel, char *mem,
               char *const *extra)
{
    snprintf(mem, 32, "%uM", ram_mib);
    char *const base[] = { (char *)qemu_path(), "-M", "microvm", "-enable-kvm", "-cpu", "max,-arch-capabilities",
                           "-m", mem, "-nodefaults", "-no-user-config", "-display", "none",
                           "-serial", "stdio", "-kernel", (char *)kernel,
                           "-global", "migration.store-global-state=off" };
    size_t n = sizeof base / sizeof base[0];
    if (n >= cap)
        fail("qemu_argv: no room for the command line");
    memcpy(argv, base, sizeof base);
    while (*extra && n < cap - 1)
        argv[n++] = *extra++;
    argv[n] = NULL;
}

int bench_args(int argc, char **argv, const char *name, const char *cases, int max_runs,
               const char **kvmbox, int *runs)
{
    if (argc < 5) {
        fprintf(stderr, "usage: %s KVMBOX RUNS GUEST_DIR %s...\n", name, cases);
        exit(1);
    }
    *kvmbox = argv[1];
    *runs = atoi(argv[2]);
    if (*runs < 1 || *runs > max_runs) {
        fprintf(stderr, "bench/%s: RUNS is 1 to %d\n", name, max_runs);
        exit(1);
    }
    return argc - 4;
}
