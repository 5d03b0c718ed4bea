//! How keys and values travel through the command line and the output.
//!
//! By default keys and values given as arguments are taken as their UTF-8 bytes. `--hex` and
//! `--base64` (standard alphabet, padded) make arguments and output use that encoding instead,
//! for binary data. In text output the default form escapes what a terminal would garble:
//! control characters and bytes that are not UTF-8 as `\xNN`, the backslash as `\\`. In JSON a
//! byte string is a field `NAME` (a UTF-8 string) when its bytes are valid UTF-8 and `NAME_b64`
//! otherwise; `--hex` and `--base64` always give `NAME_hex` / `NAME_b64`.

use std::fmt::Write as _;

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;
use serde_json::{Map, Value};

use super::error::CliError;

/// The `--hex` / `--base64` flags.
#[derive(clap::Args, Debug, Clone, Copy, Default)]
pub struct EncArgs {
    /// Keys and values (arguments and output) are hexadecimal, for binary data.
    #[arg(long, conflicts_with = "base64")]
    pub hex: bool,
    /// Keys and values (arguments and output) are base64 (standard alphabet, padded).
    #[arg(long)]
    pub base64: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Enc {
    Utf8,
    Hex,
    Base64,
}

impl EncArgs {
    pub fn enc(&self) -> Enc {
        match (self.hex, self.base64) {
            (true, _) => Enc::Hex,
            (_, true) => Enc::Base64,
            _ => Enc::Utf8,
        }
    }
}

impl Enc {
    /// The bytes an argument stands for.
    pub fn decode(self, what: &str, s: &str) -> Result<Vec<u8>, CliError> {
        match self {
            Enc::Utf8 => Ok(s.as_bytes().to_vec()),
            Enc::Hex => hex_decode(s).map_err(|e| CliError::usage(format!("{what} {s:?} is not hex: {e}"))),
            Enc::Base64 => {
                B64.decode(s.trim()).map_err(|e| CliError::usage(format!("{what} {s:?} is not base64: {e}")))
            }
        }
    }

    /// Bytes for text output (one line, no raw control characters).
    pub fn show(self, b: &[u8]) -> String {
        match self {
            Enc::Utf8 => escape(b),
            Enc::Hex => hex_encode(b),
            Enc::Base64 => B64.encode(b),
        }
    }

    /// Adds `name` (or `name_b64` / `name_hex`) holding `b` to a JSON object.
    pub fn put_json(self, obj: &mut Map<String, Value>, name: &str, b: &[u8]) {
        match self {
            Enc::Utf8 => match std::str::from_utf8(b) {
                Ok(s) => obj.insert(name.to_string(), Value::String(s.to_string())),
                Err(_) => obj.insert(format!("{name}_b64"), Value::String(B64.encode(b))),
            },
            Enc::Hex => obj.insert(format!("{name}_hex"), Value::String(hex_encode(b))),
            Enc::Base64 => obj.insert(format!("{name}_b64"), Value::String(B64.encode(b))),
        };
    }
}

/// Reads a byte string written by [`Enc::put_json`] in any of its forms; `None` when absent.
pub fn get_json(obj: &Map<String, Value>, name: &str) -> Result<Option<Vec<u8>>, String> {
    let field = |suffix: &str| obj.get(&format!("{name}{suffix}"));
    let text =
        |v: &Value, f: &str| v.as_str().map(str::to_owned).ok_or_else(|| format!("\"{name}{f}\" is not a string"));
    if let Some(v) = field("") {
        return Ok(Some(text(v, "")?.into_bytes()));
    }
    if let Some(v) = field("_b64") {
        return B64.decode(text(v, "_b64")?).map(Some).map_err(|e| format!("\"{name}_b64\" is not base64: {e}"));
    }
    if let Some(v) = field("_hex") {
        return hex_decode(&text(v, "_hex")?).map(Some).map_err(|e| format!("\"{name}_hex\" is not hex: {e}"));
    }
    Ok(None)
}

pub fn hex_encode(b: &[u8]) -> String {
    let mut s = String::with_capacity(b.len() * 2);
    for x in b {
        let _ = write!(s, "{x:02x}");
    }
    s
}

pub fn hex_decode(s: &str) -> Result<Vec<u8>, String> {
    let s = s.trim();
    let s = s.strip_prefix("0x").unwrap_or(s);
    if !s.len().is_multiple_of(2) {
        return Err("odd number of digits".into());
    }
    (0..s.len())
        .step_by(2)
        .map(|i| {
            u8::from_str_radix(s.get(i..i + 2).ok_or("not ASCII")?, 16)
                .map_err(|_| format!("bad digit pair {:?}", &s[i..i + 2]))
        })
        .collect()
}

/// Printable UTF-8 as is; `\` as `\\`; control characters and non-UTF-8 bytes as `\xNN`.
pub fn escape(b: &[u8]) -> String {
    let mut s = String::with_capacity(b.len());
    for chunk in b.utf8_chunks() {
        for c in chunk.valid().chars() {
            if c == '\\' {
                s.push_str("\\\\");
            } else if c.is_control() {
                let mut buf = [0u8; 4];
                for x in c.encode_utf8(&mut buf).bytes() {
                    let _ = write!(s, "\\x{x:02x}");
                }
            } else {
                s.push(c);
            }
        }
        for x in chunk.invalid() {
            let _ = write!(s, "\\x{x:02x}");
        }
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_are_unambiguous() {
        assert_eq!(escape(b"ab"), "ab");
        assert_eq!(escape("é\n".as_bytes()), "é\\x0a");
        assert_eq!(escape(b"\\x00\x00\xff"), "\\\\x00\\x00\\xff");
    }

    #[test]
    fn hex_round_trip() {
        assert_eq!(hex_decode(&hex_encode(b"\x00\xffA")).unwrap(), b"\x00\xffA");
        assert!(hex_decode("abc").is_err());
        assert!(hex_decode("zz").is_err());
    }

    #[test]
    fn json_forms() {
        let mut m = Map::new();
        Enc::Utf8.put_json(&mut m, "key", b"\xff");
        Enc::Utf8.put_json(&mut m, "value", b"v");
        assert!(m.contains_key("key_b64") && m.contains_key("value"));
        assert_eq!(get_json(&m, "key").unwrap().unwrap(), b"\xff");
        assert_eq!(get_json(&m, "value").unwrap().unwrap(), b"v");
        assert_eq!(get_json(&m, "nope").unwrap(), None);
    }
}
