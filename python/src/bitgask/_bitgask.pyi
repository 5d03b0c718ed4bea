# The cffi extension built from include/bitgask.h (see build_ffi/). Its functions and constants
# mirror the C API one to one; the typed wrappers around them are the package's public API.
from typing import Any

ffi: Any
lib: Any
