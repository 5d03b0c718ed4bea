"""Keys, values and paths as the C API takes them."""

from __future__ import annotations

import math
import os
from typing import Any, Union

from ._bitgask import ffi

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
