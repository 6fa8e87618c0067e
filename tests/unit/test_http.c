/* The API's HTTP server over a real listening Unix socket, with the event
 * loop polled from the test: the exact wire form CH's client relies on,
 * keep-alive, pipelining, Connection: close, Expect: 100-continue, the
 * limits, a stalled client beside a served one, malformed input, clients
 * that leave mid-response, and when after_response runs; answers deferred
 * by a handler and given later (on the right connection, after the client
 * left, half-closed or hung up). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include "api/http.h"

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#define BIG (1u << 20)   /* larger than a socket's buffers */

struct fx {
    char dir[64], path[108];
    struct event_loop loop;
    struct http_server *s;
    int after_calls;
    unsigned long ticket[4];   /* the deferred requests' tickets, in order */
    unsigned ndeferred;
};

static void after(void *arg) { ((struct fx *)arg)->after_calls++; }

/* Echoes "METHOD PATH BODY"; a few paths answer otherwise. */
static void handler(void *ctx, const struct http_request *req, struct http_response *r)
{
    struct fx *f = ctx;
    if (!strcmp(req->path, "/nocontent")) {
        r->status = 204;
        r->body = strdup("dropped");   /* a 204 must not carry it */
        r->body_len = 7;
        return;
    }
    if (!strcmp(req->path, "/defer")) {
        /* What a handler set before deferring is not sent (and is freed). */
        r->status = 200;
        r->body = strdup("not this");
        r->body_len = 8;
        unsigned long t = http_server_defer(f->s);
        assert_int_not_equal(t, 0);
        for (unsigned i = 0; i < f->ndeferred; i++)
            assert_int_not_equal(f->ticket[i], t);
        f->ticket[f->ndeferred++] = t;
        return;
    }
    if (!strcmp(req->path, "/errors")) {
        const char *m[] = { "a", "b" };
        http_respond_errors(r, 400, m, 2);
        return;
    }
    if (!strcmp(req->path, "/big") || !strcmp(req->path, "/after")) {
        r->status = 200;
        r->body = malloc(BIG);
        memset(r->body, 'x', BIG);
        r->body_len = BIG;
        if (!strcmp(req->path, "/after"))
            http_server_after_response(f->s, after, f);
        return;
    }
    r->status = 200;
    r->body_len = (size_t)asprintf(&r->body, "%s %s %s", req->method, req->path, req->body);
    assert_int_equal(strlen(req->body), req->body_len);
}

static int setup(void **state)
{
    struct fx *f = calloc(1, sizeof *f);
    strcpy(f->dir, "/tmp/kvmbox-http-XXXXXX");
    assert_non_null(mkdtemp(f->dir));
    snprintf(f->path, sizeof f->path, "%s/api.sock", f->dir);
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_un a = { .sun_family = AF_UNIX };
    strcpy(a.sun_path, f->path);
    assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof a), 0);
    assert_int_equal(listen(fd, 64), 0);
    event_loop_init(&f->loop);
    f->s = http_server_new(fd, &f->loop, handler, f);
    assert_non_null(f->s);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fx *f = *state;
    http_server_free(f->s);
    assert_int_equal(f->loop.n, 0);
    unlink(f->path);
    rmdir(f->dir);
    free(f);
    return 0;
}

static int client(struct fx *f)
{
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_un a = { .sun_family = AF_UNIX };
    strcpy(a.sun_path, f->path);
    assert_int_equal(connect(fd, (struct sockaddr *)&a, sizeof a), 0);
    event_loop_poll(&f->loop, 100);   /* accepted */
    return fd;
}

static void say(int fd, const char *s) { assert_int_equal(send(fd, s, strlen(s), MSG_NOSIGNAL), (ssize_t)strlen(s)); }

/* Polls the loop and reads what the server sent until `want` bytes came
 * or the server closed (*eof), for at most `rounds` rounds of the loop.
 * Returns the bytes read (NUL-terminated). */
