"""The cffi declarations are derived from include/bitgask.h (build_ffi/cdef.py), never copied by
hand: these tests prove the derivation's rules and that the compiled module matches the header."""

from __future__ import annotations

import re
import sys
from pathlib import Path

import pytest

from bitgask._bitgask import ffi, lib

PYTHON_DIR = Path(__file__).resolve().parents[1]
HEADER = PYTHON_DIR.parent / "include" / "bitgask.h"
sys.path.insert(0, str(PYTHON_DIR))

from build_ffi.cdef import HeaderError, derive  # noqa: E402


def header_text() -> str:
    return HEADER.read_text(encoding="utf-8")


def test_the_header_derives_and_cffi_parses_it() -> None:
    import cffi

    cffi.FFI().cdef(derive(header_text()).text)


def test_every_function_of_the_header_is_in_the_module() -> None:
    # An independent reading of the header: every prototype's name.
    names = set(re.findall(r"\b(bitgask_\w+)\s*\([^;{]*\)\s*;", header_text()))
    assert len(names) > 50
    assert sorted(n for n in names if not hasattr(lib, n)) == []


def test_every_integer_macro_has_the_headers_value() -> None:
    macros = re.findall(r"^#define (BITGASK_\w+) \(?(-?\d+)\)?$", header_text(), re.M)
    assert len(macros) > 15
    for name, value in macros:
        assert getattr(lib, name) == int(value), name


def test_string_macros_are_skipped_and_the_version_matches_the_library() -> None:
    cdef = derive(header_text())
    assert set(cdef.skipped) == {"BITGASK_VERSION_STRING"}
    assert cdef.skipped["BITGASK_VERSION_STRING"] == f'"{ffi.string(lib.bitgask_version()).decode()}"'


def test_every_struct_field_of_the_header_is_in_the_module() -> None:
    for struct, body in re.findall(r"typedef struct (bitgask_\w+) \{(.*?)\}", header_text(), re.S):
        body = re.sub(r"//[^\n]*|/\*.*?\*/", "", body, flags=re.S)
        fields = re.findall(r"(\w+)\s*;", body)
        assert [f for f, _ in ffi.typeof(f"struct {struct}").fields] == fields, struct


def test_negative_constants_in_parentheses_become_plain_literals() -> None:
    assert derive("#define A (-3)\n#define B 0x1F\n").text.split("\n") == ["#define A -3", "#define B 0x1F", ""]


def test_comments_and_cplusplus_blocks_and_the_guard_go_with_lines_kept() -> None:
    src = '#ifndef G\n#define G\n#include <stdint.h>\n#ifdef __cplusplus\nextern "C" {\n#endif // c++\nint f(void); /* x */\n#endif\n'
    lines = derive(src).text.split("\n")
    assert lines[6].strip() == "int f(void);"
    assert all(not line.strip() for i, line in enumerate(lines) if i != 6)


@pytest.mark.parametrize(
    "src",
    ["#if X\n#endif\n", "#define F(x) (x)\n", "#define A B\n", "#define A\n", "#pragma once\n", "int a; \\\n"],
)
def test_unknown_constructs_stop_the_build(src: str) -> None:
    with pytest.raises(HeaderError, match="bitgask.h:1"):
        derive(src)
