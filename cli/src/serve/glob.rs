//! Redis-style glob patterns (KEYS, SCAN MATCH, CONFIG GET): `*`, `?`, `[abc]`, `[^a-z]`,
//! `\x` escapes, with Redis' reading of the odd cases (`[a-]` is a range up to `]`, an
//! unterminated class ends with the pattern, a trailing `\` is literal).
//!
//! A pattern is compiled once into tokens, then matched greedily with one backtracking point:
//! the last `*` seen. On a mismatch the match resumes after that star, one key byte later. A
//! later star replaces the point, and the key position a resume starts from never moves
//! back, so there are at most `len(key) + 1` resumes, each walking the tokens and class ranges
//! once: [`Glob::matches_counting`]'s steps stay under `(len(pattern) + 2) * (len(key) + 2)`,
//! where backtracking into every star (as `*a*a*a*a*a*a*b` invites) would be exponential.

#[derive(Debug, Clone, Copy, PartialEq)]
enum Tok {
    Star,
    Any,
    Lit(u8),
    /// `ranges[start..end]` of the pattern's ranges.
    Class {
        negate: bool,
        start: u32,
        end: u32,
    },
}

#[derive(Debug, Clone)]
pub struct Glob {
    toks: Vec<Tok>,
    /// Every class's byte ranges, inclusive, back to back.
    ranges: Vec<(u8, u8)>,
    /// `*` alone (or only stars): everything matches, skip the work.
    all: bool,
}

impl Glob {
    pub fn new(pat: &[u8]) -> Glob {
        let (mut toks, mut ranges) = (Vec::new(), Vec::new());
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
                    let start = ranges.len() as u32;
                    while i < pat.len() && pat[i] != b']' {
                        if pat[i] == b'\\' && i + 1 < pat.len() {
                            i += 1;
                            ranges.push((pat[i], pat[i]));
                        } else if i + 2 < pat.len() && pat[i + 1] == b'-' {
                            let (a, b) = (pat[i], pat[i + 2]);
                            ranges.push((a.min(b), a.max(b)));
                            i += 2;
                        } else {
                            ranges.push((pat[i], pat[i]));
                        }
                        i += 1;
                    }
                    // An unterminated class ends with the pattern, as in Redis.
                    toks.push(Tok::Class { negate, start, end: ranges.len() as u32 });
                }
                c => toks.push(Tok::Lit(c)),
            }
            i += 1;
        }
        let all = !toks.is_empty() && toks.iter().all(|t| *t == Tok::Star);
        Glob { toks, ranges, all }
    }

    pub fn matches_all(&self) -> bool {
        self.all
    }

    /// Heap bytes the compiled pattern holds (a connection's memory budget counts them).
    pub fn held_bytes(&self) -> usize {
        self.toks.capacity() * std::mem::size_of::<Tok>() + self.ranges.capacity() * 2
    }

    pub fn matches(&self, s: &[u8]) -> bool {
        self.matches_counting(s).0
    }

    /// Whether `s` matches, and the steps taken (token visits plus class ranges examined).
    pub fn matches_counting(&self, s: &[u8]) -> (bool, u64) {
        if self.all {
            return (true, 0);
        }
        let (t, n) = (&self.toks, s.len());
        let (mut ti, mut si) = (0, 0);
        let mut steps = 0u64;
        // Where to resume after the last star: (token after it, next key position).
        let mut back: Option<(usize, usize)> = None;
        loop {
            steps += 1;
            if ti < t.len() {
                match t[ti] {
                    Tok::Star => {
                        back = Some((ti + 1, si));
                        ti += 1;
                        continue;
                    }
                    tok if si < n && self.one(tok, s[si], &mut steps) => {
                        ti += 1;
                        si += 1;
                        continue;
                    }
                    _ => {}
                }
            } else if si == n {
                return (true, steps);
            }
            match back {
                Some((bt, bs)) if bs < n => {
                    back = Some((bt, bs + 1));
                    ti = bt;
                    si = bs + 1;
                }
                _ => return (false, steps),
            }
        }
    }

    fn one(&self, tok: Tok, c: u8, steps: &mut u64) -> bool {
        match tok {
            Tok::Any => true,
            Tok::Lit(l) => l == c,
            Tok::Class { negate, start, end } => {
                let ranges = &self.ranges[start as usize..end as usize];
                *steps += ranges.len() as u64;
                ranges.iter().any(|&(a, b)| a <= c && c <= b) != negate
            }
            Tok::Star => unreachable!("stars are handled by the caller"),
        }
    }
}

/// The most steps [`Glob::matches_counting`] may take for these lengths.
pub fn step_bound(pattern_len: usize, key_len: usize) -> u64 {
    (pattern_len as u64 + 2) * (key_len as u64 + 2)
}

#[cfg(test)]
mod tests {
    use super::{step_bound, Glob};

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
    fn redis_reading_of_odd_classes() {
        // `[a-]` is the range from `]` to `a`, and the class goes on to the end of the pattern.
        assert!(m("[a-]", "]") && m("[a-]", "_") && m("[a-]", "a") && !m("[a-]", "b"));
        assert!(m("[a-]x]", "x") && !m("[a-]x]", "x]"));
        assert!(m("[\\]]", "]") && m("[\\-a]", "-") && !m("[\\-a]", "b"));
        assert!(!m("[]", "a") && m("[^]", "a") && !m("[^]", ""));
        assert!(m("a\\", "a\\") && m("[\\", "\\"));
        assert!(m("[a-", "-") && m("[a-", "a") && !m("[a-", "b"));
        assert!(m("\\?", "?") && !m("\\?", "a"));
    }

    fn steps(p: &str, s: &str) -> u64 {
        let (_, n) = Glob::new(p.as_bytes()).matches_counting(s.as_bytes());
        assert!(n <= step_bound(p.len(), s.len()), "{p:?} on {} bytes: {n} steps", s.len());
        n
    }

    #[test]
    fn many_stars_against_long_keys_take_linear_steps() {
        let s = "a".repeat(100_000);
        for p in ["*a*a*a*a*a*a*b".to_string(), "*a".repeat(50) + "b", "*[a-z]*[^b]*?*a*b".into()] {
            let n = steps(&p, &s);
            assert!(n < 3 * s.len() as u64 + 1000, "{p}: {n} steps");
        }
    }

    #[test]
    fn worst_case_steps_stay_under_the_bound() {
        // A star followed by a long almost-matching run: every resume walks the run.
        let p = "*".to_string() + &"a".repeat(200) + "b";
        let s = "a".repeat(2000);
        assert!(steps(&p, &s) > 200 * 1000);
        steps("*[abcdefghijklmnop]*x", &"q".repeat(5000));
        steps("", "");
        steps("?", "");
    }
}
