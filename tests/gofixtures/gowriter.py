#!/usr/bin/env python3
"""Writes database directories exactly as the Go bitgask (github.com/AfshinJalili/bitgask, the
first seed's system) writes them, for the tests of recognising and adopting such directories.
The Go system's write path is modelled in gomodel.py beside this file, which shares no encoding
code with the Rust library. Standard library only.

    gowriter.py --list              names and one-line descriptions of every fixture
    gowriter.py --out DIR [NAME..]  writes DIR/NAME/ (a database root) and DIR/NAME.json

Each NAME.json holds the expected key/value/expiry set under the Go rules (the last record of a
key in log order wins, a tombstone deletes, an expired key is absent), which of the Go system's
two load paths (hint files, or a scan of the data files) gives that set, and the markers that
identify the directory as Go-written. README.md beside this file describes the JSON.
"""

import argparse
import json
import os
import random
import shutil
import sys

from gomodel import LONG_TTL, SHORT_TTL, Clock, Entry, GoDB, snappy_encode

# ---------------------------------------------------------------------------------------------
# Expected results.


def _show(b):
    try:
        s = b.decode("utf-8")
    except UnicodeDecodeError:
        return None
    return s if s.isprintable() and len(s) <= 80 else None


def key_json(key):
    out = {"key_hex": key.hex()}
    if _show(key) is not None:
        out["key"] = _show(key)
    return out


def entry_json(key, value, expires):
    out = key_json(key)
    out["value_hex"] = value.hex()
    if _show(value) is not None:
        out["value"] = _show(value)
    out["expires_unix_nano"] = expires
    return out


def visible(index, now):
    """The Go answer from a keydir: tombstones and expired keys are absent."""
    return {k: e for k, e in sorted(index.items()) if not e.deleted and not e.expired(now)}


def keys_json(index, now):
    return [entry_json(k, e.value, e.expires) for k, e in visible(index, now).items()]


class Fixture:
    def __init__(self, name, description, build):
        self.name, self.description, self.build = name, description, build


FIXTURES = []


def fixture(name, description):
    def register(fn):
        FIXTURES.append(Fixture(name, description, fn))
        return fn

    return register


# The markers of a directory the Go system wrote with hint files and opened since its last merge.
HINTED = ["go-meta-layout", "go-hint-layout", "hint-for-active-file"]


def result(db, **extra):
    """The JSON of a fixture whose expected keys are the model's keydir; `extra` adds or
    overrides fields (state, go_open, markers, recency_by_stamp_differs, damage)."""
    out = {
        "state": "clean",
        "open_options": {
            "file_id_width": db.width,
            "hint_files": db.hints,
            "compression": "snappy" if db.compression else "none",
        },
        "keys": keys_json(db.index, db.clock.ns),
        "go_open": {"hints": "keys", "data": "keys"},
    }
    out.update(extra)
    return out


def v(n, seed, compressible=True):
    """A deterministic value of n bytes (text-like when compressible, random bytes otherwise)."""
    rnd = random.Random(seed)
    if not compressible:
        return bytes(rnd.getrandbits(8) for _ in range(n))
    words = [b"bitgask", b"record", b"value", b"hint", b"merge", b"snappy", b"log", b"-", b" "]
    out = bytearray()
    while len(out) < n:
        out += rnd.choice(words)
    return bytes(out[:n])


@fixture("fresh-empty", "a database the Go system opened and closed without writing")
def _fresh_empty(root, clock):
    db = GoDB(root, clock).open()
    db.close()
    return result(db, markers=["go-meta-layout", "empty-hint", "hint-for-active-file"])


@fixture("basic-hints", "puts, overwrites, deletes, TTLs and Expire over five rotated files, with hints")
def _basic(root, clock):
    db = GoDB(root, clock, max_data_file_size=400).open()
    for i in range(12):
        db.put(b"key-%02d" % i, b"value-%d" % i)
    for i in range(0, 12, 3):
        db.put(b"key-%02d" % i, b"second-%d" % i)
    db.delete(b"key-01")
    db.delete(b"key-04")
    db.put(b"key-04", b"back after delete")
    db.put(b"ttl-live", b"lives until 2126", ttl=LONG_TTL)
    db.put(b"ttl-expired", b"expires five seconds in", ttl=SHORT_TTL)
    db.put(b"ttl-overwritten", b"expired, then put again", ttl=SHORT_TTL)
    db.put(b"ttl-overwritten", b"no expiry now")
    db.put(b"ttl-removed", b"live first")
    db.put(b"ttl-removed", b"then expired", ttl=SHORT_TTL)
    db.put(b"\x00\xffbinary\x01", bytes(range(256)))
    db.expire(b"key-05", LONG_TTL)
    db.expire(b"key-06", 0)
    clock.sleep(60 * 10**9)
    db.close()
    return result(db, markers=HINTED)


