"""Reads and writes: put, get, [], del, delete, in; bytes-like keys; type and size errors."""

from __future__ import annotations

from pathlib import Path

import pytest

import bitgask


def test_put_then_get(db: bitgask.DB) -> None:
    db.put(b"k", b"v")
    assert db.get(b"k") == b"v"


def test_get_of_an_absent_key_gives_the_default(db: bitgask.DB) -> None:
    assert db.get(b"nope") is None
    assert db.get(b"nope", b"dflt") == b"dflt"


def test_item_access(db: bitgask.DB) -> None:
    db[b"k"] = b"v"
    assert db[b"k"] == b"v"
    with pytest.raises(KeyError):
        db[b"absent"]


def test_del_removes_and_raises_key_error_when_absent(db: bitgask.DB) -> None:
    db[b"k"] = b"v"
    del db[b"k"]
    assert b"k" not in db
    with pytest.raises(KeyError):
        del db[b"k"]


def test_delete_tells_whether_the_key_existed(db: bitgask.DB) -> None:
    db[b"k"] = b"v"
    assert db.delete(b"k") is True
    assert db.delete(b"k") is False


def test_contains(db: bitgask.DB) -> None:
    db[b"k"] = b""
    assert b"k" in db
    assert b"j" not in db


def test_binary_keys_and_values_with_nul_bytes(db: bitgask.DB) -> None:
    key, value = b"\x00a\x00\xff", bytes(range(256)) * 3
    db[key] = value
    assert db[key] == value
    assert b"\x00a" not in db
    assert list(db.items()) == [(key, value)]


def test_empty_value_round_trips(db: bitgask.DB) -> None:
    db[b"k"] = b""
    assert db[b"k"] == b""


@pytest.mark.parametrize("make", [bytes, bytearray, memoryview], ids=["bytes", "bytearray", "memoryview"])
def test_bytes_like_keys_and_values(db: bitgask.DB, make: type) -> None:
    db.put(make(b"key"), make(b"value"))
    assert db[make(b"key")] == b"value"
    assert make(b"key") in db
    assert db.delete(make(b"key"))


def test_a_memoryview_slice_is_its_bytes_only(db: bitgask.DB) -> None:
    buf = memoryview(b"xxkeyxx")[2:5]
    db[buf] = b"v"
    assert list(db) == [b"key"]


@pytest.mark.parametrize("call", ["put", "get", "contains", "delete", "setitem", "value"])
def test_str_raises_type_error(db: bitgask.DB, call: str) -> None:
    with pytest.raises(TypeError, match="not str"):
        if call == "put":
            db.put("k", b"v")
        elif call == "get":
            db.get("k")
        elif call == "contains":
            "k" in db  # noqa: B015
        elif call == "delete":
            db.delete("k")
        elif call == "setitem":
            db["k"] = b"v"
        else:
            db.put(b"k", "v")


def test_other_types_raise_type_error(db: bitgask.DB) -> None:
    with pytest.raises(TypeError, match="not int"):
        db.put(1, b"v")


def test_an_empty_key_is_a_value_error(db: bitgask.DB) -> None:
    with pytest.raises(ValueError) as info:
        db.put(b"", b"v")
    assert isinstance(info.value, bitgask.InvalidArgumentError)


def test_a_key_above_the_limit_is_too_large(path: Path) -> None:
    with bitgask.open(path, max_key_size=8) as db:
        with pytest.raises(bitgask.TooLargeError) as info:
            db.put(b"123456789", b"v")
        assert info.value.status == -8
        assert isinstance(info.value, ValueError)
        assert list(db) == []


def test_values_survive_reopen(path: Path) -> None:
    with bitgask.open(path) as db:
        db[b"k"] = b"v"
    with bitgask.open(path) as db:
        assert db[b"k"] == b"v"
