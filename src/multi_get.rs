//! `Db::multi_get`: the values of many keys in one call, read with their memory loads overlapped
//! (`engine::multi_read`). Each key's result is what `Db::get` of that key alone would give.

use crate::clock::now_ns;
use crate::db::{check_sizes, Db};
use crate::error::{Error, Result};

impl Db {
    /// The values of `keys`, in their order: for each, `Ok(None)` when it is absent or expired,
    /// or the error reading it gave (`Corrupt`, `Io`), which concerns that key only. The outer
    /// error is for the call as a whole (a closed handle, an empty or oversized key), before
    /// anything is read.
    pub fn multi_get(&self, keys: &[&[u8]]) -> Result<Vec<Result<Option<Vec<u8>>>>> {
        self.multi_get_with(keys, |_, v| v.to_vec())
    }

    /// Calls `f(i, value)` for each `keys[i]` found, without copying the value out of the data
    /// file when possible; results as for [`Db::multi_get`].
    pub fn multi_get_with<R>(
        &self,
        keys: &[&[u8]],
        mut f: impl FnMut(usize, &[u8]) -> R,
    ) -> Result<Vec<Result<Option<R>>>> {
        let e = self.engine();
        for key in keys {
            check_sizes(e.opts(), key, 0)?;
        }
        e.check_open()?;
        let found = e.with_current_many(keys, |i, loc, r| {
            if r.header.expires != 0 && r.header.is_expired(now_ns()) {
                e.forget_expired(keys[i], loc);
                return Ok(None);
            }
            let value = r.value().map_err(|bad| Error::Corrupt(format!("key's value does not decode: {bad}")))?;
            Ok(Some(f(i, &value)))
        });
        Ok(found.into_iter().map(|r| r.map(Option::flatten)).collect())
    }
}

#[cfg(test)]
#[path = "multi_get_tests.rs"]
mod tests;
