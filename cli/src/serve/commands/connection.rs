//! Connection commands: PING, ECHO, QUIT, SELECT, AUTH, HELLO, RESET, CLIENT, and
//! MULTI/EXEC/DISCARD/WATCH/UNWATCH (queued commands run in order at EXEC with no other
//! client's write in between, and their writes commit as one batch; WATCH is the library's
//! transaction conflict check).

use std::cell::Cell;
use std::io;
use std::sync::PoisonError;

use super::store::Overlay;
use super::{db_err, eq, execute, int_arg, shown, subcommand, Ctx, Multi, E_SYNTAX};
use crate::serve::budget::Part;
use crate::serve::resp::{parse_i64, Args};
use crate::serve::state::{ClientMeta, Shared};

const E_WRONGPASS: &str = "WRONGPASS invalid username-password pair or user is disabled.";

pub fn ping(c: &mut Ctx<'_, '_>, a: Args<'_>) -> io::Result<()> {
    match a.len() {
        1 => c.out.simple("PONG"),
        2 => c.out.bulk(a.get(1)),
        _ => c.out.err("ERR wrong number of arguments for 'ping' command"),
    }
    Ok(())
}

pub fn echo(c: &mut Ctx<'_, '_>, a: Args<'_>) -> io::Result<()> {
    c.out.bulk(a.get(1));
    Ok(())
}

pub fn quit(c: &mut Ctx<'_, '_>, _a: Args<'_>) -> io::Result<()> {
    c.out.ok();
    c.s.close = true;
    Ok(())
}

pub fn select(c: &mut Ctx<'_, '_>, a: Args<'_>) -> io::Result<()> {
    match int_arg(c.out, a.get(1)) {
        Some(0) => c.out.ok(),
        Some(_) => c.out.err("ERR DB index is out of range"),
        None => {}
    }
    Ok(())
}

/// Compares in time independent of where the first difference is.
fn same_secret(a: &[u8], b: &[u8]) -> bool {
    let mut diff = (a.len() != b.len()) as u8;
    for i in 0..a.len().max(b.len()) {
        diff |= a.get(i).copied().unwrap_or(0) ^ b.get(i).copied().unwrap_or(0);
    }
    diff == 0
}

/// Whether `user`/`pass` are valid: the only user is "default"; without a configured password
/// it takes any password (Redis' `nopass`).
fn credentials_ok(c: &Ctx<'_, '_>, user: &[u8], pass: &[u8]) -> bool {
    let pass_ok = match &c.sh.cfg.requirepass {
        Some(p) => same_secret(p, pass),
        None => true,
    };
    user == b"default" && pass_ok
}

pub fn auth(c: &mut Ctx<'_, '_>, a: Args<'_>) -> io::Result<()> {
    let (user, pass) = match a.len() {
        2 => (&b"default"[..], a.get(1)),
        3 => (a.get(1), a.get(2)),
        _ => {
            c.out.err(E_SYNTAX);
            return Ok(());
        }
    };
    if a.len() == 2 && c.sh.cfg.requirepass.is_none() {
        c.out.err("ERR AUTH <password> called without any password configured for the default user. Are you sure your configuration is correct?");
        return Ok(());
    }
    if credentials_ok(c, user, pass) {
        c.s.authed = true;
        c.out.ok();
    } else {
        c.out.err(E_WRONGPASS);
    }
    Ok(())
}

/// Longest client name, library name or library version: CLIENT LIST shows every client's,
/// so their size is bounded, not only by the argument limit.
pub const MAX_NAME: usize = 1024;

/// Client names and library names: printable ASCII without spaces, at most [`MAX_NAME`] bytes.
/// The error reply when `n` is not one (Redis' text for the characters).
fn name_error(n: &[u8], what: &str) -> Option<String> {
    if n.len() > MAX_NAME {
        Some(format!("ERR {what} cannot be longer than {MAX_NAME} bytes."))
    } else if !n.iter().all(|&ch| (b'!'..=b'~').contains(&ch)) {
        Some(format!("ERR {what} cannot contain spaces, newlines or special characters."))
    } else {
        None
    }
}

