//! Seeds of the server targets: request streams (every command, inline forms, the protocol
//! bombs of tests/server/test_abuse.py), patterns with keys, whole sessions.

use bitgask_fuzz::serve::{multibulk, PASSWORD};

type Seeds = Vec<(String, Vec<u8>)>;

fn cmd(words: &[&str]) -> Vec<u8> {
    multibulk(words)
}

fn cmds(list: &[&[&str]]) -> Vec<u8> {
    list.iter().flat_map(|w| cmd(w)).collect()
}

fn seed(out: &mut Seeds, name: &str, head: &[u8], body: &[u8]) {
    let mut b = head.to_vec();
    b.extend_from_slice(body);
    out.push((name.to_string(), b));
}

/// resp_parse: mode byte (limits), chunking seed, stream.
pub fn requests(out: &mut Seeds) {
    let pipeline = cmds(&[&["SET", "k", "hello"], &["GET", "k"], &["ECHO", ""], &["MGET", "a", "b", "c"]]);
    for mode in 0..4u8 {
        seed(out, &format!("pipeline-limits{mode}"), &[mode, 7], &pipeline);
    }
    let inline = b"PING\r\nSET k \"a b\\x41\\n\\t\" 'it\\'s'\r\nGET k\n  \r\n\x0bECHO\x0c x\n";
    seed(out, "inline", &[0, 3], inline);
    seed(out, "nul-newline", &[0, 0], b"\0\n");
    seed(out, "nul-in-quotes", &[0, 1], b"SET k \"a\0b\"\r\nGET k\r\n");
    seed(out, "nul-ends-line", &[1, 9], b"SET k v\0junk\r\nGET\0 k\r\n\0\0\0\n");
    seed(out, "mixed", &[0, 5], &[&cmd(&["PING"])[..], b"PING\r\n", b"*0\r\n*-1\r\n", &cmd(&["ECHO", "x"])].concat());
    seed(out, "long-inline", &[2, 2], &[&b"ECHO "[..], &[b'x'; 40], b"\r\n"].concat());
    for (i, bomb) in [
        &b"*1\r\n$-2\r\n"[..],
        b"*1\r\n$99999999999999999999\r\n",
        b"*4294967295\r\n",
        b"*1\n$4\r\nPING\r\n",
        b"*1\r\n$4\r\nPINGxx\r\n",
        b"*2\r\n$3\r\nGET\r\n+k\r\n",
        b"*1\r\n$4 \r\nPING\r\n",
        b"*1\r\n$0x10\r\n",
        b"*-\r\n",
        b"SET k 'a'b\r\n",
    ]
    .iter()
    .enumerate()
    {
        seed(out, &format!("bomb-{i}"), &[(i % 4) as u8, i as u8], bomb);
    }
}

/// glob_match: pattern length, pattern, key.
pub fn patterns(out: &mut Seeds) {
    let long_a = "a".repeat(200);
    for (i, (pat, key)) in [
        ("h?llo", "hello"),
        ("h[ae]llo", "hallo"),
        ("h[^e]llo", "hello"),
        ("h[a-b]llo", "hbllo"),
        ("h\\*llo", "h*llo"),
        ("*a*a*a*a*a*a*b", long_a.as_str()),
        ("*:1*", "key:123"),
        ("[a-]x]", "x"),
        ("[\\]]", "]"),
        ("[^]", "q"),
        ("[abc", "b"),
        ("a\\", "a\\"),
        ("*", "anything"),
        ("user:*:name", "user:42:name"),
    ]
    .iter()
    .enumerate()
    {
        seed(out, &format!("pattern-{i}"), &[pat.len() as u8], format!("{pat}{key}").as_bytes());
    }
}

