#!/usr/bin/env python3
"""Runs kvmbox on a pseudo-terminal, as a person at a terminal would: waits
for the guest, types Ctrl-A x, and checks the exit status and that the
terminal got its canonical mode and echo back. With a third argument, a
signal name (SEGV, ABRT, ...), kvmbox is killed by that signal instead, as
a crash would end it, and the terminal must be restored all the same."""
import os, pty, resource, select, signal, sys, termios, time

kvmbox, kernel = sys.argv[1], sys.argv[2]
crash = getattr(signal, "SIG" + sys.argv[3]) if len(sys.argv) > 3 else None
pid, fd = pty.fork()
if pid == 0:
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))   # no core file from the crash
    os.execv(kvmbox, [kvmbox, "run", "--kernel", kernel, "--cmdline", "spin"])

def read_until(marker, limit=30):
    buf, end = b"", time.time() + limit
    while marker not in buf and time.time() < end:
        r, _, _ = select.select([fd], [], [], 0.2)
        if r:
            try:
                buf += os.read(fd, 4096)
            except OSError:
                break
    return buf

out = read_until(b"spin: running")
if b"spin: running" not in out:
    print("guest did not start:", out[-500:])
    os.kill(pid, 9)
    sys.exit(1)
# kvmbox set the terminal raw while the guest runs.
attrs = termios.tcgetattr(fd)
if attrs[3] & (termios.ICANON | termios.ECHO):
    print("terminal was not put in raw mode")
    sys.exit(1)
if crash:
    os.kill(pid, crash)
else:
    os.write(fd, b"\x01x")
deadline = time.time() + 30
while time.time() < deadline:
    done, status = os.waitpid(pid, os.WNOHANG)
    if done:
        break
    read_until(b"\0", 0.2)
else:
    os.kill(pid, 9)
    print("kvmbox did not quit on", "SIG" + sys.argv[3] if crash else "Ctrl-A x")
    sys.exit(1)
code = os.waitstatus_to_exitcode(status)
if crash:
    # Killed by the signal, or (under a sanitizer, whose handler takes
    # the signal over) exited with a failure status.
    if code == 0:
        print("kvmbox exited 0 after", "SIG" + sys.argv[3])
        sys.exit(1)
    code = 0
attrs = termios.tcgetattr(fd)
if not (attrs[3] & termios.ICANON and attrs[3] & termios.ECHO):
    print("terminal left in raw mode")
    sys.exit(1)
print("exit status", code, "- terminal restored")
sys.exit(code)
