/* virtio-net from the guest's side, with net_ip=A.B.C.D net_peer=A.B.C.D
 * on the command line: just enough IPv4 to prove frames go both ways:
 *   ARP      who-has the peer; the reply gives its MAC (and the guest
 *            answers the peer's own ARP requests meanwhile);
 *   ping     with net_ping: an ICMP echo to the peer comes back intact;
 *   TCP      with echo_port=N: connect to the peer's echo server, send a
 *            few segments, read them all back, close both ways.
 * Through a TAP the peer is the host's kernel in a network namespace;
 * through user-mode networking (slirp) the peer is 10.0.2.2, which slirp
 * turns into the host's loopback. No retransmission: nothing here loses
 * frames, and a lost one fails the check by time-out, which is right. */
#include "checks.h"
#include "guest.h"
#include "interrupts.h"
#include "virtio.h"

#include <linux/virtio_config.h>
#include <linux/virtio_net.h>
#include <linux/virtio_pci.h>

#define RX_BUFS 16
#define BUF_SIZE 2048
#define HDR sizeof(struct virtio_net_hdr_v1)
#define ETH_HLEN 14
#define ETH_ARP 0x0806
#define ETH_IP 0x0800
#define IP_HLEN 20
#define TCP_HLEN 20
#define TCP_FIN 0x01
#define TCP_SYN 0x02
#define TCP_RST 0x04
#define TCP_PSH 0x08
#define TCP_ACK 0x10
#define ECHO_BYTES 1500u
#define SEGMENT 500u
#define WAIT_CYCLES 20000000000ull

struct net {
    struct virtio_dev *d;
    uint8_t mac[6], peer_mac[6];
    uint8_t ip[4], peer[4];
    uint8_t *rx, *tx, *pkt;
    uint16_t rx_of_head[RX_BUFS];   /* which buffer each posted chain is */
};

static uint16_t get16(const uint8_t *p) { return (uint16_t)(p[0] << 8 | p[1]); }
static uint32_t get32(const uint8_t *p) { return (uint32_t)p[0] << 24 | p[1] << 16 | p[2] << 8 | p[3]; }
static void put16(uint8_t *p, uint16_t v) { p[0] = (uint8_t)(v >> 8); p[1] = (uint8_t)v; }
static void put32(uint8_t *p, uint32_t v) { put16(p, (uint16_t)(v >> 16)); put16(p + 2, (uint16_t)v); }

static bool parse_ip(const char *s, uint8_t ip[4])
{
    for (unsigned i = 0; i < 4; i++) {
        unsigned v = 0, digits = 0;
        for (; *s >= '0' && *s <= '9'; s++, digits++)
            v = v * 10 + (unsigned)(*s - '0');
        if (!digits || v > 255 || (i < 3 ? *s != '.' : *s != 0))
            return false;
        ip[i] = (uint8_t)v;
        s++;
    }
    return true;
}

/* The Internet checksum, over a pseudo-header sum `start` and data. */
static uint16_t inet_sum(uint32_t start, const uint8_t *p, size_t n)
{
    uint32_t s = start;
    for (size_t i = 0; i + 1 < n; i += 2)
        s += get16(p + i);
    if (n & 1)
        s += (uint32_t)p[n - 1] << 8;
    while (s >> 16)
        s = (s & 0xffff) + (s >> 16);
    return (uint16_t)~s;
}

static void post_rx(struct net *n, unsigned i)
{
    struct vq_buf b = { n->rx + i * BUF_SIZE, BUF_SIZE, true };
    int head = vq_add(&n->d->q[0], &b, 1, false);
    if (head >= 0)
        n->rx_of_head[head] = (uint16_t)i;
}

static bool send_frame(struct net *n, const uint8_t *dst, uint16_t type, const void *payload, size_t len)
{
    uint8_t *f = n->tx;
    memset(f, 0, HDR);
    uint8_t *e = f + HDR;
    memcpy(e, dst, 6);
    memcpy(e + 6, n->mac, 6);
    put16(e + 12, type);
    memcpy(e + ETH_HLEN, payload, len);
    size_t total = ETH_HLEN + len < 60 ? 60 : ETH_HLEN + len;   /* Ethernet minimum */
    if (ETH_HLEN + len < 60)
        memset(e + ETH_HLEN + len, 0, 60 - ETH_HLEN - len);
    struct vq_buf b = { f, (uint32_t)(HDR + total), false };
    return vq_roundtrip(&n->d->q[1], &b, 1, false) >= 0;
}