/// Changes the client's names and records what they now hold in the budget.
fn set_meta(c: &mut Ctx<'_, '_>, f: impl FnOnce(&mut ClientMeta)) {
    let mut m = c.client.meta.lock().unwrap_or_else(PoisonError::into_inner);
    f(&mut m);
    c.s.budget.set(Part::Names, m.held_bytes());
}

/// HELLO [protover [AUTH username password] [SETNAME clientname]]
pub fn hello(c: &mut Ctx<'_, '_>, a: Args<'_>) -> io::Result<()> {
    let mut proto = if c.out.resp3 { 3 } else { 2 };
    if a.len() >= 2 {
        match parse_i64(a.get(1)) {
            Some(v @ (2 | 3)) => proto = v,
            Some(_) => {
                c.out.err("NOPROTO unsupported protocol version");
                return Ok(());
            }
            None => {
                c.out.err("ERR Protocol version is not an integer or out of range");
                return Ok(());
            }
        }
    }
    let (mut creds, mut name) = (None, None);
    let mut i = 2;
    while i < a.len() {
        let more = a.len() - i - 1;
        if eq(a.get(i), "AUTH") && more >= 2 {
            creds = Some((a.get(i + 1), a.get(i + 2)));
            i += 3;
        } else if eq(a.get(i), "SETNAME") && more >= 1 {
            name = Some(a.get(i + 1));
            i += 2;
        } else {
            c.out.err(&format!("ERR Syntax error in HELLO option '{}'", shown(a.get(i))));
            return Ok(());
        }
    }
    if let Some((user, pass)) = creds {
        if !credentials_ok(c, user, pass) {
            c.out.err(E_WRONGPASS);
            return Ok(());
        }
        c.s.authed = true;
    }
    if !c.s.authed {
        c.out.err("NOAUTH HELLO must be called with the client already authenticated, otherwise the HELLO <proto> AUTH <user> <pass> option can be used to authenticate the client and select the RESP protocol version at the same time");
        return Ok(());
    }
    if let Some(n) = name {
        if let Some(e) = name_error(n, "Client names") {
            c.out.err(&e);
            return Ok(());
        }
        set_meta(c, |m| m.name = n.to_vec());
    }
    c.out.resp3 = proto == 3;
    set_meta(c, |m| m.resp = proto as u8);
    c.out.map(7);
    c.out.bulk_str("server");
    c.out.bulk_str("redis");
    c.out.bulk_str("version");
    c.out.bulk_str(super::server::REDIS_COMPAT_VERSION);
    c.out.bulk_str("proto");
    c.out.int(proto);
    c.out.bulk_str("id");
    c.out.int(c.s.id as i64);
    c.out.bulk_str("mode");
    c.out.bulk_str("standalone");
    c.out.bulk_str("role");
    c.out.bulk_str("master");
    c.out.bulk_str("modules");
    c.out.array(0);
    Ok(())
}

pub fn reset(c: &mut Ctx<'_, '_>, _a: Args<'_>) -> io::Result<()> {
    c.s.multi = None;
    c.s.watch = None;
    c.s.authed = c.sh.cfg.requirepass.is_none();
    c.out.resp3 = false;
    set_meta(c, |m| *m = ClientMeta { resp: 2, ..ClientMeta::default() });
    c.out.simple("RESET");
    Ok(())
}

/// One CLIENT LIST line.
pub fn client_line(h: &crate::serve::state::ClientHandle) -> String {
    let m = h.meta.lock().unwrap_or_else(PoisonError::into_inner).clone();
    format!(
        "id={} addr={} laddr={} name={} age={} flags=N db=0 multi=-1 user=default resp={} lib-name={} lib-ver={}\n",
        h.id,
        h.addr,
        h.laddr,
        String::from_utf8_lossy(&m.name),
        h.created.elapsed().as_secs(),
        m.resp.max(2),
        String::from_utf8_lossy(&m.lib_name),
        String::from_utf8_lossy(&m.lib_ver),
    )
}

