//! The data-file record, byte for byte (docs/DESIGN.md section 2.1):
//!
//! ```text
//! | CRC32 (4) | ts (8) | expires (8) | key_len (4) | val_len (4) | flags (1) | codec (1) | reserved (2) | key | value |
//! ```
//!
//! Little-endian, 32-byte header. The CRC32 (IEEE) covers bytes 4..end. `ts` is the database-wide
//! sequence stamp that decides recency; `expires` is 0 for "never". Pure code, no I/O.

use std::borrow::Cow;
use std::fmt;

pub const HEADER_LEN: usize = 32;
/// Hard caps on lengths; the configurable limits live in `Options`.
pub const HARD_MAX_KEY: u32 = 32 << 20;
pub const HARD_MAX_VALUE: u32 = 32 << 20;

pub const FLAG_TOMBSTONE: u8 = 1;
pub const FLAG_COMPRESSED: u8 = 2;

/// How a record's value is stored: the header's codec byte. Also the `compression` option, and
/// the numbers of the C API's `BITGASK_CODEC_*` constants.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum Codec {
    /// The value is stored as it is.
    #[default]
    None = 0,
    /// The value is stored snappy-compressed (raw block format) when that makes it smaller.
    Snappy = 1,
}

impl Codec {
    /// The codec with this number, if there is one.
    pub fn from_number(n: u32) -> Option<Codec> {
        match n {
            0 => Some(Codec::None),
            1 => Some(Codec::Snappy),
            _ => None,
        }
    }

    /// Its lowercase name: `none`, `snappy`.
    pub fn name(self) -> &'static str {
        match self {
            Codec::None => "none",
            Codec::Snappy => "snappy",
        }
    }
}

/// Why bytes at some offset are not a valid record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Bad {
    /// The header or the body runs past the end of the available bytes.
    Truncated {
        needed: u64,
        available: u64,
    },
    Crc {
        stored: u32,
        computed: u32,
    },
    KeyLength(u32),
    ValueLength(u32),
    Flags(u8),
    Codec(u8),
    Reserved(u16),
    /// The compressed payload does not decode.
    Compression(String),
    /// The compressed flag is set but the codec says "none".
    CompressedWithoutCodec,
    /// The stamp is the largest possible value: no later write could be ordered after it (only
    /// a damaged or crafted file has one; the wall clock reaches it in 2554).
    StampExhausted,
    /// Batch members not followed by their commit record (`why` says what came instead).
    UnfinishedBatch {
        members: u32,
        why: String,
    },
    /// A commit record that does not match the members before it.
    BatchCommit(String),
}

impl fmt::Display for Bad {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Bad::Truncated { needed, available } => {
                write!(f, "record needs {needed} bytes but only {available} remain")
            }
            Bad::Crc { stored, computed } => {
                write!(f, "crc mismatch (stored {stored:#010x}, computed {computed:#010x})")
            }
            Bad::KeyLength(n) => write!(f, "key length {n} outside 1..={HARD_MAX_KEY}"),
            Bad::ValueLength(n) => write!(f, "value length {n} above {HARD_MAX_VALUE}"),
            Bad::Flags(b) => write!(f, "unknown flag bits {b:#04x}"),
            Bad::Codec(c) => write!(f, "unknown codec {c}"),
            Bad::Reserved(r) => write!(f, "reserved field is {r:#06x}, not zero"),
            Bad::Compression(m) => write!(f, "compressed value does not decode: {m}"),
            Bad::CompressedWithoutCodec => write!(f, "compressed flag set with codec 0 (none)"),
            Bad::StampExhausted => write!(f, "stamped with the largest possible stamp"),
            Bad::UnfinishedBatch { members, why } => {
                write!(f, "batch of {members} records without its commit record ({why})")
            }
            Bad::BatchCommit(why) => write!(f, "bad batch commit record: {why}"),
        }
    }
}

/// The parsed, length-checked header (CRC not yet verified).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Header {
    pub crc: u32,
    pub ts: u64,
    pub expires: u64,
    pub key_len: u32,
    pub val_len: u32,
    pub flags: u8,
    pub codec: Codec,
}

