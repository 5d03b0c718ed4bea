"""bitgask.DB: one open database."""

from __future__ import annotations

import os
import sys
import warnings
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Callable, Iterable, Optional, TypeVar, Union, overload

from ._batch import Batch
from ._bitgask import ffi, lib
from ._buffers import Buffer, PathLike, as_buffer, as_path, copy_out, get_value, key_exists, put_value, ttl_ms
from ._errors import ConflictError, Error, from_status
from ._guard import Guard
from ._iterators import ItemIterator, KeyIterator, ValueIterator, _Cursor
from ._options import OptionValue, new_options
from ._txn import Transaction

if TYPE_CHECKING:
    from types import TracebackType

T = TypeVar("T")
C = TypeVar("C", bound=_Cursor[Any])


@dataclass(frozen=True)
class Stats:
    """Size and garbage figures of a database (bitgask_stats)."""

    keys: int  # keys in the index; expired keys not yet read or collected still count
    data_files: int
    total_bytes: int
    dead_bytes: int  # what a merge would reclaim
    merges: int  # merges completed by this handle
    last_merge_unix_nano: int  # 0 when this handle has not merged


@dataclass(frozen=True)
class Space:
    """The reserve file and whether the disk is full (bitgask_space_get)."""

    reserve_size: int  # the configured reserve (reserve_bytes option)
    reserve_bytes: int  # what the reserve file holds now; 0 once given back on a full disk
    free_bytes: int  # bytes available on the database's file system (0 when unknown)
    no_space_errors: int  # writes failed or refused with NoSpaceError since the handle opened
    full: bool  # puts are refused with NoSpaceError; deletes and merges run
    low: bool  # full, or less free than twice the reserve: merges run file by file


