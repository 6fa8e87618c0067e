/* What the benchmarks that drive whole VMMs (bench/snapshot, bench/migrate)
 * share: the VMM processes they start, with the guest's serial output on a
 * pipe and their stderr kept for a failure's message; a working directory
 * removed on every way out; and a control connection to each VMM, kvmbox's
 * HTTP API or QEMU's QMP, on a Unix socket the benchmark made and handed
 * over as fd 3 (so there is never a path to wait for).
 *
 * Every process started here is killed on every way out (and dies with the
 * benchmark anyway, PR_SET_PDEATHSIG); SIGINT, SIGTERM and SIGHUP end the
 * run as a failure does. A failure prints one line (the child's stderr
 * after it) and exits 1. */
#ifndef BENCH_VMM_PROC_H
#define BENCH_VMM_PROC_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

/* Debian's QEMU, unless $QEMU names another binary (or a wrapper). */
#define QEMU_DEFAULT "/usr/bin/qemu-system-x86_64"
const char *qemu_path(void);
#define CALL_TIMEOUT_MS 120000    /* a snapshot or a migration of GiBs */

/* $TMPDIR/kvmbox-bench-NAME-XXXXXX, made by bench_setup. */
extern char bench_workdir[256];

/* Makes the working directory, arranges the clean-up and the signals,
 * line-buffers stdout. Messages start with "bench/NAME: ". */
void bench_setup(const char *name);

void __attribute__((noreturn, format(printf, 1, 2))) fail(const char *fmt, ...);

/* CLOCK_MONOTONIC in ms. */
double now_ms(void);

/* Sleeps ms milliseconds; a signal that asked the benchmark to stop fails
 * the run. */
void bench_sleep(double ms);

/* Waits until fd is ready for `events`; -1 at the deadline (ms) or on an
 * error. A signal that asked the benchmark to stop fails the run. */
int wait_fd(int fd, short events, double deadline);

struct child {
    const char *name;
    pid_t pid;
    int out;       /* its stdout, a pipe */
    int err;       /* its stderr, a memfd shown when something fails */
    double t0;     /* when it was forked (ms) */
};

/* Starts argv with stdout on a pipe, stderr in a memfd and, if pass_fd is
 * not -1, that descriptor as fd 3. At most 8 children live at a time. */
void child_start(struct child *c, const char *name, char *const argv[], int pass_fd);
/* SIGKILL, reaped; its descriptors closed. */
void child_stop(struct child *c);
/* Fails, showing the end of the child's stderr. */
void __attribute__((noreturn, format(printf, 2, 3))) child_fail(struct child *c,
                                                                const char *fmt, ...);
/* The last cap - 1 bytes (at most) of what the child wrote to stderr,
 * NUL-terminated; their length. */
size_t child_stderr(struct child *c, char *buf, size_t cap);
/* Reads the child's output until byte `want`; returns when it came (ms
 * since the fork). A 'K' on the way, with `no_boot`, means the guest
 * booted afresh (the benchmarks' guests write 'K' first): a failure. */
double child_wait_byte(struct child *c, char want, double timeout_ms, bool no_boot);
/* Throws away what the guest wrote so far, so a full pipe never holds up
 * the VMM. */
void child_drain(struct child *c);

/* A connection to a VMM's control socket: HTTP (kvmbox) or QMP. */
struct conn {
    int fd;
    size_t len;
    char buf[8192];
};

/* A listening Unix socket on a free abstract name, and c connected to it
 * (queued in the backlog until the VMM accepts). Returns the listener, to
 * pass to the VMM as fd 3. */
int control_socket(struct conn *c);
/* Sends msg, with fd attached (SCM_RIGHTS) unless it is -1. */
void conn_send(struct conn *c, const char *msg, int fd);

/* kvmbox's API. http_send sends METHOD /api/v1/WHAT with a JSON body (""
 * for none) without waiting; http_answer reads the next answer: its
 * status, its body copied into body (cap bytes, NUL-terminated; may be
 * NULL). http_put does both and fails unless the answer is 204. */
void http_send(struct conn *c, const char *method, const char *what, const char *body);
int http_answer(struct conn *c, char *body, size_t cap);
void http_put(struct conn *c, const char *what, const char *body);

/* Reads QMP's greeting and enters command mode. */
void qmp_start(struct conn *c);
/* Sends a QMP command (with fd attached unless -1) and reads up to its
 * answer, skipping events; the answer's line is left in reply. Fails on
 * an error answer. */
void qmp_call(struct conn *c, const char *cmd, int fd, char *reply, size_t cap);

/* The QEMU command line the benchmarks compare kvmbox with: -M microvm,
 * KVM, RAM_MIB of RAM, the guest on -kernel, its serial port on stdout,
 * then `extra` (NULL-terminated). argv has room for cap pointers; mem is a
 * buffer of 32 bytes for the -m argument. */
void qemu_argv(char **argv, size_t cap, unsigned ram_mib, const char *kernel, char *mem,
               char *const *extra);

/* The benchmarks' command line: NAME KVMBOX RUNS GUEST_DIR CASE...
 * (cases: `cases`, e.g. "RAM_MIB:TOUCH_MIB"). Exits with the usage on a
 * bad one; returns the number of cases (from argv[4] on). */
int bench_args(int argc, char **argv, const char *name, const char *cases, int max_runs,
               const char **kvmbox, int *runs);

#endif
