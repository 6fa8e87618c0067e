/* `kvmbox ctl` against servers of the test's own: the project's real HTTP
 * server (src/api/http.c on an event loop in a thread) for the command
 * line end to end (pretty JSON, 204, the error array on stderr, create
 * from a file and stdin, usage errors), and a raw socket that answers
 * canned bytes for what the real server never sends (chunked, a body to
 * the end of the connection, 100 Continue, closing early, never
 * answering, garbage), and the ticks of a request that waits. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include "api/http.h"
#include "cli/ctl.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

struct fx {
    char dir[64], path[108], raw_path[108];
    struct event_loop loop;
    struct http_server *s;
    pthread_t thread;
    atomic_bool stop;
};

/* What kvmbox's API answers, in miniature. */
static void handler(void *ctx, const struct http_request *req, struct http_response *r)
{
    (void)ctx;
    if (!strcmp(req->path, "/api/v1/vmm.ping")) {
        r->status = 200;
        r->body = strdup("{\"version\":\"0.1.0\",\"path\":\"/a/b\",\"features\":[]}");
        r->body_len = strlen(r->body);
    } else if (!strcmp(req->path, "/api/v1/vm.pause")) {
        r->status = 204;
    } else if (!strcmp(req->path, "/api/v1/vm.resume")) {
        const char *m[] = { "cannot resume: the VM is not paused", "the cause" };
        http_respond_errors(r, 500, m, 2);
    } else if (!strcmp(req->path, "/api/v1/vm.create") && !strcmp(req->method, "PUT")) {
        r->status = 200;   /* echoes the config it was sent */
        r->body = strdup(req->body);
        r->body_len = req->body_len;
    } else {
        const char *m = "unknown endpoint";
        http_respond_errors(r, 404, &m, 1);
    }
}

/* The server's loop, on its own thread as in kvmbox (the main thread). */
static void *serve(void *arg)
{
    struct fx *f = arg;
    while (!atomic_load(&f->stop))
        event_loop_poll(&f->loop, 10);
    return NULL;
}

static int listen_at(const char *path)
{
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_un a = { .sun_family = AF_UNIX };
    strcpy(a.sun_path, path);
    assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof a), 0);
    assert_int_equal(listen(fd, 8), 0);
    return fd;
}

static int setup(void **state)
{
    struct fx *f = calloc(1, sizeof *f);
    strcpy(f->dir, "/tmp/kvmbox-ctl-XXXXXX");
    assert_non_null(mkdtemp(f->dir));
    snprintf(f->path, sizeof f->path, "%s/api.sock", f->dir);
    snprintf(f->raw_path, sizeof f->raw_path, "%s/raw.sock", f->dir);
    event_loop_init(&f->loop);
    f->s = http_server_new(listen_at(f->path), &f->loop, handler, f);
    assert_non_null(f->s);
    assert_int_equal(pthread_create(&f->thread, NULL, serve, f), 0);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fx *f = *state;
    atomic_store(&f->stop, true);
    pthread_join(f->thread, NULL);
    http_server_free(f->s);
    unlink(f->path);
    unlink(f->raw_path);
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", f->dir);
    assert_int_equal(system(cmd), 0);
    free(f);
    return 0;
}

/* ---- the command line, its stdout and stderr captured ---- */

struct cap { char out[8192], err[8192]; };

/* Points fd at a fresh temporary file; returns the saved original. */
static int redirect(int fd, int *tmp)
{
    char name[] = "/tmp/kvmbox-ctl-cap-XXXXXX";
    *tmp = mkstemp(name);
    assert_true(*tmp >= 0);
    unlink(name);
    int saved = dup(fd);
    dup2(*tmp, fd);
    return saved;
}

static void restore(int fd, int saved, int tmp, char *into, size_t len)
{
    dup2(saved, fd);
    close(saved);
    ssize_t n = pread(tmp, into, len - 1, 0);
    into[n > 0 ? n : 0] = '\0';
    close(tmp);
}