impl Header {
    /// Parses and sanity-checks a header. Lengths are checked against the hard caps so a corrupt
    /// header can never make a reader allocate or read gigabytes.
    pub fn parse(b: &[u8]) -> Result<Header, Bad> {
        if b.len() < HEADER_LEN {
            return Err(Bad::Truncated { needed: HEADER_LEN as u64, available: b.len() as u64 });
        }
        let (key_len, val_len, flags) = (u32_at(b, 20), u32_at(b, 24), b[28]);
        let reserved = u16::from_le_bytes([b[30], b[31]]);
        if key_len == 0 || key_len > HARD_MAX_KEY {
            return Err(Bad::KeyLength(key_len));
        }
        if val_len > HARD_MAX_VALUE {
            return Err(Bad::ValueLength(val_len));
        }
        // Bits 2 and 3 frame batches (section 2.7); 4 to 7 are reserved.
        if !super::batch::flags_valid(flags) {
            return Err(Bad::Flags(flags));
        }
        let codec = Codec::from_number(b[29] as u32).ok_or(Bad::Codec(b[29]))?;
        if flags & FLAG_COMPRESSED != 0 && codec == Codec::None {
            return Err(Bad::CompressedWithoutCodec);
        }
        if reserved != 0 {
            return Err(Bad::Reserved(reserved));
        }
        Ok(Header { crc: u32_at(b, 0), ts: u64_at(b, 4), expires: u64_at(b, 12), key_len, val_len, flags, codec })
    }

    /// Total bytes of the record on disk.
    pub fn record_len(&self) -> u64 {
        HEADER_LEN as u64 + self.key_len as u64 + self.val_len as u64
    }

    pub fn is_tombstone(&self) -> bool {
        self.flags & FLAG_TOMBSTONE != 0
    }

    /// Expired at wall-clock time `now` (`now >= expires`, 0 never expires).
    pub fn is_expired(&self, now: u64) -> bool {
        expired(self.expires, now)
    }
}

/// The one expiry rule of the crate.
pub fn expired(expires: u64, now: u64) -> bool {
    expires != 0 && now >= expires
}

/// A verified record borrowed from a buffer.
#[derive(Debug, Clone, Copy)]
pub struct Record<'a> {
    pub header: Header,
    pub key: &'a [u8],
    /// The value as stored (compressed when `FLAG_COMPRESSED` is set).
    pub stored_value: &'a [u8],
}

impl<'a> Record<'a> {
    /// Parses and CRC-checks the record at the start of `b`.
    pub fn decode(b: &'a [u8]) -> Result<Record<'a>, Bad> {
        let header = Header::parse(b)?;
        let len = header.record_len();
        if (b.len() as u64) < len {
            return Err(Bad::Truncated { needed: len, available: b.len() as u64 });
        }
        let len = len as usize;
        let computed = crc32fast::hash(&b[4..len]);
        if computed != header.crc {
            return Err(Bad::Crc { stored: header.crc, computed });
        }
        let key_end = HEADER_LEN + header.key_len as usize;
        Ok(Record { header, key: &b[HEADER_LEN..key_end], stored_value: &b[key_end..len] })
    }

    /// The user's value, decompressed if needed.
    pub fn value(&self) -> Result<Cow<'a, [u8]>, Bad> {
        if self.header.flags & FLAG_COMPRESSED == 0 {
            return Ok(Cow::Borrowed(self.stored_value));
        }
        match self.header.codec {
            Codec::Snappy => decompress_snappy(self.stored_value).map(Cow::Owned),
            Codec::None => Err(Bad::CompressedWithoutCodec),
        }
    }
}

fn decompress_snappy(src: &[u8]) -> Result<Vec<u8>, Bad> {
    let n = snap::raw::decompress_len(src).map_err(|e| Bad::Compression(e.to_string()))?;
    if n > HARD_MAX_VALUE as usize {
        return Err(Bad::ValueLength(n.min(u32::MAX as usize) as u32));
    }
    snap::raw::Decoder::new().decompress_vec(src).map_err(|e| Bad::Compression(e.to_string()))
}