static void arp(struct net *n, uint16_t op, const uint8_t *tha, const uint8_t *tpa)
{
    static const uint8_t bcast[6] = { 0xff, 0xff, 0xff, 0xff, 0xff, 0xff };
    uint8_t a[28];
    put16(a, 1);
    put16(a + 2, ETH_IP);
    a[4] = 6;
    a[5] = 4;
    put16(a + 6, op);
    memcpy(a + 8, n->mac, 6);
    memcpy(a + 14, n->ip, 4);
    memcpy(a + 18, tha, 6);
    memcpy(a + 24, tpa, 4);
    send_frame(n, op == 1 ? bcast : tha, ETH_ARP, a, sizeof a);
}

/* The next IPv4 or ARP-reply frame (Ethernet header on), answering ARP
 * requests for our address on the way; copied to out. 0 on time-out. */
static size_t recv_frame_within(struct net *n, uint8_t *out, uint64_t cycles)
{
    uint64_t end = rdtsc() + cycles;
    while (rdtsc() < end) {
        uint16_t head;
        uint32_t len;
        if (!vq_take(&n->d->q[0], &head, &len))
            continue;
        if (head >= RX_BUFS)
            continue;
        unsigned i = n->rx_of_head[head];
        const uint8_t *e = n->rx + i * BUF_SIZE + HDR;
        size_t flen = len > HDR ? len - HDR : 0;
        size_t got = 0;
        if (flen >= ETH_HLEN + 28 && get16(e + 12) == ETH_ARP) {
            const uint8_t *a = e + ETH_HLEN;
            if (get16(a + 6) == 1 && !memcmp(a + 24, n->ip, 4))
                arp(n, 2, a + 8, a + 14);
            else if (get16(a + 6) == 2)
                got = flen;
        } else if (flen >= ETH_HLEN + IP_HLEN && get16(e + 12) == ETH_IP &&
                   !memcmp(e + ETH_HLEN + 16, n->ip, 4)) {
            got = flen;
        }
        if (got)
            memcpy(out, e, got);
        post_rx(n, i);
        vq_kick(&n->d->q[0]);
        if (got)
            return got;
    }
    return 0;
}

static size_t recv_frame(struct net *n, uint8_t *out)
{
    return recv_frame_within(n, out, WAIT_CYCLES);
}

static bool resolve_peer(struct net *n, uint8_t *frame)
{
    static const uint8_t zero[6];
    arp(n, 1, zero, n->peer);
    for (int tries = 0; tries < 16; tries++) {
        size_t len = recv_frame(n, frame);
        if (!len)
            return false;
        const uint8_t *a = frame + ETH_HLEN;
        if (get16(frame + 12) == ETH_ARP && !memcmp(a + 14, n->peer, 4)) {
            memcpy(n->peer_mac, a + 8, 6);
            return true;
        }
    }
    return false;
}

static size_t ip_packet(struct net *n, uint8_t *p, uint8_t proto, size_t payload)
{
    static uint16_t id;
    p[0] = 0x45;
    p[1] = 0;
    put16(p + 2, (uint16_t)(IP_HLEN + payload));
    put16(p + 4, ++id);
    put16(p + 6, 0x4000);
    p[8] = 64;
    p[9] = proto;
    put16(p + 10, 0);
    memcpy(p + 12, n->ip, 4);
    memcpy(p + 16, n->peer, 4);
    put16(p + 10, inet_sum(0, p, IP_HLEN));
    return IP_HLEN + payload;
}

static bool ping(struct net *n, uint8_t *frame)
{
    uint8_t *p = n->pkt, *icmp = p + IP_HLEN;
    icmp[0] = 8;
    icmp[1] = 0;
    put16(icmp + 4, 0x6b76);
    put16(icmp + 6, 1);
    for (unsigned i = 8; i < 64; i++)
        icmp[i] = (uint8_t)i;
    put16(icmp + 2, inet_sum(0, icmp, 64));
    send_frame(n, n->peer_mac, ETH_IP, p, ip_packet(n, p, 1, 64));
    for (int tries = 0; tries < 16; tries++) {
        size_t len = recv_frame(n, frame);
        if (!len)
            return false;
        const uint8_t *ip = frame + ETH_HLEN, *r = ip + IP_HLEN;
        if (get16(frame + 12) == ETH_IP && ip[9] == 1 && len >= ETH_HLEN + IP_HLEN + 64 && r[0] == 0 &&
            get16(r + 4) == 0x6b76 && !memcmp(r + 8, icmp + 8, 56) && !inet_sum(0, r, 64))
            return true;
    }
    return false;
}

