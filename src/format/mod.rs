//! On-disk encodings (records, hints, meta). Pure functions over bytes: no I/O here.

pub mod hint;
pub mod meta;
pub mod record;
