//! `bitgask_report`: what `bitgask_validate`, `bitgask_repair` and `bitgask_adopt` found and did.
//!
//! A report is created by those calls, owned by the caller and freed with `bitgask_report_free`.
//! Every string it hands out (problem fields, text, JSON) is owned by the report and valid until
//! it is freed. Single-owner: one thread at a time.

use std::ffi::{c_char, CString};

use super::boundary::{arg_mut, arg_ref, free_box, guard, path as path_arg, value};
use super::error::bitgask_error;
use super::options::{bitgask_options, options_or_default};
use super::{bitgask_status, BITGASK_OK};
use crate::error::{Error, Result};
use crate::report::Report;

/// A validate or repair report. Opaque.
pub struct bitgask_report {
    report: Report,
    /// Per problem: kind, file, message.
    strings: Vec<[CString; 3]>,
    text: CString,
    json: CString,
}

/// One problem of a report; the strings are owned by the report.
#[repr(C)]
pub struct bitgask_problem {
    /// Stable lowercase name: "torn_tail", "unsynced_tail", "corrupt_record", "corrupt_hint",
    /// "stale_hint", "hint_mismatch", "merge_leftover", "bad_meta", "unknown_file", "quarantine",
    /// "leftover", "lost_range", "lost_key", "foreign" (written by the Go bitgask: convert it
    /// with `bitgask_adopt`).
    pub kind: *const c_char,
    /// Path relative to the database directory, e.g. "data/000000003.data".
    pub file: *const c_char,
    pub message: *const c_char,
    pub offset: u64,
    pub length: u64,
    /// A note (unknown file, quarantine file, leftover): describes, does not make it unclean.
    pub note: bool,
    /// Repair dealt with it; the message says how.
    pub mended: bool,
}

/// The counters of a report.
#[repr(C)]
pub struct bitgask_report_counts {
    pub files: u64,
    pub records: u64,
    pub live_keys: u64,
    pub bytes_truncated: u64,
    pub bytes_quarantined: u64,
}

/// What `bitgask_adopt` read, kept and dropped (the report's counters give the Go data files
/// read, their valid records and the keys written).
#[repr(C)]
pub struct bitgask_adopt_counts {
    /// The directory was already bitgask's: nothing was converted.
    pub already_bitgask: bool,
    /// An adoption interrupted by a crash was finished (or undone) first.
    pub finished_interrupted: bool,
    /// The width of the Go data file names (`%0*d.data`).
    pub file_id_width: u32,
    /// Keys whose last record is a tombstone (dropped).
    pub deleted_keys: u64,
    /// Keys whose last record had expired (dropped).
    pub expired_keys: u64,
    /// Records a later record of the same key replaced.
    pub superseded_records: u64,
    /// Keys whose last record is not their highest-stamped one: bitgask's own recency rule would
    /// have returned another value for them.
    pub out_of_stamp_order_keys: u64,
    /// Bytes of an unfinished last write dropped from the newest Go file.
    pub torn_bytes: u64,
    /// Damaged bytes skipped (salvage only).
    pub skipped_bytes: u64,
    /// Keys over the size limits, skipped (salvage only).
    pub oversized_keys: u64,
}

fn cstring(s: &str) -> CString {
    CString::new(s.replace('\0', "\\0")).unwrap_or_default()
}

/// The body of `bitgask_validate`, `bitgask_repair` and `bitgask_adopt`: checks the arguments,
/// runs `run` on the path and hands its report to the caller.
unsafe fn report_into(
    path: *const c_char,
    report_out: *mut *mut bitgask_report,
    run: impl FnOnce(&str) -> Result<Report>,
) -> Result<bitgask_status> {
    let p = path_arg(path)?;
    let out = arg_mut(report_out, "report_out")?;
    *out = boxed(run(p)?);
    Ok(BITGASK_OK)
}

fn boxed(report: Report) -> *mut bitgask_report {
    let strings =
        report.problems.iter().map(|p| [cstring(p.kind.name()), cstring(&p.file), cstring(&p.message)]).collect();
    let (text, json) = (cstring(&report.text()), cstring(&report.json()));
    Box::into_raw(Box::new(bitgask_report { report, strings, text, json }))
}

