//! RESP request parsing (multibulk and inline) without copying arguments.
//!
//! A [`Parser`] looks at the unconsumed bytes of a connection's read buffer and either finds one
//! complete command (its arguments are `(start, end)` ranges into those bytes, or into the
//! parser's own scratch buffer for inline commands, which need unescaping), or says how many
//! bytes it still needs, or rejects the input with a protocol error. Its state survives between
//! calls, so a command arriving in many pieces is scanned once, not once per piece. It does no
//! I/O and knows nothing about sockets or threads: whatever drives a connection feeds it bytes.
//!
//! Every call makes progress: `Command(n)` consumes `n >= 1` bytes, `Incomplete(k)` asks for
//! `k` bytes, more than it was given, and `Error` ends the connection. Every loop below either
//! moves forward through the input or stops (the fuzz target `resp_parse` checks this, and
//! that a stream cut into any pieces parses the same as in one piece).
//!
//! Every declared length is checked against [`Limits`] before it influences an allocation:
//! the argument vector grows only as arguments actually arrive, and a bulk length only tells
//! the reader how much more to read, never how much to allocate at once.

/// Bounds a client's input must respect; a violation is a protocol error that closes it.
#[derive(Clone, Copy, Debug)]
pub struct Limits {
    /// Most arguments in one multibulk command.
    pub max_args: usize,
    /// Longest single argument (bulk string).
    pub max_bulk: usize,
    /// Longest inline command line.
    pub max_inline: usize,
}

/// Longest `$<len>` / `*<count>` line we look for before calling the input garbage.
const MAX_HEADER_LINE: usize = 32;

#[derive(Debug, PartialEq, Eq)]
pub enum Parsed {
    /// A command is complete; it spans this many bytes of the input. It may have no arguments
    /// (an empty inline line, `*0`), in which case there is nothing to run.
    Command(usize),
    /// More input is needed; at least this many bytes (from the command's start) in total.
    Incomplete(usize),
    /// The input is not RESP: reply with this text (after `-ERR `) and close.
    Error(&'static str),
}

/// Where the parser stands in the command at the start of the input.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
enum State {
    /// Nothing of the command looked at yet.
    #[default]
    Start,
    /// An inline line without its newline: the first `scanned` bytes hold none.
    Inline { scanned: usize },
    /// A multibulk command: `remaining` arguments still expected, the next one at `pos`.
    Multibulk { remaining: usize, pos: usize },
}

#[derive(Default)]
pub struct Parser {
    /// Argument ranges of the command being parsed, relative to its first byte (or to
    /// `scratch` when `inline` is set).
    ranges: Vec<(usize, usize)>,
    scratch: Vec<u8>,
    /// The command just returned came from an inline line (its arguments are in `scratch`).
    inline: bool,
    state: State,
}

/// Arguments of one command, borrowed from the read buffer (or the inline scratch).
#[derive(Clone, Copy)]
pub struct Args<'a> {
    base: &'a [u8],
    ranges: &'a [(usize, usize)],
}

impl<'a> Args<'a> {
    pub fn new(base: &'a [u8], ranges: &'a [(usize, usize)]) -> Args<'a> {
        Args { base, ranges }
    }

    pub fn len(&self) -> usize {
        self.ranges.len()
    }

    pub fn is_empty(&self) -> bool {
        self.ranges.is_empty()
    }

    pub fn get(&self, i: usize) -> &'a [u8] {
        let (s, e) = self.ranges[i];
        &self.base[s..e]
    }

    pub fn iter(&self) -> impl Iterator<Item = &'a [u8]> + '_ {
        self.ranges.iter().map(|&(s, e)| &self.base[s..e])
    }
}

impl Parser {
    /// The arguments of the command just returned by [`Parser::parse`]; `input` must be the same
    /// bytes that were parsed.
    pub fn args<'a>(&'a self, input: &'a [u8]) -> Args<'a> {
        let base = if self.inline { &self.scratch[..] } else { input };
        Args { base, ranges: &self.ranges }
    }

