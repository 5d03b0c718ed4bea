//! The INFO text: Redis section and field names where a client might parse them, bitgask's own
//! figures (`bitgask_*`) where Redis has nothing equivalent.

use std::fmt::Write;
use std::sync::atomic::Ordering;

use super::commands::server::REDIS_COMPAT_VERSION;
use super::state::{unix_nanos, Shared};

const DEFAULT: &[&str] = &["server", "clients", "memory", "persistence", "stats", "keyspace"];

/// Renders the requested sections (none, `default`, `all`, `everything`: all of them).
pub fn render(sh: &Shared, asked: &[String]) -> String {
    let all = asked.is_empty() || asked.iter().any(|s| matches!(s.as_str(), "all" | "default" | "everything"));
    let mut text = String::new();
    for &section in DEFAULT {
        if !all && !asked.iter().any(|s| s == section) {
            continue;
        }
        if !text.is_empty() {
            text.push_str("\r\n");
        }
        match section {
            "server" => server(sh, &mut text),
            "clients" => clients(sh, &mut text),
            "memory" => memory(&mut text),
            "persistence" => persistence(sh, &mut text),
            "stats" => stats(sh, &mut text),
            _ => keyspace(sh, &mut text),
        }
    }
    text
}

macro_rules! line {
    ($t:expr, $($arg:tt)*) => {{
        let _ = write!($t, $($arg)*);
        $t.push_str("\r\n");
    }};
}

fn server(sh: &Shared, t: &mut String) {
    let up = sh.started.elapsed().as_secs();
    line!(t, "# Server");
    line!(t, "redis_version:{REDIS_COMPAT_VERSION}");
    line!(t, "bitgask_version:{}", env!("CARGO_PKG_VERSION"));
    line!(t, "redis_mode:standalone");
    line!(t, "os:{} {}", std::env::consts::OS, std::env::consts::ARCH);
    line!(t, "arch_bits:{}", usize::BITS);
    line!(t, "multiplexing_api:epoll");
    line!(t, "io_threads_active:{}", sh.cfg.io_threads);
    line!(t, "process_id:{}", std::process::id());
    line!(t, "run_id:{}", sh.run_id);
    line!(t, "tcp_port:{}", sh.cfg.addr.port());
    line!(t, "server_time_usec:{}", unix_nanos() / 1000);
    line!(t, "uptime_in_seconds:{up}");
    line!(t, "uptime_in_days:{}", up / 86400);
    line!(t, "executable:{}", std::env::current_exe().map(|p| p.display().to_string()).unwrap_or_default());
}

fn clients(sh: &Shared, t: &mut String) {
    line!(t, "# Clients");
    line!(t, "connected_clients:{}", sh.reg.len());
    line!(t, "maxclients:{}", sh.cfg.maxclients);
    line!(t, "blocked_clients:0");
}

/// Resident and virtual size of the process, from /proc (0 where unavailable).
pub fn rss_bytes() -> (u64, u64) {
    let page = unsafe { libc::sysconf(libc::_SC_PAGESIZE) }.max(1) as u64;
    let statm = std::fs::read_to_string("/proc/self/statm").unwrap_or_default();
    let mut f = statm.split_whitespace().map(|v| v.parse::<u64>().unwrap_or(0));
    let virt = f.next().unwrap_or(0) * page;
    let rss = f.next().unwrap_or(0) * page;
    (rss, virt)
}

fn human(b: u64) -> String {
    match b {
        b if b >= 1 << 30 => format!("{:.2}G", b as f64 / (1u64 << 30) as f64),
        b if b >= 1 << 20 => format!("{:.2}M", b as f64 / (1u64 << 20) as f64),
        b if b >= 1 << 10 => format!("{:.2}K", b as f64 / 1024.0),
        b => format!("{b}B"),
    }
}

