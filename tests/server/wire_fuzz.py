#!/usr/bin/env python3
"""Wire-level fuzzer for `bitgask serve`: mutated commands, pipelines and partial frames over
many connections, against a real server process.

Starts its own server (loopback, free port, temporary directory, a password so both the
authenticated and the unauthenticated paths are exercised), then runs worker threads until
the time is up. Each worker opens a connection, sends a session (a pipeline of generated
commands, some mutated: flipped and inserted bytes, NULs, line breaks, quotes, lying length
headers, truncations, splices), in one write or in random pieces with pauses, sometimes
stopping half-way through a frame or never reading the replies; then closes it and checks
that the server is alive (its process runs, a fresh connection gets PONG) and that its RSS is
under the bound. At the end the server must stop on SIGTERM with status 0, and its log must
hold no panic.

    python3 tests/server/wire_fuzz.py --seconds 600                # what make soak runs
    python3 tests/server/wire_fuzz.py --seconds 20 --seed 7        # what make test runs

Exits 1 on a finding, after writing the session that preceded it (the bytes of the last
connection of every worker) to --out. Prints connections, commands and bytes sent, and the
server's RSS at start, peak and end.
"""

import argparse
import random
import socket
import sys
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from harness import BIN, ROOT, Server, command  # noqa: E402

PASSWORD = b"pw"

# Command words and argument shapes: every command the server knows but SHUTDOWN (which would
# stop it, as asked) and a few it does not.
WORDS = {
    "GET": ["key"], "SET": ["key", "value", "setopts"], "SETNX": ["key", "value"], "SETEX": ["key", "int", "value"],
    "PSETEX": ["key", "int", "value"], "MGET": ["keys"], "MSET": ["pairs"], "MSETNX": ["pairs"], "GETDEL": ["key"], "GETSET": ["key", "value"],
    "APPEND": ["key", "value"], "STRLEN": ["key"], "INCR": ["key"], "DECR": ["key"], "INCRBY": ["key", "int"],
    "DECRBY": ["key", "int"], "DEL": ["keys"], "UNLINK": ["keys"], "EXISTS": ["keys"], "TYPE": ["key"], "TTL": ["key"],
    "PTTL": ["key"], "EXPIRE": ["key", "int", "when"], "PEXPIRE": ["key", "int", "when"], "EXPIREAT": ["key", "int", "when"],
    "PEXPIREAT": ["key", "int", "when"], "EXPIRETIME": ["key"], "PEXPIRETIME": ["key"], "PERSIST": ["key"],
    "KEYS": ["pattern"], "SCAN": ["cursor", "scanopts"], "DBSIZE": [], "INFO": ["words"], "FLUSHDB": [], "FLUSHALL": [],
    "SAVE": [], "BGSAVE": [], "BGREWRITEAOF": [], "LASTSAVE": [], "TIME": [], "COMMAND": ["words"], "CONFIG": ["config"],
    "PING": ["words"], "ECHO": ["value"], "QUIT": [], "SELECT": ["int"], "AUTH": ["auth"], "HELLO": ["hello"],
    "RESET": [], "CLIENT": ["client"], "MULTI": [], "EXEC": [], "DISCARD": [], "WATCH": ["keys"], "UNWATCH": [],
    "NOSUCH": ["words"],
}
SPECIAL = [b"", b"\0", b"\r\n", b"\n", b"\"", b"'", b"\\", b"*", b"$", b"-1", b"0", b"9223372036854775808",
           b"-9223372036854775808", b"99999999999999999999", b"EX", b"PX", b"NX", b"XX", b"GET", b"KEEPTTL", b"MATCH",
           b"COUNT", b"TYPE", b"SETNAME", b"AUTH", b"default", PASSWORD]
PATTERNS = [b"*", b"k*", b"*a*a*a*a*a*a*b", b"[a-]x]", b"[^", b"\\", b"?*?*?", b"k[0-9]*", b"*" * 200 + b"b"]


