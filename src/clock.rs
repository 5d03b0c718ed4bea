//! Wall-clock time in Unix nanoseconds, in one place so expiry and sequence stamps agree.

use std::time::{SystemTime, UNIX_EPOCH};

pub fn now_ns() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_nanos() as u64).unwrap_or(0)
}

/// `now + ms` as an absolute expiry, saturating instead of wrapping for huge TTLs.
pub fn expiry_after_ms(now: u64, ms: u64) -> u64 {
    now.saturating_add(ms.saturating_mul(1_000_000))
}
