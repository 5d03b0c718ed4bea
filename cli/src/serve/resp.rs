//! RESP request parsing (multibulk and inline) without copying arguments.
//!
//! A [`Parser`] looks at the unconsumed bytes of a connection's read buffer and either finds one
//! complete command (its arguments are `(start, end)` ranges into those bytes, or into the
//! parser's own scratch buffer for inline commands, which need unescaping), or says how many
//! bytes it still needs, or rejects the input with a protocol error. Its state survives between
//! calls, so a command arriving in many pieces is scanned once, not once per piece.
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
    /// Longest inline command line, and longest `*<n>` / `$<n>` header line.
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

#[derive(Default)]
pub struct Parser {
    /// Argument ranges of the command being parsed, relative to its first byte (or to
    /// `scratch` when `inline` is set).
    ranges: Vec<(usize, usize)>,
    scratch: Vec<u8>,
    inline: bool,
    /// Multibulk state: arguments still expected (None: the `*` line is not read yet) and the
    /// offset where parsing resumes.
    remaining: Option<usize>,
    pos: usize,
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

    /// Forgets the command just returned, ready for the next one.
    pub fn reset(&mut self) {
        self.ranges.clear();
        self.inline = false;
        self.remaining = None;
        self.pos = 0;
        if self.scratch.capacity() > 64 << 10 {
            self.scratch = Vec::new();
        }
        if self.ranges.capacity() > 4096 {
            self.ranges = Vec::new();
        }
    }

    /// Parses the command at the start of `input` (the unconsumed bytes). Call again with the
    /// same bytes plus more after `Incomplete`; the input may have been moved in between, but
    /// not changed.
    pub fn parse(&mut self, input: &[u8], lim: &Limits) -> Parsed {
        if input.is_empty() {
            return Parsed::Incomplete(1);
        }
        if self.remaining.is_none() && input[0] != b'*' {
            return self.parse_inline(input, lim);
        }
        self.parse_multibulk(input, lim)
    }

    fn parse_multibulk(&mut self, input: &[u8], lim: &Limits) -> Parsed {
        let mut remaining = match self.remaining {
            Some(n) => n,
            None => {
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
                self.pos = next;
                self.ranges.clear();
                n as usize
            }
        };
        let mut pos = self.pos;
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
        self.remaining = Some(remaining);
        self.pos = pos;
        out
    }

    fn parse_inline(&mut self, input: &[u8], lim: &Limits) -> Parsed {
        let Some(nl) = memchr(b'\n', &input[..input.len().min(lim.max_inline + 1)]) else {
            if input.len() > lim.max_inline {
                return Parsed::Error("Protocol error: too big inline request");
            }
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

/// Reads `<type byte><integer>\r\n` at `at`.
fn header_line(input: &[u8], at: usize) -> Line {
    let body = &input[at + 1..input.len().min(at + 1 + MAX_HEADER_LINE)];
    let Some(cr) = memchr(b'\r', body) else {
        return if memchr(b'\n', body).is_some() { Line::Bad } else { Line::Missing };
    };
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

/// Splits an inline command line the way Redis' `sdssplitargs` does: spaces separate
/// arguments; "double quotes" take \n \r \t \b \a \\ \" and \xHH escapes; 'single quotes' take
/// \'; a closing quote must be followed by a space or the end of the line.
fn split_args(line: &[u8], out: &mut Vec<u8>, ranges: &mut Vec<(usize, usize)>) -> Result<(), ()> {
    let mut i = 0;
    let n = line.len();
    loop {
        while i < n && line[i].is_ascii_whitespace() {
            i += 1;
        }
        if i >= n {
            return Ok(());
        }
        let start = out.len();
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
                    if i + 1 < n && !line[i + 1].is_ascii_whitespace() {
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
                    if i + 1 < n && !line[i + 1].is_ascii_whitespace() {
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
                    b' ' | b'\n' | b'\r' | b'\t' | 0 => break,
                    b'"' => in_dq = true,
                    b'\'' => in_sq = true,
                    c => out.push(c),
                }
            }
            i += 1;
        }
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
