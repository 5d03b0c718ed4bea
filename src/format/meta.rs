//! `data/bitgask.meta`: a small flat JSON object, `{"version": 1, "created": "<RFC 3339>"}`.
//!
//! Only flat objects of strings, integers, booleans and null are understood; anything else is a
//! damaged meta file. Unknown fields are kept by readers of newer versions and ignored here.

pub const FORMAT_VERSION: u64 = 1;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Meta {
    pub version: u64,
    pub created: String,
}

impl Meta {
    pub fn new(now_unix_nano: u64) -> Meta {
        Meta { version: FORMAT_VERSION, created: rfc3339(now_unix_nano) }
    }

    pub fn encode(&self) -> Vec<u8> {
        format!("{{\"version\": {}, \"created\": \"{}\"}}\n", self.version, self.created).into_bytes()
    }

    pub fn parse(bytes: &[u8]) -> Result<Meta, String> {
        let text = std::str::from_utf8(bytes).map_err(|_| "meta is not UTF-8".to_string())?;
        let fields = parse_flat_object(text)?;
        let mut version = None;
        let mut created = String::new();
        for (k, v) in fields {
            match (k.as_str(), v) {
                ("version", Scalar::Int(n)) => version = Some(n),
                ("version", _) => return Err("meta \"version\" is not an integer".into()),
                ("created", Scalar::Str(s)) => created = s,
                _ => {}
            }
        }
        let version = version.ok_or("meta has no \"version\"")?;
        Ok(Meta { version, created })
    }
}

#[derive(Debug, PartialEq)]
enum Scalar {
    Str(String),
    Int(u64),
    Other,
}

fn parse_flat_object(text: &str) -> Result<Vec<(String, Scalar)>, String> {
    let mut p = Parser { s: text.as_bytes(), i: 0 };
    let mut out = Vec::new();
    p.expect(b'{')?;
    if p.peek() == Some(b'}') {
        p.i += 1;
    } else {
        loop {
            let k = p.string()?;
            p.expect(b':')?;
            out.push((k, p.scalar()?));
            match p.next_non_ws() {
                Some(b',') => continue,
                Some(b'}') => break,
                _ => return Err(format!("meta: expected ',' or '}}' at byte {}", p.i)),
            }
        }
    }
    if p.peek().is_some() {
        return Err(format!("meta: trailing bytes at {}", p.i));
    }
    Ok(out)
}

struct Parser<'a> {
    s: &'a [u8],
    i: usize,
}

impl Parser<'_> {
    fn peek(&mut self) -> Option<u8> {
        while self.i < self.s.len() && self.s[self.i].is_ascii_whitespace() {
            self.i += 1;
        }
        self.s.get(self.i).copied()
    }

    fn next_non_ws(&mut self) -> Option<u8> {
        let c = self.peek()?;
        self.i += 1;
        Some(c)
    }

    fn expect(&mut self, c: u8) -> Result<(), String> {
        match self.next_non_ws() {
            Some(x) if x == c => Ok(()),
            _ => Err(format!("meta: expected '{}' at byte {}", c as char, self.i)),
        }
    }

    fn string(&mut self) -> Result<String, String> {
        self.expect(b'"')?;
        let start = self.i;
        while self.i < self.s.len() && self.s[self.i] != b'"' {
            if self.s[self.i] == b'\\' {
                return Err("meta: escapes are not used in meta strings".into());
            }
            self.i += 1;
        }
        if self.i >= self.s.len() {
            return Err("meta: unterminated string".into());
        }
        let out = String::from_utf8_lossy(&self.s[start..self.i]).into_owned();
        self.i += 1;
        Ok(out)
    }

    fn scalar(&mut self) -> Result<Scalar, String> {
        match self.peek() {
            Some(b'"') => self.string().map(Scalar::Str),
            Some(c) if c.is_ascii_digit() => {
                let start = self.i;
                while self.i < self.s.len() && self.s[self.i].is_ascii_digit() {
                    self.i += 1;
                }
                let digits = std::str::from_utf8(&self.s[start..self.i]).unwrap();
                digits.parse().map(Scalar::Int).map_err(|_| "meta: integer out of range".into())
            }
            _ => {
                for word in ["true", "false", "null"] {
                    if self.s[self.i..].starts_with(word.as_bytes()) {
                        self.i += word.len();
                        return Ok(Scalar::Other);
                    }
                }
                Err(format!("meta: unsupported value at byte {}", self.i))
            }
        }
    }
}

/// Formats Unix nanoseconds as RFC 3339 UTC (`2026-11-21T08:41:00Z`).
pub fn rfc3339(unix_nano: u64) -> String {
    let secs = unix_nano / 1_000_000_000;
    let (days, rem) = (secs / 86_400, secs % 86_400);
    let (y, m, d) = civil_from_days(days as i64);
    format!("{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z", rem / 3600, rem % 3600 / 60, rem % 60)
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip() {
        let m = Meta::new(1_795_000_000_000_000_000);
        assert_eq!(Meta::parse(&m.encode()).unwrap(), m);
    }

    #[test]
    fn rfc3339_matches_known_dates() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00Z");
        assert_eq!(rfc3339(951_782_400 * 1_000_000_000), "2000-02-29T00:00:00Z");
    }

    #[test]
    fn unknown_fields_are_ignored_and_damage_is_reported() {
        let m = Meta::parse(br#"{"version": 2, "created": "x", "extra": true, "n": 5}"#).unwrap();
        assert_eq!(m.version, 2);
        assert!(Meta::parse(b"").is_err());
        assert!(Meta::parse(br#"{"version": "1"}"#).is_err());
        assert!(Meta::parse(br#"{"created": "x"}"#).is_err());
        assert!(Meta::parse(br#"{"version": 1"#).is_err());
        assert!(Meta::parse(br#"{"version": 1} x"#).is_err());
    }
}
