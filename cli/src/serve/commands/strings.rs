//! String commands. Plain writes (SET without conditions, SETEX) are single puts; MSET is one
//! write batch and MSETNX one transaction, so both write all their keys or none; every
//! read-modify-write (SET NX/XX/GET/KEEPTTL/EXAT, SETNX, GETSET, GETDEL, APPEND, INCR*) is one
//! `Db::update`, atomic against every other writer. Inside EXEC they all go to the EXEC's overlay
//! instead (`store.rs`), committed with the rest of the EXEC as one batch.

use std::io;

use bitgask::Update;

use super::store::Store;
use super::{db_err, eq, int_arg, Ctx, E_NOT_INT, E_SYNTAX};
use crate::serve::resp::{parse_i64, Args};
use crate::serve::state::unix_nanos;

/// The largest absolute expiry in milliseconds whose nanoseconds fit the engine's u64.
const MAX_UNIX_MS: i64 = (u64::MAX / 1_000_000) as i64;

/// When a written key expires.
#[derive(Clone, Copy, PartialEq, Debug)]
pub enum Expiry {
    Never,
    /// Milliseconds from now (> 0).
    In(u64),
    /// Absolute Unix milliseconds (may be in the past: the key is then deleted).
    At(i64),
    /// Whatever the key had.
    Keep,
}

impl Expiry {
    /// Absolute expiry in Unix nanoseconds for the engine (0 = never); `None` when already past.
    pub fn resolve(self, now_ns: u64, current: u64) -> Option<u64> {
        match self {
            Expiry::Never => Some(0),
            Expiry::Keep => Some(current),
            Expiry::In(ms) => Some(now_ns.saturating_add(ms.saturating_mul(1_000_000))),
            Expiry::At(ms) => {
                let ns = (ms.max(0) as u64).saturating_mul(1_000_000);
                (ns > now_ns).then_some(ns)
            }
        }
    }
}

/// A relative expiry of `v` units of `unit_ms` milliseconds, checked as Redis does; `None`
/// after replying with the error.
pub fn relative(c: &mut Ctx<'_, '_>, v: i64, unit_ms: i64, cmd: &str) -> Option<u64> {
    let now_ms = (unix_nanos() / 1_000_000) as i64;
    match v.checked_mul(unit_ms) {
        Some(ms) if ms > 0 && ms <= MAX_UNIX_MS - now_ms => Some(ms as u64),
        _ => {
            c.out.err(&format!("ERR invalid expire time in '{cmd}' command"));
            None
        }
    }
}

/// An absolute expiry of `v` units of `unit_ms` milliseconds since the epoch.
pub fn absolute(c: &mut Ctx<'_, '_>, v: i64, unit_ms: i64, cmd: &str, positive: bool) -> Option<i64> {
    match v.checked_mul(unit_ms) {
        Some(ms) if ms <= MAX_UNIX_MS && (!positive || ms > 0) => Some(ms),
        _ => {
            c.out.err(&format!("ERR invalid expire time in '{cmd}' command"));
            None
        }
    }
}

pub fn get(c: &mut Ctx<'_, '_>, a: Args<'_>) -> io::Result<()> {
    let key = a.get(1);
    if !c.can_exist(key) {
        c.s.tally.misses += 1;
        c.out.null();
        return Ok(());
    }
    let out = &mut *c.out;
    match Store::of(&c.sh.db, &mut c.s.exec).get_with(key, |v| out.bulk(v)) {
        Ok(Some(())) => c.s.tally.hits += 1,
        Ok(None) => {
            c.s.tally.misses += 1;
            out.null();
        }
        Err(e) => db_err(out, &e),
    }
    Ok(())
}

pub fn mget(c: &mut Ctx<'_, '_>, a: Args<'_>) -> io::Result<()> {
    c.out.array(a.len() - 1);
    for key in a.iter().skip(1) {
        let found = if c.can_exist(key) {
            let out = &mut *c.out;
            match Store::of(&c.sh.db, &mut c.s.exec).get_with(key, |v| out.bulk(v)) {
                Ok(f) => f.is_some(),
                // The array is under way: a failed read shows as a missing value.
                Err(_) => false,
            }
        } else {
            false
        };
        if found {
            c.s.tally.hits += 1;
        } else {
            c.s.tally.misses += 1;
            c.out.null();
        }
        c.out.maybe_flush()?;
    }
    Ok(())
}

