#!/usr/bin/env python3
"""End-to-end tests of the `bitgask` command: every subcommand, --json output, exit codes,
export/import round trips, TTL parsing, delete-all confirmation, dump of data and hint files.

Usage: python3 tests/cli/test_cli.py [path/to/bitgask]   (default: target/release/bitgask,
or $BITGASK_BIN). Prints one line per failure and closes with "N passed, N failed".
"""

import base64
import fcntl
import json
import os
import pty
import shutil
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BIN = (sys.argv[1] if len(sys.argv) > 1 else None) or os.environ.get("BITGASK_BIN") or os.path.join(ROOT, "target/release/bitgask")

OK, NOT_FOUND, USAGE, CORRUPT, LOCKED, OTHER = 0, 1, 2, 3, 4, 5

passed = 0
failed = 0


def check(name, cond, detail=""):
    global passed, failed
    if cond:
        passed += 1
    else:
        failed += 1
        print(f"FAIL: {name}" + (f": {detail}" if detail else ""))


class Res:
    def __init__(self, p):
        self.rc, self.out, self.err = p.returncode, p.stdout, p.stderr

    @property
    def text(self):
        return self.out.decode("utf-8", "replace")

    def json(self):
        return json.loads(self.out)

    def json_lines(self):
        return [json.loads(l) for l in self.out.splitlines() if l.strip()]

    def __repr__(self):
        return f"rc={self.rc} out={self.out[:300]!r} err={self.err[:300]!r}"


def run(*args, input=b"", stdin=None, env=None):
    e = dict(os.environ)
    e.pop("BITGASK_DIR", None)
    if env:
        e.update(env)
    kw = {"stdin": stdin} if stdin is not None else {"input": input}
    return Res(subprocess.run([BIN, *args], capture_output=True, env=e, timeout=60, **kw))


def expect(name, r, rc):
    check(name, r.rc == rc, f"expected exit {rc}, got {r!r}")
    return r


def json_ok(name, r):
    try:
        return r.json()
    except ValueError as e:
        check(name + " (json)", False, f"{e}: {r!r}")
        return {}


def json_lines_ok(name, r):
    try:
        return r.json_lines()
    except ValueError as e:
        check(name + " (json lines)", False, f"{e}: {r!r}")
        return []


def data_files(db, ext="data"):
    d = os.path.join(db, "data")
    return sorted(os.path.join(d, f) for f in os.listdir(d) if f.endswith("." + ext))


SUBCOMMANDS = ["get", "put", "del", "exists", "ttl", "expire", "persist", "keys", "scan", "range", "stats", "reclaimable",
               "gc", "merge", "backup", "delete-all", "validate", "repair", "adopt", "dump", "export", "import", "version"]


def test_help(tmp):
    r = expect("help", run("--help"), OK)
    for word in SUBCOMMANDS + ["Exit codes", "--json"]:
        check(f"help mentions {word}", word in r.text)
    for sub in SUBCOMMANDS:
        r = expect(f"{sub} --help", run(sub, "--help"), OK)
        check(f"{sub} --help has usage", "Usage: bitgask " + sub in r.text, r.text[:200])
        check(f"{sub} --help has exit codes", sub == "version" or "Exit codes" in r.text)
    r = expect("put --help lists db options", run("put", "--help"), OK)
    for flag in ["--no-sync", "--sync-interval-ms", "--max-file-size", "--compression", "--merge-interval-ms", "--lock-timeout-ms"]:
        check(f"put --help lists {flag}", flag in r.text)
    r = expect("version", run("version"), OK)
    check("version text", r.text.startswith("bitgask "), r)
    j = json_ok("version", expect("version --json", run("--json", "version"), OK))
    check("version json", "library" in j, j)


def test_usage_errors(tmp):
    db = os.path.join(tmp, "usage")
    expect("no subcommand", run(), USAGE)
    expect("unknown subcommand", run("frobnicate"), USAGE)
    expect("missing --dir", run("get", "k"), USAGE)
    expect("missing key", run("get", "--dir", db), USAGE)
    expect("bad compression", run("put", "k", "v", "--dir", db, "--compression", "zstd"), USAGE)
    expect("max-file-size below the library minimum", run("put", "k", "v", "--dir", db, "--max-file-size", "1"), USAGE)
    expect("bad size unit", run("put", "k", "v", "--dir", db, "--max-file-size", "3XB"), USAGE)
    expect("get on a directory without a database", run("get", "k", "--dir", db), USAGE)
    check("no database created by get", not os.path.exists(os.path.join(db, "data")))
    expect("bad hex", run("put", "--hex", "zz", "v", "--dir", db), USAGE)
    expect("hex and base64 conflict", run("put", "--hex", "--base64", "00", "00", "--dir", db), USAGE)
    r = expect("BITGASK_DIR selects the database", run("put", "envkey", "v", env={"BITGASK_DIR": db}), OK)
    r = expect("get via BITGASK_DIR", run("get", "envkey", env={"BITGASK_DIR": db}), OK)
    check("value via BITGASK_DIR", r.out == b"v\n", r)
    r = expect("json error on stderr", run("--json", "get", "k", "--dir", os.path.join(tmp, "nothing")), USAGE)
    try:
        e = json.loads(r.err)
        check("json error fields", e.get("exit_code") == USAGE and "error" in e, e)
    except ValueError:
        check("json error parses", False, r)


def json_error(name, r):
    """The {"error", "exit_code"} object --json writes on stderr for a failure."""
    try:
        e = json.loads(r.err)
    except ValueError:
        check(name + " (json on stderr)", False, r)
        return {}
    check(name + " (json fields)", set(e) == {"error", "exit_code"} and e["exit_code"] == r.rc, e)
    return e


