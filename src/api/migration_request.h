/* vm.send-migration and vm.receive-migration (Cloud Hypervisor's
 * SendMigrationData and ReceiveMigrationData): their bodies, and the two
 * ends of a migration as the API (and `kvmbox ctl`) drive them. */
#ifndef KVMBOX_API_MIGRATION_REQUEST_H
#define KVMBOX_API_MIGRATION_REQUEST_H

#include "vmm/vmm.h"

#include <stddef.h>

/* What became of a request: the API answers 204, 500, 400 and 404. */
enum migration_result { MIGRATION_OK = 0, MIGRATION_FAILED = -1, MIGRATION_BAD_REQUEST = -2,
                        MIGRATION_NO_VM = -3 };

/* {"destination_url": "tcp:HOST:PORT"|"unix:/path", "downtime_ms": 300,
 * "timeout_s": 3600, "timeout_strategy": "Cancel"|"Ignore", "local": false}:
 * connects and sends the VM; returns when it runs on the destination (or
 * did not get there: then it runs here, and err says why). */
enum migration_result send_migration(struct vmm *m, const char *body, size_t len,
                                     struct migrate_report *rep, char *err, size_t errlen);
/* {"receiver_url": "tcp:0.0.0.0:PORT"|"unix:/path"}: listens, takes one
 * sender, and returns once the VM runs here (or did not arrive). */
enum migration_result receive_migration(struct vmm *m, const char *body, size_t len, char *err,
                                        size_t errlen);

#endif
