/* User-mode networking through libslirp: the guest gets a private
 * 10.0.2.0/24 with a gateway (10.0.2.2, which reaches the host), DHCP and a
 * DNS forwarder (10.0.2.3), as with QEMU's -netdev user; its connections
 * become ordinary sockets of this process, so no privilege is needed.
 * libslirp is not thread-safe: everything here runs on the NIC's thread.
 *
 * libslirp is loaded with dlopen when a NIC needs it, not linked: it
 * brings glib and pcre2 along, which doubled the resident memory of
 * every VM (1.4 to 3.0 MiB) whether or not it had a --net user NIC. */
#include "devices/net/backend.h"

#include "core/state.h"

#include "util/iov.h"
#include "util/log.h"

#include <arpa/inet.h>
#include <dlfcn.h>
#include <errno.h>
#include <slirp/libslirp.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define SLIRP_MAX_TIMERS 16
/* Frames slirp produced while the guest had no receive buffer. TCP
 * recovers from a drop beyond this; the bound keeps memory fixed. */
#define SLIRP_BACKLOG 64

struct slirp_timer {
    bool used, armed;
    int64_t expire_ms;
    SlirpTimerCb cb;
    void *cb_opaque;
};

struct backlog_frame {
    size_t len;
    uint8_t *data;
};

/* The libslirp functions used here, the types taken from its header. */
#define SLIRP_FUNCTIONS(X) \
    X(slirp_new) X(slirp_cleanup) X(slirp_input) X(slirp_pollfds_fill) \
    X(slirp_pollfds_poll) X(slirp_add_hostfwd) X(slirp_state_save) X(slirp_state_load) \
    X(slirp_state_version)

struct slirp_api {
    void *lib;
#define SLIRP_FIELD(name) __typeof__(name) *name;
    SLIRP_FUNCTIONS(SLIRP_FIELD)
#undef SLIRP_FIELD
};

#define SLIRP_LIBRARY "libslirp.so.0"

/* Loads libslirp and resolves the table; -1 after logging. Every NIC
 * loads it for itself (dlopen counts references), so there is no global
 * to share. RTLD_NODELETE: the last dlclose must not unload glib, which
 * does not support being unloaded. */
