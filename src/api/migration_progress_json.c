#include "api/migration_progress_json.h"

const char *migration_status_name(enum migrate_status s)
{
    switch (s) {
    case MIGRATE_RUNNING: return "running";
    case MIGRATE_COMPLETED: return "completed";
    case MIGRATE_FAILED: return "failed";
    case MIGRATE_CANCELLED: return "cancelled";
    case MIGRATE_NONE: break;
    }
    return "none";
}

static void add_u64(json_object *o, const char *key, uint64_t v)
{
    json_object_object_add(o, key, json_object_new_int64(v > INT64_MAX ? INT64_MAX : (int64_t)v));
}

json_object *migration_progress_to_json(const struct migrate_progress *p)
{
    json_object *o = json_object_new_object();
    json_object_object_add(o, "status", json_object_new_string(migration_status_name(p->status)));
    json_object_object_add(o, "phase", json_object_new_string(p->phase ? p->phase : ""));
    add_u64(o, "iteration", p->iterations);
    add_u64(o, "ram_bytes", p->ram_pages * 4096);
    add_u64(o, "dirty_bytes", p->dirty_pages * 4096);
    add_u64(o, "bytes_sent", p->bytes);
    add_u64(o, "pages_sent", p->pages);
    add_u64(o, "bandwidth_bytes_per_s", p->bandwidth * 1000);
    add_u64(o, "dirty_rate_pages_per_s", p->dirty_rate);
    add_u64(o, "throttle_percent", p->throttle_pct);
    add_u64(o, "expected_downtime_ms", p->expected_pause_ms);
    add_u64(o, "downtime_ms", p->pause_ms);
    add_u64(o, "elapsed_ms", p->elapsed_ms);
    json_object_object_add(o, "local", json_object_new_boolean(p->local));
    if (p->status == MIGRATE_FAILED || p->status == MIGRATE_CANCELLED)
        json_object_object_add(o, "error", json_object_new_string(p->error));
    return o;
}
