"""bitgask serve through redis-py with the client's defaults, once over RESP2 and once over
RESP3 (every test takes the `r` fixture, parametrized by protocol)."""

import threading
import time

import pytest
import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

from harness import Server


def test_ping_echo_select(r):
    assert r.ping() is True
    assert r.echo(b"hello") == b"hello"
    assert r.execute_command("SELECT", 0) in (True, b"OK")
    with pytest.raises(redis.ResponseError, match="DB index is out of range"):
        r.execute_command("SELECT", 1)


def test_hello(r, protocol):
    reply = r.execute_command("HELLO", protocol)
    if isinstance(reply, list):  # RESP2 flat map
        reply = dict(zip(reply[::2], reply[1::2]))
    reply = {k.decode() if isinstance(k, bytes) else k: v for k, v in reply.items()}
    assert reply["proto"] == protocol
    assert reply["server"] == b"redis" and reply["mode"] == b"standalone"
    with pytest.raises(redis.ResponseError, match="NOPROTO"):
        r.execute_command("HELLO", 4)


def test_binary_keys_and_values(r):
    every_byte = bytes(range(256))
    keys = [b"\x00", b"\r\n", b"k\x00ey", every_byte, "ключ".encode(), b" spaced key "]
    for i, k in enumerate(keys):
        assert r.set(k, every_byte * (i + 1))
    for i, k in enumerate(keys):
        assert r.get(k) == every_byte * (i + 1)
    assert r.mget(keys) == [every_byte * (i + 1) for i in range(len(keys))]
    assert r.exists(*keys) == len(keys)
    assert r.set(b"empty-value", b"") and r.get(b"empty-value") == b""
    big = bytes(range(256)) * 8192  # 2 MiB
    assert r.set("big", big) and r.get("big") == big
    assert r.strlen("big") == len(big)


def test_set_options(r):
    assert r.set("k", "v1") is True
    assert r.set("k", "v2", nx=True) is None
    assert r.get("k") == b"v1"
    assert r.set("missing", "v", xx=True) is None
    assert r.exists("missing") == 0
    assert r.set("k", "v2", xx=True) is True
    assert r.set("k", "v3", get=True) == b"v2"
    assert r.set("new", "v", get=True) is None and r.get("new") == b"v"
    assert r.set("k", "v", ex=100) and 99 <= r.ttl("k") <= 100
    assert r.set("k", "v", px=50_000) and 49_000 <= r.pttl("k") <= 50_000
    assert r.set("k", "v4", keepttl=True) and 49 <= r.ttl("k") <= 50
    assert r.set("k", "v5") and r.ttl("k") == -1
    now = int(time.time())
    assert r.set("k", "v", exat=now + 1000) and 998 <= r.ttl("k") <= 1000
    assert r.set("k", "v", pxat=(now + 500) * 1000) and 498 <= r.ttl("k") <= 500
    assert r.set("k", "v", exat=now - 10) is True
    assert r.get("k") is None  # an expiry in the past leaves no key
    with pytest.raises(redis.ResponseError, match="invalid expire time"):
        r.set("k", "v", ex=0)
    with pytest.raises(redis.ResponseError, match="syntax error"):
        r.execute_command("SET", "k", "v", "NX", "XX")
    with pytest.raises(redis.ResponseError, match="syntax error"):
        r.execute_command("SET", "k", "v", "EX", 10, "PX", 10)
    with pytest.raises(redis.ResponseError, match="not an integer"):
        r.execute_command("SET", "k", "v", "EX", "ten")


@pytest.mark.filterwarnings("ignore::DeprecationWarning")  # redis-py deprecates setex
def test_setnx_setex_psetex(r):
    assert r.setnx("a", 1) is True
    assert r.setnx("a", 2) is False
    assert r.get("a") == b"1"
    assert r.setex("b", 100, "x") is True and 99 <= r.ttl("b") <= 100
    assert r.psetex("c", 100_000, "y") is True and 99_000 <= r.pttl("c") <= 100_000
    with pytest.raises(redis.ResponseError, match="invalid expire time in 'setex'"):
        r.setex("b", -5, "x")


