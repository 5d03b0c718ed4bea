//! Server commands: INFO, DBSIZE, SAVE/BGSAVE (sync), BGREWRITEAOF (merge), LASTSAVE, TIME,
//! FLUSHDB/FLUSHALL, COMMAND, CONFIG, SHUTDOWN.

use std::io;
use std::sync::atomic::Ordering;
use std::sync::{Arc, PoisonError};

use super::{db_err, eq, shown, subcommand, Ctx, Spec, E_SYNTAX, TABLE};
use crate::serve::glob::Glob;
use crate::serve::info;
use crate::serve::resp::Args;
use crate::serve::state::{unix_nanos, unix_secs, Shared};

/// The Redis version bitgask reports where clients expect one (HELLO, INFO): the command set
/// and reply shapes follow Redis 7.0.
pub const REDIS_COMPAT_VERSION: &str = "7.0.0";

pub fn info(c: &mut Ctx<'_, '_>, a: Args<'_>) -> io::Result<()> {
    // Only short arguments can name a section, and there are few: the list stays small
    // whatever the client sends.
    let sections: Vec<String> = a
        .iter()
        .skip(1)
        .filter(|s| s.len() <= 16)
        .take(16)
        .map(|s| String::from_utf8_lossy(s).to_ascii_lowercase())
        .collect();
    let text = info::render(c.sh, &sections);
    c.out.verbatim(&text);
    Ok(())
}

pub fn dbsize(c: &mut Ctx<'_, '_>, _a: Args<'_>) -> io::Result<()> {
    match super::store::Store::of(&c.sh.db, &mut c.s.exec).dbsize() {
        Ok(n) => c.out.int(n as i64),
        Err(e) => db_err(c.out, &e),
    }
    Ok(())
}

fn sync_now(c: &mut Ctx<'_, '_>) -> bool {
    match c.sh.db.sync() {
        Ok(()) => {
            c.sh.last_save_unix.store(unix_secs(), Ordering::Relaxed);
            c.sh.stats.dirty.store(0, Ordering::Relaxed);
            true
        }
        Err(e) => {
            db_err(c.out, &e);
            false
        }
    }
}

pub fn save(c: &mut Ctx<'_, '_>, _a: Args<'_>) -> io::Result<()> {
    if sync_now(c) {
        c.out.ok();
    }
    Ok(())
}

/// BGSAVE [SCHEDULE]: the sync is quick (an fdatasync), so it is done before replying.
pub fn bgsave(c: &mut Ctx<'_, '_>, a: Args<'_>) -> io::Result<()> {
    if a.len() > 2 || (a.len() == 2 && !eq(a.get(1), "SCHEDULE")) {
        c.out.err(E_SYNTAX);
        return Ok(());
    }
    if sync_now(c) {
        c.out.simple("Background saving started");
    }
    Ok(())
}

pub fn lastsave(c: &mut Ctx<'_, '_>, _a: Args<'_>) -> io::Result<()> {
    c.out.int(c.sh.last_save_unix.load(Ordering::Relaxed) as i64);
    Ok(())
}

pub fn time(c: &mut Ctx<'_, '_>, _a: Args<'_>) -> io::Result<()> {
    let ns = unix_nanos();
    c.out.array(2);
    c.out.bulk((ns / 1_000_000_000).to_string().as_bytes());
    c.out.bulk(((ns / 1000) % 1_000_000).to_string().as_bytes());
    Ok(())
}

/// BGREWRITEAOF: a forced full merge on a background thread (one at a time).
pub fn bgrewriteaof(c: &mut Ctx<'_, '_>, _a: Args<'_>) -> io::Result<()> {
    if c.sh.merge_running.swap(true, Ordering::AcqRel) {
        c.out.err("ERR Background append only file rewriting already in progress");
        return Ok(());
    }
    let sh: Arc<Shared> = Arc::clone(c.sh);
    let spawned = std::thread::Builder::new().name("bitgask-bgmerge".into()).spawn(move || {
        let r = sh.db.merge(true);
        if let Err(e) = &r {
            eprintln!("bitgask serve: BGREWRITEAOF merge failed: {e}");
        }
        sh.merge_ok.store(r.is_ok(), Ordering::Relaxed);
        sh.merge_running.store(false, Ordering::Release);
    });
    match spawned {
        Ok(h) => {
            let old = c.sh.merge_thread.lock().unwrap_or_else(PoisonError::into_inner).replace(h);
            if let Some(old) = old {
                let _ = old.join(); // finished: merge_running was false
            }
            c.out.simple("Background append only file rewriting started");
        }
        Err(e) => {
            c.sh.merge_running.store(false, Ordering::Release);
            c.out.err(&format!("ERR could not start the merge thread: {e}"));
        }
    }
    Ok(())
}

