"""The cffi builder of bitgask._bitgask: out-of-line API mode over the derived cdef."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import cffi

from .cdef import derive
from .library import SYSTEM_LIBS

MODULE = "bitgask._bitgask"


def builder(header: Path) -> cffi.FFI:
    """An FFI whose generated C includes the real header: API mode, so the compiler checks every
    derived declaration (and every integer constant's value) against it, and cffi's wrappers
    release the GIL around each call."""
    ffi = cffi.FFI()
    ffi.cdef(derive(header.read_text(encoding="utf-8")).text)
    ffi.set_source(MODULE, '#include "bitgask.h"')
    return ffi


def extension_args(header: Path, static_lib: Path) -> dict[str, Any]:
    """How the generated C is compiled and linked: against the static library, whose Rust
    standard library stays private to the extension."""
    return {
        "include_dirs": [str(header.parent)],
        "extra_objects": [str(static_lib)],
        "libraries": SYSTEM_LIBS,
        "extra_link_args": ["-Wl,--exclude-libs,ALL", "-Wl,--gc-sections"],
    }