pub fn client(c: &mut Ctx<'_, '_>, a: Args<'_>) -> io::Result<()> {
    let sub = subcommand(a.get(1));
    let n = a.len();
    let arity_ok = match &sub[..] {
        b"id" | b"getname" | b"info" | b"help" => n == 2,
        b"setname" => n == 3,
        b"setinfo" => n == 4,
        b"list" => n == 2 || n >= 4,
        b"no-evict" | b"no-touch" => n == 3,
        _ => true,
    };
    if !arity_ok {
        c.out.err(&format!("ERR wrong number of arguments for 'client|{}' command", shown(&sub)));
        return Ok(());
    }
    match &sub[..] {
        b"id" => c.out.int(c.s.id as i64),
        b"getname" => {
            let name = c.client.meta.lock().unwrap_or_else(PoisonError::into_inner).name.clone();
            if name.is_empty() {
                c.out.null()
            } else {
                c.out.bulk(&name)
            }
        }
        b"setname" => {
            let name = a.get(2);
            match name_error(name, "Client names") {
                None => {
                    set_meta(c, |m| m.name = name.to_vec());
                    c.out.ok();
                }
                Some(e) => c.out.err(&e),
            }
        }
        b"setinfo" => {
            let (attr, val) = (a.get(2), a.get(3));
            if let Some(e) = name_error(val, &shown(attr)) {
                c.out.err(&e);
            } else if eq(attr, "LIB-NAME") {
                set_meta(c, |m| m.lib_name = val.to_vec());
                c.out.ok();
            } else if eq(attr, "LIB-VER") {
                set_meta(c, |m| m.lib_ver = val.to_vec());
                c.out.ok();
            } else {
                c.out.err(&format!("ERR Unrecognized option '{}'", shown(attr)));
            }
        }
        b"info" => {
            let line = client_line(c.client);
            c.out.verbatim(&line);
        }
        b"list" => {
            let mut text = String::new();
            for h in c.sh.reg.snapshot() {
                text.push_str(&client_line(&h));
            }
            c.out.verbatim(&text);
        }
        b"no-evict" | b"no-touch" => {
            if eq(a.get(2), "on") || eq(a.get(2), "off") {
                c.out.ok()
            } else {
                c.out.err(E_SYNTAX)
            }
        }
        b"help" => {
            let lines = [
                "CLIENT <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
                "ID",
                "    Return the ID of the current connection.",
                "GETNAME",
                "    Return the name of the current connection.",
                "SETNAME <name>",
                "    Assign the name <name> to the current connection.",
                "SETINFO <LIB-NAME|LIB-VER> <value>",
                "    Record the client library's name or version.",
                "INFO",
                "    Return information about the current connection.",
                "LIST",
                "    Return information about all connections.",
            ];
            c.out.array(lines.len());
            for l in lines {
                c.out.simple(l);
            }
        }
        _ => c.out.err(&format!("ERR unknown subcommand '{}'. Try CLIENT HELP.", shown(a.get(1)))),
    }
    Ok(())
}

// ---- MULTI / EXEC ----

pub fn multi(c: &mut Ctx<'_, '_>, _a: Args<'_>) -> io::Result<()> {
    if c.s.multi.is_some() {
        c.out.err("ERR MULTI calls can not be nested");
    } else {
        c.s.multi = Some(Multi::default());
        c.out.ok();
    }
    Ok(())
}

/// Queues a command inside MULTI (a copy of its arguments). The queue, with its own slots,
/// counts against the query buffer limit.
pub fn queue(c: &mut Ctx<'_, '_>, a: Args<'_>) {
    let max = c.sh.cfg.max_query;
    let m = c.s.multi.as_mut().expect("inside MULTI");
    let data: usize = a.iter().map(<[u8]>::len).sum();
    let size = data + std::mem::size_of::<(usize, usize)>() * a.len();
    if m.held_bytes() + size + std::mem::size_of::<super::Queued>() > max {
        m.failed = true;
        c.out.err("ERR transaction too large (query buffer limit)");
        return;
    }
    let mut bytes = Vec::with_capacity(data);
    let mut ranges = Vec::with_capacity(a.len());
    for arg in a.iter() {
        ranges.push((bytes.len(), bytes.len() + arg.len()));
        bytes.extend_from_slice(arg);
    }
    m.bytes += size;
    m.queued.push((bytes, ranges));
    c.out.simple("QUEUED");
}

