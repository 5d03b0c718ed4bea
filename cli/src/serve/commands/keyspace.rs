//! Key commands: DEL/UNLINK, EXISTS, TTL family, EXPIRE family, PERSIST, TYPE, KEYS, SCAN.

use std::io;

use bitgask::{Ttl, Update};

use super::store::Store;
use super::strings::{absolute, relative, Expiry};
use super::{db_err, eq, int_arg, shown, Ctx, E_SYNTAX};
use crate::serve::budget::Part;
use crate::serve::glob::Glob;
use crate::serve::resp::{parse_i64, Args};
use crate::serve::state::unix_nanos;

/// Buckets one SCAN call may visit at most, whatever COUNT says: bounds the work of one call.
const MAX_SCAN_COUNT: i64 = 100_000;

/// Buckets one call into the engine's scan visits: KEYS and SCAN collect in steps this small,
/// so their results are held against the connection's budget as they grow.
const SCAN_CHUNK: usize = 256;

pub fn del(c: &mut Ctx<'_, '_>, a: Args<'_>) -> io::Result<()> {
    if let Some(n) = count_keys(c, &a, |db, key| db.delete(key)) {
        c.s.tally.dirty += n as u64;
        c.out.int(n);
    }
    Ok(())
}

pub fn exists(c: &mut Ctx<'_, '_>, a: Args<'_>) -> io::Result<()> {
    if let Some(n) = count_keys(c, &a, |db, key| db.exists(key)) {
        c.out.int(n);
    }
    Ok(())
}

