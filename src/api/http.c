/* The control API's HTTP/1.1 server (see http.h for the threading rules).
 *
 * A connection reads into a small input buffer and hands it to
 * libhttp-parser, whose callbacks collect the request target, the two
 * headers the server itself acts on (Expect, and through the parser,
 * Connection and Content-Length) and the body. On a complete request the
 * handler runs, its response is queued, and the parser is paused: the
 * bytes of any pipelined request stay in the input buffer until the
 * response has been written. Limits are checked as the bytes arrive, so a
 * refused request (413, 414, 431) is answered before its body is read and
 * the connection is closed after the answer. */
#include "api/http.h"

#include "util/grow.h"

#include <errno.h>
#include <fcntl.h>
#include <http_parser.h>
#include <json-c/json.h>
#include <poll.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

/* Enough for a whole request of the API's size in one read; a larger one
 * simply takes several. The parser consumes everything it is given unless
 * paused, so this never has to hold more than one read's worth. */
#define IN_SIZE 16384

struct http_conn {
    struct http_server *s;
    int fd;
    http_parser parser;
    char in[IN_SIZE];
    size_t in_len;           /* unparsed bytes (only while paused after a request) */
    uint8_t *out;            /* queued response bytes */
    size_t out_cap, out_len, out_done;
    bool closing;            /* close once `out` is written; read and parse no more */
    bool eof;                /* the client will send nothing more */
    void (*after_fn)(void *);
    void *after_arg;
    unsigned long deferred;  /* the ticket of an answer to come (http_server_defer), or 0 */
    char *refused;           /* the peer check's reason: every request answers 403 */

    /* The request being parsed. */
    char url[HTTP_MAX_URL + 1];
    size_t url_len;
    size_t header_bytes;
    unsigned headers;
    char hname[8];           /* long enough for "expect"; longer names are not looked at */
    size_t hname_len;
    char hvalue[16];         /* the Expect value, long enough for "100-continue" */
    size_t hvalue_len;
    bool in_value;
    bool expect_continue;
    bool head;               /* a HEAD request: answers carry no body */
    uint8_t *body;
    size_t body_cap, body_len;
};

struct http_server {
    struct event_loop *loop;
    int listen_fd;
    http_handler_fn handler;
    void *ctx;
    struct http_conn *conn[HTTP_MAX_CONNECTIONS];
    struct http_conn *current;   /* whose request the handler is answering */
    unsigned long next_ticket;
    http_peer_check_fn peer_check;
    void *peer_ctx;
};

void http_respond_errors(struct http_response *r, int status, const char *const *msgs, unsigned n)
{
    r->status = status;
    r->body = NULL;
    r->body_len = 0;
    r->content_type = NULL;
    json_object *a = json_object_new_array();
    if (!a)
        return;
    for (unsigned i = 0; i < n; i++)
        json_object_array_add(a, json_object_new_string(msgs[i]));
    size_t len;
    const char *s =
        json_object_to_json_string_length(a, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE, &len);
    if (s && (r->body = malloc(len + 1))) {
        memcpy(r->body, s, len + 1);
        r->body_len = len;
    }
    json_object_put(a);
}

static bool out_append(struct http_conn *c, const void *p, size_t n)
{
    if (!grow_to(&c->out, &c->out_cap, c->out_len + n))
        return false;
    memcpy(c->out + c->out_len, p, n);
    c->out_len += n;
    return true;
}

/* Queues the response's bytes and frees its body. The status line has an
 * empty reason phrase and the header names are spelled as CH's client
 * matches them; statuses that carry no body get neither a body nor
 * Content-Length/Content-Type (RFC 9110 forbids Content-Length on 204). A closing connection says so. */
