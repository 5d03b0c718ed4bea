//! ttl, expire, persist: a key's expiry, as the library's `Db::ttl`, `Db::expire` and
//! `Db::persist` (and the server's TTL, EXPIRE and PERSIST) see it.

use std::time::Duration;

use bitgask::Ttl;
use serde_json::{Map, Value};

use super::db_args::{close, DbArgs};
use super::encoding::{Enc, EncArgs};
use super::error::{exit, CmdResult};
use super::output::{print_json, Ctx};
use super::units::parse_ttl;

#[derive(clap::Args, Debug)]
pub struct TtlArgs {
    /// The key.
    pub key: String,
    #[command(flatten)]
    pub enc: EncArgs,
    #[command(flatten)]
    pub db: DbArgs,
}

/// Prints the time left as `<N>ms` (rounded up, usable as a --ttl) or `never`. JSON: {"key",
/// "found", "ttl_ms" (null: never)}. Exit code 1 when the key is absent or expired.
pub fn ttl(a: TtlArgs, ctx: &Ctx) -> CmdResult {
    let enc = a.enc.enc();
    let key = enc.decode("key", &a.key)?;
    let db = a.db.open(false)?;
    let t = db.ttl(&key)?;
    close(db)?;
    if ctx.json {
        let mut m = found_json(enc, &key, t.is_some());
        if let Some(t) = t {
            m.insert("ttl_ms".into(), ttl_value(t));
        }
        print_json(&Value::Object(m))?;
    } else {
        match t {
            Some(Ttl::Never) => println!("never"),
            Some(Ttl::Remaining(ms)) => println!("{ms}ms"),
            None => eprintln!("bitgask: not found: {}", enc.show(&key)),
        }
    }
    Ok(if t.is_some() { exit::OK } else { exit::NOT_FOUND })
}

#[derive(clap::Args, Debug)]
pub struct ExpireArgs {
    /// The key.
    pub key: String,
    /// Time from now until the key expires: e.g. 500ms, 10s, 2h, 1h30m (at least 1ms; persist
    /// removes an expiry, del deletes the key).
    #[arg(value_name = "DURATION", value_parser = parse_ttl, allow_hyphen_values = true)]
    pub ttl: Duration,
    #[command(flatten)]
    pub enc: EncArgs,
    #[command(flatten)]
    pub db: DbArgs,
}

/// Gives an existing key a new lifetime, keeping its value. Prints nothing; JSON: {"key",
/// "found"}. Exit code 1 when the key is absent or expired (nothing is written).
pub fn expire(a: ExpireArgs, ctx: &Ctx) -> CmdResult {
    let enc = a.enc.enc();
    let key = enc.decode("key", &a.key)?;
    let db = a.db.open(false)?;
    let found = db.expire(&key, a.ttl.as_millis() as u64)?;
    close(db)?;
    report_change(ctx, enc, &key, found)
}

#[derive(clap::Args, Debug)]
pub struct PersistArgs {
    /// The key.
    pub key: String,
    #[command(flatten)]
    pub enc: EncArgs,
    #[command(flatten)]
    pub db: DbArgs,
}

/// Removes a key's expiry. Prints nothing; JSON: {"key", "found"}. Exit code 1 when the key is
/// absent or expired.
pub fn persist(a: PersistArgs, ctx: &Ctx) -> CmdResult {
    let enc = a.enc.enc();
    let key = enc.decode("key", &a.key)?;
    let db = a.db.open(false)?;
    let found = db.persist(&key)?;
    close(db)?;
    report_change(ctx, enc, &key, found)
}

fn report_change(ctx: &Ctx, enc: Enc, key: &[u8], found: bool) -> CmdResult {
    if ctx.json {
        print_json(&Value::Object(found_json(enc, key, found)))?;
    } else if !found {
        eprintln!("bitgask: not found: {}", enc.show(key));
    }
    Ok(if found { exit::OK } else { exit::NOT_FOUND })
}

fn found_json(enc: Enc, key: &[u8], found: bool) -> Map<String, Value> {
    let mut m = Map::new();
    enc.put_json(&mut m, "key", key);
    m.insert("found".into(), found.into());
    m
}

fn ttl_value(t: Ttl) -> Value {
    match t {
        Ttl::Never => Value::Null,
        Ttl::Remaining(ms) => ms.into(),
    }
}
