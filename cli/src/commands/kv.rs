//! get, put, del, exists.

use std::io::{Read, Write};
use std::time::Duration;

use bitgask::{Db, Update};
use serde_json::{json, Map, Value};

use super::db_args::{close, DbArgs};
use super::encoding::{Enc, EncArgs};
use super::error::{exit, CliError, CmdResult};
use super::output::{print_json, stdout, Ctx};
use super::units::{now_ns, parse_ttl, utc};

/// The value and absolute expiry of `key` read together (`None`: absent or expired).
pub fn read_with_expiry(db: &Db, key: &[u8]) -> Result<Option<(Vec<u8>, u64)>, CliError> {
    // `update` with `Keep` is the one call that returns value and expiry from the same record.
    Ok(db.update(key, |cur| (Update::Keep, cur.map(|c| (c.value.to_vec(), c.expires_unix_nano))))?)
}

/// Remaining milliseconds of an absolute expiry (rounded up), `None` for "never".
fn ttl_ms(expires: u64) -> Option<u64> {
    (expires != 0).then(|| expires.saturating_sub(now_ns()).div_ceil(1_000_000))
}

#[derive(clap::Args, Debug)]
pub struct GetArgs {
    /// The key.
    pub key: String,
    /// Print the value's bytes exactly, without the trailing newline.
    #[arg(short = 'n', long)]
    pub raw: bool,
    #[command(flatten)]
    pub enc: EncArgs,
    #[command(flatten)]
    pub db: DbArgs,
}

/// Prints the value of a key: its bytes as they are (plus a newline unless --raw), or hex /
/// base64 with --hex / --base64. JSON: {"key", "found", "value" (or value_b64/value_hex),
/// "expires_unix_nano", "ttl_ms"}. Exit code 1 when the key is absent or expired.
pub fn get(a: GetArgs, ctx: &Ctx) -> CmdResult {
    let enc = a.enc.enc();
    let key = enc.decode("key", &a.key)?;
    let db = a.db.open(false)?;
    let found = read_with_expiry(&db, &key)?;
    close(db)?;
    if ctx.json {
        let mut m = Map::new();
        enc.put_json(&mut m, "key", &key);
        m.insert("found".into(), found.is_some().into());
        if let Some((v, exp)) = &found {
            enc.put_json(&mut m, "value", v);
            m.insert("expires_unix_nano".into(), (*exp).into());
            m.insert("ttl_ms".into(), ttl_ms(*exp).map_or(Value::Null, Value::from));
        }
        print_json(&Value::Object(m))?;
    } else if let Some((v, _)) = &found {
        let mut out = stdout();
        match enc {
            Enc::Utf8 => out.write_all(v)?,
            _ => out.write_all(enc.show(v).as_bytes())?,
        }
        if !a.raw {
            out.write_all(b"\n")?;
        }
        out.flush()?;
    } else {
        eprintln!("bitgask: not found: {}", enc.show(&key));
    }
    Ok(if found.is_some() { exit::OK } else { exit::NOT_FOUND })
}

#[derive(clap::Args, Debug)]
pub struct PutArgs {
    /// The key.
    pub key: String,
    /// The value (or --stdin).
    #[arg(required_unless_present = "stdin", conflicts_with = "stdin")]
    pub value: Option<String>,
    /// Read the value's bytes from standard input (binary-safe; --hex/--base64 then apply to
    /// the key only).
    #[arg(long)]
    pub stdin: bool,
    /// Expire the key after this long: e.g. 500ms, 10s, 2h, 1h30m (units ms, s, m, h, d; at least
    /// 1ms).
    #[arg(long, value_name = "DURATION", value_parser = parse_ttl, allow_hyphen_values = true)]
    pub ttl: Option<Duration>,
    #[command(flatten)]
    pub enc: EncArgs,
    #[command(flatten)]
    pub db: DbArgs,
}

/// Stores a value (creating the database if needed). Prints nothing; JSON: {"ok": true, ...}.
pub fn put(a: PutArgs, ctx: &Ctx) -> CmdResult {
    let enc = a.enc.enc();
    let key = enc.decode("key", &a.key)?;
    let value = match &a.value {
        Some(v) => enc.decode("value", v)?,
        None => {
            let mut buf = Vec::new();
            std::io::stdin().read_to_end(&mut buf).map_err(|e| CliError::other(format!("read stdin: {e}")))?;
            buf
        }
    };
    let db = a.db.open(true)?;
    match a.ttl {
        Some(t) => db.put_ttl(&key, &value, t.as_millis() as u64)?,
        None => db.put(&key, &value)?,
    }
    close(db)?;
    if ctx.json {
        let mut m = Map::new();
        m.insert("ok".into(), true.into());
        enc.put_json(&mut m, "key", &key);
        m.insert("value_len".into(), value.len().into());
        m.insert("ttl_ms".into(), a.ttl.map_or(Value::Null, |t| Value::from(t.as_millis() as u64)));
        print_json(&Value::Object(m))?;
    }
    Ok(exit::OK)
}

#[derive(clap::Args, Debug)]
pub struct DelArgs {
    /// The keys to delete.
    #[arg(required = true, value_name = "KEY")]
    pub keys: Vec<String>,
    #[command(flatten)]
    pub enc: EncArgs,
    #[command(flatten)]
    pub db: DbArgs,
}

/// Deletes keys; prints how many existed. Exit code 1 when any of them was absent.
pub fn del(a: DelArgs, ctx: &Ctx) -> CmdResult {
    let enc = a.enc.enc();
    let keys = a.keys.iter().map(|k| enc.decode("key", k)).collect::<Result<Vec<_>, _>>()?;
    let db = a.db.open(false)?;
    let mut missing = Vec::new();
    let mut deleted = 0u64;
    for k in &keys {
        if db.delete(k)? {
            deleted += 1;
        } else {
            missing.push(k);
        }
    }
    close(db)?;
    if ctx.json {
        let missing: Vec<Value> = missing
            .iter()
            .map(|k| {
                let mut m = Map::new();
                enc.put_json(&mut m, "key", k);
                Value::Object(m)
            })
            .collect();
        print_json(&json!({"deleted": deleted, "missing": missing}))?;
    } else {
        println!("{deleted}");
        for k in &missing {
            eprintln!("bitgask: not found: {}", enc.show(k));
        }
    }
    Ok(if missing.is_empty() { exit::OK } else { exit::NOT_FOUND })
}

#[derive(clap::Args, Debug)]
pub struct ExistsArgs {
    /// The key.
    pub key: String,
    #[command(flatten)]
    pub enc: EncArgs,
    #[command(flatten)]
    pub db: DbArgs,
}

/// Prints `true` or `false`; exit code 1 when the key is absent or expired.
pub fn exists(a: ExistsArgs, ctx: &Ctx) -> CmdResult {
    let enc = a.enc.enc();
    let key = enc.decode("key", &a.key)?;
    let db = a.db.open(false)?;
    let found = db.exists(&key)?;
    close(db)?;
    if ctx.json {
        let mut m = Map::new();
        enc.put_json(&mut m, "key", &key);
        m.insert("exists".into(), found.into());
        print_json(&Value::Object(m))?;
    } else {
        println!("{found}");
    }
    Ok(if found { exit::OK } else { exit::NOT_FOUND })
}

/// For `utc` users elsewhere: an expiry for people.
pub fn show_expiry(expires: u64) -> String {
    if expires == 0 {
        "never".into()
    } else {
        utc(expires)
    }
}
