#include "cli/migration_progress.h"

#include "cli/ctl.h"
#include "util/log.h"

#include <json-c/json.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define TICK_MS 500
#define PROGRESS_TIMEOUT_MS 2000
#define BAR_WIDTH 24

static int64_t member_int(json_object *o, const char *key)
{
    json_object *v;
    return json_object_object_get_ex(o, key, &v) ? json_object_get_int64(v) : 0;
}

static const char *member_str(json_object *o, const char *key)
{
    json_object *v;
    return json_object_object_get_ex(o, key, &v) ? json_object_get_string(v) : "";
}

static double mib(int64_t bytes) { return (double)bytes / (1 << 20); }

struct bar {
    const char *sock;
    bool shown;              /* a bar line is on the terminal */
};

/* One line, redrawn in place: how much is sent, how fast, how fast the
 * guest dirties, which pass, the pause expected if it switched now. */
static void tick(void *arg)
{
    struct bar *b = arg;
    struct ctl_reply r;
    char err[256];
    if (ctl_request(b->sock, "GET", "vm.migration-progress", NULL, 0, PROGRESS_TIMEOUT_MS, &r,
                    err, sizeof err) < 0)
        return;
    json_object *o = r.status == 200 ? json_tokener_parse(r.body) : NULL;
    free(r.body);
    if (!o)
        return;
    int64_t ram = member_int(o, "ram_bytes"), dirty = member_int(o, "dirty_bytes");
    int64_t done = ram > dirty ? ram - dirty : 0;
    int fill = ram ? (int)(done * BAR_WIDTH / ram) : 0;
    char bar[BAR_WIDTH + 1];
    for (int i = 0; i < BAR_WIDTH; i++)
        bar[i] = i < fill ? '#' : '.';
    bar[BAR_WIDTH] = '\0';
    int64_t throttle = member_int(o, "throttle_percent");
    char slowed[32] = "";
    if (throttle)
        snprintf(slowed, sizeof slowed, ", vCPUs slowed %lld%%", (long long)throttle);
    fprintf(stderr, "\r\033[K%-11s [%s] pass %lld, %.1f MiB sent, %.1f MiB/s, dirtying %lld "
            "pages/s, pause ~%lld ms%s", member_str(o, "phase"), bar,
            (long long)member_int(o, "iteration"), mib(member_int(o, "bytes_sent")),
            mib(member_int(o, "bandwidth_bytes_per_s")),
            (long long)member_int(o, "dirty_rate_pages_per_s"),
            (long long)member_int(o, "expected_downtime_ms"), slowed);
    fflush(stderr);
    b->shown = true;
    json_object_put(o);
}

/* The outcome's figures, one line. */
static void report(const char *body)
{
    json_object *o = json_tokener_parse(body);
    if (!o)
        return;
    int64_t ram = member_int(o, "ram_bytes");
    json_object *local;
    bool handed = json_object_object_get_ex(o, "local", &local) && json_object_get_boolean(local);
    char verified[128];
    if (handed)
        snprintf(verified, sizeof verified, "its %.0f MiB of memory handed over, not copied",
                 mib(ram));
    else
        snprintf(verified, sizeof verified, "all %lld pages (%.0f MiB) verified by digest",
                 (long long)(ram / 4096), mib(ram));
    int64_t passes = member_int(o, "iteration");
    printf("migrated in %.3f s: %.1f MiB sent in %lld pass%s, the VM paused %lld ms; %s\n",
           (double)member_int(o, "elapsed_ms") / 1000, mib(member_int(o, "bytes_sent")),
           (long long)passes, passes == 1 ? "" : "es", (long long)member_int(o, "downtime_ms"),
           verified);
    json_object_put(o);
}

int ctl_send_migration(const char *sock, const char *endpoint, const char *body, size_t body_len,
                       unsigned timeout_ms)
{
    struct bar b = { .sock = sock };
    struct ctl_ticker ticker = { TICK_MS, tick, &b };
    bool tty = isatty(STDERR_FILENO);
    struct ctl_reply r;
    char err[512];
    int rc = ctl_request_ticking(sock, "PUT", endpoint, body, body_len, timeout_ms,
                                 tty ? &ticker : NULL, &r, err, sizeof err);
    if (b.shown) {
        fputs("\r\033[K", stderr);
        fflush(stderr);
    }
    if (rc < 0) {
        log_error("%s", err);
        return 1;
    }
    int status = 1;
    if (r.status == 200) {
        report(r.body);
        status = 0;
    } else {
        status = ctl_report(endpoint, &r, stdout);
    }
    free(r.body);
    return status;
}