def test_argument_errors_as_json(tmp):
    db = os.path.join(tmp, "argjson")
    for name, args in [("missing --dir", ["get", "k"]), ("unknown flag", ["get", "k", "--dir", db, "--frob"]),
                       ("unknown subcommand", ["frobnicate"]), ("no subcommand", []),
                       ("bad flag value", ["put", "k", "v", "--dir", db, "--max-file-size", "3XB"])]:
        for where in ("first", "last"):
            argv = ["--json", *args] if where == "first" else [*args, "--json"]
            if where == "last" and not args:
                continue
            r = expect(f"--json {where}, {name}", run(*argv), USAGE)
            e = json_error(f"--json {where}, {name}", r)
            check(f"--json {where}, {name}: one line", r.err.count(b"\n") == 1, r)
            check(f"--json {where}, {name}: no usage text", "Usage:" not in e.get("error", "Usage:"), e)
    e = json_error("missing --dir names BITGASK_DIR", run("--json", "get", "k"))
    check("json: missing --dir names BITGASK_DIR", "BITGASK_DIR" in e.get("error", ""), e)
    r = expect("text: missing --dir", run("get", "k"), USAGE)
    check("text: missing --dir names BITGASK_DIR", b"BITGASK_DIR" in r.err, r)
    r = expect("--json --help is help", run("--json", "get", "--help"), OK)
    check("--json --help prints help", b"Usage: bitgask get" in r.out, r)


def test_serve_exit_codes(tmp):
    """bitgask serve fails with the exit codes of every other command, and reads BITGASK_DIR."""
    db = os.path.join(tmp, "serve-codes")
    expect("put", run("put", "k", "v", "--dir", db), OK)
    loop = ["--addr", "127.0.0.1:0"]
    fd = os.open(os.path.join(db, "LOCK"), os.O_RDWR)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        r = expect("serve on a locked database", run("serve", "--dir", db, *loop), LOCKED)
        check("serve locked message", b"lock" in r.err.lower(), r)
        expect("serve reads BITGASK_DIR", run("serve", *loop, env={"BITGASK_DIR": db}), LOCKED)
        e = json_error("serve locked, --json", expect("serve locked, --json", run("--json", "serve", "--dir", db, *loop), LOCKED))
        check("serve locked json names the lock", "lock" in e.get("error", "").lower(), e)
    finally:
        os.close(fd)
    fresh = os.path.join(tmp, "serve-fresh")
    expect("serve with a malformed --addr", run("serve", "--dir", fresh, "--addr", "nonsense"), USAGE)
    expect("serve with a port out of range", run("serve", "--dir", fresh, "--addr", "127.0.0.1:99999"), USAGE)
    r = expect("serve refusing a public --addr without a password",
               run("serve", "--dir", fresh, "--addr", "0.0.0.0:0"), USAGE)
    check("serve refusal explains", b"--requirepass" in r.err, r)
    import socket
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen(1)
        port = busy.getsockname()[1]
        r = expect("serve on a port in use", run("serve", "--dir", fresh, "--addr", f"127.0.0.1:{port}"), OTHER)
        check("serve port in use explains", b"in use" in r.err, r)
    check("serve that cannot listen creates no database directory", not os.path.exists(fresh))


def test_kv(tmp):
    db = os.path.join(tmp, "kv")
    expect("put", run("put", "hello", "world", "--dir", db), OK)
    r = expect("get", run("get", "hello", "--dir", db), OK)
    check("get value + newline", r.out == b"world\n", r)
    r = expect("get --raw", run("get", "--raw", "hello", "--dir", db), OK)
    check("get --raw exact bytes", r.out == b"world", r)
    r = expect("get missing", run("get", "nope", "--dir", db), NOT_FOUND)
    check("get missing prints nothing on stdout", r.out == b"", r)
    j = json_ok("get --json", expect("get --json", run("--json", "get", "hello", "--dir", db), OK))
    check("get --json fields", j.get("found") is True and j.get("value") == "world" and j.get("ttl_ms") is None, j)
    j = json_ok("get --json missing", expect("get --json missing", run("get", "nope", "--json", "--dir", db), NOT_FOUND))
    check("get --json missing says found false", j.get("found") is False, j)
    j = json_ok("put --json", expect("put --json", run("--json", "put", "a", "1", "--dir", db), OK))
    check("put --json ok", j.get("ok") is True, j)

    # Binary keys and values: --hex, --base64, --stdin.
    expect("put --hex", run("put", "--hex", "00ff0a", "deadbeef00", "--dir", db), OK)
    r = expect("get --hex", run("get", "--hex", "00ff0a", "--dir", db), OK)
    check("get --hex value", r.out == b"deadbeef00\n", r)
    r = expect("get --raw of a binary value", run("get", "--raw", "--base64", base64.b64encode(b"\x00\xff\n").decode(), "--dir", db), OK)
    check("get --base64 then raw is base64 text", r.out == base64.b64encode(bytes.fromhex("deadbeef00")), r)
    blob = bytes(range(256)) * 3
    expect("put --stdin", run("put", "blob", "--stdin", "--dir", db, input=blob), OK)
    r = expect("get --raw blob", run("get", "--raw", "blob", "--dir", db), OK)
    check("binary value round trip through --stdin", r.out == blob, len(r.out))
    j = json_ok("get --json binary", expect("get --json binary", run("--json", "get", "blob", "--dir", db), OK))
    check("non-UTF-8 value is value_b64 in JSON", base64.b64decode(j.get("value_b64", "")) == blob, j.keys())
    expect("put without value", run("put", "k", "--dir", db), USAGE)

    r = expect("exists", run("exists", "hello", "--dir", db), OK)
    check("exists prints true", r.out.strip() == b"true", r)
    r = expect("exists missing", run("exists", "nope", "--dir", db), NOT_FOUND)
    check("exists missing prints false", r.out.strip() == b"false", r)
    j = json_ok("exists --json", run("--json", "exists", "hello", "--dir", db))
    check("exists --json", j.get("exists") is True, j)

    r = expect("del", run("del", "hello", "--dir", db), OK)
    check("del prints count", r.out.strip() == b"1", r)
    expect("get after del", run("get", "hello", "--dir", db), NOT_FOUND)
    expect("del missing", run("del", "hello", "--dir", db), NOT_FOUND)
    j = json_ok("del --json", expect("del --json partly missing", run("--json", "del", "a", "zzz", "--dir", db), NOT_FOUND))
    check("del --json counts", j.get("deleted") == 1 and j.get("missing") == [{"key": "zzz"}], j)