/* ctl_main("ctl", args..., NULL) with `in` (or nothing) on stdin. */
static int run_ctl(struct cap *c, const char *in, ...)
{
    char *argv[16] = { "ctl" };
    int argc = 1;
    va_list ap;
    va_start(ap, in);
    for (char *a; (a = va_arg(ap, char *));)
        argv[argc++] = a;
    va_end(ap);
    fflush(stdout);
    fflush(stderr);
    int in_tmp, out_tmp, err_tmp;
    int in_saved = redirect(STDIN_FILENO, &in_tmp);
    if (in)
        assert_int_equal(pwrite(in_tmp, in, strlen(in), 0), (ssize_t)strlen(in));
    int out_saved = redirect(STDOUT_FILENO, &out_tmp);
    int err_saved = redirect(STDERR_FILENO, &err_tmp);
    int rc = ctl_main(argc, argv);
    fflush(stdout);
    fflush(stderr);
    restore(STDERR_FILENO, err_saved, err_tmp, c->err, sizeof c->err);
    restore(STDOUT_FILENO, out_saved, out_tmp, c->out, sizeof c->out);
    char unused[8];
    restore(STDIN_FILENO, in_saved, in_tmp, unused, sizeof unused);
    return rc;
}

static void query_pretty_printed(void **state)
{
    struct fx *f = *state;
    struct cap c;
    assert_int_equal(run_ctl(&c, NULL, "--api-socket", f->path, "ping", NULL), 0);
    /* One object, pretty, slashes as they are. */
    assert_string_equal(c.out, "{\n  \"version\": \"0.1.0\",\n  \"path\": \"/a/b\",\n  \"features\": [\n  ]\n}\n");
    assert_string_equal(c.err, "");
}

static void socket_option_forms(void **state)
{
    struct fx *f = *state;
    struct cap c;
    char eq[160], pathkv[160];
    snprintf(eq, sizeof eq, "--api-socket=%s", f->path);
    snprintf(pathkv, sizeof pathkv, "path=%s", f->path);
    assert_int_equal(run_ctl(&c, NULL, eq, "ping", NULL), 0);
    assert_non_null(strstr(c.out, "\"version\""));
    assert_int_equal(run_ctl(&c, NULL, "--api-socket", pathkv, "ping", NULL), 0);
    assert_non_null(strstr(c.out, "\"version\""));
    assert_int_equal(run_ctl(&c, NULL, "--api-socket", "fd=3", "ping", NULL), 1);
    assert_non_null(strstr(c.err, "expected PATH or path=PATH"));
}

static void no_content_prints_nothing(void **state)
{
    struct fx *f = *state;
    struct cap c;
    assert_int_equal(run_ctl(&c, NULL, "--api-socket", f->path, "pause", NULL), 0);
    assert_string_equal(c.out, "");
    assert_string_equal(c.err, "");
}

static void error_array_on_stderr(void **state)
{
    struct fx *f = *state;
    struct cap c;
    assert_int_equal(run_ctl(&c, NULL, "--api-socket", f->path, "resume", NULL), 1);
    assert_string_equal(c.out, "");
    assert_string_equal(c.err, "kvmbox: error: vm.resume: cannot resume: the VM is not paused\n"
                               "kvmbox: error: the cause\n");
    /* An endpoint this server lacks: its 404, exit 1. */
    assert_int_equal(run_ctl(&c, NULL, "--api-socket", f->path, "power-button", NULL), 1);
    assert_string_equal(c.err, "kvmbox: error: vm.power-button: unknown endpoint\n");
}

