"""Keys, values and paths as the C API takes them."""

from __future__ import annotations

import math
import os
from typing import Any, Callable, Optional, Union

from ._bitgask import ffi, lib

# What a key or value may be: any contiguous bytes-like object.
Buffer = Union[bytes, bytearray, memoryview]
PathLike = Union[str, "os.PathLike[str]"]


def as_buffer(obj: Buffer, what: str = "key") -> Any:
    """A `uint8_t[]` view of obj's bytes, without copying. The view holds a buffer export, so a
    bytearray cannot be resized while the C call (running without the GIL) reads it."""
    if isinstance(obj, str):
        raise TypeError(f"{what} must be bytes-like (bytes, bytearray, memoryview), not str: encode it first")
    try:
        return ffi.from_buffer("uint8_t[]", obj)
    except TypeError:
        raise TypeError(
            f"{what} must be bytes-like (bytes, bytearray, memoryview), not {type(obj).__name__}"
        ) from None


def as_path(path: PathLike) -> bytes:
    """A NUL-terminated path argument (the C API wants UTF-8)."""
    s = os.fspath(path)
    if not isinstance(s, str):
        raise TypeError(f"path must be str or os.PathLike[str], not {type(s).__name__}")
    return s.encode("utf-8")


def ttl_ms(seconds: float) -> int:
    """Seconds (int or float) as whole milliseconds, rounded up so a key never expires early. A
    TTL is positive: the C library refuses 0 too."""
    if isinstance(seconds, bool) or not isinstance(seconds, (int, float)):
        raise TypeError(f"ttl must be a number of seconds, not {type(seconds).__name__}")
    if not math.isfinite(seconds) or seconds <= 0:
        raise ValueError(f"ttl must be a positive number of seconds, not {seconds!r}")
    return math.ceil(seconds * 1000)


def copy_out(ptr: Any, length: int) -> bytes:
    return bytes(ffi.buffer(ptr, length))


def get_value(call: Callable[..., int], getter: Any, key: Buffer, default: Any) -> Any:
    """Runs getter (bitgask_get or bitgask_txn_get) through call (the owner's checked call) and
    returns a copy of the value the library hands out, freeing the library's, or default when
    the key is absent. DB.get and Transaction.get share it so both copy and free the same way."""
    k = as_buffer(key)
    out = ffi.new("uint8_t **")
    n = ffi.new("size_t *")
    if call(getter, k, len(k), out, n) == lib.BITGASK_NOT_FOUND:
        return default
    try:
        return copy_out(out[0], n[0])
    finally:
        lib.bitgask_free(out[0])


def key_exists(call: Callable[..., int], exists: Any, key: Buffer) -> bool:
    """Runs exists (bitgask_exists or bitgask_txn_exists) through call: whether key is there."""
    k = as_buffer(key)
    out = ffi.new("bool *")
    call(exists, k, len(k), out)
    return bool(out[0])


def put_value(
    call: Callable[..., Any], put: Any, put_ttl: Any, key: Buffer, value: Buffer, ttl: Optional[float]
) -> None:
    """Runs put, or put_ttl with ttl (seconds) as milliseconds when ttl is given, through call:
    the put of DB, Batch and Transaction."""
    k, v = as_buffer(key), as_buffer(value, "value")
    if ttl is None:
        call(put, k, len(k), v, len(v))
    else:
        call(put_ttl, k, len(k), v, len(v), ttl_ms(ttl))
