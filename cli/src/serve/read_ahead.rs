//! Pipelined GETs read ahead (docs/DESIGN.md section 11): before the commands of a pipeline run,
//! the keys of the GETs at its front go to the database's prefetch hint, so that each GET's two
//! cache misses (the keydir bucket, then the record) overlap the other GETs' instead of coming
//! one after the other, as in a batched read. Only the canonical form of a GET is recognised
//! (`*2\r\n$3\r\nGET\r\n$<len>\r\n<key>\r\n`, the name in any case), which is what clients
//! send; anything else ends the look-ahead and runs as before. Nothing here answers a command or
//! changes what one does: the commands are parsed and run by the client as always.

use bitgask::Db;

/// GETs looked ahead at once (the database's hint takes up to sixteen).
const AHEAD: usize = 16;
const HEAD: &[u8] = b"*2\r\n$3\r\n";
/// The longest key length that can be written in the header (`$` and up to ten digits).
const MAX_DIGITS: usize = 10;

/// The key of the GET at the start of `input` and the bytes the command takes, or `None` when
/// `input` does not start with a whole GET in canonical form.
fn get_at(input: &[u8]) -> Option<(&[u8], usize)> {
    let rest = input.strip_prefix(HEAD)?;
    let (name, rest) = (rest.get(..3)?, rest.get(3..)?);
    if !name.eq_ignore_ascii_case(b"get") {
        return None;
    }
    let rest = rest.strip_prefix(b"\r\n$")?;
    let digits = rest.iter().take(MAX_DIGITS + 1).take_while(|b| b.is_ascii_digit()).count();
    if digits == 0 || digits > MAX_DIGITS {
        return None;
    }
    let len: usize = std::str::from_utf8(&rest[..digits]).ok()?.parse().ok()?;
    let body = rest.get(digits..)?.strip_prefix(b"\r\n")?;
    let key = body.get(..len)?;
    body.get(len..)?.strip_prefix(b"\r\n")?;
    Some((key, input.len() - body.len() + len + 2))
}

/// Hands `db` the keys of the GETs at the front of `input` (at most [`AHEAD`]) when there are at
/// least two, and returns the bytes those GETs take (0 when nothing was handed over: a lone
/// command gains nothing from it).
pub fn prefetch_gets(db: &Db, input: &[u8]) -> usize {
    let mut keys: [&[u8]; AHEAD] = [&[]; AHEAD];
    let (mut n, mut used) = (0, 0);
    while n < AHEAD {
        let Some((key, len)) = get_at(&input[used..]) else { break };
        keys[n] = key;
        n += 1;
        used += len;
    }
    if n < 2 {
        return 0;
    }
    db.prefetch_reads(&keys[..n]);
    used
}

#[cfg(test)]
mod tests {
    use super::*;

    fn get(key: &[u8]) -> Vec<u8> {
        let mut v = format!("*2\r\n$3\r\nGET\r\n${}\r\n", key.len()).into_bytes();
        v.extend_from_slice(key);
        v.extend_from_slice(b"\r\n");
        v
    }

    #[test]
    fn a_canonical_get_gives_its_key_and_length() {
        let g = get(b"key:000123");
        assert_eq!(get_at(&g), Some((&b"key:000123"[..], g.len())));
        let lower = b"*2\r\n$3\r\nget\r\n$1\r\nk\r\nrest";
        assert_eq!(get_at(lower), Some((&b"k"[..], lower.len() - 4)));
        assert_eq!(get_at(&get(b"")), Some((&b""[..], get(b"").len())));
    }

    #[test]
    fn anything_but_a_whole_canonical_get_is_not_one() {
        let g = get(b"abc");
        for cut in 0..g.len() {
            assert_eq!(get_at(&g[..cut]), None, "cut at {cut}");
        }
        for other in [
            &b"*2\r\n$3\r\nSET\r\n$1\r\nk\r\n"[..],
            b"*3\r\n$3\r\nGET\r\n$1\r\nk\r\n$1\r\nv\r\n",
            b"GET k\r\n",
            b"*2\r\n$3\r\nGET\r\n$2\r\nk\r\n\r\n",
            b"*2\r\n$3\r\nGET\r\n$-1\r\n",
            b"*2\r\n$3\r\nGET\r\n$99999999999\r\nk\r\n",
            b"*2\r\n$3\r\nGET\r\n$1\r\nkXY",
        ] {
            assert_eq!(get_at(other), None, "{}", String::from_utf8_lossy(other));
        }
    }

    #[test]
    fn a_pipeline_of_gets_is_read_ahead_up_to_its_first_other_command() {
        let (sh, _, dir) = crate::serve::test_state::shared("read-ahead", "pipeline", &[]);
        let db = &sh.db;
        db.put(b"a", b"1").unwrap();
        let mut input = [get(b"a"), get(b"b"), get(b"a")].concat();
        let gets = input.len();
        input.extend_from_slice(b"*1\r\n$4\r\nPING\r\n");
        input.extend_from_slice(&get(b"a"));
        assert_eq!(prefetch_gets(db, &input), gets);
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn a_lone_get_or_more_than_sixteen_are_handled() {
        let (sh, _, dir) = crate::serve::test_state::shared("read-ahead", "counts", &[]);
        assert_eq!(prefetch_gets(&sh.db, &get(b"a")), 0);
        let many: Vec<u8> = (0..40).flat_map(|i: u32| get(&i.to_le_bytes())).collect();
        assert_eq!(prefetch_gets(&sh.db, &many), 16 * get(&0u32.to_le_bytes()).len());
        std::fs::remove_dir_all(dir).unwrap();
    }
}
