"""Options by keyword with the C library's names; bad values are ValueError, bad types TypeError."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

import bitgask
from bitgask._options import SETTERS

# A valid value for every option the C API has. A new C option makes
# test_every_option_of_the_c_api_is_accepted fail until it gets a sample here.
VALID: dict[str, Any] = {
    "sync_on_put": False,
    "sync_on_delete": False,
    "sync_interval_ms": 1000,
    "max_file_size": 1 << 20,
    "reserve_bytes": 1 << 20,
    "max_key_size": 1024,
    "max_value_size": 1 << 20,
    "default_ttl_ms": 0,
    "hint_files": True,
    "compression": "snappy",
    "compression_threshold": 128,
    "lock_timeout_ms": 10,
    "merge_trigger_ratio": 0.5,
    "merge_min_total": 1 << 20,
    "merge_interval_ms": 0,
    "merge_on_open": True,
    "merge_max_file_size": 1 << 20,
    "garbage_ratio": 0.3,
    "min_merge_files": 2,
    "min_merge_total": 1 << 20,
    "max_merge_files": 4,
    "max_merge_bytes": 1 << 30,
    "adopt_salvage": True,  # adopt's switches; open ignores them
    "adopt_discard_original": False,
}


def test_every_option_of_the_c_api_is_accepted(path: Path) -> None:
    assert sorted(SETTERS) == sorted(VALID)
    with bitgask.open(path, **VALID) as db:
        db[b"k"] = b"v" * 1000
        assert db[b"k"] == b"v" * 1000


@pytest.mark.parametrize("codec", ["none", "snappy", "SNAPPY", None])
def test_compression_names(path: Path, codec: Any) -> None:
    with bitgask.open(path, compression=codec) as db:
        db[b"k"] = b"abc" * 5000
        assert db[b"k"] == b"abc" * 5000


@pytest.mark.parametrize(
    "name,value",
    [
        ("max_file_size", 10),  # below the library's minimum: the C setter refuses it
        ("merge_trigger_ratio", 1.5),
        ("max_key_size", -1),
        ("max_key_size", 1 << 32),
        ("sync_interval_ms", 1 << 64),
        ("compression", "zstd"),
    ],
)
def test_bad_values_are_value_errors(path: Path, name: str, value: Any) -> None:
    with pytest.raises(ValueError, match=name if name in ("max_key_size", "sync_interval_ms", "compression") else None):
        bitgask.open(path, **{name: value})
    assert not path.exists()


@pytest.mark.parametrize(
    "name,value",
    [("sync_on_put", 1), ("max_file_size", 1.5), ("max_file_size", True), ("merge_trigger_ratio", "0.5"), ("compression", 1)],
)
def test_bad_types_are_type_errors(path: Path, name: str, value: Any) -> None:
    with pytest.raises(TypeError, match=name):
        bitgask.open(path, **{name: value})


def test_an_unknown_option_is_a_type_error(path: Path) -> None:
    with pytest.raises(TypeError, match="unexpected keyword argument 'sync'"):
        bitgask.open(path, sync=True)


def test_a_path_like_path(path: Path) -> None:
    with bitgask.open(path) as db:
        assert db.path == str(path)
    with bitgask.open(str(path)):
        pass
