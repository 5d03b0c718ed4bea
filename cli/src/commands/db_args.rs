//! `--dir` and the option flags shared by every subcommand that opens a database, `serve`
//! included. Each flag mirrors a library option (`Options::set_*`); unset flags keep the library
//! defaults, except where a command says otherwise ([`Defaults`]): one-shot commands never start
//! a background merge, and `serve --no-sync` flushes every second.

use std::path::PathBuf;
use std::time::Duration;

use bitgask::{Codec, Db, Options};

use super::error::CliError;
use super::units::{parse_duration, parse_size, parse_size_u32};

#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Compression {
    None,
    Snappy,
}

impl From<Compression> for Codec {
    fn from(c: Compression) -> Codec {
        match c {
            Compression::None => Codec::None,
            Compression::Snappy => Codec::Snappy,
        }
    }
}

/// The database directory alone (commands that only read files).
#[derive(clap::Args, Debug, Clone)]
pub struct DirArg {
    /// Database directory.
    #[arg(short, long, env = "BITGASK_DIR", value_name = "DIR")]
    pub dir: PathBuf,
}

/// The directory and options of a one-shot command.
#[derive(clap::Args, Debug, Clone)]
#[command(next_help_heading = "Database options")]
pub struct DbArgs {
    /// Database directory.
    #[arg(short, long, env = "BITGASK_DIR", value_name = "DIR")]
    pub dir: PathBuf,
    #[command(flatten)]
    pub flags: OptionFlags,
}

/// The library's options as flags.
#[derive(clap::Args, Debug, Clone)]
#[command(next_help_heading = "Database options")]
pub struct OptionFlags {
    /// Do not fdatasync each put and delete (sync_on_put = sync_on_delete = false): a crash of
    /// the process loses nothing, a crash of the machine what was written since the last flush
    /// (--sync-interval-ms, and closing the database).
    #[arg(long)]
    pub no_sync: bool,
    /// Background flush period with --no-sync, in ms (0: none) [default: 0; serve: 1000].
    #[arg(long, value_name = "MS")]
    pub sync_interval_ms: Option<u64>,
    /// Size at which data files are rotated [library default: 64MiB].
    #[arg(long, value_name = "BYTES", value_parser = parse_size)]
    pub max_file_size: Option<u64>,
    /// Longest key accepted [library default: 64KiB].
    #[arg(long, value_name = "BYTES", value_parser = parse_size_u32)]
    pub max_key_size: Option<u32>,
    /// Longest value accepted [library default: 32MiB].
    #[arg(long, value_name = "BYTES", value_parser = parse_size_u32)]
    pub max_value_size: Option<u32>,
    /// TTL given to puts without --ttl (e.g. 10s, 2h) [library default: none].
    #[arg(long, value_name = "DURATION", value_parser = parse_duration)]
    pub default_ttl: Option<Duration>,
    /// Do not write hint files for sealed data files.
    #[arg(long)]
    pub no_hint_files: bool,
    /// Codec for values at or above --compression-threshold [library default: none].
    #[arg(long, value_enum, value_name = "CODEC")]
    pub compression: Option<Compression>,
    /// Values shorter than this are stored raw [library default: 4096].
    #[arg(long, value_name = "BYTES", value_parser = parse_size_u32)]
    pub compression_threshold: Option<u32>,
    /// Wait this long for a LOCK held by another process before failing (a one-shot command
    /// exits with code 4).
    #[arg(long, value_name = "MS", default_value_t = 0)]
    pub lock_timeout_ms: u64,
    /// Full merge when dead/total reaches this ratio [library default: 0.6].
    #[arg(long, value_name = "RATIO")]
    pub merge_trigger_ratio: Option<f64>,
    /// ...and the data files hold at least this much [library default: 64MiB].
    #[arg(long, value_name = "BYTES", value_parser = parse_size)]
    pub merge_min_total: Option<u64>,
    /// Period of the background merge policy, in ms; 0 disables it [default: 0; serve: the
    /// library's 600000].
    #[arg(long, value_name = "MS")]
    pub merge_interval_ms: Option<u64>,
    /// Run one pass of the merge policy when opening.
    #[arg(long)]
    pub merge_on_open: bool,
    /// Size at which merge outputs are cut [library default: 64MiB].
    #[arg(long, value_name = "BYTES", value_parser = parse_size)]
    pub merge_max_file_size: Option<u64>,
    /// Selective merge: a file qualifies at this dead/size [library default: 0.4].
    #[arg(long, value_name = "RATIO")]
    pub garbage_ratio: Option<f64>,
    /// Selective merge: fewest files worth merging [library default: 3].
    #[arg(long, value_name = "N")]
    pub min_merge_files: Option<u32>,
    /// Selective merge: most files in one merge [library default: 5].
    #[arg(long, value_name = "N")]
    pub max_merge_files: Option<u32>,
    /// Selective merge: fewest bytes worth merging [library default: 256MiB].
    #[arg(long, value_name = "BYTES", value_parser = parse_size)]
    pub min_merge_total: Option<u64>,
    /// Selective merge: most bytes in one merge [library default: 2GiB].
    #[arg(long, value_name = "BYTES", value_parser = parse_size)]
    pub max_merge_bytes: Option<u64>,
    /// Reserve file given back when the disk fills, so deletes and merges still run; 0: none
    /// [library default: 4MiB].
    #[arg(long, value_name = "BYTES", value_parser = parse_size)]
    pub reserve_bytes: Option<u64>,
}

