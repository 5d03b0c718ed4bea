//! `bitgask_multi_get`: many keys' values in one call (`Db::multi_get`), each value a buffer of
//! its own with `bitgask_get`'s ownership, each key a status of its own.

use super::boundary::{bytes, malloc_copy};
use super::db::{bitgask_db, with_db};
use super::error::bitgask_error;
use super::{bitgask_status, BITGASK_NOT_FOUND, BITGASK_OK};
use crate::error::{Error, Result};

/// Reads the values of `n` keys in one call: key `i` is `keys[i][0..klens[i])`. The keys'
/// lookups and record reads overlap (their memory loads are prefetched together), so a batch
/// reads many keys faster than as many `bitgask_get` calls; each key's answer is the one
/// `bitgask_get` would give, its record CRC-checked the same way. Keys may repeat.
/// For each key: `statuses_out[i]` = `BITGASK_OK`, and then `vals_out[i]` is a new buffer as
/// from `bitgask_get` (free each with `bitgask_free`; never NULL, even for an empty value) and
/// `vlens_out[i]` its length; or `BITGASK_NOT_FOUND` (absent or expired), `BITGASK_E_CORRUPT`
/// (its record fails its CRC or does not decode) or `BITGASK_E_IO` (its read or its buffer's
/// allocation failed), and then `vals_out[i]` is NULL and `vlens_out[i]` 0. A key's failure
/// does not stop the others; `bitgask_get` of that key gives the detail in an error object.
/// The arrays are written only when the call returns `BITGASK_OK`; `n` may be 0 (the arrays may
/// then be NULL).
/// Returns: `BITGASK_OK` (every key has its status); `BITGASK_E_NULL_ARG` (db, and when n > 0
/// keys, klens, vals_out, vlens_out, statuses_out, or a key NULL with a nonzero length);
/// `BITGASK_E_INVALID_ARG` (an empty key, or n too large for an array); `BITGASK_E_TOO_LARGE`
/// (a key above max_key_size). On these errors nothing is read and nothing is written.
/// Threads: safe to call concurrently on one handle.
#[no_mangle]
#[allow(clippy::too_many_arguments)]
pub unsafe extern "C" fn bitgask_multi_get(
    db: *const bitgask_db,
    n: usize,
    keys: *const *const u8,
    klens: *const usize,
    vals_out: *mut *mut u8,
    vlens_out: *mut usize,
    statuses_out: *mut bitgask_status,
    err_out: *mut *mut bitgask_error,
) -> bitgask_status {
    with_db(db, err_out, "bitgask_multi_get", |d| {
        let keys = key_list(n, keys, klens)?;
        let vals_out = array_mut(vals_out, n, "vals_out")?;
        let vlens_out = array_mut(vlens_out, n, "vlens_out")?;
        let statuses_out = array_mut(statuses_out, n, "statuses_out")?;
        let found = d.multi_get_with(&keys, |_, v| malloc_copy(v).map(|p| (p, v.len())))?;
        for (i, got) in found.into_iter().enumerate() {
            let (val, len, status) = match got.and_then(|copy| copy.transpose()) {
                Ok(Some((p, len))) => (p, len, BITGASK_OK),
                Ok(None) => (std::ptr::null_mut(), 0, BITGASK_NOT_FOUND),
                Err(e) => (std::ptr::null_mut(), 0, e.status()),
            };
            (vals_out[i], vlens_out[i], statuses_out[i]) = (val, len, status);
        }
        Ok(BITGASK_OK)
    })
}

/// The `n` keys of `keys[i][0..klens[i])`, each checked as a single key argument is.
unsafe fn key_list<'a>(n: usize, keys: *const *const u8, klens: *const usize) -> Result<Vec<&'a [u8]>> {
    let (ptrs, lens) = (array(keys, n, "keys")?, array(klens, n, "klens")?);
    ptrs.iter().zip(lens).map(|(&p, &len)| bytes(p, len, "key")).collect()
}

/// The caller's array of `n` elements at `p` (NULL allowed only when `n` is 0).
unsafe fn array<'a, T>(p: *const T, n: usize, name: &'static str) -> Result<&'a [T]> {
    checked(p.is_null(), n, std::mem::size_of::<T>(), name)?;
    Ok(if n == 0 { &[] } else { std::slice::from_raw_parts(p, n) })
}

/// The caller's array of `n` elements at `p`, to write (NULL allowed only when `n` is 0).
unsafe fn array_mut<'a, T>(p: *mut T, n: usize, name: &'static str) -> Result<&'a mut [T]> {
    checked(p.is_null(), n, std::mem::size_of::<T>(), name)?;
    Ok(if n == 0 { &mut [] } else { std::slice::from_raw_parts_mut(p, n) })
}

/// Refuses a NULL array of some elements, and a count no array of `size`-byte elements can have
/// (before a slice is formed, so a wild `n` never reaches memory).
fn checked(null: bool, n: usize, size: usize, name: &'static str) -> Result<()> {
    if n > isize::MAX as usize / size.max(1) {
        return Err(Error::InvalidArg(format!("n of {n} is too large for an array")));
    }
    if null && n > 0 {
        return Err(Error::NullArg(name));
    }
    Ok(())
}
