/* bench/startup: how fast kvmbox gets a guest talking, and how little it
 * keeps resident, next to QEMU (-M microvm, its fastest machine) and next
 * to the floor (bench/kvm_floor: the least any KVM program can do), all in
 * the same run because these machines are noisy.
 *
 *   startup KVMBOX KVM_FLOOR GUEST [MEM_GUEST [RUNS]]
 *
 * Startup: wall time from fork+exec to the first byte the guest writes to
 * its serial port, median over RUNS. Memory: peak RSS of each VMM with an
 * idle 512 MiB guest, and the part that is the VMM's own (total minus the
 * guest RAM the guest touched; bench/footprint.c, which bench/api uses
 * too), for kvmbox without devices and with a disk
 * and a user-mode NIC. Huge pages: MEM_GUEST (bench/mem_touch.S) touches
 * 256 MiB and reads random cache lines of it; its run time, and how much
 * of guest RAM the host backs with huge pages (smaps AnonHugePages +
 * ShmemPmdMapped), under kvmbox (default and shared=on) and QEMU. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "footprint.h"

static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

/* Starts argv with stdout on a pipe; returns the pid and the read end. */
static pid_t spawn(char *const argv[], int *out)
{
    int p[2];
    if (pipe(p) < 0)
        return -1;
    pid_t pid = fork();
    if (pid == 0) {
        dup2(p[1], 1);
        int null = open("/dev/null", 0);
        dup2(null, 0);
        dup2(null, 2);
        close(p[0]);
        execv(argv[0], argv);
        _exit(127);
    }
    close(p[1]);
    *out = p[0];
    return pid;
}

/* Milliseconds from exec to the first output byte, or -1. */
static double first_byte(char *const argv[])
{
    int fd;
    double t0 = now_ms();
    pid_t pid = spawn(argv, &fd);
    char c;
    ssize_t n = read(fd, &c, 1);
    double t = now_ms() - t0;
    kill(pid, SIGKILL);
    waitpid(pid, NULL, 0);
    close(fd);
    return n == 1 ? t : -1;
}