static void create_from_file_and_stdin(void **state)
{
    struct fx *f = *state;
    struct cap c;
    char file[160];
    snprintf(file, sizeof file, "%s/vm.json", f->dir);
    FILE *fp = fopen(file, "w");
    fputs("{\"cpus\":{\"boot_vcpus\":2}}", fp);
    fclose(fp);
    assert_int_equal(run_ctl(&c, NULL, "--api-socket", f->path, "create", file, NULL), 0);
    assert_non_null(strstr(c.out, "\"boot_vcpus\": 2"));
    assert_int_equal(run_ctl(&c, "{\"memory\":{\"size\":1}}", "--api-socket", f->path, "create", "-", NULL), 0);
    assert_non_null(strstr(c.out, "\"size\": 1"));
    /* No argument: stdin too, as ch-remote. */
    assert_int_equal(run_ctl(&c, "{\"rng\":{}}", "--api-socket", f->path, "create", NULL), 0);
    assert_non_null(strstr(c.out, "\"rng\""));
    assert_int_equal(run_ctl(&c, NULL, "--api-socket", f->path, "create", "/nonexistent/vm.json", NULL), 1);
    assert_non_null(strstr(c.err, "/nonexistent/vm.json: No such file or directory"));
}

static void bad_usage(void **state)
{
    struct fx *f = *state;
    struct cap c;
    assert_int_equal(run_ctl(&c, NULL, "--api-socket", f->path, "frobnicate", NULL), 1);
    assert_non_null(strstr(c.err, "kvmbox: error: ctl: unknown command 'frobnicate'"));
    assert_non_null(strstr(c.err, "usage: kvmbox ctl"));
    assert_int_equal(run_ctl(&c, NULL, "ping", NULL), 1);
    assert_non_null(strstr(c.err, "--api-socket PATH is required"));
    assert_int_equal(run_ctl(&c, NULL, "--api-socket", f->path, NULL), 1);
    assert_non_null(strstr(c.err, "no command given"));
    assert_int_equal(run_ctl(&c, NULL, "--api-socket", f->path, "pause", "now", NULL), 1);
    assert_non_null(strstr(c.err, "too many arguments for 'pause'"));
    assert_int_equal(run_ctl(&c, NULL, "--api-socket", NULL), 1);
    assert_non_null(strstr(c.err, "needs a value"));
    assert_int_equal(run_ctl(&c, NULL, "--bogus", NULL), 1);
    assert_non_null(strstr(c.err, "unknown option '--bogus'"));
    assert_int_equal(run_ctl(&c, NULL, "--help", NULL), 0);
    assert_non_null(strstr(c.out, "shutdown-vmm"));
    assert_string_equal(c.err, "");
}

static void cannot_connect(void **state)
{
    struct fx *f = *state;
    struct cap c;
    char missing[160];
    snprintf(missing, sizeof missing, "%s/none.sock", f->dir);
    assert_int_equal(run_ctl(&c, NULL, "--api-socket", missing, "ping", NULL), 1);
    char want[256];
    snprintf(want, sizeof want, "kvmbox: error: cannot connect to %s: No such file or directory\n", missing);
    assert_string_equal(c.err, want);
    /* Bound but nobody listening: refused. */
    int fd = socket(AF_UNIX, SOCK_STREAM, 0);
    struct sockaddr_un a = { .sun_family = AF_UNIX };
    strcpy(a.sun_path, f->raw_path);
    assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof a), 0);
    assert_int_equal(run_ctl(&c, NULL, "--api-socket", f->raw_path, "ping", NULL), 1);
    assert_non_null(strstr(c.err, "Connection refused"));
    close(fd);
}

/* ---- a raw server: one connection, canned bytes ---- */

struct raw {
    int lfd;
    const char *reply;   /* NULL: read the request, answer nothing, wait for the client to go */
};

static void *raw_serve(void *arg)
{
    struct raw *r = arg;
    int c = accept(r->lfd, NULL, NULL);
    char buf[4096];
    size_t got = 0;
    while (got < sizeof buf - 1) {   /* the request's head (these requests have no body) */
        ssize_t n = recv(c, buf + got, sizeof buf - 1 - got, 0);
        if (n <= 0)
            break;
        got += (size_t)n;
        buf[got] = '\0';
        if (strstr(buf, "\r\n\r\n"))
            break;
    }
    /* No cmocka asserts off the test's thread: the client's checks tell. */
    if (r->reply) {
        if (send(c, r->reply, strlen(r->reply), MSG_NOSIGNAL) < 0)
            perror("raw_serve: send");
    } else
        while (recv(c, buf, sizeof buf, 0) > 0) {
        }
    close(c);
    return NULL;
}

