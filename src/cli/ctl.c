#include "cli/ctl.h"

#include "cli/kv.h"
#include "cli/migration_progress.h"
#include "cli/restore_option.h"

#include "api/http.h"
#include "util/clock.h"
#include "util/grow.h"
#include "util/log.h"

#include <errno.h>
#include <fcntl.h>
#include <http_parser.h>
#include <json-c/json.h>
#include <poll.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/un.h>
#include <unistd.h>

/* ---- the exchange ---- */

static int connect_unix(const char *path, unsigned timeout_ms, char *err, size_t errlen)
{
    struct sockaddr_un a = { .sun_family = AF_UNIX };
    if (strlen(path) >= sizeof a.sun_path) {
        snprintf(err, errlen, "cannot connect to %s: the path is too long for a Unix socket", path);
        return -1;
    }
    strcpy(a.sun_path, path);
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        snprintf(err, errlen, "cannot connect to %s: %s", path, log_strerror(errno));
        return -1;
    }
    /* connect() on a Unix socket waits while the server's backlog is full;
     * SO_SNDTIMEO bounds that wait (Linux applies it to connect too). */
    struct timeval tv = { .tv_sec = timeout_ms / 1000, .tv_usec = (timeout_ms % 1000) * 1000 };
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    if (connect(fd, (struct sockaddr *)&a, sizeof a) < 0) {
        const char *why = errno == EAGAIN ? "the server is not accepting connections"
                                          : log_strerror(errno);
        snprintf(err, errlen, "cannot connect to %s: %s", path, why);
        close(fd);
        return -1;
    }
    /* The rest is polled against one overall deadline. */
    fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
    return fd;
}

struct parse {
    struct ctl_reply *r;
    size_t cap;
    bool done;
    bool too_big;
};

static int on_body(http_parser *p, const char *at, size_t len)
{
    struct parse *ps = p->data;
    struct ctl_reply *r = ps->r;
    if (r->body_len + len > CTL_MAX_REPLY) {
        ps->too_big = true;
        return -1;
    }
    /* +1: the body is kept NUL-terminated. */
    if (!grow_to((uint8_t **)&r->body, &ps->cap, r->body_len + len + 1)) {
        ps->too_big = true;
        return -1;
    }
    memcpy(r->body + r->body_len, at, len);
    r->body_len += len;
    r->body[r->body_len] = '\0';
    return 0;
}

static int on_message_complete(http_parser *p)
{
    struct parse *ps = p->data;
    /* An interim 1xx answer (100 Continue) is followed by the real one. */
    if (p->status_code >= 200) {
        ps->r->status = (int)p->status_code;
        ps->done = true;
    }
    return 0;
}

static const http_parser_settings parser_settings = {
    .on_body = on_body,
    .on_message_complete = on_message_complete,
};

/* Feeds what came to the parser. Returns -1 with err on a malformed or
 * oversized answer. */
static int feed(http_parser *p, struct parse *ps, const char *data, size_t len,
                char *err, size_t errlen)
{
    size_t used = http_parser_execute(p, &parser_settings, data, len);
    if (ps->done)
        return 0;   /* bytes after the answer are none of our business */
    if (ps->too_big) {
        snprintf(err, errlen, "the server's answer is larger than %u MiB", CTL_MAX_REPLY >> 20);
        return -1;
    }
    if (used != len || HTTP_PARSER_ERRNO(p) != HPE_OK) {
        snprintf(err, errlen, "malformed answer from the server: %s",
                 http_errno_description(HTTP_PARSER_ERRNO(p)));
        return -1;
    }
    return 0;
}

static int64_t now_ms(void) { return host_clock_ns(CLOCK_MONOTONIC) / 1000000; }

/* Writes `req` and reads the answer on the non-blocking fd until the
 * answer is complete, the server closes, or the deadline passes. */