class DB:
    """An open bitgask database: bytes keys to bytes values, in key order.

    Safe to share between threads; every library call runs without the GIL. Use it as a context
    manager, or call close(): a DB garbage-collected while open closes itself with a
    ResourceWarning. Keys and values are bytes-like (bytes, bytearray, memoryview).
    """

    def __init__(self, path: PathLike, **options: OptionValue) -> None:
        self._guard: Optional[Guard] = None
        self.path = os.fspath(path)
        opts = new_options("open", options)
        out = ffi.new("bitgask_db **")
        err = ffi.new("bitgask_error **")
        status = lib.bitgask_open(as_path(path), ffi.NULL if opts is None else opts, out, err)
        if status < 0:
            raise from_status(status, err[0])
        self._handle = out[0]
        self._guard = Guard()

    def _call(self, fn: Any, *args: Any) -> int:
        """Calls fn(handle, *args, &err) inside the guard; raises on an error status."""
        err = ffi.new("bitgask_error **")
        guard = self._checked_guard()
        guard.enter()
        try:
            status: int = fn(self._handle, *args, err)
        finally:
            guard.leave()
        if status < 0:
            raise from_status(status, err[0])
        return status

    def _checked_guard(self) -> Guard:
        assert self._guard is not None, "DB.__init__ failed"
        return self._guard

    # ---- reads and writes ----

    def put(self, key: Buffer, value: Buffer, ttl: Optional[float] = None) -> None:
        """Stores value under key; with ttl (seconds), the key expires that long from now."""
        put_value(self._call, lib.bitgask_put, lib.bitgask_put_ttl, key, value, ttl)

    @overload
    def get(self, key: Buffer) -> Optional[bytes]: ...
    @overload
    def get(self, key: Buffer, default: T) -> Union[bytes, T]: ...

    def get(self, key: Buffer, default: Any = None) -> Any:
        """The value of key, or default when it is absent or expired."""
        return get_value(self._call, lib.bitgask_get, key, default)

    @overload
    def multi_get(self, keys: Iterable[Buffer]) -> list[Optional[bytes]]: ...
    @overload
    def multi_get(self, keys: Iterable[Buffer], default: T) -> list[Union[bytes, T]]: ...

    def multi_get(self, keys: Iterable[Buffer], default: Any = None) -> list[Any]:
        """The values of keys, in their order (default for each absent or expired one), read in
        one call (bitgask_multi_get: their lookups overlap, faster than as many gets). Keys may
        repeat. A key whose read fails raises the error get of that key raises (CorruptError,
        ...), after every value the call read was freed."""
        given = list(keys)
        ks = [as_buffer(k) for k in given]
        n = len(ks)
        vals = ffi.new("uint8_t *[]", n)
        vlens = ffi.new("size_t[]", n)
        statuses = ffi.new("bitgask_status[]", n)
        klens = ffi.new("size_t[]", [len(k) for k in ks])
        self._call(lib.bitgask_multi_get, n, ffi.new("const uint8_t *[]", ks), klens, vals, vlens, statuses)
        out: list[Any] = []
        try:
            for i in range(n):
                if statuses[i] == lib.BITGASK_OK:
                    out.append(copy_out(vals[i], vlens[i]))
                elif statuses[i] == lib.BITGASK_NOT_FOUND:
                    out.append(default)
                else:
                    self._raise_for_key(given[i], statuses[i])
        finally:
            for i in range(n):
                lib.bitgask_free(vals[i])  # NULL for the keys not read
        return out

    def _raise_for_key(self, key: Buffer, status: int) -> None:
        """Raises the error of a key bitgask_multi_get could not read: get's, with its detail,
        or one with the status's text if the key reads by now."""
        self.get(key)
        raise from_status(status, ffi.NULL)

    def delete(self, key: Buffer) -> bool:
        """Deletes key; whether it existed (and had not expired)."""
        k = as_buffer(key)
        return bool(self._call(lib.bitgask_delete, k, len(k)) == lib.BITGASK_OK)

    def __getitem__(self, key: Buffer) -> bytes:
        value = self.get(key, _MISSING)
        if value is _MISSING:
            raise KeyError(key)
        return value

    def __setitem__(self, key: Buffer, value: Buffer) -> None:
        self.put(key, value)

    def __delitem__(self, key: Buffer) -> None:
        if not self.delete(key):
            raise KeyError(key)

    def __contains__(self, key: object) -> bool:
        """One index lookup (bitgask_exists), never a scan."""
        return key_exists(self._call, lib.bitgask_exists, key)  # type: ignore[arg-type]

    # ---- expiry ----

    def expire(self, key: Buffer, ttl: float) -> None:
        """Makes key expire ttl seconds from now (ttl > 0, as for put), keeping its value.
        KeyError when it is absent; ValueError for a ttl of 0 (delete removes a key, persist its
        expiry)."""
        k = as_buffer(key)
        if self._call(lib.bitgask_expire, k, len(k), ttl_ms(ttl)) == lib.BITGASK_NOT_FOUND:
            raise KeyError(key)

    def persist(self, key: Buffer) -> None:
        """Removes key's expiry. KeyError when it is absent."""
        k = as_buffer(key)
        if self._call(lib.bitgask_persist, k, len(k)) == lib.BITGASK_NOT_FOUND:
            raise KeyError(key)

    def ttl(self, key: Buffer) -> Optional[float]:
        """Seconds until key expires (millisecond resolution, rounded up), None when it never
        expires. KeyError when it is absent."""
        k = as_buffer(key)
        out = ffi.new("int64_t *")
        if self._call(lib.bitgask_ttl_ms, k, len(k), out) == lib.BITGASK_NOT_FOUND:
            raise KeyError(key)
        return None if out[0] < 0 else out[0] / 1000

    # ---- batches and transactions ----

    def batch(self) -> Batch:
        """A batch written to this database all or nothing when its with block ends without an
        exception (dropped otherwise): `with db.batch() as b: b.put(k, v); b.delete(k2)`."""
        return Batch(self)

    def write(self, batch: Batch) -> None:
        """Writes every operation of batch all or nothing (the batch is unchanged: it can be
        written again or cleared)."""
        if not isinstance(batch, Batch):
            raise TypeError(f"write() takes a bitgask.Batch, not {type(batch).__name__}")
        batch._write_to(lambda b: self._call(lib.bitgask_write, b))

    def transaction(self) -> Transaction:
        """Begins an optimistic transaction; as a context manager it commits when the block ends
        without an exception (raising ConflictError on a conflict) and is discarded otherwise."""
        out = ffi.new("bitgask_txn **")
        self._call(lib.bitgask_txn_begin, out)
        return Transaction(self, self._checked_guard(), out[0])

    def transaction_retry(self, fn: Callable[[Transaction], T], attempts: int = 10) -> T:
        """Runs fn(t) in a new transaction and commits it, running it again in a fresh one after a
        conflict, up to attempts times in all (then the last ConflictError propagates). fn's
        result is returned; an exception from fn discards the transaction and propagates. fn may
        run more than once, so it should do nothing outside the transaction it cannot repeat."""
        if attempts < 1:
            raise ValueError(f"attempts must be at least 1, not {attempts!r}")
        for attempt in range(attempts):
            t = self.transaction()
            try:
                result = fn(t)
            except BaseException:
                t.discard()
                raise
            try:
                t.commit()
                return result
            except ConflictError:
                if attempt == attempts - 1:
                    raise
        raise AssertionError("unreachable")

    # ---- iteration (a snapshot of the keys taken when the iterator is created) ----

    def __iter__(self) -> KeyIterator:
        return self.keys()

    def keys(self, prefix: Buffer = b"", *, start: Optional[Buffer] = None, stop: Optional[Buffer] = None) -> KeyIterator:
        """Keys in byte order: those starting with prefix, or those in [start, stop)."""
        return self._cursor(KeyIterator, prefix, start, stop)

    def items(
        self, prefix: Buffer = b"", *, start: Optional[Buffer] = None, stop: Optional[Buffer] = None
    ) -> ItemIterator:
        """(key, value) pairs in key order: keys starting with prefix, or in [start, stop)."""
        return self._cursor(ItemIterator, prefix, start, stop)

    def values(
        self, prefix: Buffer = b"", *, start: Optional[Buffer] = None, stop: Optional[Buffer] = None
    ) -> ValueIterator:
        """Values in key order: keys starting with prefix, or in [start, stop)."""
        return self._cursor(ValueIterator, prefix, start, stop)

    def _cursor(self, cls: type[C], prefix: Buffer, start: Optional[Buffer], stop: Optional[Buffer]) -> C:
        out = ffi.new("bitgask_iter **")
        p = as_buffer(prefix, "prefix")
        if start is None and stop is None:
            self._call(lib.bitgask_iter_new, p, len(p), out)
        elif len(p):
            raise ValueError("give a prefix or a start/stop range, not both")
        else:
            s = as_buffer(b"" if start is None else start, "start")
            e = ffi.NULL if stop is None else as_buffer(stop, "stop")
            self._call(lib.bitgask_iter_range, s, len(s), e, 0 if stop is None else len(e), out)
        return cls(self, self._checked_guard(), out[0])

    # ---- maintenance ----

    def stats(self) -> Stats:
        out = ffi.new("bitgask_stats *")
        self._call(lib.bitgask_stats_get, out)
        return Stats(out.keys, out.data_files, out.total_bytes, out.dead_bytes, out.merges, out.last_merge_unix_nano)

    def space(self) -> Space:
        """The reserve, the free space, and whether the handle is full."""
        out = ffi.new("bitgask_space *")
        self._call(lib.bitgask_space_get, out)
        return Space(
            out.reserve_size, out.reserve_bytes, out.free_bytes, out.no_space_errors, bool(out.full), bool(out.low)
        )

    def sync(self) -> None:
        """Makes every write so far durable (needed only with sync_on_put/sync_on_delete off)."""
        self._call(lib.bitgask_sync)

    def merge(self, force: bool = False) -> bool:
        """A full merge (only when its trigger holds, unless force); whether one ran."""
        out = ffi.new("bool *")
        self._call(lib.bitgask_merge, bool(force), out)
        return bool(out[0])

    def backup(self, dest: PathLike) -> None:
        """A point-in-time copy into dest (must not exist, or be an empty directory)."""
        self._call(lib.bitgask_backup, as_path(dest))

    # ---- lifetime ----

    @property
    def closed(self) -> bool:
        return self._guard is None or self._guard.shut

    def close(self) -> None:
        """Waits for calls in flight on other threads, syncs, writes the hint, releases the LOCK and
        frees the handle. Idempotent."""
        guard = self._guard
        if guard is None or not guard.close():
            return
        err = ffi.new("bitgask_error **")
        status = lib.bitgask_close(self._handle, err)
        self._handle = ffi.NULL
        if status < 0:
            raise from_status(status, err[0])

    def __enter__(self) -> DB:
        return self

    def __exit__(
        self, exc_type: Optional[type[BaseException]], exc: Optional[BaseException], tb: Optional[TracebackType]
    ) -> None:
        """Closes the database. A failed close (PoisonedError after an fsync failure, ...) raises
        here unless the block is already raising: then the block's exception goes on, with the
        close error noted on it (Python 3.11+). The handle and its LOCK are released either way."""
        if exc is None:
            self.close()
            return
        try:
            self.close()
        except Error as close_error:
            if sys.version_info >= (3, 11):
                exc.add_note(f"closing the database also failed: {type(close_error).__name__}: {close_error}")

    def __del__(self) -> None:
        guard = getattr(self, "_guard", None)
        if guard is None or guard.shut:
            return
        try:
            if not guard.forked():
                # Raises when warnings are errors (-W error): reported as unraisable, as for files.
                warnings.warn(f"unclosed bitgask.DB {self.path!r}", ResourceWarning, source=self)
        finally:
            try:
                self.close()
            except Exception:  # noqa: BLE001 - nowhere to report it from a finalizer (or at shutdown)
                pass

    def __repr__(self) -> str:
        return f"<bitgask.DB {self.path!r}{' closed' if self.closed else ''}>"


_MISSING: Any = object()


def open(path: PathLike, **options: OptionValue) -> DB:  # noqa: A001 - the module's entry point
    """Opens (creating if missing) the database in directory path. Options are the C library's
    (sync_on_put=False, sync_interval_ms=1000, compression="snappy", max_file_size=..., the merge
    options, ...); a bad value raises ValueError, an unknown name TypeError."""
    return DB(path, **options)
