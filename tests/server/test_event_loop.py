"""The event-driven server: many connections on a few I/O threads, connection churn beside
pipelines, a client that never reads on the only I/O thread, durable writes handed to
workers. Every loop is bounded in count and time."""

import resource
import socket
import subprocess
import threading
import time

from harness import BIN, Server, command, read_until_closed

MiB = 1 << 20


def raise_nofile(want):
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < want:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, max(want, 4096)), hard))


def pipeline(i):
    """Client `i`'s mixed pipeline and the replies it must get, byte for byte."""
    k, v, n = f"k{i}", f"v{i}", f"n{i}"
    req = (command("SET", k, v) + command("GET", k) + command("INCR", n) + command("INCRBY", n, 10)
           + command("APPEND", k, "x") + command("STRLEN", k) + command("EXISTS", k, "nokey")
           + command("MGET", k, "nokey") + command("DEL", k) + command("GET", k) + command("ECHO", v)
           + b"PING\r\n")
    vx = f"{v}x".encode()
    want = (b"+OK\r\n" + b"$%d\r\n%s\r\n" % (len(v), v.encode()) + b":1\r\n:11\r\n"
            + b":%d\r\n" % len(vx) + b":%d\r\n" % len(vx) + b":1\r\n"
            + b"*2\r\n$%d\r\n%s\r\n$-1\r\n" % (len(vx), vx) + b":1\r\n$-1\r\n"
            + b"$%d\r\n%s\r\n" % (len(v), v.encode()) + b"+PONG\r\n")
    return req, want


def recv_exactly(sock, n, timeout=30):
    sock.settimeout(timeout)
    got = b""
    while len(got) < n:
        chunk = sock.recv(65536)
        if not chunk:
            break
        got += chunk
    return got


def churn(port, stop, errors, counts):
    """Connects, pings, disconnects, over and over, until `stop` is set."""
    done = 0
    while not stop.is_set() and done < 5000:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
                s.sendall(command("PING"))
                if recv_exactly(s, 7, timeout=10) != b"+PONG\r\n":
                    errors.append("bad PING reply")
        except OSError as e:
            errors.append(repr(e))
        done += 1
    counts.append(done)


def run_thousand_with_churn(s):
    socks = [s.connect() for _ in range(1000)]
    stop, errors, counts = threading.Event(), [], []
    churners = [threading.Thread(target=churn, args=(s.port, stop, errors, counts)) for _ in range(100)]
    try:
        for t in churners:
            t.start()
        wants = []
        for i, c in enumerate(socks):
            req, want = pipeline(i)
            c.sendall(req)
            wants.append(want)
        for i, (c, want) in enumerate(zip(socks, wants)):
            got = recv_exactly(c, len(want))
            assert got == want, f"client {i}: {got!r}"
        # A second round on the same connections, after the churn has gone on a while.
        for i, c in enumerate(socks):
            c.sendall(command("GET", f"n{i}"))
        for i, c in enumerate(socks):
            assert recv_exactly(c, 7) == b"$2\r\n11\r\n", f"client {i}"
    finally:
        stop.set()
        for t in churners:
            t.join(60)
        for c in socks:
            c.close()
    assert not errors, errors[:5]
    assert sum(counts) >= 100, counts


def test_thousand_pipelining_clients_while_a_hundred_connect_and_disconnect():
    raise_nofile(2600)
    with Server("--no-sync", "--io-threads", "2") as s:
        run_thousand_with_churn(s)
        # Two I/O threads serve them all (plus main, signals, the syncer and the library's
        # threads: background, prefault, flush, merge and its second copying thread), not a
        # thread per connection.
        assert s.threads() <= 10, s.threads()


def test_thousand_durable_clients_while_a_hundred_connect_and_disconnect():
    """The same with durable writes: they go to the worker pool, whose size is bounded."""
    raise_nofile(2600)
    with Server("--io-threads", "2") as s:
        run_thousand_with_churn(s)
        assert s.threads() <= 9 + 256, s.threads()


