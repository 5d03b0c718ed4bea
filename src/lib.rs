//! bitgask: a Bitcask-style log-structured key-value store with a C ABI.
//!
//! # Design
//!
//! Every write is appended to the active data file as one CRC-protected record; an in-memory
//! keydir maps each key to the file and offset of its newest record, so a read is one hash lookup
//! and one read (a memory map for sealed files, `pread` for the active one). Recency is decided
//! by each record's sequence stamp, never by file order. When the active file reaches
//! `max_file_size` it is fdatasynced and sealed, a new one is started, and a background thread
//! writes a hint file for the sealed one so the next open need not read values.
//!
//! # On-disk layout (specified in docs/DESIGN.md section 1)
//!
//! ```text
//! <root>/LOCK                 flock held while a handle is open
//! <root>/data/bitgask.meta    {"version": 1, "created": "..."}
//! <root>/data/000000001.data  records: crc32 | ts | expires | key_len | val_len | flags | codec | reserved | key | value
//! <root>/data/000000001.hint  per key: the newest record of that key in the data file, CRC-checked
//! ```
//!
//! # Durability
//!
//! With `sync_on_put`/`sync_on_delete` (the default) a write returns after an fdatasync that
//! concurrent writers share (group commit), and a reader never sees it before that. Recovery
//! cuts a torn tail off the newest file, sets aside the unsynced tail a power loss left in it
//! (judged by the durable watermark), and refuses any other damage with `E_CORRUPT`.
//!
//! # API
//!
//! [`Db`] is a handle on one database directory (open, read, write, iterate, merge, back up,
//! close), tuned by [`Options`]. Every failure is an [`Error`], whose [`status`](Error::status)
//! is the number the C API returns. [`Iter`] walks keys in order; [`validate`] and [`repair`]
//! check a closed database and return a [`Report`]. The `ffi` module is the C ABI and
//! `internal` holds tooling for this repository's command and fuzz targets: neither is part of
//! the Rust API.

mod adopt;
mod adopt_commit;
mod background;
mod backup;
mod batch;
mod clock;
mod db;
mod deferred;
#[cfg(test)]
mod deferred_tests;
mod engine;
mod error;
#[cfg(all(test, feature = "fault-injection"))]
mod fault_tests;
/// The C ABI (`include/bitgask.h`); Rust callers use [`Db`].
#[doc(hidden)]
pub mod ffi;
#[cfg(test)]
mod ffi_panic_tests;
mod foreign;
mod format;
#[cfg(all(test, feature = "fault-injection"))]
mod fulldisk_fault_tests;
#[cfg(test)]
mod fulldisk_tests;
mod generation;
mod hints;
mod idmap;
mod index;
mod inspect;
#[doc(hidden)]
pub mod internal;
mod iter;
mod keydir;
mod killpoint;
mod loader;
mod merge;
mod merge_live;
mod multi_get;
mod options;
mod prefetch;
mod quarantine;
#[cfg(test)]
mod read_swap_tests;
mod reclaim;
mod reclaim_tail;
mod recovery;
mod report;
mod rotation_link;
mod snapshot;
#[cfg(test)]
mod snapshot_tests;
mod space;
mod storage;
#[cfg(test)]
mod testutil;
mod txn;
#[cfg(test)]
mod unsealed_tests;
#[cfg(test)]
mod unused_tail_tests;
mod validate;
mod version;
mod watermark;

pub use adopt::adopt;
pub use batch::Batch;
pub use db::{Current, Db, Reclaimable, RecordMeta, Stats, Ttl, Update};
pub use deferred::Ticket;
pub use error::{status, Error, Result};
pub use format::record::Codec;
pub use inspect::validate;
pub use iter::{Iter, KeyFilter};
pub use options::Options;
pub use recovery::{OpenReport, Quarantined};
pub use report::{AdoptCounts, Problem, ProblemKind, Report};
pub use space::SpaceInfo;
pub use txn::{Txn, UPDATE_TXN_ATTEMPTS};
pub use validate::repair;
pub use version::VERSION;
