/* `kvmbox ctl send-migration`: the request, a progress bar on a terminal
 * while the migration runs (from GET vm.migration-progress: bytes sent,
 * rate, dirty rate, pass, expected pause), and the final report. */
#ifndef KVMBOX_CLI_MIGRATION_PROGRESS_H
#define KVMBOX_CLI_MIGRATION_PROGRESS_H

#include <stddef.h>

/* Returns the exit status: 0 when the VM runs on the destination. */
int ctl_send_migration(const char *sock, const char *endpoint, const char *body, size_t body_len,
                       unsigned timeout_ms);

#endif
