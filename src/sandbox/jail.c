#include "sandbox/jail.h"
#include "util/log.h"

#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <unistd.h>

/* The jailed child, for the parent's signal handler (its only state). */
static volatile sig_atomic_t jailed_pid;

static void hand_on(int sig)
{
    if (jailed_pid > 0)
        kill((pid_t)jailed_pid, sig);
}

/* The parent: waits for the child and ends as it did. */
static _Noreturn void stay_outside(pid_t child)
{
    jailed_pid = child;
    struct sigaction sa = { .sa_handler = hand_on };
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGHUP, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);
    int st;
    while (waitpid(child, &st, 0) < 0)
        if (errno != EINTR)
            _exit(1);
    _exit(WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st));
}

int jail_spawn(char *err, size_t errlen)
{
    if (unshare(CLONE_NEWNS | CLONE_NEWPID | CLONE_NEWIPC) < 0) {
        snprintf(err, errlen, "--jail: cannot make new namespaces: %s%s", log_strerror(errno),
                 errno == EPERM ? " (--jail needs root)" : "");
        return -1;
    }
    fflush(NULL);
    pid_t child = fork();
    if (child < 0) {
        snprintf(err, errlen, "--jail: fork: %s", log_strerror(errno));
        return -1;
    }
    if (child > 0)
        stay_outside(child);
    /* A parent killed outright (SIGKILL) takes the jailed VMM with it. */
    prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0);
    /* Nothing mounted from here on reaches the host's namespace. */
    if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0) {
        snprintf(err, errlen, "--jail: cannot make the mounts private: %s", log_strerror(errno));
        return -1;
    }
    return 0;
}

/* DIR/sub as a directory (made if missing). */
static int subdir(const char *dir, const char *sub, mode_t mode, char *path, size_t len)
{
    snprintf(path, len, "%s/%s", dir, sub);
    return mkdir(path, mode) == 0 || errno == EEXIST ? 0 : -1;
}

int jail_enter(const char *dir, char *err, size_t errlen)
{
    char path[4200];
    /* pivot_root wants the new root to be a mount point. */
    if (mount(dir, dir, NULL, MS_BIND | MS_REC, NULL) < 0) {
        snprintf(err, errlen, "--jail %s: %s", dir, log_strerror(errno));
        return -1;
    }
    if (subdir(dir, "proc", 0555, path, sizeof path) < 0 ||
        mount("proc", path, "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL) < 0) {
        snprintf(err, errlen, "--jail %s: /proc: %s", dir, log_strerror(errno));
        return -1;
    }
    if (subdir(dir, "dev", 0755, path, sizeof path) < 0 ||
        subdir(dir, "dev/net", 0755, path, sizeof path) < 0 ||
        (snprintf(path, sizeof path, "%s/dev/net/tun", dir),
         mknod(path, S_IFCHR | 0666, makedev(10, 200)) < 0 && errno != EEXIST)) {
        snprintf(err, errlen, "--jail %s: %s: %s", dir, path, log_strerror(errno));
        return -1;
    }
    /* The old root stacked under the new one, then let go of. */
    if (chdir(dir) < 0 || syscall(SYS_pivot_root, ".", ".") < 0 ||
        umount2(".", MNT_DETACH) < 0 || chdir("/") < 0) {
        snprintf(err, errlen, "--jail %s: cannot make it the root: %s", dir, log_strerror(errno));
        return -1;
    }
    return 0;
}
