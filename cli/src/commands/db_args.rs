//! `--dir` and the option flags shared by every subcommand that opens a database. Each flag
//! mirrors a library option (`Options::set_*`); unset flags keep the library defaults, except
//! `--merge-interval-ms`, which defaults to 0 so a one-shot command never starts a background
//! merge.

use std::path::PathBuf;
use std::time::Duration;

use bitgask::{Db, Options, CODEC_NONE, CODEC_SNAPPY};

use super::error::CliError;
use super::units::{parse_duration, parse_size, parse_size_u32};

#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Compression {
    None,
    Snappy,
}

/// The database directory alone (commands that only read files).
#[derive(clap::Args, Debug, Clone)]
pub struct DirArg {
    /// Database directory.
    #[arg(short, long, env = "BITGASK_DIR", value_name = "DIR")]
    pub dir: PathBuf,
}

#[derive(clap::Args, Debug, Clone)]
#[command(next_help_heading = "Database options")]
pub struct DbArgs {
    /// Database directory.
    #[arg(short, long, env = "BITGASK_DIR", value_name = "DIR")]
    pub dir: PathBuf,
    /// Do not fdatasync each put and delete (sync_on_put = sync_on_delete = false); the data
    /// is synced when the command closes the database.
    #[arg(long)]
    pub no_sync: bool,
    /// Background flush period with --no-sync, in ms (0: none).
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
    /// Wait this long for a LOCK held by another process before failing with exit code 4.
    #[arg(long, value_name = "MS", default_value_t = 0)]
    pub lock_timeout_ms: u64,
    /// Full merge when dead/total reaches this ratio [library default: 0.6].
    #[arg(long, value_name = "RATIO")]
    pub merge_trigger_ratio: Option<f64>,
    /// ...and the data files hold at least this much [library default: 64MiB].
    #[arg(long, value_name = "BYTES", value_parser = parse_size)]
    pub merge_min_total: Option<u64>,
    /// Period of the background merge policy; 0 disables it (the CLI's default).
    #[arg(long, value_name = "MS", default_value_t = 0)]
    pub merge_interval_ms: u64,
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
}

impl DbArgs {
    /// The library options these flags describe.
    pub fn options(&self) -> Result<Options, CliError> {
        let bad = |e: bitgask::Error| CliError::usage(e.to_string());
        let mut o = Options::new();
        if self.no_sync {
            o.set_sync_on_put(false).set_sync_on_delete(false);
        }
        if let Some(v) = self.sync_interval_ms {
            o.set_sync_interval_ms(v);
        }
        if let Some(v) = self.max_file_size {
            o.set_max_file_size(v).map_err(bad)?;
        }
        if let Some(v) = self.max_key_size {
            o.set_max_key_size(v).map_err(bad)?;
        }
        if let Some(v) = self.max_value_size {
            o.set_max_value_size(v).map_err(bad)?;
        }
        if let Some(v) = self.default_ttl {
            o.set_default_ttl_ms(v.as_millis() as u64);
        }
        if self.no_hint_files {
            o.set_hint_files(false);
        }
        if let Some(c) = self.compression {
            o.set_compression(if c == Compression::Snappy { CODEC_SNAPPY } else { CODEC_NONE }).map_err(bad)?;
        }
        if let Some(v) = self.compression_threshold {
            o.set_compression_threshold(v);
        }
        o.set_lock_timeout_ms(self.lock_timeout_ms);
        if let Some(v) = self.merge_trigger_ratio {
            o.set_merge_trigger_ratio(v).map_err(bad)?;
        }
        if let Some(v) = self.merge_min_total {
            o.set_merge_min_total(v);
        }
        o.set_merge_interval_ms(self.merge_interval_ms);
        o.set_merge_on_open(self.merge_on_open);
        if let Some(v) = self.merge_max_file_size {
            o.set_merge_max_file_size(v).map_err(bad)?;
        }
        if let Some(v) = self.garbage_ratio {
            o.set_garbage_ratio(v).map_err(bad)?;
        }
        if let Some(v) = self.min_merge_files {
            o.set_min_merge_files(v).map_err(bad)?;
        }
        if let Some(v) = self.max_merge_files {
            o.set_max_merge_files(v).map_err(bad)?;
        }
        if let Some(v) = self.min_merge_total {
            o.set_min_merge_total(v);
        }
        if let Some(v) = self.max_merge_bytes {
            o.set_max_merge_bytes(v).map_err(bad)?;
        }
        Ok(o)
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