static int exchange(int fd, const char *path, const char *req, size_t req_len, int64_t deadline,
                    unsigned timeout_ms, const struct ctl_ticker *ticker,
                    struct ctl_reply *reply, char *err, size_t errlen)
{
    http_parser p;
    struct parse ps = { .r = reply };
    http_parser_init(&p, HTTP_RESPONSE);
    p.data = &ps;
    size_t sent = 0;
    bool got_any = false;
    char buf[16384];
    while (!ps.done) {
        int64_t left = deadline - now_ms();
        if (left <= 0) {
            bool secs = timeout_ms % 1000 == 0;
            snprintf(err, errlen, "%s: no answer within %u %s (is the VMM stuck?)", path,
                     secs ? timeout_ms / 1000 : timeout_ms, secs ? "s" : "ms");
            return -1;
        }
        /* Read while still writing: a server may refuse a request (413)
         * before taking all of its body. */
        struct pollfd pf = { .fd = fd, .events = POLLIN | (sent < req_len ? POLLOUT : 0) };
        int wait = ticker && left > ticker->every_ms ? (int)ticker->every_ms : (int)left;
        int ready = poll(&pf, 1, wait);
        if (ready < 0) {
            if (errno == EINTR)
                continue;
            snprintf(err, errlen, "%s: poll: %s", path, log_strerror(errno));
            return -1;
        }
        if (ready == 0 && ticker && sent == req_len)
            ticker->tick(ticker->arg);
        if ((pf.revents & POLLOUT) && sent < req_len) {
            ssize_t n = send(fd, req + sent, req_len - sent, MSG_NOSIGNAL);
            if (n > 0)
                sent += (size_t)n;
            else if (n < 0 && errno == EPIPE)
                sent = req_len;   /* the server stopped reading: take its answer, if any */
            else if (n < 0 && errno != EAGAIN && errno != EINTR) {
                snprintf(err, errlen, "%s: send: %s", path, log_strerror(errno));
                return -1;
            }
        }
        if (!(pf.revents & (POLLIN | POLLHUP | POLLERR)))
            continue;
        ssize_t n = recv(fd, buf, sizeof buf, 0);
        if (n < 0 && (errno == EAGAIN || errno == EINTR))
            continue;
        if (n < 0 && errno != ECONNRESET) {
            snprintf(err, errlen, "%s: recv: %s", path, log_strerror(errno));
            return -1;
        }
        if (n > 0) {
            got_any = true;
            if (feed(&p, &ps, buf, (size_t)n, err, errlen) < 0)
                return -1;
            continue;
        }
        /* Closed (or reset): an answer whose body runs to the end of the
         * connection is complete now; any other is cut short (the parser's
         * error then only says so less clearly). */
        http_parser_execute(&p, &parser_settings, NULL, 0);
        if (!ps.done) {
            snprintf(err, errlen, "%s: the server closed the connection %s", path,
                     got_any ? "before its answer was complete" : "without answering");
            return -1;
        }
    }
    return 0;
}

int ctl_request(const char *path, const char *method, const char *endpoint,
                const char *body, size_t body_len, unsigned timeout_ms,
                struct ctl_reply *reply, char *err, size_t errlen)
{
    return ctl_request_ticking(path, method, endpoint, body, body_len, timeout_ms, NULL, reply,
                               err, errlen);
}

int ctl_request_ticking(const char *path, const char *method, const char *endpoint,
                        const char *body, size_t body_len, unsigned timeout_ms,
                        const struct ctl_ticker *ticker, struct ctl_reply *reply, char *err,
                        size_t errlen)
{
    int64_t deadline = now_ms() + timeout_ms;
    *reply = (struct ctl_reply){ 0 };
    /* One request per connection, so Connection: close. The length is
     * always said (0 when empty), as ch-remote does. */
    char *req = NULL;
    int head = asprintf(&req,
                        "%s /api/v1/%s HTTP/1.1\r\n"
                        "Host: localhost\r\n"
                        "Accept: application/json\r\n"
                        "Connection: close\r\n"
                        "%s"
                        "Content-Length: %zu\r\n"
                        "\r\n",
                        method, endpoint, body ? "Content-Type: application/json\r\n" : "",
                        body_len);
    char *full = head < 0 ? NULL : realloc(req, (size_t)head + body_len + 1);
    if (!full) {
        snprintf(err, errlen, "out of memory");
        if (head >= 0)
            free(req);
        return -1;
    }
    if (body_len)
        memcpy(full + head, body, body_len);
    int fd = connect_unix(path, timeout_ms, err, errlen);
    if (fd < 0) {
        free(full);
        return -1;
    }
    int rc = exchange(fd, path, full, (size_t)head + body_len, deadline, timeout_ms, ticker,
                      reply, err, errlen);
    free(full);
    close(fd);
    if (rc == 0 && !reply->body)
        reply->body = strdup("");
    if (rc == 0 && !reply->body) {
        snprintf(err, errlen, "out of memory");
        rc = -1;
    }
    if (rc < 0) {
        free(reply->body);
        *reply = (struct ctl_reply){ 0 };
    }
    return rc;
}

