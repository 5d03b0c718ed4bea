"""Raw-socket tests: protocol bombs, inline commands, pipelining, authentication gate, slow
clients, idle timeout, maxclients, 1,000 concurrent connections. Every loop is bounded in
count and time."""

import resource
import socket
import subprocess
import time

import pytest

from harness import BIN, Server, command, read_until_closed

MiB = 1 << 20


@pytest.fixture(scope="module")
def server():
    with Server("--no-sync") as s:
        yield s


def roundtrip(srv, payload, expect_len=None, timeout=10, lines=None):
    """Sends `payload` on a fresh connection and returns what comes back until `expect_len`
    bytes, or `lines` CRLF-terminated lines, or the connection closes."""
    with srv.connect() as s:
        s.sendall(payload)
        s.settimeout(timeout)
        data = b""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if expect_len is not None and len(data) >= expect_len or lines is not None and data.count(b"\r\n") >= lines:
                break
            try:
                chunk = s.recv(65536)
            except socket.timeout:
                break
            if not chunk:
                break
            data += chunk
        return data


def info(srv, section):
    """INFO `section` on a fresh connection (QUIT closes it after the reply)."""
    return roundtrip(srv, command("INFO", section) + command("QUIT"))


def alive(srv):
    return roundtrip(srv, command("PING"), 7) == b"+PONG\r\n"


BOMBS = [
    b"*1\r\n$-2\r\n",
    b"*1\r\n$-1\r\n",
    b"*1\r\n$99999999999999999999\r\n",
    b"*4294967295\r\n",
    b"*99999999999999999999999\r\n",
    b"*2000000\r\n",
    b"*-\r\n",
    b"*1\n$4\r\nPING\r\n",
    b"*1\r\n$4\nPING\r\n",
    b"*1\r\n$4\r\nPINGxx\r\n",
    b"*2\r\n$3\r\nGET\r\n+k\r\n",
    b"*1\r\n$4 \r\nPING\r\n",
    b"*1\r\n$0x10\r\n",
    b"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$33554433\r\n",  # one byte over the value limit
    b"*1\r\n$" + b"9" * 40,  # a length line that never ends
    b"*" + b"1" * 40,
    b"PING " + b"x" * (70 << 10),  # inline line without a newline, over 64 KiB
    b"SET k \"unbalanced\r\n",
    b"SET k 'a'b\r\n",
]


@pytest.mark.parametrize("bomb", BOMBS, ids=range(len(BOMBS)))
def test_protocol_bombs_close_with_error(server, bomb):
    reply = roundtrip(server, bomb)
    assert reply.startswith(b"-ERR Protocol error"), reply[:200]
    assert reply.endswith(b"\r\n") and reply.count(b"\r\n") == 1
    assert alive(server)


def test_declared_lengths_are_not_allocated(server):
    """Hundreds of clients each declaring a 32 MiB argument (or a million arguments) and then
    sending almost nothing: memory must follow the bytes sent, not the bytes declared."""
    base = server.rss_kib()
    socks = []
    try:
        for i in range(300):
            s = server.connect()
            if i % 2:
                s.sendall(b"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$33554432\r\n" + b"x" * 100)
            else:
                s.sendall(b"*1000000\r\n$3\r\nSET\r\n")
            socks.append(s)
        time.sleep(0.5)
        grown = server.rss_kib() - base
        assert grown < 200 * 1024, f"RSS grew by {grown} KiB for 300 half-sent commands"
        assert alive(server)
    finally:
        for s in socks:
            s.close()


def test_inline_commands(server):
    reply = roundtrip(server, b"PING\r\nSET inline \"a b\\x41\"\r\nGET inline\nECHO 'it\\'s'\r\n\r\nQUIT\r\n")
    assert reply == b"+PONG\r\n+OK\r\n$4\r\na bA\r\n$4\r\nit's\r\n+OK\r\n"


def test_pipelining_many_commands_in_one_write(server):
    n = 20000
    payload = b"".join(command("SET", f"p{i}", i) for i in range(n)) + b"".join(command("GET", f"p{i}") for i in range(n))
    expect = b"+OK\r\n" * n + b"".join(b"$%d\r\n%d\r\n" % (len(str(i)), i) for i in range(n))
    assert roundtrip(server, payload, len(expect), timeout=60) == expect


def test_reply_types_resp2_and_resp3(server):
    want = b"$-1\r\n*1\r\n$-1\r\n$3\r\nmsg\r\n"
    assert roundtrip(server, command("GET", "nokey") + command("MGET", "nokey") + command("PING", "msg"), len(want)) == want
    with server.connect() as s:
        s.sendall(command("HELLO", "3"))
        time.sleep(0.2)
        hello = s.recv(65536)
        assert hello.startswith(b"%7\r\n")
        s.sendall(command("GET", "nokey") + command("CONFIG", "GET", "timeout") + command("INFO", "clients"))
        time.sleep(0.2)
        data = s.recv(65536)
        assert data.startswith(b"_\r\n%1\r\n$7\r\ntimeout\r\n$1\r\n0\r\n=")
        assert b"txt:# Clients" in data