def test_mset_mget_getdel_getset_append(r):
    assert r.mset({"a": 1, "b": 2, "c": 3}) is True
    assert r.mget("a", "nope", "c") == [b"1", None, b"3"]
    assert r.getdel("a") == b"1"
    assert r.getdel("a") is None and r.exists("a") == 0
    assert r.getset("b", "20") == b"2" and r.get("b") == b"20"
    assert r.append("c", "33") == 3 and r.get("c") == b"333"
    assert r.append("fresh", "x") == 1
    with pytest.raises(redis.ResponseError, match="wrong number of arguments"):
        r.execute_command("MSET", "a", 1, "b")


def test_msetnx_writes_all_keys_or_none(r):
    assert r.msetnx({"x": 1, "y": 2}) is True
    assert r.mget("x", "y") == [b"1", b"2"]
    # A half-present key set: nothing is written.
    assert r.msetnx({"y": 20, "z": 30}) is False
    assert r.mget("y", "z") == [b"2", None]
    assert r.execute_command("MSETNX", "n", 1, "n", 2) == 1 and r.get("n") == b"2"
    with pytest.raises(redis.ResponseError, match="wrong number of arguments"):
        r.execute_command("MSETNX", "a", 1, "b")


def test_mset_is_atomic_to_readers(server, r, protocol):
    """A writer MSETs two keys to the same round number; a reader MGETs them (p first, then q).
    MGET itself is not one read, so a batch may land between its two reads (p older than q),
    but since p and q change at once, p is never newer than q; key by key, it could be."""
    r.mset({"p": 0, "q": 0})
    done = threading.Event()
    seen = []

    def read():
        c = redis.Redis(port=server.port, protocol=protocol)
        while not done.is_set():
            p, q = c.mget("p", "q")
            seen.append(int(p) <= int(q))
        c.close()

    t = threading.Thread(target=read)
    t.start()
    for i in range(1, 400):
        r.mset({"p": i, "q": i})
    done.set()
    t.join(60)
    assert seen and all(seen)


def test_watch_aborts_exec_when_a_watched_key_changed(server, r, protocol):
    r.set("w", 1)
    other = redis.Redis(port=server.port, protocol=protocol)
    with r.pipeline() as p:
        p.watch("w", "absent")
        assert p.get("w") == b"1"
        p.multi()
        p.set("w", 2)
        other.set("w", 10)
        with pytest.raises(redis.WatchError):
            p.execute()
    assert r.get("w") == b"10"
    # A key that was absent when watched, then created, aborts too.
    with r.pipeline() as p:
        p.watch("absent")
        p.multi()
        p.set("w", 3)
        other.set("absent", "x")
        with pytest.raises(redis.WatchError):
            p.execute()
    # Unchanged watched keys: EXEC runs; UNWATCH forgets them.
    with r.pipeline() as p:
        p.watch("w")
        p.multi()
        p.set("w", 4)
        assert p.execute() == [True]
    r.execute_command("WATCH", "w")
    other.set("w", 5)
    assert r.execute_command("UNWATCH") in (True, b"OK")
    other.close()


def test_watch_based_increments_from_concurrent_clients_lose_nothing(server, r, protocol):
    threads, per_thread = 4, 40

    def work():
        c = redis.Redis(port=server.port, protocol=protocol)
        for _ in range(per_thread):
            while True:
                with c.pipeline() as p:
                    try:
                        p.watch("counter")
                        n = int(p.get("counter") or 0)
                        p.multi()
                        p.set("counter", n + 1)
                        p.execute()
                        break
                    except redis.WatchError:
                        continue
        c.close()

    ts = [threading.Thread(target=work) for _ in range(threads)]
    for t in ts:
        t.start()
    for t in ts:
        t.join(120)
    assert int(r.get("counter")) == threads * per_thread


