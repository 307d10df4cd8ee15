//! The traces in `shared/traces`: file, format, expected counts, cache sizes to replay,
//! and the hit ratios other caches published for them.
//!
//! Every number here is copied from `shared/traces/README.md`, which cites its sources;
//! the `source` strings repeat that citation so a printed figure can be traced back.

use super::formats::{Compression, KeyEncoding};

/// One trace file and how to replay it.
#[derive(Debug)]
pub struct TraceSpec {
    pub name: &'static str,
    pub file: &'static str,
    pub compression: Compression,
    pub encoding: KeyEncoding,
    /// Request count after decoding, per the README.
    pub requests: usize,
    /// Distinct keys, per the README.
    pub unique: usize,
    /// Cache capacities (entries) to replay at.
    pub sizes: &'static [usize],
}

/// A hit ratio another cache published for a trace at one size.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PublishedFigure {
    pub trace: &'static str,
    pub size: usize,
    pub policy: PublishedPolicy,
    pub hit_percent: f64,
    /// False when read off a chart (±1 point) or recalled rather than printed.
    pub exact: bool,
    pub source: &'static str,
}

/// The caches whose published figures we compare against.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PublishedPolicy {
    WTinyLfu,
    Arc,
}

/// All traces, in the order the report prints them.
pub const TRACES: &[TraceSpec] = &[
    lirs(
        "glimpse",
        "gli.trace.gz",
        6_015,
        2_529,
        &[250, 500, 750, 1000, 1250, 1500, 1750, 2000],
    ),
    lirs(
        "multi2",
        "multi2.trace.gz",
        26_311,
        5_684,
        &[600, 1800, 3000],
    ),
    lirs(
        "sprite",
        "sprite.trace.gz",
        133_996,
        7_075,
        &[100, 200, 400, 600, 800, 1000],
    ),
    lirs("loop", "loop.trace.gz", 505_500, 1_011, &[256, 512, 1000]),
    TraceSpec {
        name: "oltp",
        file: "oltp.trc.bin.gz",
        compression: Compression::Gzip,
        encoding: KeyEncoding::Int32BigEndian,
        requests: 914_145,
        unique: 186_880,
        sizes: &[1000, 2000, 5000, 10_000, 15_000],
    },
    cache2k(
        "web07",
        "web07.trace.xz",
        76_118,
        20_484,
        &[300, 1200, 3000],
    ),
    cache2k(
        "web12",
        "web12.trace.xz",
        95_607,
        13_756,
        &[300, 1200, 3000],
    ),
    cache2k(
        "orm-busy",
        "orm-busy.trace.xz",
        5_000_000,
        76_349,
        &[625, 1250, 2500, 5000, 10_000],
    ),
    TraceSpec {
        name: "scarab",
        file: "scarab-recs.trace.xz",
        compression: Compression::Xz,
        encoding: KeyEncoding::Int64BigEndian,
        requests: 1_245_184,
        unique: 258_368,
        sizes: &[25_000, 50_000, 75_000, 100_000],
    },
];

const fn lirs(
    name: &'static str,
    file: &'static str,
    requests: usize,
    unique: usize,
    sizes: &'static [usize],
) -> TraceSpec {
    TraceSpec {
        name,
        file,
        compression: Compression::Gzip,
        encoding: KeyEncoding::LirsText,
        requests,
        unique,
        sizes,
    }
}

const fn cache2k(
    name: &'static str,
    file: &'static str,
    requests: usize,
    unique: usize,
    sizes: &'static [usize],
) -> TraceSpec {
    TraceSpec {
        name,
        file,
        compression: Compression::Xz,
        encoding: KeyEncoding::Int32BigEndian,
        requests,
        unique,
        sizes,
    }
}

/// Looks a trace up by its report name (case-insensitive); `scarab-recs` and `gli`
/// are accepted as the file-name spellings.
pub fn find_trace(name: &str) -> Option<&'static TraceSpec> {
    let name = name.to_ascii_lowercase();
    let name = match name.as_str() {
        "gli" => "glimpse",
        "scarab-recs" => "scarab",
        other => other,
    };
    TRACES.iter().find(|spec| spec.name == name)
}

/// The published figure for `policy` on `trace` at `size`, if the README has one.
pub fn published(trace: &str, size: usize, policy: PublishedPolicy) -> Option<PublishedFigure> {
    PUBLISHED
        .iter()
        .find(|fig| fig.trace == trace && fig.size == size && fig.policy == policy)
        .copied()
}

