"""bitgask: a Bitcask-style log-structured key-value store, through its C library.

    import bitgask
    with bitgask.open("/var/lib/app/db", sync_on_put=False, sync_interval_ms=1000) as db:
        db[b"user:1"] = b"ada"
        db.put(b"session:9", b"token", ttl=30.0)
        for key, value in db.items(prefix=b"user:"):
            ...
        with db.batch() as b:                # all or nothing
            b.put(b"user:2", b"grace")
            b.delete(b"session:9")
        with db.transaction() as t:          # bitgask.ConflictError when a read key changed
            t.put(b"n", b"%d" % (int(t.get(b"n", b"0")) + 1))
"""

from ._bitgask import ffi as _ffi
from ._bitgask import lib as _lib
from ._batch import Batch
from ._db import DB, Space, Stats, open
from ._errors import (
    BufferTooSmallError,
    ClosedError,
    ConflictError,
    CorruptError,
    Error,
    ForkedError,
    FormatVersionError,
    InvalidArgumentError,
    IoError,
    LockedError,
    NoSpaceError,
    NullArgumentError,
    PanicError,
    PoisonedError,
    TooLargeError,
)
from ._iterators import ItemIterator, KeyIterator, ValueIterator
from ._report import AdoptCounts, Counts, Problem, Report, adopt, repair, validate
from ._txn import Transaction

# The library's version (bitgask_version()), which is also the package's.
__version__: str = _ffi.string(_lib.bitgask_version()).decode()

__all__ = [
    "DB", "Space", "Stats", "open", "Batch", "Transaction", "validate", "repair", "adopt", "Report", "Problem", "Counts",
    "AdoptCounts",
    "KeyIterator", "ItemIterator", "ValueIterator",
    "Error", "InvalidArgumentError", "NullArgumentError", "BufferTooSmallError", "IoError",
    "CorruptError", "LockedError", "ClosedError", "ForkedError", "TooLargeError",
    "FormatVersionError", "PanicError", "PoisonedError", "ConflictError", "NoSpaceError",
]