@fixture("no-hints", "the Go system with WithHintFiles(false): only data files and meta")
def _no_hints(root, clock):
    db = GoDB(root, clock, hint_files=False, max_data_file_size=300).open()
    for i in range(10):
        db.put(b"k%d" % i, b"v%d" % i)
    db.put(b"k3", b"v3-b")
    db.delete(b"k7")
    db.put(b"ttl", b"x", ttl=LONG_TTL)
    db.close()
    return result(db, markers=["go-meta-layout"])


@fixture("snappy", "compressed values: every element kind, values compression made larger, threshold edge")
def _snappy(root, clock):
    db = GoDB(root, clock, max_value_size=1 << 20).open()
    db.put(b"under-threshold", v(255, 1))
    db.put(b"at-threshold", v(256, 2))
    db.put(b"text", v(4000, 3))
    db.put(b"run", b"a" * 1000)  # one overlapping copy after a 1-byte literal
    db.put(b"random-300", v(300, 4, compressible=False))  # snappy made it 5 bytes larger
    db.put(b"random-70000", v(70000, 5, compressible=False))  # a literal with a 3-byte length
    db.put(b"far-copy", v(70000, 6, compressible=False) * 2)  # copies 70000 bytes back: 4-byte offsets
    # Other valid encodings than the greedy default: every copy in the 4-byte form, and none.
    db.snappy = lambda b: snappy_encode(b, long_offsets=True)
    db.put(b"long-offset-form", v(2000, 7))
    db.snappy = lambda b: snappy_encode(b, literal_only=True)
    db.put(b"literal-only", v(3000, 8))
    db.snappy = snappy_encode
    db.put(b"text", v(5000, 9))  # overwrite of a compressed value
    db.put(b"ttl-compressed", v(1000, 10), ttl=LONG_TTL)
    db.close()
    return result(db, markers=HINTED)


@fixture("width-6", "WithFileIDWidth(6): 000001.data ... with hints, rotated files")
def _width6(root, clock):
    db = GoDB(root, clock, file_id_width=6, max_data_file_size=200).open()
    for i in range(9):
        db.put(b"w%d" % i, v(40 + i, 20 + i))
    db.put(b"w2", b"rewritten")
    db.delete(b"w5")
    db.close()
    return result(db, markers=["go-meta-layout", "go-hint-layout", "hint-for-active-file", "file-id-width"])


@fixture("width-12", "WithFileIDWidth(12), hints off, compression off: long names with leading zeros")
def _width12(root, clock):
    db = GoDB(root, clock, file_id_width=12, max_data_file_size=500, hint_files=False, compression=False)
    db.open()
    for i in range(6):
        db.put(b"x%d" % i, v(300, 30 + i))
    db.delete(b"x0")
    db.close()
    return result(db, markers=["go-meta-layout", "file-id-width"])