/* ---- reporting ---- */

int ctl_report(const char *endpoint, const struct ctl_reply *reply, FILE *out)
{
    json_object *o = reply->body_len ? json_tokener_parse(reply->body) : NULL;
    int status = 0;
    if (reply->status >= 200 && reply->status < 300) {
        if (o)
            fprintf(out, "%s\n", json_object_to_json_string_ext(
                                     o, JSON_C_TO_STRING_PRETTY | JSON_C_TO_STRING_SPACED |
                                            JSON_C_TO_STRING_NOSLASHESCAPE));
        else if (reply->body_len)   /* not JSON: as it came */
            fprintf(out, "%s%s", reply->body,
                    reply->body[reply->body_len - 1] == '\n' ? "" : "\n");
    } else {
        status = 1;
        /* CH's errors: a JSON array of strings, the top error first. */
        size_t n = json_object_is_type(o, json_type_array) ? json_object_array_length(o) : 0;
        size_t shown = 0;
        for (size_t i = 0; i < n; i++) {
            json_object *s = json_object_array_get_idx(o, i);
            if (!json_object_is_type(s, json_type_string))
                continue;
            if (shown++ == 0)
                log_error("%s: %s", endpoint, json_object_get_string(s));
            else
                log_error("%s", json_object_get_string(s));
        }
        if (!shown)
            log_error("%s: the server answered HTTP %d%s%.200s", endpoint, reply->status,
                      reply->body_len ? ": " : "", reply->body);
    }
    json_object_put(o);
    return status;
}

/* ---- the command line ---- */

/* What a command's one argument is: a VmConfig file, a snapshot's URL, a
 * restore's source_url=...[,...] (as ch-remote takes them). */
enum ctl_arg { ARG_NONE, ARG_FILE, ARG_URL, ARG_RESTORE, ARG_SEND, ARG_RECEIVE };

static const struct ctl_command {
    const char *name;        /* ch-remote's */
    const char *method;
    const char *endpoint;    /* after /api/v1/ */
    enum ctl_arg arg;
    const char *help;
} commands[] = {
    { "ping", "GET", "vmm.ping", ARG_NONE, "the VMM's version and pid" },
    { "info", "GET", "vm.info", ARG_NONE, "the VM's config and state" },
    { "counters", "GET", "vm.counters", ARG_NONE, "per-device counters" },
    { "create", "PUT", "vm.create", ARG_FILE, "create the VM from a JSON VmConfig in FILE (- or none: stdin)" },
    { "boot", "PUT", "vm.boot", ARG_NONE, "boot the created VM" },
    { "pause", "PUT", "vm.pause", ARG_NONE, "pause the VM (every vCPU and device)" },
    { "resume", "PUT", "vm.resume", ARG_NONE, "resume the paused VM" },
    { "shutdown", "PUT", "vm.shutdown", ARG_NONE, "stop the VM, keeping its config" },
    { "reboot", "PUT", "vm.reboot", ARG_NONE, "reboot the VM" },
    { "power-button", "PUT", "vm.power-button", ARG_NONE, "press the ACPI power button" },
    { "delete", "PUT", "vm.delete", ARG_NONE, "delete the VM" },
    { "shutdown-vmm", "PUT", "vmm.shutdown", ARG_NONE, "end the kvmbox process" },
    { "snapshot", "PUT", "vm.snapshot", ARG_URL, "write the paused VM to file:///DIR" },
    { "send-migration", "PUT", "vm.send-migration", ARG_SEND,
      "move the VM: destination_url=tcp:HOST:PORT|unix:PATH[,downtime_ms=N][,timeout_s=N][,timeout_strategy=cancel|ignore][,tls_dir=DIR][,local=on][,auto_converge=off]" },
    { "migration-progress", "GET", "vm.migration-progress", ARG_NONE,
      "where the migration being sent stands, or how the last one ended" },
    { "cancel-migration", "PUT", "vm.cancel-migration", ARG_NONE,
      "stop the migration being sent: the VM runs on here" },
    { "receive-migration", "PUT", "vm.receive-migration", ARG_RECEIVE,
      "take a VM: receiver_url=tcp:0.0.0.0:PORT|unix:PATH[,tls_dir=DIR]" },
    { "restore", "PUT", "vm.restore", ARG_RESTORE,
      "restore source_url=file:///DIR[,resume=on][,memory_restore_mode=...][,tap=ID:IF][,disk=ID:PATH]" },
};
#define NCOMMANDS (sizeof commands / sizeof commands[0])

