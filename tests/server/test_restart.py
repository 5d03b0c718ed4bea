"""Stopping and restarting: SIGTERM, SIGINT and SHUTDOWN end the server with status 0 after the
commands in flight, the LOCK is released (the next server opens the same directory), and every
acknowledged write is there after the restart."""

import signal
import tempfile
import time
from pathlib import Path

import pytest
import redis

from harness import Server, command, read_until_closed


@pytest.fixture
def tmp():
    with tempfile.TemporaryDirectory(prefix="bitgask-restart-") as d:
        yield Path(d)


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_restart_keeps_data(tmp, sig):
    db = tmp / "db"
    s = Server(dir=db, tmp=tmp).start()
    r = redis.Redis(port=s.port)
    with r.pipeline(transaction=False) as p:
        for i in range(1000):
            p.set(f"k{i}", f"v{i}")
        p.set("ttl", "t", ex=1000)
        p.set("gone", "x")
        p.delete("gone")
        p.incrby("n", 42)
        p.execute()
    r.close()
    assert s.stop(sig) == 0
    assert "database closed" in s.log_text()

    s2 = Server(dir=db, tmp=tmp).start()  # would fail with a held LOCK
    r = redis.Redis(port=s2.port)
    assert r.dbsize() == 1002
    assert r.mget([f"k{i}" for i in range(1000)]) == [f"v{i}".encode() for i in range(1000)]
    assert 990 < r.ttl("ttl") <= 1000
    assert r.get("gone") is None
    assert r.get("n") == b"42"
    r.close()
    assert s2.stop() == 0


def test_shutdown_finishes_commands_in_flight(tmp):
    """A client pipelines writes; SIGTERM arrives meanwhile. Every write the client got an OK
    for is there after the restart."""
    db = tmp / "db"
    s = Server(dir=db, tmp=tmp).start()
    c = s.connect()
    n = 5000
    c.sendall(b"".join(command("SET", f"f{i}", i) for i in range(n)))
    time.sleep(0.01)
    s.proc.send_signal(signal.SIGTERM)
    data = b""
    c.settimeout(20)
    while True:
        try:
            chunk = c.recv(65536)
        except (ConnectionResetError, TimeoutError):
            break
        if not chunk:
            break
        data += chunk
    c.close()
    assert s.proc.wait(30) == 0
    acked = data.count(b"+OK\r\n")
    print(f"{acked} of {n} writes acknowledged before the stop")
    assert data == b"+OK\r\n" * acked
    s2 = Server(dir=db, tmp=tmp).start()
    r = redis.Redis(port=s2.port)
    values = r.mget([f"f{i}" for i in range(n)])
    assert all(values[i] == str(i).encode() for i in range(acked)), "an acknowledged write is missing"
    r.close()
    assert s2.stop() == 0


def test_shutdown_command_and_idle_clients(tmp):
    db = tmp / "db"
    s = Server(dir=db, tmp=tmp).start()
    idle = [s.connect() for _ in range(20)]  # blocked in read: the stop must wake them
    c = s.connect()
    c.sendall(command("SET", "a", "1") + command("SHUTDOWN"))
    assert read_until_closed(c) == b"+OK\r\n"  # no reply to SHUTDOWN: the connection closes
    c.close()
    assert s.proc.wait(30) == 0
    for c in idle:
        c.close()
    with Server(dir=db, tmp=tmp) as s2:
        assert redis.Redis(port=s2.port).get("a") == b"1"


def test_second_server_on_same_dir_is_refused(tmp):
    db = tmp / "db"
    with Server(dir=db, tmp=tmp):
        with pytest.raises(RuntimeError, match="lock"):
            Server(dir=db, tmp=tmp).start()


def test_stop_with_a_client_that_never_reads(tmp):
    """A client stuck on a full socket buffer cannot hold the stop up for long: after a grace
    period its connection is shut, and the server still exits 0 with the database closed."""
    s = Server("--no-sync", dir=tmp / "db", tmp=tmp).start()
    c = s.connect()
    c.sendall(command("SET", "big", b"x" * (1 << 20)))
    assert c.recv(100) == b"+OK\r\n"
    c.sendall(command("GET", "big") * 200)  # 200 MiB of replies nobody reads
    time.sleep(0.5)
    t0 = time.monotonic()
    assert s.stop(timeout=40) == 0
    assert time.monotonic() - t0 < 30
    assert "database closed" in s.log_text()
    c.close()
