//! Not API: the pieces the `bitgask` command (`dump`, `check`) and the fuzz targets of this
//! repository need beyond [`Db`](crate::Db) and friends. The on-disk encodings, file naming and
//! scanning, the generation layout, crash points and the fault injector change whenever the
//! engine does; nothing here follows semantic versioning, and other programs must not use it.

/// The on-disk encodings: records, hints, the meta file and `MERGE_DONE`.
pub mod format {
    pub use crate::format::*;
}

/// Data files, file names, scans, the LOCK, and the fault injector (`storage::fault`, active
/// only with the `fault-injection` feature).
pub mod storage {
    pub use crate::storage::*;
}

/// Unix nanoseconds as RFC 3339 text.
pub mod clock {
    pub use crate::clock::{rfc3339, Precision};
}

/// The directories a database keeps its files in.
pub mod generation {
    pub use crate::generation::{exists, DATA_DIR, DATA_OLD, MERGE_DONE, MERGE_TMP};
}

/// Named crash points (`kill-points` feature).
pub mod killpoint {
    pub use crate::killpoint::*;
}

/// Adopt's crash points and the in-process crash model of its tests.
pub mod adopt {
    pub use crate::adopt_commit::{stop, ADOPT_POINTS};
}

/// The keydir snapshot: its fuzz target's checks, and what `bitgask dump` shows of one.
pub mod snapshot {
    pub use crate::snapshot::{
        fix_crcs, fuzz_check, has_magic, sample, summary, FileStamp, ShardSummary, Summary, SNAPSHOT_FILE,
    };
}