void ctl_usage(FILE *out)
{
    fputs("usage: kvmbox ctl --api-socket PATH COMMAND [ARGS]\n"
          "\n"
          "Drives a kvmbox started with --api-socket PATH (Cloud Hypervisor's REST API;\n"
          "ch-remote's commands). Queries print JSON; errors go to stderr, exit status 1.\n"
          "\n"
          "  --api-socket PATH   also --api-socket=PATH and --api-socket path=PATH\n"
          "\n"
          "commands:\n", out);
    for (size_t i = 0; i < NCOMMANDS; i++) {
        char name[32];
        snprintf(name, sizeof name, "%s%s", commands[i].name,
                 commands[i].arg == ARG_FILE ? " [FILE|-]"
                 : commands[i].arg == ARG_URL ? " URL"
                 : commands[i].arg == ARG_URL ? " URL" : commands[i].arg != ARG_NONE ? " OPTIONS"
                 : "");
        fprintf(out, "  %-19s %s\n", name, commands[i].help);
    }
}

/* The whole of fd (a file or stdin), up to the API's body limit. */
static char *read_all(int fd, const char *what, size_t *len, char *err, size_t errlen)
{
    uint8_t *buf = NULL;
    size_t cap = 0;
    *len = 0;
    for (;;) {
        if (*len > HTTP_MAX_BODY) {
            snprintf(err, errlen, "%s: larger than the API's limit of %u MiB", what,
                     HTTP_MAX_BODY >> 20);
            break;
        }
        if (!grow_to(&buf, &cap, *len + 65536)) {
            snprintf(err, errlen, "%s: out of memory", what);
            break;
        }
        ssize_t n = read(fd, buf + *len, cap - *len);
        if (n == 0)
            return (char *)buf;
        if (n > 0)
            *len += (size_t)n;
        else if (errno != EINTR) {
            snprintf(err, errlen, "%s: %s", what, log_strerror(errno));
            break;
        }
    }
    free(buf);
    return NULL;
}

/* create's argument: FILE, or "-" (also when omitted, as ch-remote) for stdin. */
static char *read_config(const char *arg, size_t *len, char *err, size_t errlen)
{
    if (!arg || !strcmp(arg, "-"))
        return read_all(STDIN_FILENO, "stdin", len, err, errlen);
    int fd = open(arg, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        snprintf(err, errlen, "%s: %s", arg, log_strerror(errno));
        return NULL;
    }
    char *b = read_all(fd, arg, len, err, errlen);
    close(fd);
    return b;
}

/* snapshot's body: {"destination_url": URL}. */
static char *snapshot_body(const char *url, size_t *len)
{
    json_object *o = json_object_new_object();
    json_object_object_add(o, "destination_url", json_object_new_string(url));
    char *b = strdup(json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN));
    json_object_put(o);
    *len = b ? strlen(b) : 0;
    return b;
}

static json_object *overrides_json(const struct restore_override *list, unsigned n)
{
    json_object *o = json_object_new_object();
    for (unsigned i = 0; i < n; i++)
        json_object_object_add(o, list[i].id, json_object_new_string(list[i].value));
    return o;
}

