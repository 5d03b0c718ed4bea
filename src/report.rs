//! What validate and repair found and did: a list of problems, each with its kind, the file and
//! byte range involved and a message, plus counters. Rendered as text for people and as JSON for
//! scripts.

use std::fmt::Write as _;

/// What kind of problem, as a stable lowercase name (also the C API's `kind` string).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProblemKind {
    /// Bytes after the last valid record of the newest data file: an interrupted write.
    TornTail,
    /// Damage after the newest data file's durable watermark with newer records after it: unsynced
    /// writes a power loss persisted out of order. Open and repair move it to quarantine.
    UnsyncedTail,
    /// A record that fails its checks (CRC, lengths, flags, codec) with data after it.
    CorruptRecord,
    /// A hint file that is damaged (bad magic, CRC, entries).
    CorruptHint,
    /// A hint that describes another length of its data file, or has no data file.
    StaleHint,
    /// A hint whose entries disagree with what its data file holds.
    HintMismatch,
    /// `merge.tmp/` or `data.old/` left by an interrupted merge.
    MergeLeftover,
    /// `bitgask.meta` missing, unreadable, or of an unknown version.
    BadMeta,
    /// A file or directory in `data/` that is not bitgask's (left alone; a note).
    UnknownFile,
    /// A `*.corrupt` quarantine file written by an earlier repair (a note).
    Quarantine,
    /// A temporary file left by an interrupted atomic write (a note; repair removes it).
    Leftover,
    /// Repair could not recover these bytes (they were moved to quarantine).
    LostRange,
    /// Repair could not recover this key's record.
    LostKey,
    /// The directory was written by the Go bitgask (one problem per marker found; `bitgask adopt`
    /// converts it), or an adoption was interrupted.
    Foreign,
}

impl ProblemKind {
    pub fn name(self) -> &'static str {
        match self {
            ProblemKind::TornTail => "torn_tail",
            ProblemKind::UnsyncedTail => "unsynced_tail",
            ProblemKind::CorruptRecord => "corrupt_record",
            ProblemKind::CorruptHint => "corrupt_hint",
            ProblemKind::StaleHint => "stale_hint",
            ProblemKind::HintMismatch => "hint_mismatch",
            ProblemKind::MergeLeftover => "merge_leftover",
            ProblemKind::BadMeta => "bad_meta",
            ProblemKind::UnknownFile => "unknown_file",
            ProblemKind::Quarantine => "quarantine",
            ProblemKind::Leftover => "leftover",
            ProblemKind::LostRange => "lost_range",
            ProblemKind::LostKey => "lost_key",
            ProblemKind::Foreign => "foreign",
        }
    }

    /// Notes describe the database without making it unclean.
    pub fn is_note(self) -> bool {
        matches!(self, ProblemKind::UnknownFile | ProblemKind::Quarantine | ProblemKind::Leftover)
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    pub kind: ProblemKind,
    /// Path relative to the database root, e.g. `data/000000003.data`.
    pub file: String,
    pub offset: u64,
    pub length: u64,
    pub message: String,
    /// Repair dealt with it (truncated, quarantined, rebuilt, settled); the message says how.
    pub mended: bool,
}

/// The outcome of validate or repair.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Report {
    pub problems: Vec<Problem>,
    /// Data files scanned.
    pub files: u64,
    /// Valid records seen.
    pub records: u64,
    /// Keys that a reader would find (newest record neither a tombstone nor expired).
    pub live_keys: u64,
    /// Bytes cut off torn tails (repair).
    pub bytes_truncated: u64,
    /// Bytes moved into `*.corrupt` quarantine files (repair).
    pub bytes_quarantined: u64,
    /// Whether this report comes from repair (the problems are then what it found and did).
    pub repaired: bool,
    /// Present in adopt's report: what the conversion read, kept and dropped.
    pub adopt: Option<AdoptCounts>,
}