static void queue_response(struct http_conn *c, struct http_response *r, bool head)
{
    /* Interim (1xx) answers are the server's business (100 Continue), not
     * a handler's: one as the final answer would leave the client waiting. */
    int st = r->status >= 200 && r->status <= 599 ? r->status : 500;
    bool bodiless = st == 204 || st == 304;
    char h[256];
    int n = snprintf(h, sizeof h, "HTTP/1.1 %d \r\n", st);
    if (!bodiless) {
        if (r->body && r->body_len)
            n += snprintf(h + n, sizeof h - n, "Content-Type: %.100s\r\n",
                          r->content_type ? r->content_type : "application/json");
        n += snprintf(h + n, sizeof h - n, "Content-Length: %zu\r\n", r->body ? r->body_len : 0);
    }
    n += snprintf(h + n, sizeof h - n, "%s\r\n", c->closing ? "Connection: close\r\n" : "");
    /* Out of memory: nothing sensible can follow a partial response. */
    if (!out_append(c, h, n) ||
        (!bodiless && !head && r->body && !out_append(c, r->body, r->body_len)))
        c->closing = true;
    free(r->body);
    r->body = NULL;
}

/* Answers a request the server itself refuses, then closes. Returns what a
 * parser callback returns to stop the parser. */
static int refuse(struct http_conn *c, int status, const char *msg)
{
    struct http_response r;
    http_respond_errors(&r, status, &msg, 1);
    c->closing = true;
    queue_response(c, &r, c->head);
    return -1;
}

static struct http_conn *conn_of(http_parser *p) { return p->data; }

static int on_message_begin(http_parser *p)
{
    struct http_conn *c = conn_of(p);
    c->url_len = c->header_bytes = c->hname_len = c->hvalue_len = c->body_len = 0;
    c->headers = 0;
    c->in_value = c->expect_continue = c->head = false;
    return 0;
}

static int on_url(http_parser *p, const char *at, size_t len)
{
    struct http_conn *c = conn_of(p);
    c->head = p->method == HTTP_HEAD;   /* known once the target starts */
    if (len > HTTP_MAX_URL - c->url_len)
        return refuse(c, 414, "request target too long");
    memcpy(c->url + c->url_len, at, len);
    c->url_len += len;
    return 0;
}

/* Header names and values come in pieces (split wherever a read ended).
 * Only Expect is looked at here; the parser itself tracks Content-Length,
 * Transfer-Encoding and Connection. */
static bool is_expect(const struct http_conn *c)
{
    return c->hname_len == 6 && !strncasecmp(c->hname, "expect", 6);
}

static void header_done(struct http_conn *c)
{
    size_t n = c->hvalue_len;
    while (n && (c->hvalue[n - 1] == ' ' || c->hvalue[n - 1] == '\t'))
        n--;
    if (is_expect(c) && n == 12 && !strncasecmp(c->hvalue, "100-continue", 12))
        c->expect_continue = true;
    c->hname_len = c->hvalue_len = 0;
    c->in_value = false;
}

static int count_header_bytes(struct http_conn *c, size_t len)
{
    c->header_bytes += len;
    return c->header_bytes > HTTP_MAX_HEADER_BYTES ? refuse(c, 431, "request headers too large") : 0;
}

static void append_capped(char *buf, size_t cap, size_t *len, const char *at, size_t n)
{
    /* One past cap marks "too long to be the one we look for". */
    size_t room = *len < cap ? cap - *len : 0;
    memcpy(buf + *len, at, n < room ? n : room);
    *len = *len + n < cap + 1 ? *len + n : cap + 1;
}

static int on_header_field(http_parser *p, const char *at, size_t len)
{
    struct http_conn *c = conn_of(p);
    if (c->in_value)
        header_done(c);
    if (c->hname_len == 0 && ++c->headers > HTTP_MAX_HEADERS)
        return refuse(c, 431, "too many request headers");
    append_capped(c->hname, sizeof c->hname - 1, &c->hname_len, at, len);
    return count_header_bytes(c, len);
}

static int on_header_value(http_parser *p, const char *at, size_t len)
{
    struct http_conn *c = conn_of(p);
    c->in_value = true;
    if (is_expect(c))
        append_capped(c->hvalue, sizeof c->hvalue - 1, &c->hvalue_len, at, len);
    return count_header_bytes(c, len);
}

