//! export and import: JSON lines, binary-safe.
//!
//! One object per key: `{"key": K, "value": V, "expires_unix_nano": N}`. `key` and `value`
//! are UTF-8 strings when the bytes are valid UTF-8; otherwise the field is `key_b64` /
//! `value_b64` (standard base64, padded). `export --base64` always writes the `_b64` forms.
//! Import also accepts `key_hex` / `value_hex`. `expires_unix_nano` is the absolute expiry in
//! Unix nanoseconds, 0 (or absent) for none.

use std::fs::File;
use std::io::{self, BufRead, BufReader, BufWriter, Read, Write};
use std::path::PathBuf;

use bitgask::Update;
use serde_json::{json, Map, Value};

use super::db_args::{close, DbArgs};
use super::encoding::{get_json, Enc};
use super::error::{exit, CliError, CmdResult};
use super::kv::read_with_expiry;
use super::output::{json_line, print_json, Ctx};
use super::units::{count, now_ns};

#[derive(clap::Args, Debug)]
pub struct ExportArgs {
    /// Only keys starting with this prefix (UTF-8).
    #[arg(long, default_value = "", value_name = "PREFIX")]
    pub prefix: String,
    /// Write to this file instead of standard output.
    #[arg(short, long, value_name = "FILE")]
    pub output: Option<PathBuf>,
    /// Always write key_b64/value_b64, even for UTF-8 data.
    #[arg(long)]
    pub base64: bool,
    #[command(flatten)]
    pub db: DbArgs,
}

/// Writes every live key (in key order) with its value and expiry, one JSON object per line.
pub fn export(a: ExportArgs, ctx: &Ctx) -> CmdResult {
    let enc = if a.base64 { Enc::Base64 } else { Enc::Utf8 };
    let db = a.db.open(false)?;
    let mut out: Box<dyn Write> = match &a.output {
        Some(p) => Box::new(File::create(p).map_err(|e| CliError::other(format!("create {}: {e}", p.display())))?),
        None => Box::new(io::stdout()),
    };
    let mut out = BufWriter::with_capacity(256 << 10, &mut out);
    let mut it = db.iter_prefix(a.prefix.as_bytes())?;
    let pb = ctx.bar(it.snapshot_len() as u64, "exporting", false, a.output.is_none());
    let mut n = 0u64;
    while it.advance(false)? {
        pb.inc(1);
        // Value and expiry from the same record; a key that expired since the snapshot is gone.
        let Some((value, expires)) = read_with_expiry(&db, it.key())? else { continue };
        let mut m = Map::new();
        enc.put_json(&mut m, "key", it.key());
        enc.put_json(&mut m, "value", &value);
        m.insert("expires_unix_nano".into(), expires.into());
        json_line(&mut out, &Value::Object(m))?;
        n += 1;
    }
    out.flush()?;
    drop(out);
    pb.finish_and_clear();
    close(db)?;
    if let Some(p) = &a.output {
        if ctx.json {
            print_json(&json!({"exported": n, "output": p.display().to_string()}))?;
        } else {
            println!("exported {} to {}", count(n, "key"), p.display());
        }
    }
    Ok(exit::OK)
}

#[derive(clap::Args, Debug)]
pub struct ImportArgs {
    /// JSON lines as `export` writes them; `-` or nothing reads standard input.
    pub input: Option<PathBuf>,
    #[command(flatten)]
    pub db: DbArgs,
}

/// Stores every record of the input (creating the database if needed), keeping each expiry;
/// records already expired are skipped. Writes are synced once at the end, not one by one. The
/// first bad line stops the import (exit code 5) with the lines before it stored.
pub fn import(a: ImportArgs, ctx: &Ctx) -> CmdResult {
    let input = a.input.filter(|p| p.as_os_str() != "-");
    let (reader, size): (Box<dyn Read>, Option<u64>) = match &input {
        Some(p) => {
            let f = File::open(p).map_err(|e| CliError::other(format!("open {}: {e}", p.display())))?;
            let size = f.metadata().ok().map(|m| m.len());
            (Box::new(f), size)
        }
        None => (Box::new(io::stdin()), None),
    };
    let src = input.as_ref().map_or("stdin".to_string(), |p| p.display().to_string());
    a.db.require_db(true)?;
    let mut opts = a.db.options()?;
    // One sync when the database closes instead of one per record.
    opts.set_sync_on_put(false).set_sync_on_delete(false);
    let db = bitgask::Db::open(&a.db.dir, opts)
        .map_err(|e| CliError::from(e).context(format!("open {}", a.db.dir.display())))?;
    let pb = match size {
        Some(s) => ctx.bar(s, "importing", true, false),
        None => ctx.spinner("importing"),
    };
    let mut reader = BufReader::with_capacity(256 << 10, reader);
    let (mut imported, mut expired, mut lineno) = (0u64, 0u64, 0u64);
    let mut line = Vec::new();
    let result = loop {
        line.clear();
        let got = match reader.read_until(b'\n', &mut line) {
            Ok(n) => n,
            Err(e) => break Err(CliError::other(format!("read {src}: {e}"))),
        };
        if got == 0 {
            break Ok(());
        }
        lineno += 1;
        pb.inc(got as u64);
        if line.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        let (key, value, expires) = match parse_line(&line) {
            Ok(r) => r,
            Err(m) => break Err(CliError::other(format!("{src}:{lineno}: {m}"))),
        };
        if expires != 0 && now_ns() >= expires {
            expired += 1;
            continue;
        }
        let stored = db.update(&key, |_| (Update::Put { value, expires_unix_nano: expires }, ()));
        if let Err(e) = stored {
            break Err(CliError::from(e).context(format!("{src}:{lineno}")));
        }
        imported += 1;
    };
    pb.finish_and_clear();
    let closed = close(db);
    if let Err(e) = result {
        return Err(e.context(format!("import stopped after {}", count(imported, "record"))));
    }
    closed?;
    if ctx.json {
        print_json(&json!({"imported": imported, "skipped_expired": expired}))?;
    } else {
        println!("imported {} ({expired} already expired, skipped)", count(imported, "record"));
    }
    Ok(exit::OK)
}

fn parse_line(line: &[u8]) -> Result<(Vec<u8>, Vec<u8>, u64), String> {
    let v: Value = serde_json::from_slice(line).map_err(|e| format!("not JSON: {e}"))?;
    let Value::Object(obj) = v else { return Err("not a JSON object".into()) };
    let key = get_json(&obj, "key")?.ok_or("no key, key_b64 or key_hex field")?;
    let value = get_json(&obj, "value")?.ok_or("no value, value_b64 or value_hex field")?;
    let expires = match obj.get("expires_unix_nano") {
        None | Some(Value::Null) => 0,
        Some(x) => x.as_u64().ok_or("expires_unix_nano is not a non-negative integer")?,
    };
    Ok((key, value, expires))
}