class Gen:
    """Generates and mutates requests from one random stream."""

    def __init__(self, rng):
        self.r = rng

    def blob(self):
        r = self.r
        n = r.choice([0, 1, 3, 8, 30, 100, 1000, 5000]) if r.random() < 0.98 else r.choice([70000, 300000, 1100000])
        if r.random() < 0.5:
            return bytes(r.getrandbits(8) for _ in range(min(n, 64))) * (n // 64 + 1)
        return r.choice([b"a", b"x", b"\0", b"0"]) * n

    def key(self):
        return b"k%d" % self.r.randrange(50) if self.r.random() < 0.8 else self.blob()[:300]

    def integer(self):
        r = self.r
        return r.choice([b"%d" % r.randrange(-5, 100000), r.choice(SPECIAL), b"%d" % r.getrandbits(r.choice([8, 32, 64]))])

    def arg(self, shape):
        r = self.r
        if shape == "key":
            return [self.key()]
        if shape == "value":
            return [self.blob()]
        if shape == "int" or shape == "cursor":
            return [self.integer()]
        if shape == "keys":
            return [self.key() for _ in range(r.choice([1, 2, 5, 100]))]
        if shape == "pairs":
            return [x for _ in range(r.choice([1, 3, 50])) for x in (self.key(), self.blob())]
        if shape == "pattern":
            return [r.choice(PATTERNS)]
        if shape == "words":
            return [r.choice(SPECIAL + [b"clients", b"keyspace", b"docs", b"info", b"get", b"count"])
                    for _ in range(r.randrange(3))]
        if shape == "setopts":
            return r.sample([b"NX", b"XX", b"GET", b"KEEPTTL", b"EX", b"PX", b"EXAT", b"PXAT", self.integer()], r.randrange(4))
        if shape == "when":
            return r.sample([b"NX", b"XX", b"GT", b"LT"], r.randrange(3))
        if shape == "scanopts":
            return r.sample([b"MATCH", r.choice(PATTERNS), b"COUNT", self.integer(), b"TYPE", b"string"], r.randrange(7))
        if shape == "config":
            return [r.choice([b"GET", b"SET", b"RESETSTAT", b"REWRITE"]), r.choice(PATTERNS + [b"max*", b"timeout"])]
        if shape == "auth":
            return r.choice([[PASSWORD], [b"default", PASSWORD], [b"bad"], [b"a", b"b", b"c"]])
        if shape == "hello":
            return r.choice([[b"3"], [b"2", b"AUTH", b"default", PASSWORD], [b"3", b"SETNAME", self.blob()[:2000]], [b"4"]])
        if shape == "client":
            return r.choice([[b"ID"], [b"LIST"], [b"INFO"], [b"GETNAME"], [b"SETNAME", self.blob()[:2000]],
                             [b"SETINFO", b"LIB-NAME", b"x"], [b"NOSUCH"]])
        return []

    def args(self):
        name = self.r.choice(list(WORDS))
        out = [name.encode() if self.r.random() < 0.8 else name.lower().encode()]
        for shape in WORDS[name]:
            out += self.arg(shape)
        return out

    def inline(self, args):
        def word(a):
            if self.r.random() < 0.3:
                return b'"' + a.replace(b"\\", b"\\\\").replace(b'"', b'\\"') + b'"'
            return a.replace(b" ", b"_")[:2000]
        return b" ".join(word(a) for a in args) + self.r.choice([b"\r\n", b"\n"])

    def mutate(self, b):
        r = self.r
        b = bytearray(b)
        for _ in range(r.choice([1, 1, 2, 4, 16])):
            if not b:
                b += bytes([r.getrandbits(8)])
            op, at = r.randrange(8), r.randrange(len(b) + 1)
            if op == 0 and at < len(b):
                b[at] ^= 1 << r.randrange(8)
            elif op == 1:
                b[at:at] = r.choice([b"\0", b"\r", b"\n", b"\r\n", b'"', b"'", b"\\", b"*", b"$", b" "])
            elif op == 2:
                del b[at:at + r.randrange(1, 16)]
            elif op == 3:
                b[at:at] = b[at:at + r.randrange(1, 64)] * r.randrange(1, 8)
            elif op == 4:
                b[at:] = b[at:at + r.randrange(0, 8)]
            elif op == 5:
                # A lying length header.
                i = b.find(b"$", at)
                if i >= 0:
                    j = b.find(b"\r\n", i)
                    if j > 0:
                        b[i + 1:j] = r.choice([b"-1", b"-2", b"0", b"99999999999", b"33554432", b"%d" % r.randrange(100)])
            elif op == 6:
                b[at:at] = self.request(mutate=False)
            else:
                b[at:at] = bytes(r.getrandbits(8) for _ in range(r.randrange(1, 32)))
        return bytes(b)

    def request(self, mutate=True):
        r = self.r
        args = self.args()
        kind = r.random()
        if kind < 0.1:
            req = self.inline(args)
        elif kind < 0.12:
            req = r.choice([b"\0\n", b"\0\r\n", b"*-1\r\n", b"*0\r\n", b"\r\n", b"*1\r\n$33554432\r\n", b"*1000000\r\n"])
        else:
            req = command(*args)
        if mutate and r.random() < 0.3:
            req = self.mutate(req)
        return req

    def session(self):
        """The bytes one connection sends, and how many requests they hold."""
        r = self.r
        parts = []
        if r.random() < 0.8:
            parts.append(command("AUTH", PASSWORD) if r.random() < 0.7 else command("HELLO", 3, "AUTH", "default", PASSWORD))
        n = r.choice([1, 3, 10, 50, 500])
        parts += [self.request() for _ in range(n)]
        return b"".join(parts), len(parts)


class Stats:
    def __init__(self):
        self.lock = threading.Lock()
        self.connections = self.commands = self.bytes = 0
        self.peak_kib = 0

    def add(self, commands, nbytes):
        with self.lock:
            self.connections += 1
            self.commands += commands
            self.bytes += nbytes


def drain(sock, wait):
    """Reads (and drops) replies until `wait` seconds of silence or the peer closes."""
    sock.settimeout(wait)
    try:
        while sock.recv(1 << 16):
            pass
    except OSError:
        pass


def play(port, gen, data):
    """Sends `data` on one connection, in one of the ways a client might."""
    r = gen.r
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
            mode = r.random()
            if mode < 0.4:
                s.sendall(data)
                drain(s, 0.2)
            elif mode < 0.8:
                at = 0
                while at < len(data):
                    n = r.choice([1, 2, 7, 100, 4096])
                    s.sendall(data[at:at + n])
                    at += n
                    if r.random() < 0.05:
                        time.sleep(0.002)
                drain(s, 0.2)
            elif mode < 0.9:
                # Half a frame, then gone.
                s.sendall(data[:r.randrange(len(data) + 1)])
            else:
                # Never reads the replies.
                s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
                s.settimeout(1)
                try:
                    s.sendall(data)
                except OSError:
                    pass
    except OSError:
        pass  # resets and refusals are the server's right


def alive(srv):
    """The process runs and a fresh connection gets PONG."""
    if srv.proc.poll() is not None:
        return False
    try:
        with socket.create_connection(("127.0.0.1", srv.port), timeout=10) as s:
            s.sendall(command("AUTH", PASSWORD) + command("PING"))
            s.settimeout(10)
            got = b""
            while len(got) < 12:
                chunk = s.recv(100)
                if not chunk:
                    break
                got += chunk
            return got == b"+OK\r\n+PONG\r\n"
    except OSError:
        return False


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--bin", default=str(BIN), help="the bitgask binary")
    ap.add_argument("--seconds", type=float, default=20)
    ap.add_argument("--seed", type=int, default=None)
    ap.add_argument("--workers", type=int, default=8)
    ap.add_argument("--rss-limit-mib", type=int, default=512, help="the server's RSS bound")
    ap.add_argument("--out", default=str(ROOT / "build" / "wire-fuzz-findings"),
                    help="where a finding's sessions and the server's log are written")
    opts = ap.parse_args()
    seed = opts.seed if opts.seed is not None else random.randrange(1 << 32)
    stats = Stats()
    failure = []
    last = {}
    deadline = time.monotonic() + opts.seconds

    import harness
    harness.BIN = Path(opts.bin)
    srv = Server("--no-sync", "--requirepass", PASSWORD.decode()).start()
    start_kib = srv.rss_kib()

    def check(worker):
        kib = srv.rss_kib() if srv.proc.poll() is None else 0
        with stats.lock:
            stats.peak_kib = max(stats.peak_kib, kib)
        if not alive(srv):
            return "the server is not answering"
        if kib > opts.rss_limit_mib * 1024:
            return f"the server's RSS is {kib // 1024} MiB, over the bound of {opts.rss_limit_mib} MiB"
        return None

    def worker(i):
        gen = Gen(random.Random(seed * 1000 + i))
        while time.monotonic() < deadline and not failure:
            data, requests = gen.session()
            last[i] = data
            play(srv.port, gen, data)
            stats.add(requests, len(data))
            why = check(i)
            if why:
                failure.append((i, why))

    # The server's RSS every tenth of the run: a flat profile levels off, a leak keeps climbing.
    # The anonymous part (heap and stacks) is sampled apart from the whole, which also counts
    # the pages of memory-mapped data files that reads touched.
    samples = []

    def sample():
        step = opts.seconds / 10
        while time.monotonic() < deadline and not failure:
            time.sleep(min(step, max(0.0, deadline - time.monotonic())))
            if srv.proc.poll() is None:
                samples.append((srv.rss_kib(), srv.status_kib("RssAnon")))

    threads = [threading.Thread(target=worker, args=(i,), daemon=True) for i in range(opts.workers)]
    threads.append(threading.Thread(target=sample, daemon=True))
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    end_kib = srv.rss_kib() if srv.proc.poll() is None else 0
    status = srv.stop()
    log = srv.log_text()
    if status != 0 and not failure:
        failure.append((-1, f"the server exited with status {status} on SIGTERM"))
    if "panicked" in log:
        failure.append((-1, "the server's log holds a panic"))
    mib = lambda kib: f"{kib / 1024:.1f} MiB"  # noqa: E731
    print(f"wire_fuzz: seed {seed}, {opts.seconds:.0f} s, {opts.workers} workers: {stats.connections} connections, "
          f"{stats.commands} commands, {stats.bytes / (1 << 20):.1f} MiB sent; server RSS start {mib(start_kib)}, "
          f"peak {mib(stats.peak_kib)}, end {mib(end_kib)} (bound {opts.rss_limit_mib} MiB)")
    print("wire_fuzz: server RSS every tenth of the run, MiB (anonymous: heap and stacks): "
          + ", ".join(f"{rss / 1024:.0f} ({anon / 1024:.0f})" for rss, anon in samples))
    closes = [l for l in log.splitlines() if "closing client id=" in l]
    if closes:
        print(f"wire_fuzz: {len(closes)} connection(s) closed over their memory budget, the first: {closes[0]}")
    if failure:
        out = Path(opts.out)
        out.mkdir(parents=True, exist_ok=True)
        for i, data in last.items():
            (out / f"worker-{i}.bin").write_bytes(data)
        (out / "server.log").write_text(log)
        for i, why in failure:
            print(f"wire_fuzz: FINDING (worker {i}): {why}; sessions and server log in {out}/ (replay with --seed {seed})")
        srv.cleanup()
        return 1
    srv.cleanup()
    return 0


if __name__ == "__main__":
    sys.exit(main())
