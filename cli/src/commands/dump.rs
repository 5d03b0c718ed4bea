//! dump: every record of a data file, every entry of a hint file, or the mark of the durable
//! watermark file.

use std::io::Write;
use std::path::{Path, PathBuf};

use bitgask::internal::format::batch::{FLAG_COMMIT, FLAG_MEMBER};
use bitgask::internal::format::hint::{self, HintPrefix, HintView};
use bitgask::internal::format::record::{Record, FLAG_COMPRESSED, FLAG_TOMBSTONE};
use bitgask::internal::format::watermark::{Mark, WATERMARK_FILE};
use bitgask::internal::snapshot;
use bitgask::internal::storage::fs::{data_name, parse_name};
use bitgask::internal::storage::scan::{valid_record_after, zero_tail, Scan};
use serde_json::{json, Map, Value};

use super::encoding::{Enc, EncArgs};
use super::error::{exit, CliError, CmdResult};
use super::kv::show_expiry;
use super::output::{json_line, stdout, Ctx};
use super::units::{count, utc};

#[derive(clap::Args, Debug)]
pub struct DumpArgs {
    /// A data file (`NNNNNNNNN.data`, also `*.corrupt` quarantine files), a hint file
    /// (`NNNNNNNNN.hint`, recognised by its magic), the watermark file (`bitgask.watermark`) or
    /// the keydir snapshot (`keydir.snapshot`: its header and shards, and whether open would use it).
    pub file: PathBuf,
    /// Show each record's value too (decompressed).
    #[arg(long)]
    pub values: bool,
    #[command(flatten)]
    pub enc: EncArgs,
}

/// Decodes a file record by record and stops at the first bad one, which it reports (exit
/// code 3). Reads the file only; takes no lock.
pub fn dump(a: DumpArgs, ctx: &Ctx) -> CmdResult {
    let bytes = std::fs::read(&a.file).map_err(|e| CliError::other(format!("read {}: {e}", a.file.display())))?;
    if hint::has_magic(&bytes) {
        dump_hint(&a.file, &bytes, a.enc.enc(), ctx)
    } else if snapshot::has_magic(&bytes) {
        dump_snapshot(&a.file, &bytes, ctx)
    } else if a.file.file_name().is_some_and(|n| n == WATERMARK_FILE) {
        dump_watermark(&bytes, ctx)
    } else {
        dump_data(&bytes, a.enc.enc(), a.values, ctx)
    }
}

/// The watermark's mark: which data file is durable up to where (docs/DESIGN.md section 1.6).
fn dump_watermark(bytes: &[u8], ctx: &Ctx) -> CmdResult {
    let mut out = stdout();
    let mark = Mark::parse_file(bytes);
    match (mark, ctx.json) {
        (Some(m), true) => json_line(
            &mut out,
            &json!({"type": "watermark", "seq": m.seq, "file_id": m.file_id, "durable_len": m.len, "links": m.links}),
        )?,
        (Some(m), false) => writeln!(
            out,
            "watermark seq={}: {} durable up to {} bytes{}",
            m.seq,
            data_name(m.file_id),
            m.len,
            if m.links { "" } else { " (an earlier version's: no rotation links)" }
        )?,
        (None, true) => json_line(&mut out, &json!({"type": "bad", "offset": 0, "error": "no valid watermark slot"}))?,
        (None, false) => writeln!(out, "BAD watermark file: no valid slot (open counts nothing as durable)")?,
    }
    out.flush()?;
    Ok(if mark.is_some() { exit::OK } else { exit::CORRUPT })
}