thread_local! {
    /// Set while this thread runs an EXEC, or holds the gate for an event loop's write
    /// ([`with_gate_if_free`]): its own write commands already hold the gate.
    static IN_EXEC: Cell<bool> = const { Cell::new(false) };
}

/// Whether this thread is running an EXEC's commands (or otherwise holds the gate).
pub fn in_exec() -> bool {
    IN_EXEC.with(Cell::get)
}

/// Runs `f` holding the gate for reading, if no EXEC holds or waits for it now (`None`: an
/// event loop, which must not wait, gives the write to a worker instead).
pub fn with_gate_if_free<R>(sh: &Shared, f: impl FnOnce() -> R) -> Option<R> {
    struct Unset;
    impl Drop for Unset {
        fn drop(&mut self) {
            IN_EXEC.with(|x| x.set(false));
        }
    }
    let _gate = match sh.exec_gate.try_read() {
        Ok(g) => g,
        Err(std::sync::TryLockError::Poisoned(p)) => p.into_inner(),
        Err(std::sync::TryLockError::WouldBlock) => return None,
    };
    IN_EXEC.with(|x| x.set(true));
    let _unset = Unset;
    Some(f())
}

/// EXEC: runs the queued commands against an overlay of the database (their reads see their
/// own writes first; their writes stay in memory) with their replies held back, then commits
/// the overlay as one write batch. Committed: the replies go out as the array. Not committed
/// (a failed write, or replies and writes over the client's memory limit): nothing was
/// written, and the reply is one EXECABORT error instead of the array (-MISCONF when the disk
/// is full, docs/DESIGN.md section 5.14).
pub fn exec(c: &mut Ctx<'_, '_>, _a: Args<'_>) -> io::Result<()> {
    let Some(m) = c.s.multi.take() else {
        c.out.err("ERR EXEC without MULTI");
        return Ok(());
    };
    let watch = c.s.watch.take();
    if m.failed {
        c.out.err("EXECABORT Transaction discarded because of previous errors.");
        return Ok(());
    }
    let _gate = c.sh.exec_gate.write().unwrap_or_else(PoisonError::into_inner);
    if c.sh.cfg.sync_on_put {
        // Other clients' writes parked on their I/O threads (appended, not yet durable nor
        // visible) are made visible first, so that every command of the EXEC (SCAN and DBSIZE
        // as well as GET) sees all of them. Nothing pending: no fsync. A failure poisons the
        // handle, and the commit below reports it.
        let _ = c.sh.db.sync();
    }
    // WATCH: a watched key written by anyone since WATCH aborts the transaction (a null array).
    if let Some(Err(e)) = watch.map(bitgask::Txn::commit) {
        match e {
            bitgask::Error::Conflict(_) => c.out.null_array(),
            e => db_err(c.out, &e),
        }
        return Ok(());
    }
    let (mark, dirty) = (c.out.mark(), c.s.tally.dirty);
    c.out.hold(true);
    c.s.exec = Some(Overlay::new(c.sh.cfg.max_key_size as usize, c.sh.cfg.max_value_size as usize));
    IN_EXEC.with(|f| f.set(true));
    let ran = run_queued(c, &m);
    IN_EXEC.with(|f| f.set(false));
    c.out.hold(false);
    let overlay = c.s.exec.take().expect("set above");
    let mut no_space = None;
    let failed = match ran {
        Ok(true) => commit(c, &overlay).err().map(|e| {
            let why = format!("nothing was written: {e}");
            no_space = (e.status() == bitgask::status::E_NO_SPACE).then_some(e);
            why
        }),
        Ok(false) => Some(format!(
            "its replies and writes exceed the client memory limit ({} bytes); nothing was written",
            c.s.budget.limit()
        )),
        Err(e) => Some(format!("nothing was written: {e}")),
    };
    c.s.budget.set(Part::Transaction, 0);
    if let Some(why) = failed {
        c.out.rewind(mark);
        c.s.budget.set(Part::Replies, c.out.held_bytes());
        c.s.tally.dirty = dirty;
        match no_space {
            // A full disk answers -MISCONF here too, as every write outside EXEC does.
            Some(e) => db_err(c.out, &e),
            None => c.out.err(&format!("EXECABORT Transaction discarded: {why}")),
        }
    }
    Ok(())
}

