//! On-disk encodings (records, hints, meta, the durable watermark). Pure functions over bytes:
//! no I/O here.

pub mod batch;
pub mod hint;
pub mod merge_done;
pub mod meta;
pub mod record;
pub mod sealed;
pub mod watermark;