/// dispatch: flags (bit 0: the server has a password; the rest seeds the chunking), stream.
pub fn sessions(out: &mut Seeds) {
    let strings = cmds(&[
        &["SET", "k", "v", "EX", "100"],
        &["SET", "k", "w", "NX", "GET"],
        &["SET", "k", "x", "XX", "KEEPTTL"],
        &["SET", "k", "y", "PXAT", "99999999999999"],
        &["GET", "k"],
        &["APPEND", "k", "more"],
        &["STRLEN", "k"],
        &["INCR", "n"],
        &["INCRBY", "n", "5"],
        &["DECR", "n"],
        &["DECRBY", "n", "-9223372036854775808"],
        &["MSET", "a", "1", "b", "2"],
        &["MGET", "a", "b", "c"],
        &["GETSET", "a", "3"],
        &["GETDEL", "b"],
        &["SETNX", "c", "1"],
        &["SETEX", "d", "10", "v"],
        &["PSETEX", "e", "100", "v"],
    ]);
    let keys = cmds(&[
        &["SET", "k", "v"],
        &["EXPIRE", "k", "100", "NX"],
        &["PEXPIRE", "k", "100000", "GT"],
        &["EXPIREAT", "k", "99999999999", "XX"],
        &["PEXPIREAT", "k", "99999999999999", "LT"],
        &["TTL", "k"],
        &["PTTL", "k"],
        &["EXPIRETIME", "k"],
        &["PEXPIRETIME", "k"],
        &["PERSIST", "k"],
        &["TYPE", "k"],
        &["EXISTS", "k", "nope"],
        &["KEYS", "*"],
        &["KEYS", "k*[a-z]?"],
        &["SCAN", "0", "MATCH", "*", "COUNT", "100", "TYPE", "string"],
        &["DEL", "k", "nope"],
        &["UNLINK", "k"],
    ]);
    let server = cmds(&[
        &["DBSIZE"],
        &["INFO"],
        &["INFO", "clients", "keyspace"],
        &["CONFIG", "GET", "max*"],
        &["CONFIG", "SET", "timeout", "1"],
        &["CONFIG", "RESETSTAT"],
        &["COMMAND", "COUNT"],
        &["COMMAND", "DOCS", "get", "nope"],
        &["COMMAND", "INFO", "set"],
        &["COMMAND", "LIST"],
        &["TIME"],
        &["LASTSAVE"],
        &["SAVE"],
        &["BGSAVE"],
        &["FLUSHDB"],
        &["FLUSHALL", "ASYNC"],
    ]);
    let connection = cmds(&[
        &["PING"],
        &["PING", "hi"],
        &["ECHO", "x"],
        &["SELECT", "0"],
        &["CLIENT", "ID"],
        &["CLIENT", "SETNAME", "fuzzer"],
        &["CLIENT", "GETNAME"],
        &["CLIENT", "SETINFO", "LIB-NAME", "lib"],
        &["CLIENT", "LIST"],
        &["CLIENT", "INFO"],
        &["HELLO", "3"],
        &["GET", "nokey"],
        &["HELLO", "2", "SETNAME", "again"],
        &["RESET"],
        &["QUIT"],
    ]);
    let transactions = cmds(&[
        &["MULTI"],
        &["SET", "t", "1"],
        &["INCR", "t"],
        &["GET", "t"],
        &["EXEC"],
        &["MULTI"],
        &["NOSUCH"],
        &["EXEC"],
        &["MULTI"],
        &["DISCARD"],
        &["WATCH", "t"],
        &["UNWATCH"],
    ]);
    seed(out, "strings", &[0], &strings);
    seed(out, "keys", &[2], &keys);
    seed(out, "server", &[4], &server);
    seed(out, "connection", &[6], &connection);
    seed(out, "transactions", &[8], &transactions);
    seed(out, "inline", &[10], b"SET k \"v\\x00\"\r\nGET k\r\nKEYS *\r\n\0\nPING\r\n");
    let auth = cmds(&[
        &["GET", "k"],
        &["AUTH", "wrong"],
        &["HELLO", "3", "AUTH", "default", PASSWORD],
        &["SET", "k", "v"],
        &["RESET"],
        &["AUTH", "default", PASSWORD],
        &["GET", "k"],
    ]);
    seed(out, "auth", &[1], &auth);
    seed(out, "unauthenticated", &[3], &[&b"\0\n"[..], &cmd(&["PING"]), &cmd(&["AUTH", "a", "b", "c"])].concat());
    seed(out, "shutdown", &[12], &cmds(&[&["PING"], &["SHUTDOWN", "NOSAVE"], &["PING"]]));
    seed(out, "multi-shutdown", &[16], &cmds(&[&["MULTI"], &["HELLO", "3"], &["SHUTDOWN"], &["EXEC"], &["SHUTDOWN"]]));
    seed(out, "bgrewriteaof", &[14], &cmds(&[&["SET", "a", "1"], &["BGREWRITEAOF"], &["BGREWRITEAOF"]]));
}