/// What a command does with a flag left unset, where that is not the library's default.
#[derive(Debug, Clone, Copy, Default)]
pub struct Defaults {
    /// `--merge-interval-ms` (`None`: the library's).
    pub merge_interval_ms: Option<u64>,
    /// `--sync-interval-ms` with `--no-sync` (`None`: the library's).
    pub sync_interval_ms_without_sync: Option<u64>,
}

/// A flag the library refused, and why.
#[derive(Debug)]
pub struct BadFlag {
    pub flag: &'static str,
    pub err: bitgask::Error,
}

impl OptionFlags {
    /// The flush period these flags ask for; `None`: the library's (no flusher).
    pub fn sync_interval(&self, defaults: Defaults) -> Option<u64> {
        let idle_flush = if self.no_sync { defaults.sync_interval_ms_without_sync } else { None };
        self.sync_interval_ms.or(idle_flush)
    }

    /// The background merge period these flags ask for; `None`: the library's.
    pub fn merge_interval(&self, defaults: Defaults) -> Option<u64> {
        self.merge_interval_ms.or(defaults.merge_interval_ms)
    }

    /// The library options these flags describe.
    pub fn options(&self, defaults: Defaults) -> Result<Options, BadFlag> {
        let bad = |flag: &'static str| move |err| BadFlag { flag, err };
        let mut o = Options::new();
        if self.no_sync {
            o.set_sync_on_put(false).set_sync_on_delete(false);
        }
        if let Some(v) = self.sync_interval(defaults) {
            o.set_sync_interval_ms(v);
        }
        if let Some(v) = self.max_file_size {
            o.set_max_file_size(v).map_err(bad("--max-file-size"))?;
        }
        if let Some(v) = self.max_key_size {
            o.set_max_key_size(v).map_err(bad("--max-key-size"))?;
        }
        if let Some(v) = self.max_value_size {
            o.set_max_value_size(v).map_err(bad("--max-value-size"))?;
        }
        if let Some(v) = self.default_ttl {
            o.set_default_ttl_ms(v.as_millis() as u64);
        }
        if self.no_hint_files {
            o.set_hint_files(false);
        }
        if let Some(c) = self.compression {
            o.set_compression(c.into());
        }
        if let Some(v) = self.compression_threshold {
            o.set_compression_threshold(v);
        }
        o.set_lock_timeout_ms(self.lock_timeout_ms);
        if let Some(v) = self.merge_trigger_ratio {
            o.set_merge_trigger_ratio(v).map_err(bad("--merge-trigger-ratio"))?;
        }
        if let Some(v) = self.merge_min_total {
            o.set_merge_min_total(v);
        }
        if let Some(v) = self.merge_interval(defaults) {
            o.set_merge_interval_ms(v);
        }
        o.set_merge_on_open(self.merge_on_open);
        if let Some(v) = self.merge_max_file_size {
            o.set_merge_max_file_size(v).map_err(bad("--merge-max-file-size"))?;
        }
        if let Some(v) = self.garbage_ratio {
            o.set_garbage_ratio(v).map_err(bad("--garbage-ratio"))?;
        }
        if let Some(v) = self.min_merge_files {
            o.set_min_merge_files(v).map_err(bad("--min-merge-files"))?;
        }
        if let Some(v) = self.max_merge_files {
            o.set_max_merge_files(v).map_err(bad("--max-merge-files"))?;
        }
        if let Some(v) = self.min_merge_total {
            o.set_min_merge_total(v);
        }
        if let Some(v) = self.max_merge_bytes {
            o.set_max_merge_bytes(v).map_err(bad("--max-merge-bytes"))?;
        }
        if let Some(v) = self.reserve_bytes {
            o.set_reserve_bytes(v).map_err(bad("--reserve-bytes"))?;
        }
        Ok(o)
    }
}

impl DbArgs {
    /// The library options of a one-shot command: no background merge unless asked for.
    pub fn options(&self) -> Result<Options, CliError> {
        let defaults = Defaults { merge_interval_ms: Some(0), ..Defaults::default() };
        self.flags.options(defaults).map_err(|b| CliError::usage(b.err.to_string()))
    }

    /// Opens the database. Without `create`, a directory that holds no database is refused
    /// (exit code 2) instead of being turned into one.
    pub fn open(&self, create: bool) -> Result<Db, CliError> {
        self.require_db(create)?;
        let opts = self.options()?;
        Db::open(&self.dir, opts).map_err(|e| CliError::from(e).context(format!("open {}", self.dir.display())))
    }

    /// Refuses (exit code 2) a directory that holds no database, unless `create`.
    pub fn require_db(&self, create: bool) -> Result<(), CliError> {
        if !create && !bitgask::internal::generation::exists(&self.dir) {
            return Err(CliError::usage(format!("no database at {} (put or import create one)", self.dir.display())));
        }
        Ok(())
    }
}

/// Closes the database, reporting a failed final sync.
pub fn close(db: Db) -> Result<(), CliError> {
    db.close().map_err(|e| CliError::from(e).context("close"))
}