/// A record encoded before its sequence stamp is known. The expensive part (copying and
/// checksumming key and value, compressing) happens outside the writer lock; [`Encoded::stamp`]
/// fills in `ts` and finishes the CRC under it.
pub struct Encoded {
    pub buf: Vec<u8>,
    /// The body's CRC, for records of at least `COMBINE_ABOVE` bytes only: a small record is
    /// checksummed once, whole, by `stamp` (no hasher is even set up for it before).
    body_crc: Option<crc32fast::Hasher>,
}

/// Records at least this long get their body CRC computed outside the writer lock.
const COMBINE_ABOVE: usize = 8192;

/// Appends a record of `key` and the stored value `stored` to `buf` with its CRC and stamp left
/// zero (written by [`Placed::stamp`] under the writer mutex).
pub fn put_unstamped(buf: &mut Vec<u8>, key: &[u8], stored: &[u8], expires: u64, flags: u8, codec: Codec) {
    buf.reserve(HEADER_LEN + key.len() + stored.len());
    buf.extend_from_slice(&[0u8; 12]); // crc + ts, filled in by `stamp`
    buf.extend_from_slice(&expires.to_le_bytes());
    buf.extend_from_slice(&(key.len() as u32).to_le_bytes());
    buf.extend_from_slice(&(stored.len() as u32).to_le_bytes());
    buf.extend_from_slice(&[flags, codec as u8, 0, 0]);
    buf.extend_from_slice(key);
    buf.extend_from_slice(stored);
}

/// A record encoded at the end of a buffer shared with others (a batch's members): where it is,
/// and its body CRC when it is large enough to want one before the lock (as [`Encoded`]).
pub struct Placed {
    pub at: usize,
    pub len: usize,
    body_crc: Option<crc32fast::Hasher>,
}

impl Placed {
    /// Appends the record of `key` and `value` to `buf`, unstamped (see [`Encoded::new`]).
    pub fn encode(buf: &mut Vec<u8>, key: &[u8], value: &[u8], expires: u64, flags: u8, codec: Codec) -> Placed {
        let compressed = match codec {
            Codec::Snappy if !value.is_empty() => {
                snap::raw::Encoder::new().compress_vec(value).ok().filter(|c| c.len() < value.len())
            }
            _ => None,
        };
        let (stored, flags, codec) = match &compressed {
            Some(c) => (c.as_slice(), flags | FLAG_COMPRESSED, Codec::Snappy),
            None => (value, flags, Codec::None),
        };
        let at = buf.len();
        put_unstamped(buf, key, stored, expires, flags, codec);
        Placed::at(buf, at, buf.len() - at)
    }

    /// The record already encoded (unstamped) at `buf[at..at + len]`, its body CRC taken now
    /// when it is long enough to want one before the lock.
    pub fn at(buf: &[u8], at: usize, len: usize) -> Placed {
        let body_crc = (len >= COMBINE_ABOVE).then(|| {
            let mut h = crc32fast::Hasher::new();
            h.update(&buf[at + HEADER_LEN..at + len]);
            h
        });
        Placed { at, len, body_crc }
    }

    /// Writes the sequence stamp and the CRC into the record's bytes in `buf`. Small records are
    /// simply checksummed again (that is cheaper than combining CRCs); large ones reuse the body
    /// CRC computed before the lock.
    pub fn stamp(&self, buf: &mut [u8], ts: u64) {
        let rec = &mut buf[self.at..self.at + self.len];
        rec[4..12].copy_from_slice(&ts.to_le_bytes());
        let crc = match &self.body_crc {
            None => crc32fast::hash(&rec[4..]),
            Some(body) => {
                let mut h = crc32fast::Hasher::new();
                h.update(&rec[4..HEADER_LEN]);
                h.combine(body);
                h.finalize()
            }
        };
        rec[0..4].copy_from_slice(&crc.to_le_bytes());
    }

    /// The record's bytes in `buf`.
    pub fn bytes<'b>(&self, buf: &'b [u8]) -> &'b [u8] {
        &buf[self.at..self.at + self.len]
    }
}

impl Encoded {
    /// `value` is stored compressed with `codec` when that makes it smaller.
    pub fn new(key: &[u8], value: &[u8], expires: u64, flags: u8, codec: Codec) -> Encoded {
        Encoded::reusing(Vec::new(), key, value, expires, flags, codec)
    }

