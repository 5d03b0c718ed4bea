//! The targets for what faces the network in `bitgask serve` (the `bitgask_cli` library):
//!
//! - `resp_parse`: a byte stream through the request parser, whole and cut into pieces at
//!   random. Every call consumes bytes (`Command(n)`, `1 <= n <= available`) or asks for more
//!   than it has (`Incomplete(k)`, `k > available`); both ways give the same commands and the
//!   same error; what a call allocates, and what the parser holds, is bounded by the bytes it
//!   was given; every command re-encoded as multibulk parses back to the same arguments.
//! - `glob_match`: a pattern and a key. The matcher's steps stay under
//!   `(len(pattern) + 2) * (len(key) + 2)`; on short inputs it agrees with [`reference_match`],
//!   a memoised reading of Redis' `stringmatchlen` straight off the pattern bytes.
//! - `dispatch`: a request stream run by the server's own connection code (`Client::run`)
//!   against a throwaway database (with or without a password), in random pieces. No panic;
//!   the replies are well-formed RESP, one per command; the connection's memory budget is kept
//!   or the connection closed; what a batch allocates is bounded by the budget, the value
//!   limit and the bytes it was given.

use std::cell::Cell;
use std::io::{self, Write};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::rc::Rc;
use std::sync::{Arc, Mutex, OnceLock, PoisonError};
use std::time::Instant;

use bitgask::Db;
use bitgask_cli::serve::client::{Client, Close};
use bitgask_cli::serve::glob::{step_bound, Glob};
use bitgask_cli::serve::reply::Out;
use bitgask_cli::serve::resp::{Limits, Parsed, Parser};
use bitgask_cli::serve::state::{ClientHandle, ClientMeta, Shared, Stopper};
use bitgask_cli::serve::ServeArgs;

use crate::alloc;

/// A small generator for chunk sizes (splitmix64), seeded from the input.
struct Rng(u64);

impl Rng {
    fn below(&mut self, n: usize) -> usize {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        ((z ^ (z >> 31)) % n as u64) as usize
    }

    /// A piece size: mostly small (a byte or a few, as a slow client sends), sometimes large.
    fn chunk(&mut self) -> usize {
        match self.below(4) {
            0 => 1,
            1 => 1 + self.below(8),
            2 => 1 + self.below(64),
            _ => 1 + self.below(4096),
        }
    }
}

// ---------------------------------------------------------------------------------------------
// resp_parse

/// The limits an input picks with the low two bits of its first byte.
pub const LIMITS: [Limits; 4] = [
    Limits { max_args: 1024, max_bulk: 4096, max_inline: 1024 },
    // Before AUTH.
    Limits { max_args: 16, max_bulk: 16 << 10, max_inline: 16 << 10 },
    Limits { max_args: 4, max_bulk: 16, max_inline: 32 },
    // The server's defaults.
    Limits { max_args: 1 << 20, max_bulk: 32 << 20, max_inline: 64 << 10 },
];