/// Checks the database in directory `path` without changing anything (no byte, name or mtime)
/// and without taking the LOCK, so it also works on a database open elsewhere. Returns
/// `BITGASK_OK` with `*report_out` whenever it could scan, damaged or not; an error only when
/// it could not scan at all. `opts` may be NULL (validate uses no option today).
/// Returns: `BITGASK_OK`; `BITGASK_E_NULL_ARG` (path, report_out); `BITGASK_E_INVALID_ARG` (path
/// not UTF-8); `BITGASK_E_IO` (the directory is missing or unreadable).
/// Threads: any.
#[no_mangle]
pub unsafe extern "C" fn bitgask_validate(
    path: *const c_char,
    opts: *const bitgask_options,
    report_out: *mut *mut bitgask_report,
    err_out: *mut *mut bitgask_error,
) -> bitgask_status {
    guard(err_out, || {
        let _ = opts;
        report_into(path, report_out, |p| crate::inspect::validate(p))
    })
}

/// Mends the database in directory `path`: truncates torn tails, moves damaged byte ranges into
/// `<id>.corrupt` quarantine files (keeping every valid record around them), rebuilds hints,
/// settles an interrupted merge, rewrites a damaged meta file. Takes the LOCK
/// (`BITGASK_E_LOCKED` while the database is open; `opts` may set a lock timeout, NULL for
/// defaults). The report lists every byte range and key lost. Running it again changes nothing.
/// Returns: `BITGASK_OK` (with a report, mended or not); `BITGASK_E_NULL_ARG` (path, report_out);
/// `BITGASK_E_INVALID_ARG` (path not UTF-8); `BITGASK_E_LOCKED`; `BITGASK_E_FORMAT_VERSION`;
/// `BITGASK_E_IO` (reading, truncating, renaming or fsyncing failed: run it again).
/// Threads: any.
#[no_mangle]
pub unsafe extern "C" fn bitgask_repair(
    path: *const c_char,
    opts: *const bitgask_options,
    report_out: *mut *mut bitgask_report,
    err_out: *mut *mut bitgask_error,
) -> bitgask_status {
    guard(err_out, || report_into(path, report_out, |p| crate::validate::repair(p, &options_or_default(opts))))
}

/// Converts the Go bitgask's database in directory `path` into a bitgask database that returns
/// what the Go system returns for every key: the Go data files are read in log order (the last
/// record of a key wins, tombstones delete, expired keys are absent), the result is written as a
/// fresh bitgask generation, and the Go directories are kept in `path/go-original/` (see
/// `bitgask_options_set_adopt_discard_original`). Crash-safe: after a crash the directory is the
/// Go one (untouched) or the adopted one; `bitgask_open` or a second call finishes the swap. A
/// directory that is already bitgask's is left alone (`BITGASK_OK`, `already_bitgask` in
/// `bitgask_report_adopt_counts_get`). Takes the LOCK. `opts` (may be NULL) sets the new
/// database's limits, compression and file size and adopt's switches.
/// Returns: `BITGASK_OK` (with a report); `BITGASK_E_NULL_ARG` (path, report_out);
/// `BITGASK_E_INVALID_ARG` (path not UTF-8 or not a directory, or `go-original/` already
/// exists); `BITGASK_E_CORRUPT` (damaged records, without salvage: nothing was changed; the
/// message names file and offset); `BITGASK_E_TOO_LARGE` (a key or value over the limits,
/// without salvage: nothing was changed; the message names the key); `BITGASK_E_FORMAT_VERSION`
/// (not a Go directory adopt can read: names of several widths, or a Go merge interrupted and
/// then reopened); `BITGASK_E_LOCKED`; `BITGASK_E_IO` (run it again: it resumes).
/// Threads: any.
#[no_mangle]
pub unsafe extern "C" fn bitgask_adopt(
    path: *const c_char,
    opts: *const bitgask_options,
    report_out: *mut *mut bitgask_report,
    err_out: *mut *mut bitgask_error,
) -> bitgask_status {
    guard(err_out, || report_into(path, report_out, |p| crate::adopt::adopt(p, &options_or_default(opts))))
}

