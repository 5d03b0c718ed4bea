//! `bitgask`: operate bitgask databases from the shell.

use clap::{Parser, Subcommand};

use bitgask_cli::{commands, serve};

use commands::error::{CliError, CmdResult, EXIT_CODES_HELP};
use commands::output::{print_json, Ctx};
use commands::{check, dump, expiry, iter, kv, maint, transfer, usage};

#[derive(Parser)]
#[command(name = "bitgask", about = "Operate bitgask databases", version, long_about = LONG_ABOUT, after_help = EXIT_CODES_HELP)]
struct Cli {
    /// Machine-readable output: one JSON object (listings, dump and export: one per line);
    /// errors as {"error", "exit_code"} on stderr.
    #[arg(long, global = true)]
    json: bool,
    /// Never draw progress bars (they are drawn only when stderr is a terminal anyway).
    #[arg(long, global = true)]
    no_progress: bool,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Print the value of a key (exit code 1 when absent or expired).
    ///
    /// The value's bytes are written as they are, followed by a newline (none with --raw);
    /// --hex / --base64 print it encoded.
    #[command(after_help = EXIT_CODES_HELP)]
    Get(kv::GetArgs),
    /// Store a value, optionally with a TTL (creates the database if needed).
    #[command(after_help = EXIT_CODES_HELP)]
    Put(kv::PutArgs),
    /// Delete keys; prints how many existed (exit code 1 when any was absent).
    #[command(after_help = EXIT_CODES_HELP)]
    Del(kv::DelArgs),
    /// Print whether a key exists: true or false (exit code 1 when absent or expired).
    #[command(after_help = EXIT_CODES_HELP)]
    Exists(kv::ExistsArgs),
    /// Print the time left before a key expires, as <N>ms, or never (exit code 1 when absent).
    #[command(after_help = EXIT_CODES_HELP)]
    Ttl(expiry::TtlArgs),
    /// Give an existing key a new lifetime, keeping its value (exit code 1 when absent).
    #[command(after_help = EXIT_CODES_HELP)]
    Expire(expiry::ExpireArgs),
    /// Remove a key's expiry (exit code 1 when absent).
    #[command(after_help = EXIT_CODES_HELP)]
    Persist(expiry::PersistArgs),
    /// List the keys starting with a prefix, in byte order.
    #[command(after_help = EXIT_CODES_HELP)]
    Keys(iter::PrefixArgs),
    /// List the keys starting with a prefix with their values (KEY<TAB>VALUE), in byte order.
    #[command(after_help = EXIT_CODES_HELP)]
    Scan(iter::PrefixArgs),
    /// List the keys in [START, END), in byte order.
    #[command(after_help = EXIT_CODES_HELP)]
    Range(iter::RangeArgs),
    /// Show keys, data files, total and dead bytes.
    #[command(after_help = EXIT_CODES_HELP)]
    Stats(maint::DbOnly),
    /// Show the bytes a full merge would free.
    #[command(after_help = EXIT_CODES_HELP)]
    Reclaimable(maint::DbOnly),
    /// Drop expired keys from the index so a merge can free their bytes.
    #[command(after_help = EXIT_CODES_HELP)]
    Gc(maint::DbOnly),
    /// Rewrite live records into new files and drop dead ones (only when due, unless --force).
    #[command(after_help = EXIT_CODES_HELP)]
    Merge(maint::MergeArgs),
    /// Write a point-in-time copy of the database to a new directory.
    #[command(after_help = EXIT_CODES_HELP)]
    Backup(maint::BackupArgs),
    /// Delete every key (asks you to type "yes" unless --yes).
    ///
    /// Crash-safe: after a crash the database is either untouched or empty. Without --yes it
    /// refuses to run when standard input is not a terminal (exit code 2), and an answer other
    /// than "yes" deletes nothing (exit code 2).
    #[command(after_help = EXIT_CODES_HELP)]
    DeleteAll(maint::DeleteAllArgs),
    /// Check every file of a database; changes nothing, takes no lock (exit code 3 if damaged).
    ///
    /// Prints one line per problem found (torn tails, corrupt records, bad hints, merge
    /// leftovers, meta); notes (unknown files, quarantine files) do not make it damaged.
    #[command(after_help = EXIT_CODES_HELP)]
    Validate(check::ValidateArgs),
    /// Mend what validate reports (exit code 3 if something could not be mended).
    ///
    /// Truncates torn tails, moves damaged ranges to <id>.corrupt quarantine files keeping every
    /// valid record, rebuilds hints, settles merge leftovers, rewrites a bad meta file. Takes the
    /// database's LOCK (exit code 4 while it is open elsewhere).
    #[command(after_help = EXIT_CODES_HELP)]
    Repair(check::RepairArgs),
    /// Convert a database written by the Go bitgask into a bitgask database.
    ///
    /// Reads the Go data files in log order with the Go system's rules (the last record of a key
    /// wins, tombstones delete, expired keys are dropped), so every key reads what the Go system
    /// returns; writes them as a fresh bitgask generation and keeps the Go files in
    /// <dir>/go-original/ (unless --discard-original). Crash-safe and resumable: run it again
    /// after an interruption. Refuses damaged records (exit code 3) unless --salvage. A bitgask
    /// directory is left alone. Takes the LOCK (exit code 4 while the Go system has it open).
    #[command(after_help = EXIT_CODES_HELP)]
    Adopt(check::AdoptArgs),
    /// Print every record of a data file, or every entry of a hint file.
    ///
    /// Data files: offset, length, flags (tombstone, compressed), codec, stamp, expiry, key and
    /// value length of each record, stopping at the first bad record, which is reported with
    /// whether valid records follow it (exit code 3). Hint files: each entry, after checking the
    /// whole file (exit code 3 if it is damaged).
    #[command(after_help = EXIT_CODES_HELP)]
    Dump(dump::DumpArgs),
    /// Write every key, value and expiry as JSON lines (binary-safe).
    ///
    /// One object per line: {"key": K, "value": V, "expires_unix_nano": N}. key and value are
    /// strings when their bytes are valid UTF-8, else key_b64 / value_b64 (standard base64);
    /// expires_unix_nano is the absolute expiry (0: none).
    #[command(after_help = EXIT_CODES_HELP)]
    Export(transfer::ExportArgs),
    /// Load JSON lines written by export, keeping each expiry (already expired ones are skipped).
    ///
    /// Accepts key / key_b64 / key_hex and value / value_b64 / value_hex. Creates the database
    /// if needed; existing keys are overwritten. The first bad line stops the import (exit
    /// code 5); the records before it stay stored.
    #[command(after_help = EXIT_CODES_HELP)]
    Import(transfer::ImportArgs),
    /// Print the command's and the library's versions.
    Version,
    /// Serve a database over the Redis protocol (RESP2/RESP3).
    #[command(after_help = EXIT_CODES_HELP)]
    Serve(serve::ServeArgs),
}

