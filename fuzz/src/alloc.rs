//! A counting global allocator: live heap bytes and their peak, so targets can check that what
//! a call allocates is bounded by what it was given. A binary opts in with
//! `#[global_allocator] static A: Counting = Counting;` (the server targets and the replay test
//! do); without it [`installed`] is false and the checks are skipped.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

pub struct Counting;

// Counted per thread: the replay test runs targets on parallel threads, and the library's
// background threads allocate too (a keydir snapshot, a merge's buffers); process-wide counts
// charged their megabytes to whichever call was being measured.
thread_local! {
    static LIVE: Cell<isize> = const { Cell::new(0) };
    static PEAK: Cell<isize> = const { Cell::new(0) };
}

fn live() -> isize {
    LIVE.try_with(Cell::get).unwrap_or(0)
}

fn grew(n: usize) {
    let _ = LIVE.try_with(|l| {
        let now = l.get() + n as isize;
        l.set(now);
        let _ = PEAK.try_with(|p| p.set(p.get().max(now)));
    });
}

fn shrank(n: usize) {
    let _ = LIVE.try_with(|l| l.set(l.get() - n as isize));
}

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, l: Layout) -> *mut u8 {
        let p = System.alloc(l);
        if !p.is_null() {
            grew(l.size());
        }
        p
    }

    unsafe fn alloc_zeroed(&self, l: Layout) -> *mut u8 {
        let p = System.alloc_zeroed(l);
        if !p.is_null() {
            grew(l.size());
        }
        p
    }

    unsafe fn dealloc(&self, p: *mut u8, l: Layout) {
        System.dealloc(p, l);
        shrank(l.size());
    }

    unsafe fn realloc(&self, p: *mut u8, l: Layout, new: usize) -> *mut u8 {
        let q = System.realloc(p, l, new);
        if !q.is_null() {
            if new >= l.size() {
                grew(new - l.size());
            } else {
                shrank(l.size() - new);
            }
        }
        q
    }
}

/// Whether the binary counts its allocations (a probe allocation moves the counter).
pub fn installed() -> bool {
    let before = live();
    let probe = std::hint::black_box(vec![0u8; 64]);
    let counted = live() != before;
    drop(probe);
    counted
}

/// Runs `f` and returns its result with the most heap bytes it had live at once on top of
/// what was live before it (0 when counting is not installed). Only this thread's allocations
/// count: what other threads allocate meanwhile, even on the call's behalf, does not.
pub fn peak_during<R>(f: impl FnOnce() -> R) -> (R, usize) {
    let base = live();
    let _ = PEAK.try_with(|p| p.set(base));
    let r = f();
    let peak = PEAK.try_with(Cell::get).unwrap_or(base);
    (r, (peak - base).max(0) as usize)
}