static size_t pump_rounds(struct fx *f, int fd, char *buf, size_t want, bool *eof, int rounds)
{
    size_t got = 0;
    *eof = false;
    for (int i = 0; i < rounds && got < want && !*eof; i++) {
        event_loop_poll(&f->loop, 5);
        ssize_t n = recv(fd, buf + got, want - got, MSG_DONTWAIT);
        if (n == 0 || (n < 0 && errno != EAGAIN))
            *eof = true;
        else if (n > 0)
            got += n;
    }
    buf[got] = '\0';
    return got;
}

static size_t pump(struct fx *f, int fd, char *buf, size_t want, bool *eof)
{
    return pump_rounds(f, fd, buf, want, eof, 2000);
}

/* Reads exactly `expect` and checks it, and that the connection stays open
 * (keep_open) or is closed after it. */
static void expect_reply(struct fx *f, int fd, const char *expect, bool keep_open)
{
    char buf[4096];
    bool eof;
    size_t n = pump(f, fd, buf, strlen(expect), &eof);
    assert_string_equal(buf, expect);
    assert_int_equal(n, strlen(expect));
    /* The server closes in the round that wrote the last byte, so a few
     * rounds tell an open connection from a closed one. */
    n = pump_rounds(f, fd, buf, 1, &eof, 3);
    assert_int_equal(n, 0);
    assert_int_equal(eof, !keep_open);
}

/* The echo handler's answer: a 200 with `echo` as its body, appended to `to`. */
static char *echo_reply(char *to, const char *echo, bool keep_open)
{
    sprintf(to + strlen(to), "HTTP/1.1 200 \r\nContent-Type: application/json\r\nContent-Length: %zu\r\n%s\r\n%s",
            strlen(echo), keep_open ? "" : "Connection: close\r\n", echo);
    return to;
}

static void expect_echo(struct fx *f, int fd, const char *echo, bool keep_open)
{
    char want[512] = "";
    expect_reply(f, fd, echo_reply(want, echo, keep_open), keep_open);
}

static void wire_format(void **state)
{
    struct fx *f = *state;
    int c = client(f);
    say(c, "GET /api/v1/vmm.ping?x=1 HTTP/1.1\r\nHost: localhost\r\n\r\n");
    expect_reply(f, c,
                 "HTTP/1.1 200 \r\nContent-Type: application/json\r\nContent-Length: 21\r\n\r\n"
                 "GET /api/v1/vmm.ping ", true);
    say(c, "PUT /nocontent HTTP/1.1\r\nHost: localhost\r\nContent-Length: 0\r\n\r\n");
    expect_reply(f, c, "HTTP/1.1 204 \r\n\r\n", true);
    /* HEAD: the headers of the answer, not its body. */
    say(c, "HEAD /h HTTP/1.1\r\n\r\n");
    expect_reply(f, c, "HTTP/1.1 200 \r\nContent-Type: application/json\r\nContent-Length: 8\r\n\r\n", true);
    close(c);
}

static void keep_alive_and_pipelining(void **state)
{
    struct fx *f = *state;
    int c = client(f);
    say(c, "PUT /one HTTP/1.1\r\nContent-Length: 3\r\n\r\nabc");
    expect_echo(f, c, "PUT /one abc", true);
    say(c, "GET /two HTTP/1.1\r\n\r\n");
    expect_echo(f, c, "GET /two ", true);
    /* Three at once, the middle one chunked: answered in order. */
    say(c, "GET /a HTTP/1.1\r\n\r\n"
           "POST /b HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nhi\r\n0\r\n\r\n"
           "DELETE /c HTTP/1.1\r\n\r\n");
    char want[512] = "";
    echo_reply(want, "GET /a ", true);
    echo_reply(want, "POST /b hi", true);
    expect_reply(f, c, echo_reply(want, "DELETE /c ", true), true);
    close(c);
}

