//! Tunables of a database handle. Every setter validates its value so a bad option is reported
//! where it is set (`E_INVALID_ARG`), not later at open.

use crate::error::{Error, Result};
use crate::format::record::{Codec, HARD_MAX_KEY, HARD_MAX_VALUE, HEADER_LEN};

/// Smallest allowed `max_file_size`: one header plus a little room, so tests can rotate often.
pub const MIN_FILE_SIZE: u64 = 256;
/// Largest allowed `max_file_size`. A file may exceed the limit by one record (a record larger
/// than the limit is written alone), and every offset must still fit in a `u32`.
pub const MAX_FILE_SIZE: u64 = u32::MAX as u64 - (HARD_MAX_KEY as u64 + HARD_MAX_VALUE as u64 + HEADER_LEN as u64);

#[derive(Clone, Debug)]
pub struct Options {
    pub(crate) sync_on_put: bool,
    pub(crate) sync_on_delete: bool,
    pub(crate) sync_interval_ms: u64,
    pub(crate) max_file_size: u64,
    pub(crate) max_key_size: u32,
    pub(crate) max_value_size: u32,
    pub(crate) default_ttl_ms: u64,
    pub(crate) hint_files: bool,
    pub(crate) compression: Codec,
    pub(crate) compression_threshold: u32,
    pub(crate) lock_timeout_ms: u64,
    pub(crate) reserve_bytes: u64,
    pub(crate) merge: MergeOptions,
    pub(crate) adopt: AdoptSwitches,
}

/// How `adopt` treats its input (docs/DESIGN.md section 14.2).
#[derive(Clone, Debug, Default)]
pub(crate) struct AdoptSwitches {
    /// Skip damaged ranges and oversized keys (listing them) instead of refusing.
    pub salvage: bool,
    /// Remove the Go system's files once the adopted database is in place.
    pub discard_original: bool,
}

/// When and how merges run (docs/DESIGN.md section 7.1).
#[derive(Clone, Debug)]
pub(crate) struct MergeOptions {
    /// A full merge is worth it when dead/total reaches this ratio...
    pub trigger_ratio: f64,
    /// ...and the data files hold at least this many bytes.
    pub min_total: u64,
    /// Period of the background merge worker; 0 disables it.
    pub interval_ms: u64,
    pub on_open: bool,
    /// Size at which merge output files are cut.
    pub max_file_size: u64,
    /// Selective merge: a file is a candidate when its own dead/size reaches this ratio.
    pub garbage_ratio: f64,
    pub min_files: u32,
    pub min_bytes: u64,
    pub max_files: u32,
    pub max_bytes: u64,
}

impl Default for MergeOptions {
    fn default() -> Self {
        MergeOptions {
            trigger_ratio: 0.6,
            min_total: 64 << 20,
            interval_ms: 10 * 60 * 1000,
            on_open: false,
            max_file_size: 64 << 20,
            garbage_ratio: 0.4,
            min_files: 3,
            min_bytes: 256 << 20,
            max_files: 5,
            max_bytes: 2 << 30,
        }
    }
}

impl Default for Options {
    fn default() -> Self {
        Options {
            sync_on_put: true,
            sync_on_delete: true,
            sync_interval_ms: 0,
            max_file_size: 64 << 20,
            max_key_size: 64 << 10,
            max_value_size: HARD_MAX_VALUE,
            default_ttl_ms: 0,
            hint_files: true,
            compression: Codec::None,
            compression_threshold: 4096,
            lock_timeout_ms: 0,
            reserve_bytes: DEFAULT_RESERVE_BYTES,
            merge: MergeOptions::default(),
            adopt: AdoptSwitches::default(),
        }
    }
}

fn invalid(msg: String) -> Error {
    Error::InvalidArg(msg)
}

impl Options {
    pub fn new() -> Options {
        Options::default()
    }

    /// fdatasync before a put returns (default true).
    pub fn set_sync_on_put(&mut self, v: bool) -> &mut Self {
        self.sync_on_put = v;
        self
    }

    /// fdatasync before a delete returns (default true).
    pub fn set_sync_on_delete(&mut self, v: bool) -> &mut Self {
        self.sync_on_delete = v;
        self
    }

    /// Background flush period when per-write sync is off; 0 disables the flusher.
    pub fn set_sync_interval_ms(&mut self, v: u64) -> &mut Self {
        self.sync_interval_ms = v;
        self
    }