def _out_of_order(db, clock):
    """Every way the Go system appends records out of stamp order. Returns the keys whose last
    record in the log is not their record with the highest stamp."""
    # Two Puts of one key race: the first reads the clock, the second reads it and wins the
    # lock; the first appends last with the older stamp.
    slow = db.stamp()
    db.put(b"race", b"fast writer (newer stamp, appended first)")
    db.put(b"race", b"slow writer (older stamp, appended last)", ts=slow)
    # A Delete reads the clock (and finds the key), a Put of the same key takes the lock first.
    db.put(b"race-delete", b"exists before the delete")
    slow = db.stamp()
    db.put(b"race-delete", b"put after the delete read the clock")
    db.delete(b"race-delete", ts=slow)
    # A transaction stages a key, a plain Put writes it, then the transaction commits: the
    # commit appends the staged (older) stamp last.
    db.put(b"txn-tomb", b"exists before the transaction")
    t = db.transaction()
    t.put(b"txn-key", b"staged early, committed last")
    t.put(b"txn-other", b"first")
    t.delete(b"txn-tomb")
    db.put(b"txn-key", b"plain put between staging and commit")
    db.put(b"txn-tomb", b"plain put after the staged delete")
    t.put(b"txn-other", b"restaged: keeps its first place in the commit order")
    t.put(b"txn-compressed", v(400, 90))  # its hint entry's flags will not match the record
    t.commit()
    # The wall clock steps back (an NTP correction) between two Puts.
    db.put(b"clock-back", b"before the step")
    clock.step_back(3_600 * 10**9)
    db.put(b"clock-back", b"after the step (stamp an hour older)")
    clock.sleep(3_600 * 10**9 + 10**6)
    # Equal stamps (a coarse clock): the later record wins under both rules.
    same = db.stamp()
    db.put(b"same-stamp", b"first", ts=same)
    db.put(b"same-stamp", b"second", ts=same)
    return [b"race", b"race-delete", b"txn-key", b"txn-tomb", b"clock-back"]


def _differs_json(keys):
    return [key_json(k) for k in keys]


@fixture("out-of-order", "records appended out of stamp order: racing puts, staged transactions, clock steps")
def _ooo(root, clock):
    db = GoDB(root, clock, max_data_file_size=600).open()
    for i in range(4):
        db.put(b"plain-%d" % i, b"p%d" % i)
    differs = _out_of_order(db, clock)
    db.close()
    return result(db, recency_by_stamp_differs=_differs_json(differs), markers=HINTED)


def _merge_input(clock, root, **opts):
    db = GoDB(root, clock, max_data_file_size=500, merge_max_file_size=700, **opts).open()
    for i in range(16):
        db.put(b"m%02d" % i, v(60, 40 + i))
    for i in range(0, 16, 2):
        db.put(b"m%02d" % i, v(80, 60 + i))
    for i in (3, 7, 11):
        db.delete(b"m%02d" % i)
    db.put(b"big", v(600, 80))  # compressed
    db.put(b"gone-by-merge", b"expires", ttl=SHORT_TTL)
    db.put(b"ttl-kept", b"lives on", ttl=LONG_TTL)
    clock.sleep(60 * 10**9)
    return db


@fixture("merge-before", "the input of the merge fixtures: overwrites, tombstones, an expired key")
def _merge_before(root, clock):
    db = _merge_input(clock, root)
    db.close()
    return result(db, markers=HINTED)


@fixture("merge-after", "merge-before after the Go merge: data/ has no bitgask.meta, ids restart at 1")
def _merge_after(root, clock):
    db = _merge_input(clock, root)
    db.merge()
    db.close()
    return result(db, markers=["no-meta", "go-hint-layout", "hint-for-active-file"])


@fixture("merge-after-appended", "writes after the merge in the same session; a transaction staged before it")
def _merge_appended(root, clock):
    db = _merge_input(clock, root)
    t = db.transaction()
    t.put(b"m00", b"staged before the merge, committed after it")
    t.put(b"new-in-txn", b"committed after the merge")
    db.put(b"m00", b"put before the merge (newer stamp, copied by the merge)")
    db.merge()
    db.put(b"after-merge", b"appended to the last merged file")
    db.delete(b"m01")
    t.commit()
    db.close()
    return result(
        db,
        recency_by_stamp_differs=_differs_json([b"m00"]),
        markers=["no-meta", "go-hint-layout", "hint-for-active-file"],
    )


@fixture("merge-reopened", "merge-after opened again by the Go system: meta is back, more writes")
def _merge_reopened(root, clock):
    db = _merge_input(clock, root, zone_minutes=120)
    db.merge()
    db.close()
    db.open()
    db.put(b"m02", b"after reopen")
    db.put(b"reopened", b"yes")
    db.close()
    return result(db, markers=HINTED)


@fixture("merge-crash-writing", "a kill during the Go merge's copy: data/ intact, half a merge.tmp/")
def _merge_crash_writing(root, clock):
    db = _merge_input(clock, root)
    db.merge(stop_after="write")
    return result(db, state="merge-interrupted", markers=HINTED + ["go-merge-tmp"])