#[derive(Debug, PartialEq)]
enum Event {
    Command(usize, Vec<Vec<u8>>),
    Error(&'static str),
}

/// Most heap bytes a parser may hold, or a call allocate, for `n` bytes of input: 16 bytes of
/// range per argument (an argument takes at least 2 bytes: `a `; capacity doubling), and an
/// inline line's unescaped copy.
fn parser_bound(n: usize) -> usize {
    24 * n + 1024
}

/// What a parser may keep between commands for reuse: `reset` keeps at most 64 KiB of inline
/// scratch and 4096 argument ranges.
const PARSER_KEEPS: usize = (64 << 10) + 4096 * 16;

/// Parses `stream` arriving in pieces of `chunk()` bytes, as a connection would, checking that
/// every call makes progress, allocates within [`parser_bound`] of what it was given, and
/// leaves the parser holding no more than the largest input needed. Returns the events and
/// the bytes left over (an incomplete command at the end).
fn parse_stream(stream: &[u8], lim: &Limits, mut chunk: impl FnMut() -> usize) -> (Vec<Event>, usize) {
    let mut p = Parser::default();
    let mut events = Vec::new();
    let (mut start, mut avail, mut largest) = (0, 0, 0);
    loop {
        avail = (avail + chunk().max(1)).min(stream.len());
        loop {
            let pending = &stream[start..avail];
            largest = largest.max(pending.len());
            let (r, peak) = alloc::peak_during(|| p.parse(pending, lim));
            assert!(peak <= parser_bound(pending.len()), "a parse of {} bytes allocated {peak}", pending.len());
            let held = p.held_bytes();
            assert!(held <= parser_bound(largest), "the parser holds {held} bytes after at most {largest} bytes");
            match r {
                Parsed::Command(n) => {
                    assert!(n >= 1 && n <= pending.len(), "Command({n}) with {} bytes", pending.len());
                    events.push(Event::Command(n, p.args(pending).iter().map(<[u8]>::to_vec).collect()));
                    p.reset();
                    assert!(p.held_bytes() <= PARSER_KEEPS, "the parser keeps {} bytes", p.held_bytes());
                    start += n;
                }
                Parsed::Incomplete(k) => {
                    assert!(k > pending.len(), "Incomplete({k}) with {} bytes: no progress", pending.len());
                    break;
                }
                Parsed::Error(msg) => {
                    events.push(Event::Error(msg));
                    return (events, 0);
                }
            }
        }
        if avail == stream.len() {
            return (events, avail - start);
        }
    }
}

/// A command as a multibulk request.
pub fn multibulk<A: AsRef<[u8]>>(args: &[A]) -> Vec<u8> {
    let mut out = format!("*{}\r\n", args.len()).into_bytes();
    for a in args {
        let a = a.as_ref();
        out.extend_from_slice(format!("${}\r\n", a.len()).as_bytes());
        out.extend_from_slice(a);
        out.extend_from_slice(b"\r\n");
    }
    out
}

/// Input: mode byte (bits 0-1: the limits, [`LIMITS`]), chunking seed byte, the stream.
pub fn resp_parse(data: &[u8]) {
    let [mode, seed, stream @ ..] = data else { return };
    let lim = &LIMITS[(mode & 3) as usize];
    let whole = parse_stream(stream, lim, || usize::MAX);
    let mut rng = Rng(u64::from(*seed) << 8 | u64::from(*mode));
    let pieces = parse_stream(stream, lim, || rng.chunk());
    assert_eq!(whole, pieces, "the stream parsed whole and in pieces differ");
    for e in &whole.0 {
        if let Event::Command(_, args) = e {
            if args.is_empty() {
                continue;
            }
            let again = multibulk(args);
            let (events, left) = parse_stream(&again, &LIMITS[3], || usize::MAX);
            assert_eq!((events, left), (vec![Event::Command(again.len(), args.clone())], 0), "re-encoded");
        }
    }
}

// ---------------------------------------------------------------------------------------------
// glob_match

/// Whether `key` matches `pat` as Redis' `stringmatchlen` (case-sensitive) reads it: `*` any
/// run, `?` one byte, `[...]` a class (`^` negates; `a-z` ranges, either order; `\x` a literal;
/// an unterminated class ends with the pattern; a range's end may be `]`), `\x` a literal (a
/// trailing `\` is itself). Memoised on (pattern offset, key offset): the test oracle, written
/// straight off the pattern bytes, independent of `Glob`'s compiled tokens.
pub fn reference_match(pat: &[u8], key: &[u8]) -> bool {
    let mut memo = vec![None; (pat.len() + 1) * (key.len() + 1)];
    reference_at(pat, 0, key, 0, &mut memo)
}

fn reference_at(p: &[u8], pi: usize, s: &[u8], si: usize, memo: &mut Vec<Option<bool>>) -> bool {
    let slot = pi * (s.len() + 1) + si;
    if let Some(r) = memo[slot] {
        return r;
    }
    let r = if pi == p.len() {
        si == s.len()
    } else if p[pi] == b'*' {
        (si..=s.len()).any(|k| reference_at(p, pi + 1, s, k, memo))
    } else if si == s.len() {
        false
    } else {
        let c = s[si];
        let (ok, next) = match p[pi] {
            b'?' => (true, pi + 1),
            b'[' => reference_class(p, pi + 1, c),
            b'\\' if pi + 1 < p.len() => (p[pi + 1] == c, pi + 2),
            l => (l == c, pi + 1),
        };
        ok && reference_at(p, next, s, si + 1, memo)
    };
    memo[slot] = Some(r);
    r
}

/// Whether byte `c` is in the class starting at `p[i]` (after its `[`), and where the pattern
/// goes on after the class.
fn reference_class(p: &[u8], mut i: usize, c: u8) -> (bool, usize) {
    let negate = p.get(i) == Some(&b'^');
    if negate {
        i += 1;
    }
    let mut hit = false;
    while i < p.len() {
        if p[i] == b'\\' && i + 1 < p.len() {
            i += 1;
            hit |= p[i] == c;
        } else if p[i] == b']' {
            return (hit != negate, i + 1);
        } else if i + 2 < p.len() && p[i + 1] == b'-' {
            let (a, b) = (p[i].min(p[i + 2]), p[i].max(p[i + 2]));
            hit |= a <= c && c <= b;
            i += 2;
        } else {
            hit |= p[i] == c;
        }
        i += 1;
    }
    (hit != negate, p.len())
}

/// Input: pattern length byte, then the pattern and the key.
pub fn glob_match(data: &[u8]) {
    let Some((&plen, rest)) = data.split_first() else { return };
    let (pat, key) = rest.split_at((plen as usize).min(rest.len()));
    let g = Glob::new(pat);
    assert!(g.held_bytes() <= 32 * pat.len() + 64, "a {}-byte pattern holds {} bytes", pat.len(), g.held_bytes());
    let (hit, steps) = g.matches_counting(key);
    let bound = step_bound(pat.len(), key.len());
    assert!(
        steps <= bound,
        "{steps} steps for a {}-byte pattern and a {}-byte key (bound {bound})",
        pat.len(),
        key.len()
    );
    assert!(!g.matches_all() || hit, "a match-all pattern refused a key");
    if pat.len() <= 32 && key.len() <= 64 {
        let want = reference_match(pat, key);
        assert_eq!(hit, want, "pattern {:?} key {:?}", String::from_utf8_lossy(pat), String::from_utf8_lossy(key));
    }
}

// ---------------------------------------------------------------------------------------------
// dispatch

/// The server flags of the throwaway database: small limits so the fuzzer reaches them.
const FLAGS: &[&str] = &[
    "--addr",
    "127.0.0.1:0",
    "--no-sync",
    "--merge-interval-ms",
    "0",
    "--max-key-size",
    "256",
    "--max-value-size",
    "4096",
    "--max-file-size",
    "1048576",
    "--max-query-buffer",
    "65536",
    "--max-client-memory",
    "262144",
];

/// The password of the server that has one.
pub const PASSWORD: &str = "pw";

/// Where the throwaway databases live (removed by `fuzz/run.sh`, or [`remove_dispatch_dirs`]).
fn dispatch_dir(password: bool) -> PathBuf {
    let base = std::env::var_os("BITGASK_FUZZ_TMPDIR").map(PathBuf::from).unwrap_or_else(std::env::temp_dir);
    base.join(format!("bitgask-fuzz-serve-{}-{}", std::process::id(), if password { "pw" } else { "open" }))
}

/// The server state over a throwaway database, one per password setting, made on first use.
fn server(password: bool) -> &'static Arc<Shared> {
    static SERVERS: [OnceLock<Arc<Shared>>; 2] = [OnceLock::new(), OnceLock::new()];
    SERVERS[password as usize].get_or_init(|| {
        let dir = dispatch_dir(password);
        let _ = std::fs::remove_dir_all(&dir);
        let dir_s = dir.to_str().expect("a UTF-8 temporary directory");
        let mut flags = vec!["--dir", dir_s];
        flags.extend_from_slice(FLAGS);
        if password {
            flags.extend_from_slice(&["--requirepass", PASSWORD]);
        }
        let args = ServeArgs::from_flags(&flags).expect("the fuzz server's flags");
        let cfg = args.config().expect("the fuzz server's configuration");
        let db = Db::open(&dir, args.options().expect("options")).expect("open the throwaway database");
        Arc::new(Shared::new(db, cfg, Arc::new(Stopper::default())))
    })
}

