"""Expiry: put(ttl=), expire, persist, ttl."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

import bitgask


def test_a_key_put_with_a_ttl_expires(db: bitgask.DB) -> None:
    db.put(b"k", b"v", ttl=0.05)
    assert db[b"k"] == b"v"
    time.sleep(0.12)
    assert db.get(b"k") is None
    assert b"k" not in db
    with pytest.raises(KeyError):
        db[b"k"]
    with pytest.raises(KeyError):
        db.ttl(b"k")


def test_ttl_is_the_remaining_seconds(db: bitgask.DB) -> None:
    db.put(b"k", b"v", ttl=30)
    remaining = db.ttl(b"k")
    assert remaining is not None and 29 < remaining <= 30


def test_ttl_is_none_without_expiry(db: bitgask.DB) -> None:
    db[b"k"] = b"v"
    assert db.ttl(b"k") is None


def test_ttl_of_an_absent_key_is_a_key_error(db: bitgask.DB) -> None:
    with pytest.raises(KeyError):
        db.ttl(b"absent")


def test_fractions_of_a_millisecond_round_up(db: bitgask.DB) -> None:
    db.put(b"k", b"v", ttl=0.0004)  # 1 ms, not 0 (which the library refuses)
    time.sleep(0.01)
    assert b"k" not in db
    db.put(b"k", b"v", ttl=5.0001)  # 5001 ms
    remaining = db.ttl(b"k")
    assert remaining is not None and 4.9 < remaining <= 5.001


def test_expire_then_persist(db: bitgask.DB) -> None:
    db[b"k"] = b"v"
    db.expire(b"k", 10)
    assert db.ttl(b"k") is not None
    db.persist(b"k")
    assert db.ttl(b"k") is None
    assert db[b"k"] == b"v"


def test_expire_zero_is_refused_and_keeps_the_key(db: bitgask.DB) -> None:
    db[b"k"] = b"v"
    with pytest.raises(ValueError):
        db.expire(b"k", 0)
    assert db[b"k"] == b"v" and db.ttl(b"k") is None


def test_expire_and_persist_of_an_absent_key_are_key_errors(db: bitgask.DB) -> None:
    with pytest.raises(KeyError):
        db.expire(b"absent", 1)
    with pytest.raises(KeyError):
        db.persist(b"absent")


@pytest.mark.parametrize("ttl", [0, -1, float("nan"), float("inf")])
def test_bad_ttls_are_value_errors_and_write_nothing(db: bitgask.DB, ttl: float) -> None:
    with pytest.raises(ValueError):
        db.put(b"k", b"v", ttl=ttl)
    assert b"k" not in db


def test_a_non_number_ttl_is_a_type_error(db: bitgask.DB) -> None:
    with pytest.raises(TypeError):
        db.put(b"k", b"v", ttl="1")  # type: ignore[arg-type]


def test_default_ttl_ms_option(path: Path) -> None:
    with bitgask.open(path, default_ttl_ms=60_000) as db:
        db[b"k"] = b"v"
        remaining = db.ttl(b"k")
        assert remaining is not None and 59 < remaining <= 60
