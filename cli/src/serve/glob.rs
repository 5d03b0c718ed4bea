//! Redis-style glob patterns (KEYS, SCAN MATCH, CONFIG GET): `*`, `?`, `[abc]`, `[^a-z]`,
//! `\x` escapes. A pattern is compiled once, then matched in O(len(pattern) * len(key)) worst
//! case (one backtracking point, the last `*`), never exponentially.

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    Star,
    Any,
    Lit(u8),
    Class { negate: bool, ranges: Vec<(u8, u8)> },
}

#[derive(Debug, Clone)]
pub struct Glob {
    toks: Vec<Tok>,
    /// `*` alone (or only stars): everything matches, skip the work.
    all: bool,
}

impl Glob {
    pub fn new(pat: &[u8]) -> Glob {
        let mut toks = Vec::new();
        let mut i = 0;
        while i < pat.len() {
            match pat[i] {
                b'*' => {
                    if toks.last() != Some(&Tok::Star) {
                        toks.push(Tok::Star);
                    }
                }
                b'?' => toks.push(Tok::Any),
                b'\\' if i + 1 < pat.len() => {
                    i += 1;
                    toks.push(Tok::Lit(pat[i]));
                }
                b'[' => {
                    i += 1;
                    let negate = pat.get(i) == Some(&b'^');
                    if negate {
                        i += 1;
                    }
                    let mut ranges = Vec::new();
                    while i < pat.len() && pat[i] != b']' {
                        if pat[i] == b'\\' && i + 1 < pat.len() {
                            i += 1;
                            ranges.push((pat[i], pat[i]));
                        } else if i + 2 < pat.len() && pat[i + 1] == b'-' && pat[i + 2] != b']' {
                            let (a, b) = (pat[i], pat[i + 2]);
                            ranges.push((a.min(b), a.max(b)));
                            i += 2;
                        } else {
                            ranges.push((pat[i], pat[i]));
                        }
                        i += 1;
                    }
                    // An unterminated class ends with the pattern, as in Redis.
                    toks.push(Tok::Class { negate, ranges });
                }
                c => toks.push(Tok::Lit(c)),
            }
            i += 1;
        }
        let all = !toks.is_empty() && toks.iter().all(|t| *t == Tok::Star);
        Glob { toks, all }
    }

    pub fn matches_all(&self) -> bool {
        self.all
    }

    pub fn matches(&self, s: &[u8]) -> bool {
        if self.all {
            return true;
        }
        let (t, n) = (&self.toks, s.len());
        let (mut ti, mut si) = (0, 0);
        // Where to resume after the last star: (token after it, next string position).
        let mut back: Option<(usize, usize)> = None;
        loop {
            if ti < t.len() {
                match &t[ti] {
                    Tok::Star => {
                        back = Some((ti + 1, si));
                        ti += 1;
                        continue;
                    }
                    tok if si < n && one(tok, s[si]) => {
                        ti += 1;
                        si += 1;
                        continue;
                    }
                    _ => {}
                }
            } else if si == n {
                return true;
            }
            match back {
                Some((bt, bs)) if bs < n => {
                    back = Some((bt, bs + 1));
                    ti = bt;
                    si = bs + 1;
                }
                _ => return false,
            }
        }
    }
}

fn one(tok: &Tok, c: u8) -> bool {
    match tok {
        Tok::Any => true,
        Tok::Lit(l) => *l == c,
        Tok::Class { negate, ranges } => ranges.iter().any(|&(a, b)| a <= c && c <= b) != *negate,
        Tok::Star => unreachable!(),
    }
}

#[cfg(test)]
mod tests {
    use super::Glob;

    fn m(p: &str, s: &str) -> bool {
        Glob::new(p.as_bytes()).matches(s.as_bytes())
    }

    #[test]
    fn redis_examples() {
        assert!(m("h?llo", "hello") && m("h?llo", "hallo") && !m("h?llo", "hllo"));
        assert!(m("h*llo", "hllo") && m("h*llo", "heeeello"));
        assert!(m("h[ae]llo", "hello") && !m("h[ae]llo", "hillo"));
        assert!(m("h[^e]llo", "hallo") && !m("h[^e]llo", "hello"));
        assert!(m("h[a-b]llo", "hbllo") && !m("h[a-b]llo", "hcllo"));
        assert!(m("h[b-a]llo", "hallo"));
        assert!(m("h\\*llo", "h*llo") && !m("h\\*llo", "hello"));
        assert!(m("*", "") && m("*", "anything") && m("**", "x"));
        assert!(m("", "") && !m("", "a"));
        assert!(m("a*b*c", "aXXbYYc") && !m("a*b*c", "aXXbYY"));
        assert!(m("*:1*", "key:123") && !m("*:1*", "key:234"));
        assert!(m("[abc", "a") && !m("[abc", "d"));
    }

    #[test]
    fn no_exponential_blowup() {
        let p = "*a".repeat(50) + "b";
        let s = "a".repeat(5000);
        assert!(!m(&p, &s));
    }
}
