//! The `bitgask` command's library half: the Redis-protocol server (`bitgask serve`), so that
//! the fuzz targets (`fuzz/`) and tests drive its parser, pattern matcher and command dispatch
//! directly. The other subcommands live in the binary (`main.rs`, `commands/`).

pub mod serve;
