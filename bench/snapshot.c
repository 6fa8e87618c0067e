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
 * Floor: in each round, after the two VMMs, the bench itself writes as
 * many bytes of touched anonymous memory (a pattern, as the guest's) to a
 * new file in 1 MiB writes and fsyncs it and its directory: what any
 * snapshot of that memory costs on this host's filesystem. Its files stay
 * until the case ends, as the snapshots do, so that all three grow the
 * page cache alike.
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
 * The VMM processes, the working directory and the control connections
 * are bench/vmm_proc.c's (shared with bench/migrate). */
#define _GNU_SOURCE
#include "vmm_proc.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <poll.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define RESTORE_TIMEOUT_MS 60000
#define HEARTBEAT 'h'
#define MAX_RUNS 16
#define FEW_KIB 64                /* "a few KiB" over the touched memory */

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st, (void)flag, (void)ftw;
    remove(path);
    return 0;
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
    snprintf(dir, sizeof dir, "%s/kvmbox-%d", bench_workdir, r);
    snprintf(body, sizeof body, "{\"destination_url\":\"file://%s\"}", dir);
    double t0 = now_ms();
    source_pause(s);
    http_put(&s->ctl, "vm.snapshot", body);
    s->snap_ms[r] = now_ms() - t0;
    s->size[r] = disk_bytes(dir);
}

/* The floor: BYTES of touched memory to a new file, durable (fsync of the
 * file and of its directory). Returns ms. */
static double floor_write(const uint8_t *buf, size_t bytes, int r)
{
    char path[PATH_MAX];
    snprintf(path, sizeof path, "%s/floor-%d", bench_workdir, r);
    double t0 = now_ms();
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0)
        fail("%s: %s", path, strerror(errno));
    for (size_t off = 0; off < bytes;) {
        size_t n = bytes - off < (1u << 20) ? bytes - off : (1u << 20);
        ssize_t w = pwrite(fd, buf + off, n, (off_t)off);
        if (w <= 0)
            fail("%s: %s", path, w < 0 ? strerror(errno) : "short write");
        off += (size_t)w;
    }
    int dfd = open(bench_workdir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fsync(fd) < 0 || dfd < 0 || fsync(dfd) < 0)
        fail("%s: fsync: %s", path, strerror(errno));
    close(dfd);
    close(fd);
    /* Kept, as the VMMs' snapshots are, until the case ends: on a host
     * where the page cache grows slowly into memory not used before, a
     * file deleted at once would make the floor cheaper than theirs. */
    return now_ms() - t0;
}

static void qemu_boot(struct source *s, const struct guest_case *g)
{
    char mem[32], reply[1024], *argv[32];
    /* QMP on the listening socket passed as fd 3. */
    char *const qmp[] = { "-chardev", "socket,id=qmp,fd=3,server=on,wait=off",
                          "-mon", "chardev=qmp,mode=control", NULL };
    qemu_argv(argv, 32, g->ram_mib, g->guest, mem, qmp);
    s->is_qemu = true;
    source_boot(s, "qemu (source)", argv, control_socket(&s->ctl), g);
    qmp_start(&s->ctl);
    /* No bandwidth cap: QEMU's default would throttle the copy. */
    qmp_call(&s->ctl, "{\"execute\":\"migrate-set-parameters\",\"arguments\":"
             "{\"max-bandwidth\":1099511627776}}\n", -1, reply, sizeof reply);
}

/* Snapshot r of a running QEMU: stop, migrate to a file handed over by
 * getfd, poll until complete, fsync; leaves it stopped. */
static void qemu_snapshot(struct source *s, int r)
{
    char file[PATH_MAX], reply[1024];
    snprintf(file, sizeof file, "%s/qemu-%d", bench_workdir, r);
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
    size_t touched_bytes = (size_t)g->touch_mib << 20;
    uint8_t *pattern = malloc(touched_bytes);
    if (!pattern)
        fail("no memory for the floor's %u MiB", g->touch_mib);
    for (size_t i = 0; i < touched_bytes; i++)
        pattern[i] = (uint8_t)(i * 131 + 7);
    double floor_ms[MAX_RUNS];
    for (int r = 0; r < runs; r++) {
        source_resume(&k);
        kvmbox_snapshot(&k, r);
        if (have_qemu) {
            source_resume(&q);
            qemu_snapshot(&q, r);
        }
        floor_ms[r] = floor_write(pattern, touched_bytes, r);
    }
    free(pattern);
    source_stop(&k);
    if (have_qemu)
        source_stop(&q);

    /* Restores, taking turns. */
    double copy[MAX_RUNS], ondemand[MAX_RUNS], qemu[MAX_RUNS];
    char src[PATH_MAX + 64], src_od[PATH_MAX + 64], file[PATH_MAX], mem[32], *qargv[32];
    snprintf(src, sizeof src, "source_url=file://%s/kvmbox-0,resume=on,memory_restore_mode=copy",
             bench_workdir);
    snprintf(src_od, sizeof src_od,
             "source_url=file://%s/kvmbox-0,resume=on,memory_restore_mode=ondemand",
             bench_workdir);
    snprintf(file, sizeof file, "%s/qemu-0", bench_workdir);
    char *kargv[] = { (char *)kvmbox, "run", "--restore", src, NULL };
    char *kargv_od[] = { (char *)kvmbox, "run", "--restore", src_od, NULL };
    char *const incoming[] = { "-incoming", "fd:3", NULL };
    qemu_argv(qargv, 32, g->ram_mib, g->guest, mem, incoming);
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
    double fl = median(floor_ms, runs);
    printf("  %-34s %9.2f ms   snapshot time over it: kvmbox %.2f", "floor: the touched bytes written",
           fl, row[0].kv / fl);
    if (have_qemu)
        printf(", QEMU %.2f", row[0].qv / fl);
    printf("\n");

    /* The next case starts with an empty working directory. */
    for (int r = 0; r < runs; r++) {
        char path[PATH_MAX];
        snprintf(path, sizeof path, "%s/kvmbox-%d", bench_workdir, r);
        nftw(path, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
        snprintf(path, sizeof path, "%s/qemu-%d", bench_workdir, r);
        unlink(path);
        snprintf(path, sizeof path, "%s/floor-%d", bench_workdir, r);
        unlink(path);
    }
}

int main(int argc, char **argv)
{
    const char *kvmbox;
    int runs;
    int ncases = bench_args(argc, argv, "snapshot", "RAM_MIB:TOUCH_MIB", MAX_RUNS, &kvmbox, &runs);
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

    bench_setup("snapshot");

    bool have_qemu = access(qemu_path(), X_OK) == 0;
    printf("bench-snapshot: kvmbox against QEMU -M microvm on the same guest, median of %d; "
           "snapshots in %s (page cache warm for both)\n", runs, bench_workdir);
    if (!have_qemu)
        printf("  %s not usable here: no peer figures (make deps installs it)\n", qemu_path());
    for (int i = 0; i < ncases; i++)
        run_case(kvmbox, have_qemu, &cases[i], runs);
    for (int i = 0; i < ncases; i++)
        free(cases[i].guest);
    free(cases);
    return 0;
}
