#!/usr/bin/env python3
"""A full disk through the `bitgask` command and `bitgask serve` (docs/DESIGN.md section 5.14).

On a tmpfs of a few MiB, mounted in a user and mount namespace of the test's own (`unshare -rm`,
no root needed): fill the disk until writes fail for lack of space, check every acknowledged
value, delete most keys, reclaim their space (`bitgask merge`, `bitgask gc`, the server's
BGREWRITEAOF) without adding disk, and write again. The server must answer writes with -MISCONF
while full, keep answering reads, and resume writes by itself once the merge freed space.

Usage: test_fulldisk.py BITGASK_BIN. Re-runs itself inside the namespace; where user namespaces
are not allowed it says so and exits 0 (the library's fault-injected tests still run).
"""

import os
import re
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

FS_SIZE = "6m"
FLAGS = ["--reserve-bytes", "512KiB", "--max-file-size", "256KiB", "--merge-max-file-size", "256KiB"]
NO_SPACE_EXIT = 6
VALUE_LEN = 48 * 1024
FAILURES = []


def check(what, cond, detail=""):
    if not cond:
        FAILURES.append(f"{what}: {detail}")
        print(f"FAIL {what}: {detail}", flush=True)


def value(i):
    unit = f"value-{i:06d}|".encode()
    return (unit * (VALUE_LEN // len(unit) + 1))[:VALUE_LEN]


def key(i):
    return f"key-{i:06d}"


# ---- the command ----

def run(bin_, *args, stdin=None):
    return subprocess.run([bin_, *args], input=stdin, capture_output=True, timeout=120)


def cli_fill(bin_, db):
    acked = []
    for i in range(10_000):
        r = run(bin_, "put", "--stdin", key(i), "--dir", db, *FLAGS, stdin=value(i))
        if r.returncode == 0:
            acked.append(i)
            continue
        err = r.stderr.decode(errors="replace")
        check("a full disk exits with code 6", r.returncode == NO_SPACE_EXIT, f"{r.returncode}: {err}")
        check("the error says the disk is full", "No space left on device" in err or "is full" in err, err)
        check("the error says what to do", "bitgask merge" in err, err)
        return acked
    check("the disk filled up", False, "10,000 puts fit")
    return acked


def cli_values(bin_, db, live, when):
    for i, present in sorted(live.items()):
        r = run(bin_, "get", key(i), "--dir", db, *FLAGS)
        if present:
            check(f"{when}: key {i} reads back", r.returncode == 0 and r.stdout.rstrip(b"\n") == value(i),
                  f"exit {r.returncode} {r.stderr[:200]!r}")
        else:
            check(f"{when}: deleted key {i} stays deleted", r.returncode == 1, f"exit {r.returncode}")


def cli_cycle(bin_, root, reclaim):
    db = str(Path(root) / f"cli-{reclaim}")
    acked = cli_fill(bin_, db)
    check(f"{reclaim}: the disk held a few dozen values", len(acked) > 40, f"{len(acked)}")
    live = {i: True for i in acked}
    cli_values(bin_, db, live, f"{reclaim}, full")
    for i in acked:
        if i % 5 != 0:
            r = run(bin_, "del", key(i), "--dir", db, *FLAGS)
            check(f"{reclaim}: del {i} on a full disk", r.returncode == 0, r.stderr.decode(errors="replace"))
            live[i] = False
    t = time.monotonic()
    r = run(bin_, reclaim, "--dir", db, *FLAGS)
    took = time.monotonic() - t
    check(f"bitgask {reclaim} on a full disk", r.returncode == 0, r.stderr.decode(errors="replace"))
    print(f"bitgask {reclaim}: {took:.2f}s: {r.stdout.decode(errors='replace').strip()}", flush=True)
    r = run(bin_, "--json", "stats", "--dir", db, *FLAGS)
    check(f"{reclaim}: stats", r.returncode == 0 and b'"disk_full":false' in r.stdout.replace(b" ", b""),
          r.stdout.decode(errors="replace"))
    base = max(acked) + 100
    for i in range(base, base + 5):
        r = run(bin_, "put", "--stdin", key(i), "--dir", db, *FLAGS, stdin=value(i))
        check(f"{reclaim}: put {i} after reclaiming", r.returncode == 0, r.stderr.decode(errors="replace"))
        live[i] = True
    cli_values(bin_, db, live, f"{reclaim}, after reclaiming")
    subprocess.run(["rm", "-rf", db], check=True)


# ---- the server ----

class Resp:
    def __init__(self, port):
        self.s = socket.create_connection(("127.0.0.1", port), timeout=30)
        self.f = self.s.makefile("rb")

    def call(self, *args):
        out = [f"*{len(args)}\r\n".encode()]
        for a in args:
            a = a if isinstance(a, bytes) else str(a).encode()
            out.append(b"$%d\r\n%s\r\n" % (len(a), a))
        self.s.sendall(b"".join(out))
        return self.reply()

    def reply(self):
        line = self.f.readline().rstrip(b"\r\n")
        tag, rest = line[:1], line[1:]
        if tag in (b"+", b"-", b":"):
            return line
        if tag == b"$":
            n = int(rest)
            return None if n < 0 else self.f.read(n + 2)[:-2]
        if tag == b"*":
            return [self.reply() for _ in range(int(rest))]
        raise RuntimeError(f"unexpected reply {line!r}")


def info(c):
    text = c.call("INFO", "persistence").decode()
    return dict(line.split(":", 1) for line in text.splitlines() if ":" in line)


def server_cycle(bin_, root):
    db = str(Path(root) / "srv")
    log = Path(tempfile.mkdtemp(prefix="bitgask-fulldisk-")) / "serve.log"
    with open(log, "wb") as lf:
        proc = subprocess.Popen([bin_, "serve", "--dir", db, "--addr", "127.0.0.1:0", "--merge-interval-ms", "0",
                                 *FLAGS], stdout=lf, stderr=subprocess.STDOUT)
    try:
        port = None
        for _ in range(500):
            m = re.search(r"listening on 127\.0\.0\.1:(\d+)", log.read_text(errors="replace"))
            if m:
                port = int(m.group(1))
                break
            time.sleep(0.02)
        check("the server starts", port is not None, log.read_text(errors="replace"))
        if port is None:
            return
        c = Resp(port)
        acked = []
        for i in range(10_000):
            r = c.call("SET", key(i), value(i))
            if r == b"+OK":
                acked.append(i)
                continue
            check("a full disk is -MISCONF", r.startswith(b"-MISCONF"), r)
            break
        check("the server filled the disk", len(acked) > 40, f"{len(acked)}")
        check("writes are refused while full", c.call("SET", "more", "x").startswith(b"-MISCONF"))
        check("INFO says the disk is full", info(c).get("bitgask_disk_full") == "1", info(c))
        check("MULTI while full", c.call("MULTI") == b"+OK")
        check("SET queued while full", c.call("SET", "in-exec", "x") == b"+QUEUED")
        r = c.call("EXEC")
        check("EXEC while full is -MISCONF", isinstance(r, bytes) and r.startswith(b"-MISCONF"), r)
        check("EXEC while full wrote nothing", c.call("GET", "in-exec") is None)
        for i in acked:
            check(f"server: GET {i} while full", c.call("GET", key(i)) == value(i))
        for i in acked:
            if i % 5 != 0:
                check(f"server: DEL {i} while full", c.call("DEL", key(i)) == b":1")
        check("BGREWRITEAOF starts", c.call("BGREWRITEAOF").startswith(b"+"))
        for _ in range(3000):
            if info(c).get("aof_rewrite_in_progress") == "0":
                break
            time.sleep(0.01)
        st = info(c)
        check("the merge succeeded", st.get("aof_last_bgrewrite_status") == "ok", st)
        r = c.call("SET", "after", "x")
        check("writes resume by themselves once the merge freed space", r == b"+OK", r)
        check("INFO says the disk is no longer full", info(c).get("bitgask_disk_full") == "0", info(c))
        for i in acked:
            want = value(i) if i % 5 == 0 else None
            check(f"server: key {i} after reclaiming", c.call("GET", key(i)) == want)
    finally:
        proc.send_signal(signal.SIGTERM)
        code = proc.wait(timeout=60)
        check("the server stops cleanly", code == 0, f"exit {code}: {log.read_text(errors='replace')[-2000:]}")


def inside(bin_, root):
    cli_cycle(bin_, root, "merge")
    cli_cycle(bin_, root, "gc")
    server_cycle(bin_, root)
    if FAILURES:
        print(f"{len(FAILURES)} checks failed", flush=True)
        return 1
    print("full disk: the command and the server fill, reclaim and write again: ok", flush=True)
    return 0


def main():
    bin_ = os.path.abspath(sys.argv[1])
    if os.environ.get("BITGASK_SMALL_FS"):
        return inside(bin_, os.environ["BITGASK_SMALL_FS"])
    probe = subprocess.run(["unshare", "-rm", "true"], capture_output=True)
    if probe.returncode != 0:
        print("full disk tests skipped: no unprivileged user namespaces (unshare -rm) here")
        return 0
    mnt = tempfile.mkdtemp(prefix="bitgask-smallfs-")
    script = f'mount -t tmpfs -o size={FS_SIZE} bitgask-test "$1" && shift && exec "$@"'
    env = dict(os.environ, BITGASK_SMALL_FS=mnt)
    r = subprocess.run(["unshare", "-rm", "sh", "-c", script, "sh", mnt, sys.executable, os.path.abspath(__file__),
                        bin_], env=env)
    os.rmdir(mnt)
    return r.returncode


if __name__ == "__main__":
    sys.exit(main())