def test_exec_is_isolated_from_other_writers(server, r, protocol):
    """While another client keeps setting x, an EXEC that sets x and reads it back always reads
    its own value: no other write lands between its commands."""
    done = threading.Event()

    def write():
        c = redis.Redis(port=server.port, protocol=protocol)
        while not done.is_set():
            c.set("x", "theirs")
        c.close()

    t = threading.Thread(target=write)
    t.start()
    try:
        for i in range(200):
            with r.pipeline() as p:
                p.set("x", f"mine{i}").get("x")
                assert p.execute() == [True, f"mine{i}".encode()]
    finally:
        done.set()
        t.join(60)


def test_exec_is_atomic_to_readers(server, r, protocol):
    """Each EXEC increments p, then q. A reader MGETs p (first) and q: since an EXEC's writes
    are one batch, p and q change at once and p is never ahead of q; were the INCRs separate
    writes, the reader could see the new p with the old q."""
    r.mset({"p": 0, "q": 0})
    done = threading.Event()
    seen = []

    def read():
        c = redis.Redis(port=server.port, protocol=protocol)
        while not done.is_set():
            p, q = c.mget("p", "q")
            seen.append((int(p), int(q)))
        c.close()

    t = threading.Thread(target=read)
    t.start()
    try:
        for _ in range(300):
            with r.pipeline(transaction=True) as p:
                p.incr("p").incr("q")
                a, b = p.execute()
                assert a == b
    finally:
        done.set()
        t.join(60)
    assert seen and all(p <= q for p, q in seen), [x for x in seen if x[0] > x[1]][:5]
    assert r.mget("p", "q") == [b"300", b"300"]


def test_exec_reads_see_the_writes_made_earlier_in_the_same_exec(r):
    r.set("old", "gone")
    with r.pipeline(transaction=True) as p:
        p.set("k", 10).incr("k").incrby("k", 5).get("k")
        p.append("k", "x").strlen("k").getset("k", "v").getdel("k").exists("k").get("k")
        p.set("t", "v", ex=100).ttl("t").persist("t").ttl("t").expire("t", 50).ttl("t")
        p.setnx("n", 1).setnx("n", 2).get("n")
        p.mset({"a": 1, "b": 2}).msetnx({"a": 3, "c": 3}).mget("a", "b", "c")
        p.delete("old", "a").exists("old", "a", "b").dbsize()
        p.set("nx", "1", nx=True).set("nx", "2", nx=True).set("nx", "3", xx=True, get=True)
        p.keys("*").type("b")
        out = p.execute()
    assert out[:10] == [True, 11, 16, b"16", 3, 3, b"16x", b"v", 0, None]
    assert out[10:16] == [True, 100, True, -1, True, 50]
    assert out[16:19] == [True, False, b"1"]
    assert out[19:22] == [True, False, [b"1", b"2", None]]
    assert out[22:25] == [2, 1, 3]  # left: b, t, n
    assert out[25:28] == [True, None, b"1"]
    assert sorted(out[28]) == [b"b", b"n", b"nx", b"t"] and out[29] in (b"string", "string")
    assert sorted(r.keys("*")) == [b"b", b"n", b"nx", b"t"]
    assert r.get("nx") == b"3" and r.ttl("t") == 50 and r.get("old") is None


def test_exec_errors_in_one_command_do_not_stop_the_others(r):
    with r.pipeline(transaction=True) as p:
        p.set("s", "text").incr("s").set("after", 1)
        with pytest.raises(redis.ResponseError, match="not an integer"):
            p.execute()
    assert r.get("s") == b"text" and r.get("after") == b"1"


def test_flush_inside_multi_is_refused(r):
    r.set("keep", 1)
    with r.pipeline(transaction=True) as p:
        p.set("x", 1).flushdb()
        with pytest.raises(redis.ResponseError, match="not allowed inside a transaction"):
            p.execute()
    assert r.get("keep") == b"1" and r.get("x") is None