fn main() {
    let cli = Cli::try_parse().unwrap_or_else(|e| usage_error(e));
    let ctx = Ctx::new(cli.json, cli.no_progress);
    match cli.command {
        Command::Get(a) => finish(kv::get(a, &ctx), &ctx),
        Command::Put(a) => finish(kv::put(a, &ctx), &ctx),
        Command::Del(a) => finish(kv::del(a, &ctx), &ctx),
        Command::Exists(a) => finish(kv::exists(a, &ctx), &ctx),
        Command::Ttl(a) => finish(expiry::ttl(a, &ctx), &ctx),
        Command::Expire(a) => finish(expiry::expire(a, &ctx), &ctx),
        Command::Persist(a) => finish(expiry::persist(a, &ctx), &ctx),
        Command::Keys(a) => finish(iter::keys(a, &ctx), &ctx),
        Command::Scan(a) => finish(iter::scan(a, &ctx), &ctx),
        Command::Range(a) => finish(iter::range(a, &ctx), &ctx),
        Command::Stats(a) => finish(maint::stats(a, &ctx), &ctx),
        Command::Reclaimable(a) => finish(maint::reclaimable(a, &ctx), &ctx),
        Command::Gc(a) => finish(maint::gc(a, &ctx), &ctx),
        Command::Merge(a) => finish(maint::merge(a, &ctx), &ctx),
        Command::Backup(a) => finish(maint::backup(a, &ctx), &ctx),
        Command::DeleteAll(a) => finish(maint::delete_all(a, &ctx), &ctx),
        Command::Validate(a) => finish(check::validate(a, &ctx), &ctx),
        Command::Repair(a) => finish(check::repair(a, &ctx), &ctx),
        Command::Adopt(a) => finish(check::adopt(a, &ctx), &ctx),
        Command::Dump(a) => finish(dump::dump(a, &ctx), &ctx),
        Command::Export(a) => finish(transfer::export(a, &ctx), &ctx),
        Command::Import(a) => finish(transfer::import(a, &ctx), &ctx),
        Command::Version => finish(version(&ctx), &ctx),
        Command::Serve(args) => finish(serve::run(args).map(|()| 0).map_err(|e| e.context("serve")), &ctx),
    }
}

const LONG_ABOUT: &str = "\
Operate bitgask databases: read and write keys, inspect and reclaim space, back up, validate and
repair, adopt a database of the Go bitgask, dump files, export and import.

Every command that opens a database takes --dir (or BITGASK_DIR) and the option flags of the
library (see a subcommand's --help). A database is opened for the length of one command and
holds the directory's LOCK meanwhile; only put and import create one.

Keys and values on the command line are UTF-8 text; --hex or --base64 switch arguments and
output to that encoding for binary data. Text output escapes control characters and non-UTF-8
bytes as \\xNN (and the backslash as \\\\); JSON output gives a byte string as NAME when it is
valid UTF-8 and NAME_b64 otherwise.

--json gives machine-readable output for every command. Long work (validate, repair, merge,
backup, import, export) shows progress on stderr when it is a terminal, nothing when piped.";

/// An argument error (clap's): exit code 2, as JSON with --json; help and version as clap prints
/// them.
fn usage_error(e: clap::Error) -> ! {
    match usage::render(&e, usage::json_requested(std::env::args_os())) {
        Some((text, code)) => {
            eprint!("{text}");
            std::process::exit(code)
        }
        None => e.exit(),
    }
}

/// Prints the error (if any) and exits with the command's code.
fn finish(r: CmdResult, ctx: &Ctx) {
    let code = match r {
        Ok(code) => code,
        Err(e) if e.broken_pipe => 0,
        Err(CliError { code, msg, .. }) => {
            if ctx.json {
                eprintln!("{}", serde_json::json!({"error": msg, "exit_code": code}));
            } else {
                eprintln!("bitgask: error: {msg}");
            }
            code
        }
    };
    std::process::exit(code);
}

fn version(ctx: &Ctx) -> CmdResult {
    let (cli, lib) = (env!("CARGO_PKG_VERSION"), bitgask::VERSION);
    if ctx.json {
        print_json(&serde_json::json!({"bitgask_cli": cli, "library": lib}))?;
    } else {
        println!("bitgask {cli} (library {lib})");
    }
    Ok(0)
}