/// Runs the queued commands into the held reply buffer; false when what they hold (replies and
/// overlay) passed the connection's memory limit (the rest are not run).
fn run_queued(c: &mut Ctx<'_, '_>, m: &Multi) -> io::Result<bool> {
    c.out.array(m.queued.len());
    for (bytes, ranges) in &m.queued {
        execute(c, Args::new(bytes, ranges))?;
        let overlay = c.s.exec.as_ref().map_or(0, Overlay::held_bytes);
        c.s.budget.set(Part::Replies, c.out.held_bytes());
        c.s.budget.set(Part::Transaction, m.held_bytes() + overlay);
        if c.s.budget.over() {
            return Ok(false);
        }
    }
    Ok(true)
}

/// Writes the overlay as one batch (nothing when it wrote nothing).
fn commit(c: &Ctx<'_, '_>, overlay: &Overlay) -> bitgask::Result<()> {
    let batch = overlay.batch(&c.sh.db)?;
    if batch.is_empty() {
        return Ok(());
    }
    c.sh.db.write(&batch)
}

pub fn discard(c: &mut Ctx<'_, '_>, _a: Args<'_>) -> io::Result<()> {
    c.s.watch = None;
    if c.s.multi.take().is_some() {
        c.out.ok();
    } else {
        c.out.err("ERR DISCARD without MULTI");
    }
    Ok(())
}

/// WATCH: remembers each key as read by the connection's watch transaction (keys that cannot
/// exist, empty or over the size limit, need no watching: they are never written).
pub fn watch(c: &mut Ctx<'_, '_>, a: Args<'_>) -> io::Result<()> {
    if c.s.multi.is_some() {
        c.out.err("ERR WATCH inside MULTI is not allowed");
        return Ok(());
    }
    let mut txn = match c.s.watch.take().map_or_else(|| c.sh.db.transaction(), Ok) {
        Ok(t) => t,
        Err(e) => {
            db_err(c.out, &e);
            return Ok(());
        }
    };
    for key in a.iter().skip(1) {
        match txn.exists(key) {
            Ok(_) | Err(bitgask::Error::InvalidArg(_) | bitgask::Error::TooLarge(_)) => {}
            Err(e) => {
                db_err(c.out, &e);
                return Ok(());
            }
        }
    }
    c.s.watch = Some(txn);
    c.out.ok();
    Ok(())
}

