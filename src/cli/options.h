/* `kvmbox run` option parsing: argv in, a validated vm_config out, or one
 * clear message. No side effects, so it is unit-tested directly. */
#ifndef KVMBOX_CLI_OPTIONS_H
#define KVMBOX_CLI_OPTIONS_H

#include "core/config.h"

#include <stddef.h>
#include <stdio.h>

enum options_result {
    OPTIONS_RUN,      /* cfg is ready */
    OPTIONS_HELP,     /* --help was asked for */
    OPTIONS_VERSION,  /* --version was asked for */
    OPTIONS_ERROR,    /* err says why */
};

/* argv[0] is the subcommand ("run"). Strings in cfg point into argv or buf;
 * buf must outlive cfg. */
enum options_result options_parse_run(int argc, char **argv, struct vm_config *cfg,
                                      char *buf, size_t buflen, char *err, size_t errlen);
void options_usage(FILE *out);

#endif