/* restore's body from --restore's syntax: a RestoreConfig. */
static char *restore_body(const char *arg, size_t *len, char *err, size_t errlen)
{
    struct restore_request req;
    if (restore_option_parse(arg, &req, err, errlen) < 0)
        return NULL;
    json_object *o = json_object_new_object();
    char url[SNAPSHOT_PATH_MAX + 8];
    snprintf(url, sizeof url, "file://%s", req.path);
    json_object_object_add(o, "source_url", json_object_new_string(url));
    json_object_object_add(o, "resume", json_object_new_boolean(req.resume));
    json_object_object_add(o, "memory_restore_mode",
                           json_object_new_string(req.ondemand ? "ondemand" : "copy"));
    json_object *ext = json_object_new_object();
    json_object_object_add(ext, "taps", overrides_json(req.taps, req.ntaps));
    json_object_object_add(ext, "disks", overrides_json(req.disks, req.ndisks));
    json_object_object_add(o, "kvmbox", ext);
    char *b = strdup(json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN));
    json_object_put(o);
    *len = b ? strlen(b) : 0;
    if (!b)
        snprintf(err, errlen, "out of memory");
    return b;
}

/* send-migration's and receive-migration's KEY=VALUE list as their JSON
 * bodies: the URL and numbers as CH names them. */
static char *migration_body(enum ctl_arg kind, const char *arg, size_t *len, char *err,
                            size_t errlen)
{
    const char *opt = kind == ARG_SEND ? "send-migration" : "receive-migration";
    const char *url_key = kind == ARG_SEND ? "destination_url" : "receiver_url";
    if (kv_check_items(opt, arg, NULL, err, errlen) < 0)
        return NULL;
    json_object *o = json_object_new_object();
    json_object *ext = json_object_new_object();   /* kvmbox's own members */
    const char *p = arg;
    struct kv kv;
    bool have_url = false;
    while (kv_next(&p, &kv)) {
        char val[512];
        if (!kv.key || !kv_copy(&kv, val, sizeof val)) {
            snprintf(err, errlen, "%s '%s': expected KEY=VALUE items", opt, arg);
            goto fail;
        }
        if (kv_is(&kv, url_key)) {
            json_object_object_add(o, url_key, json_object_new_string(val));
            have_url = true;
        } else if (kind == ARG_SEND && (kv_is(&kv, "downtime_ms") || kv_is(&kv, "timeout_s"))) {
            char *end;
            unsigned long long n = strtoull(val, &end, 10);
            if (*end || val[0] == '-' || n > UINT32_MAX) {
                snprintf(err, errlen, "%s '%s': %.*s= takes a number", opt, arg, (int)kv.klen,
                         kv.key);
                goto fail;
            }
            char key[16];
            snprintf(key, sizeof key, "%.*s", (int)kv.klen, kv.key);
            json_object_object_add(o, key, json_object_new_int64((int64_t)n));
        } else if (kind == ARG_SEND && kv_is(&kv, "timeout_strategy")) {
            json_object_object_add(o, "timeout_strategy", json_object_new_string(val));
        } else if (kv_is(&kv, "tls_dir")) {
            json_object_object_add(o, "tls_dir", json_object_new_string(val));
        } else if (kind == ARG_SEND && (kv_is(&kv, "local") || kv_is(&kv, "auto_converge"))) {
            bool on;
            if (kv_on_off(opt, arg, &kv, &on, err, errlen) < 0)
                goto fail;
            if (kv_is(&kv, "local"))
                json_object_object_add(o, "local", json_object_new_boolean(on));
            else
                json_object_object_add(ext, "auto_converge", json_object_new_boolean(on));
        } else {
            kv_unknown_key(opt, arg, &kv, kind == ARG_SEND ? "destination_url, downtime_ms, "
                           "timeout_s, timeout_strategy, tls_dir, local, auto_converge"
                           : "receiver_url, tls_dir", err, errlen);
            goto fail;
        }
    }
    if (!have_url) {
        snprintf(err, errlen, "%s '%s' needs %s=", opt, arg, url_key);
        goto fail;
    }
    /* The sender's answer brings the outcome's figures, for the report. */
    if (kind == ARG_SEND) {
        json_object_object_add(ext, "report", json_object_new_boolean(true));
        json_object_object_add(o, "kvmbox", json_object_get(ext));
    }
    char *b = strdup(json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN));
    json_object_put(o);
    json_object_put(ext);
    *len = b ? strlen(b) : 0;
    return b;
