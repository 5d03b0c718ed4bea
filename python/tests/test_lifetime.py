"""Lifetime: the context manager and the LOCK, close, use after close, garbage collection, fork."""

from __future__ import annotations

import gc
import os
import sys
import threading
import time
import warnings
from pathlib import Path
from typing import Any

import pytest

import bitgask
import bitgask._db
from conftest import FAST


def test_leaving_the_block_closes_and_releases_the_lock(path: Path) -> None:
    with bitgask.open(path) as db:
        with pytest.raises(bitgask.LockedError):
            bitgask.open(path)
    assert db.closed
    with bitgask.open(path):
        pass


def test_an_exception_in_the_block_still_closes(path: Path) -> None:
    with pytest.raises(RuntimeError):
        with bitgask.open(path) as db:
            db[b"k"] = b"v"
            raise RuntimeError("boom")
    assert db.closed
    with bitgask.open(path) as db:
        assert db[b"k"] == b"v"


def test_close_is_idempotent(path: Path) -> None:
    db = bitgask.open(path)
    db.close()
    db.close()
    assert db.closed


@pytest.mark.parametrize(
    "use",
    [
        lambda db: db.put(b"k", b"v"),
        lambda db: db.get(b"k"),
        lambda db: b"k" in db,
        lambda db: db.delete(b"k"),
        lambda db: db.ttl(b"k"),
        lambda db: db.stats(),
        lambda db: db.sync(),
        lambda db: db.merge(),
        lambda db: list(db),
    ],
    ids=["put", "get", "contains", "delete", "ttl", "stats", "sync", "merge", "iter"],
)
def test_every_call_after_close_raises_closed_error(path: Path, use: object) -> None:
    db = bitgask.open(path)
    db.close()
    with pytest.raises(bitgask.ClosedError) as info:
        use(db)  # type: ignore[operator]
    assert info.value.status == -7


def test_a_db_collected_without_close_closes_itself_with_a_resource_warning(path: Path) -> None:
    db = bitgask.open(path)
    db[b"k"] = b"v"
    with pytest.warns(ResourceWarning, match="unclosed bitgask.DB"):
        del db
        gc.collect()
    with bitgask.open(path) as db:  # the LOCK was released
        assert db[b"k"] == b"v"


@pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")
def test_an_unclosed_db_is_closed_even_when_warnings_are_errors(path: Path) -> None:
    db = bitgask.open(path)
    with warnings.catch_warnings():
        warnings.simplefilter("error", ResourceWarning)
        del db
        gc.collect()
    with bitgask.open(path):  # the LOCK was released
        pass


def test_a_closed_db_collects_silently(path: Path) -> None:
    db = bitgask.open(path)
    db.close()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        del db
        gc.collect()


def test_a_failed_open_leaves_nothing_to_finalize(tmp_path: Path) -> None:
    (tmp_path / "file").write_bytes(b"x")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with pytest.raises(bitgask.Error):
            bitgask.open(tmp_path / "file")
        gc.collect()


def test_close_waits_for_calls_in_flight_and_later_calls_raise(path: Path) -> None:
    db = bitgask.open(path, **FAST)
    failures: list[BaseException] = []
    calls = [0] * 8

    def hammer(n: int) -> None:
        key = b"k%d" % n
        try:
            while True:
                db[key] = b"v" * 100
                assert db[key] == b"v" * 100
                calls[n] += 1
        except bitgask.ClosedError:
            pass
        except BaseException as e:  # noqa: BLE001 - reported by the main thread
            failures.append(e)

    threads = [threading.Thread(target=hammer, args=(n,)) for n in range(8)]
    for t in threads:
        t.start()
    while min(calls) == 0:
        time.sleep(0.01)
    db.close()
    for t in threads:
        t.join()
    assert failures == []
    with bitgask.open(path) as db:
        assert len(list(db)) == 8


# Python 3.12+ warns about fork() in a process with threads (the library's worker threads): that
# hazard is exactly why the child must not touch the handle.
@pytest.mark.filterwarnings("ignore:This process .* is multi-threaded:DeprecationWarning")
def test_a_forked_child_gets_a_clear_error_and_the_parent_keeps_its_handle(path: Path) -> None:
    db = bitgask.open(path)
    db[b"k"] = b"v"
    t = db.transaction()
    pid = os.fork()
    if pid == 0:  # the child: report through the exit code only
        code = 1
        try:
            try:
                db.get(b"k")
            except bitgask.ForkedError as e:
                code = 0 if f"process {os.getppid()}" in str(e) and isinstance(e, bitgask.ClosedError) else 2
            try:
                t.get(b"k")
                code = 3
            except bitgask.ForkedError:
                pass
            t.discard()  # leaves the parent's transaction alone
            db.close()  # forgets the handle without touching the parent's LOCK
        finally:
            os._exit(code)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    assert db[b"k"] == b"v"
    t.put(b"j", b"parent")
    t.commit()
    assert db[b"j"] == b"parent"
    with pytest.raises(bitgask.LockedError):
        bitgask.open(path)
    db.close()


def test_repr(path: Path) -> None:
    db = bitgask.open(path)
    assert repr(db) == f"<bitgask.DB {str(path)!r}>"
    db.close()
    assert repr(db).endswith(" closed>")


# A poisoned handle (an fsync failed, or a panic) cannot be made from here with the release
# library, so these tests stand in a bitgask_close that closes for real and then reports
# BITGASK_E_POISONED, as the library does for a poisoned handle (it still frees everything).
class _PoisonedClose:
    def __init__(self, real: Any) -> None:
        self._real = real

    def __getattr__(self, name: str) -> Any:
        return getattr(self._real, name)

    def bitgask_close(self, handle: Any, err: Any) -> int:
        assert self._real.bitgask_close(handle, err) == 0
        return int(self._real.BITGASK_E_POISONED)


@pytest.fixture
def poisoned_close(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(bitgask._db, "lib", _PoisonedClose(bitgask._db.lib))


@pytest.mark.usefixtures("poisoned_close")
def test_close_of_a_poisoned_handle_raises_once_and_releases_the_lock(path: Path) -> None:
    db = bitgask.open(path)
    with pytest.raises(bitgask.PoisonedError) as info:
        db.close()
    assert info.value.status == -11
    assert db.closed
    db.close()  # already closed: no second error
    with pytest.raises(bitgask.ClosedError):
        db.get(b"k")
    again = bitgask.open(path)  # the LOCK was released
    with pytest.raises(bitgask.PoisonedError):
        again.close()


@pytest.mark.usefixtures("poisoned_close")
def test_leaving_a_block_normally_raises_the_close_error(path: Path) -> None:
    with pytest.raises(bitgask.PoisonedError):
        with bitgask.open(path) as db:
            db[b"k"] = b"v"
    assert db.closed


@pytest.mark.usefixtures("poisoned_close")
def test_leaving_a_block_by_an_exception_keeps_that_exception(path: Path) -> None:
    with pytest.raises(RuntimeError, match="boom") as info:
        with bitgask.open(path) as db:
            raise RuntimeError("boom")
    assert db.closed
    if sys.version_info >= (3, 11):
        assert any("PoisonedError" in note for note in info.value.__notes__)


@pytest.mark.usefixtures("poisoned_close")
def test_a_poisoned_db_collected_unclosed_warns_and_swallows_the_error(path: Path) -> None:
    db = bitgask.open(path)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        del db
        gc.collect()
    assert [w.category for w in caught] == [ResourceWarning]
    db = bitgask.open(path)  # the LOCK was released
    with pytest.raises(bitgask.PoisonedError):
        db.close()