static int on_headers_complete(http_parser *p)
{
    struct http_conn *c = conn_of(p);
    if (c->in_value)
        header_done(c);
    bool has_length = p->flags & F_CONTENTLENGTH;
    /* Refused before a byte of the body is read (and before a 100
     * Continue invites it). */
    if (has_length && p->content_length > HTTP_MAX_BODY)
        return refuse(c, 413, "request body larger than 4 MiB");
    if (has_length && !grow_to(&c->body, &c->body_cap, p->content_length + 1))
        return refuse(c, 500, "out of memory");
    /* Expect means nothing in HTTP/1.0; with no body to come there is
     * nothing to invite. */
    if (c->expect_continue && (p->http_major > 1 || p->http_minor >= 1) &&
        ((p->flags & F_CHUNKED) || (has_length && p->content_length > 0))) {
        static const char cont[] = "HTTP/1.1 100 Continue\r\n\r\n";
        if (!out_append(c, cont, sizeof cont - 1))
            return refuse(c, 500, "out of memory");
    }
    return 0;
}

static int on_body(http_parser *p, const char *at, size_t len)
{
    struct http_conn *c = conn_of(p);
    /* Only a chunked body can get here past the limit. */
    if (len > HTTP_MAX_BODY - c->body_len)
        return refuse(c, 413, "request body larger than 4 MiB");
    if (!grow_to(&c->body, &c->body_cap, c->body_len + len + 1))
        return refuse(c, 500, "out of memory");
    memcpy(c->body + c->body_len, at, len);
    c->body_len += len;
    return 0;
}

static int on_message_complete(http_parser *p)
{
    struct http_conn *c = conn_of(p);
    struct http_parser_url u;
    http_parser_url_init(&u);
    if (http_parser_parse_url(c->url, c->url_len, p->method == HTTP_CONNECT, &u))
        return refuse(c, 400, "invalid request target");
    const char *path = "";
    if (u.field_set & (1 << UF_PATH)) {
        c->url[u.field_data[UF_PATH].off + u.field_data[UF_PATH].len] = '\0';
        path = c->url + u.field_data[UF_PATH].off;
    }
    if (c->body)
        c->body[c->body_len] = '\0';
    struct http_request req = {
        .method = http_method_str(p->method),
        .path = path,
        .body = c->body ? (const char *)c->body : "",
        .body_len = c->body_len,
    };
    /* Decided before the handler runs, so the response can say it. An
     * upgrade (or CONNECT) is not followed: what comes after is not HTTP. */
    c->closing = !http_should_keep_alive(p) || p->upgrade;
    if (c->refused) {
        const char *msg = c->refused;
        struct http_response r;
        http_respond_errors(&r, 403, &msg, 1);
        c->closing = true;
        queue_response(c, &r, c->head);
        http_parser_pause(p, 1);
        return 0;
    }
    struct http_response resp = { .status = 500 };
    c->s->current = c;
    c->s->handler(c->s->ctx, &req, &resp);
    c->s->current = NULL;
    if (c->deferred)
        free(resp.body);     /* the answer comes with http_server_answer */
    else
        queue_response(c, &resp, c->head);
    /* A large body's buffer is not kept for the life of the connection. */
    if (c->body_cap > IN_SIZE) {
        free(c->body);
        c->body = NULL;
        c->body_cap = 0;
    }
    http_parser_pause(p, 1);
    return 0;
}

static const http_parser_settings settings = {
    .on_message_begin = on_message_begin,
    .on_url = on_url,
    .on_header_field = on_header_field,
    .on_header_value = on_header_value,
    .on_headers_complete = on_headers_complete,
    .on_body = on_body,
    .on_message_complete = on_message_complete,
};

/* Parses what is buffered, up to the end of the next complete request. */
static void conn_parse(struct http_conn *c)
{
    http_parser_pause(&c->parser, 0);
    size_t n = http_parser_execute(&c->parser, &settings, c->in, c->in_len);
    enum http_errno e = HTTP_PARSER_ERRNO(&c->parser);
    /* (Stopping short of the end without a pause is not expected from the
     * parser; refusing it keeps the connection from spinning on it.) */
    if (!c->closing && ((e != HPE_OK && e != HPE_PAUSED) || (e == HPE_OK && n < c->in_len))) {
        char msg[128];
        snprintf(msg, sizeof msg, "malformed request: %s", http_errno_description(e));
        refuse(c, 400, msg);
    }
    if (c->closing) {
        c->in_len = 0;
        return;
    }
    memmove(c->in, c->in + n, c->in_len - n);
    c->in_len -= n;
}

