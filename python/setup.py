"""Builds bitgask's Python package: the library from this repository's Rust sources (cargo), then
the cffi extension bitgask._bitgask linked statically against it (build_ffi/ explains each step).
The extension uses CPython's limited API, so one wheel serves every CPython >= 3.9."""

import re
import sys
from pathlib import Path

from setuptools import Extension, setup
from setuptools.command.build_ext import build_ext

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from build_ffi.ffi import MODULE, builder, extension_args  # noqa: E402
from build_ffi.library import source_dir, static_library  # noqa: E402


def cargo_version() -> str:
    """The package carries the library's version (Cargo.toml is the one place it is written)."""
    text = (source_dir(HERE) / "Cargo.toml").read_text(encoding="utf-8")
    m = re.search(r'^version\s*=\s*"([^"]+)"', text, re.M)
    if not m:
        raise RuntimeError("no version in Cargo.toml")
    return m.group(1)


class BuildWithCargo(build_ext):
    """Builds (or finds) libbitgask.a and generates the extension's C before compiling it."""

    def run(self) -> None:
        root = source_dir(HERE)
        header = root / "include" / "bitgask.h"
        lib = static_library(root)
        c_file = Path(self.build_temp) / "_bitgask.c"
        c_file.parent.mkdir(parents=True, exist_ok=True)
        builder(header).emit_c_code(str(c_file))
        for ext in self.extensions:
            ext.sources = [str(c_file)]
            for key, value in extension_args(header, lib).items():
                setattr(ext, key, getattr(ext, key, []) + value)
            ext.depends = [str(header), str(lib)]
        super().run()


setup(
    version=cargo_version(),
    ext_modules=[Extension(MODULE, sources=[], py_limited_api=True)],
    cmdclass={"build_ext": BuildWithCargo},
    options={"bdist_wheel": {"py_limited_api": "cp39"}},
)
