//! Wall-clock time in Unix nanoseconds, in one place so expiry and sequence stamps agree.
//!
//! Test builds can shift the clock of the calling thread (`shift_for_tests`) to check TTL
//! boundaries and a clock that steps backwards.

use std::time::{SystemTime, UNIX_EPOCH};

#[cfg(test)]
thread_local! {
    static SHIFT_NS: std::cell::Cell<i64> = const { std::cell::Cell::new(0) };
}

/// Moves this thread's clock by `ns` (negative: back in time). Test builds only; the test
/// harness runs each test on its own thread, so a shift never leaks into another test.
#[cfg(test)]
pub fn shift_for_tests(ns: i64) {
    SHIFT_NS.with(|s| s.set(s.get() + ns));
}

pub fn now_ns() -> u64 {
    let real = SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_nanos() as u64).unwrap_or(0);
    #[cfg(test)]
    let real = real.saturating_add_signed(SHIFT_NS.with(|s| s.get()));
    real
}

/// `now + ms` as an absolute expiry, saturating instead of wrapping for huge TTLs.
pub fn expiry_after_ms(now: u64, ms: u64) -> u64 {
    now.saturating_add(ms.saturating_mul(1_000_000))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::format::record::expired;

    #[test]
    fn expiry_boundaries_are_exact() {
        assert!(!expired(0, u64::MAX), "0 never expires");
        assert!(expired(100, 100), "a key expires exactly at its expiry time");
        assert!(!expired(100, 99), "and not one nanosecond before");
        assert!(expired(1, 1));
        assert_eq!(expiry_after_ms(u64::MAX - 5, 1), u64::MAX, "huge TTLs saturate");
        assert_eq!(expiry_after_ms(10, u64::MAX), u64::MAX);
    }

    #[test]
    fn the_test_clock_can_step_back() {
        let before = now_ns();
        shift_for_tests(-3_600_000_000_000);
        assert!(now_ns() < before);
        shift_for_tests(3_600_000_000_000);
        assert!(now_ns() >= before);
    }
}
