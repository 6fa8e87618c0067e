/* vm.send-migration and vm.receive-migration (Cloud Hypervisor's
 * SendMigrationData and ReceiveMigrationData): their bodies, and the two
 * ends of a migration as the API (and `kvmbox ctl`) drive them. */
#ifndef KVMBOX_API_MIGRATION_REQUEST_H
#define KVMBOX_API_MIGRATION_REQUEST_H

#include "vmm/vmm.h"

#include <stdbool.h>
#include <stddef.h>

/* What became of a request: the API answers 204, 500, 400 and 404. */
enum migration_result { MIGRATION_OK = 0, MIGRATION_FAILED = -1, MIGRATION_BAD_REQUEST = -2,
                        MIGRATION_NO_VM = -3 };

/* {"destination_url": "tcp:HOST:PORT"|"unix:/path", "downtime_ms": 300,
 * "timeout_s": 3600, "timeout_strategy": "Cancel"|"Ignore", "local": false,
 * "kvmbox": {"auto_converge": true, "report": false}}: connects and starts
 * the migration on its own thread (vmm_migration_start; on_end(ctx) is
 * told how it ended). MIGRATION_OK: started; else it never began, the VM
 * runs on, and err says why. *report: the client asked for the outcome's
 * figures in the answer. */
enum migration_result send_migration(struct vmm *m, const char *body, size_t len,
                                     migrate_end_fn on_end, void *ctx, bool *report,
                                     char *err, size_t errlen);
/* {"receiver_url": "tcp:0.0.0.0:PORT"|"unix:/path"}: listens, takes one
 * sender, and returns once the VM runs here (or did not arrive). */
enum migration_result receive_migration(struct vmm *m, const char *body, size_t len, char *err,
                                        size_t errlen);

#endif