pub fn strlen(c: &mut Ctx<'_, '_>, a: Args<'_>) -> io::Result<()> {
    let key = a.get(1);
    if !c.can_exist(key) {
        c.out.int(0);
        return Ok(());
    }
    match Store::of(&c.sh.db, &mut c.s.exec).get_with(key, |v| v.len()) {
        Ok(n) => c.out.int(n.unwrap_or(0) as i64),
        Err(e) => db_err(c.out, &e),
    }
    Ok(())
}

#[derive(PartialEq, Clone, Copy)]
enum Cond {
    Always,
    Nx,
    Xx,
}

/// SET key value [NX | XX] [GET] [EX s | PX ms | EXAT ts | PXAT ms | KEEPTTL]
pub fn set(c: &mut Ctx<'_, '_>, a: Args<'_>) -> io::Result<()> {
    let (mut cond, mut get, mut exp) = (Cond::Always, false, None::<Expiry>);
    let mut i = 3;
    while i < a.len() {
        let opt = a.get(i);
        let next = (i + 1 < a.len()).then(|| a.get(i + 1));
        if eq(opt, "NX") && cond == Cond::Always {
            cond = Cond::Nx;
        } else if eq(opt, "XX") && cond == Cond::Always {
            cond = Cond::Xx;
        } else if eq(opt, "GET") && !get {
            get = true;
        } else if eq(opt, "KEEPTTL") && exp.is_none() {
            exp = Some(Expiry::Keep);
        } else if let Some(next) =
            next.filter(|_| ["EX", "PX", "EXAT", "PXAT"].iter().any(|w| eq(opt, w)) && exp.is_none())
        {
            let Some(v) = int_arg(c.out, next) else { return Ok(()) };
            let upper = opt.to_ascii_uppercase();
            let unit = if upper.starts_with(b"EX") { 1000 } else { 1 };
            exp = Some(if upper.ends_with(b"AT") {
                let Some(ms) = absolute(c, v, unit, "set", true) else { return Ok(()) };
                Expiry::At(ms)
            } else {
                let Some(ms) = relative(c, v, unit, "set") else { return Ok(()) };
                Expiry::In(ms)
            });
            i += 1;
        } else {
            c.out.err(E_SYNTAX);
            return Ok(());
        }
        i += 1;
    }
    let (key, value) = (a.get(1), a.get(2));
    let exp = exp.unwrap_or(Expiry::Never);
    if cond == Cond::Always && !get && matches!(exp, Expiry::Never | Expiry::In(_)) {
        let mut store = Store::of(&c.sh.db, &mut c.s.exec);
        let r = match exp {
            Expiry::In(ms) => store.put_ttl(key, value, ms),
            _ => store.put(key, value),
        };
        match r {
            Ok(()) => {
                c.s.tally.dirty += 1;
                c.out.ok();
            }
            Err(e) => db_err(c.out, &e),
        }
        return Ok(());
    }
    match conditional_set(c, key, value, cond, exp, get) {
        Ok((written, old)) => {
            if written {
                c.s.tally.dirty += 1;
            }
            if get {
                match old {
                    Some(v) => c.out.bulk(&v),
                    None => c.out.null(),
                }
            } else if written {
                c.out.ok();
            } else {
                c.out.null();
            }
        }
        Err(e) => db_err(c.out, &e),
    }
    Ok(())
}