static void connection_close(void **state)
{
    struct fx *f = *state;
    int c = client(f);
    /* What follows the closing request is not answered. */
    say(c, "GET /x HTTP/1.1\r\nConnection: close\r\n\r\nGET /y HTTP/1.1\r\n\r\n");
    expect_echo(f, c, "GET /x ", false);
    close(c);
    c = client(f);
    say(c, "GET /z HTTP/1.0\r\n\r\n");
    expect_echo(f, c, "GET /z ", false);
    close(c);
    /* HTTP/1.0 asking for keep-alive gets it. */
    c = client(f);
    say(c, "GET /k HTTP/1.0\r\nConnection: keep-alive\r\n\r\n");
    expect_echo(f, c, "GET /k ", true);
    close(c);
}

static void expect_continue(void **state)
{
    struct fx *f = *state;
    int c = client(f);
    say(c, "PUT /vm.create HTTP/1.1\r\nExpect: 100-Continue\r\nContent-Length: 5\r\n\r\n");
    expect_reply(f, c, "HTTP/1.1 100 Continue\r\n\r\n", true);
    say(c, "hello");
    expect_echo(f, c, "PUT /vm.create hello", true);
    close(c);
}

static const char too_large[] =
    "HTTP/1.1 413 \r\nContent-Type: application/json\r\nContent-Length: 34\r\n"
    "Connection: close\r\n\r\n[\"request body larger than 4 MiB\"]";

static void body_limit(void **state)
{
    struct fx *f = *state;
    /* Declared too large: refused before any body, with no 100 Continue. */
    int c = client(f);
    say(c, "PUT /x HTTP/1.1\r\nExpect: 100-continue\r\nContent-Length: 4194305\r\n\r\n");
    expect_reply(f, c, too_large, false);
    close(c);
    /* Exactly 4 MiB is taken. */
    c = client(f);
    char *body = malloc(HTTP_MAX_BODY + 64);
    int h = sprintf(body, "PUT /x HTTP/1.1\r\nContent-Length: %u\r\n\r\n", HTTP_MAX_BODY);
    memset(body + h, 'b', HTTP_MAX_BODY);
    size_t total = h + HTTP_MAX_BODY, sent = 0;
    char buf[256];
    bool eof = false;
    size_t got = 0;
    for (unsigned i = 0; got < 60 && !eof && i < 100000; i++) {
        if (sent < total) {
            ssize_t n = send(c, body + sent, total - sent, MSG_DONTWAIT | MSG_NOSIGNAL);
            if (n > 0)
                sent += n;
        }
        event_loop_poll(&f->loop, 5);
        ssize_t n = recv(c, buf + got, sizeof buf - 1 - got, MSG_DONTWAIT);
        if (n > 0)
            got += n;
        eof = n == 0;
    }
    buf[got] = '\0';
    assert_memory_equal(buf, "HTTP/1.1 200 \r\n", 15);
    close(c);
    /* A chunked body that grows past the limit: 413 once it does. */
    c = client(f);
    say(c, "PUT /x HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n");
    got = 0;
    eof = false;
    static char chunk[65536 + 16];
    int ch = sprintf(chunk, "10000\r\n");
    memset(chunk + ch, 'c', 65536);
    memcpy(chunk + ch + 65536, "\r\n", 2);
    size_t clen = ch + 65538, at = 0;   /* the stream goes on where a short send stopped */
    for (unsigned i = 0; !eof && i < 100000; i++) {
        ssize_t n = send(c, chunk + at, clen - at, MSG_DONTWAIT | MSG_NOSIGNAL);
        if (n < 0 && errno != EAGAIN)
            break;   /* the server closed */
        if (n > 0)
            at = (at + n) % clen;
        event_loop_poll(&f->loop, 5);
        n = recv(c, buf + got, sizeof buf - 1 - got, MSG_DONTWAIT);
        if (n > 0)
            got += n;
        eof = n == 0;
    }
    got += pump(f, c, buf + got, sizeof buf - 1 - got, &eof);
    assert_string_equal(buf, too_large);
    close(c);
    free(body);
}