/// What `adopt` read, kept and dropped (its report's `files`, `records` and `live_keys` count
/// the Go data files read, their valid records and the keys written).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AdoptCounts {
    /// The directory was already bitgask's: nothing was converted.
    pub already_bitgask: bool,
    /// An adoption interrupted by a crash was finished (or undone) first.
    pub finished_interrupted: bool,
    /// The Go generation read: `data` (or `data.old` after a Go merge killed between renames).
    pub source: String,
    /// The data file names' width (`%0*d.data`).
    pub file_id_width: u32,
    /// Keys whose last record is a tombstone.
    pub deleted_keys: u64,
    /// Keys whose last record had expired.
    pub expired_keys: u64,
    /// Records a later record of the same key replaced.
    pub superseded_records: u64,
    /// Keys whose last record in the log is not their highest-stamped one: a reader deciding by
    /// stamp (bitgask's own rule) would have returned another value for them.
    pub out_of_stamp_order_keys: u64,
    /// Bytes of an unfinished last write dropped from the newest file.
    pub torn_bytes: u64,
    /// Damaged bytes skipped (salvage only).
    pub skipped_bytes: u64,
    /// Keys over the new database's size limits, skipped (salvage only).
    pub oversized_keys: u64,
    /// Where the Go system's files are now, relative to the root ("" when discarded).
    pub original_dir: String,
}

impl AdoptCounts {
    fn json(&self) -> String {
        format!(
            "{{\"already_bitgask\":{},\"finished_interrupted\":{},\"source\":{},\"file_id_width\":{},\"deleted_keys\":{},\"expired_keys\":{},\"superseded_records\":{},\"out_of_stamp_order_keys\":{},\"torn_bytes\":{},\"skipped_bytes\":{},\"oversized_keys\":{},\"original_dir\":{}}}",
            self.already_bitgask,
            self.finished_interrupted,
            json_string(&self.source),
            self.file_id_width,
            self.deleted_keys,
            self.expired_keys,
            self.superseded_records,
            self.out_of_stamp_order_keys,
            self.torn_bytes,
            self.skipped_bytes,
            self.oversized_keys,
            json_string(&self.original_dir)
        )
    }

    fn text(&self) -> String {
        if self.already_bitgask {
            let how = if self.finished_interrupted { "an interrupted adoption was finished; " } else { "" };
            return format!("adopt: {how}the directory is bitgask's; nothing to convert\n");
        }
        let kept = if self.original_dir.is_empty() {
            "the Go files were discarded".to_string()
        } else {
            format!("the Go files are kept in {}", self.original_dir)
        };
        format!(
            "adopt: read {}/ (file ids {} digits wide): {} deleted and {} expired keys dropped, {} superseded records, {} keys whose last record is not their newest stamp; {kept}\n",
            self.source,
            self.file_id_width,
            self.deleted_keys,
            self.expired_keys,
            self.superseded_records,
            self.out_of_stamp_order_keys
        )
    }
}

impl Report {
    /// Nothing wrong is left: every problem is a note or was mended.
    pub fn clean(&self) -> bool {
        self.problems.iter().all(|p| p.kind.is_note() || p.mended)
    }

    pub(crate) fn add(
        &mut self,
        kind: ProblemKind,
        file: impl Into<String>,
        offset: u64,
        length: u64,
        message: impl Into<String>,
    ) {
        self.problems.push(Problem { kind, file: file.into(), offset, length, message: message.into(), mended: false });
    }

    /// Records something repair found and mended.
    pub(crate) fn mended(
        &mut self,
        kind: ProblemKind,
        file: impl Into<String>,
        offset: u64,
        length: u64,
        message: impl Into<String>,
    ) {
        self.add(kind, file, offset, length, message);
        self.problems.last_mut().unwrap().mended = true;
    }

    /// A human-readable summary, one problem per line.
    pub fn text(&self) -> String {
        let mut s = String::new();
        let verb = match (self.repaired, &self.adopt) {
            (_, Some(_)) => "adopt",
            (true, None) => "repair",
            (false, None) => "validate",
        };
        let state = if self.clean() { "clean" } else { "DAMAGED" };
        let (files, records) = (count(self.files, "file"), count(self.records, "record"));
        let _ = writeln!(s, "{verb}: {state}: {files}, {records}, {}", count(self.live_keys, "live key"));
        if let Some(a) = &self.adopt {
            s.push_str(&a.text());
        }
        if self.bytes_truncated > 0 || self.bytes_quarantined > 0 {
            let (t, q) = (count(self.bytes_truncated, "byte"), count(self.bytes_quarantined, "byte"));
            let _ = writeln!(s, "{t} truncated, {q} quarantined");
        }
        for p in &self.problems {
            let tag = match (p.kind.is_note(), p.mended) {
                (true, _) => "note",
                (false, true) => "mended",
                (false, false) => "problem",
            };
            let _ = writeln!(
                s,
                "{tag}: {} {} offset {} length {}: {}",
                p.kind.name(),
                p.file,
                p.offset,
                p.length,
                p.message
            );
        }
        s
    }