    pub fn set_max_file_size(&mut self, v: u64) -> Result<&mut Self> {
        check_file_size("max_file_size", v)?;
        self.max_file_size = v;
        Ok(self)
    }

    pub fn set_max_key_size(&mut self, v: u32) -> Result<&mut Self> {
        if !(1..=HARD_MAX_KEY).contains(&v) {
            return Err(invalid(format!("max_key_size {v} outside 1..={HARD_MAX_KEY}")));
        }
        self.max_key_size = v;
        Ok(self)
    }

    pub fn set_max_value_size(&mut self, v: u32) -> Result<&mut Self> {
        if v > HARD_MAX_VALUE {
            return Err(invalid(format!("max_value_size {v} above the hard cap {HARD_MAX_VALUE}")));
        }
        self.max_value_size = v;
        Ok(self)
    }

    /// TTL applied by plain puts; 0 means keys never expire.
    pub fn set_default_ttl_ms(&mut self, v: u64) -> &mut Self {
        self.default_ttl_ms = v;
        self
    }

    /// Write hint files for sealed data files (default true).
    pub fn set_hint_files(&mut self, v: bool) -> &mut Self {
        self.hint_files = v;
        self
    }

    /// Codec for values at or above the compression threshold (default `Codec::None`).
    pub fn set_compression(&mut self, codec: Codec) -> &mut Self {
        self.compression = codec;
        self
    }

    /// [`Options::set_compression`] by the codec's number, as C passes it.
    pub(crate) fn set_compression_number(&mut self, n: u32) -> Result<&mut Self> {
        let codec =
            Codec::from_number(n).ok_or_else(|| invalid(format!("unknown codec {n} (0 = none, 1 = snappy)")))?;
        Ok(self.set_compression(codec))
    }

    /// Values shorter than this many bytes are stored raw even with compression on.
    pub fn set_compression_threshold(&mut self, v: u32) -> &mut Self {
        self.compression_threshold = v;
        self
    }

    /// How long open waits for the LOCK held by another handle; 0 fails at once.
    pub fn set_lock_timeout_ms(&mut self, v: u64) -> &mut Self {
        self.lock_timeout_ms = v;
        self
    }

    /// Size of the reserve file preallocated beside `data/` and given back when the disk fills,
    /// so that deletes and merges can still run (docs/DESIGN.md section 5.14; default 4 MiB; 0:
    /// no reserve). At most `MAX_RESERVE_BYTES`.
    pub fn set_reserve_bytes(&mut self, v: u64) -> Result<&mut Self> {
        if v > MAX_RESERVE_BYTES {
            return Err(invalid(format!("reserve_bytes {v} above {MAX_RESERVE_BYTES}")));
        }
        self.reserve_bytes = v;
        Ok(self)
    }
}

/// The reserve's default size: room for about 100,000 tombstones of 16-byte keys, or the live
/// records of a mostly dead data file.
pub const DEFAULT_RESERVE_BYTES: u64 = 4 << 20;
/// The largest reserve: 1 TiB.
pub const MAX_RESERVE_BYTES: u64 = 1 << 40;

/// A ratio in `[low, 1]` (or `(0, 1]` when `zero_ok` is false); NaN is never valid.
fn check_ratio(name: &str, v: f64, zero_ok: bool) -> Result<()> {
    let ok = v.is_finite() && v <= 1.0 && (v > 0.0 || (zero_ok && v == 0.0));
    if !ok {
        let range = if zero_ok { "[0, 1]" } else { "(0, 1]" };
        return Err(invalid(format!("{name} {v} outside {range}")));
    }
    Ok(())
}

fn check_file_size(name: &str, v: u64) -> Result<()> {
    if !(MIN_FILE_SIZE..=MAX_FILE_SIZE).contains(&v) {
        return Err(invalid(format!("{name} {v} outside {MIN_FILE_SIZE}..={MAX_FILE_SIZE}")));
    }
    Ok(())
}

impl Options {
    /// Full merge trigger: dead/total at least this (default 0.6).
    pub fn set_merge_trigger_ratio(&mut self, v: f64) -> Result<&mut Self> {
        check_ratio("merge_trigger_ratio", v, true)?;
        self.merge.trigger_ratio = v;
        Ok(self)
    }

    /// Full merge trigger: at least this many bytes of data files (default 64 MiB).
    pub fn set_merge_min_total(&mut self, v: u64) -> &mut Self {
        self.merge.min_total = v;
        self
    }