fn flush(c: &mut Ctx<'_, '_>, a: Args<'_>) -> io::Result<()> {
    if a.len() > 2 || (a.len() == 2 && !eq(a.get(1), "ASYNC") && !eq(a.get(1), "SYNC")) {
        c.out.err(E_SYNTAX);
        return Ok(());
    }
    match c.sh.db.delete_all() {
        Ok(()) => {
            c.s.tally.dirty += 1;
            c.out.ok();
        }
        Err(e) => db_err(c.out, &e),
    }
    Ok(())
}

pub fn flushdb(c: &mut Ctx<'_, '_>, a: Args<'_>) -> io::Result<()> {
    flush(c, a)
}

pub fn flushall(c: &mut Ctx<'_, '_>, a: Args<'_>) -> io::Result<()> {
    flush(c, a)
}

/// SHUTDOWN [NOSAVE | SAVE] [NOW] [FORCE]: the same graceful stop as SIGTERM. As in Redis, a
/// successful SHUTDOWN closes the connection without a reply.
pub fn shutdown(c: &mut Ctx<'_, '_>, a: Args<'_>) -> io::Result<()> {
    for opt in a.iter().skip(1) {
        if !["NOSAVE", "SAVE", "NOW", "FORCE"].iter().any(|w| eq(opt, w)) {
            c.out.err(if eq(opt, "ABORT") { "ERR No shutdown in progress." } else { E_SYNTAX });
            return Ok(());
        }
    }
    eprintln!("bitgask serve: SHUTDOWN requested by client id={}", c.s.id);
    c.sh.stopper.stop();
    c.s.close = true;
    Ok(())
}

// ---- COMMAND ----

fn acl_categories(s: &Spec) -> Vec<&'static str> {
    let mut v = Vec::new();
    if s.flags.contains(&"write") {
        v.push("@write");
    }
    if s.flags.contains(&"readonly") {
        v.push("@read");
    }
    if s.flags.contains(&"admin") {
        v.extend(["@admin", "@dangerous"]);
    }
    v.push(match s.group {
        "string" => "@string",
        "generic" => "@keyspace",
        "transactions" => "@transaction",
        "server" => "@slow",
        _ => "@connection",
    });
    v.push(if s.flags.contains(&"fast") { "@fast" } else { "@slow" });
    v.dedup();
    v
}

fn command_info(c: &mut Ctx<'_, '_>, s: &Spec) {
    let o = &mut *c.out;
    o.array(10);
    o.bulk_str(s.name);
    o.int(s.arity as i64);
    o.set(s.flags.len());
    for f in s.flags {
        o.simple(f);
    }
    o.int(s.keys.0 as i64);
    o.int(s.keys.1 as i64);
    o.int(s.keys.2 as i64);
    let cats = acl_categories(s);
    o.set(cats.len());
    for cat in cats {
        o.simple(cat);
    }
    o.array(0); // tips
    o.array(0); // key specs
    o.array(0); // subcommands
}

fn command_docs(c: &mut Ctx<'_, '_>, s: &Spec) {
    let o = &mut *c.out;
    o.bulk_str(s.name);
    o.map(3);
    o.bulk_str("summary");
    o.bulk_str(s.summary);
    o.bulk_str("since");
    o.bulk_str(s.since);
    o.bulk_str("group");
    o.bulk_str(s.group);
}

