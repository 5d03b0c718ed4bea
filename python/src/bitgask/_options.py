"""Keyword options -> a bitgask_options object.

The option names are the C setters' (`bitgask_options_set_<name>`), discovered from the compiled
module together with each setter's argument type, so an option added to the C API is accepted
here without a change. `compression` takes a codec name ("none", "snappy") or None.
"""

from __future__ import annotations

from typing import Any, Callable, Dict, Optional, Union

from ._bitgask import ffi, lib
from ._errors import from_status

OptionValue = Union[bool, int, float, str, None]

_PREFIX = "bitgask_options_set_"
_CODEC_PREFIX = "BITGASK_CODEC_"
_UINT_BITS = {"uint32_t": 32, "uint64_t": 64}


def _setters() -> Dict[str, Any]:
    return {name[len(_PREFIX) :]: getattr(lib, name) for name in dir(lib) if name.startswith(_PREFIX)}


SETTERS = _setters()
CODECS = {name[len(_CODEC_PREFIX) :].lower(): getattr(lib, name) for name in dir(lib) if name.startswith(_CODEC_PREFIX)}


def _bool(name: str, value: object) -> bool:
    if not isinstance(value, bool):
        raise TypeError(f"option {name} must be a bool, not {type(value).__name__}")
    return value


def _uint(bits: int) -> Callable[[str, object], int]:
    def convert(name: str, value: object) -> int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise TypeError(f"option {name} must be an int, not {type(value).__name__}")
        if not 0 <= value < 1 << bits:
            raise ValueError(f"option {name} must be between 0 and {(1 << bits) - 1}, not {value}")
        return value

    return convert


def _double(name: str, value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(f"option {name} must be a number, not {type(value).__name__}")
    return float(value)


def _codec(name: str, value: object) -> int:
    if value is None:
        value = "none"
    if not isinstance(value, str):
        raise TypeError(f"option {name} must be a codec name or None, not {type(value).__name__}")
    try:
        return int(CODECS[value.lower()])
    except KeyError:
        raise ValueError(f"option {name} must be one of {sorted(CODECS)}, not {value!r}") from None


def _converter(name: str, setter: Any) -> Callable[[str, object], Any]:
    if name == "compression":
        return _codec
    ctype = ffi.typeof(setter).args[1].cname
    if ctype == "_Bool":
        return _bool
    if ctype in _UINT_BITS:
        return _uint(_UINT_BITS[ctype])
    if ctype == "double":
        return _double
    raise TypeError(f"option {name}: C type {ctype} has no conversion")  # a new kind of setter


def new_options(caller: str, options: Dict[str, OptionValue]) -> Optional[Any]:
    """A bitgask_options (freed when garbage), or None (NULL: the defaults) when none are given."""
    if not options:
        return None
    opts = ffi.gc(lib.bitgask_options_new(), lib.bitgask_options_free)
    err = ffi.new("bitgask_error **")
    for name, value in options.items():
        setter = SETTERS.get(name)
        if setter is None:
            raise TypeError(f"{caller}() got an unexpected keyword argument {name!r}")
        status = setter(opts, _converter(name, setter)(name, value), err)
        if status < 0:
            raise from_status(status, err[0])
    return opts
