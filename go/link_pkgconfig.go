//go:build !bitgask_local

package bitgask

// The default: link the installed library (make install) found through pkg-config. With a
// prefix outside the linker's search path, set PKG_CONFIG_PATH and either LD_LIBRARY_PATH or
// CGO_LDFLAGS="-Wl,-rpath,<prefix>/lib".

// #cgo pkg-config: bitgask
import "C"
