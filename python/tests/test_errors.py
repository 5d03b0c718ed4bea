"""Every C status maps to its exception class; errors carry the status and the library's message."""

from __future__ import annotations

import json
import pickle
from pathlib import Path

import pytest

import bitgask
from bitgask._bitgask import ffi, lib
from bitgask._errors import BY_NAME, BY_STATUS, from_status

EXPECTED = {
    "BITGASK_E_INVALID_ARG": bitgask.InvalidArgumentError,
    "BITGASK_E_NULL_ARG": bitgask.NullArgumentError,
    "BITGASK_E_BUFFER_TOO_SMALL": bitgask.BufferTooSmallError,
    "BITGASK_E_IO": bitgask.IoError,
    "BITGASK_E_CORRUPT": bitgask.CorruptError,
    "BITGASK_E_LOCKED": bitgask.LockedError,
    "BITGASK_E_CLOSED": bitgask.ClosedError,
    "BITGASK_E_TOO_LARGE": bitgask.TooLargeError,
    "BITGASK_E_FORMAT_VERSION": bitgask.FormatVersionError,
    "BITGASK_E_PANIC": bitgask.PanicError,
    "BITGASK_E_POISONED": bitgask.PoisonedError,
    "BITGASK_E_CONFLICT": bitgask.ConflictError,
    "BITGASK_E_NO_SPACE": bitgask.NoSpaceError,
}


def header_error_statuses() -> list[str]:
    return [n for n in dir(lib) if n.startswith("BITGASK_E_")]


def test_every_error_status_of_the_header_has_its_own_class() -> None:
    missing = [n for n in header_error_statuses() if n not in BY_NAME]
    assert missing == [], "map the new status in bitgask/_errors.py"
    classes = [BY_STATUS[getattr(lib, n)] for n in header_error_statuses()]
    assert len(set(classes)) == len(classes)
    assert bitgask.Error not in classes


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_status_maps_to_class(name: str) -> None:
    status = getattr(lib, name)
    e = from_status(status, ffi.NULL)
    assert type(e) is EXPECTED[name]
    assert isinstance(e, bitgask.Error)
    assert e.status == status
    assert e.message == ffi.string(lib.bitgask_status_str(status)).decode()


def test_conflict_error_waits_for_its_status() -> None:
    # The C API gains BITGASK_E_CONFLICT with transactions; until then nothing maps to it.
    assert issubclass(bitgask.ConflictError, bitgask.Error)
    assert (bitgask.ConflictError in BY_STATUS.values()) == hasattr(lib, "BITGASK_E_CONFLICT")


def test_an_unknown_status_is_a_plain_error() -> None:
    e = from_status(-999, ffi.NULL)
    assert type(e) is bitgask.Error and e.status == -999


def test_errors_pickle_with_status_and_message() -> None:
    e = pickle.loads(pickle.dumps(bitgask.LockedError(-6, "held")))
    assert type(e) is bitgask.LockedError and e.status == -6 and e.message == "held" and str(e) == "held"


def test_value_error_subclasses() -> None:
    assert issubclass(bitgask.InvalidArgumentError, ValueError)
    assert issubclass(bitgask.TooLargeError, ValueError)
    assert issubclass(bitgask.ForkedError, bitgask.ClosedError)


# ---- the statuses a user can reach, reached for real ----


def test_locked(path: Path) -> None:
    with bitgask.open(path):
        with pytest.raises(bitgask.LockedError) as info:
            bitgask.open(path)
    assert info.value.status == lib.BITGASK_E_LOCKED and "LOCK" in info.value.message


def test_format_version(path: Path) -> None:
    with bitgask.open(path) as db:
        db[b"k"] = b"v"
    (path / "data" / "bitgask.meta").write_text(json.dumps({"version": 99, "created": "2030-01-01T00:00:00Z"}))
    with pytest.raises(bitgask.FormatVersionError) as info:
        bitgask.open(path)
    assert "bitgask.meta" in info.value.message


def corrupt_a_sealed_file(path: Path) -> None:
    """Two data files at least, no hints, and a flipped byte inside the first (sealed) one."""
    opts = {"max_file_size": 256, "hint_files": False}
    with bitgask.open(path, **opts) as db:
        for i in range(20):
            db[b"key%02d" % i] = b"x" * 40
    first = path / "data" / "000000001.data"
    data = bytearray(first.read_bytes())
    data[30] ^= 0x04
    first.write_bytes(bytes(data))


def test_corrupt(path: Path) -> None:
    corrupt_a_sealed_file(path)
    with pytest.raises(bitgask.CorruptError) as info:
        bitgask.open(path, hint_files=False)
    assert "000000001.data" in info.value.message


def test_io_or_invalid_for_a_regular_file(tmp_path: Path) -> None:
    (tmp_path / "file").write_bytes(b"x")
    with pytest.raises(bitgask.Error) as info:
        bitgask.open(tmp_path / "file")
    assert type(info.value) in (bitgask.IoError, bitgask.InvalidArgumentError)
    assert "file" in info.value.message


def test_closed(path: Path) -> None:
    db = bitgask.open(path)
    db.close()
    with pytest.raises(bitgask.ClosedError):
        db.get(b"k")