struct tcp {
    uint16_t lport, rport;
    uint32_t snd_nxt, rcv_nxt;
};

static void tcp_send(struct net *n, struct tcp *t, uint8_t flags, const uint8_t *data, size_t len)
{
    uint8_t *p = n->pkt, *s = p + IP_HLEN;
    memset(s, 0, TCP_HLEN);
    put16(s, t->lport);
    put16(s + 2, t->rport);
    put32(s + 4, t->snd_nxt);
    put32(s + 8, (flags & TCP_ACK) ? t->rcv_nxt : 0);
    s[12] = (TCP_HLEN / 4) << 4;
    s[13] = flags;
    put16(s + 14, 8192);
    memcpy(s + TCP_HLEN, data, len);
    /* The pseudo-header: addresses, protocol, TCP length. */
    uint32_t pseudo = get16(n->ip) + get16(n->ip + 2) + get16(n->peer) + get16(n->peer + 2) + 6 +
                      (uint32_t)(TCP_HLEN + len);
    put16(s + 16, inet_sum(pseudo, s, TCP_HLEN + len));
    send_frame(n, n->peer_mac, ETH_IP, p, ip_packet(n, p, 6, TCP_HLEN + len));
    t->snd_nxt += (uint32_t)len + ((flags & (TCP_SYN | TCP_FIN)) ? 1 : 0);
}

/* The next segment of our connection: its flags, sequence number and
 * data (pointers into frame); false on time-out. */
static bool tcp_recv(struct net *n, struct tcp *t, uint8_t *frame, uint8_t *flags, uint32_t *seq,
                     const uint8_t **data, size_t *len)
{
    for (int tries = 0; tries < 64; tries++) {
        size_t flen = recv_frame(n, frame);
        if (!flen)
            return false;
        const uint8_t *ip = frame + ETH_HLEN;
        if (get16(frame + 12) != ETH_IP || ip[9] != 6)
            continue;
        size_t ihl = (ip[0] & 15u) * 4, total = get16(ip + 2);
        const uint8_t *s = ip + ihl;
        if (total > flen - ETH_HLEN || total < ihl + TCP_HLEN || get16(s) != t->rport ||
            get16(s + 2) != t->lport)
            continue;
        size_t off = (s[12] >> 4) * 4u;
        *flags = s[13];
        *seq = get32(s + 4);
        *data = s + off;
        *len = total - ihl - off;
        return true;
    }
    return false;
}

static bool tcp_echo(struct net *n, uint16_t port, uint8_t *frame)
{
    struct tcp t = { .lport = 49152 + (uint16_t)(rdtsc() & 0x3fff), .rport = port,
                     .snd_nxt = (uint32_t)rdtsc() };
    uint8_t flags;
    uint32_t seq;
    const uint8_t *data;
    size_t len;
    tcp_send(n, &t, TCP_SYN, NULL, 0);
    if (!tcp_recv(n, &t, frame, &flags, &seq, &data, &len) || (flags & (TCP_SYN | TCP_ACK)) != (TCP_SYN | TCP_ACK)) {
        print("tcp: no SYN-ACK (flags 0x%x)\n", flags);
        return false;
    }
    t.rcv_nxt = seq + 1;
    tcp_send(n, &t, TCP_ACK, NULL, 0);
    uint8_t *out = dma_alloc(ECHO_BYTES, 16), *back = dma_alloc(ECHO_BYTES, 16);
    for (unsigned i = 0; i < ECHO_BYTES; i++)
        out[i] = (uint8_t)('a' + i % 26);
    for (unsigned off = 0; off < ECHO_BYTES; off += SEGMENT)
        tcp_send(n, &t, TCP_ACK | TCP_PSH, out + off, SEGMENT);
    size_t got = 0;
    bool fin_sent = false, fin_seen = false;
    while (!fin_seen) {
        if (!tcp_recv(n, &t, frame, &flags, &seq, &data, &len))
            break;
        if (flags & TCP_RST)
            break;
        if (seq == t.rcv_nxt && len) {
            if (got + len <= ECHO_BYTES)
                memcpy(back + got, data, len);
            got += len;
            t.rcv_nxt += (uint32_t)len;
        }
        if ((flags & TCP_FIN) && seq + len == t.rcv_nxt) {
            t.rcv_nxt++;
            fin_seen = true;
        }
        if (len || (flags & TCP_FIN))
            tcp_send(n, &t, TCP_ACK, NULL, 0);
        if (got >= ECHO_BYTES && !fin_sent) {
            tcp_send(n, &t, TCP_ACK | TCP_FIN, NULL, 0);
            fin_sent = true;
        }
    }
    print("tcp: sent %u bytes to port %u, %llu came back, peer closed: %d\n", ECHO_BYTES, port,
          (unsigned long long)got, fin_seen);
    return got == ECHO_BYTES && !memcmp(out, back, ECHO_BYTES) && fin_sent && fin_seen;
}