/// Removes the throwaway databases (the replay test calls it when done).
pub fn remove_dispatch_dirs() {
    for password in [false, true] {
        let _ = std::fs::remove_dir_all(dispatch_dir(password));
    }
}

/// The connection's socket in the harness: keeps the replies and counts them.
struct Sink {
    bytes: Rc<std::cell::RefCell<Vec<u8>>>,
    written: Rc<Cell<usize>>,
}

impl Write for Sink {
    fn write(&mut self, b: &[u8]) -> io::Result<usize> {
        self.bytes.borrow_mut().extend_from_slice(b);
        self.written.set(self.written.get() + b.len());
        Ok(b.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// Heap bytes a batch may allocate beyond the connection's budget, for the engine: its copies
/// of a value (a read, the new value, the encoded record: three values of at most 4 KiB here)
/// and the index, whose sixteen shards each take their key storage in chunks of 64 KiB first,
/// doubling up to 1 MiB (`keydir.rs`; an input's database starts empty, so 1 MiB in all), and
/// grow their tables with the keys (counted per input byte), and a merge's 1 MiB output
/// buffer (BGREWRITEAOF). The harness's own copy of the replies is counted separately.
const DISPATCH_SLACK: usize = 3 * 4096 + (5 << 20);

/// Input: flags byte (bit 0: the server has a password; the rest seeds the chunking), the
/// request stream.
pub fn dispatch(data: &[u8]) {
    static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());
    let _one = ONE_AT_A_TIME.lock().unwrap_or_else(PoisonError::into_inner);
    let Some((&flags, stream)) = data.split_first() else { return };
    let sh = server(flags & 1 != 0);
    let id = sh.next_id.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let addr: SocketAddr = "127.0.0.1:1".parse().unwrap();
    let handle = Arc::new(ClientHandle {
        id,
        addr,
        laddr: sh.cfg.addr,
        created: Instant::now(),
        sock: None,
        meta: Mutex::new(ClientMeta { resp: 2, ..ClientMeta::default() }),
    });
    sh.reg.clients.lock().unwrap_or_else(PoisonError::into_inner).insert(id, handle.clone());
    let replies = Rc::new(std::cell::RefCell::new(Vec::new()));
    let written = Rc::new(Cell::new(0));
    let mut sink = Sink { bytes: replies.clone(), written: written.clone() };
    let mut rng = Rng(u64::from(flags >> 1));
    let (expected, close, dirty) = {
        let mut out = Out::new(&mut sink);
        let mut client = Client::new(sh, id);
        let r = run_pieces(sh, &handle, &mut client, &mut out, stream, &mut rng, &written);
        (r.0, r.1, client.sess.tally.dirty > 0)
    };
    sh.reg.remove(id);
    check_replies(&replies.borrow(), expected, close);
    if dirty {
        // Start the next input from an empty database, as far as is cheap.
        sh.db.delete_all().expect("delete_all on the throwaway database");
    }
}

/// Feeds `stream` to the client in random pieces as `conn` does (the read buffer doubling from
/// 16 KiB, the query buffer limit), checking the budget and allocations after each batch.
/// Returns the replies expected and why the connection closed.
fn run_pieces(
    sh: &Arc<Shared>,
    handle: &ClientHandle,
    client: &mut Client,
    out: &mut Out<'_>,
    stream: &[u8],
    rng: &mut Rng,
    written: &Cell<usize>,
) -> (usize, Option<Close>) {
    let (mut start, mut avail, mut expected) = (0, 0, 0);
    loop {
        avail = (avail + rng.chunk()).min(stream.len());
        let pending = &stream[start..avail];
        if pending.len() >= sh.cfg.max_query {
            return (expected, None); // the query buffer limit closes it
        }
        if client.read_buffer_is(pending.len().next_power_of_two().max(16 << 10)) {
            return (expected, Some(Close::OverBudget));
        }
        let limit = client.sess.budget.limit();
        let before = written.get();
        let (batch, peak) = alloc::peak_during(|| client.run(sh, handle, pending, out));
        let batch = batch.expect("replies to a Vec cannot fail");
        out.flush().expect("replies to a Vec cannot fail");
        let bound = limit + DISPATCH_SLACK + 2 * (written.get() - before) + 64 * pending.len();
        assert!(peak <= bound, "a batch of {} bytes allocated {peak} bytes (bound {bound})", pending.len());
        assert!(batch.used <= pending.len());
        expected += batch.commands;
        start += batch.used;
        if let Some(why) = batch.close {
            return (expected + (why == Close::ProtocolError) as usize, Some(why));
        }
        assert!(!client.sess.budget.over(), "over budget and not closed: {}", client.budget_line());
        if avail == stream.len() {
            return (expected, None);
        }
    }
}

/// The replies are a sequence of complete RESP values, one per command (SHUTDOWN, which
/// closes the connection, has none).
fn check_replies(bytes: &[u8], expected: usize, close: Option<Close>) {
    let mut at = 0;
    let mut count = 0;
    while at < bytes.len() {
        at = resp_value(bytes, at).unwrap_or_else(|| {
            panic!(
                "malformed reply at byte {at}: {:?}",
                String::from_utf8_lossy(&bytes[at..(at + 200).min(bytes.len())])
            )
        });
        count += 1;
    }
    let shutdown = close == Some(Close::Requested) && count + 1 == expected;
    assert!(count == expected || shutdown, "{count} replies for {expected} commands (closed: {close:?})");
}

/// The end of the RESP2/RESP3 value starting at `at`, None if it is malformed or cut short.
fn resp_value(b: &[u8], at: usize) -> Option<usize> {
    let line_end = at + b.get(at..)?.windows(2).position(|w| w == b"\r\n")?;
    let line = &b[at + 1..line_end];
    let next = line_end + 2;
    let int = || std::str::from_utf8(line).ok()?.parse::<i64>().ok();
    match *b.get(at)? {
        b'+' | b'-' => (!line.contains(&b'\r') && !line.contains(&b'\n')).then_some(next),
        b':' => int().map(|_| next),
        b'_' => line.is_empty().then_some(next),
        b'$' | b'=' => match int()? {
            -1 if b[at] == b'$' => Some(next),
            n if n >= 0 => {
                let end = next + n as usize;
                (b.get(end..end + 2)? == b"\r\n").then_some(end + 2)
            }
            _ => None,
        },
        b'*' | b'~' | b'%' => {
            let n = int()?;
            if n == -1 && b[at] == b'*' {
                return Some(next);
            }
            let items = if b[at] == b'%' { 2 * n } else { n };
            let mut pos = next;
            for _ in 0..usize::try_from(items).ok()? {
                pos = resp_value(b, pos)?;
            }
            Some(pos)
        }
        _ => None,
    }
}