    /// Heap bytes the parser holds (its argument ranges and inline scratch), for the
    /// connection's memory budget.
    pub fn held_bytes(&self) -> usize {
        self.ranges.capacity() * std::mem::size_of::<(usize, usize)>() + self.scratch.capacity()
    }

    /// Forgets the command just returned, ready for the next one.
    pub fn reset(&mut self) {
        self.ranges.clear();
        self.inline = false;
        self.state = State::Start;
        if self.scratch.capacity() > 64 << 10 {
            self.scratch = Vec::new();
        }
        if self.ranges.capacity() > 4096 {
            self.ranges = Vec::new();
        }
    }

    /// Parses the command at the start of `input` (the unconsumed bytes). Call again with the
    /// same bytes plus more after `Incomplete`; the input may have been moved in between, but
    /// not changed. After `Command`, call [`Parser::reset`] before the next command.
    pub fn parse(&mut self, input: &[u8], lim: &Limits) -> Parsed {
        if input.is_empty() {
            return Parsed::Incomplete(1);
        }
        match self.state {
            State::Start if input[0] == b'*' => self.parse_multibulk(input, lim),
            State::Start => self.parse_inline(input, 0, lim),
            State::Inline { scanned } => self.parse_inline(input, scanned, lim),
            State::Multibulk { remaining, pos } => self.parse_arguments(input, remaining, pos, lim),
        }
    }

    /// Reads the `*<count>` line, then the arguments.
    fn parse_multibulk(&mut self, input: &[u8], lim: &Limits) -> Parsed {
        let (n, next) = match header_line(input, 0) {
            Line::Found(v, next) => (v, next),
            Line::Missing => {
                if input.len() > MAX_HEADER_LINE {
                    return Parsed::Error("Protocol error: too big mbulk count string");
                }
                return Parsed::Incomplete(input.len() + 1);
            }
            Line::Bad => return Parsed::Error("Protocol error: invalid multibulk length"),
        };
        if n > lim.max_args as i64 {
            return Parsed::Error("Protocol error: invalid multibulk length");
        }
        if n <= 0 {
            // `*0` and `*-1` are empty commands: nothing to run.
            return Parsed::Command(next);
        }
        self.ranges.clear();
        self.parse_arguments(input, n as usize, next, lim)
    }

    /// Reads `$<len>\r\n<bytes>\r\n` arguments from `pos` until `remaining` have arrived. Each
    /// turn of the loop either takes one whole argument or stops.
    fn parse_arguments(&mut self, input: &[u8], mut remaining: usize, mut pos: usize, lim: &Limits) -> Parsed {
        let out = loop {
            if remaining == 0 {
                break Parsed::Command(pos);
            }
            if pos >= input.len() {
                break Parsed::Incomplete(pos + 1);
            }
            if input[pos] != b'$' {
                return Parsed::Error(expected_dollar(input[pos]));
            }
            let (len, data) = match header_line(input, pos) {
                Line::Found(v, next) if v >= 0 && v as u64 <= lim.max_bulk as u64 => (v as usize, next),
                Line::Found(..) | Line::Bad => return Parsed::Error("Protocol error: invalid bulk length"),
                Line::Missing => {
                    if input.len() - pos > MAX_HEADER_LINE {
                        return Parsed::Error("Protocol error: invalid bulk length");
                    }
                    break Parsed::Incomplete(input.len() + 1);
                }
            };
            let end = data + len;
            if input.len() < end + 2 {
                break Parsed::Incomplete(end + 2);
            }
            if &input[end..end + 2] != b"\r\n" {
                return Parsed::Error("Protocol error: expected CRLF after bulk string");
            }
            self.ranges.push((data, end));
            pos = end + 2;
            remaining -= 1;
        };
        // An incomplete argument is read again from its `$` next time: at most a header line
        // is scanned twice, never the bytes of a bulk string.
        self.state = State::Multibulk { remaining, pos };
        out
    }

