"""One DB from many threads, and the GIL released during library calls."""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import bitgask


def test_eight_threads_share_one_db(db: bitgask.DB) -> None:
    def work(t: int) -> None:
        for i in range(300):
            key = b"t%d-%03d" % (t, i)
            db[key] = key * 3
            assert db[key] == key * 3
            assert key in db
            if i % 3 == 0:
                del db[key]
        assert len(list(db.keys(b"t%d-" % t))) == 200

    with ThreadPoolExecutor(8) as pool:
        for f in [pool.submit(work, t) for t in range(8)]:
            f.result()
    assert db.stats().keys == 8 * 200


def test_the_gil_is_released_while_a_call_blocks(path: Path) -> None:
    # A second open waits for the LOCK inside bitgask_open. If that call held the GIL, this thread
    # could not run to close the first handle, and the wait would end in LockedError instead.
    first = bitgask.open(path)
    outcome: list[str] = []

    def second_open() -> None:
        try:
            with bitgask.open(path, lock_timeout_ms=10_000):
                outcome.append("opened")
        except bitgask.Error as e:
            outcome.append(repr(e))

    t = threading.Thread(target=second_open)
    start = time.monotonic()
    t.start()
    time.sleep(0.3)
    first.close()
    t.join()
    assert outcome == ["opened"]
    assert time.monotonic() - start < 5
