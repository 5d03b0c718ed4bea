"""Optimistic transactions: with db.transaction(), commit/discard, ConflictError, the retry helper."""

from __future__ import annotations

import gc
import random
import threading
import time
from pathlib import Path

import pytest

import bitgask
from conftest import FAST


def test_a_transaction_block_commits_at_its_end(db: bitgask.DB) -> None:
    db[b"n"] = b"1"
    with db.transaction() as t:
        t.put(b"n", b"%d" % (int(t[b"n"]) + 1))
        t[b"m"] = b"x"
        assert db[b"n"] == b"1" and b"m" not in db  # nothing written before the commit
    assert t.ended
    assert db[b"n"] == b"2" and db[b"m"] == b"x"


def test_an_exception_in_the_block_discards(db: bitgask.DB) -> None:
    with pytest.raises(RuntimeError):
        with db.transaction() as t:
            t.put(b"k", b"v")
            raise RuntimeError("boom")
    assert t.ended and b"k" not in db


def test_reads_see_the_transactions_own_writes_first(db: bitgask.DB) -> None:
    db[b"a"] = b"db"
    db[b"b"] = b"db"
    with db.transaction() as t:
        t.put(b"a", b"mine")
        t.delete(b"b")
        t[b"c\x00"] = b"new"
        assert t.get(b"a") == b"mine"
        assert t.get(b"b") is None and b"b" not in t
        assert t.get(b"zz", b"default") == b"default"
        with pytest.raises(KeyError):
            t[b"b"]
        assert list(t.items()) == [(b"a", b"mine"), (b"c\x00", b"new")]
        assert list(t.keys(b"c")) == [b"c\x00"]
        assert list(t) == [b"a", b"c\x00"]
    assert b"b" not in db and db[b"c\x00"] == b"new"


def test_a_conflicting_commit_raises_conflict_error_and_writes_nothing(db: bitgask.DB) -> None:
    db[b"k"] = b"1"
    with pytest.raises(bitgask.ConflictError) as info:
        with db.transaction() as t:
            t.get(b"k")
            db[b"k"] = b"changed"  # someone else writes a key the transaction read
            t.put(b"k", b"mine")
            t.put(b"other", b"x")
    assert info.value.status == -12
    assert isinstance(info.value, bitgask.Error)
    assert db[b"k"] == b"changed" and b"other" not in db


def test_a_read_that_found_nothing_conflicts_too(db: bitgask.DB) -> None:
    t = db.transaction()
    assert b"k" not in t
    db[b"k"] = b"v"
    t.put(b"flag", b"1")
    with pytest.raises(bitgask.ConflictError):
        t.commit()
    assert b"flag" not in db


def test_blind_writes_never_conflict(db: bitgask.DB) -> None:
    t = db.transaction()
    t.put(b"k", b"mine")
    db[b"k"] = b"theirs"
    t.commit()
    assert db[b"k"] == b"mine"


def test_discard_writes_nothing_and_is_idempotent(db: bitgask.DB) -> None:
    t = db.transaction()
    t.put(b"k", b"v")
    t.discard()
    t.discard()
    assert b"k" not in db


def test_commit_or_discard_inside_the_block_ends_it(db: bitgask.DB) -> None:
    with db.transaction() as t:
        t.put(b"a", b"1")
        t.commit()
    with db.transaction() as t:
        t.put(b"b", b"1")
        t.discard()
    assert db[b"a"] == b"1" and b"b" not in db


def test_a_put_with_ttl_expires_after_the_commit(db: bitgask.DB) -> None:
    with db.transaction() as t:
        t.put(b"k", b"v", ttl=60.0)
    ttl = db.ttl(b"k")
    assert ttl is not None and 0 < ttl <= 60


@pytest.mark.parametrize(
    "use",
    [
        lambda t: t.get(b"k"),
        lambda t: b"k" in t,
        lambda t: t.put(b"k", b"v"),
        lambda t: t.delete(b"k"),
        lambda t: t.keys(),
        lambda t: t.commit(),
    ],
    ids=["get", "contains", "put", "delete", "keys", "commit"],
)
@pytest.mark.parametrize("end", ["commit", "discard", "conflict"])
def test_use_after_the_end_raises_closed_error(db: bitgask.DB, end: str, use: object) -> None:
    t = db.transaction()
    t.get(b"k")
    if end == "conflict":
        db[b"k"] = b"x"
        with pytest.raises(bitgask.ConflictError):
            t.commit()
    else:
        getattr(t, end)()
    with pytest.raises(bitgask.ClosedError, match="transaction has ended"):
        use(t)  # type: ignore[operator]
    t.discard()  # still fine


