"""Iteration in key order: iter(db), keys, items, values, prefixes, ranges, cursors after close."""

from __future__ import annotations

import gc
import threading
from pathlib import Path

import pytest

import bitgask

KEYS = [b"a", b"b\x00", b"b\x001", b"ba", b"c", b"d"]


@pytest.fixture
def filled(db: bitgask.DB) -> bitgask.DB:
    for k in reversed(KEYS):
        db[k] = k.upper()
    return db


def test_iter_is_the_keys_in_byte_order(filled: bitgask.DB) -> None:
    assert list(filled) == KEYS


def test_items_and_values(filled: bitgask.DB) -> None:
    assert list(filled.items()) == [(k, k.upper()) for k in KEYS]
    assert list(filled.values()) == [k.upper() for k in KEYS]


def test_prefix(filled: bitgask.DB) -> None:
    assert list(filled.keys(b"b")) == [b"b\x00", b"b\x001", b"ba"]
    assert list(filled.items(prefix=b"b\x00")) == [(b"b\x00", b"B\x00"), (b"b\x001", b"B\x001")]
    assert list(filled.keys(b"z")) == []


def test_range_is_start_inclusive_stop_exclusive(filled: bitgask.DB) -> None:
    assert list(filled.keys(start=b"b", stop=b"c")) == [b"b\x00", b"b\x001", b"ba"]
    assert list(filled.keys(start=b"ba")) == [b"ba", b"c", b"d"]
    assert list(filled.keys(stop=b"b")) == [b"a"]
    assert [k for k, _ in filled.items(start=b"a", stop=b"m")] == KEYS


def test_prefix_and_range_together_are_refused(filled: bitgask.DB) -> None:
    with pytest.raises(ValueError):
        filled.keys(b"a", start=b"a")


def test_an_iterator_is_a_snapshot_of_the_keys(filled: bitgask.DB) -> None:
    it = iter(filled)
    filled[b"aa"] = b"new"
    assert b"aa" not in list(it)


def test_a_key_deleted_during_iteration_is_skipped(filled: bitgask.DB) -> None:
    it = filled.items()
    assert next(it) == (b"a", b"A")
    del filled[b"b\x00"]
    assert [k for k, _ in it] == KEYS[2:]


def test_an_iterator_used_after_close_raises_closed_error(path: Path) -> None:
    db = bitgask.open(path)
    db[b"a"], db[b"b"] = b"1", b"2"
    it = db.items()
    assert next(it) == (b"a", b"1")
    db.close()
    with pytest.raises(bitgask.ClosedError):
        next(it)
    del it  # freeing the C iterator after the database is fine too


def test_a_cursor_keeps_its_unreferenced_db_open(path: Path) -> None:
    with bitgask.open(path) as db:
        db[b"a"] = b"1"
    with pytest.warns(ResourceWarning):  # the DB is never closed explicitly
        # (Not inside the assert: pytest's assertion rewriting would keep the DB referenced.)
        items = list(bitgask.open(path).items())
        gc.collect()
    assert items == [(b"a", b"1")]


def test_creating_an_iterator_after_close_raises(path: Path) -> None:
    db = bitgask.open(path)
    db.close()
    with pytest.raises(bitgask.ClosedError):
        db.keys()


def test_a_closed_cursor_ends(filled: bitgask.DB) -> None:
    with filled.keys() as it:
        assert next(it) == b"a"
    assert list(it) == []


def test_an_exhausted_cursor_stays_exhausted(filled: bitgask.DB) -> None:
    it = filled.keys()
    assert len(list(it)) == len(KEYS)
    assert list(it) == []


def test_one_cursor_shared_by_threads_yields_each_key_once(db: bitgask.DB) -> None:
    for i in range(2000):
        db[b"%05d" % i] = b"v"
    it = db.keys()
    seen: list[bytes] = []

    def drain() -> None:
        for k in it:
            seen.append(k)

    threads = [threading.Thread(target=drain) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(seen) == [b"%05d" % i for i in range(2000)]
