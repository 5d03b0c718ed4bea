"""bitgask.Batch: puts and deletes written all or nothing (bitgask_batch_*, bitgask_write)."""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING, Any, Optional

from ._bitgask import ffi, lib
from ._buffers import Buffer, as_buffer, put_value
from ._errors import ClosedError, from_status

if TYPE_CHECKING:
    from types import TracebackType

    from ._db import DB


class Batch:
    """Operations collected in memory and written by DB.write() all or nothing: readers never see
    some of them without the others, and after a crash either all are there or none.

        with db.batch() as b:       # written when the block ends without an exception
            b.put(b"a", b"1")
            b.delete(b"b")

    A Batch made directly (bitgask.Batch()) is written with db.write(batch), as often as wanted.
    A key added twice ends with its last operation. The bytes are copied when added; sizes are
    checked against the library's limits here and against the database's when written.
    """

    def __init__(self, db: Optional[DB] = None) -> None:
        self._db = db
        self._lock = threading.Lock()  # the C batch is single-owner; this makes it shareable
        self._ptr: Optional[Any] = ffi.gc(lib.bitgask_batch_new(), lib.bitgask_batch_free)

    def _checked(self) -> Any:
        if self._ptr is None:
            raise ClosedError(lib.BITGASK_E_CLOSED, "the batch is finished: its with block has ended")
        return self._ptr

    def _add(self, fn: Any, *args: Any) -> None:
        err = ffi.new("bitgask_error **")
        with self._lock:
            status = fn(self._checked(), *args, err)
        if status < 0:
            raise from_status(status, err[0])

    def put(self, key: Buffer, value: Buffer, ttl: Optional[float] = None) -> None:
        """Adds a put; with ttl (seconds), the key expires that long after the batch is written."""
        put_value(self._add, lib.bitgask_batch_put, lib.bitgask_batch_put_ttl, key, value, ttl)

    def delete(self, key: Buffer) -> None:
        """Adds a delete (of a key that may be absent: that changes nothing)."""
        k = as_buffer(key)
        self._add(lib.bitgask_batch_delete, k, len(k))

    def __setitem__(self, key: Buffer, value: Buffer) -> None:
        self.put(key, value)

    def __delitem__(self, key: Buffer) -> None:
        self.delete(key)

    def __len__(self) -> int:
        """The number of operations added (0 once finished)."""
        with self._lock:
            return 0 if self._ptr is None else int(lib.bitgask_batch_count(self._ptr))

    def clear(self) -> None:
        """Removes every operation, so the batch can be reused."""
        with self._lock:
            lib.bitgask_batch_clear(self._checked())

    def _write_to(self, write: Any) -> None:
        """Runs write(c_batch) with the batch locked, so no thread changes it meanwhile."""
        with self._lock:
            write(self._checked())

    def _finish(self) -> None:
        with self._lock:
            ptr, self._ptr = self._ptr, None
        if ptr is not None:
            ffi.release(ptr)

    def __enter__(self) -> Batch:
        if self._db is None:
            raise TypeError("a Batch made without a database is written with db.write(batch), not a with block")
        self._checked()
        return self

    def __exit__(
        self, exc_type: Optional[type[BaseException]], exc: Optional[BaseException], tb: Optional[TracebackType]
    ) -> None:
        """Writes the batch when the block ended without an exception; drops it otherwise. The
        batch is finished either way (further use raises ClosedError)."""
        try:
            if exc_type is None and self._db is not None:
                self._db.write(self)
        finally:
            self._finish()

    def __repr__(self) -> str:
        return f"<bitgask.Batch {len(self)} operations{' finished' if self._ptr is None else ''}>"