/* ctl_request against `reply`; returns its result, the reply in *out. */
static int raw_request(struct fx *f, const char *reply, unsigned timeout_ms, struct ctl_reply *out,
                       char *err, size_t errlen)
{
    struct raw r = { .lfd = listen_at(f->raw_path), .reply = reply };
    pthread_t t;
    assert_int_equal(pthread_create(&t, NULL, raw_serve, &r), 0);
    int rc = ctl_request(f->raw_path, "GET", "vm.info", NULL, 0, timeout_ms, out, err, errlen);
    pthread_join(t, NULL);
    close(r.lfd);
    unlink(f->raw_path);
    return rc;
}

static void chunked_and_until_eof(void **state)
{
    struct fx *f = *state;
    struct ctl_reply r;
    char err[256];
    assert_int_equal(raw_request(f, "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
                                    "5\r\n{\"a\":\r\n2\r\n1}\r\n0\r\n\r\n", 5000, &r, err, sizeof err), 0);
    assert_int_equal(r.status, 200);
    assert_string_equal(r.body, "{\"a\":1}");
    free(r.body);
    /* No length: the body runs to the end of the connection. */
    assert_int_equal(raw_request(f, "HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n{}", 5000, &r,
                                 err, sizeof err), 0);
    assert_string_equal(r.body, "{}");
    free(r.body);
    /* An interim 100 Continue, then the answer. */
    assert_int_equal(raw_request(f, "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 204 \r\n\r\n", 5000, &r,
                                 err, sizeof err), 0);
    assert_int_equal(r.status, 204);
    assert_string_equal(r.body, "");
    free(r.body);
}

static void closed_early(void **state)
{
    struct fx *f = *state;
    struct ctl_reply r;
    char err[256];
    assert_int_equal(raw_request(f, "HTTP/1.1 200 \r\nContent-Length: 10\r\n\r\n{\"a\"", 5000, &r,
                                 err, sizeof err), -1);
    assert_non_null(strstr(err, "closed the connection before its answer was complete"));
    assert_null(r.body);
    assert_int_equal(raw_request(f, "", 5000, &r, err, sizeof err), -1);
    assert_non_null(strstr(err, "closed the connection without answering"));
}

static void malformed_answer(void **state)
{
    struct fx *f = *state;
    struct ctl_reply r;
    char err[256];
    assert_int_equal(raw_request(f, "SPDY/9 hello\r\n\r\n", 5000, &r, err, sizeof err), -1);
    assert_non_null(strstr(err, "malformed answer from the server"));
}

static void never_answers_times_out(void **state)
{
    struct fx *f = *state;
    struct ctl_reply r;
    char err[256];
    assert_int_equal(raw_request(f, NULL, 200, &r, err, sizeof err), -1);
    assert_non_null(strstr(err, "no answer within 200 ms"));
}

static void report_without_error_array(void **state)
{
    (void)state;
    struct ctl_reply r = { .status = 502, .body = "bad gateway", .body_len = 11 };
    struct cap c;
    fflush(stderr);
    int tmp, saved = redirect(STDERR_FILENO, &tmp);
    int rc = ctl_report("vm.info", &r, stdout);
    fflush(stderr);
    restore(STDERR_FILENO, saved, tmp, c.err, sizeof c.err);
    assert_int_equal(rc, 1);
    assert_string_equal(c.err, "kvmbox: error: vm.info: the server answered HTTP 502: bad gateway\n");
}

/* ---- ctl_request_ticking: a server that answers on the third tick ---- */

struct slow {
    int lfd;
    unsigned ticks;
    unsigned answered_at;   /* the tick that sent the answer, or 0 */
};

/* The test's "server" lives in the tick itself: the request is waiting in
 * the listener's backlog (ticks come only once it has been sent), and the
 * third tick answers it. So every tick is one while the answer is
 * delayed, and the count says whether any came after it. */