/// Fills `*out` with adopt's counters.
/// Returns: `BITGASK_OK`; `BITGASK_E_NULL_ARG` (r, out); `BITGASK_E_INVALID_ARG` (the report is
/// not from `bitgask_adopt`).
/// Threads: one thread at a time per report.
#[no_mangle]
pub unsafe extern "C" fn bitgask_report_adopt_counts_get(
    r: *const bitgask_report,
    out: *mut bitgask_adopt_counts,
    err_out: *mut *mut bitgask_error,
) -> bitgask_status {
    guard(err_out, || {
        let r = &arg_ref(r, "report")?.report;
        let o = arg_mut(out, "out")?;
        let a = r.adopt.as_ref().ok_or_else(|| Error::InvalidArg("not a report of bitgask_adopt".into()))?;
        *o = bitgask_adopt_counts {
            already_bitgask: a.already_bitgask,
            finished_interrupted: a.finished_interrupted,
            file_id_width: a.file_id_width,
            deleted_keys: a.deleted_keys,
            expired_keys: a.expired_keys,
            superseded_records: a.superseded_records,
            out_of_stamp_order_keys: a.out_of_stamp_order_keys,
            torn_bytes: a.torn_bytes,
            skipped_bytes: a.skipped_bytes,
            oversized_keys: a.oversized_keys,
        };
        Ok(BITGASK_OK)
    })
}

/// True when nothing wrong is left: every problem is a note or was mended. False for NULL.
/// Threads: one thread at a time per report.
#[no_mangle]
pub unsafe extern "C" fn bitgask_report_clean(r: *const bitgask_report) -> bool {
    value(false, || r.as_ref().is_some_and(|r| r.report.clean()))
}

/// Number of problems (notes included); 0 for NULL.
/// Threads: one thread at a time per report.
#[no_mangle]
pub unsafe extern "C" fn bitgask_report_problem_count(r: *const bitgask_report) -> usize {
    value(0, || r.as_ref().map_or(0, |r| r.report.problems.len()))
}

/// Fills `*out` with problem `i` (0-based).
/// Returns: `BITGASK_OK`; `BITGASK_E_NULL_ARG` (r, out); `BITGASK_E_INVALID_ARG` (`i` past the
/// end).
/// Threads: one thread at a time per report.
#[no_mangle]
pub unsafe extern "C" fn bitgask_report_problem(
    r: *const bitgask_report,
    i: usize,
    out: *mut bitgask_problem,
    err_out: *mut *mut bitgask_error,
) -> bitgask_status {
    guard(err_out, || {
        let r = arg_ref(r, "report")?;
        let o = arg_mut(out, "out")?;
        let count = r.report.problems.len();
        let (p, s) = match (r.report.problems.get(i), r.strings.get(i)) {
            (Some(p), Some(s)) => (p, s),
            _ => return Err(Error::InvalidArg(format!("problem index {i} is past the end ({count} problems)"))),
        };
        *o = bitgask_problem {
            kind: s[0].as_ptr(),
            file: s[1].as_ptr(),
            message: s[2].as_ptr(),
            offset: p.offset,
            length: p.length,
            note: p.kind.is_note(),
            mended: p.mended,
        };
        Ok(BITGASK_OK)
    })
}

/// Fills `*out` with the report's counters.
/// Returns: `BITGASK_OK`; `BITGASK_E_NULL_ARG` (r, out).
/// Threads: one thread at a time per report.
#[no_mangle]
pub unsafe extern "C" fn bitgask_report_counts_get(
    r: *const bitgask_report,
    out: *mut bitgask_report_counts,
    err_out: *mut *mut bitgask_error,
) -> bitgask_status {
    guard(err_out, || {
        let r = &arg_ref(r, "report")?.report;
        let o = arg_mut(out, "out")?;
        *o = bitgask_report_counts {
            files: r.files,
            records: r.records,
            live_keys: r.live_keys,
            bytes_truncated: r.bytes_truncated,
            bytes_quarantined: r.bytes_quarantined,
        };
        Ok(BITGASK_OK)
    })
}

/// The report as human-readable text, one problem per line ("" for NULL).
/// Threads: one thread at a time per report.
#[no_mangle]
pub unsafe extern "C" fn bitgask_report_text(r: *const bitgask_report) -> *const c_char {
    value(c"".as_ptr(), || r.as_ref().map_or(c"".as_ptr(), |r| r.text.as_ptr()))
}

/// The report as one JSON object ("" for NULL).
/// Threads: one thread at a time per report.
#[no_mangle]
pub unsafe extern "C" fn bitgask_report_json(r: *const bitgask_report) -> *const c_char {
    value(c"".as_ptr(), || r.as_ref().map_or(c"".as_ptr(), |r| r.json.as_ptr()))
}

/// Frees a report and every string it handed out. NULL is a no-op.
/// Threads: one thread at a time per report.
#[no_mangle]
pub unsafe extern "C" fn bitgask_report_free(r: *mut bitgask_report) {
    value((), || free_box(r))
}