def test_unknown_and_arity_errors(server):
    reply = roundtrip(server, command("FOO", "bar") + command("GET") + command("GET", "a", "b"), lines=3)
    lines = reply.split(b"\r\n")
    assert lines[0] == b"-ERR unknown command 'FOO', with args beginning with: 'bar' "
    assert lines[1] == lines[2] == b"-ERR wrong number of arguments for 'get' command"


def test_query_buffer_limit():
    with Server("--no-sync", "--max-query-buffer", str(1 * MiB), "--max-value-size", str(4 * MiB)) as s:
        with s.connect() as c:
            c.sendall(b"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$3000000\r\n")
            try:
                c.sendall(b"x" * (2 * MiB))
            except (BrokenPipeError, ConnectionResetError):
                pass
            reply = read_until_closed(c)
        assert b"query buffer limit" in reply
        assert alive(s)


def test_auth_gate():
    with Server("--requirepass", "pw", "--no-sync") as s:
        reply = roundtrip(s, command("GET", "k") + command("SET", "k", "v") + command("AUTH", "bad") + command("AUTH", "pw")
                          + command("SET", "k", "v") + command("GET", "k"), lines=7)
        lines = reply.split(b"\r\n")
        assert lines[0] == lines[1] == b"-NOAUTH Authentication required."
        assert lines[2].startswith(b"-WRONGPASS")
        assert lines[3:6] == [b"+OK", b"+OK", b"$1"]
        # An unauthenticated client may not send large commands.
        assert roundtrip(s, b"*2\r\n$4\r\nAUTH\r\n$100000\r\n").startswith(b"-ERR Protocol error")
        assert roundtrip(s, command("QUIT")) == b"+OK\r\n"
        hello = roundtrip(s, command("HELLO", 3, "AUTH", "default", "pw") + command("GET", "k"), lines=17)
        assert hello.startswith(b"%7\r\n") and hello.endswith(b"$1\r\nv\r\n")


def test_non_loopback_needs_a_password(tmp_path):
    r = subprocess.run([str(BIN), "serve", "--dir", str(tmp_path / "db"), "--addr", "0.0.0.0:0"], capture_output=True, timeout=30)
    assert r.returncode != 0 and b"--requirepass" in r.stderr
    assert not (tmp_path / "db").exists()


def test_client_that_never_reads():
    """A client pipelines GETs of a 1 MiB value and never reads: the server's memory stays
    bounded, other clients are served, and the stalled client is dropped after --timeout."""
    with Server("--no-sync", "--timeout", "2") as s:
        big = b"v" * MiB
        assert roundtrip(s, command("SET", "big", big), 5) == b"+OK\r\n"
        base = s.rss_kib()
        c = s.connect()
        c.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        c.settimeout(0.5)
        sent = 0
        request = command("GET", "big") * 100
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline and sent < 3000:
            try:
                c.sendall(request)
                sent += 100
            except (socket.timeout, BlockingIOError):
                break
            except (BrokenPipeError, ConnectionResetError):
                break
        # 3000 GETs would be 3 GiB of replies; the server holds at most one flush.
        grown = s.rss_kib() - base
        assert grown < 64 * 1024, f"RSS grew by {grown} KiB"
        assert alive(s)
        # The stalled connection is closed once a write makes no progress for 2 s.
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            clients = info(s, "clients")
            if b"connected_clients:1\r\n" in clients:
                break
            time.sleep(0.25)
        assert b"connected_clients:1\r\n" in clients, clients
        c.close()


def test_idle_timeout():
    with Server("--no-sync", "--timeout", "1") as s:
        c = s.connect()
        c.sendall(command("PING"))
        assert c.recv(100) == b"+PONG\r\n"
        t0 = time.monotonic()
        assert read_until_closed(c, timeout=10) == b""
        assert 0.8 < time.monotonic() - t0 < 6
        c.close()


def test_maxclients():
    with Server("--no-sync", "--maxclients", "5") as s:
        held = []
        for _ in range(5):
            c = s.connect()
            c.sendall(command("PING"))
            assert c.recv(100) == b"+PONG\r\n"
            held.append(c)
        extra = s.connect()
        assert read_until_closed(extra) == b"-ERR max number of clients reached\r\n"
        extra.close()
        held.pop().close()
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            if roundtrip(s, command("PING"), 7, timeout=2) == b"+PONG\r\n":
                break
            time.sleep(0.05)
        else:
            pytest.fail("a slot freed by a closed client was not reused")
        for c in held:
            c.close()


def test_thousand_concurrent_connections():
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < 2100:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, 4096), hard))
    with Server("--no-sync") as s:
        socks = []
        try:
            for _ in range(1000):
                socks.append(s.connect())
            for i, c in enumerate(socks):
                c.sendall(command("SET", f"c{i}", i) + command("GET", f"c{i}"))
            for i, c in enumerate(socks):
                want = b"+OK\r\n$%d\r\n%d\r\n" % (len(str(i)), i)
                got = b""
                while len(got) < len(want):
                    chunk = c.recv(100)
                    assert chunk, f"connection {i} closed"
                    got += chunk
                assert got == want
            assert b"connected_clients:1001\r\n" in info(s, "clients")
            assert roundtrip(s, command("DBSIZE"), 7) == b":1000\r\n"
        finally:
            for c in socks:
                c.close()
