#!/usr/bin/env python3
"""Floods a kvmbox's API socket the ways docs/security.md's "Resource
bounds" names, and reports what kvmbox answered and its resident memory
(VmRSS, KiB) around each flood, one "KEY VALUE" line each, for
test_limits.sh to judge:
  held      200 connections opened at once, each stopping halfway through
            its request line: kvmbox keeps 32 and closes the rest;
  refused   a body, a request target, headers and a header count over the
            limits (413, 414, 431, 431) and a chunked body over 4 MiB (413);
  bodies    32 connections each holding a legal 4 MiB body short of its
            last byte: the most the connections may buffer at once;
  stream    2000 requests in a row on one connection, and 300 connections
            one after another, each answered;
  unread    a client that pipelines requests without reading one answer:
            kvmbox stops reading it, so what it buffers stays bounded.
Usage: api_flood.py SOCKET PID"""
import socket, struct, sys, time

path, pid = sys.argv[1], int(sys.argv[2])
MIB = 1 << 20


def rss():
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return -1


def report(key, value):
    print(key, value, flush=True)


def connect(timeout=10):
    """A connected socket whose calls give up after `timeout` seconds. A
    blocking connect waits while the listen backlog is full, as a client's
    would (a socket timeout would make it fail at once instead)."""
    s = socket.socket(socket.AF_UNIX)
    tv = struct.pack("ll", timeout, 0)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_SNDTIMEO, tv)
    s.connect(path)
    s.settimeout(timeout)
    return s


def read_response(s):
    """The status and body of one response, or (0, b"") if the connection
    closed first."""
    buf = b""
    while b"\r\n\r\n" not in buf:
        try:
            got = s.recv(65536)
        except (ConnectionResetError, socket.timeout):
            return 0, b""
        if not got:
            return 0, b""
        buf += got
    head, body = buf.split(b"\r\n\r\n", 1)
    status = int(head.split()[1])
    length = 0
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value)
    while len(body) < length:
        got = s.recv(65536)
        if not got:
            break
        body += got
    return status, body[:length]


def request(s, method, target, body=b""):
    s.sendall(b"%s %s HTTP/1.1\r\nHost: localhost\r\nContent-Length: %d\r\n\r\n%s"
              % (method.encode(), target.encode(), len(body), body))
    return read_response(s)


def closed_by_peer(s, wait=0.5):
    """Whether the server closed s (EOF) within `wait` seconds."""
    s.settimeout(wait)
    try:
        return s.recv(1) == b""
    except socket.timeout:
        return False
    except ConnectionResetError:
        return True


def ping():
    try:
        with connect() as s:
            return request(s, "GET", "/api/v1/vmm.ping")[0]
    except OSError:
        return 0


def settle():
    """Waits until kvmbox has seen the clients just closed go (a new one is
    served again): the answer to vmm.ping, 0 if none came."""
    for _ in range(100):
        status = ping()
        if status:
            return status
        time.sleep(0.1)
    return 0


def send_all_refused(s, data):
    """Sends data until done or the server stops taking it (it answered
    and closed); then reads the answer."""
    try:
        s.sendall(data)
    except (BrokenPipeError, ConnectionResetError):
        pass
    return read_response(s)[0]


def still_open(conns):
    """How many of conns kvmbox keeps (has not closed), once it has taken
    them all from the listen backlog."""
    n = len(conns)
    for _ in range(50):
        n = sum(1 for s in conns if not closed_by_peer(s, 0.01))
        if n <= 32:
            break
        time.sleep(0.1)
    return n


def held():
    """200 at once, each halfway through its request line."""
    conns = []
    for _ in range(200):
        s = connect()
        try:
            s.sendall(b"GET /api/v1/vmm.pi")
        except (BrokenPipeError, ConnectionResetError):
            pass                         # one kvmbox closed at once
        conns.append(s)
    report("held_open", still_open(conns))
    report("rss_held", rss())
    report("ping_held", ping())          # the 33rd: accepted and closed
    for s in conns:
        s.close()
    report("ping_after_held", settle())


def refused():
    """Each limit, answered before the rest is read."""
    statuses = []
    with connect() as s:
        statuses.append(send_all_refused(s, b"PUT /api/v1/vm.info HTTP/1.1\r\nHost: x\r\n"
                                            b"Content-Length: %d\r\n\r\n" % (4 * MIB + 1)))
    with connect() as s:
        statuses.append(send_all_refused(s, b"GET /api/v1/" + b"a" * 5000 + b" HTTP/1.1\r\n\r\n"))
    with connect() as s:
        statuses.append(send_all_refused(s, b"GET /api/v1/vmm.ping HTTP/1.1\r\nX-Big: "
                                            + b"b" * 20000 + b"\r\n\r\n"))
    with connect() as s:
        statuses.append(send_all_refused(s, b"GET /api/v1/vmm.ping HTTP/1.1\r\n" +
                                            b"".join(b"X-%d: 1\r\n" % i for i in range(101)) + b"\r\n"))
    with connect() as s:
        chunk = b"%x\r\n%s\r\n" % (MIB, b"c" * MIB)
        statuses.append(send_all_refused(s, b"PUT /api/v1/vm.info HTTP/1.1\r\nHost: x\r\n"
                                            b"Transfer-Encoding: chunked\r\n\r\n" + chunk * 5))
    report("refused", ",".join(map(str, statuses)))


def stream():
    """Many requests in a row on one connection (with 64 KiB bodies), then
    many connections one after another."""
    good = 0
    with connect() as s:
        for i in range(2000):
            if i % 2:
                status, body = request(s, "GET", "/api/v1/vm.info")
                good += status == 200 and b'"state"' in body
            else:
                good += request(s, "PUT", "/api/v1/vm.nonsense", b"e" * 65536)[0] == 404
    for _ in range(300):
        good += ping() == 200
    report("stream_answered", good)


def unread():
    """Pipelined requests, never an answer read: kvmbox stops reading."""
    s = connect()
    s.setblocking(False)
    blob = b"GET /api/v1/vm.info HTTP/1.1\r\nHost: x\r\n\r\n" * 4096
    sent, stalls = 0, 0
    while sent < 64 * MIB and stalls < 20:
        try:
            sent += s.send(blob)
            stalls = 0
        except BlockingIOError:
            stalls += 1
            time.sleep(0.05)
    report("unread_sent", sent)
    report("rss_unread", rss())
    report("ping_unread", ping())        # another client is served meanwhile
    s.close()


def bodies(round_):
    """32 clients, each with a legal 4 MiB body but its last byte: the
    most the connections may hold at once. Then each gets its answer."""
    conns = []
    for _ in range(32):
        s = connect()
        s.sendall(b"PUT /api/v1/vm.nonsense HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n"
                  % (4 * MIB) + b"d" * (4 * MIB - 1))
        conns.append(s)
    peak = 0
    for _ in range(10):                  # while kvmbox reads the last of them
        peak = max(peak, rss())
        time.sleep(0.1)
    report("rss_bodies%d" % round_, peak)
    for s in conns:
        s.sendall(b"d")
    report("bodies_answered%d" % round_, sum(1 for s in conns if read_response(s)[0] == 404))
    for s in conns:
        s.close()
    report("ping_after_bodies%d" % round_, settle())
    report("rss_after_bodies%d" % round_, rss())


report("rss_base", rss())
report("ping_before", ping())
held()
refused()
stream()
unread()
report("ping_after", settle())
report("rss_after", rss())
bodies(1)
bodies(2)
