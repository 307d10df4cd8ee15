//! How long an origin's answer may be kept, from its `Cache-Control` header:
//! `no-store` (or a zero lifetime) means answer but do not store; otherwise
//! `s-maxage` (the shared-cache lifetime, which is what Roost is) wins over
//! `max-age`; without either the value gets the default TTL (`CACHE_TTL`).
//! Other directives (`no-cache`, `private`, `must-revalidate` …) are ignored:
//! Roost never revalidates, it loads again once the value expired.

use std::time::Duration;

use crate::config::MAX_TTL;

/// What the origin allows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Freshness {
    /// Answer the client, store nothing.
    NoStore,
    /// Store for this long (at most [`MAX_TTL`]).
    For(Duration),
    /// No lifetime given: the configured default.
    Default,
}

impl Freshness {
    /// Reads every `Cache-Control` header value given.
    pub fn from_headers<'a>(values: impl IntoIterator<Item = &'a str>) -> Freshness {
        let (mut max_age, mut s_maxage) = (None, None);
        for directive in values.into_iter().flat_map(|v| v.split(',')) {
            let (name, value) = match directive.split_once('=') {
                Some((name, value)) => (name.trim(), Some(value.trim().trim_matches('"'))),
                None => (directive.trim(), None),
            };
            let seconds = || value.and_then(|v| v.parse::<u64>().ok());
            if name.eq_ignore_ascii_case("no-store") {
                return Freshness::NoStore;
            } else if name.eq_ignore_ascii_case("s-maxage") {
                s_maxage = s_maxage.or(seconds());
            } else if name.eq_ignore_ascii_case("max-age") {
                max_age = max_age.or(seconds());
            }
        }
        match s_maxage.or(max_age) {
            None => Freshness::Default,
            Some(0) => Freshness::NoStore,
            Some(secs) => Freshness::For(Duration::from_secs(secs).min(MAX_TTL)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn of(header: &str) -> Freshness {
        Freshness::from_headers([header])
    }

    #[test]
    fn s_maxage_wins_no_store_stores_nothing_and_absence_is_the_default() {
        assert_eq!(of("max-age=60"), Freshness::For(Duration::from_secs(60)));
        assert_eq!(
            of("public, max-age=60, s-maxage=5"),
            Freshness::For(Duration::from_secs(5))
        );
        assert_eq!(of("S-MaxAge=\"7\""), Freshness::For(Duration::from_secs(7)));
        assert_eq!(of("max-age=60, no-store"), Freshness::NoStore);
        assert_eq!(of("max-age=0"), Freshness::NoStore);
        assert_eq!(of("public"), Freshness::Default);
        assert_eq!(of("max-age=soon"), Freshness::Default);
        assert_eq!(Freshness::from_headers([]), Freshness::Default);
        assert_eq!(of("max-age=999999999999"), Freshness::For(MAX_TTL));
    }
}
