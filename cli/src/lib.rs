//! The `bitgask` command's code as a library: its subcommands (`commands`) and the
//! Redis-protocol server (`serve`), so that the fuzz targets (`fuzz/`) and tests drive the
//! server's parser, pattern matcher and command dispatch directly. `main.rs` only parses the
//! command line and calls them.

pub mod commands;
pub mod serve;
