//! Named crash points for crash-safety tests, compiled only with the `kill-points` feature.
//!
//! `BITGASK_KILL_POINT=name` kills the process (SIGKILL, no clean-up of any kind) the first time
//! it reaches `hit("name")`; `name:N` kills on the Nth time. Without the feature `hit` is an
//! empty inline function.

#[cfg(feature = "kill-points")]
pub fn hit(name: &str) {
    use std::sync::atomic::{AtomicU64, Ordering};
    use std::sync::OnceLock;
    static TARGET: OnceLock<Option<(String, u64)>> = OnceLock::new();
    static SEEN: AtomicU64 = AtomicU64::new(0);
    let target = TARGET.get_or_init(|| {
        let v = std::env::var("BITGASK_KILL_POINT").ok()?;
        let (n, count) = match v.rsplit_once(':') {
            Some((n, c)) => (n.to_string(), c.parse().unwrap_or(1)),
            None => (v, 1),
        };
        Some((n, count))
    });
    if let Some((n, count)) = target {
        if n == name && SEEN.fetch_add(1, Ordering::SeqCst) + 1 == *count {
            // SAFETY: sending a signal to ourselves.
            unsafe { libc::kill(libc::getpid(), libc::SIGKILL) };
        }
    }
}

#[cfg(not(feature = "kill-points"))]
#[inline(always)]
pub fn hit(_name: &str) {}

/// Every point, for tests that sweep them all.
pub const MERGE_POINTS: &[&str] = &[
    "merge-tmp-created",
    "merge-output-synced",
    "merge-hint-written",
    "merge-done-written",
    "merge-links-made",
    "merge-data-renamed",
    "merge-tmp-renamed",
    "merge-old-removed",
];