    /// An inline command: one line, split as Redis splits it. `scanned` bytes are known to
    /// hold no newline (from earlier calls), so a long line arriving byte by byte is searched
    /// once, not once per byte.
    fn parse_inline(&mut self, input: &[u8], scanned: usize, lim: &Limits) -> Parsed {
        let window = &input[..input.len().min(lim.max_inline + 1)];
        let Some(nl) = memchr(b'\n', &window[scanned.min(window.len())..]).map(|i| i + scanned) else {
            if input.len() > lim.max_inline {
                return Parsed::Error("Protocol error: too big inline request");
            }
            self.state = State::Inline { scanned: input.len() };
            return Parsed::Incomplete(input.len() + 1);
        };
        let mut line = &input[..nl];
        if line.last() == Some(&b'\r') {
            line = &line[..line.len() - 1];
        }
        self.inline = true;
        self.ranges.clear();
        self.scratch.clear();
        if split_args(line, &mut self.scratch, &mut self.ranges).is_err() {
            return Parsed::Error("Protocol error: unbalanced quotes in request");
        }
        if self.ranges.len() > lim.max_args {
            return Parsed::Error("Protocol error: invalid multibulk length");
        }
        Parsed::Command(nl + 1)
    }
}

fn expected_dollar(got: u8) -> &'static str {
    // A static text per byte class keeps the error path allocation-free.
    match got {
        b'*' => "Protocol error: expected '$', got '*'",
        b'\r' | b'\n' => "Protocol error: expected '$', got a line break",
        b'0'..=b'9' => "Protocol error: expected '$', got a digit",
        _ => "Protocol error: expected '$', got something else",
    }
}

enum Line {
    /// The integer and the offset just after its CRLF.
    Found(i64, usize),
    /// No CRLF yet within the header limit.
    Missing,
    /// Not an integer, or a lone CR/LF.
    Bad,
}

/// Reads `<type byte><integer>\r\n` at `at`. The first line break decides: a lone LF is bad
/// wherever a CR follows it, so the answer never depends on how much of the line has arrived.
fn header_line(input: &[u8], at: usize) -> Line {
    let body = &input[at + 1..input.len().min(at + 1 + MAX_HEADER_LINE)];
    let Some(cr) = body.iter().position(|&c| c == b'\r' || c == b'\n') else {
        return Line::Missing;
    };
    if body[cr] == b'\n' {
        return Line::Bad;
    }
    match body.get(cr + 1) {
        None => return Line::Missing,
        Some(b'\n') => {}
        Some(_) => return Line::Bad,
    }
    match parse_i64(&body[..cr]) {
        Some(v) => Line::Found(v, at + 1 + cr + 2),
        None => Line::Bad,
    }
}

pub fn memchr(b: u8, s: &[u8]) -> Option<usize> {
    s.iter().position(|&c| c == b)
}

/// Strict decimal integer, as Redis' `string2ll`: optional `-`, digits, no leading zeros, no
/// spaces or `+`, no overflow.
pub fn parse_i64(s: &[u8]) -> Option<i64> {
    let (neg, digits) = match s.first()? {
        b'-' => (true, &s[1..]),
        _ => (false, s),
    };
    if digits.is_empty() || digits.len() > 19 || (digits[0] == b'0' && (digits.len() > 1 || neg)) {
        return None;
    }
    let mut v: u64 = 0;
    for &c in digits {
        if !c.is_ascii_digit() {
            return None;
        }
        v = v.checked_mul(10)?.checked_add((c - b'0') as u64)?;
    }
    if neg {
        if v > i64::MAX as u64 + 1 {
            return None;
        }
        Some((v as i64).wrapping_neg())
    } else {
        i64::try_from(v).ok()
    }
}

/// C's `isspace`: what separates inline arguments.
fn is_space(c: u8) -> bool {
    matches!(c, b' ' | b'\t' | b'\n' | 0x0b | 0x0c | b'\r')
}