/// Runs `op` on every key argument and counts the keys it answered true for; `None` after an
/// error, which has then been replied.
fn count_keys(
    c: &mut Ctx<'_, '_>,
    a: &Args<'_>,
    op: impl Fn(&mut Store<'_>, &[u8]) -> bitgask::Result<bool>,
) -> Option<i64> {
    let mut n = 0;
    for key in a.iter().skip(1) {
        if !c.can_exist(key) {
            continue;
        }
        match op(&mut Store::of(&c.sh.db, &mut c.s.exec), key) {
            Ok(true) => n += 1,
            Ok(false) => {}
            Err(e) => {
                db_err(c.out, &e);
                return None;
            }
        }
    }
    Some(n)
}

pub fn type_(c: &mut Ctx<'_, '_>, a: Args<'_>) -> io::Result<()> {
    let key = a.get(1);
    match if c.can_exist(key) { Store::of(&c.sh.db, &mut c.s.exec).exists(key) } else { Ok(false) } {
        Ok(true) => c.out.simple("string"),
        Ok(false) => c.out.simple("none"),
        Err(e) => db_err(c.out, &e),
    }
    Ok(())
}

fn ttl_reply(c: &mut Ctx<'_, '_>, key: &[u8], ms: bool) {
    if !c.can_exist(key) {
        c.out.int(-2);
        return;
    }
    match Store::of(&c.sh.db, &mut c.s.exec).ttl(key) {
        Ok(None) => c.out.int(-2),
        Ok(Some(Ttl::Never)) => c.out.int(-1),
        Ok(Some(Ttl::Remaining(left))) => c.out.int(if ms { left as i64 } else { (left as i64 + 500) / 1000 }),
        Err(e) => db_err(c.out, &e),
    }
}

pub fn ttl(c: &mut Ctx<'_, '_>, a: Args<'_>) -> io::Result<()> {
    ttl_reply(c, a.get(1), false);
    Ok(())
}

pub fn pttl(c: &mut Ctx<'_, '_>, a: Args<'_>) -> io::Result<()> {
    ttl_reply(c, a.get(1), true);
    Ok(())
}

fn expiretime_reply(c: &mut Ctx<'_, '_>, key: &[u8], unit_ns: u64) {
    if !c.can_exist(key) {
        c.out.int(-2);
        return;
    }
    match Store::of(&c.sh.db, &mut c.s.exec).expiry(key) {
        Ok(None) => c.out.int(-2),
        Ok(Some(0)) => c.out.int(-1),
        Ok(Some(at)) => c.out.int((at / unit_ns) as i64),
        Err(e) => db_err(c.out, &e),
    }
}

pub fn expiretime(c: &mut Ctx<'_, '_>, a: Args<'_>) -> io::Result<()> {
    expiretime_reply(c, a.get(1), 1_000_000_000);
    Ok(())
}

pub fn pexpiretime(c: &mut Ctx<'_, '_>, a: Args<'_>) -> io::Result<()> {
    expiretime_reply(c, a.get(1), 1_000_000);
    Ok(())
}

#[derive(Clone, Copy, PartialEq)]
enum When {
    Always,
    Nx,
    Xx,
    Gt,
    Lt,
}

/// EXPIRE / PEXPIRE / EXPIREAT / PEXPIREAT key time [NX | XX | GT | LT]
fn expire_generic(c: &mut Ctx<'_, '_>, a: Args<'_>, unit_ms: i64, absolute_time: bool, cmd: &str) -> io::Result<()> {
    let mut when = When::Always;
    for opt in a.iter().skip(3) {
        let w = if eq(opt, "NX") {
            When::Nx
        } else if eq(opt, "XX") {
            When::Xx
        } else if eq(opt, "GT") {
            When::Gt
        } else if eq(opt, "LT") {
            When::Lt
        } else {
            c.out.err(&format!("ERR Unsupported option {}", shown(opt)));
            return Ok(());
        };
        if when != When::Always && when != w {
            let msg = if matches!((when, w), (When::Gt, When::Lt) | (When::Lt, When::Gt)) {
                "ERR GT and LT options at the same time are not compatible"
            } else {
                "ERR NX and XX, GT or LT options at the same time are not compatible"
            };
            c.out.err(msg);
            return Ok(());
        }
        when = w;
    }
    let Some(v) = int_arg(c.out, a.get(2)) else { return Ok(()) };
    // Redis: a time at or before now deletes the key.
    let exp = if absolute_time {
        let Some(ms) = absolute(c, v, unit_ms, cmd, false) else { return Ok(()) };
        Expiry::At(ms)
    } else if v <= 0 {
        Expiry::At(0)
    } else {
        let Some(ms) = relative(c, v, unit_ms, cmd) else { return Ok(()) };
        Expiry::In(ms)
    };
    let key = a.get(1);
    if !c.can_exist(key) {
        c.out.int(0);
        return Ok(());
    }
    let now = unix_nanos();
    let r = Store::of(&c.sh.db, &mut c.s.exec).update(key, |cur| {
        let Some(cur) = cur else { return (Update::Keep, false) };
        let old = cur.expires_unix_nano;
        let new = exp.resolve(now, old);
        // No expiry counts as an infinite TTL for GT and LT.
        let (old_key, new_key) = (if old == 0 { u64::MAX } else { old }, new.unwrap_or(0));
        let go = match when {
            When::Always => true,
            When::Nx => old == 0,
            When::Xx => old != 0,
            When::Gt => new_key > old_key,
            When::Lt => new_key < old_key,
        };
        match (go, new) {
            (false, _) => (Update::Keep, false),
            (true, None) => (Update::Delete, true),
            (true, Some(e)) if e == old => (Update::Keep, true),
            (true, Some(e)) => (Update::Put { value: cur.value.to_vec(), expires_unix_nano: e }, true),
        }
    });
    reply_changed(c, r);
    Ok(())
}

pub fn expire(c: &mut Ctx<'_, '_>, a: Args<'_>) -> io::Result<()> {
    expire_generic(c, a, 1000, false, "expire")
}

pub fn pexpire(c: &mut Ctx<'_, '_>, a: Args<'_>) -> io::Result<()> {
    expire_generic(c, a, 1, false, "pexpire")
}

pub fn expireat(c: &mut Ctx<'_, '_>, a: Args<'_>) -> io::Result<()> {
    expire_generic(c, a, 1000, true, "expireat")
}

pub fn pexpireat(c: &mut Ctx<'_, '_>, a: Args<'_>) -> io::Result<()> {
    expire_generic(c, a, 1, true, "pexpireat")
}

/// PERSIST: 1 only when the key existed and had an expiry (Redis semantics).
pub fn persist(c: &mut Ctx<'_, '_>, a: Args<'_>) -> io::Result<()> {
    let key = a.get(1);
    if !c.can_exist(key) {
        c.out.int(0);
        return Ok(());
    }
    let r = Store::of(&c.sh.db, &mut c.s.exec).update(key, |cur| match cur {
        Some(v) if v.expires_unix_nano != 0 => (Update::Put { value: v.value.to_vec(), expires_unix_nano: 0 }, true),
        _ => (Update::Keep, false),
    });
    reply_changed(c, r);
    Ok(())
}

/// Replies 1 or 0 for a conditional update of one key, counting a change as a dirty write.
fn reply_changed(c: &mut Ctx<'_, '_>, r: bitgask::Result<bool>) {
    match r {
        Ok(done) => {
            c.s.tally.dirty += done as u64;
            c.out.int(done as i64);
        }
        Err(e) => db_err(c.out, &e),
    }
}

/// The keys `keep` accepts from `cursor` on, collected chunk by chunk until
/// `buckets` are visited, the scan wraps, or the results reach the connection's budget
/// (`over` in the result). Returns the next cursor (0: the scan is done) and the keys; the
/// budget's `Results` part holds their size (and `pattern_bytes`, the compiled pattern's) until
/// the caller sets it back to 0.
struct Collected {
    next: u64,
    keys: Vec<Vec<u8>>,
    over: bool,
}

fn collect(
    c: &mut Ctx<'_, '_>,
    cursor: u64,
    buckets: usize,
    pattern_bytes: usize,
    keep: impl Fn(&[u8]) -> bool,
) -> bitgask::Result<Collected> {
    let (mut next, mut keys, mut visited) = (cursor, Vec::new(), 0usize);
    let mut key_bytes = pattern_bytes;
    loop {
        let step = (buckets - visited).min(SCAN_CHUNK);
        let (n, chunk) = Store::of(&c.sh.db, &mut c.s.exec).scan(next, step, &keep)?;
        key_bytes += chunk.iter().map(Vec::capacity).sum::<usize>();
        keys.extend(chunk);
        (next, visited) = (n, visited + step);
        c.s.budget.set(Part::Results, key_bytes + keys.capacity() * std::mem::size_of::<Vec<u8>>());
        let over = c.s.budget.over();
        if next == 0 || visited >= buckets || over {
            return Ok(Collected { next, keys, over });
        }
    }
}

/// KEYS pattern: walks the whole key set with the stateless cursor, collecting matches (the
/// reply needs its length up front). Sorted, without the repeats a growing index may cause. A
/// result larger than the connection's memory limit is refused: SCAN returns it in parts.
pub fn keys(c: &mut Ctx<'_, '_>, a: Args<'_>) -> io::Result<()> {
    let glob = Glob::new(a.get(1));
    let r = collect(c, 0, usize::MAX, glob.held_bytes(), |k| glob.matches(k));
    c.s.budget.set(Part::Results, 0);
    let mut found = match r {
        Ok(Collected { over: true, .. }) => {
            let limit = c.s.budget.limit();
            c.out.err(&format!("ERR KEYS result exceeds the client memory limit ({limit} bytes); use SCAN"));
            return Ok(());
        }
        Ok(done) => done.keys,
        Err(e) => {
            db_err(c.out, &e);
            return Ok(());
        }
    };
    found.sort_unstable();
    found.dedup();
    c.out.array(found.len());
    for k in &found {
        c.out.bulk(k);
        c.out.maybe_flush()?;
    }
    Ok(())
}

/// SCAN cursor [MATCH pattern] [COUNT n] [TYPE type]. A call returns early (with the cursor
/// where it stopped) when its results reach the connection's memory budget.
pub fn scan(c: &mut Ctx<'_, '_>, a: Args<'_>) -> io::Result<()> {
    let cursor = match std::str::from_utf8(a.get(1)).ok().and_then(|s| s.parse::<u64>().ok()) {
        Some(v) => v,
        None => {
            c.out.err("ERR invalid cursor");
            return Ok(());
        }
    };
    let (mut glob, mut count, mut strings) = (None, 10i64, true);
    let mut i = 2;
    while i < a.len() {
        let opt = a.get(i);
        if i + 1 >= a.len() {
            c.out.err(E_SYNTAX);
            return Ok(());
        }
        let val = a.get(i + 1);
        if eq(opt, "MATCH") {
            glob = Some(Glob::new(val)).filter(|g| !g.matches_all());
        } else if eq(opt, "COUNT") {
            match parse_i64(val) {
                Some(n) if n >= 1 => count = n,
                Some(_) => {
                    c.out.err(E_SYNTAX);
                    return Ok(());
                }
                None => {
                    c.out.err(super::E_NOT_INT);
                    return Ok(());
                }
            }
        } else if eq(opt, "TYPE") {
            // Every bitgask value is a string.
            strings = eq(val, "string");
        } else {
            c.out.err(E_SYNTAX);
            return Ok(());
        }
        i += 2;
    }
    let count = count.min(MAX_SCAN_COUNT) as usize;
    let pattern_bytes = glob.as_ref().map_or(0, Glob::held_bytes);
    let r = collect(c, cursor, count, pattern_bytes, |k| strings && glob.as_ref().is_none_or(|g| g.matches(k)));
    c.s.budget.set(Part::Results, 0);
    match r {
        Ok(Collected { next, keys, .. }) => {
            c.out.array(2);
            c.out.bulk(next.to_string().as_bytes());
            c.out.array(keys.len());
            for k in &keys {
                c.out.bulk(k);
                c.out.maybe_flush()?;
            }
        }
        Err(e) => db_err(c.out, &e),
    }
    Ok(())
}
