/* bench/api: what kvmbox's control API costs, next to floors measured in
 * the same run (these machines are noisy: the ratios are the figures).
 *
 *   api KVMBOX GUEST IDLE_GUEST [PINGS [CYCLES]]
 *
 * Ping: the round trip of GET /api/v1/vmm.ping on one keep-alive
 * connection, median and p99 over PINGS (2000), each next to the floor:
 * the same request bytes echoed back over a Unix socket by a thread of
 * this process. The ratio is what HTTP parsing, the JSON answer and
 * kvmbox's main loop add to a bare socket round trip.
 *
 * Pause and resume: from sending PUT vm.pause to its 204, and the same for
 * vm.resume, minimum, median and maximum over CYCLES (50), with 1, 8 and
 * 32 vCPUs.
 * GUEST boots with "spin": vCPU 0 loops in guest code, the others wait in
 * KVM_RUN for a SIPI that never comes, so a pause finds one vCPU running
 * the guest and the rest blocked in the kernel. The floor is the ping
 * round trip of the same VMM, what any request costs; the rest is parking
 * the vCPUs and quiescing the devices, or restarting them.
 *
 * Footprint: the VMM's own memory as `make bench` reports it (peak RSS
 * less the guest RAM touched, bench/footprint.c), IDLE_GUEST idle in
 * 512 MiB, without and with --api-socket (after one ping, so the API has
 * served and its connection is still open), median of 5 each; and whether
 * issue 11's limits hold: the API adds at most 0.5 MiB and the total
 * stays at or under 2.0 MiB.
 *
 * kvmbox gets its API socket as `--api-socket fd=N`: a socket bound here
 * to an autobound abstract address and already listening, so there is no
 * file to clean up and the client can connect before kvmbox serves. Each
 * kvmbox is killed on every way out of this program, and dies with it
 * anyway (PR_SET_PDEATHSIG) if this program is killed. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "footprint.h"

#define RAM_MIB 512            /* the guest RAM of `make bench`'s idle guest */
#define CALL_TIMEOUT_MS 30000  /* a request unanswered this long is an error */
#define BOOT_TIMEOUT_MS 120000 /* guest code is emulated on some hosts: slow */
#define FOOTPRINT_RUNS 5

static double now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e6 + ts.tv_nsec / 1e3;
}

/* Waits until fd is ready for `events` or the deadline (now_us) passes. */
static int wait_fd(int fd, short events, double deadline)
{
    for (;;) {
        double left = deadline - now_us();
        if (left <= 0)
            return -1;
        struct pollfd p = { .fd = fd, .events = events };
        int n = poll(&p, 1, (int)(left / 1000) + 1);
        if (n > 0)
            return 0;
        if (n < 0 && errno != EINTR)
            return -1;
    }
}

static int send_all(int fd, const void *buf, size_t len, double deadline)
{
    const char *p = buf;
    while (len) {
        if (wait_fd(fd, POLLOUT, deadline) < 0)
            return -1;
        ssize_t n = send(fd, p, len, MSG_NOSIGNAL | MSG_DONTWAIT);
        if (n < 0 && (errno == EAGAIN || errno == EINTR))
            continue;
        if (n <= 0)
            return -1;
        p += n;
        len -= (size_t)n;
    }
    return 0;
}

/* Reads what is there (at least a byte) into buf from a socket or a pipe;
 * 0 at end of stream. */
static ssize_t recv_some(int fd, void *buf, size_t len, double deadline)
{
    for (;;) {
        if (wait_fd(fd, POLLIN, deadline) < 0) {
            errno = ETIMEDOUT;
            return -1;
        }
        ssize_t n = read(fd, buf, len);
        if (n >= 0 || errno != EINTR)
            return n;
    }
}

/* ---- the HTTP client: one request at a time on a keep-alive connection */

/* Sends a request and reads its answer: the status line, the headers up to
 * the blank line, then Content-Length bytes of body (the server sends the
 * header with every answer that has a body). Up to bodycap - 1 bytes of
 * the body are kept in `body`, NUL-terminated. Returns the status, or -1
 * with `err` saying why. */