def test_exec_whose_commit_fails_writes_nothing_and_replies_execabort(tmp_path):
    """A batch larger than a data file cannot be written: EXEC replies EXECABORT and none of its
    writes (nor the small ones before the large ones) is there. Replies and writes over the
    client's memory limit abort the same way."""
    flags = ("--max-file-size", str(1 << 20), "--max-client-memory", str(4 << 20))
    with Server(*flags, tmp=tmp_path) as s:
        r = redis.Redis(port=s.port)
        big = b"x" * (200 << 10)
        with r.pipeline(transaction=True) as p:
            p.set("first", 1)
            for i in range(8):
                p.set(f"big{i}", big)
            with pytest.raises(redis.exceptions.ExecAbortError, match="nothing was written"):
                p.execute()
        assert r.get("first") is None and r.exists(*[f"big{i}" for i in range(8)]) == 0
        r.set("v", big)
        with r.pipeline(transaction=True) as p:
            p.set("first", 1)
            for _ in range(40):
                p.get("v")
            with pytest.raises(redis.exceptions.ExecAbortError, match="memory limit"):
                p.execute()
        assert r.get("first") is None
        with r.pipeline(transaction=True) as p:
            p.set("first", 2).get("v")
            assert p.execute() == [True, big]
        r.close()


def test_del_unlink_exists_type(r):
    r.mset({"a": 1, "b": 2, "c": 3, "d": 4})
    assert r.exists("a", "a", "zz") == 2
    assert r.delete("a", "b", "zz") == 2
    assert r.unlink("c", "d", "c") == 2
    assert r.exists("a", "b", "c", "d") == 0
    r.set("s", "v")
    assert r.type("s") in (b"string", "string")
    assert r.type("zz") in (b"none", "none")


def test_ttl_and_expire_family(r):
    assert r.ttl("nokey") == -2 and r.pttl("nokey") == -2
    r.set("k", "v")
    assert r.ttl("k") == -1
    assert r.expire("k", 100) is True and 99 <= r.ttl("k") <= 100
    assert r.expire("k", 200, nx=True) is False
    assert r.expire("k", 200, xx=True) is True and r.ttl("k") > 150
    assert r.expire("k", 50, gt=True) is False
    assert r.expire("k", 50, lt=True) is True and r.ttl("k") <= 50
    assert r.pexpire("k", 100_000) is True and 99_000 <= r.pttl("k") <= 100_000
    at = int(time.time()) + 300
    assert r.expireat("k", at) is True and r.expiretime("k") == at
    assert r.pexpireat("k", at * 1000 + 500) is True and r.pexpiretime("k") == at * 1000 + 500
    assert r.persist("k") is True and r.ttl("k") == -1
    assert r.persist("k") is False
    assert r.expire("nokey", 10) is False
    assert r.expire("k", -1) is True and r.exists("k") == 0
    with pytest.raises(redis.ResponseError, match="not compatible"):
        r.execute_command("EXPIRE", "k", 10, "NX", "XX")


def test_keys_really_expire(r):
    r.set("short", "v", px=100)
    r.set("long", "v", ex=100)
    time.sleep(0.3)
    assert r.get("short") is None
    assert r.exists("short") == 0 and r.ttl("short") == -2
    assert r.get("long") == b"v"
    assert r.keys("*") == [b"long"]


def test_incr_family(r):
    assert r.incr("n") == 1
    assert r.incrby("n", 10) == 11
    assert r.decr("n") == 10
    assert r.decrby("n", 20) == -10
    assert r.get("n") == b"-10"
    r.set("ttl-n", 5, ex=100)
    assert r.incr("ttl-n") == 6 and r.ttl("ttl-n") > 90  # INCR keeps the expiry
    r.set("s", "abc")
    with pytest.raises(redis.ResponseError, match="not an integer"):
        r.incr("s")
    r.set("max", 2**63 - 1)
    with pytest.raises(redis.ResponseError, match="overflow"):
        r.incr("max")
    with pytest.raises(redis.ResponseError, match="not an integer"):
        r.incrby("n", "1.5")


def test_concurrent_incr_loses_no_update(server, r, protocol):
    threads, per_thread = 8, 250

    def work():
        c = redis.Redis(port=server.port, protocol=protocol)
        for _ in range(per_thread):
            c.incr("counter")
        c.close()

    ts = [threading.Thread(target=work) for _ in range(threads)]
    for t in ts:
        t.start()
    for t in ts:
        t.join(60)
    assert int(r.get("counter")) == threads * per_thread