def test_ttl(tmp):
    db = os.path.join(tmp, "ttl")
    expect("put --ttl 500ms", run("put", "short", "v", "--ttl", "500ms", "--dir", db), OK)
    expect("put --ttl 10s", run("put", "ten", "v", "--ttl", "10s", "--dir", db), OK)
    expect("put --ttl 2h", run("put", "two", "v", "--ttl", "2h", "--dir", db), OK)
    expect("put --ttl 1h30m", run("put", "ninety", "v", "--ttl", "1h30m", "--dir", db), OK)
    j = json_ok("ttl 10s", run("--json", "get", "ten", "--dir", db))
    check("10s ttl", 8000 < (j.get("ttl_ms") or 0) <= 10000, j)
    j = json_ok("ttl 2h", run("--json", "get", "two", "--dir", db))
    check("2h ttl", 7_190_000 < (j.get("ttl_ms") or 0) <= 7_200_000, j)
    j = json_ok("ttl 1h30m", run("--json", "get", "ninety", "--dir", db))
    check("1h30m ttl", 5_390_000 < (j.get("ttl_ms") or 0) <= 5_400_000, j)
    for bad in ["abc", "10", "0s", "-5s", "1.5s", "5y", ""]:
        r = expect(f"bad --ttl {bad!r}", run("put", "k", "v", f"--ttl={bad}", "--dir", db), USAGE)
        check(f"bad --ttl {bad!r} explains", b"ttl" in r.err.lower() or b"duration" in r.err.lower(), r)
    time.sleep(0.7)
    expect("500ms key expired", run("get", "short", "--dir", db), NOT_FOUND)
    expect("500ms key not exists", run("exists", "short", "--dir", db), NOT_FOUND)
    expect("10s key still there", run("get", "ten", "--dir", db), OK)
    # gc drops expired keys from the index (open already drops the ones expired before it, so
    # a one-shot gc usually finds none); their bytes count as dead either way.
    expect("put --ttl 100ms", run("put", "gone", "v", "--ttl", "100ms", "--dir", db), OK)
    time.sleep(0.3)
    j = json_ok("gc --json", expect("gc", run("--json", "gc", "--dir", db), OK))
    check("gc json", isinstance(j.get("removed"), int) and j.get("dead_bytes", 0) > 0, j)
    r = expect("gc text", run("gc", "--dir", db), OK)
    check("gc text", b"removed 0 expired keys" in r.out, r)
    expect("default ttl option", run("put", "dflt", "v", "--default-ttl", "1m", "--dir", db), OK)
    j = json_ok("default ttl", run("--json", "get", "dflt", "--dir", db))
    check("--default-ttl applies", 50_000 < (j.get("ttl_ms") or 0) <= 60_000, j)


def test_zero_and_negative_ttls(tmp):
    """A TTL is at least 1ms whatever the spelling; a negative one is named, not taken for a flag."""
    db = os.path.join(tmp, "ttl-edges")
    expect("put", run("put", "k", "v", "--dir", db), OK)
    for zero in ["0", "0s", "0ms", "00"]:
        for argv in (["put", "k", "v", "--ttl", zero], ["expire", "k", zero]):
            r = expect(f"{argv[0]} with a zero ttl {zero!r}", run(*argv, "--dir", db), USAGE)
            check(f"{argv[0]} {zero!r}: one message for zero", b"at least 1ms" in r.err, r)
    for argv in (["put", "k", "v", "--ttl", "-3s"], ["put", "k", "v", "--ttl=-3s"], ["expire", "k", "-3s"]):
        r = expect(f"negative ttl: {argv}", run(*argv, "--dir", db), USAGE)
        check(f"negative ttl named: {argv}", b"cannot be negative" in r.err, r)
    r = expect("get after refused ttls", run("get", "k", "--dir", db), OK)
    check("refused ttls changed nothing", r.out == b"v\n", r)
    r = expect("ttl of a key without one", run("ttl", "k", "--dir", db), OK)
    check("ttl says never", r.out == b"never\n", r)