static int http_call(int fd, const char *req, char *body, size_t bodycap, char *err, size_t errlen)
{
    double deadline = now_us() + CALL_TIMEOUT_MS * 1e3;
    if (send_all(fd, req, strlen(req), deadline) < 0) {
        snprintf(err, errlen, "sending the request: %s", strerror(errno));
        return -1;
    }
    char buf[4096 + 1];
    size_t got = 0;
    char *end = NULL;
    while (!end) {
        if (got == sizeof buf - 1) {
            snprintf(err, errlen, "the response's headers are longer than %zu bytes", got);
            return -1;
        }
        ssize_t n = recv_some(fd, buf + got, sizeof buf - 1 - got, deadline);
        if (n <= 0) {
            snprintf(err, errlen, "%s", n == 0 ? "kvmbox closed the connection"
                                   : errno == ETIMEDOUT ? "no answer within 30 s"
                                                        : strerror(errno));
            return -1;
        }
        got += (size_t)n;
        end = memmem(buf, got, "\r\n\r\n", 4);
    }
    size_t hlen = (size_t)(end - buf) + 4, have = got - hlen;
    end[2] = '\0';                       /* the headers as a string, last CRLF kept */
    int status;
    if (sscanf(buf, "HTTP/1.1 %3d", &status) != 1) {
        snprintf(err, errlen, "not an HTTP/1.1 status line: %.40s", buf);
        return -1;
    }
    size_t clen = 0;
    const char *cl = strcasestr(buf, "\r\nContent-Length:");
    if (cl)
        clen = strtoul(cl + 17, NULL, 10);
    if (have > clen) {
        snprintf(err, errlen, "%zu bytes more than the response's Content-Length", have - clen);
        return -1;
    }
    /* The body: what came with the headers, then the rest. */
    size_t kept = 0;
    const char *src = end + 4;
    for (size_t left = clen;;) {
        size_t take = have < bodycap - 1 - kept ? have : bodycap - 1 - kept;
        memcpy(body + kept, src, take);
        kept += take;
        left -= have;
        if (!left)
            break;
        ssize_t n = recv_some(fd, buf, left < sizeof buf ? left : sizeof buf, deadline);
        if (n <= 0) {
            snprintf(err, errlen, "the body ended early: %s",
                     n == 0 ? "connection closed" : strerror(errno));
            return -1;
        }
        src = buf;
        have = (size_t)n;
    }
    body[kept] = '\0';
    return status;
}

static const char PING[] = "GET /api/v1/vmm.ping HTTP/1.1\r\nHost: localhost\r\n\r\n";
static const char PAUSE[] = "PUT /api/v1/vm.pause HTTP/1.1\r\nHost: localhost\r\n"
                            "Content-Length: 0\r\n\r\n";
static const char RESUME[] = "PUT /api/v1/vm.resume HTTP/1.1\r\nHost: localhost\r\n"
                             "Content-Length: 0\r\n\r\n";

/* ---- the floor: a bare Unix-socket round trip */

static void *echo_thread(void *arg)
{
    int fd = (int)(intptr_t)arg;
    char buf[4096];
    ssize_t n;
    while ((n = read(fd, buf, sizeof buf)) > 0)
        if (send_all(fd, buf, (size_t)n, now_us() + CALL_TIMEOUT_MS * 1e3) < 0)
            break;
    close(fd);
    return NULL;
}

/* One round trip of the ping request's bytes through the echo thread. */
static int echo_call(int fd)
{
    double deadline = now_us() + CALL_TIMEOUT_MS * 1e3;
    size_t len = sizeof PING - 1, got = 0;
    char buf[sizeof PING];
    if (send_all(fd, PING, len, deadline) < 0)
        return -1;
    while (got < len) {
        ssize_t n = recv_some(fd, buf + got, len - got, deadline);
        if (n <= 0)
            return -1;
        got += (size_t)n;
    }
    return 0;
}

/* ---- one kvmbox */

struct vmm {
    pid_t pid;
    int out;      /* its stdout, a pipe */
    int err;      /* its stderr, a memfd read back when something fails */
    int api;      /* our connection to its API, or -1 */
};

static void vmm_stop(struct vmm *v)
{
    if (v->pid > 0) {
        kill(v->pid, SIGKILL);
        waitpid(v->pid, NULL, 0);
    }
    if (v->api >= 0)
        close(v->api);
    close(v->out);
    close(v->err);
    *v = (struct vmm){ .pid = -1, .out = -1, .err = -1, .api = -1 };
}

/* Says what went wrong, with the end of kvmbox's stderr, kills it and
 * exits. */