def test_pipelines(r):
    # redis-py's default pipeline is a MULTI/EXEC transaction.
    with r.pipeline() as p:
        p.set("a", 1).incr("a").get("a").ttl("a").expire("a", 100).mget("a", "b")
        assert p.execute() == [True, 2, b"2", -1, True, [b"2", None]]
    with r.pipeline(transaction=False) as p:
        for i in range(1000):
            p.set(f"k{i}", i)
        for i in range(1000):
            p.get(f"k{i}")
        out = p.execute()
    assert out[:1000] == [True] * 1000
    assert out[1000:] == [str(i).encode() for i in range(1000)]
    with r.pipeline() as p:
        p.set("x", "y").incr("x")
        with pytest.raises(redis.ResponseError):
            p.execute()
    assert r.get("x") == b"y"  # commands before the failing one ran


def test_multi_errors(r):
    with pytest.raises(redis.ResponseError, match="EXEC without MULTI"):
        r.execute_command("EXEC")
    with pytest.raises(redis.ResponseError, match="DISCARD without MULTI"):
        r.execute_command("DISCARD")


def test_scan_iter_visits_every_key(r):
    keys = {f"user:{i}".encode() for i in range(2000)} | {f"other:{i}".encode() for i in range(500)}
    with r.pipeline(transaction=False) as p:
        for k in keys:
            p.set(k, b"v")
        p.execute()
    assert set(r.scan_iter()) == keys
    assert set(r.scan_iter(match="user:*", count=100)) == {k for k in keys if k.startswith(b"user:")}
    assert set(r.scan_iter(match="user:1?", count=1000)) == {f"user:{i}".encode() for i in range(10, 20)}
    assert set(r.scan_iter(_type="string", count=500)) == keys
    assert list(r.scan_iter(_type="hash")) == []
    cursor, batch = r.scan(0, count=10)
    assert cursor != 0 and len(batch) <= 100


def test_scan_rejects_nonsense(r):
    for bad in (["abc"], ["-1"], ["0", "COUNT", "0"], ["0", "COUNT", "x"], ["0", "MATCH"], ["0", "BOGUS", "1"]):
        with pytest.raises(redis.ResponseError):
            r.execute_command("SCAN", *bad)
    cursor, keys = r.execute_command("SCAN", str(2**64 - 1), "COUNT", "999999999999")
    assert keys == [] or isinstance(keys, list)
    assert r.ping()


def test_keys_glob(r):
    r.mset({"hello": 1, "hallo": 2, "hxllo": 3, "hllo": 4, "heeeello": 5, "h*llo": 6})
    assert sorted(r.keys("h?llo")) == [b"h*llo", b"hallo", b"hello", b"hxllo"]
    assert sorted(r.keys("h*llo")) == [b"h*llo", b"hallo", b"heeeello", b"hello", b"hllo", b"hxllo"]
    assert sorted(r.keys("h[ae]llo")) == [b"hallo", b"hello"]
    assert sorted(r.keys("h[^e]llo")) == [b"h*llo", b"hallo", b"hxllo"]
    assert r.keys("h\\*llo") == [b"h*llo"]
    assert r.keys("nothing*") == []


def test_dbsize_flush(r):
    r.mset({f"k{i}": i for i in range(100)})
    assert r.dbsize() == 100
    assert r.flushdb() is True
    assert r.dbsize() == 0 and r.get("k1") is None
    r.set("a", 1)
    assert r.flushall() is True and r.dbsize() == 0
    r.set("after", 1)
    assert r.get("after") == b"1"


def test_info(r):
    r.set("a", 1)
    r.get("a")
    r.get("missing")
    info = r.info()
    for field in ("redis_version", "uptime_in_seconds", "connected_clients", "maxclients", "total_commands_processed",
                  "keyspace_hits", "keyspace_misses", "bitgask_data_files", "bitgask_total_bytes", "bitgask_dead_bytes",
                  "rdb_last_save_time"):
        assert field in info, field
    assert info["connected_clients"] >= 1
    assert info["keyspace_hits"] >= 1 and info["keyspace_misses"] >= 1
    assert info["db0"]["keys"] == 1
    assert set(r.info("persistence")) >= {"bitgask_data_files", "aof_rewrite_in_progress"}
    assert "redis_version" not in r.info("stats")
    assert "total_connections_received" in r.info("stats")


