//! Wall-clock time in Unix nanoseconds, in one place so expiry and sequence stamps agree, and
//! its RFC 3339 text.
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

/// How much of the second [`rfc3339`] shows.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Precision {
    /// `2026-11-21T08:41:00Z`
    Seconds,
    /// `2026-11-21T08:41:00.123456789Z`
    Nanoseconds,
}

/// Unix nanoseconds as an RFC 3339 time in UTC.
pub fn rfc3339(unix_nano: u64, precision: Precision) -> String {
    let secs = unix_nano / 1_000_000_000;
    let (days, rem) = (secs / 86_400, secs % 86_400);
    let (y, m, d) = civil_from_days(days as i64);
    let fraction = match precision {
        Precision::Seconds => String::new(),
        Precision::Nanoseconds => format!(".{:09}", unix_nano % 1_000_000_000),
    };
    format!("{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}{fraction}Z", rem / 3600, rem % 3600 / 60, rem % 60)
}

/// Days since 1970-01-01 to (year, month, day), proleptic Gregorian (H. Hinnant's algorithm).
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (yoe + era * 400 + i64::from(m <= 2), m, d)
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
    fn rfc3339_matches_known_dates() {
        assert_eq!(rfc3339(0, Precision::Seconds), "1970-01-01T00:00:00Z");
        assert_eq!(rfc3339(951_782_400 * 1_000_000_000, Precision::Seconds), "2000-02-29T00:00:00Z");
        assert_eq!(rfc3339(0, Precision::Nanoseconds), "1970-01-01T00:00:00.000000000Z");
        assert_eq!(rfc3339(951_782_400_000_000_001, Precision::Nanoseconds), "2000-02-29T00:00:00.000000001Z");
        assert_eq!(rfc3339(1_700_000_000_000_000_000, Precision::Nanoseconds), "2023-11-14T22:13:20.000000000Z");
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
