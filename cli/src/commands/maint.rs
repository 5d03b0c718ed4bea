//! stats, reclaimable, gc, merge, backup, delete-all.

use std::io::{self, BufRead, IsTerminal, Write};
use std::path::PathBuf;

use serde_json::json;

use super::db_args::{close, DbArgs};
use super::error::{exit, CliError, CmdResult};
use super::output::{print_json, print_text, Ctx};
use super::units::{count, human_bytes};

/// Subcommands that take nothing but the database.
#[derive(clap::Args, Debug)]
pub struct DbOnly {
    #[command(flatten)]
    pub db: DbArgs,
}

/// Keys, data files, total and dead bytes, merges.
pub fn stats(a: DbOnly, ctx: &Ctx) -> CmdResult {
    let db = a.db.open(false)?;
    let s = db.stats()?;
    let space = db.space()?;
    close(db)?;
    let ratio = if s.total_bytes == 0 { 0.0 } else { s.dead_bytes as f64 / s.total_bytes as f64 };
    if ctx.json {
        print_json(&json!({
            "keys": s.keys,
            "data_files": s.data_files,
            "total_bytes": s.total_bytes,
            "dead_bytes": s.dead_bytes,
            "dead_ratio": ratio,
            "merges": s.merges,
            "last_merge_unix_nano": s.last_merge_unix_nano,
            "disk_full": space.full,
            "reserve_bytes": space.reserve_bytes,
            "free_bytes": space.free_bytes,
        }))?;
    } else {
        print_text(&format!(
            "keys         {}\ndata files   {}\ntotal bytes  {}\ndead bytes   {}\ndead ratio   {ratio:.3}\n\
             reserve      {} of {}\nfree bytes   {}\ndisk full    {}\n",
            s.keys,
            s.data_files,
            human_bytes(s.total_bytes),
            human_bytes(s.dead_bytes),
            human_bytes(space.reserve_bytes),
            human_bytes(space.reserve_size),
            human_bytes(space.free_bytes),
            if space.full { "yes" } else { "no" },
        ))?;
    }
    Ok(exit::OK)
}

/// What a full merge would free: dead and total bytes and their ratio.
pub fn reclaimable(a: DbOnly, ctx: &Ctx) -> CmdResult {
    let db = a.db.open(false)?;
    let r = db.reclaimable()?;
    close(db)?;
    if ctx.json {
        print_json(&json!({"dead_bytes": r.dead_bytes, "total_bytes": r.total_bytes, "ratio": r.ratio}))?;
    } else {
        print_text(&format!(
            "dead bytes   {}\ntotal bytes  {}\nratio        {:.3}\n",
            human_bytes(r.dead_bytes),
            human_bytes(r.total_bytes),
            r.ratio
        ))?;
    }
    Ok(exit::OK)
}

/// Drops expired keys from the index so their bytes count as dead (a merge then frees them).
/// When space is low (the disk full, or less free than twice the reserve) it also reclaims
/// them, merging file by file.
pub fn gc(a: DbOnly, ctx: &Ctx) -> CmdResult {
    let db = a.db.open(false)?;
    let removed = db.run_gc()?;
    let merged = match db.space()?.low {
        true => db.compact_if_needed()?,
        false => false,
    };
    let r = db.reclaimable()?;
    let space = db.space()?;
    close(db)?;
    if ctx.json {
        print_json(&json!({
            "removed": removed,
            "merged": merged,
            "dead_bytes": r.dead_bytes,
            "total_bytes": r.total_bytes,
            "disk_full": space.full,
        }))?;
    } else {
        let (removed, total) = (count(removed, "expired key"), count(r.total_bytes, "byte"));
        println!("removed {removed}; {} of {total} are now reclaimable", r.dead_bytes);
        if merged {
            println!("space was low: merged file by file; {} free now", human_bytes(space.free_bytes));
        }
    }
    Ok(exit::OK)
}

#[derive(clap::Args, Debug)]
pub struct MergeArgs {
    /// Merge even when the trigger (--merge-trigger-ratio, --merge-min-total) does not hold.
    #[arg(long)]
    pub force: bool,
    /// Run the background policy once instead: a full merge when due, else a selective merge
    /// of the files with the most garbage (see the selective-merge options).
    #[arg(long, conflicts_with = "force")]
    pub auto: bool,
    #[command(flatten)]
    pub db: DbArgs,
}

