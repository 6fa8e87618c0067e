/* Diagnostics: one-line errors on stderr and an optional verbose trace. */
#ifndef KVMBOX_UTIL_LOG_H
#define KVMBOX_UTIL_LOG_H

#include <stdbool.h>

/* Verbosity is set once by the CLI before any thread starts and only read
 * afterwards, so it needs no lock and no VM object to reach every layer. */
void log_set_verbose(bool on);
bool log_verbose(void);

void log_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* The last error this thread logged, as errno is per thread: the API runs
 * a VM's creation on the main thread and hands the client the reason that
 * went to stderr, without every layer growing an error buffer. Cleared
 * with log_clear_last_error; "" when none. */
const char *log_last_error(void);
void log_clear_last_error(void);
void log_warn(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_debug(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* strerror(e), with what to do about it where that is clear: running out
 * of file descriptors names the limit, wherever in kvmbox that happens
 * (which call meets the limit first depends on how many descriptors the
 * caller handed down). The text lives in a per-thread buffer, valid until
 * this thread's next call, like strerror's own. */
const char *log_strerror(int e);

/* A warning the guest can cause, through the limiter of the object it
 * concerns: at most RATELIMIT_BURST per window; the next one that goes out
 * says how many were dropped. */
struct ratelimit;
void log_guest_warn(struct ratelimit *rl, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#endif