const CAFFEINE_GLIMPSE: &str = "Caffeine wiki Efficiency, glimpse.png (chart, ±1 pt)";
const CAFFEINE_OLTP: &str = "Caffeine wiki Efficiency, oltp.png (chart, ±1 pt)";
const ARC_PAPER: &str = "Megiddo & Modha, ARC, FAST'03, OLTP table (recalled, re-check the PDF)";
const CAFFEINE_106: &str = "ben-manes/caffeine issue #106, 2016-08-07 (printed)";

const fn fig(
    trace: &'static str,
    size: usize,
    policy: PublishedPolicy,
    hit_percent: f64,
    exact: bool,
    source: &'static str,
) -> PublishedFigure {
    PublishedFigure {
        trace,
        size,
        policy,
        hit_percent,
        exact,
        source,
    }
}

use PublishedPolicy::{Arc, WTinyLfu};

/// Published W-TinyLFU and ARC hit ratios (%), from `shared/traces/README.md`.
/// Traces without an entry (multi2, sprite, loop, web07, web12, orm-busy) have no
/// printed W-TinyLFU/ARC figure there; only the exact LRU, ARC, LIRS and OPT simulations apply.
pub const PUBLISHED: &[PublishedFigure] = &[
    fig("glimpse", 250, WTinyLfu, 15.5, false, CAFFEINE_GLIMPSE),
    fig("glimpse", 500, WTinyLfu, 33.5, false, CAFFEINE_GLIMPSE),
    fig("glimpse", 750, WTinyLfu, 43.5, false, CAFFEINE_GLIMPSE),
    fig("glimpse", 1000, WTinyLfu, 50.5, false, CAFFEINE_GLIMPSE),
    fig("glimpse", 1250, WTinyLfu, 52.0, false, CAFFEINE_GLIMPSE),
    fig("glimpse", 1500, WTinyLfu, 53.5, false, CAFFEINE_GLIMPSE),
    fig("glimpse", 1750, WTinyLfu, 55.5, false, CAFFEINE_GLIMPSE),
    fig("glimpse", 2000, WTinyLfu, 57.5, false, CAFFEINE_GLIMPSE),
    fig("glimpse", 250, Arc, 1.5, false, CAFFEINE_GLIMPSE),
    fig("glimpse", 500, Arc, 1.5, false, CAFFEINE_GLIMPSE),
    fig("glimpse", 750, Arc, 1.5, false, CAFFEINE_GLIMPSE),
    fig("glimpse", 1000, Arc, 21.0, false, CAFFEINE_GLIMPSE),
    fig("glimpse", 1250, Arc, 34.5, false, CAFFEINE_GLIMPSE),
    fig("glimpse", 1500, Arc, 50.5, false, CAFFEINE_GLIMPSE),
    fig("glimpse", 1750, Arc, 55.0, false, CAFFEINE_GLIMPSE),
    fig("glimpse", 2000, Arc, 57.5, false, CAFFEINE_GLIMPSE),
    fig("oltp", 1000, WTinyLfu, 39.5, false, CAFFEINE_OLTP),
    fig("oltp", 2000, WTinyLfu, 46.0, false, CAFFEINE_OLTP),
    fig("oltp", 1000, Arc, 38.93, false, ARC_PAPER),
    fig("oltp", 2000, Arc, 46.08, false, ARC_PAPER),
    fig("oltp", 5000, Arc, 55.25, false, ARC_PAPER),
    fig("scarab", 100_000, WTinyLfu, 71.57, true, CAFFEINE_106),
    fig("scarab", 100_000, Arc, 76.09, true, CAFFEINE_106),
];

/// Where the LIRS traces come from, for the report footer.
pub const LIRS_ATTRIBUTION: &str =
    "glimpse, multi2, sprite, loop: LIRS traces (Jiang & Zhang), via ben-manes/caffeine";

/// Attribution required by the CC BY 4.0 licence of web07, web12 and orm-busy.
pub const CC_BY_ATTRIBUTION: &str = "Application traces web07, web12, orm-busy by headissue \
     GmbH / Jens Wilke, CC BY 4.0, via github.com/ben-manes/caffeine";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_published_figure_names_a_replayed_size() {
        for figure in PUBLISHED {
            let spec = find_trace(figure.trace).expect("published trace is in the catalog");
            assert!(spec.sizes.contains(&figure.size), "{figure:?}");
        }
    }

    #[test]
    fn lookup_accepts_file_spellings() {
        assert_eq!(find_trace("gli").map(|s| s.name), Some("glimpse"));
        assert_eq!(find_trace("Scarab-Recs").map(|s| s.name), Some("scarab"));
        assert!(find_trace("nope").is_none());
        let arc = published("scarab", 100_000, PublishedPolicy::Arc);
        assert_eq!(arc.map(|f| f.hit_percent), Some(76.09));
    }
}
