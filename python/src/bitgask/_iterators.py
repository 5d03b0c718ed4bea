"""Cursors over a database in key order (bitgask_iter), safe to use after the database closed."""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING, Any, Generic, Optional, Tuple, TypeVar

from ._bitgask import ffi, lib
from ._buffers import copy_out
from ._errors import from_status

if TYPE_CHECKING:
    from types import TracebackType

    from ._guard import Guard

T = TypeVar("T")


class _Cursor(Generic[T]):
    """One C iterator. Each step enters the database's guard, so a step after close() raises
    ClosedError instead of touching freed memory; a lock makes one cursor safe to share between
    threads (the C iterator is single-owner). The C iterator is freed when the cursor is
    exhausted, fails, is closed, or is garbage-collected."""

    _with_values = False

    def __init__(self, owner: object, guard: Guard, it: Any) -> None:
        self._owner = owner  # the DB: it stays open (not collected) while a cursor on it lives
        self._guard = guard
        self._it: Optional[Any] = ffi.gc(it, lib.bitgask_iter_free)
        self._lock = threading.Lock()
        self._key = ffi.new("uint8_t **")
        self._klen = ffi.new("size_t *")
        self._val = ffi.new("uint8_t **") if self._with_values else ffi.NULL
        self._vlen = ffi.new("size_t *")
        self._err = ffi.new("bitgask_error **")

    def __iter__(self) -> _Cursor[T]:
        return self

    def __next__(self) -> T:
        with self._lock:
            if self._it is None:
                raise StopIteration
            self._guard.enter()
            try:
                status = lib.bitgask_iter_next(self._it, self._key, self._klen, self._val, self._vlen, self._err)
                if status == lib.BITGASK_OK:
                    return self._item()
            finally:
                self._guard.leave()
            self._release()
            if status == lib.BITGASK_ITER_DONE:
                raise StopIteration
            raise from_status(status, self._err[0])

    def _item(self) -> T:
        raise NotImplementedError

    def _release(self) -> None:
        it, self._it = self._it, None
        if it is not None:
            ffi.release(it)

    def close(self) -> None:
        """Frees the C iterator now; further steps end the iteration."""
        with self._lock:
            self._release()

    def __enter__(self) -> _Cursor[T]:
        return self

    def __exit__(
        self, exc_type: Optional[type[BaseException]], exc: Optional[BaseException], tb: Optional[TracebackType]
    ) -> None:
        self.close()


class KeyIterator(_Cursor[bytes]):
    """Keys in byte order (values are not read)."""

    def _item(self) -> bytes:
        return copy_out(self._key[0], self._klen[0])


class ItemIterator(_Cursor[Tuple[bytes, bytes]]):
    """(key, value) pairs in key byte order."""

    _with_values = True

    def _item(self) -> Tuple[bytes, bytes]:
        return copy_out(self._key[0], self._klen[0]), copy_out(self._val[0], self._vlen[0])


class ValueIterator(_Cursor[bytes]):
    """Values in key byte order."""

    _with_values = True

    def _item(self) -> bytes:
        return copy_out(self._val[0], self._vlen[0])