static int slirp_api_load(struct slirp_api *api)
{
    api->lib = dlopen(SLIRP_LIBRARY, RTLD_NOW | RTLD_LOCAL | RTLD_NODELETE);
    if (!api->lib) {
        log_error("--net user needs libslirp (Debian package libslirp0): %s", dlerror());
        return -1;
    }
    /* dlsym's void * to a function pointer: the POSIX way, through the
     * pointer's representation. */
#define SLIRP_RESOLVE(name)                                                          \
    if (!(*(void **)&api->name = dlsym(api->lib, #name))) {                          \
        log_error("--net user: %s has no %s (libslirp 4.0 or later needed)",         \
                  SLIRP_LIBRARY, #name);                                             \
        goto fail;                                                                   \
    }
    SLIRP_FUNCTIONS(SLIRP_RESOLVE)
#undef SLIRP_RESOLVE
    return 0;
fail:
    dlclose(api->lib);
    api->lib = NULL;
    return -1;
}

struct user_net {
    struct net_backend be;
    struct slirp_api api;
    Slirp *slirp;
    struct slirp_timer timers[SLIRP_MAX_TIMERS];
    /* The pollfd array of the current poll, for slirp's callbacks. */
    struct pollfd *poll;
    unsigned npoll, poll_max;
    struct backlog_frame backlog[SLIRP_BACKLOG];
    unsigned bl_head, bl_count;
    uint8_t frame[NET_MAX_FRAME];    /* a guest frame made contiguous */
};

static int64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static const struct virtio_net_hdr_v1 plain_hdr;   /* no offload, checksums done */

/* Delivers backlogged frames in order while the guest has buffers. */
static bool flush_backlog(struct user_net *u)
{
    while (u->bl_count) {
        struct backlog_frame *f = &u->backlog[u->bl_head];
        if (!u->be.deliver(u->be.nic, &plain_hdr, f->data, f->len))
            return false;
        free(f->data);
        f->data = NULL;
        u->bl_head = (u->bl_head + 1) % SLIRP_BACKLOG;
        u->bl_count--;
    }
    return true;
}

static ssize_t cb_send_packet(const void *buf, size_t len, void *opaque)
{
    struct user_net *u = opaque;
    if (len > NET_MAX_FRAME)
        return (ssize_t)len;
    if (flush_backlog(u) && u->be.deliver(u->be.nic, &plain_hdr, buf, len))
        return (ssize_t)len;
    if (u->bl_count < SLIRP_BACKLOG) {
        struct backlog_frame *f = &u->backlog[(u->bl_head + u->bl_count) % SLIRP_BACKLOG];
        if ((f->data = malloc(len))) {
            memcpy(f->data, buf, len);
            f->len = len;
            u->bl_count++;
        }
    }
    return (ssize_t)len;
}

static void cb_guest_error(const char *msg, void *opaque)
{
    (void)opaque;
    log_debug("--net user: guest error: %s", msg);
}

static int64_t cb_clock_get_ns(void *opaque)
{
    (void)opaque;
    return now_ns();
}

static void *cb_timer_new(SlirpTimerCb cb, void *cb_opaque, void *opaque)
{
    struct user_net *u = opaque;
    for (unsigned i = 0; i < SLIRP_MAX_TIMERS; i++) {
        if (!u->timers[i].used) {
            u->timers[i] = (struct slirp_timer){ .used = true, .cb = cb, .cb_opaque = cb_opaque };
            return &u->timers[i];
        }
    }
    log_warn("--net user: out of timers");
    return NULL;
}

static void cb_timer_free(void *timer, void *opaque)
{
    (void)opaque;
    if (timer)
        ((struct slirp_timer *)timer)->used = false;
}

static void cb_timer_mod(void *timer, int64_t expire_ms, void *opaque)
{
    (void)opaque;
    struct slirp_timer *t = timer;
    if (t) {
        t->expire_ms = expire_ms;
        t->armed = true;
    }
}

/* The NIC's thread rebuilds its poll set on every round, so slirp's
 * descriptors need no registration, and nothing else waits on it. */
static void cb_register_poll_fd(int fd, void *opaque) { (void)fd; (void)opaque; }
static void cb_unregister_poll_fd(int fd, void *opaque) { (void)fd; (void)opaque; }
static void cb_notify(void *opaque) { (void)opaque; }

static const SlirpCb callbacks = {
    .send_packet = cb_send_packet,
    .guest_error = cb_guest_error,
    .clock_get_ns = cb_clock_get_ns,
    .timer_new = cb_timer_new,
    .timer_free = cb_timer_free,
    .timer_mod = cb_timer_mod,
    .register_poll_fd = cb_register_poll_fd,
    .unregister_poll_fd = cb_unregister_poll_fd,
    .notify = cb_notify,
};

/* libslirp 4.7 (Debian 12's) crashes on an IPv4 fragment that its
 * reassembly has no queue for: one sent before the datagram's first
 * fragment, or after the datagram was complete (a wild pointer; found by
 * tests/fuzz/fuzz_net_frame). A guest must not be able to bring its VMM
 * down, and telling which fragments slirp still has a queue for means
 * second-guessing its every reason to drop a packet, so no IPv4 fragment
 * goes to slirp. Guests rarely fragment: TCP uses path MTU discovery,
 * and the link's MTU (1500) is slirp's own. */
static bool is_ipv4_fragment(const uint8_t *f, size_t len)
{
    if (len < 14 + 20 || f[12] != 0x08 || f[13] != 0x00)
        return false;
    uint16_t frag = (uint16_t)(f[14 + 6] << 8 | f[14 + 7]);
    return frag & 0x3fff;            /* more fragments, or an offset */
}

static void user_send(struct net_backend *be, const struct iovec *iov, unsigned n, size_t len)
{
    struct user_net *u = (struct user_net *)be;
    /* The guest was offered no offloads, so the header says nothing. */
    size_t frame_len = len - NET_HDR_LEN;
    if (iov_copy_from(iov, n, NET_HDR_LEN, u->frame, frame_len) != frame_len ||
        is_ipv4_fragment(u->frame, frame_len))
        return;
    u->api.slirp_input(u->slirp, u->frame, (int)frame_len);
}

static int add_poll(int fd, int events, void *opaque)
{
    struct user_net *u = opaque;
    if (u->npoll == u->poll_max)
        return -1;
    short ev = 0;
    if (events & SLIRP_POLL_IN)
        ev |= POLLIN;
    if (events & SLIRP_POLL_OUT)
        ev |= POLLOUT;
    if (events & SLIRP_POLL_PRI)
        ev |= POLLPRI;
    u->poll[u->npoll] = (struct pollfd){ .fd = fd, .events = ev };
    return (int)u->npoll++;
}

static int get_revents(int idx, void *opaque)
{
    struct user_net *u = opaque;
    if (idx < 0 || (unsigned)idx >= u->npoll)
        return 0;
    short r = u->poll[idx].revents;
    return ((r & POLLIN) ? SLIRP_POLL_IN : 0) | ((r & POLLOUT) ? SLIRP_POLL_OUT : 0) |
           ((r & POLLPRI) ? SLIRP_POLL_PRI : 0) | ((r & POLLERR) ? SLIRP_POLL_ERR : 0) |
           ((r & POLLHUP) ? SLIRP_POLL_HUP : 0);
}

static unsigned user_poll_fill(struct net_backend *be, struct pollfd *p, unsigned max,
                               int *timeout_ms, bool rx)
{
    struct user_net *u = (struct user_net *)be;
    if (rx)
        flush_backlog(u);
    u->poll = p;
    u->npoll = 0;
    u->poll_max = max;
    uint32_t t = *timeout_ms < 0 ? UINT32_MAX : (uint32_t)*timeout_ms;
    u->api.slirp_pollfds_fill(u->slirp, &t, add_poll, u);
    int64_t now_ms = now_ns() / 1000000;
    for (unsigned i = 0; i < SLIRP_MAX_TIMERS; i++) {
        struct slirp_timer *tm = &u->timers[i];
        if (tm->used && tm->armed) {
            int64_t left = tm->expire_ms - now_ms;
            if (left < 0)
                left = 0;
            if ((uint64_t)left < t)
                t = (uint32_t)left;
        }
    }
    *timeout_ms = t > INT32_MAX ? -1 : (int)t;
    return u->npoll;
}

static void user_poll_done(struct net_backend *be, const struct pollfd *p, unsigned n)
{
    struct user_net *u = (struct user_net *)be;
    u->poll = (struct pollfd *)p;
    u->npoll = n;
    u->api.slirp_pollfds_poll(u->slirp, 0, get_revents, u);
    int64_t now_ms = now_ns() / 1000000;
    for (unsigned i = 0; i < SLIRP_MAX_TIMERS; i++) {
        struct slirp_timer *tm = &u->timers[i];
        if (tm->used && tm->armed && tm->expire_ms <= now_ms) {
            tm->armed = false;
            tm->cb(tm->cb_opaque);
        }
    }
}

static void user_set_offloads(struct net_backend *be, uint64_t guest_features)
{
    (void)be;
    (void)guest_features;
}

static void user_close(struct net_backend *be)
{
    struct user_net *u = (struct user_net *)be;
    if (u->slirp)
        u->api.slirp_cleanup(u->slirp);
    for (unsigned i = 0; i < SLIRP_BACKLOG; i++)
        free(u->backlog[i].data);
    if (u->api.lib)
        dlclose(u->api.lib);
    free(u);
}

/* libslirp's own state (its DHCP leases, its IP id, sockets of guest
 * forwards; connections to the host end with the process, as under QEMU)
 * goes into the NIC's section as libslirp's format number, a length and
 * libslirp's bytes: its loader reads from exactly those bytes, no more.
 * Frames still in the backlog are not kept: to the guest, frames lost on
 * the wire. */
static ssize_t put_state(const void *buf, size_t len, void *opaque)
{
    state_put_bytes(opaque, buf, len);
    return (ssize_t)len;
}

static ssize_t get_state(void *buf, size_t len, void *opaque)
{
    struct state_reader *r = opaque;
    state_get_bytes(r, buf, len);
    return r->failed ? -1 : (ssize_t)len;
}

#define SLIRP_STATE_MAX (1u << 20)

static void user_save(struct net_backend *be, struct state_writer *w)
{
    struct user_net *u = (struct user_net *)be;
    struct state_writer own;
    state_writer_init(&own);
    u->api.slirp_state_save(u->slirp, put_state, &own);
    if (own.failed || own.len > SLIRP_STATE_MAX)
        w->failed = true;
    state_put_u32(w, (uint32_t)u->api.slirp_state_version());
    state_put_u32(w, (uint32_t)own.len);
    state_put_bytes(w, own.buf, own.len);
    state_writer_free(&own);
}

static int user_load(struct net_backend *be, struct state_reader *r)
{
    struct user_net *u = (struct user_net *)be;
    uint32_t format = state_get_u32(r), len = state_get_u32(r);
    const void *bytes = len <= SLIRP_STATE_MAX ? state_get_span(r, len) : NULL;
    if (!bytes)
        return -1;
    if (format > (uint32_t)u->api.slirp_state_version()) {
        log_error("--net user: the snapshot's network state is in libslirp's format %u; this "
                  "libslirp reads up to %d", format, u->api.slirp_state_version());
        return -1;
    }
    struct state_reader own;
    state_reader_init(&own, bytes, len);
    if (u->api.slirp_state_load(u->slirp, (int)format, get_state, &own) < 0 || own.failed) {
        log_error("--net user: libslirp refused the snapshot's network state");
        return -1;
    }
    return 0;
}

static const struct net_backend_ops user_ops = {
    .send = user_send, .poll_fill = user_poll_fill, .poll_done = user_poll_done,
    .set_offloads = user_set_offloads, .save = user_save, .load = user_load, .close = user_close,
    .thread_role = SANDBOX_NET_USER,
};

static struct in_addr ip4(const char *s)
{
    struct in_addr a;
    inet_pton(AF_INET, s, &a);
    return a;
}

struct net_backend *net_slirp_open(const struct net_config *cfg)
{
    struct user_net *u = calloc(1, sizeof *u);
    if (!u)
        return NULL;
    u->be.ops = &user_ops;
    if (slirp_api_load(&u->api) < 0)
        goto fail;
    SlirpConfig sc = {
        .version = 1,
        .in_enabled = true,
        .vnetwork = ip4("10.0.2.0"),
        .vnetmask = ip4("255.255.255.0"),
        .vhost = ip4("10.0.2.2"),
        .vhostname = "kvmbox",
        .vdhcp_start = ip4("10.0.2.15"),
        .vnameserver = ip4("10.0.2.3"),
        /* restrict=on: the guest reaches only the virtual hosts and its
         * forwarded ports, not the host's network or beyond. */
        .restricted = cfg->restricted,
    };
    u->slirp = u->api.slirp_new(&sc, &callbacks, u);
    if (!u->slirp) {
        log_error("--net user: cannot start user-mode networking");
        goto fail;
    }
    for (unsigned i = 0; i < cfg->nfwd; i++) {
        const struct hostfwd *f = &cfg->fwd[i];
        struct in_addr guest = f->guest_addr;
        if (guest.s_addr == INADDR_ANY)
            guest = sc.vdhcp_start;
        if (u->api.slirp_add_hostfwd(u->slirp, f->udp, f->host_addr, f->host_port, guest,
                              f->guest_port) < 0) {
            char h[INET_ADDRSTRLEN];
            inet_ntop(AF_INET, &f->host_addr, h, sizeof h);
            log_error("--net user: hostfwd %s:%s:%u: cannot listen there (in use?)",
                      f->udp ? "udp" : "tcp", h, f->host_port);
            goto fail;
        }
    }
    return &u->be;
fail:
    user_close(&u->be);
    return NULL;
}