pub fn unwatch(c: &mut Ctx<'_, '_>, _a: Args<'_>) -> io::Result<()> {
    c.s.watch = None;
    c.out.ok();
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::super::{execute, Ctx, Session};
    use crate::serve::reply::Out;
    use crate::serve::resp::Args;
    use crate::serve::state::{ClientHandle, Shared};

    /// A server state over a fresh database, with `extra` flags.
    fn shared(name: &str, extra: &[&str]) -> (Arc<Shared>, ClientHandle, std::path::PathBuf) {
        crate::serve::test_state::shared("exec", name, extra)
    }

    /// Runs each command (words split on spaces) in one session; returns the replies.
    fn run(sh: &Arc<Shared>, h: &ClientHandle, commands: &[&str]) -> String {
        let mut sink = Vec::new();
        let mut out = Out::new(&mut sink);
        let mut s = Session::new(sh, h.id);
        for cmd in commands {
            let words: Vec<&[u8]> = cmd.split(' ').map(str::as_bytes).collect();
            let (mut bytes, mut ranges) = (Vec::new(), Vec::new());
            for w in &words {
                ranges.push((bytes.len(), bytes.len() + w.len()));
                bytes.extend_from_slice(w);
            }
            let mut c = Ctx { sh, s: &mut s, out: &mut out, client: h };
            execute(&mut c, Args::new(&bytes, &ranges)).unwrap();
        }
        out.flush().unwrap();
        drop(out);
        String::from_utf8(sink).unwrap()
    }

    #[test]
    fn exec_commands_read_the_writes_made_before_them_in_the_same_exec() {
        let (sh, h, dir) = shared("own-writes", &[]);
        let replies =
            run(&sh, &h, &["MULTI", "SET a 10", "INCR a", "APPEND a x", "GET a", "DEL a", "EXISTS a", "EXEC"]);
        let queued = "+OK\r\n".to_string() + &"+QUEUED\r\n".repeat(6);
        assert_eq!(replies, queued + "*6\r\n+OK\r\n:11\r\n:3\r\n$3\r\n11x\r\n:1\r\n:0\r\n");
        assert_eq!(sh.db.get(b"a").unwrap(), None);
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn exec_writes_nothing_before_its_commit_and_everything_at_it() {
        let (sh, h, dir) = shared("commit", &[]);
        sh.db.put(b"gone", b"x").unwrap();
        let mut sink = Vec::new();
        let mut out = Out::new(&mut sink);
        let mut s = Session::new(&sh, h.id);
        s.exec = Some(super::Overlay::new(1024, 1 << 20));
        let mut c = Ctx { sh: &sh, s: &mut s, out: &mut out, client: &h };
        for cmd in [&["SET", "a", "1"][..], &["DEL", "gone"], &["MSET", "b", "2", "c", "3"]] {
            let words: Vec<&[u8]> = cmd.iter().map(|w| w.as_bytes()).collect();
            let (mut bytes, mut ranges) = (Vec::new(), Vec::new());
            for w in &words {
                ranges.push((bytes.len(), bytes.len() + w.len()));
                bytes.extend_from_slice(w);
            }
            execute(&mut c, Args::new(&bytes, &ranges)).unwrap();
        }
        assert_eq!(sh.db.get(b"a").unwrap(), None, "an overlay write is not in the database");
        assert!(sh.db.exists(b"gone").unwrap());
        let overlay = c.s.exec.take().unwrap();
        super::commit(&c, &overlay).unwrap();
        assert_eq!(sh.db.get(b"c").unwrap(), Some(b"3".to_vec()));
        assert!(!sh.db.exists(b"gone").unwrap());
        drop(out);
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn exec_whose_batch_does_not_fit_writes_nothing_and_replies_execabort() {
        let (sh, h, dir) = shared("too-large", &["--max-file-size", "65536"]);
        let big = "v".repeat(20_000);
        let sets: Vec<String> = (0..4).map(|i| format!("SET b{i} {big}")).collect();
        let mut commands = vec!["MULTI", "SET a 1"];
        commands.extend(sets.iter().map(String::as_str));
        commands.extend(["EXEC", "GET a"]);
        let replies = run(&sh, &h, &commands);
        assert!(replies.contains("-EXECABORT Transaction discarded: nothing was written"), "{replies}");
        assert!(replies.ends_with("\r\n$-1\r\n"), "{replies}");
        assert!(!replies.contains("*5"), "no array: {replies}");
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn flushdb_inside_multi_is_refused() {
        let (sh, h, dir) = shared("flush", &[]);
        let replies = run(&sh, &h, &["SET k v", "MULTI", "FLUSHDB", "EXEC", "GET k"]);
        assert_eq!(
            replies,
            "+OK\r\n+OK\r\n-ERR Command not allowed inside a transaction\r\n-EXECABORT Transaction discarded \
             because of previous errors.\r\n$1\r\nv\r\n"
        );
        std::fs::remove_dir_all(dir).unwrap();
    }
}