static void slow_tick(void *arg)
{
    struct slow *s = arg;
    s->ticks++;
    if (s->ticks < 3 || s->answered_at)
        return;
    int c = accept4(s->lfd, NULL, NULL, SOCK_CLOEXEC);
    assert_true(c >= 0);
    char buf[4096] = "";
    size_t got = 0;
    while (got < sizeof buf - 1 && !strstr(buf, "\r\n\r\n")) {
        ssize_t n = recv(c, buf + got, sizeof buf - 1 - got, 0);
        assert_true(n > 0);
        got += (size_t)n;
        buf[got] = '\0';
    }
    assert_non_null(strstr(buf, "GET /api/v1/vm.migration-progress HTTP/1.1\r\n"));
    static const char reply[] = "HTTP/1.1 200 \r\nContent-Length: 2\r\n\r\n{}";
    assert_int_equal(send(c, reply, sizeof reply - 1, MSG_NOSIGNAL), (ssize_t)sizeof reply - 1);
    close(c);
    s->answered_at = s->ticks;
}

static void ticks_while_waiting(void **state)
{
    struct fx *f = *state;
    struct slow s = { .lfd = listen_at(f->raw_path) };
    struct ctl_ticker t = { .every_ms = 10, .tick = slow_tick, .arg = &s };
    struct ctl_reply r;
    char err[256];
    assert_int_equal(ctl_request_ticking(f->raw_path, "GET", "vm.migration-progress", NULL, 0,
                                         60000, &t, &r, err, sizeof err), 0);
    assert_int_equal(r.status, 200);
    assert_string_equal(r.body, "{}");
    free(r.body);
    /* Ticked while it waited, and not once after the answer came. */
    assert_int_equal(s.answered_at, 3);
    assert_int_equal(s.ticks, 3);
    close(s.lfd);
    unlink(f->raw_path);
}

static void no_tick_for_a_prompt_answer(void **state)
{
    struct fx *f = *state;
    struct slow s = { .lfd = -1 };
    /* A tick far beyond the answer's time never comes. */
    struct ctl_ticker t = { .every_ms = 60000, .tick = slow_tick, .arg = &s };
    struct ctl_reply r;
    char err[256];
    assert_int_equal(ctl_request_ticking(f->path, "GET", "vmm.ping", NULL, 0, 5000, &t, &r, err,
                                         sizeof err), 0);
    assert_int_equal(r.status, 200);
    free(r.body);
    assert_int_equal(s.ticks, 0);
    /* And the ticker does not stretch the time allowed: no answer within
     * 200 ms is still that, ticks or not. */
    struct slow never = { .lfd = listen_at(f->raw_path), .answered_at = 1 };
    t = (struct ctl_ticker){ .every_ms = 20, .tick = slow_tick, .arg = &never };
    assert_int_equal(ctl_request_ticking(f->raw_path, "GET", "vm.info", NULL, 0, 200, &t, &r, err,
                                         sizeof err), -1);
    assert_non_null(strstr(err, "no answer within 200 ms"));
    assert_true(never.ticks >= 1);
    close(never.lfd);
    unlink(f->raw_path);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(query_pretty_printed, setup, teardown),
        cmocka_unit_test_setup_teardown(socket_option_forms, setup, teardown),
        cmocka_unit_test_setup_teardown(no_content_prints_nothing, setup, teardown),
        cmocka_unit_test_setup_teardown(error_array_on_stderr, setup, teardown),
        cmocka_unit_test_setup_teardown(create_from_file_and_stdin, setup, teardown),
        cmocka_unit_test_setup_teardown(bad_usage, setup, teardown),
        cmocka_unit_test_setup_teardown(cannot_connect, setup, teardown),
        cmocka_unit_test_setup_teardown(chunked_and_until_eof, setup, teardown),
        cmocka_unit_test_setup_teardown(closed_early, setup, teardown),
        cmocka_unit_test_setup_teardown(malformed_answer, setup, teardown),
        cmocka_unit_test_setup_teardown(never_answers_times_out, setup, teardown),
        cmocka_unit_test(report_without_error_array),
        cmocka_unit_test_setup_teardown(ticks_while_waiting, setup, teardown),
        cmocka_unit_test_setup_teardown(no_tick_for_a_prompt_answer, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