static void __attribute__((noreturn, format(printf, 2, 3))) fail(struct vmm *v, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "bench/api: ");
    vfprintf(stderr, fmt, ap);
    fprintf(stderr, "\n");
    va_end(ap);
    if (v && v->pid > 0) {
        kill(v->pid, SIGKILL);
        waitpid(v->pid, NULL, 0);
        v->pid = -1;
        char tail[2048];
        off_t size = lseek(v->err, 0, SEEK_END);
        off_t from = size > (off_t)sizeof tail - 1 ? size - (off_t)sizeof tail + 1 : 0;
        ssize_t n = pread(v->err, tail, sizeof tail - 1, from);
        if (n > 0) {
            tail[n] = '\0';
            fprintf(stderr, "kvmbox's stderr%s:\n%s", from ? " (the end)" : "", tail);
        }
        vmm_stop(v);
    }
    exit(1);
}

/* Starts `kvmbox run` on guest with `cpus` vCPUs and, with `api`, an API
 * socket that v->api is already connected to. */
static void vmm_start(struct vmm *v, const char *kvmbox, const char *guest, const char *cmdline,
                      unsigned cpus, bool api)
{
    *v = (struct vmm){ .pid = -1, .out = -1, .err = -1, .api = -1 };
    int p[2], lfd = -1;
    if (pipe2(p, O_CLOEXEC) < 0 || (v->err = memfd_create("kvmbox-stderr", MFD_CLOEXEC)) < 0)
        fail(NULL, "pipe/memfd: %s", strerror(errno));
    v->out = p[0];
    char cpus_s[16], fd_s[32] = "";
    snprintf(cpus_s, sizeof cpus_s, "%u", cpus);
    if (api) {
        /* Autobind (an address of just the family) picks a free abstract name. */
        struct sockaddr_un a = { .sun_family = AF_UNIX };
        socklen_t alen = sizeof(sa_family_t);
        lfd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (lfd < 0 || bind(lfd, (struct sockaddr *)&a, alen) < 0 || listen(lfd, 4) < 0 ||
            (alen = sizeof a, getsockname(lfd, (struct sockaddr *)&a, &alen)) < 0)
            fail(NULL, "the API socket: %s", strerror(errno));
        v->api = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        /* Queued in the backlog until kvmbox accepts it. */
        if (v->api < 0 || connect(v->api, (struct sockaddr *)&a, alen) < 0)
            fail(NULL, "connecting to the API socket: %s", strerror(errno));
        snprintf(fd_s, sizeof fd_s, "fd=%d", lfd);
    }
    char *argv[] = { (char *)kvmbox, "run", "--kernel", (char *)guest, "--memory", "512M",
                     "--cmdline", (char *)cmdline, "--cpus", cpus_s,
                     api ? "--api-socket" : NULL, fd_s, NULL };
    pid_t parent = getpid();
    v->pid = fork();
    if (v->pid < 0)
        fail(NULL, "fork: %s", strerror(errno));
    if (v->pid == 0) {
        /* Dies with this program, whichever way it ends. */
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        if (getppid() != parent)
            _exit(127);
        int null = open("/dev/null", O_RDONLY);
        if (null < 0 || dup2(null, 0) < 0 || dup2(p[1], 1) < 0 || dup2(v->err, 2) < 0 ||
            (lfd >= 0 && fcntl(lfd, F_SETFD, 0) < 0))
            _exit(127);
        execv(kvmbox, argv);
        dprintf(2, "exec %s: %s\n", kvmbox, strerror(errno));
        _exit(127);
    }
    close(p[1]);
    if (lfd >= 0)
        close(lfd);
}

/* Reads kvmbox's output until `mark` appears. */
static void vmm_wait_output(struct vmm *v, const char *mark)
{
    double deadline = now_us() + BOOT_TIMEOUT_MS * 1e3;
    size_t want = strlen(mark), matched = 0;
    char buf[4096];
    while (matched < want) {
        ssize_t n = recv_some(v->out, buf, sizeof buf, deadline);
        if (n <= 0)
            fail(v, "the guest did not print \"%s\" %s", mark,
                 n == 0 ? "(kvmbox exited)" : "within 120 s");
        /* A naive match is enough: no mark repeats its first byte. */
        for (ssize_t i = 0; i < n && matched < want; i++)
            matched = buf[i] == mark[matched] ? matched + 1 : buf[i] == mark[0];
    }
}

/* One request that must get `want`; fails the run otherwise. */
static void vmm_call(struct vmm *v, const char *req, int want)
{
    char body[512], err[128];
    int st = http_call(v->api, req, body, sizeof body, err, sizeof err);
    if (st < 0)
        fail(v, "%.*s: %s", (int)strcspn(req, "\r"), req, err);
    if (st != want)
        fail(v, "%.*s: status %d (expected %d): %s", (int)strcspn(req, "\r"), req, st, want, body);
}

