//! `data/bitgask.meta`: a small flat JSON object,
//! `{"version": 1, "created": "<RFC 3339>", "writer": "bitgask-rs"}`.
//!
//! The Go bitgask writes a file of the same name and fields (docs/DESIGN.md section 14.1), so the
//! `writer` field is what marks a directory this library wrote; a directory adopted from the Go
//! system also carries `"adopted_from": "go-bitgask"`. Metas written before the field existed are
//! one line without it (see [`is_legacy_layout`]).
//!
//! Only flat objects of strings, integers, booleans and null are understood; anything else is a
//! damaged meta file. Unknown fields are kept by readers of newer versions and ignored here.

use crate::clock::{rfc3339, Precision};

pub const FORMAT_VERSION: u64 = 1;
/// The `writer` value of every meta this library writes.
pub const WRITER: &str = "bitgask-rs";
/// The `adopted_from` value of a directory converted from the Go bitgask.
pub const ADOPTED_FROM_GO: &str = "go-bitgask";

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Meta {
    pub version: u64,
    pub created: String,
    /// Who wrote the directory: [`WRITER`]; `None` in metas older than the field.
    pub writer: Option<String>,
    /// Where an adopted directory came from ([`ADOPTED_FROM_GO`]).
    pub adopted_from: Option<String>,
}

impl Meta {
    pub fn new(now_unix_nano: u64) -> Meta {
        Meta {
            version: FORMAT_VERSION,
            created: rfc3339(now_unix_nano, Precision::Seconds),
            writer: Some(WRITER.into()),
            adopted_from: None,
        }
    }

    pub fn encode(&self) -> Vec<u8> {
        let mut s = format!("{{\"version\": {}, \"created\": \"{}\"", self.version, self.created);
        for (k, v) in [("writer", &self.writer), ("adopted_from", &self.adopted_from)] {
            if let Some(v) = v {
                s.push_str(&format!(", \"{k}\": \"{v}\""));
            }
        }
        s.push_str("}\n");
        s.into_bytes()
    }

    pub fn parse(bytes: &[u8]) -> Result<Meta, String> {
        let text = std::str::from_utf8(bytes).map_err(|_| "meta is not UTF-8".to_string())?;
        let fields = parse_flat_object(text)?;
        let mut version = None;
        let mut created = String::new();
        let (mut writer, mut adopted_from) = (None, None);
        for (k, v) in fields {
            match (k.as_str(), v) {
                ("version", Scalar::Int(n)) => version = Some(n),
                ("version", _) => return Err("meta \"version\" is not an integer".into()),
                ("created", Scalar::Str(s)) => created = s,
                ("writer", Scalar::Str(s)) => writer = Some(s),
                ("adopted_from", Scalar::Str(s)) => adopted_from = Some(s),
                _ => {}
            }
        }
        let version = version.ok_or("meta has no \"version\"")?;
        Ok(Meta { version, created, writer, adopted_from })
    }
}

/// The one layout this library wrote before the `writer` field: exactly one line,
/// `{"version": N, "created": "..."}` and a newline. The Go system's meta is indented over three
/// lines, so the two are told apart by their bytes alone.
pub fn is_legacy_layout(bytes: &[u8]) -> bool {
    bytes.starts_with(b"{\"version\": ")
        && bytes.ends_with(b"\"}\n")
        && bytes.iter().filter(|&&b| b == b'\n').count() == 1
}

/// The Go system's layout (`json.MarshalIndent` with two spaces): `{` then a newline, then the
/// indented `"version"` field.
pub fn is_go_layout(bytes: &[u8]) -> bool {
    bytes.starts_with(b"{\n  \"version\": ")
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip() {
        let m = Meta::new(1_795_000_000_000_000_000);
        assert_eq!(Meta::parse(&m.encode()).unwrap(), m);
    }

    #[test]
    fn new_metas_name_their_writer() {
        let m = Meta::new(1_795_000_000_000_000_000);
        let text = String::from_utf8(m.encode()).unwrap();
        assert!(text.ends_with(", \"writer\": \"bitgask-rs\"}\n"), "{text}");
        let adopted = Meta { adopted_from: Some(ADOPTED_FROM_GO.into()), ..m };
        assert_eq!(Meta::parse(&adopted.encode()).unwrap(), adopted);
    }

    #[test]
    fn legacy_and_go_layouts_are_told_apart() {
        let legacy = b"{\"version\": 1, \"created\": \"2026-01-01T00:00:00Z\"}\n";
        let go = b"{\n  \"version\": 1,\n  \"created\": \"2026-01-01T00:00:00.5+02:00\"\n}";
        assert!(is_legacy_layout(legacy) && !is_go_layout(legacy));
        assert!(is_go_layout(go) && !is_legacy_layout(go));
        assert!(!is_legacy_layout(&Meta::new(0).encode()[..10]));
        assert_eq!(Meta::parse(go).unwrap().writer, None);
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