    /// [`Encoded::new`] into `buf`, emptied first (a buffer kept from an earlier record).
    pub fn reusing(mut buf: Vec<u8>, key: &[u8], value: &[u8], expires: u64, flags: u8, codec: Codec) -> Encoded {
        buf.clear();
        let Placed { body_crc, .. } = Placed::encode(&mut buf, key, value, expires, flags, codec);
        Encoded { buf, body_crc }
    }

    /// Writes the sequence stamp and the CRC (see [`Placed::stamp`]).
    pub fn stamp(&mut self, ts: u64) {
        let placed = Placed { at: 0, len: self.buf.len(), body_crc: self.body_crc.take() };
        placed.stamp(&mut self.buf, ts);
        self.body_crc = placed.body_crc;
    }

    pub fn len(&self) -> usize {
        self.buf.len()
    }

    pub fn expires(&self) -> u64 {
        u64_at(&self.buf, 12)
    }

    pub fn is_tombstone(&self) -> bool {
        self.buf[28] & FLAG_TOMBSTONE != 0
    }

    pub fn is_empty(&self) -> bool {
        self.buf.is_empty()
    }
}

/// Encodes a complete record in one go (tests, merge, tools).
pub fn encode(ts: u64, expires: u64, flags: u8, key: &[u8], value: &[u8]) -> Vec<u8> {
    let mut e = Encoded::new(key, value, expires, flags, Codec::None);
    e.stamp(ts);
    e.buf
}

pub(crate) fn u32_at(b: &[u8], at: usize) -> u32 {
    u32::from_le_bytes(b[at..at + 4].try_into().unwrap())
}

