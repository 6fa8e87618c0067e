/* The control API's HTTP/1.1 server on a Unix socket: requests parsed by
 * libhttp-parser, answered in the exact wire form Cloud Hypervisor's own
 * client expects (`HTTP/1.1 204 ` with an empty reason phrase, the header
 * spelled `Content-Length: `, no body and no Content-Type on 204).
 *
 * Threading: the server lives on the event loop's thread alone. Every
 * socket is non-blocking and registered in the loop; each connection has
 * its own buffers, so a client that stalls halfway through a request only
 * holds its own connection. Nothing here takes a lock, and no function may
 * be called from another thread.
 *
 * Per connection, one request is handled at a time: after a complete
 * request the parser is paused until its response has been written, so
 * pipelined requests are answered in order and a client that does not read
 * its answers stops being read (its own buffers stay bounded). */
#ifndef KVMBOX_API_HTTP_H
#define KVMBOX_API_HTTP_H

#include "vmm/event_loop.h"

#include <stdbool.h>
#include <stddef.h>

#define HTTP_MAX_BODY        (4u << 20)   /* larger: 413 */
#define HTTP_MAX_URL         4096         /* longer request target: 414 */
#define HTTP_MAX_HEADER_BYTES 16384       /* names and values together: 431 */
#define HTTP_MAX_HEADERS     100          /* more header lines: 431 */
/* Beyond this many clients at once, or when the event loop has no room
 * for another source, a new connection is accepted and closed at once. */
#define HTTP_MAX_CONNECTIONS 32

struct http_request {
    const char *method;          /* "GET", "PUT", ... */
    const char *path;            /* the request target's path, without the query */
    const char *body;            /* NUL-terminated copy; "" when none */
    size_t body_len;
};

struct http_response {
    int status;                  /* 200, 204, 400, 404, 405, 500 ... */
    char *body;                  /* malloc'd by the handler (the server frees it), or NULL */
    size_t body_len;
    const char *content_type;    /* NULL: "application/json" when there is a body */
};

/* Called on the loop's thread for each complete request. `resp` comes
 * zeroed but for status 500 (what a handler that sets nothing answers).
 * A body on a 204 or 304 is dropped; a status outside 200-599 becomes 500. */
typedef void (*http_handler_fn)(void *ctx, const struct http_request *req,
                                struct http_response *resp);

struct http_server;

/* Takes over listen_fd (a listening Unix stream socket; the server sets
 * O_NONBLOCK and closes it on free), registers it and every connection in
 * `loop`. Returns NULL with errno on failure (listen_fd is closed then too). */
struct http_server *http_server_new(int listen_fd, struct event_loop *loop,
                                    http_handler_fn handler, void *ctx);
/* Closes every connection and the listener and unregisters them; pending
 * after_response callbacks are dropped. Not from inside the handler; from
 * an after_response callback it is fine. */
void http_server_free(struct http_server *s);
/* Who may talk to the server: called with each accepted connection's fd
 * before anything is read from it; false (with a one-line reason in why)
 * refuses it: its request is answered 403 with the reason, and the
 * connection closed. */
typedef bool (*http_peer_check_fn)(void *ctx, int fd, char *why, size_t whylen);
void http_server_set_peer_check(struct http_server *s, http_peer_check_fn fn, void *ctx);
/* From inside the handler: call fn(arg) once the response being built has
 * been written to the client (or the client went away first, so a
 * shutdown request is never lost). It runs from the loop, as the last
 * thing the server does in that round, so it may free the server. Called
 * outside a handler, fn runs at once. */
void http_server_after_response(struct http_server *s, void (*fn)(void *arg), void *arg);
/* From inside the handler: the answer will come later, from
 * http_server_answer (a long task, e.g. a migration, answers when it is
 * over). Returns a ticket for it (never 0). Meanwhile the connection reads
 * and answers nothing else; other connections are served as usual. */
unsigned long http_server_defer(struct http_server *s);
/* The deferred answer for `ticket`, on the loop's thread; fn(arg), if
 * given, runs once it has been written (or at once, when the client went
 * away: as http_server_after_response). The body is the server's. */
void http_server_answer(struct http_server *s, unsigned long ticket, struct http_response *r,
                        void (*fn)(void *arg), void *arg);
/* A JSON error body as CH sends it: a JSON array of strings, top error
 * first. Sets status and body (body NULL if memory ran out). */
void http_respond_errors(struct http_response *r, int status, const char *const *msgs,
                         unsigned n);

#endif