def test_ttl_expire_persist(tmp):
    db = os.path.join(tmp, "ttl-cmds")
    expect("put", run("put", "k", "v", "--dir", db), OK)
    expect("expire", run("expire", "k", "10s", "--dir", db), OK)
    r = expect("ttl after expire", run("ttl", "k", "--dir", db), OK)
    ms = int(r.out.strip().removesuffix(b"ms") or 0) if r.out.strip().endswith(b"ms") else -1
    check("ttl prints <N>ms", 9000 < ms <= 10000, r)
    j = json_ok("ttl --json", expect("ttl --json", run("--json", "ttl", "k", "--dir", db), OK))
    check("ttl --json", j.get("found") is True and 9000 < (j.get("ttl_ms") or 0) <= 10000, j)
    r = expect("get keeps the value after expire", run("get", "k", "--dir", db), OK)
    check("expire kept the value", r.out == b"v\n", r)
    j = json_ok("persist --json", expect("persist", run("--json", "persist", "k", "--dir", db), OK))
    check("persist --json", j == {"key": "k", "found": True}, j)
    j = json_ok("ttl never --json", run("--json", "ttl", "k", "--dir", db))
    check("ttl --json null for never", "ttl_ms" in j and j["ttl_ms"] is None, j)
    for cmd in (["ttl", "nope"], ["expire", "nope", "1s"], ["persist", "nope"]):
        r = expect(f"{cmd[0]} of an absent key", run(*cmd, "--dir", db), NOT_FOUND)
        check(f"{cmd[0]} of an absent key says so", b"not found" in r.err, r)
    expect("expire 100ms", run("expire", "k", "100ms", "--dir", db), OK)
    time.sleep(0.3)
    expect("key gone after its expire", run("get", "k", "--dir", db), NOT_FOUND)
    expect("persist of an expired key", run("persist", "k", "--dir", db), NOT_FOUND)
    expect("ttl on a directory without a database", run("ttl", "k", "--dir", os.path.join(tmp, "none")), USAGE)
    expect("--hex key", run("put", "--hex", "00ff", "76", "--dir", db), OK)
    expect("expire --hex", run("expire", "--hex", "00ff", "1h", "--dir", db), OK)
    j = json_ok("ttl --hex --json", run("--json", "ttl", "--hex", "00ff", "--dir", db))
    check("ttl --hex --json key", j.get("key_hex") == "00ff" and 3_500_000 < (j.get("ttl_ms") or 0), j)


def test_counts_of_one_are_singular(tmp):
    db = os.path.join(tmp, "one")
    expect("put", run("put", "only", "v", "--dir", db), OK)
    r = expect("validate one record", run("validate", "--dir", db), OK)
    check("validate: 1 file, 1 record, 1 live key", b"1 file, 1 record, 1 live key\n" in r.out, r)
    r = expect("backup of one key", run("backup", os.path.join(tmp, "one-copy"), "--dir", db), OK)
    check("backup: (1 key)", r.out.rstrip().endswith(b"(1 key)"), r)
    r = expect("dump of one record", run("dump", data_files(db)[0]), OK)
    check("dump: 1 record (0 tombstones)", b"1 record (0 tombstones)" in r.out, r)
    r = expect("delete-all of one key", run("delete-all", "--yes", "--dir", db), OK)
    check("delete-all: deleted 1 key", r.out == b"deleted 1 key\n", r)


def test_listing(tmp):
    db = os.path.join(tmp, "list")
    for k in ["b1", "a1", "a2", "c1", "a3"]:
        expect(f"put {k}", run("put", k, "v" + k, "--dir", db, "--no-sync"), OK)
    expect("put newline key", run("put", "a\nx", "nl", "--dir", db), OK)
    r = expect("keys all", run("keys", "--dir", db), OK)
    check("keys in byte order", r.out.splitlines() == [b"a\\x0ax", b"a1", b"a2", b"a3", b"b1", b"c1"], r)
    r = expect("keys prefix", run("keys", "a", "--dir", db, "--limit", "2"), OK)
    check("keys prefix + limit", r.out.splitlines() == [b"a\\x0ax", b"a1"], r)
    lines = json_lines_ok("keys --json", expect("keys --json", run("--json", "keys", "a", "--dir", db), OK))
    check("keys --json", [l.get("key") for l in lines] == ["a\nx", "a1", "a2", "a3"], lines)
    r = expect("scan", run("scan", "b", "--dir", db), OK)
    check("scan prints key<TAB>value", r.out == b"b1\tvb1\n", r)
    lines = json_lines_ok("scan --json", expect("scan --json", run("--json", "scan", "--dir", db), OK))
    check("scan --json pairs", {l["key"]: l["value"] for l in lines}.get("c1") == "vc1" and len(lines) == 6, lines)
    r = expect("range", run("range", "a2", "b2", "--dir", db), OK)
    check("range [a2, b2)", r.out.splitlines() == [b"a2", b"a3", b"b1"], r)
    r = expect("range open end", run("range", "b", "--values", "--dir", db), OK)
    check("range without end, values", r.out.splitlines() == [b"b1\tvb1", b"c1\tvc1"], r)
    lines = json_lines_ok("range --json", expect("range --json", run("--json", "range", "a", "a3", "--dir", db), OK))
    check("range --json", [l.get("key") for l in lines] == ["a\nx", "a1", "a2"], lines)
    r = expect("keys --hex", run("keys", "--hex", "63", "--dir", db), OK)
    check("keys --hex prefix and output", r.out == b"6331\n", r)


