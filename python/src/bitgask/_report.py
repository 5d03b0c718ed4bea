"""bitgask.validate() and bitgask.repair(): what is wrong with a database directory."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Tuple

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
class Report:
    clean: bool  # nothing wrong is left: every problem is a note or was mended
    problems: Tuple[Problem, ...]
    counts: Counts
    text: str  # human-readable, one problem per line
    json: str  # one JSON object


def validate(path: PathLike) -> Report:
    """Checks the database in directory path without changing anything and without its LOCK."""
    return _run(lib.bitgask_validate, path, {}, "validate")


def repair(path: PathLike, **options: OptionValue) -> Report:
    """Mends the database in directory path (takes its LOCK: LockedError while it is open;
    lock_timeout_ms=... waits). The report lists every byte range and key lost."""
    return _run(lib.bitgask_repair, path, options, "repair")


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
        _text(lib.bitgask_report_text(report)), _text(lib.bitgask_report_json(report)),
    )
