"""stats, sync, merge, backup, validate, repair, adopt."""

from __future__ import annotations

from pathlib import Path

import pytest

import bitgask
from test_errors import corrupt_a_sealed_file


def test_stats(db: bitgask.DB) -> None:
    db[b"a"], db[b"b"] = b"1", b"2"
    db[b"a"] = b"3"
    s = db.stats()
    assert (s.keys, s.data_files, s.merges, s.last_merge_unix_nano) == (2, 1, 0, 0)
    assert 0 < s.dead_bytes < s.total_bytes


def test_space_reports_the_reserve_and_room(path: Path) -> None:
    with bitgask.open(path, reserve_bytes=64 * 1024) as db:
        s = db.space()
        assert isinstance(s, bitgask.Space)
        assert (s.reserve_size, s.reserve_bytes, s.full, s.no_space_errors) == (64 * 1024, 64 * 1024, False, 0)
        assert s.free_bytes > 0
        assert (path / "bitgask.reserve").stat().st_size == 64 * 1024


def test_sync(db: bitgask.DB) -> None:
    db[b"k"] = b"v"
    db.sync()


def test_merge_runs_only_when_triggered_unless_forced(path: Path) -> None:
    with bitgask.open(path, max_file_size=256, merge_interval_ms=0) as db:
        for round in range(5):
            for i in range(10):
                db[b"k%d" % i] = b"%d" % round * 20
        assert db.merge() is False
        assert db.merge(force=True) is True
        s = db.stats()
        assert s.merges == 1 and s.last_merge_unix_nano > 0
        assert db[b"k3"] == b"4" * 20


def test_backup_opens_as_a_database(db: bitgask.DB, tmp_path: Path) -> None:
    db[b"k"] = b"v"
    db.backup(tmp_path / "copy")
    with bitgask.open(tmp_path / "copy") as copy:
        assert copy[b"k"] == b"v"


def test_backup_refuses_an_existing_destination(db: bitgask.DB, tmp_path: Path) -> None:
    (tmp_path / "copy").mkdir()
    (tmp_path / "copy" / "x").write_bytes(b"")
    with pytest.raises(bitgask.InvalidArgumentError):
        db.backup(tmp_path / "copy")


def test_validate_a_clean_database(db: bitgask.DB, path: Path) -> None:
    db[b"k"] = b"v"
    r = bitgask.validate(path)  # works on an open database: no LOCK
    assert r.clean and r.problems == ()
    assert r.counts.records == 1 and r.counts.live_keys == 1
    assert '"clean":true' in r.json and "clean" in r.text


def test_validate_then_repair_a_damaged_database(path: Path) -> None:
    corrupt_a_sealed_file(path)
    before = bitgask.validate(path)
    assert not before.clean
    assert [p.kind for p in before.problems if not p.note] == ["corrupt_record"]
    assert before.problems[0].file == "data/000000001.data"
    after = bitgask.repair(path)
    assert after.clean and any(p.mended for p in after.problems)
    assert after.counts.bytes_quarantined > 0
    assert bitgask.validate(path).clean
    with bitgask.open(path, hint_files=False) as db:
        assert len(list(db)) >= 15


def test_repair_of_an_open_database_is_locked(db: bitgask.DB, path: Path) -> None:
    with pytest.raises(bitgask.LockedError):
        bitgask.repair(path)


def test_validate_of_a_missing_directory_raises(tmp_path: Path) -> None:
    with pytest.raises(bitgask.Error):
        bitgask.validate(tmp_path / "missing")


def go_empty_dir(root: Path) -> None:
    """A directory as the Go bitgask leaves it after opening and closing an empty database."""
    data = root / "data"
    data.mkdir(parents=True)
    (data / "bitgask.meta").write_bytes(b'{\n  "version": 1,\n  "created": "2026-01-01T00:00:00Z"\n}')
    (data / "000001.data").write_bytes(b"")
    (data / "000001.hint").write_bytes(b"")


def test_adopt_a_go_directory(tmp_path: Path) -> None:
    root = tmp_path / "go"
    go_empty_dir(root)
    with pytest.raises(bitgask.FormatVersionError, match="bitgask adopt"):
        bitgask.open(root)
    assert bitgask.validate(root).problems[0].kind == "foreign"
    r = bitgask.adopt(root, adopt_discard_original=True)
    assert r.clean and r.adopt is not None
    assert r.adopt.file_id_width == 6 and not r.adopt.already_bitgask
    assert not (root / "go-original").exists()
    with bitgask.open(root) as db:
        assert list(db) == []
    again = bitgask.adopt(root)
    assert again.adopt is not None and again.adopt.already_bitgask
    assert bitgask.validate(root).adopt is None
