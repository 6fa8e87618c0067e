/* bench/startup: how fast kvmbox gets a guest talking, and how little it
 * keeps resident, next to QEMU (-M microvm, its fastest machine) and next
 * to the floor (bench/kvm_floor: the least any KVM program can do), all in
 * the same run because these machines are noisy.
 *
 *   startup KVMBOX KVM_FLOOR GUEST [RUNS]
 *
 * Startup: wall time from fork+exec to the first byte the guest writes to
 * its serial port, median over RUNS. Memory: peak RSS of each VMM with an
 * idle 512 MiB guest, and for kvmbox the part that is its own (total minus
 * the guest RAM the guest touched). */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

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

static double median(char *const argv[], int runs)
{
    double *t = calloc((size_t)runs, sizeof *t);
    int ok = 0;
    for (int i = 0; i < runs; i++) {
        double v = first_byte(argv);
        if (v >= 0)
            t[ok++] = v;
    }
    double m = -1;
    if (ok) {
        qsort(t, (size_t)ok, sizeof *t, cmp);
        m = t[ok / 2];
    }
    free(t);
    return m;
}

/* kB value of a "Key:" line in /proc/PID/status, or sum of Rss: lines of the
 * smaps entries whose path contains `mapping`. */
static long proc_kb(pid_t pid, const char *key, const char *mapping)
{
    char path[64];
    snprintf(path, sizeof path, "/proc/%d/%s", pid, mapping ? "smaps" : "status");
    FILE *f = fopen(path, "r");
    if (!f)
        return -1;
    char line[512];
    long total = 0;
    int in_mapping = 0;
    while (fgets(line, sizeof line, f)) {
        if (mapping) {
            /* A mapping's header line: "start-end perms ... path". */
            char *space = strchr(line, ' '), *dash = strchr(line, '-');
            if (space && dash && dash < space)
                in_mapping = strstr(line, mapping) != NULL;
            if (in_mapping && !strncmp(line, "Rss:", 4))
                total += atol(line + 4);
        } else if (!strncmp(line, key, strlen(key))) {
            total = atol(line + strlen(key));
            break;
        }
    }
    fclose(f);
    return total;
}

/* Runs argv until `marker` appears on its output, lets it idle a moment,
 * and reads its peak RSS and the RSS of the guest-RAM mapping. */
static int idle_rss(char *const argv[], const char *marker, const char *ram_mapping,
                    long *hwm, long *ram)
{
    int fd;
    pid_t pid = spawn(argv, &fd);
    char buf[4096];
    size_t len = 0;
    double end = now_ms() + 20000;
    while (now_ms() < end && len < sizeof buf - 1) {
        ssize_t n = read(fd, buf + len, sizeof buf - 1 - len);
        if (n <= 0)
            break;
        len += (size_t)n;
        buf[len] = 0;
        if (strstr(buf, marker))
            break;
    }
    int found = strstr(buf, marker) != NULL;
    usleep(500 * 1000);
    *hwm = proc_kb(pid, "VmHWM:", NULL);
    *ram = ram_mapping ? proc_kb(pid, NULL, ram_mapping) : 0;
    kill(pid, SIGKILL);
    waitpid(pid, NULL, 0);
    close(fd);
    return found ? 0 : -1;
}

int main(int argc, char **argv)
{
    if (argc < 4) {
        fprintf(stderr, "usage: startup KVMBOX KVM_FLOOR GUEST [RUNS]\n");
        return 1;
    }
    int runs = argc > 4 ? atoi(argv[4]) : 50;
    char *kvmbox[] = { argv[1], "run", "--kernel", argv[3], "--memory", "512M",
                       "--cmdline", "spin", NULL };
    char *floor_[] = { argv[2], NULL };
    char qemu_bin[] = "/usr/bin/qemu-system-x86_64";
    char *qemu[] = { qemu_bin, "-M", "microvm", "-enable-kvm", "-cpu", "max,-arch-capabilities",
                     "-m", "512M", "-nodefaults", "-no-user-config", "-display", "none",
                     "-serial", "stdio", "-kernel", argv[3], "-append", "spin", NULL };
    int have_qemu = access(qemu_bin, X_OK) == 0;

    printf("startup: exec to the guest's first serial byte, median of %d runs\n", runs);
    double f = median(floor_, runs), k = median(kvmbox, runs);
    double q = have_qemu ? median(qemu, runs > 20 ? 20 : runs) : -1;
    printf("  %-34s %8.2f ms\n", "bare KVM floor (bench/kvm_floor)", f);
    printf("  %-34s %8.2f ms   %.1fx the floor\n", "kvmbox", k, k / f);
    if (q > 0)
        printf("  %-34s %8.2f ms   kvmbox takes %.3f of QEMU's time (goal: <= 0.100)\n",
               "qemu -M microvm", q, k / q);
    else
        printf("  qemu-system-x86_64 not usable here: no peer figure (make deps installs it)\n");

    long khwm, kram, qhwm, qram;
    printf("memory: peak RSS with an idle 512 MiB guest\n");
    if (idle_rss(kvmbox, "K", "kvmbox-ram", &khwm, &kram) == 0)
        printf("  %-34s %8.2f MiB total, %.2f MiB of it guest RAM -> VMM %.2f MiB "
               "(goal: <= 1.5)\n", "kvmbox", khwm / 1024.0, kram / 1024.0,
               (khwm - kram) / 1024.0);
    else
        printf("  kvmbox: the guest did not start\n");
    if (have_qemu && idle_rss(qemu, "K", NULL, &qhwm, &qram) == 0)
        printf("  %-34s %8.2f MiB total; kvmbox's total is %.3f of it\n", "qemu -M microvm",
               qhwm / 1024.0, (double)khwm / (double)qhwm);
    else if (have_qemu)
        printf("  qemu: the guest did not start\n");
    return 0;
}