static void conn_close(struct http_conn *c)
{
    struct http_server *s = c->s;
    for (unsigned i = 0; i < HTTP_MAX_CONNECTIONS; i++)
        if (s->conn[i] == c)
            s->conn[i] = NULL;
    event_loop_remove(s->loop, c->fd);
    close(c->fd);
    free(c->out);
    free(c->body);
    free(c->refused);
    free(c);
}

/* Writes what is queued. Returns 1 when all of it is written, 0 when the
 * socket is full, -1 when the client is gone. */
static int conn_flush(struct http_conn *c)
{
    while (c->out_done < c->out_len) {
        /* MSG_NOSIGNAL: a client that closed gets EPIPE, not the process
         * a SIGPIPE. */
        ssize_t n = send(c->fd, c->out + c->out_done, c->out_len - c->out_done, MSG_NOSIGNAL);
        if (n < 0)
            return errno == EAGAIN || errno == EINTR ? 0 : -1;
        c->out_done += n;
    }
    c->out_len = c->out_done = 0;
    return 1;
}

/* One round for a ready connection: write what is queued, parse what is
 * buffered, read once (so one busy client cannot starve the others).
 * Returns false when the connection was closed. Hands back an
 * after_response callback that became due in *fn (at most one a round:
 * it may free the server, so the caller runs it last). */
static bool conn_run(struct http_conn *c, short revents, void (**fn)(void *), void **arg)
{
    if (revents & (POLLERR | POLLNVAL))
        goto gone;
    /* Waiting for a deferred answer: nothing is read, only a hang-up is
     * noticed (the answer then goes nowhere). */
    if (c->deferred) {
        if (revents & POLLHUP)
            goto gone;
        return true;
    }
    bool did_read = false;
    for (;;) {
        if (c->out_len) {
            int r = conn_flush(c);
            if (r < 0)
                goto gone;
            if (r == 0)
                return true;
            if (c->after_fn) {
                *fn = c->after_fn, *arg = c->after_arg;
                c->after_fn = NULL;
            }
            if (c->closing)
                break;
            if (*fn)
                return true;   /* the rest next round: conn_want asks for a wake */
        }
        if (c->closing)
            break;
        if (c->in_len) {
            conn_parse(c);
            /* Its answer comes later (http_server_answer), even on a
             * connection that closes after it. */
            if (c->deferred)
                return true;
            /* Nothing queued: the buffer was consumed by an incomplete request. */
            continue;
        }
        if (c->eof || did_read || !(revents & (POLLIN | POLLHUP)))
            break;
        ssize_t n = read(c->fd, c->in, sizeof c->in);
        did_read = true;
        if (n < 0 && (errno == EAGAIN || errno == EINTR))
            return true;
        if (n < 0)
            goto gone;
        if (n == 0)
            c->eof = true;
        c->in_len = n;
    }
    if (!c->closing && !c->eof)
        return true;
gone:
    /* A client that went away still "got" its response: a shutdown it
     * asked for goes ahead. */
    if (c->after_fn && !*fn)
        *fn = c->after_fn, *arg = c->after_arg;
    conn_close(c);
    return false;
}

static void conn_ready(void *ctx, short revents)
{
    void (*fn)(void *) = NULL;
    void *arg = NULL;
    conn_run(ctx, revents, &fn, &arg);
    if (fn)
        fn(arg);
}

static short conn_want(void *ctx)
{
    const struct http_conn *c = ctx;
    /* Awaiting a deferred answer: no input is wanted (POLLPRI never comes
     * on a Unix socket), but poll still reports a hang-up (POLLHUP). A
     * client that only half-closed still gets its answer. */
    if (c->deferred)
        return POLLPRI;
    /* A pipelined request already buffered: POLLOUT is a wake-up to parse
     * it, which also waits while the client is not reading its answers. */
    return c->out_len || c->in_len ? POLLOUT : POLLIN;
}

