"""Starts and stops `bitgask serve` processes for the server tests.

Every server runs in its own temporary directory on a free loopback port (`--addr
127.0.0.1:0`; the port is read from the server's log line), and is stopped with SIGTERM, which
must end it with exit status 0 and a released LOCK.
"""

import os
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(os.environ.get("BITGASK_BIN", ROOT / "target" / "release" / "bitgask"))
NUTCRACKER = shutil.which("nutcracker") or "/usr/sbin/nutcracker"


class Server:
    """One `bitgask serve` process. `dir` may be reused across restarts."""

    def __init__(self, *flags, dir=None, tmp=None):
        self.own_tmp = tmp is None and dir is None
        self.tmp = Path(tmp or tempfile.mkdtemp(prefix="bitgask-serve-"))
        self.dir = Path(dir) if dir else self.tmp / "db"
        self.flags = list(flags)
        self.proc = None
        self.port = None
        self.log = None

    def start(self, timeout=15):
        self.log = self.tmp / f"server-{time.monotonic_ns()}.log"
        with open(self.log, "wb") as log:
            self.proc = subprocess.Popen(
                [str(BIN), "serve", "--dir", str(self.dir), "--addr", "127.0.0.1:0", *self.flags],
                stdout=log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            m = re.search(r"listening on 127\.0\.0\.1:(\d+)", self.log.read_text(errors="replace"))
            if m:
                self.port = int(m.group(1))
                return self
            if self.proc.poll() is not None:
                raise RuntimeError(f"server exited with {self.proc.returncode}: {self.log_text()}")
            time.sleep(0.02)
        self.proc.kill()
        raise RuntimeError(f"server did not start: {self.log_text()}")

    def log_text(self):
        return self.log.read_text(errors="replace") if self.log and self.log.exists() else ""

    def stop(self, sig=signal.SIGTERM, timeout=30):
        """Stops the server with `sig` and returns its exit status."""
        if self.proc is None or self.proc.poll() is not None:
            return self.proc.returncode if self.proc else 0
        self.proc.send_signal(sig)
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            raise RuntimeError(f"server did not stop within {timeout}s: {self.log_text()}")

    def status_kib(self, field):
        """A memory figure of the process in KiB, from /proc/PID/status (VmRSS, RssAnon, ...)."""
        for line in Path(f"/proc/{self.proc.pid}/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1])
        return 0

    def rss_kib(self):
        return self.status_kib("VmRSS")

    def threads(self):
        return len(os.listdir(f"/proc/{self.proc.pid}/task"))

    def connect(self, timeout=10):
        s = socket.create_connection(("127.0.0.1", self.port), timeout=timeout)
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return s

    def cleanup(self):
        try:
            self.stop()
        finally:
            if self.own_tmp:
                shutil.rmtree(self.tmp, ignore_errors=True)

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        status = self.stop()
        if self.own_tmp:
            shutil.rmtree(self.tmp, ignore_errors=True)
        assert status == 0, f"server exit status {status}: {self.log_text()}"


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def read_until_closed(sock, limit=1 << 20, timeout=10):
    """Everything the peer sends until it closes (or `limit` bytes, or the timeout)."""
    sock.settimeout(timeout)
    data = b""
    deadline = time.monotonic() + timeout
    while len(data) < limit and time.monotonic() < deadline:
        try:
            chunk = sock.recv(65536)
        except (ConnectionResetError, socket.timeout):
            break
        if not chunk:
            break
        data += chunk
    return data


def command(*args):
    """A RESP multibulk request."""
    out = [b"*%d\r\n" % len(args)]
    for a in args:
        a = a if isinstance(a, bytes) else str(a).encode()
        out.append(b"$%d\r\n%s\r\n" % (len(a), a))
    return b"".join(out)
