//! keys, scan, range: listings in key byte order.

use std::io::Write;

use bitgask::Iter;
use serde_json::{Map, Value};

use super::db_args::{close, DbArgs};
use super::encoding::{Enc, EncArgs};
use super::error::{exit, CmdResult};
use super::output::{json_line, stdout, Ctx};

/// Arguments of `keys` and `scan`.
#[derive(clap::Args, Debug)]
pub struct PrefixArgs {
    /// Only keys starting with this prefix (default: every key).
    #[arg(default_value = "")]
    pub prefix: String,
    /// Stop after this many keys.
    #[arg(long, value_name = "N")]
    pub limit: Option<u64>,
    #[command(flatten)]
    pub enc: EncArgs,
    #[command(flatten)]
    pub db: DbArgs,
}

/// Lists keys with a prefix, one per line. JSON: one {"key": ...} object per line.
pub fn keys(a: PrefixArgs, ctx: &Ctx) -> CmdResult {
    list_prefix(a, false, ctx)
}

/// Lists keys with a prefix and their values: `KEY<TAB>VALUE` per line (escaped, or
/// hex/base64). JSON: one {"key", "value"} object per line.
pub fn scan(a: PrefixArgs, ctx: &Ctx) -> CmdResult {
    list_prefix(a, true, ctx)
}

fn list_prefix(a: PrefixArgs, with_values: bool, ctx: &Ctx) -> CmdResult {
    let enc = a.enc.enc();
    let prefix = enc.decode("prefix", &a.prefix)?;
    let db = a.db.open(false)?;
    let it = db.iter_prefix(&prefix)?;
    emit(it, enc, with_values, a.limit, ctx)?;
    close(db)?;
    Ok(exit::OK)
}

#[derive(clap::Args, Debug)]
pub struct RangeArgs {
    /// First key of the range (inclusive).
    pub start: String,
    /// End of the range (exclusive); no upper bound when omitted.
    pub end: Option<String>,
    /// Print values too (`KEY<TAB>VALUE`).
    #[arg(long)]
    pub values: bool,
    /// Stop after this many keys.
    #[arg(long, value_name = "N")]
    pub limit: Option<u64>,
    #[command(flatten)]
    pub enc: EncArgs,
    #[command(flatten)]
    pub db: DbArgs,
}

/// Lists the keys in [START, END) in byte order.
pub fn range(a: RangeArgs, ctx: &Ctx) -> CmdResult {
    let enc = a.enc.enc();
    let start = enc.decode("start", &a.start)?;
    let end = a.end.as_deref().map(|e| enc.decode("end", e)).transpose()?;
    let db = a.db.open(false)?;
    let it = db.iter_range(&start, end.as_deref())?;
    emit(it, enc, a.values, a.limit, ctx)?;
    close(db)?;
    Ok(exit::OK)
}

fn emit(mut it: Iter, enc: Enc, values: bool, limit: Option<u64>, ctx: &Ctx) -> Result<(), super::error::CliError> {
    let mut out = stdout();
    let mut n = 0u64;
    while limit.is_none_or(|l| n < l) && it.advance(values)? {
        n += 1;
        if ctx.json {
            let mut m = Map::new();
            enc.put_json(&mut m, "key", it.key());
            if values {
                enc.put_json(&mut m, "value", it.value());
            }
            json_line(&mut out, &Value::Object(m))?;
        } else if values {
            writeln!(out, "{}\t{}", enc.show(it.key()), enc.show(it.value()))?;
        } else {
            writeln!(out, "{}", enc.show(it.key()))?;
        }
    }
    out.flush()?;
    Ok(())
}