def test_a_client_that_never_reads_does_not_stall_its_io_thread():
    with Server("--no-sync", "--io-threads", "1", "--timeout", "30") as s:
        with s.connect() as c:
            c.sendall(command("SET", "big", b"v" * MiB))
            assert recv_exactly(c, 5) == b"+OK\r\n"
        stuck = s.connect()
        stuck.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        stuck.settimeout(2)
        try:
            stuck.sendall(command("GET", "big") * 200)
        except (socket.timeout, BlockingIOError):
            pass
        time.sleep(0.3)
        base = s.rss_kib()
        with s.connect() as c:
            t0 = time.monotonic()
            for i in range(200):
                c.sendall(command("PING"))
                assert recv_exactly(c, 7, timeout=5) == b"+PONG\r\n", i
            assert time.monotonic() - t0 < 10
        assert s.rss_kib() - base < 32 * 1024
        stuck.close()


def test_a_client_that_never_reads_a_reply_larger_than_its_memory_limit_is_closed():
    """MGET of 100 values of 1 MiB is 100 MiB of replies: over a 16 MiB limit while the client
    does not read, the connection is closed with a log line, and the server's memory stays
    under the limit."""
    with Server("--no-sync", "--io-threads", "1", "--max-client-memory", str(16 * MiB)) as s:
        with s.connect() as c:
            c.sendall(command("SET", "big", b"v" * MiB))
            assert recv_exactly(c, 5) == b"+OK\r\n"
        base = s.rss_kib()
        stuck = s.connect()
        stuck.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        stuck.sendall(command("MGET", *(["big"] * 100)))
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and "its replies passed its memory limit" not in s.log_text():
            time.sleep(0.1)
        assert "its replies passed its memory limit of 16777216 bytes" in s.log_text(), s.log_text()
        assert s.rss_kib() - base < 40 * 1024
        stuck.close()
        with s.connect() as c:
            c.sendall(command("PING"))
            assert recv_exactly(c, 7) == b"+PONG\r\n"


def test_stop_answers_what_was_read_by_every_io_thread():
    """Clients spread over four I/O threads, each with a pipeline in flight, then SIGTERM: each
    gets every reply it is owed for what the server read, and nothing after it."""
    s = Server("--no-sync", "--io-threads", "4").start()
    socks = [s.connect() for _ in range(40)]
    for i, c in enumerate(socks):
        c.sendall(b"".join(command("SET", f"s{i}:{j}", j) for j in range(200)))
    time.sleep(0.2)
    assert s.stop() == 0
    for c in socks:
        data = read_until_closed(c)
        assert data == b"+OK\r\n" * (len(data) // 5)
        c.close()
    assert "database closed" in s.log_text()


def test_io_threads_must_be_positive(tmp_path):
    r = subprocess.run([str(BIN), "serve", "--dir", str(tmp_path / "db"), "--io-threads", "0"],
                       capture_output=True, timeout=30)
    assert r.returncode != 0 and b"--io-threads must be at least 1" in r.stderr


def test_config_and_info_name_the_io_threads():
    with Server("--no-sync", "--io-threads", "3") as s:
        with s.connect() as c:
            c.sendall(command("CONFIG", "GET", "io-threads") + command("INFO", "server") + command("QUIT"))
            data = read_until_closed(c)
        assert data.startswith(b"*2\r\n$10\r\nio-threads\r\n$1\r\n3\r\n"), data[:80]
        assert b"multiplexing_api:epoll\r\n" in data and b"io_threads_active:3\r\n" in data


def test_a_slow_reader_gets_every_reply_of_a_long_pipeline():
    """A pipeline whose replies (50 MiB) far exceed what the sockets hold, read slowly: the
    connection stops running commands while its replies wait and resumes as the client reads,
    until every reply has come, in order."""
    with Server("--no-sync", "--io-threads", "1") as s:
        value = bytes(range(256)) * 1024  # 256 KiB
        with s.connect() as c:
            c.sendall(command("SET", "big", value))
            assert recv_exactly(c, 5) == b"+OK\r\n"
        n = 200
        want = (b"$%d\r\n" % len(value) + value + b"\r\n") * n + b"+PONG\r\n"
        c = s.connect()
        sender = threading.Thread(target=c.sendall, args=(command("GET", "big") * n + command("PING"),))
        sender.start()
        got = bytearray()
        c.settimeout(30)
        while len(got) < len(want):
            chunk = c.recv(1 << 20 if len(got) > len(want) // 2 else 4096)
            if not chunk:
                break
            got += chunk
            if len(got) < len(want) // 8:
                time.sleep(0.001)
        sender.join(30)
        c.close()
        assert len(got) == len(want) and got == want