/// The keydir snapshot's header, its shards, and whether open would use it
/// (docs/DESIGN.md section 6.7); exit code 3 when its header or a shard's CRC does not check out.
fn dump_snapshot(path: &Path, bytes: &[u8], ctx: &Ctx) -> CmdResult {
    let mut out = stdout();
    let s = match snapshot::summary(bytes, path.parent()) {
        Ok(s) => s,
        Err(e) => {
            if ctx.json {
                json_line(&mut out, &json!({"type": "bad", "offset": 0, "error": e}))?;
            } else {
                writeln!(out, "BAD keydir snapshot: {e}")?;
            }
            out.flush()?;
            return Ok(exit::CORRUPT);
        }
    };
    let verdict = match &s.matches {
        Some(Ok(())) => "matches the data files: open would use it".to_string(),
        Some(Err(why)) => format!("stale: {why}"),
        None => "not compared with a directory".to_string(),
    };
    let keys = s.shards.iter().map(|h| h.entries).fold(0u64, u64::saturating_add);
    if ctx.json {
        let files: Vec<Value> = s
            .files
            .iter()
            .map(|f| json!({"file_id": f.id, "size": f.size, "inode": f.ino, "mtime_ns": f.mtime_ns, "ctime_ns": f.ctime_ns}))
            .collect();
        let shards: Vec<Value> = s
            .shards
            .iter()
            .map(|h| json!({"buckets": h.buckets, "entries": h.entries, "bytes": h.bytes, "crc_ok": h.crc_ok}))
            .collect();
        json_line(
            &mut out,
            &json!({"type": "keydir_snapshot", "keys": keys, "max_ts": s.max_ts, "files": files, "shards": shards,
                    "usable": matches!(s.matches, Some(Ok(()))), "verdict": verdict}),
        )?;
    } else {
        writeln!(
            out,
            "keydir snapshot of {} over {}: {verdict}",
            count(keys, "key"),
            count(s.files.len() as u64, "data file")
        )?;
        for f in &s.files {
            writeln!(
                out,
                "file {} size={} inode={} mtime_ns={} ctime_ns={}",
                data_name(f.id),
                f.size,
                f.ino,
                f.mtime_ns,
                f.ctime_ns
            )?;
        }
        for (i, h) in s.shards.iter().enumerate() {
            let crc = if h.crc_ok { "ok" } else { "BAD" };
            writeln!(
                out,
                "shard {i}: {} in {} buckets, {} bytes, crc {crc}",
                count(h.entries, "entry"),
                h.buckets,
                h.bytes
            )?;
        }
    }
    out.flush()?;
    Ok(if s.shards.iter().all(|h| h.crc_ok) { exit::OK } else { exit::CORRUPT })
}

fn flags_text(flags: u8) -> String {
    let mut v = Vec::new();
    if flags & FLAG_TOMBSTONE != 0 {
        v.push("tombstone");
    }
    if flags & FLAG_COMPRESSED != 0 {
        v.push("compressed");
    }
    if flags & FLAG_MEMBER != 0 {
        v.push("batch-member");
    }
    if flags & FLAG_COMMIT != 0 {
        v.push("batch-commit");
    }
    if v.is_empty() {
        "-".into()
    } else {
        v.join(",")
    }
}

fn dump_data(bytes: &[u8], enc: Enc, values: bool, ctx: &Ctx) -> CmdResult {
    let mut out = stdout();
    let mut scan = Scan::new(bytes);
    let (mut records, mut tombstones, mut undecodable) = (0u64, 0u64, 0u64);
    for (off, r) in scan.by_ref() {
        records += 1;
        if r.header.is_tombstone() {
            tombstones += 1;
        }
        let value = r.value();
        if value.is_err() {
            undecodable += 1;
        }
        record_line(&mut out, off, &r, value.as_deref().map_err(|e| e.to_string()), enc, values, ctx)?;
    }
    let valid = scan.valid_len();
    // Zeros from a record boundary to the end: the room preallocated for appends that a crash
    // left unused (docs/DESIGN.md section 4.5), which open trims; not records, not damage.
    let unused = scan.stopped_at().map(|s| s.0).filter(|&at| zero_tail(bytes, at));
    let bad = scan
        .stopped_at()
        .filter(|_| unused.is_none())
        .map(|(at, why)| (*at, why.to_string(), valid_record_after(bytes, *at, 0)));
    if ctx.json {
        if let Some(at) = unused {
            json_line(&mut out, &json!({"type": "unused_tail", "offset": at, "length": bytes.len() as u64 - at}))?;
        }
        if let Some((at, why, next)) = &bad {
            json_line(&mut out, &json!({"type": "bad", "offset": at, "error": why, "next_valid_offset": next}))?;
        }
        let clean = bad.is_none() && undecodable == 0;
        json_line(
            &mut out,
            &json!({"type": "end", "records": records, "tombstones": tombstones, "valid_bytes": valid,
                    "file_bytes": bytes.len(), "clean": clean}),
        )?;
    } else {
        if let Some((at, why, next)) = &bad {
            let after = match next {
                Some(n) => format!(
                    "next valid record at offset {n} (an unsynced tail if this is the newest data file and \
                     the damage is at or after its durable watermark, corruption otherwise)"
                ),
                None => "nothing valid after it (a torn tail if this is the newest data file)".into(),
            };
            writeln!(out, "BAD record at offset {at}: {why}; {after}")?;
        }
        if let Some(at) = unused {
            let n = count(bytes.len() as u64 - at, "byte");
            writeln!(out, "unused tail at offset {at}: {n} of zeros, room preallocated for appends (open trims it)")?;
        }
        let (recs, tombs) = (count(records, "record"), count(tombstones, "tombstone"));
        writeln!(out, "{recs} ({tombs}), {valid} of {} valid", count(bytes.len() as u64, "byte"))?;
        if undecodable > 0 {
            writeln!(out, "{} whose value does not decompress", count(undecodable, "record"))?;
        }
    }
    out.flush()?;
    Ok(if bad.is_none() && undecodable == 0 { exit::OK } else { exit::CORRUPT })
}

