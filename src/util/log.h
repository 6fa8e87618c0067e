/* Diagnostics: one-line errors on stderr and an optional verbose trace. */
#ifndef KVMBOX_UTIL_LOG_H
#define KVMBOX_UTIL_LOG_H

#include <stdbool.h>

/* Verbosity is set once by the CLI before any thread starts and only read
 * afterwards, so it needs no lock and no VM object to reach every layer. */
void log_set_verbose(bool on);
bool log_verbose(void);

void log_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_warn(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_debug(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#endif