static void header_limits(void **state)
{
    struct fx *f = *state;
    int c = client(f);
    char *req = malloc(HTTP_MAX_HEADER_BYTES + 256);
    int n = sprintf(req, "GET / HTTP/1.1\r\nX-Big: ");
    memset(req + n, 'h', HTTP_MAX_HEADER_BYTES);
    strcpy(req + n + HTTP_MAX_HEADER_BYTES, "\r\n\r\n");
    say(c, req);
    char buf[512];
    bool eof;
    pump(f, c, buf, sizeof buf - 1, &eof);
    assert_memory_equal(buf, "HTTP/1.1 431 \r\n", 15);
    assert_true(eof);
    close(c);

    c = client(f);
    n = sprintf(req, "GET /");
    memset(req + n, 'u', HTTP_MAX_URL);
    strcpy(req + n + HTTP_MAX_URL, " HTTP/1.1\r\n\r\n");
    say(c, req);
    pump(f, c, buf, sizeof buf - 1, &eof);
    assert_memory_equal(buf, "HTTP/1.1 414 \r\n", 15);
    assert_true(eof);
    close(c);

    c = client(f);
    n = sprintf(req, "GET / HTTP/1.1\r\n");
    for (int i = 0; i <= HTTP_MAX_HEADERS; i++)
        n += sprintf(req + n, "a:\r\n");
    strcpy(req + n, "\r\n");
    say(c, req);
    pump(f, c, buf, sizeof buf - 1, &eof);
    assert_memory_equal(buf, "HTTP/1.1 431 \r\n", 15);
    close(c);
    free(req);
}

static void stalled_client(void **state)
{
    struct fx *f = *state;
    int a = client(f), b = client(f);
    say(a, "PUT /a HTTP/1.1\r\nContent-Length: 4\r\n\r\nha");   /* half of it */
    say(b, "GET /b HTTP/1.1\r\n\r\n");
    expect_echo(f, b, "GET /b ", true);
    say(a, "lf");
    expect_echo(f, a, "PUT /a half", true);
    close(a);
    close(b);
}

static void malformed(void **state)
{
    struct fx *f = *state;
    int c = client(f);
    say(c, "GET / HTTP/1.1\r\nContent-Length: x\r\n\r\n");
    char buf[512];
    bool eof;
    pump(f, c, buf, sizeof buf - 1, &eof);
    assert_memory_equal(buf, "HTTP/1.1 400 \r\nContent-Type: application/json\r\n", 47);
    assert_non_null(strstr(buf, "Connection: close\r\n\r\n[\"malformed request: "));
    assert_true(eof);
    close(c);
    /* The server still serves. */
    c = client(f);
    say(c, "GET /ok HTTP/1.1\r\n\r\n");
    expect_echo(f, c, "GET /ok ", true);
    close(c);
}

static void client_leaves_mid_response(void **state)
{
    struct fx *f = *state;
    int c = client(f);
    say(c, "GET /big HTTP/1.1\r\n\r\n");
    char buf[100];
    bool eof;
    assert_int_equal(pump(f, c, buf, sizeof buf - 1, &eof), sizeof buf - 1);
    close(c);
    /* The server notices and drops the connection: only the listener is left. */
    for (int i = 0; i < 100 && f->loop.n > 1; i++)
        event_loop_poll(&f->loop, 5);
    assert_int_equal(f->loop.n, 1);
    /* A shutdown asked for by a client that then left still goes ahead. */
    c = client(f);
    say(c, "GET /after HTTP/1.1\r\n\r\n");
    event_loop_poll(&f->loop, 100);
    close(c);
    for (int i = 0; i < 100 && f->loop.n > 1; i++)
        event_loop_poll(&f->loop, 5);
    assert_int_equal(f->after_calls, 1);
}

