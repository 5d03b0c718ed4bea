//! The CRC seal of the plain-text markers (`merge.tmp/MERGE_DONE`, `adopt.tmp/ADOPT_DONE`): a
//! marker is its head line, its own lines, and a last line `crc <8 hex digits>` over everything
//! before it, so a torn or edited marker is never trusted.

/// `body` (its head line first) followed by the `crc` line that seals it.
pub fn seal(mut body: String) -> Vec<u8> {
    let crc = crc32fast::hash(body.as_bytes());
    body.push_str(&format!("crc {crc:08x}\n"));
    body.into_bytes()
}

/// The lines of a sealed marker after its `head` line, or why the marker is not trusted (`name`
/// names it in the message).
pub fn unseal<'a>(bytes: &'a [u8], head: &str, name: &str) -> Result<&'a str, String> {
    let text = std::str::from_utf8(bytes).map_err(|_| format!("{name} is not UTF-8"))?;
    let crc_at = text.rfind("crc ").ok_or_else(|| format!("{name} has no crc line"))?;
    let (body, crc_line) = text.split_at(crc_at);
    let stored = u32::from_str_radix(crc_line.trim_start_matches("crc ").trim_end(), 16)
        .map_err(|_| format!("{name} crc is not hex"))?;
    if crc32fast::hash(body.as_bytes()) != stored || !body.starts_with(head) {
        return Err(format!("{name} crc mismatch"));
    }
    Ok(&body[head.len()..])
}

#[cfg(test)]
mod tests {
    use super::*;

    const HEAD: &str = "marker 1\n";

    #[test]
    fn a_sealed_body_unseals_to_its_lines() {
        let b = seal(format!("{HEAD}a 1\nb 2\n"));
        assert_eq!(unseal(&b, HEAD, "M"), Ok("a 1\nb 2\n"));
    }

    #[test]
    fn a_cut_or_flipped_marker_is_refused() {
        let b = seal(format!("{HEAD}a 1\n"));
        for n in 0..b.len() - 1 {
            assert!(unseal(&b[..n], HEAD, "M").is_err(), "cut at {n}");
        }
        let mut c = b.clone();
        c[3] ^= 1;
        assert_eq!(unseal(&c, HEAD, "M"), Err("M crc mismatch".to_string()));
    }

    #[test]
    fn another_markers_head_is_refused() {
        let b = seal("other 1\na 1\n".to_string());
        assert!(unseal(&b, HEAD, "M").is_err());
    }
}
