"""Who may call into a database handle, and when close() may free it.

The C API lets any number of threads use one handle, but bitgask_close() must not race another
call: it frees the handle. Every call therefore enters the guard (a count of calls in flight)
and leaves it after the C function returned; close() marks the guard shut, waits until the count
drops to zero, and only then frees the handle. Calls that arrive after that raise ClosedError.

A handle also belongs to the process that opened it: after fork() the child shares the parent's
file descriptors and LOCK but none of its threads, so any use there (even closing, which would
write a hint and release the parent's lock) raises ForkedError instead.
"""

from __future__ import annotations

import os
import threading

from ._bitgask import lib
from ._errors import ForkedError, closed_error


class Guard:
    __slots__ = ("_cond", "_busy", "_shut", "pid")

    def __init__(self) -> None:
        self._cond = threading.Condition(threading.Lock())
        self._busy = 0
        self._shut = False
        self.pid = os.getpid()

    @property
    def shut(self) -> bool:
        return self._shut

    def forked(self) -> bool:
        return os.getpid() != self.pid

    def enter(self) -> None:
        # Checked before the lock is touched: another thread may have held it during fork().
        if self.forked():
            raise ForkedError(
                lib.BITGASK_E_CLOSED,
                f"this database handle was opened by process {self.pid}; a forked child must open "
                "the database itself (after the parent closed it)",
            )
        with self._cond:
            if self._shut:
                raise closed_error()
            self._busy += 1

    def leave(self) -> None:
        with self._cond:
            self._busy -= 1
            if self._shut and not self._busy:
                self._cond.notify_all()

    def close(self) -> bool:
        """Shuts the guard and waits for calls in flight; False when it was already shut."""
        if self.forked():
            self._shut = True  # the child only forgets the handle; the parent still owns it
            return False
        with self._cond:
            if self._shut:
                return False
            self._shut = True
            while self._busy:
                self._cond.wait()
            return True
