"""Write batches: with db.batch(), bitgask.Batch and db.write()."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

import bitgask
from conftest import FAST


def test_a_batch_block_writes_every_operation(db: bitgask.DB) -> None:
    db[b"gone"] = b"x"
    with db.batch() as b:
        b.put(b"a", b"1")
        b[b"b"] = bytearray(b"2")
        b.delete(b"gone")
        del b[b"never-there"]  # deleting an absent key is not an error
        assert len(b) == 4
        assert b"a" not in db  # nothing is written before the block ends
    assert db[b"a"] == b"1" and db[b"b"] == b"2" and b"gone" not in db


def test_an_exception_in_the_block_drops_the_batch(db: bitgask.DB) -> None:
    db[b"keep"] = b"old"
    with pytest.raises(RuntimeError):
        with db.batch() as b:
            b.put(b"keep", b"new")
            b.put(b"other", b"x")
            raise RuntimeError("boom")
    assert db[b"keep"] == b"old" and b"other" not in db


def test_nul_byte_keys_and_values_in_a_batch(db: bitgask.DB) -> None:
    keys = [b"\x00", b"\x00\x00", b"a\x00b", b"a\x00c", b"\xff\x00"]
    with db.batch() as b:
        for k in keys:
            b.put(k, k + b"\x00value")
        b.delete(b"a\x00c")
    assert list(db.keys()) == sorted(set(keys) - {b"a\x00c"})
    assert db[b"a\x00b"] == b"a\x00b\x00value"
    assert list(db.keys(prefix=b"a\x00")) == [b"a\x00b"]


def test_a_key_added_twice_ends_with_its_last_operation(db: bitgask.DB) -> None:
    with db.batch() as b:
        b.put(b"k", b"1")
        b.delete(b"k")
        b.put(b"j", b"1")
        b.put(b"j", b"2")
    assert b"k" not in db and db[b"j"] == b"2"


def test_a_batch_put_with_ttl_expires(db: bitgask.DB) -> None:
    with db.batch() as b:
        b.put(b"short", b"v", ttl=60.0)
        b.put(b"long", b"v")
    t = db.ttl(b"short")
    assert t is not None and 0 < t <= 60
    assert db.ttl(b"long") is None


def test_a_standalone_batch_is_written_again_and_cleared(db: bitgask.DB) -> None:
    b = bitgask.Batch()
    b.put(b"k", b"v")
    db.write(b)
    del db[b"k"]
    db.write(b)  # unchanged by the first write
    assert db[b"k"] == b"v"
    b.clear()
    assert len(b) == 0
    db.write(b)  # empty: writes nothing


def test_a_standalone_batch_is_not_a_with_block() -> None:
    with pytest.raises(TypeError, match="db.write"):
        with bitgask.Batch():
            pass


def test_write_takes_only_a_batch(db: bitgask.DB) -> None:
    with pytest.raises(TypeError):
        db.write([(b"k", b"v")])  # type: ignore[arg-type]


def test_use_after_the_block_raises_closed_error(db: bitgask.DB) -> None:
    with db.batch() as b:
        b.put(b"k", b"v")
    with pytest.raises(bitgask.ClosedError, match="batch is finished"):
        b.put(b"k", b"v")
    with pytest.raises(bitgask.ClosedError):
        db.write(b)
    with pytest.raises(bitgask.ClosedError):
        b.clear()
    assert len(b) == 0


def test_bad_operations_raise_and_leave_the_batch_unchanged(db: bitgask.DB) -> None:
    b = bitgask.Batch()
    b.put(b"k", b"v")
    with pytest.raises(bitgask.InvalidArgumentError):
        b.put(b"", b"v")
    with pytest.raises(TypeError):
        b.put("str", b"v")  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        b.put(b"k", b"v", ttl=0)
    assert len(b) == 1


def test_a_batch_above_the_databases_limit_writes_nothing(path: Path) -> None:
    with bitgask.open(path, max_value_size=8, **FAST) as db:
        with pytest.raises(bitgask.TooLargeError):
            with db.batch() as b:
                b.put(b"small", b"v")
                b.put(b"big", b"v" * 9)
        assert b"small" not in db


def test_writing_to_a_closed_database_raises_closed_error(path: Path) -> None:
    db = bitgask.open(path, **FAST)
    b = db.batch()
    db.close()
    with pytest.raises(bitgask.ClosedError):
        with b:
            b.put(b"k", b"v")


def test_readers_never_see_part_of_a_batch(db: bitgask.DB) -> None:
    # Batch n sets all ten keys to n. Reads in any order then never go down: a later read sees the
    # database at or after an earlier one, where (batches being whole) every key was already >= it.
    # A batch published key by key would show some key still at n-1 after another read n.
    keys = [b"k%d" % i for i in range(10)]
    with db.batch() as b:
        for k in keys:
            b.put(k, b"0")
    stop = threading.Event()
    torn: list[list[int]] = []

    def reader(order: list[bytes]) -> None:
        while not stop.is_set():
            seen = [int(db[k]) for k in order]
            if seen != sorted(seen):
                torn.append(seen)

    threads = [threading.Thread(target=reader, args=(o,)) for o in (keys, keys[::-1])]
    for t in threads:
        t.start()
    for n in range(1, 300):
        with db.batch() as b:
            for k in keys:
                b.put(k, b"%d" % n)
    stop.set()
    for t in threads:
        t.join()
    assert torn == []