/// Splits an inline command line the way Redis' `sdssplitargs` does: spaces separate
/// arguments; "double quotes" take \n \r \t \b \a \\ \" and \xHH escapes; 'single quotes' take
/// \'; a closing quote must be followed by a space or the end of the line.
///
/// Redis splits the line as a C string, so a NUL byte ends it: what follows is ignored, and a
/// quote still open there is unbalanced. The line is cut at its first NUL to the same effect.
/// (A NUL once ended a word without being consumed, and the next word started at the same NUL:
/// empty arguments without end, the two bytes `\0\n` took all the machine's memory.)
///
/// Every argument consumes at least one byte: it starts at a byte that is not a space, and
/// outside quotes only a space ends it.
fn split_args(line: &[u8], out: &mut Vec<u8>, ranges: &mut Vec<(usize, usize)>) -> Result<(), ()> {
    let line = &line[..memchr(0, line).unwrap_or(line.len())];
    let n = line.len();
    let mut i = 0;
    loop {
        while i < n && is_space(line[i]) {
            i += 1;
        }
        if i >= n {
            return Ok(());
        }
        let (start, first) = (out.len(), i);
        let (mut in_dq, mut in_sq) = (false, false);
        loop {
            if in_dq {
                if i >= n {
                    return Err(());
                }
                let c = line[i];
                if c == b'\\'
                    && i + 3 < n
                    && line[i + 1] == b'x'
                    && line[i + 2].is_ascii_hexdigit()
                    && line[i + 3].is_ascii_hexdigit()
                {
                    out.push(hex(line[i + 2]) * 16 + hex(line[i + 3]));
                    i += 3;
                } else if c == b'\\' && i + 1 < n {
                    i += 1;
                    out.push(match line[i] {
                        b'n' => b'\n',
                        b'r' => b'\r',
                        b't' => b'\t',
                        b'b' => 8,
                        b'a' => 7,
                        other => other,
                    });
                } else if c == b'"' {
                    if i + 1 < n && !is_space(line[i + 1]) {
                        return Err(());
                    }
                    i += 1;
                    break;
                } else {
                    out.push(c);
                }
            } else if in_sq {
                if i >= n {
                    return Err(());
                }
                let c = line[i];
                if c == b'\\' && i + 1 < n && line[i + 1] == b'\'' {
                    i += 1;
                    out.push(b'\'');
                } else if c == b'\'' {
                    if i + 1 < n && !is_space(line[i + 1]) {
                        return Err(());
                    }
                    i += 1;
                    break;
                } else {
                    out.push(c);
                }
            } else {
                if i >= n {
                    break;
                }
                match line[i] {
                    b' ' | b'\n' | b'\r' | b'\t' => break,
                    b'"' => in_dq = true,
                    b'\'' => in_sq = true,
                    c => out.push(c),
                }
            }
            i += 1;
        }
        debug_assert!(i > first, "an inline argument consumed nothing");
        ranges.push((start, out.len()));
    }
}