fn record_line(
    out: &mut impl Write,
    off: u64,
    r: &Record<'_>,
    value: Result<&[u8], String>,
    enc: Enc,
    values: bool,
    ctx: &Ctx,
) -> Result<(), CliError> {
    let h = &r.header;
    if ctx.json {
        let mut m = Map::new();
        m.insert("type".into(), "record".into());
        m.insert("offset".into(), off.into());
        m.insert("len".into(), h.record_len().into());
        m.insert("crc".into(), h.crc.into());
        m.insert("ts_unix_nano".into(), h.ts.into());
        m.insert("expires_unix_nano".into(), h.expires.into());
        m.insert("flags".into(), h.flags.into());
        m.insert("tombstone".into(), h.is_tombstone().into());
        m.insert("compressed".into(), (h.flags & FLAG_COMPRESSED != 0).into());
        m.insert("codec".into(), h.codec.name().into());
        enc.put_json(&mut m, "key", r.key);
        m.insert("stored_len".into(), h.val_len.into());
        match &value {
            Ok(v) => {
                m.insert("value_len".into(), v.len().into());
                if values {
                    enc.put_json(&mut m, "value", v);
                }
            }
            Err(e) => {
                m.insert("value_len".into(), Value::Null);
                m.insert("value_error".into(), e.clone().into());
            }
        }
        json_line(out, &Value::Object(m))?;
    } else {
        let vlen = match &value {
            Ok(v) => v.len().to_string(),
            Err(e) => format!("? ({e})"),
        };
        write!(
            out,
            "offset={off} len={} flags={} codec={} ts={} expires={} key={} stored_len={} value_len={vlen}",
            h.record_len(),
            flags_text(h.flags),
            h.codec.name(),
            utc(h.ts),
            show_expiry(h.expires),
            enc.show(r.key),
            h.val_len
        )?;
        if let (true, Ok(v)) = (values, &value) {
            write!(out, " value={}", enc.show(v))?;
        }
        writeln!(out)?;
    }
    Ok(())
}

fn dump_hint(path: &Path, bytes: &[u8], enc: Enc, ctx: &Ctx) -> CmdResult {
    let mut out = stdout();
    let (file_id, covered) = HintPrefix::read(bytes).map_or((0, 0), |p| (p.file_id, p.covered));
    let named_id = path.file_name().and_then(|n| n.to_str()).and_then(parse_name).map(|(id, _)| id);
    let data_len = path.parent().and_then(|d| std::fs::metadata(d.join(data_name(file_id))).ok()).map(|m| m.len());
    let view = match HintView::check(bytes, file_id, covered) {
        Ok(v) => v,
        Err(e) => {
            if ctx.json {
                json_line(&mut out, &json!({"type": "bad", "offset": 0, "error": e.to_string()}))?;
            } else {
                writeln!(out, "BAD hint file: {e}")?;
            }
            out.flush()?;
            return Ok(exit::CORRUPT);
        }
    };
    let mut notes = Vec::new();
    if let Some(n) = named_id.filter(|&n| n != file_id) {
        notes.push(format!("the file is named for id {n} but describes id {file_id}"));
    }
    if let Some(l) = data_len.filter(|&l| l != covered) {
        notes.push(format!("stale: {} has {l} bytes", data_name(file_id)));
    }
    if ctx.json {
        json_line(
            &mut out,
            &json!({"type": "hint", "file_id": file_id, "covered_bytes": covered, "entries": view.len(),
                    "data_len": data_len, "notes": notes}),
        )?;
    } else {
        let (covered, entries) = (count(covered, "byte"), count(view.len() as u64, "entry"));
        writeln!(out, "hint for {} covering {covered}: {entries}", data_name(file_id))?;
        for n in &notes {
            writeln!(out, "note: {n}")?;
        }
    }
    for e in view.entries() {
        if ctx.json {
            let mut m = Map::new();
            m.insert("type".into(), "entry".into());
            m.insert("offset".into(), e.offset.into());
            m.insert("record_len".into(), e.record_len.into());
            m.insert("flags".into(), e.flags.into());
            m.insert("tombstone".into(), (e.flags & FLAG_TOMBSTONE != 0).into());
            m.insert("ts_unix_nano".into(), e.ts.into());
            m.insert("expires_unix_nano".into(), e.expires.into());
            enc.put_json(&mut m, "key", e.key);
            json_line(&mut out, &Value::Object(m))?;
        } else {
            writeln!(
                out,
                "offset={} record_len={} flags={} ts={} expires={} key={}",
                e.offset,
                e.record_len,
                flags_text(e.flags),
                utc(e.ts),
                show_expiry(e.expires),
                enc.show(e.key)
            )?;
        }
    }
    out.flush()?;
    Ok(exit::OK)
}
