"""Finds the bitgask sources and the static library the extension links.

`pip install ./python` builds from the repository the python/ directory sits in:
  - BITGASK_SOURCE_DIR names the repository root when python/ was copied elsewhere;
  - BITGASK_LIB_DIR names a directory holding an already-built libbitgask.a (the Makefile passes
    its build/lib so the test run does not build twice); otherwise `cargo build --release` runs in
    the repository, reusing its target/ directory, and the library is taken from there.
The static library is linked into the extension, so the installed package needs no libbitgask.so
at run time.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

LIB_NAME = "libbitgask.a"
# What a Rust static library needs from the system.
SYSTEM_LIBS = ["pthread", "dl", "m"]


class BuildError(RuntimeError):
    pass


def source_dir(python_dir: Path) -> Path:
    env = os.environ.get("BITGASK_SOURCE_DIR")
    root = Path(env).resolve() if env else python_dir.resolve().parent
    if not (root / "Cargo.toml").is_file() or not (root / "include" / "bitgask.h").is_file():
        raise BuildError(
            f"bitgask sources not found in {root}: build from a checkout of the repository "
            "(pip install ./python) or set BITGASK_SOURCE_DIR to its root"
        )
    return root


def static_library(root: Path) -> Path:
    env = os.environ.get("BITGASK_LIB_DIR")
    if env:
        lib = Path(env).resolve() / LIB_NAME
        if not lib.is_file():
            raise BuildError(f"BITGASK_LIB_DIR is set but {lib} does not exist")
        return lib
    cargo = os.environ.get("CARGO") or shutil.which("cargo")
    if not cargo:
        raise BuildError("cargo not found: the Python package builds the library from source (install Rust)")
    subprocess.run([cargo, "build", "--release", "--lib"], cwd=root, check=True)
    target = Path(os.environ.get("CARGO_TARGET_DIR") or root / "target")
    if not target.is_absolute():
        target = root / target
    lib = target / "release" / LIB_NAME
    if not lib.is_file():
        raise BuildError(f"cargo build finished but {lib} does not exist")
    return lib
