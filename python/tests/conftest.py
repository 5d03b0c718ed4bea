"""Fixtures of the Python binding's tests. They run against the installed package."""

from __future__ import annotations

from pathlib import Path
from typing import Iterator

import pytest

import bitgask

# Per-write fsync off: the tests are about the binding, not the disk.
FAST = {"sync_on_put": False, "sync_on_delete": False}


@pytest.fixture
def path(tmp_path: Path) -> Path:
    return tmp_path / "db"


@pytest.fixture
def db(path: Path) -> Iterator[bitgask.DB]:
    with bitgask.open(path, **FAST) as d:
        yield d
