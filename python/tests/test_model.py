"""A property test: random operations on a DB and on a dict give the same answers."""

from __future__ import annotations

import contextlib
import shutil
import tempfile
from typing import Optional

from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

import bitgask

keys = st.lists(st.sampled_from([b"\x00", b"a", b"b", b"\xff"]), min_size=1, max_size=3).map(b"".join)
values = st.binary(max_size=20)


class DictModel(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.dir = tempfile.mkdtemp()
        self.db = bitgask.open(self.dir + "/db", sync_on_put=False, sync_on_delete=False, max_file_size=512)
        self.model: dict[bytes, bytes] = {}

    @rule(k=keys, v=values)
    def put(self, k: bytes, v: bytes) -> None:
        self.db[k] = v
        self.model[k] = v

    @rule(k=keys)
    def get(self, k: bytes) -> None:
        assert self.db.get(k) == self.model.get(k)
        assert (k in self.db) == (k in self.model)

    @rule(k=keys)
    def delete(self, k: bytes) -> None:
        assert self.db.delete(k) == (k in self.model)
        self.model.pop(k, None)

    # A batch of puts and deletes is the same operations applied to the dict in order; a batch
    # that fails (an empty key) changes neither.
    @rule(ops=st.lists(st.tuples(keys, st.one_of(st.none(), values)), max_size=6), refused=st.booleans())
    def batch(self, ops: list[tuple[bytes, Optional[bytes]]], refused: bool) -> None:
        with contextlib.suppress(bitgask.InvalidArgumentError):
            with self.db.batch() as b:
                for k, v in ops:
                    if v is None:
                        b.delete(k)
                    else:
                        b.put(k, v)
                if refused:
                    b.put(b"", b"an empty key")  # raises inside the block: the batch is dropped
            for k, v in ops:
                if v is None:
                    self.model.pop(k, None)
                else:
                    self.model[k] = v

    # A transaction with nobody else writing never conflicts: it reads the dict's values and
    # its own writes, then commits them at once.
    @rule(ops=st.lists(st.tuples(keys, st.one_of(st.none(), values)), max_size=6))
    def transaction(self, ops: list[tuple[bytes, Optional[bytes]]]) -> None:
        mine = dict(self.model)
        with self.db.transaction() as t:
            for k, v in ops:
                assert t.get(k) == mine.get(k)
                if v is None:
                    t.delete(k)
                    mine.pop(k, None)
                else:
                    t.put(k, v)
                    mine[k] = v
            assert list(t.items()) == sorted(mine.items())
        self.model = mine

    @rule(prefix=st.sampled_from([b"", b"a", b"\x00", b"ab"]))
    def scan(self, prefix: bytes) -> None:
        want = sorted((k, v) for k, v in self.model.items() if k.startswith(prefix))
        assert list(self.db.items(prefix)) == want

    @rule(start=keys, stop=keys)
    def range(self, start: bytes, stop: bytes) -> None:
        assert list(self.db.keys(start=start, stop=stop)) == sorted(k for k in self.model if start <= k < stop)

    # Merges and reopens are slow (fsyncs), so one rule does either.
    @precondition(lambda self: len(self.model) > 0)
    @rule(reopen=st.booleans())
    def merge_or_reopen(self, reopen: bool) -> None:
        if reopen:
            self.db.close()
            self.db = bitgask.open(self.dir + "/db", sync_on_put=False, max_file_size=512)
        else:
            self.db.merge(force=True)

    @invariant()
    def key_count(self) -> None:
        assert self.db.stats().keys == len(self.model)

    def teardown(self) -> None:
        self.db.close()
        shutil.rmtree(self.dir)


DictModel.TestCase.settings = settings(max_examples=30, stateful_step_count=30, deadline=None)
TestDictModel = DictModel.TestCase
