#include "util/log.h"

#include "util/ratelimit.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

static bool verbose;
static __thread char last_error[512];

void log_set_verbose(bool on) { verbose = on; }
bool log_verbose(void) { return verbose; }

static void emit(const char *prefix, const char *fmt, va_list ap)
{
    /* One fprintf per line so lines from concurrent vCPU threads do not
     * interleave inside a line. */
    char line[1024];
    vsnprintf(line, sizeof line, fmt, ap);
    fprintf(stderr, "kvmbox: %s%s\n", prefix, line);
}

void log_error(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(last_error, sizeof last_error, fmt, ap);
    va_end(ap);
    fprintf(stderr, "kvmbox: error: %s\n", last_error);
}

const char *log_last_error(void) { return last_error; }
void log_clear_last_error(void) { last_error[0] = 0; }

void log_warn(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    emit("warning: ", fmt, ap);
    va_end(ap);
}

void log_debug(const char *fmt, ...)
{
    if (!verbose)
        return;
    va_list ap;
    va_start(ap, fmt);
    emit("", fmt, ap);
    va_end(ap);
}

const char *log_strerror(int e)
{
    static __thread char buf[160];
    /* GNU strerror_r: thread-safe where strerror may share one buffer
     * (an unknown number's text) among all threads. */
    char text[96];
    const char *what = strerror_r(e, text, sizeof text);
    struct rlimit rl;
    if (e == EMFILE && getrlimit(RLIMIT_NOFILE, &rl) == 0)
        snprintf(buf, sizeof buf, "%s (kvmbox may open %llu; raise the limit with ulimit -n)",
                 what, (unsigned long long)rl.rlim_cur);
    else if (e == ENFILE)
        snprintf(buf, sizeof buf, "%s (the system-wide limit, fs.file-max)", what);
    else
        snprintf(buf, sizeof buf, "%s", what);
    return buf;
}

void log_guest_warn(struct ratelimit *rl, const char *fmt, ...)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    unsigned long suppressed;
    if (!ratelimit_allow(rl, (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec, &suppressed))
        return;
    char line[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    if (suppressed)
        fprintf(stderr, "kvmbox: warning: %s (%lu similar messages suppressed)\n", line, suppressed);
    else
        fprintf(stderr, "kvmbox: warning: %s\n", line);
}
