//! What the key commands read and write: the database itself, or, while EXEC runs its queued
//! commands, an [`Overlay`] on it. The overlay keeps the commands' writes in memory (their reads
//! see them first) and EXEC commits them at the end as one write batch: readers never see part
//! of an EXEC, and after a crash all of its writes are there or none.

use std::collections::BTreeMap;

use bitgask::{Batch, Current, Db, Error, Result, Ttl, Update};

use crate::serve::state::unix_nanos;

/// A key's state as an EXEC's commands left it.
#[derive(Clone, Debug, PartialEq)]
struct Entry {
    value: Vec<u8>,
    /// Absolute expiry in Unix nanoseconds (0: never); `None` for a plain put, which takes the
    /// handle's default TTL when it is committed (as `Db::put` does).
    expires: Option<u64>,
}

impl Entry {
    fn live(&self, now: u64) -> bool {
        !matches!(self.expires, Some(e) if e != 0 && e <= now)
    }
}

/// The writes of the commands an EXEC has run so far: each key's last state (`None`: deleted).
#[derive(Debug)]
pub struct Overlay {
    writes: BTreeMap<Vec<u8>, Option<Entry>>,
    /// Heap bytes of the keys and values held (for the connection's memory budget).
    bytes: usize,
    max_key: usize,
    max_value: usize,
}

impl Overlay {
    pub fn new(max_key: usize, max_value: usize) -> Overlay {
        Overlay { writes: BTreeMap::new(), bytes: 0, max_key, max_value }
    }

    /// Heap bytes it holds (about: the keys, the values, and a tree slot per key).
    pub fn held_bytes(&self) -> usize {
        self.bytes
    }

    /// The handle's size checks, with its error texts, at the time of the write (the commit
    /// must not fail for a key the command already answered for).
    fn check(&self, key: &[u8], value_len: usize) -> Result<()> {
        if key.is_empty() {
            return Err(Error::InvalidArg("empty key".into()));
        }
        if key.len() > self.max_key {
            return Err(Error::TooLarge(format!("key of {} bytes exceeds max_key_size {}", key.len(), self.max_key)));
        }
        if value_len > self.max_value {
            return Err(Error::TooLarge(format!(
                "value of {value_len} bytes exceeds max_value_size {}",
                self.max_value
            )));
        }
        Ok(())
    }

    fn set(&mut self, key: &[u8], state: Option<Entry>) {
        let size = |s: &Option<Entry>| s.as_ref().map_or(0, |e| e.value.len());
        self.bytes += size(&state);
        match self.writes.insert(key.to_vec(), state) {
            Some(old) => self.bytes -= size(&old),
            None => self.bytes += key.len() + 64,
        }
    }

    /// The batch that commits the writes. Deletes of keys the database does not have are left
    /// out (they would only add tombstones).
    pub fn batch(&self, db: &Db) -> Result<Batch> {
        let mut b = Batch::new();
        for (key, state) in &self.writes {
            match state {
                Some(Entry { value, expires: None }) => b.put(key, value)?,
                Some(Entry { value, expires: Some(at) }) => b.put_at(key, value, *at)?,
                None if db.exists(key)? => b.delete(key)?,
                None => {}
            }
        }
        Ok(b)
    }
}

/// The database, or the database seen through an EXEC's overlay.
pub enum Store<'a> {
    Db(&'a Db),
    Exec(&'a Db, &'a mut Overlay),
}

