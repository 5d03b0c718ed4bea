//! `merge.tmp/MERGE_DONE`: the proof that a merge finished writing its outputs. Plain text so an
//! operator can read it, with a CRC so a torn or edited marker is never trusted:
//!
//! ```text
//! bitgask-merge 1
//! input 3
//! output 9 1048576
//! crc 0a1b2c3d
//! ```

use super::sealed::{seal, unseal};

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct MergeDone {
    pub inputs: Vec<u32>,
    /// (file id, exact size in bytes)
    pub outputs: Vec<(u32, u64)>,
}

const HEAD: &str = "bitgask-merge 1\n";

impl MergeDone {
    pub fn encode(&self) -> Vec<u8> {
        let mut body = String::from(HEAD);
        for id in &self.inputs {
            body.push_str(&format!("input {id}\n"));
        }
        for (id, size) in &self.outputs {
            body.push_str(&format!("output {id} {size}\n"));
        }
        seal(body)
    }

    pub fn parse(bytes: &[u8]) -> Result<MergeDone, String> {
        let lines = unseal(bytes, HEAD, "MERGE_DONE")?;
        let mut done = MergeDone::default();
        for line in lines.lines() {
            let f: Vec<&str> = line.split(' ').collect();
            let bad = || format!("bad number in MERGE_DONE line {line:?}");
            // A file id is a u32: a larger number is refused, never cut down to another id.
            let id = |s: &str| s.parse::<u32>().map_err(|_| bad());
            let size = |s: &str| s.parse::<u64>().map_err(|_| bad());
            match f.as_slice() {
                ["input", i] => done.inputs.push(id(i)?),
                ["output", i, n] => done.outputs.push((id(i)?, size(n)?)),
                _ => return Err(format!("unknown MERGE_DONE line {line:?}")),
            }
        }
        Ok(done)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_every_truncation_is_refused() {
        let d = MergeDone { inputs: vec![1, 2], outputs: vec![(9, 100), (10, 7)] };
        let b = d.encode();
        assert_eq!(MergeDone::parse(&b).unwrap(), d);
        for n in 0..b.len() - 1 {
            assert!(MergeDone::parse(&b[..n]).is_err(), "cut at {n}");
        }
        let mut c = b.clone();
        c[20] ^= 1;
        assert!(MergeDone::parse(&c).is_err());
    }

    /// The marker as a writer with a CRC would make it, whatever its lines say.
    fn signed(body: &str) -> Vec<u8> {
        seal(body.to_string())
    }

    #[test]
    fn an_id_above_u32_is_refused_not_wrapped() {
        let wrapped = (1u64 << 32) + 9;
        assert!(MergeDone::parse(&signed(&format!("{HEAD}output {wrapped} 7\n"))).is_err());
        assert!(MergeDone::parse(&signed(&format!("{HEAD}input {wrapped}\n"))).is_err());
        let big = MergeDone { inputs: vec![u32::MAX], outputs: vec![(u32::MAX - 1, u64::MAX)] };
        assert_eq!(MergeDone::parse(&big.encode()).unwrap(), big);
    }
}
