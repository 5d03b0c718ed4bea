"""bitgask.validate(), bitgask.repair() and bitgask.adopt(): what is wrong with a database
directory, mending it, and converting a database of the Go bitgask."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Optional, Tuple

from ._bitgask import ffi, lib
from ._buffers import PathLike, as_path
from ._errors import from_status
from ._options import OptionValue, new_options


@dataclass(frozen=True)
class Problem:
    kind: str  # stable lowercase name: "torn_tail", "unsynced_tail", "corrupt_record", ...
    file: str  # relative to the database directory, e.g. "data/000000003.data"
    message: str
    offset: int
    length: int
    note: bool  # describes, does not make the database unclean
    mended: bool  # repair dealt with it


@dataclass(frozen=True)
class Counts:
    files: int
    records: int
    live_keys: int
    bytes_truncated: int
    bytes_quarantined: int


@dataclass(frozen=True)
class AdoptCounts:
    already_bitgask: bool  # nothing was converted
    finished_interrupted: bool  # an adoption a crash interrupted was finished (or undone) first
    file_id_width: int  # the width of the Go data file names
    deleted_keys: int  # keys whose last record is a tombstone (dropped)
    expired_keys: int  # keys whose last record had expired (dropped)
    superseded_records: int
    out_of_stamp_order_keys: int  # keys bitgask's own recency rule would have read differently
    torn_bytes: int  # an unfinished last write, dropped
    skipped_bytes: int  # damaged bytes skipped (adopt_salvage=True)
    oversized_keys: int  # keys over the size limits, skipped (adopt_salvage=True)


@dataclass(frozen=True)
class Report:
    clean: bool  # nothing wrong is left: every problem is a note or was mended
    problems: Tuple[Problem, ...]
    counts: Counts
    text: str  # human-readable, one problem per line
    json: str  # one JSON object
    adopt: Optional[AdoptCounts] = None  # adopt's report only


def validate(path: PathLike) -> Report:
    """Checks the database in directory path without changing anything and without its LOCK."""
    return _run(lib.bitgask_validate, path, {}, "validate")


def repair(path: PathLike, **options: OptionValue) -> Report:
    """Mends the database in directory path (takes its LOCK: LockedError while it is open;
    lock_timeout_ms=... waits). The report lists every byte range and key lost."""
    return _run(lib.bitgask_repair, path, options, "repair")


def adopt(path: PathLike, **options: OptionValue) -> Report:
    """Converts the Go bitgask's database in directory path into a bitgask database that returns
    what the Go system returns for every key, keeping the Go files in path/go-original/
    (adopt_discard_original=True removes them; adopt_salvage=True skips damaged records instead of
    raising CorruptError). Crash-safe; a bitgask directory is left alone. Takes its LOCK."""
    return _run(lib.bitgask_adopt, path, options, "adopt")


def _adopt_counts(report: Any) -> Optional[AdoptCounts]:
    a = ffi.new("bitgask_adopt_counts *")
    if lib.bitgask_report_adopt_counts_get(report, a, ffi.NULL) != 0:
        return None  # not adopt's report
    return AdoptCounts(
        bool(a.already_bitgask), bool(a.finished_interrupted), a.file_id_width, a.deleted_keys, a.expired_keys,
        a.superseded_records, a.out_of_stamp_order_keys, a.torn_bytes, a.skipped_bytes, a.oversized_keys,
    )


def _run(fn: Any, path: PathLike, options: dict[str, OptionValue], caller: str) -> Report:
    opts = new_options(caller, options)
    out = ffi.new("bitgask_report **")
    err = ffi.new("bitgask_error **")
    status = fn(as_path(path), ffi.NULL if opts is None else opts, out, err)
    if status < 0:
        raise from_status(status, err[0])
    report = ffi.gc(out[0], lib.bitgask_report_free)
    try:
        return _convert(report, err)
    finally:
        ffi.release(report)


def _text(p: Any) -> str:
    return "" if p == ffi.NULL else str(ffi.string(p).decode("utf-8", "replace"))


def _convert(report: Any, err: Any) -> Report:
    problems = []
    item = ffi.new("bitgask_problem *")
    for i in range(lib.bitgask_report_problem_count(report)):
        status = lib.bitgask_report_problem(report, i, item, err)
        if status < 0:
            raise from_status(status, err[0])
        problems.append(
            Problem(
                _text(item.kind), _text(item.file), _text(item.message), item.offset, item.length,
                bool(item.note), bool(item.mended),
            )
        )
    c = ffi.new("bitgask_report_counts *")
    status = lib.bitgask_report_counts_get(report, c, err)
    if status < 0:
        raise from_status(status, err[0])
    counts = Counts(c.files, c.records, c.live_keys, c.bytes_truncated, c.bytes_quarantined)
    return Report(
        bool(lib.bitgask_report_clean(report)), tuple(problems), counts,
        _text(lib.bitgask_report_text(report)), _text(lib.bitgask_report_json(report)), _adopt_counts(report),
    )