impl Store<'_> {
    /// The key's value and expiry as the commands see it: the overlay's state when it has the key.
    /// `f` gets `None` when the key is absent or expired.
    fn current<R>(&mut self, key: &[u8], f: impl FnOnce(Option<Current<'_>>) -> R) -> Result<R> {
        let (db, state) = match self {
            Store::Db(db) => (*db, None),
            Store::Exec(db, o) => (*db, o.writes.get(key)),
        };
        match state {
            // A read through `update` (which writes nothing for `Keep`): the value and the
            // expiry of one record, taken together.
            None => db.update(key, |c| (Update::Keep, f(c))),
            Some(state) => {
                let now = unix_nanos();
                let cur = state.as_ref().filter(|e| e.live(now));
                Ok(f(cur.map(|e| Current { value: &e.value, expires_unix_nano: e.expires.unwrap_or(0) })))
            }
        }
    }

    /// The store commands use: the EXEC overlay while there is one.
    pub fn of<'a>(db: &'a Db, exec: &'a mut Option<Overlay>) -> Store<'a> {
        match exec {
            Some(o) => Store::Exec(db, o),
            None => Store::Db(db),
        }
    }

    pub fn get_with<R>(&mut self, key: &[u8], f: impl FnOnce(&[u8]) -> R) -> Result<Option<R>> {
        match self {
            Store::Db(db) => db.get_with(key, f),
            Store::Exec(..) => self.current(key, |c| c.map(|c| f(c.value))),
        }
    }

    pub fn exists(&mut self, key: &[u8]) -> Result<bool> {
        match self {
            Store::Db(db) => db.exists(key),
            Store::Exec(..) => self.current(key, |c| c.is_some()),
        }
    }

    /// The key's absolute expiry in Unix nanoseconds (0: never); `None` when absent.
    pub fn expiry(&mut self, key: &[u8]) -> Result<Option<u64>> {
        match self {
            Store::Db(db) => Ok(db.meta(key)?.map(|m| m.expires_unix_nano)),
            Store::Exec(..) => self.current(key, |c| c.map(|c| c.expires_unix_nano)),
        }
    }

    /// Remaining lifetime of the key; `None` when absent.
    pub fn ttl(&mut self, key: &[u8]) -> Result<Option<Ttl>> {
        match self {
            Store::Db(db) => db.ttl(key),
            Store::Exec(..) => Ok(self.expiry(key)?.map(|exp| match exp {
                0 => Ttl::Never,
                exp => Ttl::Remaining(exp.saturating_sub(unix_nanos()).div_ceil(1_000_000)),
            })),
        }
    }

    /// A put with the handle's default TTL, as `Db::put`.
    pub fn put(&mut self, key: &[u8], value: &[u8]) -> Result<()> {
        match self {
            Store::Db(db) => db.put(key, value),
            Store::Exec(_, o) => {
                o.check(key, value.len())?;
                o.set(key, Some(Entry { value: value.to_vec(), expires: None }));
                Ok(())
            }
        }
    }

    /// A put expiring `ttl_ms` (> 0) milliseconds from now, as `Db::put_ttl`.
    pub fn put_ttl(&mut self, key: &[u8], value: &[u8], ttl_ms: u64) -> Result<()> {
        match self {
            Store::Db(db) => db.put_ttl(key, value, ttl_ms),
            Store::Exec(_, o) => {
                o.check(key, value.len())?;
                let at = unix_nanos().saturating_add(ttl_ms.saturating_mul(1_000_000));
                o.set(key, Some(Entry { value: value.to_vec(), expires: Some(at) }));
                Ok(())
            }
        }
    }

    /// A read-modify-write of one key, as `Db::update` (atomic against every other writer: in
    /// EXEC, the gate keeps them out).
    pub fn update<R>(&mut self, key: &[u8], f: impl FnOnce(Option<Current<'_>>) -> (Update, R)) -> Result<R> {
        if let Store::Db(db) = self {
            return db.update(key, f);
        }
        if let Store::Exec(_, o) = self {
            o.check(key, 0)?;
        }
        let (action, existed, out) = self.current(key, |c| {
            let existed = c.is_some();
            let (action, out) = f(c);
            (action, existed, out)
        })?;
        let Store::Exec(_, o) = self else { unreachable!("handled above") };
        match action {
            Update::Keep => {}
            Update::Put { value, expires_unix_nano } => {
                o.check(key, value.len())?;
                o.set(key, Some(Entry { value, expires: Some(expires_unix_nano) }));
            }
            Update::Delete if existed => o.set(key, None),
            Update::Delete => {}
        }
        Ok(out)
    }

    /// Deletes the key; false when it was absent, as `Db::delete`.
    pub fn delete(&mut self, key: &[u8]) -> Result<bool> {
        match self {
            Store::Db(db) => db.delete(key),
            Store::Exec(..) => self.update(key, |c| (Update::Delete, c.is_some())),
        }
    }

    /// Puts every pair together: one write batch on the database.
    pub fn put_all(&mut self, pairs: &[(&[u8], &[u8])]) -> Result<()> {
        match self {
            Store::Db(db) => {
                let mut batch = Batch::new();
                pairs.iter().try_for_each(|(k, v)| batch.put(k, v))?;
                db.write(&batch)
            }
            Store::Exec(_, o) => {
                // All checked first: one bad pair writes none of them.
                pairs.iter().try_for_each(|(k, v)| o.check(k, v.len()))?;
                pairs.iter().try_for_each(|(k, v)| self.put(k, v))
            }
        }
    }

    /// Puts every pair if none of the keys exists (one transaction on the database); whether it
    /// did.
    pub fn put_all_if_absent(&mut self, pairs: &[(&[u8], &[u8])]) -> Result<bool> {
        if let Store::Db(db) = self {
            return db.update_txn(|t| {
                for (k, _) in pairs {
                    if t.exists(k)? {
                        return Ok(false);
                    }
                }
                pairs.iter().try_for_each(|(k, v)| t.put(k, v))?;
                Ok(true)
            });
        }
        for (k, _) in pairs {
            if self.exists(k)? {
                return Ok(false);
            }
        }
        self.put_all(pairs).map(|()| true)
    }

    /// One step of a SCAN-style cursor (`Db::scan`). Through the overlay, keys it deleted are
    /// left out, and keys it created that the database lacks come with the step that ends the
    /// scan (cursor 0).
    pub fn scan(&mut self, cursor: u64, count: usize, filter: impl Fn(&[u8]) -> bool) -> Result<(u64, Vec<Vec<u8>>)> {
        let (db, o) = match self {
            Store::Db(db) => return db.scan(cursor, count, filter),
            Store::Exec(db, o) => (*db, &**o),
        };
        let now = unix_nanos();
        let live = |k: &[u8]| o.writes.get(k).is_none_or(|s| s.as_ref().is_some_and(|e| e.live(now)));
        let (next, mut keys) = db.scan(cursor, count, |k| filter(k) && live(k))?;
        if next == 0 {
            for (k, s) in &o.writes {
                if s.as_ref().is_some_and(|e| e.live(now)) && filter(k) && !db.exists(k)? {
                    keys.push(k.clone());
                }
            }
        }
        Ok((next, keys))
    }

    /// How many keys there are.
    pub fn dbsize(&mut self) -> Result<u64> {
        let (db, o) = match self {
            Store::Db(db) => return Ok(db.stats()?.keys),
            Store::Exec(db, o) => (*db, &**o),
        };
        let now = unix_nanos();
        let mut n = db.stats()?.keys as i64;
        for (k, s) in &o.writes {
            let (was, is) = (db.exists(k)?, s.as_ref().is_some_and(|e| e.live(now)));
            n += is as i64 - was as i64;
        }
        Ok(n.max(0) as u64)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Tmp(std::path::PathBuf);

    impl Drop for Tmp {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    fn db(name: &str) -> (Tmp, Db) {
        let dir = std::env::temp_dir().join(format!("bitgask-store-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let db = Db::open(&dir, bitgask::Options::default()).unwrap();
        (Tmp(dir), db)
    }

    fn overlay() -> Overlay {
        Overlay::new(1024, 1 << 20)
    }

    fn get(s: &mut Store<'_>, k: &[u8]) -> Option<Vec<u8>> {
        s.get_with(k, <[u8]>::to_vec).unwrap()
    }

    #[test]
    fn writes_through_the_overlay_are_read_back_and_not_in_the_database_before_the_commit() {
        let (_t, db) = db("readback");
        db.put(b"a", b"1").unwrap();
        let mut o = overlay();
        let mut s = Store::Exec(&db, &mut o);
        s.put(b"b", b"2").unwrap();
        assert!(s.delete(b"a").unwrap());
        assert!(!s.delete(b"a").unwrap(), "already deleted in the overlay");
        assert_eq!((get(&mut s, b"a"), get(&mut s, b"b")), (None, Some(b"2".to_vec())));
        assert_eq!((db.get(b"a").unwrap(), db.get(b"b").unwrap()), (Some(b"1".to_vec()), None));
        db.write(&o.batch(&db).unwrap()).unwrap();
        assert_eq!((db.get(b"a").unwrap(), db.get(b"b").unwrap()), (None, Some(b"2".to_vec())));
    }

    #[test]
    fn update_sees_the_overlays_value_and_expiry() {
        let (_t, db) = db("update");
        db.put(b"n", b"5").unwrap();
        let mut o = overlay();
        let mut s = Store::Exec(&db, &mut o);
        let bump = |s: &mut Store<'_>| {
            s.update(b"n", |c| {
                let c = c.unwrap();
                let n: i64 = std::str::from_utf8(c.value).unwrap().parse().unwrap();
                let v = (n + 1).to_string().into_bytes();
                (Update::Put { value: v, expires_unix_nano: c.expires_unix_nano }, n + 1)
            })
            .unwrap()
        };
        assert_eq!((bump(&mut s), bump(&mut s)), (6, 7));
        s.put_ttl(b"t", b"x", 60_000).unwrap();
        assert!(matches!(s.ttl(b"t").unwrap(), Some(Ttl::Remaining(ms)) if ms > 59_000 && ms <= 60_000));
        assert_eq!(s.ttl(b"n").unwrap(), Some(Ttl::Never));
        assert_eq!(s.ttl(b"none").unwrap(), None);
        assert_eq!(db.get(b"n").unwrap(), Some(b"5".to_vec()));
    }

    #[test]
    fn sizes_are_checked_when_written_with_the_handles_errors() {
        let (_t, db) = db("sizes");
        let mut o = Overlay::new(4, 8);
        let mut s = Store::Exec(&db, &mut o);
        assert!(matches!(s.put(b"", b"v"), Err(Error::InvalidArg(_))));
        assert!(matches!(s.put(b"toolong", b"v"), Err(Error::TooLarge(_))));
        assert!(matches!(s.put(b"k", b"123456789"), Err(Error::TooLarge(_))));
        let pairs: [(&[u8], &[u8]); 2] = [(b"a", b"1"), (b"b", b"123456789")];
        assert!(s.put_all(&pairs).is_err());
        assert_eq!(get(&mut s, b"a"), None, "one bad pair writes none");
        assert_eq!(o.held_bytes(), 0);
    }

    #[test]
    fn put_all_if_absent_writes_all_or_none_through_the_overlay() {
        let (_t, db) = db("msetnx");
        db.put(b"x", b"0").unwrap();
        let mut o = overlay();
        let mut s = Store::Exec(&db, &mut o);
        let half: [(&[u8], &[u8]); 2] = [(b"x", b"1"), (b"y", b"1")];
        assert!(!s.put_all_if_absent(&half).unwrap());
        assert_eq!(get(&mut s, b"y"), None);
        s.delete(b"x").unwrap();
        assert!(s.put_all_if_absent(&half).unwrap());
        assert_eq!(get(&mut s, b"x"), Some(b"1".to_vec()));
    }

    #[test]
    fn scan_and_dbsize_count_the_overlay() {
        let (_t, db) = db("scan");
        for k in [&b"a"[..], b"b", b"c"] {
            db.put(k, b"v").unwrap();
        }
        let mut o = overlay();
        let mut s = Store::Exec(&db, &mut o);
        s.delete(b"a").unwrap();
        s.put(b"b", b"new").unwrap();
        s.put(b"d", b"v").unwrap();
        assert_eq!(s.dbsize().unwrap(), 3);
        let (mut cursor, mut keys) = (0, Vec::new());
        loop {
            let (next, found) = s.scan(cursor, 10, |_| true).unwrap();
            keys.extend(found);
            if next == 0 {
                break;
            }
            cursor = next;
        }
        keys.sort();
        assert_eq!(keys, vec![b"b".to_vec(), b"c".to_vec(), b"d".to_vec()]);
    }

    #[test]
    fn the_batch_leaves_out_deletes_of_absent_keys_and_keeps_absolute_expiries() {
        let (_t, db) = db("batch");
        db.put(b"here", b"v").unwrap();
        let mut o = overlay();
        let mut s = Store::Exec(&db, &mut o);
        s.delete(b"here").unwrap();
        s.update(b"never-there", |_| (Update::Delete, ())).unwrap();
        let at = unix_nanos() + 3_600_000_000_000;
        s.update(b"k", |_| (Update::Put { value: b"v".to_vec(), expires_unix_nano: at }, ())).unwrap();
        let b = o.batch(&db).unwrap();
        assert_eq!(b.len(), 2);
        db.write(&b).unwrap();
        assert_eq!(db.meta(b"k").unwrap().unwrap().expires_unix_nano, at);
        assert!(!db.exists(b"here").unwrap());
    }
}