    /// Period of the background merge worker (default 10 minutes; 0 disables it).
    pub fn set_merge_interval_ms(&mut self, v: u64) -> &mut Self {
        self.merge.interval_ms = v;
        self
    }

    /// Run one pass of the merge policy at open (default false).
    pub fn set_merge_on_open(&mut self, v: bool) -> &mut Self {
        self.merge.on_open = v;
        self
    }

    /// Size at which merge output files are cut (default 64 MiB).
    pub fn set_merge_max_file_size(&mut self, v: u64) -> Result<&mut Self> {
        check_file_size("merge_max_file_size", v)?;
        self.merge.max_file_size = v;
        Ok(self)
    }

    /// Selective merge: per-file garbage ratio that makes a file a candidate (default 0.4).
    pub fn set_garbage_ratio(&mut self, v: f64) -> Result<&mut Self> {
        check_ratio("garbage_ratio", v, false)?;
        self.merge.garbage_ratio = v;
        Ok(self)
    }

    /// Selective merge: fewest candidate files worth merging (default 3).
    pub fn set_min_merge_files(&mut self, v: u32) -> Result<&mut Self> {
        if v == 0 {
            return Err(invalid("min_merge_files must be at least 1".into()));
        }
        self.merge.min_files = v;
        Ok(self)
    }

    /// Selective merge: fewest bytes worth merging (default 256 MiB).
    pub fn set_min_merge_total(&mut self, v: u64) -> &mut Self {
        self.merge.min_bytes = v;
        self
    }

    /// Selective merge: most files in one merge (default 5).
    pub fn set_max_merge_files(&mut self, v: u32) -> Result<&mut Self> {
        if v == 0 {
            return Err(invalid("max_merge_files must be at least 1".into()));
        }
        self.merge.max_files = v;
        Ok(self)
    }

    /// Selective merge: most bytes in one merge (default 2 GiB).
    pub fn set_max_merge_bytes(&mut self, v: u64) -> Result<&mut Self> {
        if v == 0 {
            return Err(invalid("max_merge_bytes must be at least 1".into()));
        }
        self.merge.max_bytes = v;
        Ok(self)
    }

    /// `adopt`: skip damaged ranges and oversized keys, listing them, instead of refusing.
    pub fn set_adopt_salvage(&mut self, v: bool) -> &mut Self {
        self.adopt.salvage = v;
        self
    }

    /// `adopt`: remove the Go system's files (kept in `go-original/` otherwise) at the end.
    pub fn set_adopt_discard_original(&mut self, v: bool) -> &mut Self {
        self.adopt.discard_original = v;
        self
    }

    /// Checks that options make sense together (called by open).
    pub(crate) fn validate(&self) -> Result<()> {
        if self.merge.max_files < self.merge.min_files {
            return Err(invalid(format!(
                "max_merge_files {} is below min_merge_files {}",
                self.merge.max_files, self.merge.min_files
            )));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_follow_the_design() {
        let o = Options::default();
        assert!(o.sync_on_put && o.sync_on_delete && o.hint_files);
        assert_eq!(o.max_file_size, 64 << 20);
        assert_eq!(o.max_key_size, 64 << 10);
        assert_eq!(o.max_value_size, 32 << 20);
        assert_eq!(o.compression, Codec::None);
    }

    #[test]
    fn out_of_range_values_are_rejected() {
        let mut o = Options::default();
        assert!(o.set_max_file_size(MIN_FILE_SIZE - 1).is_err());
        assert!(o.set_max_file_size(MAX_FILE_SIZE + 1).is_err());
        assert!(o.set_max_key_size(0).is_err());
        assert!(o.set_max_key_size(HARD_MAX_KEY + 1).is_err());
        assert!(o.set_max_value_size(HARD_MAX_VALUE + 1).is_err());
        assert!(o.set_compression_number(2).is_err());
        assert!(o.set_merge_trigger_ratio(f64::NAN).is_err());
        assert!(o.set_merge_trigger_ratio(1.5).is_err());
        assert!(o.set_garbage_ratio(0.0).is_err());
        assert!(o.set_min_merge_files(0).is_err());
        assert!(o.set_max_merge_bytes(0).is_err());
        assert!(o.set_merge_max_file_size(1).is_err());
        o.set_min_merge_files(4).unwrap().set_max_merge_files(3).unwrap();
        assert!(o.validate().is_err());
        assert!(o.set_max_file_size(4096).is_ok());
        assert_eq!(o.max_file_size, 4096);
    }
}