def test_config_get(r):
    assert r.config_get("save") == {"save": ""}
    cfg = r.config_get("*")
    assert {"appendonly", "appendfsync", "maxclients", "timeout", "port", "bitgask-sync-on-put"} <= set(cfg)
    assert r.config_get("max*") == {k: v for k, v in cfg.items() if k.startswith("max")}
    with pytest.raises(redis.ResponseError):
        r.config_set("maxclients", 5)


def test_client_commands(r):
    cid = r.client_id()
    assert isinstance(cid, int) and cid > 0
    assert r.client_getname() is None
    assert r.client_setname("tester") is True
    assert r.client_getname() in (b"tester", "tester")
    assert r.execute_command("CLIENT", "SETINFO", "LIB-NAME", "mylib") in (True, b"OK")
    mine = [c for c in r.client_list() if int(c["id"]) == cid]
    assert mine and mine[0]["name"] == "tester" and mine[0]["lib-name"] == "mylib"
    with pytest.raises(redis.ResponseError, match="cannot contain spaces"):
        r.client_setname("bad name")
    with pytest.raises(redis.ResponseError, match="unknown subcommand"):
        r.execute_command("CLIENT", "FROBNICATE")


def test_command(r):
    n = r.command_count()
    assert n >= 40
    assert len(r.command()) == n
    docs = r.execute_command("COMMAND DOCS", "get", "set")
    if isinstance(docs, list):
        docs = dict(zip(docs[::2], docs[1::2]))
    assert set(docs) == {b"get", b"set"}
    info = r.execute_command("COMMAND INFO", "get", "nosuchcommand")
    assert len(info) == 2 and info[0][0] == b"get" and info[0][1] == 2 and info[1] is None


def test_errors(r):
    with pytest.raises(redis.ResponseError, match="unknown command 'NOSUCH', with args beginning with: 'a' 'b'"):
        r.execute_command("NOSUCH", "a", "b")
    with pytest.raises(redis.ResponseError, match="wrong number of arguments for 'get' command"):
        r.execute_command("GET")
    with pytest.raises(redis.ResponseError, match="wrong number of arguments for 'set' command"):
        r.execute_command("SET", "k")
    with pytest.raises(redis.ResponseError, match="empty key"):
        r.set("", "v")
    assert r.get("") is None
    assert r.ping()


def test_persistence_commands(r):
    r.set("a", 1)
    assert r.save() is True
    assert r.bgsave() in (True, b"Background saving started", "Background saving started")
    assert r.lastsave()
    assert r.bgrewriteaof()
    deadline = time.time() + 30
    while r.info("persistence")["aof_rewrite_in_progress"] and time.time() < deadline:
        time.sleep(0.05)
    assert r.info("persistence")["aof_last_bgrewrite_status"] == "ok"
    assert r.get("a") == b"1"
    secs, micros = r.time()
    assert abs(secs - time.time()) < 5 and 0 <= micros < 1_000_000


@pytest.mark.parametrize("proto", [2, 3])
def test_requirepass(proto):
    with Server("--requirepass", "s3cret") as s:
        # No retries: redis-py retries failed connections with a backoff by default.
        once = Retry(NoBackoff(), 0)
        with pytest.raises(redis.AuthenticationError):
            redis.Redis(port=s.port, protocol=proto, retry=once).get("k")
        with pytest.raises(redis.AuthenticationError):
            redis.Redis(port=s.port, protocol=proto, password="wrong", retry=once).ping()
        ok = redis.Redis(port=s.port, protocol=proto, password="s3cret")
        assert ok.set("k", "v") and ok.get("k") == b"v"
        ok2 = redis.Redis(port=s.port, protocol=proto, username="default", password="s3cret")
        assert ok2.get("k") == b"v"