def test_use_after_the_database_closed_raises_closed_error(path: Path) -> None:
    db = bitgask.open(path, **FAST)
    t = db.transaction()
    t.put(b"k", b"v")
    it = t.keys()
    db.close()
    with pytest.raises(bitgask.ClosedError):
        t.get(b"k")
    with pytest.raises(bitgask.ClosedError):
        next(it)
    with pytest.raises(bitgask.ClosedError):
        t.commit()  # frees the C transaction all the same
    assert t.ended
    with bitgask.open(path) as db:
        assert b"k" not in db


def test_begin_on_a_closed_database_raises_closed_error(path: Path) -> None:
    db = bitgask.open(path)
    db.close()
    with pytest.raises(bitgask.ClosedError):
        db.transaction()
    with pytest.raises(bitgask.ClosedError):
        db.transaction_retry(lambda t: None)


def test_a_transaction_collected_unended_is_discarded(db: bitgask.DB) -> None:
    t = db.transaction()
    t.put(b"k", b"v")
    del t
    gc.collect()
    assert b"k" not in db


def test_bad_arguments_raise(db: bitgask.DB) -> None:
    with db.transaction() as t:
        with pytest.raises(bitgask.InvalidArgumentError):
            t.put(b"", b"v")
        with pytest.raises(TypeError):
            t.get("str")  # type: ignore[arg-type]
        with pytest.raises(ValueError):
            t.put(b"k", b"v", ttl=-1)


def test_transaction_retry_runs_again_after_a_conflict(db: bitgask.DB) -> None:
    db[b"n"] = b"0"
    runs = []

    def increment(t: bitgask.Transaction) -> int:
        n = int(t[b"n"])
        runs.append(n)
        if len(runs) == 1:
            db[b"n"] = b"10"  # the first run conflicts
        t[b"n"] = b"%d" % (n + 1)
        return n + 1

    assert db.transaction_retry(increment) == 11
    assert runs == [0, 10] and db[b"n"] == b"11"


def test_transaction_retry_gives_up_after_its_attempts(db: bitgask.DB) -> None:
    runs = []

    def always_conflicts(t: bitgask.Transaction) -> None:
        runs.append(1)
        t.get(b"k")
        db[b"k"] = b"%d" % len(runs)
        t.put(b"mine", b"x")

    with pytest.raises(bitgask.ConflictError):
        db.transaction_retry(always_conflicts, attempts=3)
    assert len(runs) == 3 and b"mine" not in db
    with pytest.raises(ValueError):
        db.transaction_retry(always_conflicts, attempts=0)


def test_transaction_retry_passes_fns_exception_through_and_writes_nothing(db: bitgask.DB) -> None:
    def fails(t: bitgask.Transaction) -> None:
        t.put(b"k", b"v")
        raise LookupError("mine")

    with pytest.raises(LookupError, match="mine"):
        db.transaction_retry(fails)
    assert b"k" not in db


def test_transfers_under_threads_keep_the_total(db: bitgask.DB) -> None:
    # Eight threads move amounts between ten accounts with transaction_retry; the total never
    # changes, as seen by a reader transaction that commits (its reads were all current then).
    accounts = [b"acct:%d" % i for i in range(10)]
    with db.batch() as b:
        for a in accounts:
            b.put(a, b"100")
    bad_totals: list[int] = []
    stop = threading.Event()

    runs = [0]

    def transfer(t: bitgask.Transaction, src: bytes, dst: bytes, amount: int) -> None:
        runs[0] += 1
        s, d = int(t[src]), int(t[dst])
        time.sleep(0)  # lets another thread in between the reads and the writes: conflicts
        t[src] = b"%d" % (s - amount)
        t[dst] = b"%d" % (d + amount)

    def mover(seed: int) -> None:
        rng = random.Random(seed)
        for _ in range(100):
            src, dst = rng.sample(accounts, 2)
            db.transaction_retry(lambda t: transfer(t, src, dst, rng.randint(1, 5)), attempts=1000)

    def auditor() -> None:
        while not stop.is_set():
            total = db.transaction_retry(lambda t: sum(int(v) for _, v in t.items(b"acct:")), attempts=1000)
            if total != 1000:
                bad_totals.append(total)

    audit = threading.Thread(target=auditor)
    audit.start()
    movers = [threading.Thread(target=mover, args=(i,)) for i in range(8)]
    for m in movers:
        m.start()
    for m in movers:
        m.join()
    stop.set()
    audit.join()
    assert bad_totals == []
    assert sum(int(db[a]) for a in accounts) == 1000
    assert runs[0] > 800  # some transfers conflicted and ran again