fn memory(t: &mut String) {
    let (rss, _) = rss_bytes();
    line!(t, "# Memory");
    // No allocator accounting: the resident set is the honest figure for both.
    line!(t, "used_memory:{rss}");
    line!(t, "used_memory_human:{}", human(rss));
    line!(t, "used_memory_rss:{rss}");
    line!(t, "used_memory_rss_human:{}", human(rss));
    line!(t, "maxmemory:0");
}

fn persistence(sh: &Shared, t: &mut String) {
    let cfg = &sh.cfg;
    line!(t, "# Persistence");
    line!(t, "loading:0");
    line!(t, "async_loading:0");
    line!(t, "rdb_changes_since_last_save:{}", sh.stats.dirty.load(Ordering::Relaxed));
    line!(t, "rdb_bgsave_in_progress:0");
    line!(t, "rdb_last_save_time:{}", sh.last_save_unix.load(Ordering::Relaxed));
    line!(t, "rdb_last_bgsave_status:ok");
    line!(t, "aof_enabled:1");
    line!(t, "aof_rewrite_in_progress:{}", sh.merge_running.load(Ordering::Relaxed) as u8);
    line!(t, "aof_last_bgrewrite_status:{}", if sh.merge_ok.load(Ordering::Relaxed) { "ok" } else { "err" });
    line!(t, "bitgask_dir:{}", cfg.dir.display());
    line!(t, "bitgask_sync_on_put:{}", cfg.sync_on_put as u8);
    line!(t, "bitgask_sync_interval_ms:{}", cfg.sync_interval_ms);
    line!(t, "bitgask_merge_interval_ms:{}", cfg.merge_interval_ms);
    line!(t, "bitgask_compression:{}", cfg.compression);
    match sh.db.stats() {
        Ok(s) => {
            let ratio = if s.total_bytes == 0 { 0.0 } else { s.dead_bytes as f64 / s.total_bytes as f64 };
            line!(t, "bitgask_keys:{}", s.keys);
            line!(t, "bitgask_data_files:{}", s.data_files);
            line!(t, "bitgask_total_bytes:{}", s.total_bytes);
            line!(t, "bitgask_dead_bytes:{}", s.dead_bytes);
            line!(t, "bitgask_reclaimable_ratio:{ratio:.4}");
            line!(t, "bitgask_merges:{}", s.merges);
            line!(t, "bitgask_last_merge_time:{}", s.last_merge_unix_nano / 1_000_000_000);
        }
        Err(e) => line!(t, "bitgask_error:{e}"),
    }
    if let Ok(s) = sh.db.space() {
        line!(t, "bitgask_disk_full:{}", s.full as u8);
        line!(t, "bitgask_space_low:{}", s.low as u8);
        line!(t, "bitgask_reserve_bytes:{}", s.reserve_bytes);
        line!(t, "bitgask_reserve_size:{}", s.reserve_size);
        line!(t, "bitgask_no_space_errors:{}", s.no_space_errors);
        line!(t, "bitgask_fs_free_bytes:{}", s.free_bytes);
    }
}

fn stats(sh: &Shared, t: &mut String) {
    let s = &sh.stats;
    let get = |c: &std::sync::atomic::AtomicU64| c.load(Ordering::Relaxed);
    line!(t, "# Stats");
    line!(t, "total_connections_received:{}", get(&s.connections));
    line!(t, "total_commands_processed:{}", get(&s.commands));
    line!(t, "total_net_input_bytes:{}", get(&s.net_in));
    line!(t, "total_net_output_bytes:{}", get(&s.net_out));
    line!(t, "rejected_connections:{}", get(&s.rejected));
    line!(t, "keyspace_hits:{}", get(&s.hits));
    line!(t, "keyspace_misses:{}", get(&s.misses));
    line!(t, "total_error_replies:{}", get(&s.errors));
}

fn keyspace(sh: &Shared, t: &mut String) {
    line!(t, "# Keyspace");
    if let Ok(s) = sh.db.stats() {
        if s.keys > 0 {
            // The engine does not count keys with an expiry separately.
            line!(t, "db0:keys={}", s.keys);
        }
    }
}
