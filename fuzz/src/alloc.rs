//! A counting global allocator: live heap bytes and their peak, so targets can check that what
//! a call allocates is bounded by what it was given. A binary opts in with
//! `#[global_allocator] static A: Counting = Counting;` (the server targets and the replay test
//! do); without it [`installed`] is false and the checks are skipped.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};

pub struct Counting;

static LIVE: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);

fn grew(n: usize) {
    let now = LIVE.fetch_add(n, Ordering::Relaxed) + n;
    PEAK.fetch_max(now, Ordering::Relaxed);
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
        LIVE.fetch_sub(l.size(), Ordering::Relaxed);
    }

    unsafe fn realloc(&self, p: *mut u8, l: Layout, new: usize) -> *mut u8 {
        let q = System.realloc(p, l, new);
        if !q.is_null() {
            if new >= l.size() {
                grew(new - l.size());
            } else {
                LIVE.fetch_sub(l.size() - new, Ordering::Relaxed);
            }
        }
        q
    }
}

/// Whether the binary counts its allocations (a probe allocation moves the counter).
pub fn installed() -> bool {
    let before = LIVE.load(Ordering::Relaxed);
    let probe = std::hint::black_box(vec![0u8; 64]);
    let counted = LIVE.load(Ordering::Relaxed) != before;
    drop(probe);
    counted
}

/// Runs `f` and returns its result with the most heap bytes it had live at once on top of
/// what was live before it (0 when counting is not installed). Allocations of other threads
/// in the meantime count too, so bounds checked with it need some slack.
pub fn peak_during<R>(f: impl FnOnce() -> R) -> (R, usize) {
    let base = LIVE.load(Ordering::Relaxed);
    PEAK.store(base, Ordering::Relaxed);
    let r = f();
    (r, PEAK.load(Ordering::Relaxed).saturating_sub(base))
}