static void respond_errors(void **state)
{
    (void)state;
    struct http_response r = { 0 };
    const char *m[] = { "a", "b" };
    http_respond_errors(&r, 400, m, 2);
    assert_int_equal(r.status, 400);
    assert_string_equal(r.body, "[\"a\",\"b\"]");
    assert_int_equal(r.body_len, 9);
    free(r.body);
    const char *q[] = { "bad \"path\" /x" };
    http_respond_errors(&r, 404, q, 1);
    assert_string_equal(r.body, "[\"bad \\\"path\\\" /x\"]");
    free(r.body);
}

static void after_response_waits_for_the_bytes(void **state)
{
    struct fx *f = *state;
    int c = client(f);
    say(c, "GET /after HTTP/1.1\r\n\r\n");
    /* The client reads nothing: the answer does not fit the socket. */
    for (int i = 0; i < 20; i++)
        event_loop_poll(&f->loop, 5);
    assert_int_equal(f->after_calls, 0);
    char *buf = malloc(BIG + 256);
    bool eof;
    size_t n = pump(f, c, buf, BIG + 74, &eof);
    assert_memory_equal(buf, "HTTP/1.1 200 \r\n", 15);
    assert_int_equal(n, BIG + 74);   /* headers (74 bytes) and the whole body */
    event_loop_poll(&f->loop, 0);
    assert_int_equal(f->after_calls, 1);
    /* The connection goes on. */
    say(c, "GET /more HTTP/1.1\r\n\r\n");
    expect_echo(f, c, "GET /more ", true);
    assert_int_equal(f->after_calls, 1);
    free(buf);
    close(c);
}

static void too_many_clients(void **state)
{
    struct fx *f = *state;
    int c[EVENT_LOOP_MAX + 4];
    for (unsigned i = 0; i < EVENT_LOOP_MAX + 4; i++)
        c[i] = client(f);
    assert_true(f->loop.n <= EVENT_LOOP_MAX);
    /* The last ones were closed at once; the first is served. */
    char buf[8];
    bool eof;
    assert_int_equal(pump(f, c[EVENT_LOOP_MAX + 3], buf, 1, &eof), 0);
    assert_true(eof);
    say(c[0], "GET /first HTTP/1.1\r\n\r\n");
    expect_echo(f, c[0], "GET /first ", true);
    for (unsigned i = 0; i < EVENT_LOOP_MAX + 4; i++)
        close(c[i]);
}

/* ---- deferred answers (http_server_defer / http_server_answer) ---- */

/* Answers deferred request i with a 200 carrying `body`. */
static void answer(struct fx *f, unsigned i, const char *body, void (*fn)(void *), void *arg)
{
    struct http_response r = { .status = 200, .body = strdup(body), .body_len = strlen(body) };
    http_server_answer(f->s, f->ticket[i], &r, fn, arg);
    assert_null(r.body);   /* the server's now */
}

/* Polls the loop until the request on fd has been taken and deferred. */
static void until_deferred(struct fx *f, unsigned n)
{
    for (int i = 0; i < 200 && f->ndeferred < n; i++)
        event_loop_poll(&f->loop, 5);
    assert_int_equal(f->ndeferred, n);
}

/* Nothing comes on fd for a few rounds, and it stays open. */
static void expect_silence(struct fx *f, int fd)
{
    char buf[8];
    bool eof;
    assert_int_equal(pump_rounds(f, fd, buf, 1, &eof, 10), 0);
    assert_false(eof);
}

static void deferred_answer_comes_later(void **state)
{
    struct fx *f = *state;
    int a = client(f), b = client(f);
    /* A request pipelined behind the deferred one waits for it. */
    say(a, "GET /defer HTTP/1.1\r\n\r\nGET /next HTTP/1.1\r\n\r\n");
    until_deferred(f, 1);
    expect_silence(f, a);
    /* Meanwhile other connections are served. */
    say(b, "GET /b HTTP/1.1\r\n\r\n");
    expect_echo(f, b, "GET /b ", true);
    say(b, "GET /b2 HTTP/1.1\r\n\r\n");
    expect_echo(f, b, "GET /b2 ", true);
    expect_silence(f, a);
    assert_int_equal(f->ndeferred, 1);   /* /next was not taken meanwhile */
    answer(f, 0, "late", after, f);
    assert_int_equal(f->after_calls, 0);   /* not before it is written */
    char want[512] = "";
    echo_reply(want, "late", true);
    expect_reply(f, a, echo_reply(want, "GET /next ", true), true);
    assert_int_equal(f->after_calls, 1);
    /* The connection goes on as any other. */
    say(a, "GET /again HTTP/1.1\r\n\r\n");
    expect_echo(f, a, "GET /again ", true);
    assert_int_equal(f->after_calls, 1);
    close(a);
    close(b);
}