/// The general SET: whether it wrote, and the old value when `get`.
fn conditional_set(
    c: &mut Ctx<'_, '_>,
    key: &[u8],
    value: &[u8],
    cond: Cond,
    exp: Expiry,
    get: bool,
) -> bitgask::Result<(bool, Option<Vec<u8>>)> {
    let now = unix_nanos();
    Store::of(&c.sh.db, &mut c.s.exec).update(key, |cur| {
        let old = if get { cur.map(|v| v.value.to_vec()) } else { None };
        let go = match cond {
            Cond::Always => true,
            Cond::Nx => cur.is_none(),
            Cond::Xx => cur.is_some(),
        };
        if !go {
            return (Update::Keep, (false, old));
        }
        match exp.resolve(now, cur.map_or(0, |v| v.expires_unix_nano)) {
            Some(expires_unix_nano) => (Update::Put { value: value.to_vec(), expires_unix_nano }, (true, old)),
            // An expiry already in the past: the key ends up absent, as in Redis.
            None => (Update::Delete, (true, old)),
        }
    })
}

pub fn setnx(c: &mut Ctx<'_, '_>, a: Args<'_>) -> io::Result<()> {
    match conditional_set(c, a.get(1), a.get(2), Cond::Nx, Expiry::Never, false) {
        Ok((written, _)) => {
            c.s.tally.dirty += written as u64;
            c.out.int(written as i64);
        }
        Err(e) => db_err(c.out, &e),
    }
    Ok(())
}

fn set_expiring(c: &mut Ctx<'_, '_>, a: Args<'_>, unit_ms: i64, cmd: &str) -> io::Result<()> {
    let Some(v) = int_arg(c.out, a.get(2)) else { return Ok(()) };
    let Some(ms) = relative(c, v, unit_ms, cmd) else { return Ok(()) };
    match Store::of(&c.sh.db, &mut c.s.exec).put_ttl(a.get(1), a.get(3), ms) {
        Ok(()) => {
            c.s.tally.dirty += 1;
            c.out.ok();
        }
        Err(e) => db_err(c.out, &e),
    }
    Ok(())
}

pub fn setex(c: &mut Ctx<'_, '_>, a: Args<'_>) -> io::Result<()> {
    set_expiring(c, a, 1000, "setex")
}

pub fn psetex(c: &mut Ctx<'_, '_>, a: Args<'_>) -> io::Result<()> {
    set_expiring(c, a, 1, "psetex")
}

/// MSET: every pair in one write batch, so all keys change at once (readers never see some of
/// them), and after a crash all or none are there. A key given twice ends with its last value.
pub fn mset(c: &mut Ctx<'_, '_>, a: Args<'_>) -> io::Result<()> {
    if a.len().is_multiple_of(2) {
        c.out.err("ERR wrong number of arguments for 'mset' command");
        return Ok(());
    }
    let pairs = pairs(&a);
    match Store::of(&c.sh.db, &mut c.s.exec).put_all(&pairs) {
        Ok(()) => {
            c.s.tally.dirty += pairs.len() as u64;
            c.out.ok();
        }
        Err(e) => db_err(c.out, &e),
    }
    Ok(())
}

/// MSETNX: sets every pair only if none of the keys exists, as one transaction (its existence
/// checks are validated at commit, and it runs again when another writer got in between).
/// Replies 1 when it set them, 0 when a key existed.
pub fn msetnx(c: &mut Ctx<'_, '_>, a: Args<'_>) -> io::Result<()> {
    if a.len().is_multiple_of(2) {
        c.out.err("ERR wrong number of arguments for 'msetnx' command");
        return Ok(());
    }
    match Store::of(&c.sh.db, &mut c.s.exec).put_all_if_absent(&pairs(&a)) {
        Ok(true) => {
            c.s.tally.dirty += (a.len() / 2) as u64;
            c.out.int(1);
        }
        Ok(false) => c.out.int(0),
        Err(e) => db_err(c.out, &e),
    }
    Ok(())
}

/// The key-value pairs of MSET and MSETNX (an odd argument count, checked by the caller).
fn pairs<'a>(a: &Args<'a>) -> Vec<(&'a [u8], &'a [u8])> {
    (1..a.len()).step_by(2).map(|i| (a.get(i), a.get(i + 1))).collect()
}

