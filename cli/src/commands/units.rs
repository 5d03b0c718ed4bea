//! Parsers for durations (`500ms`, `10s`, `2h`, `1h30m`) and sizes (`4096`, `64MiB`), and UTC
//! timestamps for people (the library's RFC 3339 formatter, to the nanosecond).

use std::time::Duration;

use bitgask::internal::clock::{rfc3339, Precision};

/// `<number><unit>` repeated: units `ms`, `s`, `m`, `h`, `d`. A bare number is refused (the unit
/// would be a guess).
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    let s = s.trim();
    if s.is_empty() {
        return Err("empty duration".into());
    }
    let mut total: u128 = 0;
    let mut rest = s;
    while !rest.is_empty() {
        let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
        if digits == 0 {
            return Err(format!("invalid duration {s:?}: expected a number at {rest:?} (e.g. 500ms, 10s, 2h, 1h30m)"));
        }
        let n: u128 = rest[..digits].parse().map_err(|_| format!("invalid duration {s:?}: number too large"))?;
        rest = &rest[digits..];
        let unit_len = rest.bytes().take_while(u8::is_ascii_alphabetic).count();
        let ms_per: u128 = match &rest[..unit_len] {
            "ms" => 1,
            "s" => 1000,
            "m" => 60_000,
            "h" => 3_600_000,
            "d" => 86_400_000,
            "" => return Err(format!("invalid duration {s:?}: missing unit (ms, s, m, h or d)")),
            u => return Err(format!("invalid duration {s:?}: unknown unit {u:?} (ms, s, m, h or d)")),
        };
        rest = &rest[unit_len..];
        total = total.saturating_add(n.saturating_mul(ms_per));
    }
    let ms = u64::try_from(total).map_err(|_| format!("invalid duration {s:?}: too long"))?;
    Ok(Duration::from_millis(ms))
}

/// A TTL: a duration of at least 1 ms, as the library requires. Zero gets one message however it
/// is written (`0`, `0s`, `0h0m`), and a negative TTL is named as such (clap hands it over instead
/// of taking it for a flag: `allow_hyphen_values` on the arguments that use this).
pub fn parse_ttl(s: &str) -> Result<Duration, String> {
    let t = s.trim();
    if t.starts_with('-') {
        return Err(format!(
            "invalid ttl {s:?}: a TTL cannot be negative (persist removes an expiry, del deletes the key)"
        ));
    }
    let d = parse_duration(s);
    let bare_zero = !t.is_empty() && t.bytes().all(|b| b == b'0');
    if bare_zero || d.as_ref().is_ok_and(Duration::is_zero) {
        return Err(format!(
            "invalid ttl {s:?}: a TTL is at least 1ms (persist removes an expiry, del deletes the key)"
        ));
    }
    d
}

/// Bytes: a number with an optional unit `B`, `K`/`KiB`, `M`/`MiB`, `G`/`GiB` (powers of 1024)
/// or `KB`, `MB`, `GB` (powers of 1000).
pub fn parse_size(s: &str) -> Result<u64, String> {
    let t = s.trim();
    let digits = t.bytes().take_while(u8::is_ascii_digit).count();
    if digits == 0 {
        return Err(format!("invalid size {s:?}: expected a number of bytes (e.g. 4096, 64MiB)"));
    }
    let n: u64 = t[..digits].parse().map_err(|_| format!("invalid size {s:?}: too large"))?;
    let mul: u64 = match t[digits..].trim() {
        "" | "B" | "b" => 1,
        "K" | "k" | "KiB" | "kiB" => 1 << 10,
        "M" | "MiB" => 1 << 20,
        "G" | "GiB" => 1 << 30,
        "KB" | "kB" => 1000,
        "MB" => 1_000_000,
        "GB" => 1_000_000_000,
        u => return Err(format!("invalid size {s:?}: unknown unit {u:?} (B, KiB, MiB, GiB, KB, MB, GB)")),
    };
    n.checked_mul(mul).ok_or_else(|| format!("invalid size {s:?}: too large"))
}

/// A size that must fit a u32 (key and value limits, thresholds).
pub fn parse_size_u32(s: &str) -> Result<u32, String> {
    let n = parse_size(s)?;
    u32::try_from(n).map_err(|_| format!("invalid size {s:?}: at most {} bytes", u32::MAX))
}

/// A count for people: `1 key`, `2 keys`, `1 entry`, `3 entries`.
pub fn count(n: u64, noun: &str) -> String {
    if n == 1 {
        return format!("1 {noun}");
    }
    match noun.strip_suffix('y') {
        // "entry" -> "entries", but "key" -> "keys"
        Some(stem) if !stem.ends_with(['a', 'e', 'i', 'o', 'u']) => format!("{n} {stem}ies"),
        _ => format!("{n} {noun}s"),
    }
}

/// Bytes for people: `1536 (1.5 KiB)`.
pub fn human_bytes(n: u64) -> String {
    const UNITS: [&str; 5] = ["KiB", "MiB", "GiB", "TiB", "PiB"];
    if n < 1024 {
        return format!("{n} B");
    }
    let mut v = n as f64 / 1024.0;
    let mut i = 0;
    while v >= 1024.0 && i + 1 < UNITS.len() {
        v /= 1024.0;
        i += 1;
    }
    format!("{n} ({v:.1} {})", UNITS[i])
}

/// Unix nanoseconds as `YYYY-MM-DDTHH:MM:SS.nnnnnnnnnZ` (UTC).
pub fn utc(ns: u64) -> String {
    rfc3339(ns, Precision::Nanoseconds)
}

/// Current wall-clock time in Unix nanoseconds.
pub fn now_ns() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_nanos() as u64).unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(parse_duration("500ms").unwrap(), Duration::from_millis(500));
        assert_eq!(parse_duration("10s").unwrap(), Duration::from_secs(10));
        assert_eq!(parse_duration("2h").unwrap(), Duration::from_secs(7200));
        assert_eq!(parse_duration("1h30m").unwrap(), Duration::from_secs(5400));
        for bad in ["", "10", "s", "10x", "1.5s", "-1s", "10 s"] {
            assert!(parse_duration(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn a_zero_ttl_gets_one_message_however_it_is_written() {
        for zero in ["0", "00", "0s", "0ms", "0h0m"] {
            let e = parse_ttl(zero).unwrap_err();
            assert!(e.contains("at least 1ms"), "{zero}: {e}");
        }
        assert_eq!(parse_ttl("1ms").unwrap(), Duration::from_millis(1));
    }

    #[test]
    fn a_negative_ttl_is_named() {
        for neg in ["-3s", "-0", " -1ms"] {
            assert!(parse_ttl(neg).unwrap_err().contains("cannot be negative"), "{neg}");
        }
    }

    #[test]
    fn a_bare_nonzero_number_still_wants_a_unit() {
        assert!(parse_ttl("10").unwrap_err().contains("missing unit"));
    }

    #[test]
    fn counts_of_one_are_singular() {
        assert_eq!(count(1, "key"), "1 key");
        assert_eq!(count(0, "key"), "0 keys");
        assert_eq!(count(2, "expired key"), "2 expired keys");
        assert_eq!(count(1, "entry"), "1 entry");
        assert_eq!(count(5, "entry"), "5 entries");
    }

    #[test]
    fn sizes() {
        assert_eq!(parse_size("4096").unwrap(), 4096);
        assert_eq!(parse_size("64MiB").unwrap(), 64 << 20);
        assert_eq!(parse_size("1KB").unwrap(), 1000);
        assert!(parse_size("1XB").is_err());
        assert!(parse_size_u32("8GiB").is_err());
    }
}
