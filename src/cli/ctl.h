/* `kvmbox ctl`: the client for kvmbox's control API (Cloud Hypervisor's
 * REST API v1, docs/api.md), with ch-remote's commands and argument shapes.
 * One HTTP/1.1 request per run over the Unix socket, the answer parsed by
 * libhttp-parser; JSON answers are pretty-printed with json-c.
 *
 * The request/response exchange and the reporting are separate functions
 * so that unit tests drive them against a server of their own. */
#ifndef KVMBOX_CLI_CTL_H
#define KVMBOX_CLI_CTL_H

#include <stddef.h>
#include <stdio.h>

/* How long one request may take in all, connecting included. Generous:
 * vm.pause waits for every vCPU and device to quiesce, in-flight block
 * I/O included; only a VMM that is stuck takes longer. */
#define CTL_TIMEOUT_MS 30000
/* A migration answers when it is over; a receiver first waits for its sender. */
#define CTL_MIGRATION_TIMEOUT_MS (2 * 60 * 60 * 1000)
/* Answers larger than this are refused rather than buffered without end. */
#define CTL_MAX_REPLY (16u << 20)

struct ctl_reply {
    int status;          /* the HTTP status */
    char *body;          /* malloc'd and NUL-terminated; "" when there is none */
    size_t body_len;
};

/* Sends `METHOD /api/v1/ENDPOINT` (with `body` as JSON when body_len or
 * body is given) over a fresh connection to the Unix socket at `path` and
 * reads the whole answer, all within timeout_ms. Returns 0 with *reply
 * filled (free reply->body), or -1 with a message in err: cannot connect,
 * no answer in time, the connection closed early, a malformed answer. */
int ctl_request(const char *path, const char *method, const char *endpoint,
                const char *body, size_t body_len, unsigned timeout_ms,
                struct ctl_reply *reply, char *err, size_t errlen);

/* ctl_request, calling ticker->tick(arg) every every_ms while it waits
 * for the answer (a progress display). */
struct ctl_ticker {
    unsigned every_ms;
    void (*tick)(void *arg);
    void *arg;
};
int ctl_request_ticking(const char *path, const char *method, const char *endpoint,
                        const char *body, size_t body_len, unsigned timeout_ms,
                        const struct ctl_ticker *ticker, struct ctl_reply *reply, char *err,
                        size_t errlen);
/* Reports an answer as `kvmbox ctl` does. 2xx: the body, if any, to `out`
 * (pretty-printed when it is JSON); returns 0. Anything else: the
 * server's error array, one "kvmbox: error: ..." line per string, on
 * stderr; returns 1. */
int ctl_report(const char *endpoint, const struct ctl_reply *reply, FILE *out);

/* `kvmbox ctl ...`, argv[0] being "ctl". Returns the exit status: 0, or 1
 * for any failure, bad usage included (as `kvmbox run`). */
int ctl_main(int argc, char **argv);
void ctl_usage(FILE *out);

#endif