def test_stats_merge_backup(tmp):
    db = os.path.join(tmp, "stats")
    opts = ["--dir", db, "--max-file-size", "512", "--no-sync"]
    for i in range(30):
        expect("put", run("put", f"k{i % 5}", "x" * 40, *opts), OK)
    j = json_ok("stats --json", expect("stats --json", run("--json", "stats", *opts), OK))
    check("stats keys", j.get("keys") == 5, j)
    check("stats files", (j.get("data_files") or 0) > 1, j)
    check("stats dead bytes", 0 < j.get("dead_bytes", 0) < j.get("total_bytes", 0), j)
    r = expect("stats text", run("stats", *opts), OK)
    check("stats text", b"keys" in r.out and b"dead bytes" in r.out, r)
    j = json_ok("reclaimable --json", expect("reclaimable --json", run("--json", "reclaimable", *opts), OK))
    check("reclaimable fields", {"dead_bytes", "total_bytes", "ratio"} <= set(j) and 0 < j["ratio"] < 1, j)
    r = expect("reclaimable text", run("reclaimable", *opts), OK)
    check("reclaimable text", b"ratio" in r.out, r)
    j = json_ok("merge not due", expect("merge (not due)", run("--json", "merge", *opts), OK))
    check("merge without --force is not due (64 MiB minimum)", j.get("merged") is False, j)
    j = json_ok("merge --force", expect("merge --force", run("--json", "merge", "--force", *opts), OK))
    check("merge --force ran", j.get("merged") is True, j)
    check("merge freed bytes", j.get("after", {}).get("total_bytes", 1 << 40) < j.get("before", {}).get("total_bytes", 0), j)
    r = expect("merge text", run("merge", "--force", *opts), OK)
    check("merge text", b"merged" in r.out, r)
    r = expect("merge --auto", run("merge", "--auto", *opts), OK)
    expect("merge --auto --force conflict", run("merge", "--auto", "--force", *opts), USAGE)
    for i in range(5):
        r = expect("value after merge", run("get", f"k{i}", *opts), OK)
        check("value after merge", r.out == b"x" * 40 + b"\n", r)

    bk = os.path.join(tmp, "stats-backup")
    j = json_ok("backup --json", expect("backup", run("--json", "backup", bk, "--verify", *opts), OK))
    check("backup json", j.get("keys") == 5 and j.get("verified") is True, j)
    r = expect("get from backup", run("get", "k3", "--dir", bk), OK)
    check("backup holds the data", r.out == b"x" * 40 + b"\n", r)
    r = run("backup", bk, *opts)
    check("backup into a non-empty directory fails", r.rc not in (OK, NOT_FOUND), r)
    r = expect("backup text", run("backup", os.path.join(tmp, "bk2"), *opts), OK)
    check("backup text", b"backup of" in r.out, r)