fail:
    json_object_put(o);
    json_object_put(ext);
    return NULL;
}

static int bad_usage(const char *fmt, const char *arg)
{
    char msg[256];
    snprintf(msg, sizeof msg, fmt, arg);
    log_error("ctl: %s", msg);
    ctl_usage(stderr);
    return 1;
}

/* --api-socket's value: PATH or path=PATH (a client connects by path,
 * so CH's fd=N has no meaning here). */
static const char *socket_path(const char *arg)
{
    const char *p = !strncmp(arg, "path=", 5) ? arg + 5 : arg;
    return *p && strncmp(arg, "fd=", 3) ? p : NULL;
}

int ctl_main(int argc, char **argv)
{
    const char *sock = NULL;
    int i = 1;
    for (; i < argc && argv[i][0] == '-' && argv[i][1]; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            ctl_usage(stdout);
            return 0;
        }
        const char *val = !strncmp(a, "--api-socket=", 13) ? a + 13
                        : !strcmp(a, "--api-socket") && i + 1 < argc ? argv[++i]
                        : NULL;
        if (!val && !strcmp(a, "--api-socket"))
            return bad_usage("%s needs a value: PATH or path=PATH", a);
        if (!val)
            return bad_usage("unknown option '%s'", a);
        if (!(sock = socket_path(val)))
            return bad_usage("--api-socket '%s': expected PATH or path=PATH", val);
    }
    if (i == argc)
        return bad_usage("%s", "no command given");
    const struct ctl_command *c = NULL;
    for (size_t k = 0; k < NCOMMANDS && !c; k++)
        if (!strcmp(argv[i], commands[k].name))
            c = &commands[k];
    if (!c)
        return bad_usage("unknown command '%s'", argv[i]);
    int nargs = argc - i - 1;
    if (nargs > (c->arg == ARG_NONE ? 0 : 1))
        return bad_usage("too many arguments for '%s'", c->name);
    if (c->arg != ARG_NONE && c->arg != ARG_FILE && nargs != 1)
        return bad_usage("'%s' needs its argument", c->name);
    if (!sock)
        return bad_usage("%s", "--api-socket PATH is required");

    char err[512];
    char *body = NULL;
    size_t body_len = 0;
    const char *arg = nargs ? argv[i + 1] : NULL;
    if (c->arg == ARG_FILE)
        body = read_config(arg, &body_len, err, sizeof err);
    else if (c->arg == ARG_URL && !(body = snapshot_body(arg, &body_len)))
        snprintf(err, sizeof err, "out of memory");
    else if (c->arg == ARG_RESTORE)
        body = restore_body(arg, &body_len, err, sizeof err);
    else if (c->arg == ARG_SEND || c->arg == ARG_RECEIVE)
        body = migration_body(c->arg, arg, &body_len, err, sizeof err);
    if (c->arg != ARG_NONE && !body) {
        log_error("%s", err);
        return 1;
    }
    struct ctl_reply r;
    int status = 1;
    /* A migration's answer comes when it is over (a receiver waits for
     * its sender first). */
    int timeout = c->arg == ARG_SEND || c->arg == ARG_RECEIVE ? CTL_MIGRATION_TIMEOUT_MS
                                                             : CTL_TIMEOUT_MS;
    if (c->arg == ARG_SEND) {
        r.body = NULL;
        status = ctl_send_migration(sock, c->endpoint, body, body_len, timeout);
    } else if (ctl_request(sock, c->method, c->endpoint, body, body_len, timeout, &r, err,
                           sizeof err) < 0)
        log_error("%s", err);
    else
        status = ctl_report(c->endpoint, &r, stdout);
    free(body);
    free(r.body);   /* NULL when the request failed */
    return status;
}