    /// The report as one JSON object.
    pub fn json(&self) -> String {
        let mut s = format!(
            "{{\"clean\":{},\"repaired\":{},\"files\":{},\"records\":{},\"live_keys\":{},\"bytes_truncated\":{},\"bytes_quarantined\":{},\"problems\":[",
            self.clean(),
            self.repaired,
            self.files,
            self.records,
            self.live_keys,
            self.bytes_truncated,
            self.bytes_quarantined
        );
        for (i, p) in self.problems.iter().enumerate() {
            if i > 0 {
                s.push(',');
            }
            let _ = write!(
                s,
                "{{\"kind\":\"{}\",\"note\":{},\"mended\":{},\"file\":{},\"offset\":{},\"length\":{},\"message\":{}}}",
                p.kind.name(),
                p.kind.is_note(),
                p.mended,
                json_string(&p.file),
                p.offset,
                p.length,
                json_string(&p.message)
            );
        }
        s.push(']');
        if let Some(a) = &self.adopt {
            let _ = write!(s, ",\"adopt\":{}", a.json());
        }
        s.push('}');
        s
    }
}

/// A JSON string literal, escaping what JSON requires.
pub fn json_string(v: &str) -> String {
    let mut s = String::with_capacity(v.len() + 2);
    s.push('"');
    for c in v.chars() {
        match c {
            '"' => s.push_str("\\\""),
            '\\' => s.push_str("\\\\"),
            '\n' => s.push_str("\\n"),
            '\r' => s.push_str("\\r"),
            '\t' => s.push_str("\\t"),
            c if (c as u32) < 0x20 => {
                let _ = write!(s, "\\u{:04x}", c as u32);
            }
            c => s.push(c),
        }
    }
    s.push('"');
    s
}

/// Key bytes shown to people: printable ASCII as is, anything else as `\xNN`.
pub fn show_key(key: &[u8]) -> String {
    let mut s = String::new();
    for &b in key {
        if (0x20..0x7f).contains(&b) && b != b'\\' {
            s.push(b as char);
        } else {
            let _ = write!(s, "\\x{b:02x}");
        }
    }
    s
}

/// `1 file`, `2 files`: counts in text meant for people.
fn count(n: u64, noun: &str) -> String {
    format!("{n} {noun}{}", if n == 1 { "" } else { "s" })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn notes_do_not_make_a_report_unclean() {
        let mut r = Report::default();
        r.add(ProblemKind::UnknownFile, "data/x", 0, 0, "not ours");
        assert!(r.clean());
        r.add(ProblemKind::TornTail, "data/000000001.data", 10, 5, "cut");
        assert!(!r.clean());
        assert!(r.text().contains("torn_tail data/000000001.data offset 10 length 5"));
    }

    #[test]
    fn json_escapes_strings() {
        let mut r = Report::default();
        r.add(ProblemKind::BadMeta, "data/\"q\"", 0, 0, "line\nbreak\u{1}");
        let j = r.json();
        assert!(j.contains(r#""file":"data/\"q\"""#), "{j}");
        assert!(j.contains(r#""message":"line\nbreak\u0001""#), "{j}");
    }

    #[test]
    fn counts_of_one_are_singular() {
        let r = Report { files: 1, records: 1, live_keys: 2, bytes_truncated: 1, ..Report::default() };
        let first = r.text().lines().take(2).collect::<Vec<_>>().join("\n");
        assert_eq!(first, "validate: clean: 1 file, 1 record, 2 live keys\n1 byte truncated, 0 bytes quarantined");
    }

    #[test]
    fn keys_are_shown_printably() {
        assert_eq!(show_key(b"ab\x00\xff\\"), "ab\\x00\\xff\\x5c");
    }
}
