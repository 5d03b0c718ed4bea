package bitgask

// #include <stdlib.h>
// #include "bitgask.h"
import "C"

// Status is a C status number (bitgask_status): zero or a positive outcome, or a negative error.
type Status int32

// The statuses of bitgask.h; their numbers are stable and never reused.
const (
	StatusOK             Status = C.BITGASK_OK
	StatusNotFound       Status = C.BITGASK_NOT_FOUND
	StatusIterDone       Status = C.BITGASK_ITER_DONE
	StatusInvalidArg     Status = C.BITGASK_E_INVALID_ARG
	StatusNullArg        Status = C.BITGASK_E_NULL_ARG
	StatusBufferTooSmall Status = C.BITGASK_E_BUFFER_TOO_SMALL
	StatusIO             Status = C.BITGASK_E_IO
	StatusCorrupt        Status = C.BITGASK_E_CORRUPT
	StatusLocked         Status = C.BITGASK_E_LOCKED
	StatusClosed         Status = C.BITGASK_E_CLOSED
	StatusTooLarge       Status = C.BITGASK_E_TOO_LARGE
	StatusFormatVersion  Status = C.BITGASK_E_FORMAT_VERSION
	StatusPanic          Status = C.BITGASK_E_PANIC
	StatusPoisoned       Status = C.BITGASK_E_POISONED
	StatusConflict       Status = C.BITGASK_E_CONFLICT
	StatusNoSpace        Status = C.BITGASK_E_NO_SPACE
)

// String is the library's static text for the status.
func (s Status) String() string { return C.GoString(C.bitgask_status_str(C.bitgask_status(s))) }

// Error is a failed call: the C status and the library's message, which names the file, offset
// or limit involved. Use errors.As to get it, or errors.Is with the Err* values, which match any
// *Error of the same status.
type Error struct {
	Status  Status
	Message string
}

func (e *Error) Error() string { return "bitgask: " + e.Message }

// Is reports whether target is an *Error with the same status.
func (e *Error) Is(target error) bool {
	t, ok := target.(*Error)
	return ok && t.Status == e.Status
}

func sentinel(s Status) *Error { return &Error{Status: s, Message: s.String()} }

// Values to compare with errors.Is. Get returns ErrNotFound itself for an absent key.
var (
	ErrNotFound      = sentinel(StatusNotFound)
	ErrInvalidArg    = sentinel(StatusInvalidArg)
	ErrIO            = sentinel(StatusIO)
	ErrCorrupt       = sentinel(StatusCorrupt)
	ErrLocked        = sentinel(StatusLocked)
	ErrClosed        = sentinel(StatusClosed)
	ErrTooLarge      = sentinel(StatusTooLarge)
	ErrFormatVersion = sentinel(StatusFormatVersion)
	ErrPanic         = sentinel(StatusPanic)
	ErrPoisoned      = sentinel(StatusPoisoned)
	ErrConflict      = sentinel(StatusConflict)
	ErrNoSpace       = sentinel(StatusNoSpace)
)

// newError converts a failed call's status and error object (which it frees; may be NULL).
func newError(s C.bitgask_status, e *C.bitgask_error) error {
	msg := C.GoString(C.bitgask_status_str(s))
	if e != nil {
		msg = C.GoString(C.bitgask_error_message(e))
		C.bitgask_error_free(e)
	}
	return &Error{Status: Status(s), Message: msg}
}

func invalid(msg string) error {
	return &Error{Status: StatusInvalidArg, Message: "invalid argument: " + msg}
}

func closedError() error {
	return &Error{Status: StatusClosed, Message: "closed: the database is closed"}
}