def test_delete_all(tmp):
    db = os.path.join(tmp, "delall")
    for k in ["a", "b", "c"]:
        expect("put", run("put", k, "v", "--dir", db), OK)
    r = expect("delete-all without --yes on a pipe", run("delete-all", "--dir", db, input=b"yes\n"), USAGE)
    check("refusal explains --yes", b"--yes" in r.err, r)
    expect("keys survive the refusal", run("get", "a", "--dir", db), OK)

    def on_tty(answer):
        master, slave = pty.openpty()
        p = subprocess.Popen([BIN, "delete-all", "--dir", db], stdin=slave, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        os.close(slave)
        os.write(master, answer)
        out, err = p.communicate(timeout=30)
        os.close(master)
        return p.returncode, out, err

    rc, out, err = on_tty(b"no\n")
    check("delete-all answered no exits 2", rc == USAGE, (rc, out, err))
    check("delete-all prompt", b"Type yes" in err, err)
    expect("keys survive a no", run("get", "a", "--dir", db), OK)
    rc, out, err = on_tty(b"yes\n")
    check("delete-all answered yes", rc == OK, (rc, out, err))
    expect("keys gone after yes", run("get", "a", "--dir", db), NOT_FOUND)
    for k in ["a", "b"]:
        expect("put", run("put", k, "v", "--dir", db), OK)
    j = json_ok("delete-all --yes --json", expect("delete-all --yes", run("--json", "delete-all", "--yes", "--dir", db), OK))
    check("delete-all json", j.get("deleted_all") is True and j.get("keys") == 2, j)
    r = expect("keys after delete-all", run("keys", "--dir", db), OK)
    check("no keys left", r.out == b"", r)


def test_locked(tmp):
    db = os.path.join(tmp, "locked")
    expect("put", run("put", "k", "v", "--dir", db), OK)
    fd = os.open(os.path.join(db, "LOCK"), os.O_RDWR)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        r = expect("get while locked", run("get", "k", "--dir", db), LOCKED)
        check("locked message", b"lock" in r.err.lower(), r)
        expect("put while locked", run("put", "k", "v", "--dir", db), LOCKED)
        expect("repair while locked", run("repair", "--dir", db), LOCKED)
        t = time.monotonic()
        expect("lock timeout", run("get", "k", "--dir", db, "--lock-timeout-ms", "300"), LOCKED)
        check("lock timeout waited", time.monotonic() - t >= 0.3)
        expect("validate takes no lock", run("validate", "--dir", db), OK)
        r = expect("json error while locked", run("--json", "stats", "--dir", db), LOCKED)
        check("json locked error", json.loads(r.err or b"{}").get("exit_code") == LOCKED, r)
    finally:
        os.close(fd)
    expect("get after the lock is released", run("get", "k", "--dir", db), OK)


def test_validate_repair_dump(tmp):
    db = os.path.join(tmp, "corrupt")
    expect("put tomb", run("put", "gone", "v", "--dir", db), OK)
    expect("del tomb", run("del", "gone", "--dir", db), OK)
    expect("put compressed", run("put", "big", "z" * 10000, "--dir", db, "--compression", "snappy"), OK)
    for i in range(8):
        expect("put", run("put", f"key{i}", f"value{i}", "--dir", db), OK)
    r = expect("validate clean", run("validate", "--dir", db), OK)
    check("validate text", r.out.startswith(b"validate: clean"), r)
    j = json_ok("validate --json", expect("validate --json", run("--json", "validate", "--dir", db), OK))
    check("validate json clean", j.get("clean") is True and j.get("live_keys") == 9, j)

    (data,) = data_files(db)
    mark = os.path.join(db, "data", "bitgask.watermark")
    # What a crash leaves of room preallocated for appends: zeros after the last record of the
    # newest file. Not damage: validate is clean and dump says what it is (docs/DESIGN.md section 4.5).
    # A crash never leaves a hint beside the file being appended: put the closed file's aside.
    hint = data[:-len(".data")] + ".hint"
    os.rename(hint, hint + ".aside")
    size = os.path.getsize(data)
    with open(data, "r+b") as f:
        f.truncate(size + 8192)
    expect("validate with an unused tail", run("validate", "--dir", db), OK)
    r = expect("dump with an unused tail", run("dump", data), OK)
    check("dump names the unused tail", f"unused tail at offset {size}".encode() in r.out and b"BAD" not in r.out, r)
    lines = json_lines_ok("dump unused --json", expect("dump unused --json", run("--json", "dump", data), OK))
    tail = [l for l in lines if l.get("type") == "unused_tail"]
    check("dump unused json", tail and tail[0]["offset"] == size and tail[0]["length"] == 8192 and lines[-1].get("clean") is True, lines[-2:])
    with open(data, "r+b") as f:
        f.truncate(size)
    os.rename(hint + ".aside", hint)

    r = expect("dump watermark", run("dump", mark), OK)
    check("dump watermark text", b"000000001.data durable up to " + str(os.path.getsize(data)).encode() in r.out, r)
    lines = json_lines_ok("dump watermark --json", expect("dump watermark --json", run("--json", "dump", mark), OK))
    check("dump watermark json", lines and lines[0].get("durable_len") == os.path.getsize(data) and lines[0].get("links") is True, lines)
    lines = json_lines_ok("dump --json", expect("dump data --json", run("--json", "dump", data), OK))
    recs = [l for l in lines if l.get("type") == "record"]
    check("dump: every record", len(recs) == 11, len(recs))
    check("dump: tombstone flagged", any(l.get("tombstone") and l.get("key") == "gone" for l in recs), recs[:2])
    big = [l for l in recs if l.get("key") == "big"]
    check("dump: compressed flagged", big and big[0]["compressed"] and big[0]["codec"] == "snappy" and big[0]["value_len"] == 10000 and big[0]["stored_len"] < 10000, big)
    check("dump: offsets chain", all(b["offset"] == a["offset"] + a["len"] for a, b in zip(recs, recs[1:])), recs[:3])
    check("dump: ts and expires present", all("ts_unix_nano" in l and "expires_unix_nano" in l for l in recs))
    check("dump: end line", lines and lines[-1].get("type") == "end" and lines[-1].get("clean") is True, lines[-1:])
    r = expect("dump data text", run("dump", data, "--values"), OK)
    check("dump text", b"offset=0 " in r.out and b"key=key7" in r.out and b"value=value7" in r.out and b"flags=tombstone" in r.out, r)

    hints = data_files(db, "hint")
    check("a hint file exists after close", len(hints) == 1, hints)
    if hints:
        lines = json_lines_ok("dump hint --json", expect("dump hint --json", run("--json", "dump", hints[0]), OK))
        check("dump hint header", lines and lines[0].get("type") == "hint" and lines[0].get("entries") == 10, lines[:1])
        ents = [l for l in lines if l.get("type") == "entry"]
        check("dump hint entries (one per key)", sorted(e.get("key") for e in ents) == sorted(["gone", "big"] + [f"key{i}" for i in range(8)]), ents)
        r = expect("dump hint text", run("dump", hints[0]), OK)
        check("dump hint text", b"entries" in r.out and b"record_len=" in r.out, r)
        with open(hints[0], "r+b") as f:
            f.seek(30)
            b = f.read(1)
            f.seek(30)
            f.write(bytes([b[0] ^ 0xFF]))
        r = expect("dump damaged hint", run("dump", hints[0]), CORRUPT)
        check("dump damaged hint says so", b"BAD" in r.out, r)

    # Flip a byte inside the first record's key: valid records follow, so it is corruption.
    with open(data, "r+b") as f:
        f.seek(33)
        b = f.read(1)
        f.seek(33)
        f.write(bytes([b[0] ^ 0xFF]))
    r = expect("validate damaged", run("validate", "--dir", db), CORRUPT)
    check("validate damaged text", b"DAMAGED" in r.out, r)
    j = json_ok("validate damaged --json", expect("validate damaged --json", run("--json", "validate", "--dir", db), CORRUPT))
    check("validate damaged json", j.get("clean") is False and any(p["kind"] == "corrupt_record" for p in j.get("problems", [])), j)
    r = expect("open of a corrupt database", run("get", "key1", "--dir", db), CORRUPT)
    expect("serve on a corrupt database", run("serve", "--dir", db, "--addr", "127.0.0.1:0"), CORRUPT)
    r = expect("dump damaged data", run("dump", data), CORRUPT)
    check("dump stops at the bad record", b"BAD record at offset 0" in r.out and b"next valid record at offset" in r.out, r)
    lines = json_lines_ok("dump damaged --json", expect("dump damaged --json", run("--json", "dump", data), CORRUPT))
    bad = [l for l in lines if l.get("type") == "bad"]
    check("dump damaged json", bad and bad[0]["offset"] == 0 and bad[0]["next_valid_offset"], lines)

    j = json_ok("repair --json", expect("repair", run("--json", "repair", "--dir", db), OK))
    check("repair json", j.get("repaired") is True and j.get("clean") is True and j.get("bytes_quarantined", 0) > 0, j)
    expect("validate after repair", run("validate", "--dir", db), OK)
    r = expect("get after repair", run("get", "key7", "--dir", db), OK)
    check("data after repair", r.out == b"value7\n", r)
    r = expect("repair again (text)", run("repair", "--dir", db), OK)
    check("repair text", r.out.startswith(b"repair: clean"), r)
    expect("dump of a missing file", run("dump", os.path.join(tmp, "nope.data")), OTHER)
    expect("validate of a missing directory", run("validate", "--dir", os.path.join(tmp, "nope")), USAGE)


def test_dump_snapshot(tmp):
    # A clean close of 20,000 keys or more leaves the keydir snapshot (docs/DESIGN.md section 6.7).
    db = os.path.join(tmp, "snap")
    lines = "".join(json.dumps({"key": f"key-{i:06}", "value": "v", "expires_unix_nano": 0}) + "\n" for i in range(25_000))
    expect("import 25k keys", run("import", "--dir", db, input=lines.encode()), OK)
    snap = os.path.join(db, "data", "keydir.snapshot")
    check("a clean close writes the snapshot", os.path.exists(snap))
    r = expect("dump snapshot", run("dump", snap), OK)
    check("dump snapshot text", b"25,000 keys" in r.out or b"25000 keys" in r.out, r)
    check("dump snapshot says open would use it", b"open would use it" in r.out, r)
    (j,) = json_lines_ok("dump snapshot --json", expect("dump snapshot --json", run("--json", "dump", snap), OK))
    check("dump snapshot json", j.get("type") == "keydir_snapshot" and j.get("keys") == 25_000 and j.get("usable") is True and len(j.get("shards", [])) == 16, j)
    expect("validate with a snapshot", run("validate", "--dir", db), OK)
    with open(snap, "r+b") as f:
        f.seek(-3, os.SEEK_END)
        b = f.read(1)
        f.seek(-3, os.SEEK_END)
        f.write(bytes([b[0] ^ 0x01]))
    r = expect("dump damaged snapshot", run("dump", snap), CORRUPT)
    check("dump damaged snapshot names the shard", b"crc BAD" in r.out, r)
    r = expect("get beside a damaged snapshot", run("get", "key-000007", "--dir", db), OK)
    check("get beside a damaged snapshot reads the value", r.out == b"v\n", r)
    # That open retired the damaged snapshot; its clean close wrote a fresh one.
    r = expect("dump the snapshot of the next close", run("dump", snap), OK)
    check("the next close's snapshot is usable", b"open would use it" in r.out and b"BAD" not in r.out, r)


def export_lines(db, *extra):
    r = run("export", "--dir", db, *extra)
    check("export", r.rc == OK, r)
    return r


def test_export_import(tmp):
    src = os.path.join(tmp, "exp-src")
    items = {
        b"plain": b"value",
        "ünïcødé".encode(): "välüe ✓".encode(),
        b"\x00\xff\xfe": b"\x80\x81binary\x00",
        b"nl\nkey": b"line1\nline2\r\n",
        b"quote\"back\\": b"",
        b"big": os.urandom(100_000),
    }
    for k, v in items.items():
        # Keys as base64 arguments; values through --stdin (binary-safe, and no argument limit).
        expect("put --base64 --stdin", run("put", "--base64", base64.b64encode(k).decode(), "--stdin", "--dir", src, "--no-sync", input=v), OK)
    expect("put ttl", run("put", "ttl-key", "soon", "--ttl", "10m", "--dir", src), OK)
    expect("put expiring", run("put", "dying", "x", "--ttl", "200ms", "--dir", src), OK)
    time.sleep(0.4)
    r = export_lines(src)
    lines = json_lines_ok("export output", r)
    check("export skips expired keys, one line per key", len(lines) == len(items) + 1, len(lines))
    by_key = {}
    for l in lines:
        k = l["key"].encode() if "key" in l else base64.b64decode(l["key_b64"])
        v = l["value"].encode() if "value" in l else base64.b64decode(l["value_b64"])
        by_key[k] = (v, l["expires_unix_nano"])
    check("export holds every value", all(by_key.get(k, (None,))[0] == v for k, v in items.items()))
    check("utf-8 key stays text", any(l.get("key") == "ünïcødé" for l in lines))
    check("binary key is key_b64", any("key_b64" in l for l in lines))
    exp = by_key.get(b"ttl-key", (None, 0))[1]
    check("export keeps the expiry", exp > time.time_ns() + 500 * 10**9, exp)

    dst = os.path.join(tmp, "exp-dst")
    path = os.path.join(tmp, "export.jsonl")
    with open(path, "wb") as f:
        f.write(r.out)
    j = json_ok("import --json", expect("import file", run("--json", "import", path, "--dir", dst), OK))
    check("import count", j.get("imported") == len(lines) and j.get("skipped_expired") == 0, j)
    again = export_lines(dst)
    check("export of the import is identical", again.out == r.out, (again.out[:200], r.out[:200]))
    j = json_ok("imported ttl", run("--json", "get", "ttl-key", "--dir", dst))
    check("imported key keeps its ttl", 500_000 < (j.get("ttl_ms") or 0) <= 600_000, j)

    # --base64 export, imported from stdin.
    b64 = export_lines(src, "--base64")
    check("--base64 export has only b64 fields", all("key_b64" in l and "value_b64" in l for l in json_lines_ok("b64", b64)))
    dst2 = os.path.join(tmp, "exp-dst2")
    r2 = expect("import stdin", run("import", "--dir", dst2, input=b64.out), OK)
    check("import text summary", b"imported" in r2.out, r2)
    check("base64 round trip", export_lines(dst2).out == r.out)

    # -o FILE, prefix, expired and hex records, bad input.
    out = os.path.join(tmp, "prefix.jsonl")
    r = expect("export -o", run("export", "--prefix", "pl", "-o", out, "--dir", src), OK)
    check("export -o summary", b"exported 1 key to" in r.out, r)
    with open(out, "rb") as f:
        check("export --prefix", [json.loads(l)["key"] for l in f.read().splitlines()] == ["plain"])
    crafted = (json.dumps({"key": "old", "value": "x", "expires_unix_nano": 1000}) + "\n"
               + json.dumps({"key_hex": "6869", "value_hex": "00ff"}) + "\n\n"
               + json.dumps({"key": "later", "value": "y", "expires_unix_nano": time.time_ns() + 3600 * 10**9}) + "\n")
    dst3 = os.path.join(tmp, "exp-dst3")
    j = json_ok("import crafted", expect("import crafted", run("--json", "import", "-", "--dir", dst3, input=crafted.encode()), OK))
    check("import skips expired records", j.get("imported") == 2 and j.get("skipped_expired") == 1, j)
    r = expect("hex import", run("get", "--hex", "6869", "--dir", dst3), OK)
    check("hex import value", r.out == b"00ff\n", r)
    expect("expired record not imported", run("get", "old", "--dir", dst3), NOT_FOUND)
    bad = json.dumps({"key": "first", "value": "1"}) + "\n{not json\n" + json.dumps({"key": "third", "value": "3"}) + "\n"
    r = expect("import bad line", run("import", "--dir", dst3, input=bad.encode()), OTHER)
    check("bad line named", b"stdin:2" in r.err, r)
    expect("records before the bad line stay", run("get", "first", "--dir", dst3), OK)
    expect("records after the bad line are not imported", run("get", "third", "--dir", dst3), NOT_FOUND)
    expect("import line without value", run("import", "--dir", dst3, input=b'{"key":"k"}\n'), OTHER)


def test_adopt(tmp):
    """Directories of the Go bitgask (tests/gofixtures' writer): refused by every command that
    opens, reported foreign by validate, converted by adopt to exactly the writer's expected keys."""
    out = os.path.join(tmp, "gofixtures")
    subprocess.check_call([sys.executable, os.path.join(ROOT, "tests/gofixtures/gowriter.py"), "--out", out,
                           "out-of-order", "width-6", "merge-after", "torn-then-appended"])
    for name in ["out-of-order", "width-6", "merge-after"]:
        db = os.path.join(out, name)
        r = expect(f"{name}: get refuses", run("get", "x", "--dir", db), OTHER)
        check(f"{name}: refusal names adopt", b"bitgask adopt --dir" in r.err, r)
        r = expect(f"{name}: validate", run("--json", "validate", "--dir", db), CORRUPT)
        kinds = {p["kind"] for p in json_ok(f"{name}: validate json", r)["problems"]}
        check(f"{name}: validate says foreign only", kinds == {"foreign"}, kinds)
        r = json_ok(f"{name}: adopt", expect(f"{name}: adopt", run("--json", "adopt", "--dir", db), OK))
        check(f"{name}: adopt counts", r["adopt"]["original_dir"] == "go-original/" and not r["adopt"]["already_bitgask"], r)
        with open(db + ".json") as f:
            want = {(k["key_hex"], k["value_hex"], k["expires_unix_nano"]) for k in json.load(f)["keys"]}
        got = set()
        for line in export_lines(db).json_lines():
            key = base64.b64decode(line["key_b64"]) if "key_b64" in line else line["key"].encode()
            val = base64.b64decode(line["value_b64"]) if "value_b64" in line else line["value"].encode()
            got.add((key.hex(), val.hex(), line.get("expires_unix_nano") or 0))
        check(f"{name}: adopted keys are the Go system's", got == want, (sorted(got - want), sorted(want - got)))
        r = json_ok(f"{name}: adopt again", expect(f"{name}: adopt again", run("--json", "adopt", "--dir", db), OK))
        check(f"{name}: second adopt is a no-op", r["adopt"]["already_bitgask"], r)
    torn = os.path.join(out, "torn-then-appended")
    expect("damaged: adopt refuses", run("adopt", "--dir", torn), CORRUPT)
    r = json_ok("damaged: salvage", expect("damaged: adopt --salvage", run("--json", "adopt", "--salvage", "--discard-original", "--dir", torn), OK))
    check("damaged: skipped bytes listed", r["adopt"]["skipped_bytes"] > 0 and not os.path.exists(os.path.join(torn, "go-original")), r)


def test_quiet_when_piped(tmp):
    db = os.path.join(tmp, "quiet")
    expect("put", run("put", "k", "v", "--dir", db), OK)
    for args in (["validate"], ["repair"], ["merge", "--force"], ["export"], ["backup", os.path.join(tmp, "quiet-bk")]):
        r = expect(f"{args[0]} piped", run(*args, "--dir", db), OK)
        check(f"{args[0]}: nothing on stderr when piped", r.err == b"", r)
    r = expect("import piped", run("import", "--dir", os.path.join(tmp, "quiet2"), input=b'{"key":"a","value":"b"}\n'), OK)
    check("import: nothing on stderr when piped", r.err == b"", r)
    # With a terminal on stderr the commands still succeed (progress drawn there).
    master, slave = pty.openpty()
    p = subprocess.run([BIN, "export", "-o", os.path.join(tmp, "tty.jsonl"), "--dir", db], stdout=subprocess.PIPE, stderr=slave, timeout=60)
    os.close(slave)
    os.close(master)
    check("export with a terminal on stderr", p.returncode == OK, p)


def main():
    if not os.access(BIN, os.X_OK):
        print(f"bitgask binary not found at {BIN} (cargo build --release -p bitgask-cli)")
        print("0 passed, 1 failed")
        return 1
    tmp = tempfile.mkdtemp(prefix="bitgask-cli-")
    try:
        for t in [test_help, test_usage_errors, test_argument_errors_as_json, test_serve_exit_codes, test_kv, test_ttl,
                  test_zero_and_negative_ttls, test_ttl_expire_persist, test_counts_of_one_are_singular, test_listing, test_stats_merge_backup,
                  test_delete_all, test_locked, test_validate_repair_dump, test_dump_snapshot, test_export_import, test_adopt,
                  test_quiet_when_piped]:
            try:
                t(tmp)
            except Exception as e:  # a crash in one group is a failure, not the end of the run
                check(t.__name__, False, f"raised {type(e).__name__}: {e}")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    print(f"{passed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
