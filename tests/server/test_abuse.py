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


# ---- NUL bytes in inline commands (issue: `\0\n` made the splitter add empty arguments forever) ----

def test_nul_newline_is_an_empty_command_and_memory_stays_flat(server):
    """The two bytes that once took all the machine's memory: an empty command (as in Redis),
    the connection stays usable, and the server's memory does not move."""
    base = server.rss_kib()
    with server.connect() as s:
        s.sendall(b"\0\n")
        s.sendall(command("PING"))
        s.settimeout(10)
        assert s.recv(100) == b"+PONG\r\n"
        s.sendall(b"\0\n" * 10000 + b"\0\r\n\0 \0\n" + b"PING\r\n")
        assert read_lines(s, 1) == [b"+PONG"]
    assert server.rss_kib() - base < 16 * 1024
    assert alive(server)


def read_lines(sock, n, timeout=10):
    """The next `n` CRLF-terminated lines from `sock`."""
    sock.settimeout(timeout)
    data = b""
    deadline = time.monotonic() + timeout
    while data.count(b"\r\n") < n and time.monotonic() < deadline:
        chunk = sock.recv(65536)
        if not chunk:
            break
        data += chunk
    return data.split(b"\r\n")[:n]


NUL_INLINE = [
    # (request, expected reply lines): a NUL ends the line; what follows it is ignored.
    (b"SET nul1 v\0ignored words\r\nGET nul1\r\n", [b"+OK", b"$1", b"v"]),
    (b"SET nul2 \"v\"\0x\r\nGET nul2\r\n", [b"+OK", b"$1", b"v"]),
    (b"ECH\0O x\r\nPING\r\n", [b"-ERR unknown command 'ECH', with args beginning with: ", b"+PONG"]),
    (b"\0PING\r\nPING\r\n", [b"+PONG"]),
    (b"  \0\0  \r\nECHO 'a'\0\r\n", [b"$1", b"a"]),
]


@pytest.mark.parametrize("request_, want", NUL_INLINE, ids=range(len(NUL_INLINE)))
def test_nul_ends_an_inline_line(server, request_, want):
    with server.connect() as s:
        s.sendall(request_)
        assert read_lines(s, len(want)) == want


@pytest.mark.parametrize("request_", [b"SET k \"a\0b\"\r\n", b"SET k 'a\0b'\r\n", b"ECHO \"\0\r\n", b"ECHO \"\\\0\"\n"])
def test_nul_inside_quotes_is_an_unbalanced_quote(server, request_):
    reply = roundtrip(server, request_)
    assert reply == b"-ERR Protocol error: unbalanced quotes in request\r\n"
    assert alive(server)


def test_nul_in_multibulk_arguments_is_data(server):
    value = b"a\0b\0\0"
    reply = roundtrip(server, command("SET", b"k\0nul", value) + command("GET", b"k\0nul"), lines=3)
    assert reply == b"+OK\r\n$5\r\n" + value + b"\r\n"


def test_nul_before_auth_with_a_password():
    with Server("--requirepass", "pw", "--no-sync") as s:
        base = s.rss_kib()
        reply = roundtrip(s, b"\0\n" * 1000 + b"PING\r\n", lines=1)
        assert reply == b"-NOAUTH Authentication required.\r\n"
        assert s.rss_kib() - base < 16 * 1024


# ---- patterns, names, the per-connection memory budget ----

def test_star_heavy_patterns_against_long_keys(server):
    """`*a*a*a*a*a*a*b` against a 60 KB key of `a`s: linear in the key, not exponential."""
    key = b"a" * 60000
    assert roundtrip(server, command("SET", key, "v"), 5) == b"+OK\r\n"
    for pattern in [b"*a*a*a*a*a*a*b", b"*a" * 200 + b"b", b"*[a-z]*[^b]*?*a*b"]:
        assert roundtrip(server, command("KEYS", pattern), 4) == b"*0\r\n"
        assert roundtrip(server, command("SCAN", 0, "MATCH", pattern, "COUNT", 100000), lines=3).endswith(b"*0\r\n")
    assert roundtrip(server, command("DEL", key), 4) == b":1\r\n"


def test_client_names_are_bounded(server):
    long = b"n" * 1025
    reply = roundtrip(server, command("CLIENT", "SETNAME", long) + command("CLIENT", "SETINFO", "LIB-NAME", long)
                      + command("HELLO", 2, "SETNAME", long) + command("CLIENT", "SETNAME", b"n" * 1024)
                      + command("CLIENT", "GETNAME"), lines=6)
    lines = reply.split(b"\r\n")
    assert all(l.startswith(b"-ERR") and b"1024 bytes" in l for l in lines[:3]), lines
    assert lines[3:5] == [b"+OK", b"$1024"]


def test_error_replies_quote_at_most_128_bytes_of_an_argument(server):
    reply = roundtrip(server, command("CLIENT", b"x" * 100000) + command("HELLO", 2, b"y" * 100000), lines=2)
    assert len(reply) < 600 and reply.count(b"\r\n") == 2, reply[:300]


def test_a_connection_over_its_memory_limit_is_closed_with_a_log_line():
    with Server("--no-sync", "--max-client-memory", str(300_000)) as s:
        with s.connect() as c:
            c.sendall(command("SET", "big", b"x" * 600_000))
            assert read_until_closed(c) == b""
        assert alive(s)
        assert roundtrip(s, command("EXISTS", "big"), 4) == b":0\r\n"
        log = s.log_text()
        assert "closing client id=" in log and "over its limit of 300000 bytes (--max-client-memory)" in log, log
        assert "(read buffer 524288, arguments " in log, log


def test_keys_larger_than_the_budget_is_refused_and_scan_returns_it_in_parts():
    with Server("--no-sync", "--max-client-memory", str(256 << 10)) as s:
        n = 4000
        keys = {b"key:%06d:" % i + b"p" * 80 for i in range(n)}
        payload = b"".join(command("SET", k, 1) for k in keys)
        assert roundtrip(s, payload, 5 * n, timeout=60) == b"+OK\r\n" * n
        assert roundtrip(s, command("KEYS", "*"), lines=1).startswith(b"-ERR KEYS result exceeds the client memory limit")
        # SCAN with a COUNT covering everything still answers, in several parts.
        with s.connect() as c:
            seen, cursor, calls = set(), b"0", 0
            while True:
                c.sendall(command("SCAN", cursor, "COUNT", 100000))
                reply = read_resp(c)
                cursor, found = reply
                seen.update(found)
                calls += 1
                if cursor == b"0":
                    break
        assert seen == keys and calls > 1
        assert alive(s)


def read_resp(sock, timeout=10):
    """One RESP2 reply (arrays, bulk strings, integers, simple strings) from `sock`."""
    sock.settimeout(timeout)
    buf = bytearray()

    def need(n):
        while len(buf) < n:
            chunk = sock.recv(65536)
            assert chunk, "connection closed"
            buf.extend(chunk)

    def line():
        while b"\r\n" not in buf:
            need(len(buf) + 1)
        i = buf.index(b"\r\n")
        text = bytes(buf[:i])
        del buf[:i + 2]
        return text

    def value():
        head = line()
        kind, rest = head[:1], head[1:]
        if kind == b"*":
            return [value() for _ in range(int(rest))]
        if kind == b"$":
            n = int(rest)
            if n < 0:
                return None
            need(n + 2)
            data = bytes(buf[:n])
            del buf[:n + 2]
            return data
        if kind == b":":
            return int(rest)
        return head

    return value()
