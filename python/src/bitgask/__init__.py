"""bitgask: a Bitcask-style log-structured key-value store, through its C library.

    import bitgask
    with bitgask.open("/var/lib/app/db", sync_on_put=False, sync_interval_ms=1000) as db:
        db[b"user:1"] = b"ada"
        db.put(b"session:9", b"token", ttl=30.0)
        for key, value in db.items(prefix=b"user:"):
            ...
"""

from ._bitgask import ffi as _ffi
from ._bitgask import lib as _lib
from ._db import DB, Stats, open
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
from ._report import Counts, Problem, Report, repair, validate

# The library's version (bitgask_version()), which is also the package's.
__version__: str = _ffi.string(_lib.bitgask_version()).decode()

__all__ = [
    "DB", "Stats", "open", "validate", "repair", "Report", "Problem", "Counts",
    "KeyIterator", "ItemIterator", "ValueIterator",
    "Error", "InvalidArgumentError", "NullArgumentError", "BufferTooSmallError", "IoError",
    "CorruptError", "LockedError", "ClosedError", "ForkedError", "TooLargeError",
    "FormatVersionError", "PanicError", "PoisonedError", "ConflictError", "NoSpaceError",
]
