"""DB.multi_get: the values get gives, for many keys in one call; a damaged record raises."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

import bitgask

from conftest import FAST


def test_multi_get_answers_as_get_does(db: bitgask.DB) -> None:
    for i in range(50):
        db.put(b"key%d" % i, b"value %d" % i)
    db.delete(b"key7")
    db.put(b"brief", b"v", ttl=0.001)
    time.sleep(0.005)
    keys = [b"key%d" % i for i in range(60)] + [b"brief", b"key3", bytearray(b"key4"), memoryview(b"key3")]
    got = db.multi_get(keys)
    assert got == [db.get(k) for k in keys]
    assert got[3] == b"value 3" and got[7] is None and got[55] is None and got[-1] == b"value 3"


def test_multi_get_gives_the_default_for_absent_keys(db: bitgask.DB) -> None:
    db[b"a"] = b"1"
    assert db.multi_get([b"a", b"b"], b"-") == [b"1", b"-"]
    assert db.multi_get(iter([b"b"])) == [None]


def test_multi_get_of_no_keys_is_an_empty_list(db: bitgask.DB) -> None:
    assert db.multi_get([]) == []


def test_multi_get_refuses_bad_keys(db: bitgask.DB) -> None:
    with pytest.raises(bitgask.InvalidArgumentError):
        db.multi_get([b"fine", b""])
    with pytest.raises(TypeError):
        db.multi_get([b"fine", "text"])  # type: ignore[list-item]


def test_multi_get_raises_corruption_for_a_flipped_bit(path: Path) -> None:
    with bitgask.open(path, **FAST) as db:
        for i in range(10):
            db.put(b"key%d" % i, b"value number %d" % i)
    data = path / "data" / "000000001.data"
    raw = bytearray(data.read_bytes())
    raw[raw.index(b"value number 4") + 13] ^= 0x01
    data.write_bytes(bytes(raw))
    with bitgask.open(path, **FAST) as db:
        with pytest.raises(bitgask.CorruptError):
            db.multi_get([b"key%d" % i for i in range(10)])
        assert db.multi_get([b"key3", b"key5"]) == [b"value number 3", b"value number 5"]
