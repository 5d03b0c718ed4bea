//go:build bitgask_local

package bitgask

// With the build tag bitgask_local (the repository's own tests, make test-go): the header of this
// checkout and the static library `make lib` leaves in build/lib.

// #cgo CFLAGS: -I${SRCDIR}/../include
// #cgo LDFLAGS: ${SRCDIR}/../build/lib/libbitgask.a -lpthread -ldl -lm
import "C"
