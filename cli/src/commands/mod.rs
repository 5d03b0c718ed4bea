//! The subcommands of `bitgask` other than `serve`, one module per job, and what they share:
//! exit codes (`error`), `--dir` and the option flags (`db_args`), key/value encodings
//! (`encoding`), output and progress (`output`), durations and sizes (`units`), clap's errors
//! as usage errors (`usage`).

pub mod check;
pub mod db_args;
pub mod dump;
pub mod encoding;
pub mod error;
pub mod expiry;
pub mod iter;
pub mod kv;
pub mod maint;
pub mod output;
pub mod transfer;
pub mod units;
pub mod usage;
