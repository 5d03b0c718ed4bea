//! `data/bitgask.meta`: a small flat JSON object, `{"version": 1, "created": "<RFC 3339>"}`.
//!
//! Only flat objects of strings, integers, booleans and null are understood; anything else is a
//! damaged meta file. Unknown fields are kept by readers of newer versions and ignored here.

use crate::clock::{rfc3339, Precision};

pub const FORMAT_VERSION: u64 = 1;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Meta {
    pub version: u64,
    pub created: String,
}

impl Meta {
    pub fn new(now_unix_nano: u64) -> Meta {
        Meta { version: FORMAT_VERSION, created: rfc3339(now_unix_nano, Precision::Seconds) }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip() {
        let m = Meta::new(1_795_000_000_000_000_000);
        assert_eq!(Meta::parse(&m.encode()).unwrap(), m);
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