static int cmp(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* The medians of n commands' first-byte times, their runs taken in turn
 * (a host that drifts over the runs moves them all alike). */
static void medians(char *const *const argv[], int n, int runs, double *m)
{
    double *t = calloc((size_t)(runs * n), sizeof *t);
    int ok[4] = { 0 };
    for (int i = 0; i < runs; i++)
        for (int c = 0; c < n; c++) {
            double v = first_byte(argv[c]);
            if (v >= 0)
                t[c * runs + ok[c]++] = v;
        }
    for (int c = 0; c < n; c++) {
        m[c] = -1;
        if (ok[c]) {
            qsort(t + c * runs, (size_t)ok[c], sizeof *t, cmp);
            m[c] = t[c * runs + ok[c] / 2];
        }
    }
    free(t);
}

static double median(char *const argv[], int runs)
{
    double m;
    medians(&argv, 1, runs, &m);
    return m;
}

#define RAM_MIB 512

/* Runs argv until each byte of `marks` has appeared on its output, in
 * order, noting when (ms from exec); then lets it idle a moment, reads
 * its memory use and kills it. -1 if a mark did not come within 120 s. */
static int watch(char *const argv[], const char *marks, double *t, struct mem_use *m)
{
    int fd;
    double t0 = now_ms();
    pid_t pid = spawn(argv, &fd);
    size_t got = 0, want = strlen(marks);
    char buf[256];
    while (got < want && now_ms() < t0 + 120000) {
        ssize_t n = read(fd, buf, sizeof buf);
        if (n <= 0)
            break;
        for (ssize_t i = 0; i < n && got < want; i++)
            if (buf[i] == marks[got])
                t[got++] = now_ms() - t0;
    }
    usleep(500 * 1000);
    int ok = got == want && mem_use(pid, RAM_MIB, m) == 0;
    kill(pid, SIGKILL);
    waitpid(pid, NULL, 0);
    close(fd);
    return ok ? 0 : -1;
}

static double median_of(double *v, int n)
{
    qsort(v, (size_t)n, sizeof *v, cmp);
    return v[n / 2];
}

/* Medians over `runs` of watch(): the times of each mark and the memory
 * figures (each on its own). -1 if any run failed. */
static int watch_median(char *const argv[], const char *marks, int runs, double *t,
                        double *hwm, double *ram, double *huge)
{
    enum { MAX_RUNS = 16, MAX_MARKS = 4 };
    double tv[MAX_MARKS][MAX_RUNS], hv[MAX_RUNS], rv[MAX_RUNS], gv[MAX_RUNS];
    size_t nm = strlen(marks);
    if (runs > MAX_RUNS)
        runs = MAX_RUNS;
    for (int r = 0; r < runs; r++) {
        double tr[MAX_MARKS];
        struct mem_use m;
        if (watch(argv, marks, tr, &m) < 0)
            return -1;
        for (size_t i = 0; i < nm; i++)
            tv[i][r] = tr[i];
        hv[r] = m.hwm / 1024.0;
        rv[r] = m.ram / 1024.0;
        gv[r] = m.huge / 1024.0;
    }
    for (size_t i = 0; i < nm; i++)
        t[i] = median_of(tv[i], runs);
    *hwm = median_of(hv, runs);
    *ram = median_of(rv, runs);
    *huge = median_of(gv, runs);
    return 0;
}

int main(int argc, char **argv)
{
    if (argc < 4) {
        fprintf(stderr, "usage: startup KVMBOX KVM_FLOOR GUEST [MEM_GUEST [RUNS]]\n");
        return 1;
    }
    const char *mem_guest = argc > 4 ? argv[4] : NULL;
    int runs = argc > 5 ? atoi(argv[5]) : 50;
    char mem[] = "512M";
    char *kvmbox[] = { argv[1], "run", "--kernel", argv[3], "--memory", mem,
                       "--cmdline", "spin", NULL };
    char *kvmbox_open[] = { argv[1], "run", "--seccomp", "off", "--kernel", argv[3], "--memory",
                            mem, "--cmdline", "spin", NULL };
    char *floor_[] = { argv[2], NULL };
    char qemu_bin[] = "/usr/bin/qemu-system-x86_64";
    char *qemu[] = { qemu_bin, "-M", "microvm", "-enable-kvm", "-cpu", "max,-arch-capabilities",
                     "-m", mem, "-nodefaults", "-no-user-config", "-display", "none",
                     "-serial", "stdio", "-kernel", argv[3], "-append", "spin", NULL };
    int have_qemu = access(qemu_bin, X_OK) == 0;

    printf("startup: exec to the guest's first serial byte, median of %d runs\n", runs);
    /* kvmbox with and without its seccomp filters, in turn: what the
     * filters cost. */
    double f = median(floor_, runs), kk[2];
    medians((char *const *const[]){ kvmbox, kvmbox_open }, 2, runs, kk);
    double k = kk[0];
    double q = have_qemu ? median(qemu, runs > 20 ? 20 : runs) : -1;
    printf("  %-34s %8.2f ms\n", "bare KVM floor (bench/kvm_floor)", f);
    printf("  %-34s %8.2f ms   %.1fx the floor\n", "kvmbox", k, k / f);
    printf("  %-34s %8.2f ms   the filters cost %+.2f ms\n", "kvmbox --seccomp off", kk[1],
           k - kk[1]);
    if (q > 0)
        printf("  %-34s %8.2f ms   kvmbox takes %.3f of QEMU's time (goal: <= 0.100)\n",
               "qemu -M microvm", q, k / q);
    else
        printf("  qemu-system-x86_64 not usable here: no peer figure (make deps installs it)\n");

    /* The same idle guest with a disk (a sparse file) and a user-mode NIC:
     * what those devices' libraries and threads cost. */
    char disk[] = "/tmp/kvmbox-bench-XXXXXX";
    int dfd = mkstemp(disk);
    if (dfd < 0 || ftruncate(dfd, 64 << 20) < 0) {
        perror("bench disk");
        return 1;
    }
    close(dfd);
    char disk_opt[64];
    snprintf(disk_opt, sizeof disk_opt, "path=%s", disk);
    char *kvmbox_dev[] = { argv[1], "run", "--kernel", argv[3], "--memory", mem, "--cmdline", "spin",
                           "--disk", disk_opt, "--net", "user", NULL };

    int mruns = 5;
    double t[4], hwm, ram, huge, k_hwm = -1;
    printf("memory: peak RSS with an idle %d MiB guest, median of %d; the VMM's own is the total "
           "less the guest RAM the guest touched\n", RAM_MIB, mruns);
    struct { const char *name; char *const *argv; } idle[] = {
        { "kvmbox", kvmbox },
        { "kvmbox, a disk and a NIC (user)", kvmbox_dev },
        { "qemu -M microvm", have_qemu ? qemu : NULL },
    };
    for (size_t i = 0; i < sizeof idle / sizeof idle[0]; i++) {
        if (!idle[i].argv)
            continue;
        if (watch_median(idle[i].argv, "K", mruns, t, &hwm, &ram, &huge) < 0) {
            printf("  %s: the guest did not start\n", idle[i].name);
            continue;
        }
        printf("  %-34s %8.2f MiB total, %.2f MiB of it guest RAM -> VMM %.2f MiB", idle[i].name,
               hwm, ram, hwm - ram);
        if (i == 0) {
            k_hwm = hwm;
            printf(" (goal: <= 1.5)");
        } else if (idle[i].argv == qemu && k_hwm > 0) {
            printf("; kvmbox's total is %.3f of it", k_hwm / hwm);
        }
        printf("\n");
    }
    unlink(disk);

    if (!mem_guest)
        return 0;
    /* Huge pages: the memory-bound guest under each. The times say little
     * where /dev/kvm emulates guest code; the coverage is the host's. */
    char shared[] = "size=512M,shared=on";
    char *mg = (char *)mem_guest;
    char *kvmbox_mem[] = { argv[1], "run", "--kernel", mg, "--memory", mem, NULL };
    char *kvmbox_shared[] = { argv[1], "run", "--kernel", mg, "--memory", shared, NULL };
    char *qemu_mem[] = { qemu_bin, "-M", "microvm", "-enable-kvm", "-cpu", "max,-arch-capabilities",
                         "-m", mem, "-nodefaults", "-no-user-config", "-display", "none",
                         "-serial", "stdio", "-kernel", mg, NULL };
    int hruns = 3;
    printf("huge pages: the guest touches 256 MiB, then reads 256K random cache lines of it "
           "(bench/mem_touch.S), median of %d\n", hruns);
    struct { const char *name; char *const *argv; } busy[] = {
        { "kvmbox", kvmbox_mem },
        { "kvmbox --memory shared=on", kvmbox_shared },
        { "qemu -M microvm", have_qemu ? qemu_mem : NULL },
    };
    for (size_t i = 0; i < sizeof busy / sizeof busy[0]; i++) {
        if (!busy[i].argv)
            continue;
        if (watch_median(busy[i].argv, "KTD", hruns, t, &hwm, &ram, &huge) < 0) {
            printf("  %s: the guest did not finish\n", busy[i].name);
            continue;
        }
        printf("  %-34s touch %7.1f ms, reads %7.1f ms; guest RAM %.1f MiB resident, "
               "%.1f MiB of it in huge pages (%.0f%%)\n", busy[i].name, t[1] - t[0], t[2] - t[1],
               ram, huge, ram > 0 ? 100.0 * huge / ram : 0.0);
    }
    return 0;
}
