//! Key structure: where a key's variable part (an id) sits, and the template
//! the key is an instance of.
//!
//! A key is split on separators (`:` `/` `.` `_` `-` `|` `#` `=`); the first
//! segment that is a run of digits, a hex string of 8 or more characters with
//! at least one digit (an id or a digest), or a UUID is the variable. `user:42`
//! is an instance of the template `user:{}` with variable `42`, `feed:42` of
//! `feed:{}` with the same variable: that shared variable is what lets a
//! pattern learned on some ids predict the keys of another. Only the first
//! variable counts; later ones stay literal (`user:42:page:3` is
//! `user:{}:page:3`). A key without such a segment has no template.
//!
//! Must not: allocate (it runs on the request path when sampling is on).

use std::ops::Range;

use xxhash_rust::xxh3::{xxh3_64, xxh3_64_with_seed};

/// Separator bytes, as a table so a scan costs one load per byte.
const SEPARATOR: [bool; 256] = {
    let mut table = [false; 256];
    let list = b":/._-|#=";
    let mut i = 0;
    while i < list.len() {
        table[list[i] as usize] = true;
        i += 1;
    }
    table
};

/// Hex strings shorter than this are words (`cafe`, `bed`), not ids.
const MIN_HEX_ID: usize = 8;
const UUID_LEN: usize = 36;

fn is_separator(byte: u8) -> bool {
    SEPARATOR[byte as usize]
}

/// Where `key`'s variable is, if it has one.
pub fn variable(key: &[u8]) -> Option<Range<usize>> {
    let mut start = 0;
    while start < key.len() {
        if let Some(end) = uuid_at(key, start) {
            return Some(start..end);
        }
        let end = key[start..]
            .iter()
            .position(|&b| is_separator(b))
            .map_or(key.len(), |p| start + p);
        if is_id(&key[start..end]) {
            return Some(start..end);
        }
        start = end + 1;
    }
    None
}

/// The hash of the template `key` is an instance of (`var` replaced): equal
/// for `user:7` and `user:42`, different for `feed:7`.
pub fn template_hash(key: &[u8], var: &Range<usize>) -> u64 {
    xxh3_64_with_seed(&key[var.end..], xxh3_64(&key[..var.start]))
}

/// The hash of the variable's bytes: equal for `user:7` and `feed:7`.
pub fn variable_hash(key: &[u8], var: &Range<usize>) -> u64 {
    xxh3_64(&key[var.clone()])
}

fn is_id(segment: &[u8]) -> bool {
    if segment.is_empty() {
        return false;
    }
    if segment.iter().all(u8::is_ascii_digit) {
        return true;
    }
    segment.len() >= MIN_HEX_ID
        && segment.iter().all(u8::is_ascii_hexdigit)
        && segment.iter().any(u8::is_ascii_digit)
}

/// The end of a UUID (`8-4-4-4-12` hex digits) starting at `start` and
/// ending the segment, if there is one. Checked before splitting, since its
/// dashes are separators too.
fn uuid_at(key: &[u8], start: usize) -> Option<usize> {
    let end = start + UUID_LEN;
    let candidate = key.get(start..end)?;
    if key.get(end).is_some_and(|&b| !is_separator(b)) {
        return None;
    }
    let well_formed = candidate.iter().enumerate().all(|(i, b)| match i {
        8 | 13 | 18 | 23 => *b == b'-',
        _ => b.is_ascii_hexdigit(),
    });
    well_formed.then_some(end)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn var_of(key: &str) -> Option<&str> {
        variable(key.as_bytes()).map(|r| &key[r])
    }

    #[test]
    fn the_first_id_like_segment_is_the_variable() {
        assert_eq!(var_of("user:42"), Some("42"));
        assert_eq!(var_of("api/v1/users/42/feed"), Some("42"));
        assert_eq!(var_of("user:42:page:3"), Some("42"));
        assert_eq!(var_of("img.9f86d081884c.png"), Some("9f86d081884c"));
        assert_eq!(
            var_of("session:550e8400-e29b-41d4-a716-446655440000:cart"),
            Some("550e8400-e29b-41d4-a716-446655440000")
        );
        assert_eq!(var_of("q=7"), Some("7"));
        assert_eq!(var_of("42"), Some("42"));
    }

    #[test]
    fn words_and_versions_are_literal() {
        assert_eq!(var_of("home"), None);
        assert_eq!(var_of("config:v2"), None);
        assert_eq!(var_of("cafe:beef"), None);
        assert_eq!(var_of("deadbeefcafe"), None);
        assert_eq!(var_of(""), None);
        assert_eq!(var_of("::"), None);
        assert_eq!(var_of("a42b"), None);
    }

    #[test]
    fn templates_are_equal_across_ids_and_differ_across_shapes() {
        let t = |k: &str| {
            let r = variable(k.as_bytes()).unwrap_or(0..0);
            template_hash(k.as_bytes(), &r)
        };
        assert_eq!(t("user:7"), t("user:123456"));
        assert_ne!(t("user:7"), t("feed:7"));
        assert_ne!(t("user:7"), t("user:7:x"));
        assert_ne!(t("a:7:b"), t("a:b:7"));
    }

    proptest! {
        #[test]
        fn any_literal_shape_finds_the_id_and_keeps_one_template(
            prefix in "[a-z]{1,6}([:/._|#=][a-z]{1,6}){0,2}",
            sep in "[:/._|#=-]",
            suffix in "([:/._|#=][a-z]{1,6}){0,2}",
            a in 0u64..u64::MAX, b in 0u64..u64::MAX,
        ) {
            let ka = format!("{prefix}{sep}{a}{suffix}");
            let kb = format!("{prefix}{sep}{b}{suffix}");
            let ra = variable(ka.as_bytes());
            let rb = variable(kb.as_bytes());
            prop_assert_eq!(ra.clone().map(|r| ka[r].to_string()), Some(a.to_string()));
            let (ra, rb) = (ra.unwrap_or(0..0), rb.unwrap_or(0..0));
            prop_assert_eq!(template_hash(ka.as_bytes(), &ra), template_hash(kb.as_bytes(), &rb));
            prop_assert_eq!(variable_hash(ka.as_bytes(), &ra) == variable_hash(kb.as_bytes(), &rb), a == b);
        }

        #[test]
        fn any_bytes_give_a_span_inside_the_key(key in proptest::collection::vec(any::<u8>(), 0..80)) {
            if let Some(r) = variable(&key) {
                prop_assert!(r.start < r.end && r.end <= key.len());
            }
        }
    }
}
