//! Redis's glob patterns (`stringmatchlen` in `util.c`), for SCAN MATCH and KEYS:
//! `*` any run, `?` any one byte, `[abc]` `[^abc]` `[a-z]` classes, `\x` escapes.
//! Byte-wise and case-sensitive like Redis. Redis's guards against pathological
//! patterns are kept: once a `*` has failed against every suffix, longer matches
//! are skipped, and nesting is capped.

/// How deep `*`s may nest before the match gives up (Redis uses the same cap).
const MAX_NESTING: usize = 1000;

/// Whether `string` matches the glob `pattern`.
pub fn glob_match(pattern: &[u8], string: &[u8]) -> bool {
    let mut skip_longer = false;
    match_from(pattern, string, &mut skip_longer, 0)
}

fn match_from(mut p: &[u8], mut s: &[u8], skip_longer: &mut bool, nesting: usize) -> bool {
    if nesting > MAX_NESTING {
        return false;
    }
    while let (Some(&token), Some(&c)) = (p.first(), s.first()) {
        match token {
            b'*' => {
                while p.get(1) == Some(&b'*') {
                    p = &p[1..];
                }
                if p.len() == 1 {
                    return true;
                }
                while !s.is_empty() {
                    if match_from(&p[1..], s, skip_longer, nesting + 1) {
                        return true;
                    }
                    if *skip_longer {
                        return false;
                    }
                    s = &s[1..];
                }
                *skip_longer = true;
                return false;
            }
            b'?' => p = &p[1..],
            b'[' => {
                let (matched, rest) = match_class(&p[1..], c);
                if !matched {
                    return false;
                }
                p = rest;
            }
            b'\\' if p.len() >= 2 => {
                if p[1] != c {
                    return false;
                }
                p = &p[2..];
            }
            literal => {
                if literal != c {
                    return false;
                }
                p = &p[1..];
            }
        }
        s = &s[1..];
        if s.is_empty() {
            while p.first() == Some(&b'*') {
                p = &p[1..];
            }
            break;
        }
    }
    p.is_empty() && s.is_empty()
}

/// Matches `c` against the class that starts at `p` (just after `[`); returns
/// whether it matched and the pattern after the closing `]` (empty when the
/// class is never closed, as Redis treats it).
fn match_class(mut p: &[u8], c: u8) -> (bool, &[u8]) {
    let negate = p.first() == Some(&b'^');
    if negate {
        p = &p[1..];
    }
    let mut matched = false;
    loop {
        match p {
            [b'\\', escaped, ..] => {
                matched |= *escaped == c;
                p = &p[2..];
            }
            [b']', rest @ ..] => return (matched != negate, rest),
            [] => return (matched != negate, p),
            [start, b'-', end, ..] => {
                let (low, high) = if start <= end {
                    (*start, *end)
                } else {
                    (*end, *start)
                };
                matched |= (low..=high).contains(&c);
                p = &p[3..];
            }
            [single, ..] => {
                matched |= *single == c;
                p = &p[1..];
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::glob_match;

    fn m(pattern: &str, string: &str) -> bool {
        glob_match(pattern.as_bytes(), string.as_bytes())
    }

    #[test]
    fn stars_and_question_marks() {
        assert!(m("*", "anything"));
        assert!(m("user:*", "user:42"));
        assert!(!m("user:*", "users:42"));
        assert!(m("*:42", "user:42"));
        assert!(m("h?llo", "hello"));
        assert!(!m("h?llo", "hllo"));
        assert!(m("a*b*c", "aXXbYYc"));
        assert!(!m("a*b*c", "aXXbYY"));
        assert!(!m("", "a"));
        assert!(m("", ""));
    }

    #[test]
    fn classes_ranges_negation_and_escapes() {
        assert!(m("h[ae]llo", "hallo"));
        assert!(!m("h[ae]llo", "hillo"));
        assert!(m("h[^e]llo", "hallo"));
        assert!(!m("h[^e]llo", "hello"));
        assert!(m("h[a-b]llo", "hbllo"));
        assert!(m("h[b-a]llo", "hallo"), "reversed ranges work as in Redis");
        assert!(!m("h[a-b]llo", "hcllo"));
        assert!(m("a\\*b", "a*b"));
        assert!(!m("a\\*b", "aXb"));
        assert!(m("[\\]]", "]"));
        assert!(m("x[abc", "xa"), "an unclosed class ends the pattern");
    }

    #[test]
    fn pathological_patterns_finish_quickly() {
        let pattern = "a*".repeat(50) + "b";
        let string = "a".repeat(100);
        let start = std::time::Instant::now();
        assert!(!m(&pattern, &string));
        assert!(start.elapsed() < std::time::Duration::from_secs(1));
    }
}