/* ---- figures */

static int cmp(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

struct stats {
    double min, median, p99, max;
};

static struct stats stats_of(double *v, int n)
{
    qsort(v, (size_t)n, sizeof *v, cmp);
    int i99 = (99 * n + 99) / 100 - 1;     /* the ceiling of 0.99 n, less one */
    return (struct stats){ v[0], v[n / 2], v[i99 < 0 ? 0 : i99], v[n - 1] };
}

/* Times `n` pings and, with echo_fd, `n` floor round trips, taking turns,
 * so that drift in the machine's speed hits both alike. */
static void time_pings(struct vmm *v, int echo_fd, int n, double *ping, double *floor_)
{
    for (int i = 0; i < n; i++) {
        double t0 = now_us();
        if (echo_fd >= 0 && echo_call(echo_fd) < 0)
            fail(v, "the echo floor: %s", strerror(errno));
        double t1 = now_us();
        vmm_call(v, PING, 200);
        double t2 = now_us();
        if (floor_)
            floor_[i] = t1 - t0;
        ping[i] = t2 - t1;
    }
}

int main(int argc, char **argv)
{
    if (argc < 4) {
        fprintf(stderr, "usage: api KVMBOX GUEST IDLE_GUEST [PINGS [CYCLES]]\n");
        return 1;
    }
    const char *kvmbox = argv[1], *guest = argv[2], *idle_guest = argv[3];
    int pings = argc > 4 ? atoi(argv[4]) : 2000;
    int cycles = argc > 5 ? atoi(argv[5]) : 50;
    int floor_pings = pings < 200 ? pings : 200;
    if (pings < 1 || cycles < 1) {
        fprintf(stderr, "bench/api: PINGS and CYCLES are at least 1\n");
        return 1;
    }
    if (access(kvmbox, X_OK) < 0 || access(guest, R_OK) < 0 || access(idle_guest, R_OK) < 0) {
        fprintf(stderr, "bench/api: %s, %s or %s is missing (make all guests)\n", kvmbox, guest,
                idle_guest);
        return 1;
    }

    /* Each figure as it is measured, through `make` too. */
    setvbuf(stdout, NULL, _IOLBF, 0);

    /* The floor's server: a thread echoing one end of a socket pair. */
    int sp[2];
    pthread_t echo;
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sp) < 0 ||
        pthread_create(&echo, NULL, echo_thread, (void *)(intptr_t)sp[1]) != 0) {
        fprintf(stderr, "bench/api: the echo floor: %s\n", strerror(errno));
        return 1;
    }
    pthread_detach(echo);

    double *ping = calloc((size_t)pings, sizeof *ping), *floor_ = calloc((size_t)pings, sizeof *floor_);
    double *pause_t = calloc((size_t)cycles, sizeof *pause_t);
    double *resume_t = calloc((size_t)cycles, sizeof *resume_t);
    if (!ping || !floor_ || !pause_t || !resume_t)
        fail(NULL, "out of memory");

    printf("bench-api: kvmbox's control API, HTTP/1.1 on a Unix socket, one keep-alive connection\n");
    static const unsigned cpus[] = { 1, 8, 32 };
    struct { double ping; struct stats pause, resume; } row[3];
    struct vmm v;
    for (size_t c = 0; c < 3; c++) {
        vmm_start(&v, kvmbox, guest, "spin", cpus[c], true);
        vmm_wait_output(&v, "spin: running");
        int warm = pings / 10 + 1;
        time_pings(&v, sp[0], warm < pings ? warm : pings, ping, floor_);   /* warm-up */
        if (c == 0) {
            time_pings(&v, sp[0], pings, ping, floor_);
            struct stats p = stats_of(ping, pings), f = stats_of(floor_, pings);
            printf("ping: GET /api/v1/vmm.ping, request to complete answer, %d round trips "
                   "(1 vCPU), each next to the floor\n", pings);
            printf("  %-44s median %8.1f us   p99 %8.1f us\n",
                   "floor: the request's bytes echoed by a thread", f.median, f.p99);
            printf("  %-44s median %8.1f us   p99 %8.1f us   %.2fx / %.2fx the floor\n",
                   "kvmbox vmm.ping", p.median, p.p99, p.median / f.median, p.p99 / f.p99);
        }
        /* The pause/resume floor: this VMM's own ping round trip. */
        time_pings(&v, -1, floor_pings, ping, NULL);
        row[c].ping = stats_of(ping, floor_pings).median;
        for (int i = 0; i < cycles; i++) {
            /* A moment between operations, so that each pause finds the
             * vCPUs back in the guest and each resume a settled pause. */
            usleep(20 * 1000);
            double t0 = now_us();
            vmm_call(&v, PAUSE, 204);
            pause_t[i] = now_us() - t0;
            usleep(20 * 1000);
            t0 = now_us();
            vmm_call(&v, RESUME, 204);
            resume_t[i] = now_us() - t0;
        }
        row[c].pause = stats_of(pause_t, cycles);
        row[c].resume = stats_of(resume_t, cycles);
        vmm_stop(&v);
    }
    printf("pause and resume: PUT to 204, %d cycles each; guest \"spin\" (vCPU 0 in guest code, "
           "the others waiting for a SIPI);\n  floor: the vmm.ping round trip of the same VMM "
           "(median of %d); host: %ld CPUs online\n", cycles, floor_pings,
           sysconf(_SC_NPROCESSORS_ONLN));
    printf("  %5s %9s %28s %28s %18s\n", "vCPUs", "ping", "pause min / median / max",
           "resume min / median / max", "medians / ping");
    for (size_t c = 0; c < 3; c++) {
        const struct stats *p = &row[c].pause, *r = &row[c].resume;
        printf("  %5u %6.1f us %7.0f / %7.0f / %7.0f us %7.0f / %7.0f / %7.0f us %7.1fx %7.1fx\n",
               cpus[c], row[c].ping, p->min, p->median, p->max, r->min, r->median, r->max,
               p->median / row[c].ping, r->median / row[c].ping);
    }
    printf("  (the client, or kvmbox's main thread, may have to wait for a CPU that a resumed vCPU "
           "is running guest code on,\n   up to a scheduler tick: with few host CPUs that shows in "
           "the medians and maxima, not in the minima)\n");
    /* From the minima: delays (a busy CPU, a scheduler tick) only add. A
     * resume wakes every vCPU with one broadcast: only a pause does work
     * per vCPU (a kick, then waiting for it to park). */
    printf("  each vCPU beyond the first adds %.1f us to a pause (minima, 32 vs 1)\n",
           (row[2].pause.min - row[0].pause.min) / 31);

    /* Footprint: with and without the API in turns, as `make bench`
     * measures its idle guest (the guest has written its byte, then half a
     * second of idling). */
    double hwm[2][FOOTPRINT_RUNS], ram[2][FOOTPRINT_RUNS];
    for (int r = 0; r < FOOTPRINT_RUNS; r++)
        for (int with_api = 0; with_api < 2; with_api++) {
            vmm_start(&v, kvmbox, idle_guest, "spin", 1, with_api);
            vmm_wait_output(&v, "K");
            if (with_api)
                vmm_call(&v, PING, 200);
            usleep(500 * 1000);
            struct mem_use m;
            if (mem_use(v.pid, RAM_MIB, &m) < 0)
                fail(&v, "reading /proc/%d: %s", (int)v.pid, strerror(errno));
            hwm[with_api][r] = m.hwm / 1024.0;
            ram[with_api][r] = m.ram / 1024.0;
            vmm_stop(&v);
        }
    double own[2];
    printf("footprint: peak RSS with an idle %d MiB guest, median of %d; the VMM's own is the "
           "total less the guest RAM the guest touched (as make bench)\n", RAM_MIB, FOOTPRINT_RUNS);
    for (int a = 0; a < 2; a++) {
        double h = stats_of(hwm[a], FOOTPRINT_RUNS).median, g = stats_of(ram[a], FOOTPRINT_RUNS).median;
        own[a] = h - g;
        printf("  %-44s %6.2f MiB total, %.2f MiB of it guest RAM -> VMM %.2f MiB\n",
               a ? "kvmbox --api-socket (after one ping)" : "kvmbox", h, g, own[a]);
    }
    double added = own[1] - own[0];
    printf("  the API adds %.2f MiB (limit 0.50: %s); the VMM's own with it %.2f MiB "
           "(limit 2.00: %s)\n", added, added <= 0.5 ? "holds" : "EXCEEDED", own[1],
           own[1] <= 2.0 ? "holds" : "EXCEEDED");
    free(ping);
    free(floor_);
    free(pause_t);
    free(resume_t);
    return 0;
}
