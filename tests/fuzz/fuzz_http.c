/* libFuzzer target: the API's HTTP server (src/api/http.c) fed arbitrary
 * bytes as one client's stream through a real socket. Byte 0's low three
 * bits say how many cuts, the next bytes where (each mod what is left):
 * the pieces are sent one by one with the event loop run in between, so
 * requests arrive split anywhere. The handler answers with a status and
 * body picked from the request (some register an after_response). Every
 * byte the server sends back must parse as HTTP responses; after the
 * client half-closes, the server must close within a bounded number of
 * rounds (no hang) and free everything (no leak). */
#include "api/http.h"

#include <errno.h>
#include <http_parser.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

struct run {
    struct http_server *s;
    unsigned after_calls, after_asked;
    http_parser resp_parser;   /* checks what comes back */
};

static void after(void *arg) { ((struct run *)arg)->after_calls++; }

static void handler(void *ctx, const struct http_request *req, struct http_response *r)
{
    static const int statuses[] = { 200, 204, 400, 404, 405, 500, 100, 999 };
    struct run *run = ctx;
    if (strlen(req->body) > req->body_len)
        abort();
    size_t pick = strlen(req->path) + req->body_len;
    /* A HEAD answer says Content-Length without the body, which the
     * checking parser cannot know; 204 has neither. */
    r->status = strcmp(req->method, "HEAD") ? statuses[pick % 8] : 204;
    if (pick % 3 == 0) {
        const char *m[] = { req->path, req->method };
        http_respond_errors(r, r->status, m, 2);
    } else if (pick % 3 == 1 && (r->body = malloc(req->body_len + 1))) {
        memcpy(r->body, req->body, req->body_len + 1);
        r->body_len = req->body_len;
        r->content_type = "text/plain";
    }
    if (pick % 5 == 0) {
        http_server_after_response(run->s, after, run);
        run->after_asked++;
    }
}

static const http_parser_settings check = { 0 };

/* Reads what the server sent and checks it parses; false at EOF. */
static bool drain(struct run *run, int fd)
{
    char buf[65536];
    for (;;) {
        ssize_t n = recv(fd, buf, sizeof buf, MSG_DONTWAIT);
        if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR))
            return false;
        if (n < 0)
            return true;
        if (http_parser_execute(&run->resp_parser, &check, buf, n) != (size_t)n ||
            HTTP_PARSER_ERRNO(&run->resp_parser) != HPE_OK)
            abort();
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    unsigned cuts = data[0] & 7;
    if (size < 1 + cuts)
        return 0;
    const uint8_t *stream = data + 1 + cuts;
    size_t len = size - 1 - cuts;

    /* A listener on an abstract address the kernel picks (autobind). */
    int l = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_un a = { .sun_family = AF_UNIX };
    socklen_t alen = sizeof(sa_family_t);
    if (l < 0 || bind(l, (struct sockaddr *)&a, alen) < 0 || listen(l, 1) < 0)
        abort();
    alen = sizeof a;
    getsockname(l, (struct sockaddr *)&a, &alen);
    struct event_loop loop;
    event_loop_init(&loop);
    struct run run = { 0 };
    http_parser_init(&run.resp_parser, HTTP_RESPONSE);
    run.s = http_server_new(l, &loop, handler, &run);
    int c = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (!run.s || c < 0 || connect(c, (struct sockaddr *)&a, alen) < 0)
        abort();
    event_loop_poll(&loop, 0);   /* accepted */

    size_t from = 0;
    bool open = true;
    for (unsigned i = 0; i <= cuts && open; i++) {
        size_t to = i < cuts ? from + data[1 + i] % (len - from + 1) : len;
        while (from < to && open) {
            ssize_t n = send(c, stream + from, to - from, MSG_DONTWAIT | MSG_NOSIGNAL);
            if (n > 0)
                from += n;
            else if (errno != EAGAIN)
                open = false;
            event_loop_poll(&loop, 0);
            open = drain(&run, c) && open;
        }
        event_loop_poll(&loop, 0);
        open = open && drain(&run, c);
    }
    /* Nothing more from the client: the server answers what it has and
     * closes, in a bounded number of rounds. */
    shutdown(c, SHUT_WR);
    for (unsigned round = 0; loop.n > 1; round++) {
        if (round == 100000)
            abort();
        event_loop_poll(&loop, 0);
        drain(&run, c);
    }
    /* Every after_response asked for ran (written, or the client gone). */
    if (run.after_calls != run.after_asked)
        abort();
    http_server_free(run.s);
    close(c);
    return 0;
}