pub fn getdel(c: &mut Ctx<'_, '_>, a: Args<'_>) -> io::Result<()> {
    let key = a.get(1);
    if !c.can_exist(key) {
        c.out.null();
        return Ok(());
    }
    match Store::of(&c.sh.db, &mut c.s.exec).update(key, |cur| match cur {
        Some(v) => (Update::Delete, Some(v.value.to_vec())),
        None => (Update::Keep, None),
    }) {
        Ok(Some(v)) => {
            c.s.tally.dirty += 1;
            c.out.bulk(&v);
        }
        Ok(None) => c.out.null(),
        Err(e) => db_err(c.out, &e),
    }
    Ok(())
}

/// GETSET: sets the value (dropping any expiry, as Redis does) and returns the old one.
pub fn getset(c: &mut Ctx<'_, '_>, a: Args<'_>) -> io::Result<()> {
    match conditional_set(c, a.get(1), a.get(2), Cond::Always, Expiry::Never, true) {
        Ok((_, old)) => {
            c.s.tally.dirty += 1;
            match old {
                Some(v) => c.out.bulk(&v),
                None => c.out.null(),
            }
        }
        Err(e) => db_err(c.out, &e),
    }
    Ok(())
}

pub fn append(c: &mut Ctx<'_, '_>, a: Args<'_>) -> io::Result<()> {
    let (key, more) = (a.get(1), a.get(2));
    let max = c.sh.cfg.max_value_size as usize;
    let r = Store::of(&c.sh.db, &mut c.s.exec).update(key, |cur| {
        let (old, expires) = cur.map_or((&[][..], 0), |v| (v.value, v.expires_unix_nano));
        if old.len() + more.len() > max {
            return (Update::Keep, None);
        }
        let mut value = Vec::with_capacity(old.len() + more.len());
        value.extend_from_slice(old);
        value.extend_from_slice(more);
        let n = value.len();
        (Update::Put { value, expires_unix_nano: expires }, Some(n))
    });
    match r {
        Ok(Some(n)) => {
            c.s.tally.dirty += 1;
            c.out.int(n as i64);
        }
        Ok(None) => c.out.err("ERR string exceeds maximum allowed size (max-value-size)"),
        Err(e) => db_err(c.out, &e),
    }
    Ok(())
}

/// INCR and friends: the new value keeps the key's expiry, as in Redis.
fn incr_by(c: &mut Ctx<'_, '_>, key: &[u8], delta: i64) -> io::Result<()> {
    let r = Store::of(&c.sh.db, &mut c.s.exec).update(key, |cur| {
        let (v, expires) = match cur {
            None => (0, 0),
            Some(cur) => match parse_i64(cur.value) {
                Some(v) => (v, cur.expires_unix_nano),
                None => return (Update::Keep, Err(E_NOT_INT)),
            },
        };
        match v.checked_add(delta) {
            Some(n) => (Update::Put { value: n.to_string().into_bytes(), expires_unix_nano: expires }, Ok(n)),
            None => (Update::Keep, Err("ERR increment or decrement would overflow")),
        }
    });
    match r {
        Ok(Ok(n)) => {
            c.s.tally.dirty += 1;
            c.out.int(n);
        }
        Ok(Err(msg)) => c.out.err(msg),
        Err(e) => db_err(c.out, &e),
    }
    Ok(())
}

pub fn incr(c: &mut Ctx<'_, '_>, a: Args<'_>) -> io::Result<()> {
    incr_by(c, a.get(1), 1)
}

pub fn decr(c: &mut Ctx<'_, '_>, a: Args<'_>) -> io::Result<()> {
    incr_by(c, a.get(1), -1)
}

pub fn incrby(c: &mut Ctx<'_, '_>, a: Args<'_>) -> io::Result<()> {
    let Some(d) = int_arg(c.out, a.get(2)) else { return Ok(()) };
    incr_by(c, a.get(1), d)
}

pub fn decrby(c: &mut Ctx<'_, '_>, a: Args<'_>) -> io::Result<()> {
    let Some(d) = int_arg(c.out, a.get(2)) else { return Ok(()) };
    let Some(d) = d.checked_neg() else {
        c.out.err("ERR decrement would overflow");
        return Ok(());
    };
    incr_by(c, a.get(1), d)
}