/* With restrict=on, slirp drops a connection to anything but a forwarded
 * port: the SYN gets no answer (or a reset) within a second or so. */
static bool tcp_blocked(struct net *n, uint16_t port, uint8_t *frame)
{
    struct tcp t = { .lport = 40000, .rport = port, .snd_nxt = 1 };
    tcp_send(n, &t, TCP_SYN, NULL, 0);
    size_t len;
    while ((len = recv_frame_within(n, frame, WAIT_CYCLES / 8))) {
        const uint8_t *ip = frame + ETH_HLEN, *s = ip + (ip[0] & 15u) * 4;
        if (get16(frame + 12) == ETH_IP && ip[9] == 6 && get16(s) == port &&
            (s[13] & (TCP_SYN | TCP_ACK)) == (TCP_SYN | TCP_ACK))
            return false;
    }
    return true;
}

void net_checks(struct virtio_dev *d, const char *cmdline)
{
    static struct net n;
    n.d = d;
    char buf[32];
    bool have_ip = cmdline_get(cmdline, "net_ip", buf, sizeof buf) && parse_ip(buf, n.ip);
    bool have_peer = cmdline_get(cmdline, "net_peer", buf, sizeof buf) && parse_ip(buf, n.peer);
    uint64_t offered;
    uint64_t got = virtio_negotiate(d, 1ull << VIRTIO_NET_F_MAC | 1ull << VIRTIO_NET_F_STATUS, &offered);
    check(got & (1ull << VIRTIO_NET_F_MAC), "virtio-net: the device gives its MAC");
    volatile struct virtio_net_config *cfg = (volatile void *)d->device;
    for (unsigned i = 0; i < 6; i++)
        n.mac[i] = cfg->mac[i];
    print("virtio-net: mac %x:%x:%x:%x:%x:%x, status %u, features 0x%llx\n", n.mac[0], n.mac[1],
          n.mac[2], n.mac[3], n.mac[4], n.mac[5], cfg->status, offered);
    check(cfg->status & VIRTIO_NET_S_LINK_UP, "virtio-net: link up");
    if (cmdline_get(cmdline, "net_mac_last", buf, sizeof buf))
        check(n.mac[5] == parse_u64(buf), "virtio-net: the MAC is the one asked for");
    virtio_queue_setup(d, 0, RX_BUFS, VIRTIO_MSI_NO_VECTOR);
    virtio_queue_setup(d, 1, 4, VIRTIO_MSI_NO_VECTOR);
    n.rx = dma_alloc(RX_BUFS * BUF_SIZE, 4096);
    n.tx = dma_alloc(BUF_SIZE, 4096);
    n.pkt = dma_alloc(BUF_SIZE, 64);
    virtio_driver_ok(d);
    for (unsigned i = 0; i < RX_BUFS; i++)
        post_rx(&n, i);
    vq_kick(&d->q[0]);
    if (!have_ip || !have_peer)
        return;
    uint8_t *frame = dma_alloc(BUF_SIZE, 64);
    bool ok = resolve_peer(&n, frame);
    print("net: %u.%u.%u.%u is at %x:%x:%x:%x:%x:%x\n", n.peer[0], n.peer[1], n.peer[2], n.peer[3],
          n.peer_mac[0], n.peer_mac[1], n.peer_mac[2], n.peer_mac[3], n.peer_mac[4], n.peer_mac[5]);
    check(ok, "virtio-net: ARP request out, the peer's reply in");
    if (!ok)
        return;
    if (cmdline_has(cmdline, "net_ping"))
        check(ping(&n, frame), "virtio-net: ICMP echo to the peer comes back");
    if (cmdline_get(cmdline, "echo_port", buf, sizeof buf))
        check(tcp_echo(&n, (uint16_t)parse_u64(buf), frame),
              "virtio-net: TCP echo through the peer: every byte back, closed both ways");
    if (cmdline_get(cmdline, "blocked_port", buf, sizeof buf))
        check(tcp_blocked(&n, (uint16_t)parse_u64(buf), frame),
              "virtio-net: restrict=on: a connection to the host gets no answer");
}