static void deferred_answers_find_their_connections(void **state)
{
    struct fx *f = *state;
    int a = client(f), b = client(f);
    say(a, "GET /defer HTTP/1.1\r\n\r\n");
    until_deferred(f, 1);
    say(b, "PUT /defer HTTP/1.1\r\nContent-Length: 2\r\n\r\nhi");
    until_deferred(f, 2);
    /* Answered in the other order. */
    answer(f, 1, "for b", NULL, NULL);
    expect_echo(f, b, "for b", true);
    expect_silence(f, a);
    answer(f, 0, "for a", NULL, NULL);
    expect_echo(f, a, "for a", true);
    /* A ticket answered already, or never given, reaches nobody, and a
     * HEAD's deferred answer has no body. */
    answer(f, 0, "again", NULL, NULL);
    say(a, "HEAD /defer HTTP/1.1\r\n\r\n");
    until_deferred(f, 3);
    f->ticket[3] = 0;
    answer(f, 3, "nobody", after, f);
    assert_int_equal(f->after_calls, 1);   /* at once: nobody to wait for */
    expect_silence(f, b);
    answer(f, 2, "body", NULL, NULL);
    expect_reply(f, a, "HTTP/1.1 200 \r\nContent-Type: application/json\r\nContent-Length: 4\r\n\r\n",
                 true);
    close(a);
    close(b);
}

static void deferred_answer_on_a_closing_connection(void **state)
{
    struct fx *f = *state;
    int c = client(f);
    say(c, "GET /defer HTTP/1.1\r\nConnection: close\r\n\r\n");
    until_deferred(f, 1);
    expect_silence(f, c);
    /* A body larger than the socket takes: after runs once all of it went. */
    struct http_response r = { .status = 200, .body = malloc(BIG), .body_len = BIG };
    memset(r.body, 'd', BIG);
    http_server_answer(f->s, f->ticket[0], &r, after, f);
    for (int i = 0; i < 20; i++)
        event_loop_poll(&f->loop, 5);
    assert_int_equal(f->after_calls, 0);
    char *buf = malloc(BIG + 256);
    bool eof;
    static const char head[] = "HTTP/1.1 200 \r\nContent-Type: application/json\r\n"
                               "Content-Length: 1048576\r\nConnection: close\r\n\r\n";
    size_t n = pump(f, c, buf, BIG + sizeof head - 1, &eof);
    assert_int_equal(n, BIG + sizeof head - 1);
    assert_memory_equal(buf, head, sizeof head - 1);
    assert_int_equal(buf[n - 1], 'd');
    /* Then the server closes, and after has run. */
    n = pump_rounds(f, c, buf, 1, &eof, 3);
    assert_int_equal(n, 0);
    assert_true(eof);
    assert_int_equal(f->after_calls, 1);
    assert_int_equal(f->loop.n, 1);
    free(buf);
    close(c);
}

