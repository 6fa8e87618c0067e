/* A migration's progress or outcome (vmm.h's struct migrate_progress) as
 * the JSON object of GET vm.migration-progress, the answer of a
 * vm.send-migration that asked for its report, and `kvmbox ctl`'s
 * progress bar reads (docs/api.md). */
#ifndef KVMBOX_API_MIGRATION_PROGRESS_JSON_H
#define KVMBOX_API_MIGRATION_PROGRESS_JSON_H

#include "vmm/vmm.h"

#include <json-c/json.h>

json_object *migration_progress_to_json(const struct migrate_progress *p);
const char *migration_status_name(enum migrate_status s);

#endif