@fixture("merge-crash-renamed", "a kill between the Go merge's renames: data.old/ and merge.tmp/, no data/")
def _merge_crash_renamed(root, clock):
    db = _merge_input(clock, root)
    expected = keys_json(db.index, db.clock.ns + 10**9)
    db.merge(stop_after="rename-data")
    out = result(db, state="merge-interrupted", markers=["no-data-dir", "go-merge-tmp", "go-data-old"])
    # The Go system's next Open creates an empty data/ and shows an empty database; the data is
    # in data.old/ (the whole log) and merge.tmp/ (the complete merge output).
    out["keys"] = expected
    out["go_open"] = {"hints": "empty", "data": "empty"}
    return out


@fixture("merge-crash-swapped", "a kill after the Go merge's second rename: data/ merged, data.old/ left")
def _merge_crash_swapped(root, clock):
    db = _merge_input(clock, root)
    expected = keys_json(db.index, db.clock.ns + 10**9)
    db.merge(stop_after="rename-tmp")
    out = result(db, state="merge-interrupted", markers=["no-meta", "go-hint-layout", "go-data-old", "hint-for-active-file"])
    out["keys"] = expected
    return out


@fixture("torn-then-appended", "a torn record mid-file: the Go system reads past it through its hints")
def _torn(root, clock):
    db = GoDB(root, clock).open()
    db.put(b"a", b"before the crash")
    db.put(b"b", b"before the crash")
    torn_at = db.crash_mid_write(b"c", b"never acknowledged", keep=20)
    db.close()
    db.open()  # loads from hints, appends after the torn bytes
    db.put(b"a", b"after the crash")
    db.put(b"d", b"after the crash")
    db.close()
    return result(
        db,
        state="damaged",
        go_open={"hints": "keys", "data": "corrupt"},
        damage=[{"file": os.path.basename(db.name(1, "data")), "offset": torn_at, "length": 20}],
        markers=HINTED,
    )


@fixture("hint-lag", "a record without its hint entry (kill between data and hint write): paths disagree")
def _hint_lag(root, clock):
    db = GoDB(root, clock).open()
    db.put(b"k", b"acknowledged")
    db.put(b"other", b"acknowledged")
    ts = db.crash_before_hint(b"k", b"written, never acknowledged")
    db.close()
    db.open()  # from hints: the keydir does not see the unhinted record
    db.put(b"later", b"after the crash")
    out = result(
        db,
        go_open={"hints": {"keys": keys_json(db.index, db.clock.ns)}, "data": "keys"},
        markers=HINTED,
    )
    # A scan of the data files finds the unacknowledged record as the last one of k.
    scanned = dict(db.index)
    scanned[b"k"] = Entry(1, 0, 0, ts, 0, False, b"written, never acknowledged")
    out["keys"] = keys_json(scanned, db.clock.ns)
    return out


# ---------------------------------------------------------------------------------------------


def write_fixture(fx, out_dir):
    root = os.path.join(out_dir, fx.name)
    if os.path.exists(root):
        shutil.rmtree(root)
    os.makedirs(root)
    clock = Clock()
    expected = {"name": fx.name, "description": fx.description}
    expected.update(fx.build(root, clock))
    expected["written_at_unix_nano"] = clock.ns
    with open(os.path.join(out_dir, fx.name + ".json"), "w") as f:
        json.dump(expected, f, indent=1, sort_keys=True)
        f.write("\n")
    return root


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--list", action="store_true", help="list the fixtures")
    p.add_argument("--out", metavar="DIR", help="write fixtures into DIR")
    p.add_argument("names", nargs="*", help="fixtures to write (default: all)")
    a = p.parse_args(argv)
    if a.list:
        for fx in FIXTURES:
            print("%-22s %s" % (fx.name, fx.description))
        return 0
    if not a.out:
        p.error("--out DIR or --list is required")
    known = {fx.name: fx for fx in FIXTURES}
    unknown = [n for n in a.names if n not in known]
    if unknown:
        p.error("unknown fixture(s): " + ", ".join(unknown))
    os.makedirs(a.out, exist_ok=True)
    for fx in [known[n] for n in a.names] or FIXTURES:
        write_fixture(fx, a.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