static void deferred_client_hangs_up(void **state)
{
    struct fx *f = *state;
    int c = client(f);
    say(c, "GET /defer HTTP/1.1\r\n\r\nGET /more HTTP/1.1\r\n\r\n");
    until_deferred(f, 1);
    say(c, "GET /unread HTTP/1.1\r\n\r\n");
    /* Waiting, the connection wakes nobody: the loop does not spin on
     * it, even with pipelined requests buffered and unread. */
    for (int i = 0; i < 5; i++)
        assert_int_equal(event_loop_poll(&f->loop, 0), 0);
    close(c);
    /* The hang-up is noticed, the connection closed... */
    for (int i = 0; i < 100 && f->loop.n > 1; i++)
        event_loop_poll(&f->loop, 5);
    assert_int_equal(f->loop.n, 1);
    /* ...and nothing is left to wake the loop. */
    assert_int_equal(event_loop_poll(&f->loop, 0), 0);
    /* The answer goes nowhere: what was to follow it runs at once, and
     * the body is freed (ASan tells). */
    struct http_response r = { .status = 200, .body = malloc(100), .body_len = 100 };
    memset(r.body, 'x', 100);
    http_server_answer(f->s, f->ticket[0], &r, after, f);
    assert_null(r.body);
    assert_int_equal(f->after_calls, 1);
    assert_int_equal(f->ndeferred, 1);   /* /more and /unread were never taken */
    /* A body-less answer with no fn, to nobody, is fine too. */
    struct http_response none = { .status = 204 };
    http_server_answer(f->s, f->ticket[0], &none, NULL, NULL);
    assert_int_equal(f->after_calls, 1);
}

static void half_closed_client_gets_its_deferred_answer(void **state)
{
    struct fx *f = *state;
    int c = client(f);
    say(c, "PUT /defer HTTP/1.1\r\nContent-Length: 1\r\n\r\nx");
    assert_int_equal(shutdown(c, SHUT_WR), 0);
    until_deferred(f, 1);
    /* The half-close neither closes the connection nor spins the loop. */
    for (int i = 0; i < 5; i++)
        assert_int_equal(event_loop_poll(&f->loop, 0), 0);
    assert_int_equal(f->loop.n, 2);
    answer(f, 0, "done", after, f);
    /* The answer (keep-alive, as asked), then the server closes: the
     * client sends nothing more. */
    char want[256] = "";
    expect_reply(f, c, echo_reply(want, "done", true), false);
    assert_int_equal(f->after_calls, 1);
    assert_int_equal(f->loop.n, 1);
    close(c);
}

static void defer_outside_a_handler(void **state)
{
    struct fx *f = *state;
    assert_int_equal(http_server_defer(f->s), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(wire_format, setup, teardown),
        cmocka_unit_test_setup_teardown(keep_alive_and_pipelining, setup, teardown),
        cmocka_unit_test_setup_teardown(connection_close, setup, teardown),
        cmocka_unit_test_setup_teardown(expect_continue, setup, teardown),
        cmocka_unit_test_setup_teardown(body_limit, setup, teardown),
        cmocka_unit_test_setup_teardown(header_limits, setup, teardown),
        cmocka_unit_test_setup_teardown(stalled_client, setup, teardown),
        cmocka_unit_test_setup_teardown(malformed, setup, teardown),
        cmocka_unit_test_setup_teardown(client_leaves_mid_response, setup, teardown),
        cmocka_unit_test(respond_errors),
        cmocka_unit_test_setup_teardown(after_response_waits_for_the_bytes, setup, teardown),
        cmocka_unit_test_setup_teardown(too_many_clients, setup, teardown),
        cmocka_unit_test_setup_teardown(deferred_answer_comes_later, setup, teardown),
        cmocka_unit_test_setup_teardown(deferred_answers_find_their_connections, setup, teardown),
        cmocka_unit_test_setup_teardown(deferred_answer_on_a_closing_connection, setup, teardown),
        cmocka_unit_test_setup_teardown(deferred_client_hangs_up, setup, teardown),
        cmocka_unit_test_setup_teardown(half_closed_client_gets_its_deferred_answer, setup, teardown),
        cmocka_unit_test_setup_teardown(defer_outside_a_handler, setup, teardown),
    };
    cmocka_set_message_output(CM_OUTPUT_TAP);
    return cmocka_run_group_tests(tests, NULL, NULL);
}
