#!/usr/bin/env python3
"""Writes the seed corpora in tests/fuzz/corpus/: a few well-formed inputs
per fuzz target, in each target's input format (see the targets' heads), so
that fuzzing starts from requests a real driver makes."""
import json
import os
import struct

here = os.path.dirname(os.path.abspath(__file__))


def put(target, name, data):
    d = os.path.join(here, "corpus", target)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, name), "wb") as f:
        f.write(data)


# fuzz_virtqueue: [log2 size, features, 0, 0] then memory from GPA 0:
# descriptors (16 bytes each), the avail ring right after them.
def ring(qsize_log2, features, descs, heads):
    qsize = 1 << qsize_log2
    mem = bytearray(qsize * 16 + 6 + 2 * qsize + 2)
    for i, (addr, ln, flags, nxt) in enumerate(descs):
        struct.pack_into("<QIHH", mem, i * 16, addr, ln, flags, nxt)
    avail = qsize * 16
    struct.pack_into("<HH", mem, avail, 0, len(heads))
    for i, h in enumerate(heads):
        struct.pack_into("<H", mem, avail + 4 + 2 * i, h)
    return bytes([qsize_log2, features, 0, 0]) + bytes(mem)


NEXT, WRITE, INDIRECT = 1, 2, 4
put("fuzz_virtqueue", "two-chains",
    ring(3, 0, [(0x20000, 16, NEXT, 1), (0x21000, 512, NEXT | WRITE, 2), (0x22000, 1, WRITE, 0),
                (0x23000, 64, 0, 0)], [0, 3]))
put("fuzz_virtqueue", "indirect",
    ring(2, 3, [(0x100, 48, INDIRECT, 0)], [0]))
put("fuzz_virtqueue", "loop",
    ring(2, 0, [(0x20000, 16, NEXT, 1), (0x21000, 16, NEXT, 0)], [0]))