pub fn command(c: &mut Ctx<'_, '_>, a: Args<'_>) -> io::Result<()> {
    if a.len() == 1 {
        c.out.array(TABLE.len());
        for s in TABLE {
            command_info(c, s);
        }
        return Ok(());
    }
    let sub = subcommand(a.get(1));
    let names = || a.iter().skip(2);
    match &sub[..] {
        b"count" if a.len() == 2 => c.out.int(TABLE.len() as i64),
        b"list" => {
            c.out.array(TABLE.len());
            for s in TABLE {
                c.out.bulk_str(s.name);
            }
        }
        b"info" => {
            if a.len() == 2 {
                c.out.array(TABLE.len());
                for s in TABLE {
                    command_info(c, s);
                }
            } else {
                c.out.array(a.len() - 2);
                for n in names() {
                    match super::lookup(n) {
                        Some(s) => command_info(c, s),
                        None => c.out.null_array(),
                    }
                    c.out.maybe_flush()?;
                }
            }
        }
        b"docs" => {
            if a.len() == 2 {
                c.out.map(TABLE.len());
                for s in TABLE {
                    command_docs(c, s);
                }
            } else {
                c.out.map(names().filter(|n| super::lookup(n).is_some()).count());
                for s in names().filter_map(super::lookup) {
                    command_docs(c, s);
                    c.out.maybe_flush()?;
                }
            }
        }
        b"help" => {
            let lines = [
                "COMMAND <subcommand>. Subcommands are:",
                "(no subcommand)",
                "    Return details about all commands.",
                "COUNT",
                "DOCS [<command-name> ...]",
                "INFO [<command-name> ...]",
                "LIST",
            ];
            c.out.array(lines.len());
            for l in lines {
                c.out.simple(l);
            }
        }
        b"count" => c.out.err("ERR wrong number of arguments for 'command|count' command"),
        _ => c.out.err(&format!("ERR unknown subcommand '{}'. Try COMMAND HELP.", shown(a.get(1)))),
    }
    Ok(())
}

// ---- CONFIG ----

/// The parameters CONFIG GET knows (Redis names where one fits, `bitgask-*` for the rest).
fn config_params(sh: &Shared) -> Vec<(&'static str, String)> {
    let cfg = &sh.cfg;
    let fsync = if cfg.sync_on_put {
        "always"
    } else if cfg.sync_interval_ms > 0 {
        "everysec"
    } else {
        "no"
    };
    vec![
        ("bind", cfg.addr.ip().to_string()),
        ("port", cfg.addr.port().to_string()),
        ("dir", cfg.dir.display().to_string()),
        ("maxclients", cfg.maxclients.to_string()),
        ("io-threads", cfg.io_threads.to_string()),
        ("timeout", cfg.timeout.map_or(0, |t| t.as_secs()).to_string()),
        ("databases", "1".into()),
        ("save", String::new()),
        ("appendonly", "yes".into()),
        ("appendfsync", fsync.into()),
        ("maxmemory", "0".into()),
        ("proto-max-bulk-len", cfg.limits.max_bulk.to_string()),
        ("client-query-buffer-limit", cfg.max_query.to_string()),
        ("bitgask-max-client-memory", cfg.client_memory.to_string()),
        ("protected-mode", if cfg.requirepass.is_some() || cfg.addr.ip().is_loopback() { "yes" } else { "no" }.into()),
        ("bitgask-sync-on-put", if cfg.sync_on_put { "yes" } else { "no" }.into()),
        ("bitgask-sync-interval-ms", cfg.sync_interval_ms.to_string()),
        ("bitgask-merge-interval-ms", cfg.merge_interval_ms.to_string()),
        ("bitgask-compression", cfg.compression.into()),
        ("bitgask-max-file-size", cfg.max_file_size.to_string()),
        ("bitgask-max-key-size", cfg.max_key_size.to_string()),
        ("bitgask-max-value-size", cfg.max_value_size.to_string()),
    ]
}

pub fn config(c: &mut Ctx<'_, '_>, a: Args<'_>) -> io::Result<()> {
    let sub = subcommand(a.get(1));
    match &sub[..] {
        b"get" if a.len() >= 3 => {
            // One pattern compiled at a time: memory stays that of the largest pattern.
            let mut params = config_params(c.sh);
            let mut wanted = vec![false; params.len()];
            for p in a.iter().skip(2) {
                let g = Glob::new(&p.to_ascii_lowercase());
                for (w, (k, _)) in wanted.iter_mut().zip(&params) {
                    *w = *w || g.matches(k.as_bytes());
                }
            }
            let mut wanted = wanted.into_iter();
            params.retain(|_| wanted.next().unwrap_or(false));
            c.out.map(params.len());
            for (k, v) in params {
                c.out.bulk_str(k);
                c.out.bulk_str(&v);
            }
        }
        b"set" if a.len() >= 4 => {
            c.out.err("ERR CONFIG SET is not supported by bitgask: restart the server with other flags")
        }
        b"resetstat" if a.len() == 2 => {
            c.sh.stats.reset();
            c.out.ok();
        }
        b"rewrite" if a.len() == 2 => c.out.err("ERR The server is running without a config file"),
        b"get" | b"set" | b"resetstat" | b"rewrite" => {
            c.out.err(&format!("ERR wrong number of arguments for 'config|{}' command", shown(&sub)));
        }
        _ => c.out.err(&format!("ERR unknown subcommand '{}'. Try CONFIG HELP.", shown(a.get(1)))),
    }
    Ok(())
}