static void listener_ready(void *ctx, short revents)
{
    struct http_server *s = ctx;
    (void)revents;
    /* A few at a time, so a flood of connections cannot keep the loop here. */
    for (unsigned k = 0; k < 8; k++) {
        int fd = accept4(s->listen_fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0)
            return;
        /* A peer that may not talk to us gets its 403 (with the reason)
         * to its request; without memory for that, just the close. */
        char why[256];
        char *refused = NULL;
        if (s->peer_check && !s->peer_check(s->peer_ctx, fd, why, sizeof why) &&
            !(refused = strdup(why))) {
            close(fd);
            continue;
        }
        unsigned i = 0;
        while (i < HTTP_MAX_CONNECTIONS && s->conn[i])
            i++;
        struct http_conn *c = i < HTTP_MAX_CONNECTIONS ? calloc(1, sizeof *c) : NULL;
        if (!c || event_loop_add(s->loop, fd, conn_want, conn_ready, c) < 0) {
            free(c);
            free(refused);
            close(fd);
            continue;
        }
        c->s = s;
        c->fd = fd;
        c->refused = refused;
        http_parser_init(&c->parser, HTTP_REQUEST);
        c->parser.data = c;
        s->conn[i] = c;
    }
}

struct http_server *http_server_new(int listen_fd, struct event_loop *loop, http_handler_fn handler,
                                    void *ctx)
{
    struct http_server *s = calloc(1, sizeof *s);
    int fl = fcntl(listen_fd, F_GETFL);
    if (!s || fl < 0 || fcntl(listen_fd, F_SETFL, fl | O_NONBLOCK) < 0)
        goto fail;
    *s = (struct http_server){ .loop = loop, .listen_fd = listen_fd, .handler = handler, .ctx = ctx };
    if (event_loop_add(loop, listen_fd, NULL, listener_ready, s) < 0) {
        errno = ENOSPC;
        goto fail;
    }
    return s;
fail:;
    int e = errno;
    free(s);
    close(listen_fd);
    errno = e;
    return NULL;
}

void http_server_free(struct http_server *s)
{
    if (!s)
        return;
    /* Answers given as the VMM stopped (a migration the exit cancelled
     * answers its send-migration then) go out if the socket takes them
     * now: the loop that would have written them has ended. */
    for (unsigned i = 0; i < HTTP_MAX_CONNECTIONS; i++)
        if (s->conn[i]) {
            if (s->conn[i]->out_len)
                conn_flush(s->conn[i]);
            conn_close(s->conn[i]);
        }
    event_loop_remove(s->loop, s->listen_fd);
    close(s->listen_fd);
    free(s);
}

void http_server_after_response(struct http_server *s, void (*fn)(void *arg), void *arg)
{
    if (!s->current) {
        fn(arg);
        return;
    }
    s->current->after_fn = fn;
    s->current->after_arg = arg;
}

unsigned long http_server_defer(struct http_server *s)
{
    if (!s->current)
        return 0;
    if (!++s->next_ticket)
        s->next_ticket = 1;
    s->current->deferred = s->next_ticket;
    return s->next_ticket;
}

void http_server_answer(struct http_server *s, unsigned long ticket, struct http_response *r,
                        void (*fn)(void *arg), void *arg)
{
    struct http_conn *c = NULL;
    for (unsigned i = 0; ticket && i < HTTP_MAX_CONNECTIONS && !c; i++)
        if (s->conn[i] && s->conn[i]->deferred == ticket)
            c = s->conn[i];
    if (!c) {
        /* The client went away: nobody to tell, but what was to follow
         * the answer still does. */
        free(r->body);
        r->body = NULL;
        if (fn)
            fn(arg);
        return;
    }
    c->deferred = 0;
    queue_response(c, r, c->head);
    c->after_fn = fn;
    c->after_arg = arg;
}

void http_server_set_peer_check(struct http_server *s, http_peer_check_fn fn, void *ctx)
{
    s->peer_check = fn;
    s->peer_ctx = ctx;
}
