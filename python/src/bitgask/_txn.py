"""bitgask.Transaction: an optimistic transaction (bitgask_txn_*)."""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING, Any, Optional, TypeVar, Union, overload

from ._bitgask import ffi, lib
from ._buffers import Buffer, as_buffer, get_value, key_exists, put_value
from ._errors import ClosedError, from_status
from ._iterators import ItemIterator, KeyIterator, _Cursor

if TYPE_CHECKING:
    from types import TracebackType

    from ._db import DB
    from ._guard import Guard

T = TypeVar("T")
C = TypeVar("C", bound=_Cursor[Any])


class Transaction:
    """Reads see the database as it is now, merged with the transaction's own writes; writes are
    buffered and written all or nothing by commit(), which raises ConflictError (writing
    nothing) when a key the transaction read was written by someone else since.

        with db.transaction() as t:   # committed when the block ends without an exception
            n = int(t.get(b"n", b"0"))
            t.put(b"n", b"%d" % (n + 1))

    db.transaction_retry(fn) runs the usual retry loop. A transaction holds no lock; after
    commit() or discard() (or once its database is closed) every call raises ClosedError. One
    Transaction may be shared between threads (a lock orders the calls), but it is one unit of
    work: give each thread its own.
    """

    def __init__(self, db: DB, guard: Guard, txn: Any) -> None:
        self._db = db  # keeps the DB (and so its handle) from being collected first
        self._guard = guard
        self._txn: Optional[Any] = txn
        self._lock = threading.Lock()

    def _call(self, fn: Any, *args: Any) -> int:
        """Calls fn(txn, *args, &err) inside the database's guard; raises on an error status."""
        err = ffi.new("bitgask_error **")
        with self._lock:
            txn = self._open()
            self._guard.enter()
            try:
                status: int = fn(txn, *args, err)
            finally:
                self._guard.leave()
        if status < 0:
            raise from_status(status, err[0])
        return status

    def _open(self) -> Any:
        if self._txn is None:
            raise ClosedError(lib.BITGASK_E_CLOSED, "the transaction has ended (committed or discarded)")
        return self._txn

    @property
    def ended(self) -> bool:
        return self._txn is None

    # ---- reads (each checked at commit, also when it found nothing) ----

    @overload
    def get(self, key: Buffer) -> Optional[bytes]: ...
    @overload
    def get(self, key: Buffer, default: T) -> Union[bytes, T]: ...

    def get(self, key: Buffer, default: Any = None) -> Any:
        """The value of key as the transaction sees it, or default when absent."""
        return get_value(self._call, lib.bitgask_txn_get, key, default)

    def __getitem__(self, key: Buffer) -> bytes:
        value = self.get(key, _MISSING)
        if value is _MISSING:
            raise KeyError(key)
        return value

    def __contains__(self, key: object) -> bool:
        return key_exists(self._call, lib.bitgask_txn_exists, key)  # type: ignore[arg-type]

    def keys(self, prefix: Buffer = b"") -> KeyIterator:
        """Keys starting with prefix, in byte order: the database's merged with this
        transaction's writes so far. Each key it returns counts as read (keys others add to the
        range meanwhile are not detected: no phantom protection)."""
        return self._cursor(KeyIterator, prefix)

    def items(self, prefix: Buffer = b"") -> ItemIterator:
        """(key, value) pairs as keys() yields them."""
        return self._cursor(ItemIterator, prefix)

    def __iter__(self) -> KeyIterator:
        return self.keys()

    def _cursor(self, cls: type[C], prefix: Buffer) -> C:
        p = as_buffer(prefix, "prefix")
        out = ffi.new("bitgask_iter **")
        self._call(lib.bitgask_txn_iter_new, p, len(p), out)
        return cls(self, self._guard, out[0])

    # ---- writes (buffered until commit) ----

    def put(self, key: Buffer, value: Buffer, ttl: Optional[float] = None) -> None:
        """Buffers a put; with ttl (seconds), the key expires that long after the commit."""
        put_value(self._call, lib.bitgask_txn_put, lib.bitgask_txn_put_ttl, key, value, ttl)

    def delete(self, key: Buffer) -> None:
        """Buffers a delete (of a key that may be absent)."""
        k = as_buffer(key)
        self._call(lib.bitgask_txn_delete, k, len(k))

    def __setitem__(self, key: Buffer, value: Buffer) -> None:
        self.put(key, value)

    def __delitem__(self, key: Buffer) -> None:
        self.delete(key)

    # ---- the end ----

    def commit(self) -> None:
        """Writes the buffered writes as one batch; ConflictError (nothing written) when a key
        read was written by someone else since. The transaction has ended either way."""
        err = ffi.new("bitgask_error **")
        with self._lock:
            txn = self._open()
            try:
                self._guard.enter()
            except ClosedError:
                self._discard_locked()  # the database is closed: free the C object, then say so
                raise
            self._txn = None  # bitgask_txn_commit frees it whatever the result
            try:
                status = lib.bitgask_txn_commit(txn, err)
            finally:
                self._guard.leave()
        if status < 0:
            raise from_status(status, err[0])

    def discard(self) -> None:
        """Ends the transaction without writing anything. Idempotent."""
        with self._lock:
            self._discard_locked()

    def _discard_locked(self) -> None:
        txn, self._txn = self._txn, None
        # A forked child leaves the parent's objects alone (their locks may be held by a thread
        # that does not exist here); the memory is the parent's to free.
        if txn is not None and not self._guard.forked():
            lib.bitgask_txn_discard(txn)

    def __enter__(self) -> Transaction:
        self._open()
        return self

    def __exit__(
        self, exc_type: Optional[type[BaseException]], exc: Optional[BaseException], tb: Optional[TracebackType]
    ) -> None:
        """Commits when the block ended without an exception (ConflictError propagates);
        discards otherwise. Ended already (commit() or discard() in the block): nothing to do."""
        if exc_type is None and not self.ended:
            self.commit()
        else:
            self.discard()

    def __del__(self) -> None:
        # Never committed: dropped, as a with block ending in an exception drops it.
        if getattr(self, "_txn", None) is not None:
            try:
                self._discard_locked()
            except Exception:  # noqa: BLE001 - nowhere to report it from a finalizer (or at shutdown)
                pass

    def __repr__(self) -> str:
        return f"<bitgask.Transaction{' ended' if self.ended else ''}>"


_MISSING: Any = object()