/// A full merge: rewrites the live records and drops dead ones.
pub fn merge(a: MergeArgs, ctx: &Ctx) -> CmdResult {
    let db = a.db.open(false)?;
    let before = db.reclaimable()?;
    let pb = ctx.spinner("merging");
    let ran = if a.auto { db.compact_if_needed() } else { db.merge(a.force) };
    pb.finish_and_clear();
    let ran = ran?;
    let after = db.reclaimable()?;
    close(db)?;
    if ctx.json {
        print_json(&json!({
            "merged": ran,
            "before": {"dead_bytes": before.dead_bytes, "total_bytes": before.total_bytes},
            "after": {"dead_bytes": after.dead_bytes, "total_bytes": after.total_bytes},
        }))?;
    } else if ran {
        println!(
            "merged: {} -> {} bytes ({} freed)",
            before.total_bytes,
            after.total_bytes,
            before.total_bytes.saturating_sub(after.total_bytes)
        );
    } else {
        println!(
            "no merge needed: {} dead of {} bytes (ratio {:.3}); --force merges anyway",
            before.dead_bytes, before.total_bytes, before.ratio
        );
    }
    Ok(exit::OK)
}

#[derive(clap::Args, Debug)]
pub struct BackupArgs {
    /// Where to write the copy (must not exist, or be an empty directory).
    pub dest: PathBuf,
    /// Validate the copy afterwards (exit code 3 if it is not clean).
    #[arg(long)]
    pub verify: bool,
    #[command(flatten)]
    pub db: DbArgs,
}

/// A point-in-time copy that opens as a database of its own.
pub fn backup(a: BackupArgs, ctx: &Ctx) -> CmdResult {
    let db = a.db.open(false)?;
    let pb = ctx.spinner(format!("backing up to {}", a.dest.display()));
    let done = db.backup(&a.dest);
    pb.finish_and_clear();
    done.map_err(|e| CliError::from(e).context(format!("backup to {}", a.dest.display())))?;
    let s = db.stats()?;
    close(db)?;
    let verified = if a.verify {
        let pb = ctx.spinner("verifying the copy");
        let r = bitgask::validate(&a.dest);
        pb.finish_and_clear();
        Some(r?)
    } else {
        None
    };
    let clean = verified.as_ref().is_none_or(|r| r.clean());
    if ctx.json {
        print_json(&json!({
            "backup": a.dest.display().to_string(),
            "keys": s.keys,
            "verified": verified.as_ref().map(|r| r.clean()),
        }))?;
    } else {
        println!("backup of {} written to {} ({})", a.db.dir.display(), a.dest.display(), count(s.keys, "key"));
        if let Some(r) = &verified {
            print!("{}", r.text());
        }
    }
    Ok(if clean { exit::OK } else { exit::CORRUPT })
}

#[derive(clap::Args, Debug)]
pub struct DeleteAllArgs {
    /// Do not ask for confirmation (required when standard input is not a terminal).
    #[arg(short, long)]
    pub yes: bool,
    #[command(flatten)]
    pub db: DbArgs,
}

/// Deletes every key (crash-safe: all or nothing). Asks for "yes" on a terminal.
pub fn delete_all(a: DeleteAllArgs, ctx: &Ctx) -> CmdResult {
    let interactive = io::stdin().is_terminal();
    if !a.yes && !interactive {
        return Err(CliError::usage("delete-all needs --yes when standard input is not a terminal"));
    }
    let db = a.db.open(false)?;
    let keys = db.stats()?.keys;
    if !a.yes {
        let what = if keys == 1 { "the 1 key".to_string() } else { format!("all {keys} keys") };
        eprint!("Delete {what} of {}? Type yes to continue: ", a.db.dir.display());
        io::stderr().flush()?;
        let mut line = String::new();
        io::stdin().lock().read_line(&mut line)?;
        if line.trim() != "yes" {
            close(db)?;
            return Err(CliError::usage("not confirmed; nothing deleted"));
        }
    }
    db.delete_all()?;
    close(db)?;
    if ctx.json {
        print_json(&json!({"deleted_all": true, "keys": keys}))?;
    } else {
        println!("deleted {}", count(keys, "key"));
    }
    Ok(exit::OK)
}
