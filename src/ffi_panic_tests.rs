//! Panics caught at the C boundary inside iterator and fold calls poison their handle, as they do
//! in every other call on a handle (kept outside `src/ffi/`, whose every `extern "C"` function the
//! boundary test takes for an export).

use std::ffi::{c_int, c_void};
use std::ptr::null_mut;

use crate::ffi::db::{bitgask_close, bitgask_db, bitgask_put};
use crate::ffi::error::bitgask_error_free;
use crate::ffi::iter::{bitgask_fold, bitgask_iter_free, bitgask_iter_new, bitgask_iter_next};
use crate::ffi::{bitgask_status, BITGASK_E_PANIC, BITGASK_E_POISONED, BITGASK_OK};
use crate::testutil::TempDir;
use crate::Db;

/// A handle holding `k`, and a panic armed for the next key an iterator visits.
fn handle_with_a_panicking_read(dir: &TempDir) -> *mut bitgask_db {
    let db = Db::open(dir.path(), crate::Options::default()).unwrap();
    db.put(b"k", b"v").unwrap();
    crate::killpoint::on_hit("iter-next", || panic!("injected"));
    Box::into_raw(Box::new(bitgask_db { db }))
}

/// What a write through `db` returns now; then closes it.
unsafe fn put_then_close(db: *mut bitgask_db) -> bitgask_status {
    let mut err = null_mut();
    let st = bitgask_put(db, b"x".as_ptr(), 1, b"y".as_ptr(), 1, &mut err);
    bitgask_error_free(err);
    bitgask_close(db, null_mut());
    st
}

unsafe extern "C" fn visit(_: *mut c_void, _: *const u8, _: usize, _: *const u8, _: usize) -> c_int {
    0
}

#[test]
fn a_panic_in_a_fold_poisons_its_handle() {
    let dir = TempDir::new("ffi-iter");
    let db = handle_with_a_panicking_read(&dir);
    let mut err = null_mut();
    // SAFETY: a live handle; err is freed.
    unsafe {
        let st = bitgask_fold(db, std::ptr::null(), 0, Some(visit), null_mut(), &mut err);
        crate::killpoint::clear_hook();
        bitgask_error_free(err);
        assert_eq!(st, BITGASK_E_PANIC);
        assert_eq!(put_then_close(db), BITGASK_E_POISONED);
    }
}

#[test]
fn a_panic_in_an_iterator_poisons_its_handle() {
    let dir = TempDir::new("ffi-iter");
    let db = handle_with_a_panicking_read(&dir);
    let (mut it, mut err) = (null_mut(), null_mut());
    let (mut key, mut klen) = (std::ptr::null(), 0usize);
    // SAFETY: a live handle and iterator; err is freed.
    unsafe {
        assert_eq!(bitgask_iter_new(db, std::ptr::null(), 0, &mut it, &mut err), BITGASK_OK);
        let st = bitgask_iter_next(it, &mut key, &mut klen, null_mut(), null_mut(), &mut err);
        crate::killpoint::clear_hook();
        bitgask_error_free(err);
        bitgask_iter_free(it);
        assert_eq!(st, BITGASK_E_PANIC);
        assert_eq!(put_then_close(db), BITGASK_E_POISONED);
    }
}