fn hex(c: u8) -> u8 {
    match c {
        b'0'..=b'9' => c - b'0',
        b'a'..=b'f' => c - b'a' + 10,
        _ => c - b'A' + 10,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const LIM: Limits = Limits { max_args: 1024, max_bulk: 1 << 20, max_inline: 64 << 10 };

    fn parse_all(input: &[u8]) -> (Parsed, Vec<Vec<u8>>) {
        let mut p = Parser::default();
        let r = p.parse(input, &LIM);
        let args =
            if matches!(r, Parsed::Command(_)) { p.args(input).iter().map(<[u8]>::to_vec).collect() } else { vec![] };
        (r, args)
    }

    #[test]
    fn multibulk_whole_and_in_pieces() {
        let cmd = b"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$5\r\nhello\r\n";
        let (r, args) = parse_all(cmd);
        assert_eq!(r, Parsed::Command(cmd.len()));
        assert_eq!(args, vec![b"SET".to_vec(), b"k".to_vec(), b"hello".to_vec()]);
        let mut p = Parser::default();
        for cut in 1..cmd.len() {
            assert!(matches!(p.parse(&cmd[..cut], &LIM), Parsed::Incomplete(_)), "cut {cut}");
        }
        assert_eq!(p.parse(cmd, &LIM), Parsed::Command(cmd.len()));
        assert_eq!(p.args(cmd).get(2), b"hello");
    }

    #[test]
    fn bombs_are_errors() {
        for bad in [
            &b"*1\r\n$-2\r\n"[..],
            b"*1\r\n$99999999999999999999\r\n",
            b"*4294967295\r\n",
            b"*1\n$4\r\nPING\r\n",
            b"*1\r\n$4\r\nPINGxx",
            b"*1\r\n+PING\r\n",
            b"*1\r\n$4x\r\nPING\r\n",
            b"*-\r\n",
            b"*1\r\n$-1\r\n",
            b"*1\r\n$2000000\r\n",
            b"*99999999999999999999999999999999999999",
            // Found by resp_parse: a lone LF before the CR was accepted while the CR had
            // arrived, and refused while it had not.
            b"*2\n*2\r",
            b"*1\r\n$2\nxx\r",
        ] {
            assert!(matches!(parse_all(bad).0, Parsed::Error(_)), "{:?}", String::from_utf8_lossy(bad));
        }
    }

    #[test]
    fn inline_commands() {
        let (r, args) = parse_all(b"SET k \"a b\\x41\\n\" 'it''\r\n");
        assert!(matches!(r, Parsed::Error(_)));
        let (r, args2) = parse_all(b"SET k \"a b\\x41\\n\" 'it\\'s'\r\n");
        assert!(matches!(r, Parsed::Command(_)));
        assert!(args.is_empty());
        assert_eq!(args2, vec![b"SET".to_vec(), b"k".to_vec(), b"a bA\n".to_vec(), b"it's".to_vec()]);
        assert_eq!(parse_all(b"\r\n").0, Parsed::Command(2));
        assert!(matches!(parse_all(b"PING").0, Parsed::Incomplete(_)));
        assert!(matches!(parse_all(b"\"unclosed\r\n").0, Parsed::Error(_)));
    }

    /// The two bytes that once made the server allocate without end.
    #[test]
    fn nul_newline_is_an_empty_command() {
        let (r, args) = parse_all(b"\0\n");
        assert_eq!(r, Parsed::Command(2));
        assert!(args.is_empty());
        assert_eq!(parse_all(b"\0\r\n"), (Parsed::Command(3), vec![]));
        assert_eq!(parse_all(b"\0\0\0 \0\n"), (Parsed::Command(6), vec![]));
    }

    #[test]
    fn nul_ends_an_inline_line_as_in_redis() {
        let words = |v: &[&str]| v.iter().map(|w| w.as_bytes().to_vec()).collect::<Vec<_>>();
        assert_eq!(parse_all(b"SET k v\0 ignored\r\n").1, words(&["SET", "k", "v"]));
        assert_eq!(parse_all(b"GE\0T k\n").1, words(&["GE"]));
        assert_eq!(parse_all(b"  \0GET k\n"), (Parsed::Command(9), vec![]));
        assert_eq!(parse_all(b"SET k \"v\"\0x\n").1, words(&["SET", "k", "v"]));
        assert_eq!(parse_all(b"SET k 'v'\0\n").1, words(&["SET", "k", "v"]));
    }

    #[test]
    fn nul_inside_quotes_is_an_unbalanced_quote() {
        for bad in [&b"SET k \"a\0b\"\n"[..], b"SET k 'a\0b'\n", b"\"\0\"\n", b"'\0\n", b"ECHO \"\\\0\"\n"] {
            assert_eq!(
                parse_all(bad).0,
                Parsed::Error("Protocol error: unbalanced quotes in request"),
                "{:?}",
                String::from_utf8_lossy(bad)
            );
        }
    }

    /// A NUL at every position of inline commands (plain, quoted, escaped): each parse ends
    /// with a command or an error, and never yields more arguments than the line has bytes.
    #[test]
    fn nul_anywhere_in_an_inline_command_terminates() {
        for cmd in [&b"SET key value\r\n"[..], b"SET k \"a b\\x41\\n\" 'it\\'s'\r\n", b"  PING  \n", b"ECHO \"\"\n"] {
            for at in 0..cmd.len() {
                for nuls in 1..3 {
                    let mut input = cmd.to_vec();
                    for _ in 0..nuls {
                        input.insert(at, 0);
                    }
                    let (r, args) = parse_all(&input);
                    match r {
                        Parsed::Command(n) => assert_eq!(n, input.len()),
                        Parsed::Error(_) => {}
                        Parsed::Incomplete(_) => panic!("{input:?} is a whole line"),
                    }
                    assert!(args.len() <= input.len(), "{input:?}: {} arguments", args.len());
                }
            }
        }
    }

    #[test]
    fn c_spaces_separate_inline_arguments() {
        let (_, args) = parse_all(b"\x0bECHO\x0c \t x\x0by\n");
        assert_eq!(args, vec![b"ECHO\x0c".to_vec(), b"x\x0by".to_vec()]);
    }

    /// A long inline line arriving a byte at a time: each call scans only the new byte.
    #[test]
    fn inline_line_in_pieces_is_scanned_once() {
        let mut line = b"ECHO ".to_vec();
        line.extend(std::iter::repeat_n(b'x', 1000));
        line.extend_from_slice(b"\r\n");
        let mut p = Parser::default();
        for cut in 1..line.len() {
            assert_eq!(p.parse(&line[..cut], &LIM), Parsed::Incomplete(cut + 1));
            assert_eq!(p.state, State::Inline { scanned: cut });
        }
        assert_eq!(p.parse(&line, &LIM), Parsed::Command(line.len()));
        assert_eq!(p.args(&line).get(1).len(), 1000);
    }

    #[test]
    fn inline_arguments_are_bounded_by_the_line() {
        let lim = Limits { max_args: 4, ..LIM };
        let mut p = Parser::default();
        assert_eq!(p.parse(b"a b c d e\n", &lim), Parsed::Error("Protocol error: invalid multibulk length"));
        let mut p = Parser::default();
        let long = [b'x'; 200];
        assert_eq!(
            p.parse(&long, &Limits { max_inline: 100, ..LIM }),
            Parsed::Error("Protocol error: too big inline request")
        );
    }

    /// Parsing consumes bytes or asks for more than it has, for every prefix of a pipeline.
    #[test]
    fn every_prefix_makes_progress() {
        let stream = b"*2\r\n$4\r\nECHO\r\n$2\r\nhi\r\nPING\r\n\0\n*0\r\n*-1\r\n";
        let mut p = Parser::default();
        let mut at = 0;
        let mut commands = 0;
        while at < stream.len() {
            match p.parse(&stream[at..], &LIM) {
                Parsed::Command(n) => {
                    assert!(n >= 1 && at + n <= stream.len());
                    at += n;
                    commands += 1;
                    p.reset();
                }
                other => panic!("{other:?} at {at}"),
            }
        }
        assert_eq!(commands, 5);
    }

    #[test]
    fn integers_are_strict() {
        assert_eq!(parse_i64(b"0"), Some(0));
        assert_eq!(parse_i64(b"-9223372036854775808"), Some(i64::MIN));
        assert_eq!(parse_i64(b"9223372036854775807"), Some(i64::MAX));
        for bad in [&b""[..], b"-", b"01", b"-0", b"+1", b" 1", b"1 ", b"9223372036854775808", b"1e3"] {
            assert_eq!(parse_i64(bad), None, "{:?}", bad);
        }
    }
}