# fuzz_blk_request: [readable count, writable count], then per buffer a
# length byte (len = byte * 2 + 1, at most 512) and its bytes.
def blk(out, inn):
    data = bytes([len(out), len(inn)])
    for b in out + inn:
        data += bytes([(len(b) - 1) // 2]) + b
    return data


hdr = lambda t, sector: struct.pack("<IIQ", t, 0, sector)
put("fuzz_blk_request", "read", blk([hdr(0, 1) + b"\0"], [bytes(511), b"\xff"]))
put("fuzz_blk_request", "write", blk([hdr(1, 2) + b"\0", b"\x5a" * 511], [b"\xff"]))
put("fuzz_blk_request", "flush", blk([hdr(4, 0) + b"\0"], [b"\xff"]))
put("fuzz_blk_request", "get-id", blk([hdr(8, 0) + b"\0"], [bytes(21)]))
put("fuzz_blk_request", "discard",
    blk([hdr(11, 0) + b"\0", struct.pack("<QII", 4, 8, 0) + b"\0"], [b"\xff"]))


# fuzz_pci_config: 16-byte accesses [kind | write << 7, log2 len, 6-byte
# address, 8-byte value]. Kind 0: CF8/CFC (address = the CF8 value's low
# 24 bits); 1: ECAM; 2: the 32-bit window; 3: the 64-bit window.
def acc(kind, write, log2len, addr, value=0):
    return bytes([kind | (0x80 if write else 0), log2len]) + addr.to_bytes(6, "little") + \
        struct.pack("<Q", value)


slot1 = 1 << 11
put("fuzz_pci_config", "enumerate",
    acc(0, 1, 2, 0) + acc(0, 1, 2, slot1) + acc(0, 1, 2, slot1 | 0x10, 0xffffffff) +
    acc(1, 0, 2, (1 << 15) | 0x10) + acc(1, 1, 1, (1 << 15) | 4, 6))
put("fuzz_pci_config", "virtio-bring-up",
    acc(1, 1, 1, (1 << 15) | 4, 6) + acc(3, 1, 0, 0x14, 1) + acc(3, 1, 0, 0x14, 3) +
    acc(3, 1, 2, 0x08, 1) + acc(3, 1, 2, 0x0c, 1) + acc(3, 1, 0, 0x14, 0xb) +
    acc(3, 1, 1, 0x16, 0) + acc(3, 1, 3, 0x20, 0x10000) + acc(3, 1, 1, 0x1c, 1) +
    acc(3, 1, 0, 0x14, 0xf) + acc(3, 1, 1, 0x3000, 0))
# The VIRTIO_PCI_CAP_PCI_CFG window (rng's is at 0x74) aimed at the ISR
# (BAR 4 offset 0x1000, 1 byte) and read through ECAM: this once made the
# vCPU wait on the PCI lock it held (a hang, which -timeout turns into a
# failure); then aimed at the status byte and written 0 (reset) after a
# bring-up, which once deadlocked against the worker.
win = (1 << 15) | 0x74
put("fuzz_pci_config", "regress-window-isr-read",
    acc(1, 1, 1, (1 << 15) | 4, 6) + acc(1, 1, 0, win + 4, 4) +
    acc(1, 1, 2, win + 8, 0x1000) + acc(1, 1, 2, win + 12, 1) + acc(1, 0, 2, win + 16) +
    acc(1, 1, 2, win + 8, 0x14) + acc(1, 1, 2, win + 16, 0))
put("fuzz_pci_config", "msix",
    acc(0, 1, 2, slot1 | 0x40, 0x80000000) + acc(2, 1, 2, 0, 0xfee00000) +
    acc(2, 1, 2, 8, 0x4041) + acc(2, 1, 2, 12, 0) + acc(2, 0, 2, 0x800))


# fuzz_net_frame: [cuts, cut offsets...], then the 12-byte virtio-net
# header and an Ethernet frame from the guest (10.0.2.15, MAC :56).
def inet_sum(b):
    if len(b) % 2:
        b += b"\0"
    s = sum(struct.unpack("!%dH" % (len(b) // 2), b))
    while s >> 16:
        s = (s & 0xffff) + (s >> 16)
    return ~s & 0xffff


GUEST_MAC = bytes.fromhex("525400123456")
GW_MAC = bytes.fromhex("52550a000202")
GUEST_IP, GW_IP = bytes([10, 0, 2, 15]), bytes([10, 0, 2, 2])


def frame(dst, ethertype, payload, cuts=()):
    body = bytes(12) + dst + GUEST_MAC + struct.pack("!H", ethertype) + payload
    return bytes([len(cuts)] + list(cuts)) + body


def ipv4(proto, payload, dst=GW_IP):
    h = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(payload), 1, 0x4000, 64, proto, 0,
                    GUEST_IP, dst)
    return h[:10] + struct.pack("!H", inet_sum(h)) + h[12:] + payload


arp = struct.pack("!HHBBH6s4s6s4s", 1, 0x0800, 6, 4, 1, GUEST_MAC, GUEST_IP, bytes(6), GW_IP)
put("fuzz_net_frame", "arp-request", frame(b"\xff" * 6, 0x0806, arp))
put("fuzz_net_frame", "arp-request-in-3-buffers", frame(b"\xff" * 6, 0x0806, arp, (12, 20)))
icmp = struct.pack("!BBHHH", 8, 0, 0, 0x6b76, 1) + bytes(range(56))
icmp = icmp[:2] + struct.pack("!H", inet_sum(icmp)) + icmp[4:]
put("fuzz_net_frame", "ping-gateway", frame(GW_MAC, 0x0800, ipv4(1, icmp)))


def tcp_syn(port):
    seg = struct.pack("!HHIIBBHHH", 49152, port, 1000, 0, 5 << 4, 0x02, 8192, 0, 0)
    pseudo = GUEST_IP + GW_IP + struct.pack("!BBH", 0, 6, len(seg))
    return seg[:16] + struct.pack("!H", inet_sum(pseudo + seg)) + seg[18:]


put("fuzz_net_frame", "tcp-syn", frame(GW_MAC, 0x0800, ipv4(6, tcp_syn(7))))
dhcp = bytearray(240)
dhcp[0:4] = b"\x01\x01\x06\x00"
dhcp[28:34] = GUEST_MAC
dhcp[236:240] = b"\x63\x82\x53\x63"
dhcp += b"\x35\x01\x01\xff"                       # DHCPDISCOVER, end
udp = struct.pack("!HHHH", 68, 67, 8 + len(dhcp), 0) + bytes(dhcp)
put("fuzz_net_frame", "dhcp-discover",
    frame(b"\xff" * 6, 0x0800, ipv4(17, udp, dst=bytes([255, 255, 255, 255]))))


# fuzz_http: [cut count (low 3 bits), cut positions...] then one client's
# byte stream, sent in pieces split at the cuts.
def http(stream, cuts=()):
    return bytes([len(cuts)] + list(cuts)) + stream


H = b"Host: localhost\r\n"
put("fuzz_http", "get", http(b"GET /api/v1/vmm.ping HTTP/1.1\r\n" + H + b"\r\n"))
put("fuzz_http", "put-with-body",
    http(b"PUT /api/v1/vm.create HTTP/1.1\r\n" + H + b"Content-Type: application/json\r\n"
         b"Content-Length: 27\r\n\r\n{\"cpus\":{\"boot_vcpus\":2}}\r\n", cuts=(20, 40)))
put("fuzz_http", "pipelined",
    http(b"PUT /api/v1/vm.boot HTTP/1.1\r\n" + H + b"\r\n"
         b"GET /api/v1/vm.info HTTP/1.1\r\n" + H + b"Connection: close\r\n\r\n", cuts=(45,)))
put("fuzz_http", "expect-continue",
    http(b"PUT /api/v1/vm.create HTTP/1.1\r\n" + H + b"Expect: 100-continue\r\n"
         b"Content-Length: 2\r\n\r\n{}", cuts=(255,)))
put("fuzz_http", "chunked-head-http10",
    http(b"POST /x HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n"
         b"HEAD /y HTTP/1.0\r\nConnection: keep-alive\r\n\r\nGET /z?q=1 HTTP/1.0\r\n\r\n"))


# fuzz_vm_config: the body of vm.create, a Cloud Hypervisor VmConfig as
# JSON text: what ch-remote sends (whole structs, nulls), the least that
# boots, kvmbox's extensions, CH's older top-level payload forms.
def vm_config(name, cfg):
    put("fuzz_vm_config", name, json.dumps(cfg, indent=1).encode())


vm_config("minimal", {"payload": {"kernel": "/k"}})
vm_config("ch-remote", {
    "cpus": {"boot_vcpus": 2, "max_vcpus": 4, "topology": None, "kvm_hyperv": False,
             "max_phys_bits": 46, "affinity": None, "features": {"amx": False}},
    "memory": {"size": 1073741824, "mergeable": False, "hotplug_method": "Acpi",
               "hotplug_size": None, "shared": True, "hugepages": False,
               "hugepage_size": None, "prefault": False, "zones": None, "thp": True},
    "payload": {"firmware": None, "kernel": "/boot/vmlinuz",
                "cmdline": "console=hvc0 root=/dev/vda", "initramfs": "/boot/initrd.img"},
    "disks": [{"path": "/img/root.raw", "readonly": False, "direct": True, "iommu": False,
               "num_queues": 1, "queue_size": 128, "vhost_user": False, "id": "root",
               "serial": "SN-1", "pci_segment": 0}],
    "net": [{"tap": "tap0", "ip": "192.168.249.1", "mask": "255.255.255.0",
             "mac": "12:34:56:78:90:ab", "host_mac": None, "mtu": None, "num_queues": 2,
             "queue_size": 256, "id": None}],
    "rng": {"src": "/dev/urandom", "iommu": False},
    "serial": {"file": None, "mode": "Null"}, "console": {"file": None, "mode": "Tty"},
    "balloon": None, "fs": None, "pmem": None, "vsock": None, "iommu": False})
vm_config("kvmbox-extensions", {
    "payload": {"kernel": "/test.elf", "cmdline": ""},
    "memory": {"size": 2097152, "hugepages": True, "hugepage_size": 2097152},
    "net": [{"mac": "52:54:00:12:34:56", "id": "user0",
             "kvmbox": {"user": True, "restrict": True,
                        "hostfwd": ["tcp::2222-:22", "udp:127.0.0.1:5353-10.0.2.9:53"]}}],
    "kvmbox": {"debug_exit": True, "testdev": True, "cpu_filter": "cx16,xsave"}})
vm_config("old-forms", {"kernel": {"path": "/vmlinux"}, "cmdline": {"args": "quiet"},
                        "initramfs": {"path": "/initrd"}, "cpus": {"boot_vcpus": 255}})
# As a snapshot's config.json names devices without ids: kvmbox's own.
vm_config("own-ids", {"payload": {"kernel": "/k"},
                      "disks": [{"path": "/d.img", "id": "_disk0"}],
                      "net": [{"id": "_net1", "kvmbox": {"user": True}}]})


# fuzz_kvm_state: [pick] then state sections (src/core/state.c's layout:
# u16 name length, name, u32 version, u32 payload length, payload). Pick
# even: a "vcpu" section for vCPU pick >> 1; odd: "irqchip", "pit", "clock".
# KVM's structures go as u32 size + bytes (x86-64 ABI sizes below).
def section(name, payload, version=1):
    return struct.pack("<H", len(name)) + name + struct.pack("<II", version, len(payload)) + payload


def blob(n, fill=b"\0"):
    return struct.pack("<I", n) + (fill * n)[:n]


def vcpu(index, sregs2, xsave):
    p = struct.pack("<III", index, 2600000, 2)
    p += struct.pack("<7I", 0, 0, 0, 0xd, 0x756e6547, 0x6c65746e, 0x49656e69)
    p += struct.pack("<7I", 1, 0, 0, 0x806f8, 0, 0x80000000, 0)
    p += blob(4)                                                   # MP state
    p += blob(144)                                                 # regs
    p += bytes([2]) + blob(320) if sregs2 else bytes([1]) + blob(312)
    p += bytes([1]) + blob(4096) if xsave else bytes([2]) + blob(416)
    p += blob(392) if xsave else struct.pack("<I", 0)              # XCRs
    p += blob(128)                                                 # debug registers
    p += blob(1024)                                                # LAPIC
    msrs = [(0x10, 1 << 40), (0xc0000081, 0x23001000000000), (0x4b564d01, 0x3001), (0x6e0, 0)]
    p += struct.pack("<I", len(msrs)) + b"".join(struct.pack("<IQ", i, v) for i, v in msrs)
    p += blob(64)                                                  # vCPU events
    return section(b"vcpu", p)


put("fuzz_kvm_state", "vcpu0-sregs2-xsave", bytes([0]) + vcpu(0, True, True))
put("fuzz_kvm_state", "vcpu1-sregs-fpu", bytes([2]) + vcpu(1, False, False))
put("fuzz_kvm_state", "vm",
    bytes([1]) + section(b"irqchip", blob(16) + blob(16) + blob(216)) + section(b"pit", blob(112))
    + section(b"clock", struct.pack("<QIQQQ", 123456789, 6, 1700000000 * 10**9, 1 << 40,
                                    1700000000 * 10**9)))


# fuzz_migration_stream: a mode byte (bit 0: the target fixes each
# message's XXH3 trailer, so none is computed here), then messages back to
# back: header "KVMM", type u16, flags u16, length u64; payload; trailer.
def mmsg(mtype, payload=b"", flags=0):
    return b"KVMM" + struct.pack("<HHQ", mtype, flags, len(payload)) + payload + bytes(8)


def pages(offset, npages, data=None):
    prefix = struct.pack("<QII", offset, npages, 0)
    return mmsg(4, prefix, 1) if data is None else mmsg(4, prefix + data)


hello = struct.pack("<IIQII", 1, 4096, 2 << 20, 0, 0) + b"0.1.0"
put("fuzz_migration_stream", "handshake",
    bytes([1]) + mmsg(1, hello) + mmsg(2) + mmsg(3, b'{"cpus":{"boot_vcpus":1}}'))
put("fuzz_migration_stream", "pages",
    bytes([1]) + pages(0, 2, bytes(range(256)) * 32) + pages(8192, 510)
    + mmsg(5, struct.pack("<IIQ", 1, 0, 512)))
put("fuzz_migration_stream", "switch-over",
    bytes([1]) + mmsg(6, b"opaque state") + mmsg(7, bytes(range(16))) + mmsg(8) + mmsg(9)
    + mmsg(10))
put("fuzz_migration_stream", "refusals",
    bytes([1]) + mmsg(11, b"out of memory") + mmsg(12) + mmsg(13, struct.pack("<Q", 2 << 20)))


# fuzz_port_io: operations, each an op byte (kind in the top 3 bits, write
# in bit 2, size in bits 0-1) and its operands; see the target's head.
# Port targets: 0 COM1, 1 i8042 (0x60; +4 is 0x64), 2 RTC, 3 ACPI PM,
# 4 CF8/CFC, 5 debug-exit, 6 testdev latch, 7 testdev IRQ lines, 8 POST.
# MMIO targets: 0 ECAM, 1 the virtio function's MSI-X BAR, 2 its virtio
# BAR, 3 testdev iomem.
COM1, KBD, RTC, PM, PCI, DBG, LATCH, IRQL, POST = range(9)
PIO_LOG2 = {1: 0, 2: 1, 4: 2}


def pio(t, off, size=1, value=None):
    op = PIO_LOG2[size] | (4 if value is not None else 0)
    data = bytes([op, t, off])
    return data + (value.to_bytes(size, "little") if value is not None else b"")


def rep_pio(t, off, count, data=None, size=1):
    op = 3 << 5 | PIO_LOG2[size] | (4 if data is not None else 0)
    return bytes([op, t, off, count - 1]) + (data or b"")


def mmio(t, off, log2len, value=None):
    op = 4 << 5 | log2len | (4 if value is not None else 0)
    data = bytes([op, t]) + struct.pack("<H", off)
    return data + (value.to_bytes(1 << log2len, "little") if value is not None else b"")


def cfg(slot, fn, reg, size=4, value=None, ecam=False):
    op = 6 << 5 | (8 if ecam else 0) | PIO_LOG2[size] | (4 if value is not None else 0)
    data = bytes([op, fn << 2 | slot, reg])
    return data + (value.to_bytes(size, "little") if value is not None else b"")


US, TICK, MS, DECI, SEC, MIN, HOUR, DAY = range(8)


def tick(scale, amount=0, back=False):
    return bytes([7 << 5 | (8 if back else 0) | scale, amount])


def rtc_w(reg, v):
    return pio(RTC, 0, 1, reg) + pio(RTC, 1, 1, v)


def rtc_r(reg):
    return pio(RTC, 0, 1, reg) + pio(RTC, 1)


def console_input(data):               # the host's side: bytes typed at the console
    return bytes([7 << 5 | 0x10, len(data) - 1]) + data


POWER_BUTTON = bytes([7 << 5 | 0x11])


put("fuzz_port_io", "uart-fifo",
    pio(COM1, 3, 1, 0x83) + pio(COM1, 0, 1, 0x01) + pio(COM1, 1, 1, 0x00) +  # 115200 baud
    pio(COM1, 3, 1, 0x03) + pio(COM1, 2, 1, 0xc7) + pio(COM1, 1, 1, 0x0f) +  # FIFO 14, all IRQs
    pio(COM1, 4, 1, 0x0b) + pio(COM1, 2) + rep_pio(COM1, 0, 7, b"hello\r\n") +
    pio(COM1, 5) + pio(COM1, 2) + pio(COM1, 4, 1, 0x1b) +                     # loopback
    rep_pio(COM1, 0, 16, bytes(range(0x41, 0x51))) + pio(COM1, 0, 1, 0x51) +   # overrun
    pio(COM1, 2) + pio(COM1, 5) + rep_pio(COM1, 0, 16) + pio(COM1, 6) +
    pio(COM1, 0, 2, 0x4241) + pio(COM1, 4, 4) + pio(COM1, 2, 1, 0x01) + pio(COM1, 7, 1, 0x5a))
# Console input while the FIFO fills and its size changes; the power
# button with its SCI enabled and not.
put("fuzz_port_io", "uart-rx-and-power-button",
    pio(COM1, 2, 1, 0x81) + pio(COM1, 1, 1, 0x05) + console_input(b"root\n") + pio(COM1, 2) +
    console_input(bytes(range(16))) + pio(COM1, 5) + pio(COM1, 2) + rep_pio(COM1, 0, 16) +
    pio(COM1, 2, 1, 0x00) + console_input(b"ab") + pio(COM1, 0) + pio(COM1, 5) +
    pio(PM, 2, 2, 0x0100) + POWER_BUTTON + pio(PM, 0, 2) + pio(PM, 0, 2, 0x0100) +
    pio(PM, 4, 2, 0x0000) + POWER_BUTTON + pio(PM, 4, 2, 0x0001))
put("fuzz_port_io", "i8042",
    pio(KBD, 4, 1, 0xaa) + pio(KBD, 4) + pio(KBD, 0) +                          # self test
    pio(KBD, 4, 1, 0x20) + pio(KBD, 0) + pio(KBD, 4, 1, 0x60) + pio(KBD, 0, 1, 0x47) +
    pio(KBD, 4, 1, 0xd1) + pio(KBD, 0, 1, 0xdf) +                                # A20 on
    pio(KBD, 4, 1, 0xd0) + pio(KBD, 0) + pio(KBD, 4, 1, 0xa9) + pio(KBD, 0) +
    pio(KBD, 0, 1, 0xff) + pio(KBD, 0) + pio(KBD, 0) +                           # kbd reset
    pio(KBD, 0, 1, 0xf2) + pio(KBD, 0, 1, 0xf0) + pio(KBD, 0, 1, 0x00) +
    pio(KBD, 4, 1, 0xd4) + pio(KBD, 0, 1, 0xff) + pio(KBD, 4, 1, 0xd4) + pio(KBD, 0, 1, 0xe9) +
    pio(KBD, 4, 1, 0xd3) + pio(KBD, 0, 1, 0x5a) + rep_pio(KBD, 0, 16) +
    pio(KBD, 4, 1, 0xd1) + pio(KBD, 0, 1, 0xdc) + pio(KBD, 4, 1, 0xfe))          # resets
put("fuzz_port_io", "rtc-alarm",
    rtc_r(0x0d) + rtc_w(0x0b, 0x32) + rtc_w(0x01, 0x05) + rtc_w(0x03, 0xc0) +   # AIE UIE 24h
    rtc_w(0x05, 0xc0) + rtc_r(0x0a) + tick(TICK, 3) + rtc_r(0x0a) + tick(MS, 2) +
    rtc_r(0x0a) + rtc_r(0x0c) + tick(SEC, 9) + rtc_r(0x0c) + rtc_r(0x00) + rtc_r(0x02) +
    rtc_r(0x04) + rtc_r(0x07) + rtc_r(0x08) + rtc_r(0x09) + rtc_r(0x32) +
    rtc_w(0x0b, 0x86) + rtc_w(0x09, 99) + rtc_w(0x32, 20) + rtc_w(0x04, 23) +  # SET, binary
    rtc_w(0x0b, 0x26) + tick(HOUR, 1) + rtc_r(0x0c) + tick(SEC, 0, back=True) + rtc_r(0x0c) +
    tick(DAY, 0) + rtc_r(0x0c) + rtc_r(0x06) + rtc_w(0x0e, 0x12) + rtc_r(0x0e))
put("fuzz_port_io", "acpi-pm",
    pio(PM, 0, 2) + pio(PM, 2, 2, 0x0100) + pio(PM, 4, 2) + pio(PM, 8, 4) + tick(MIN, 10) +
    pio(PM, 8, 4) + pio(PM, 0, 2) + pio(PM, 0, 2, 0x0001) + pio(PM, 4, 2, 0x2401) +  # S1
    pio(PM, 9, 1) + pio(PM, 10, 2) + pio(PM, 7) + pio(PM, 6, 1, 0x02) +
    pio(PM, 4, 2, 0x3401) + pio(PM, 6, 1, 0x01))                                  # S5, reset
# BAR 1 (MSI-X) sized, then moved onto testdev's iomem (refused: it stays
# unmapped) and back; the MSI-X table and virtio status through the BARs.
put("fuzz_port_io", "pci-bars",
    cfg(0, 0, 0x00) + cfg(1, 0, 0x00) + cfg(2, 0, 0x00) + cfg(1, 0, 0x04, 2) +
    cfg(1, 0, 0x14, 4, 0xffffffff) + cfg(1, 0, 0x14) + cfg(1, 0, 0x14, 4, 0xff000000) +
    mmio(1, 0, 2) + cfg(1, 0, 0x14, 4, 0xc0000000) + cfg(1, 0, 0x20) + cfg(1, 0, 0x24) +
    cfg(1, 0, 0x34, 1) + cfg(1, 0, 0x40, 4, 0x80000000) + mmio(1, 0, 2, 0xfee00000) +
    mmio(1, 8, 2, 0x41) + mmio(1, 12, 2, 0) + mmio(2, 0x14, 0, 0x0f) + mmio(2, 0x00, 2) +
    cfg(1, 0, 0x04, 2, 0x0000) + mmio(2, 0x14, 0) + cfg(1, 0, 0x04, 2, 0x0006) +
    cfg(1, 0, 0x10, ecam=True) + cfg(1, 1, 0x00, ecam=True) + pio(PCI, 2, 2) + pio(PCI, 6, 1))
put("fuzz_port_io", "testdev",
    pio(LATCH, 0, 4, 0x12345678) + pio(LATCH, 1) + pio(LATCH, 2, 2) + pio(LATCH, 4, 4, 0x1000) +
    rep_pio(LATCH, 8, 4, size=1) + rep_pio(LATCH, 8, 2, b"\x01\x02\x03\x04", size=2) +
    pio(IRQL, 4, 1, 1) + pio(IRQL, 4, 1, 0) + pio(IRQL, 23, 1, 1) + pio(IRQL, 24, 1, 1) +
    mmio(3, 0xfff8, 3, 0x1122334455667788) + mmio(3, 0xfff8, 3) + mmio(3, 0xfffc, 3) +
    pio(POST, 0, 1, 0x55) + pio(DBG, 0, 4, 0x10))
