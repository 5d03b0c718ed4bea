"""A sample program that `mypy --strict` checks against the installed package's type information
(make test-python). It is not a test module: it only has to type-check."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import bitgask


def main(path: Path) -> int:
    with bitgask.open(path, sync_on_put=False, sync_interval_ms=1000, compression="snappy") as db:
        db[b"user:1"] = b"ada"
        db.put(bytearray(b"session:9"), memoryview(b"token"), ttl=30.0)
        name: bytes = db[b"user:1"]
        maybe: Optional[bytes] = db.get(b"user:2")
        either: bytes | str = db.get(b"user:2", "nobody")
        remaining: Optional[float] = db.ttl(b"session:9")
        existed: bool = db.delete(b"user:3")
        found: bool = b"user:1" in db
        keys: list[bytes] = list(db.keys(prefix=b"user:"))
        pairs: list[tuple[bytes, bytes]] = list(db.items(start=b"a", stop=b"m"))
        for key in db:
            print(key.hex())
        stats: bitgask.Stats = db.stats()
        merged: bool = db.merge(force=True)
        print(name, maybe, either, remaining, existed, found, keys, pairs, stats.dead_bytes, merged)
        with db.batch() as b:
            b.put(b"user:4", b"grace", ttl=60.0)
            b.delete(b"user:1")
            print(len(b))
        batch = bitgask.Batch()
        batch[b"user:5"] = b"linus"
        db.write(batch)
        with db.transaction() as t:
            seen: Optional[bytes] = t.get(b"user:4")
            t.put(b"user:6", seen or b"")
            names: list[bytes] = list(t.keys(b"user:"))
            print(names)

        def count_users(t: bitgask.Transaction) -> int:
            return sum(1 for _ in t.items(b"user:"))

        users: int = db.transaction_retry(count_users, attempts=5)
        try:
            with db.transaction() as t:
                t.put(b"user:7", b"x")
        except bitgask.ConflictError as conflict:
            print(conflict.status, users)
    report: bitgask.Report = bitgask.validate(path)
    for problem in report.problems:
        print(problem.kind, problem.file, problem.offset)
    try:
        bitgask.repair(path, lock_timeout_ms=100)
    except bitgask.LockedError as e:
        print(e.status, e.message)
        return 1
    return 0 if report.clean else 2


if __name__ == "__main__":
    import sys

    sys.exit(main(Path(sys.argv[1])))
