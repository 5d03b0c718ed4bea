"""bitgask.Error and its subclasses, one per C status, mapped by the status's name in the header."""

from __future__ import annotations

from typing import Any

from ._bitgask import ffi, lib


class Error(Exception):
    """A failed bitgask call. `status` is the C status number (a `BITGASK_E_*` constant), `message`
    the library's detail naming the file, offset or limit involved."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message

    def __reduce__(self) -> tuple[Any, ...]:
        return (type(self), (self.status, self.message))

    def __str__(self) -> str:
        return self.message


class InvalidArgumentError(Error, ValueError):
    """A bad argument or option value (BITGASK_E_INVALID_ARG); also a ValueError."""


class NullArgumentError(Error):
    """BITGASK_E_NULL_ARG: the binding passed NULL where the C API needs a pointer (a binding bug)."""


class BufferTooSmallError(Error):
    """BITGASK_E_BUFFER_TOO_SMALL (the binding never passes a caller's buffer; a binding bug)."""


class IoError(Error):
    """BITGASK_E_IO: the operating system refused a read, write, sync, rename or open."""


class CorruptError(Error):
    """BITGASK_E_CORRUPT: damaged data that is not a torn tail; bitgask.repair() mends it."""


class LockedError(Error):
    """BITGASK_E_LOCKED: another handle, in this or another process, has the database open."""


class ClosedError(Error):
    """BITGASK_E_CLOSED: the database (or the iterator's database) is closed."""


class ForkedError(ClosedError):
    """The handle belongs to the parent of this forked process; open the database again here."""


class TooLargeError(Error, ValueError):
    """BITGASK_E_TOO_LARGE: a key or value above the configured limits; also a ValueError."""


class FormatVersionError(Error):
    """BITGASK_E_FORMAT_VERSION: the database was written by a newer format version."""


class PanicError(Error):
    """BITGASK_E_PANIC: the library hit an internal bug; the handle is poisoned."""


class PoisonedError(Error):
    """BITGASK_E_POISONED: an earlier fsync failure or panic poisoned the handle; reopen it."""


class ConflictError(Error):
    """BITGASK_E_CONFLICT: a transaction's commit found a key it read written by someone else
    since; nothing was written."""


class NoSpaceError(Error):
    """BITGASK_E_NO_SPACE: the file system is full; nothing was lost and the handle stays usable.
    Delete keys, then merge to reclaim their space."""


# Each error status of the header by name. A status the header defines and this table lacks fails
# the test suite (tests/test_errors.py), so a new status cannot be silently mapped to plain Error.
BY_NAME: dict[str, type[Error]] = {
    "BITGASK_E_INVALID_ARG": InvalidArgumentError,
    "BITGASK_E_NULL_ARG": NullArgumentError,
    "BITGASK_E_BUFFER_TOO_SMALL": BufferTooSmallError,
    "BITGASK_E_IO": IoError,
    "BITGASK_E_CORRUPT": CorruptError,
    "BITGASK_E_LOCKED": LockedError,
    "BITGASK_E_CLOSED": ClosedError,
    "BITGASK_E_TOO_LARGE": TooLargeError,
    "BITGASK_E_FORMAT_VERSION": FormatVersionError,
    "BITGASK_E_PANIC": PanicError,
    "BITGASK_E_POISONED": PoisonedError,
    "BITGASK_E_CONFLICT": ConflictError,
    "BITGASK_E_NO_SPACE": NoSpaceError,
}
BY_STATUS: dict[int, type[Error]] = {getattr(lib, n): c for n, c in BY_NAME.items() if hasattr(lib, n)}


def status_text(status: int) -> str:
    return str(ffi.string(lib.bitgask_status_str(status)).decode("utf-8", "replace"))


def from_status(status: int, err: Any) -> Error:
    """The exception for a failed call; frees the C error object `err` (may be NULL)."""
    if err != ffi.NULL:
        message = ffi.string(lib.bitgask_error_message(err)).decode("utf-8", "replace")
        lib.bitgask_error_free(err)
    else:
        message = status_text(status)
    return BY_STATUS.get(status, Error)(status, str(message))


def closed_error() -> ClosedError:
    return ClosedError(lib.BITGASK_E_CLOSED, "the database is closed")