pub(crate) fn u64_at(b: &[u8], at: usize) -> u64 {
    u64::from_le_bytes(b[at..at + 8].try_into().unwrap())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codec_numbers_are_the_header_bytes() {
        for c in [Codec::None, Codec::Snappy] {
            assert_eq!(Codec::from_number(c as u32), Some(c));
        }
        assert_eq!(Codec::from_number(2), None);
        assert_eq!((Codec::None.name(), Codec::Snappy.name()), ("none", "snappy"));
        assert_eq!(Codec::default(), Codec::None);
    }

    #[test]
    fn a_record_placed_after_another_is_byte_identical_to_one_encoded_alone() {
        let big = vec![9u8; COMBINE_ABOVE + 10];
        let mut buf = Vec::new();
        let first = Placed::encode(&mut buf, b"first", b"v", 0, 0, Codec::None);
        for (key, value, expires, flags) in [(&b"small"[..], &b"value"[..], 7, 4), (b"large", &big[..], 0, 0)] {
            let p = Placed::encode(&mut buf, key, value, expires, flags, Codec::None);
            p.stamp(&mut buf, 42);
            let mut alone = Encoded::new(key, value, expires, flags, Codec::None);
            alone.stamp(42);
            assert_eq!(p.bytes(&buf), &alone.buf[..]);
            assert_eq!(Record::decode(p.bytes(&buf)).unwrap().key, key);
        }
        first.stamp(&mut buf, 1);
        assert_eq!(first.bytes(&buf), &encode(1, 0, 0, b"first", b"v")[..]);
    }

    #[test]
    fn round_trip_keeps_every_field() {
        let b = encode(42, 99, 0, b"key", b"value");
        assert_eq!(b.len(), HEADER_LEN + 8);
        let r = Record::decode(&b).unwrap();
        assert_eq!((r.header.ts, r.header.expires), (42, 99));
        assert_eq!(r.key, b"key");
        assert_eq!(&*r.value().unwrap(), b"value");
    }

    #[test]
    fn crc_covers_header_key_and_value_exactly_as_specified() {
        let b = encode(7, 0, FLAG_TOMBSTONE, b"k", b"");
        let crc = u32_at(&b, 0);
        assert_eq!(crc, crc32fast::hash(&b[4..]));
        assert_eq!(b[28], FLAG_TOMBSTONE);
        assert_eq!(&b[30..32], &[0, 0]);
    }

    #[test]
    fn every_single_bit_flip_is_detected() {
        let b = encode(1, 2, 0, b"abc", b"defgh");
        for i in 0..b.len() * 8 {
            let mut c = b.clone();
            c[i / 8] ^= 1 << (i % 8);
            assert!(Record::decode(&c).is_err(), "flip of bit {i} went unnoticed");
        }
    }

    #[test]
    fn every_truncation_is_reported_as_truncated_or_bad() {
        let b = encode(1, 0, 0, b"abc", b"defgh");
        for n in 0..b.len() {
            assert!(Record::decode(&b[..n]).is_err());
        }
        assert!(matches!(Record::decode(&b[..b.len() - 1]), Err(Bad::Truncated { .. })));
    }

    #[test]
    fn huge_declared_lengths_are_rejected_before_any_allocation() {
        let mut b = encode(1, 0, 0, b"k", b"v");
        b[24..28].copy_from_slice(&u32::MAX.to_le_bytes());
        assert_eq!(Record::decode(&b).unwrap_err(), Bad::ValueLength(u32::MAX));
        b[20..24].copy_from_slice(&0u32.to_le_bytes());
        assert_eq!(Record::decode(&b).unwrap_err(), Bad::KeyLength(0));
    }

    #[test]
    fn the_compressed_flag_without_a_codec_is_corruption() {
        let mut b = encode(1, 0, 0, b"k", b"v");
        b[28] = FLAG_COMPRESSED;
        let crc = crc32fast::hash(&b[4..]);
        b[0..4].copy_from_slice(&crc.to_le_bytes());
        assert_eq!(Record::decode(&b).unwrap_err(), Bad::CompressedWithoutCodec);
    }

    #[test]
    fn unknown_codec_and_flags_are_corruption() {
        let mut b = encode(1, 0, 0, b"k", b"v");
        b[29] = 7;
        assert_eq!(Record::decode(&b).unwrap_err(), Bad::Codec(7));
        let mut b = encode(1, 0, 0, b"k", b"v");
        b[28] = 0x80;
        assert_eq!(Record::decode(&b).unwrap_err(), Bad::Flags(0x80));
    }

    #[test]
    fn snappy_values_written_by_others_decode() {
        let raw = vec![b'x'; 1000];
        let stored = snap::raw::Encoder::new().compress_vec(&raw).unwrap();
        // Build the record by hand, as another implementation would.
        let mut b = vec![0u8; HEADER_LEN];
        b[4..12].copy_from_slice(&5u64.to_le_bytes());
        b[20..24].copy_from_slice(&1u32.to_le_bytes());
        b[24..28].copy_from_slice(&(stored.len() as u32).to_le_bytes());
        b[28] = FLAG_COMPRESSED;
        b[29] = Codec::Snappy as u8;
        b.push(b'k');
        b.extend_from_slice(&stored);
        let crc = crc32fast::hash(&b[4..]);
        b[0..4].copy_from_slice(&crc.to_le_bytes());
        let r = Record::decode(&b).unwrap();
        assert_eq!(&*r.value().unwrap(), &raw[..]);
    }

    #[test]
    fn large_records_get_the_same_crc_through_the_combined_path() {
        let value: Vec<u8> = (0..3 * COMBINE_ABOVE).map(|i| (i * 31) as u8).collect();
        let mut e = Encoded::new(b"key", &value, 5, 0, Codec::None);
        e.stamp(99);
        let r = Record::decode(&e.buf).unwrap();
        assert_eq!((r.header.ts, r.stored_value), (99, &value[..]));
    }

    #[test]
    fn compression_is_used_only_when_it_saves_space() {
        let mut e = Encoded::new(b"k", &[0u8; 4096], 0, 0, Codec::Snappy);
        e.stamp(1);
        let r = Record::decode(&e.buf).unwrap();
        assert_eq!(r.header.flags & FLAG_COMPRESSED, FLAG_COMPRESSED);
        assert_eq!(r.value().unwrap().len(), 4096);
        let mut e = Encoded::new(b"k", b"ab", 0, 0, Codec::Snappy);
        e.stamp(1);
        assert_eq!(Record::decode(&e.buf).unwrap().header.flags, 0);
    }
}
