//! A Jepsen-style checker for keys set and deleted concurrently in several
//! regions: given the history of operations (each with when it was invoked and
//! answered, whether it was acknowledged, and what is known of its version)
//! and what every region holds once replication is quiet, it names every
//! divergent key, every value older than the key's last acknowledged write,
//! every deleted key that came back, every acknowledged change that was lost,
//! and every read-your-writes or version-layout violation.
//!
//! Versions are only partly observable from outside (a read shows the held
//! entry's version; a delete's version is seen only if the write answer
//! carries it), so the checker also orders operations by real time: when
//! every region runs on the machine's own clock, a version's physical part is
//! the wall-clock millisecond at which it was stamped, so an operation
//! answered in an earlier millisecond than another was invoked has the lower
//! version (see [`before`]). Histories from regions with skewed clocks must
//! not be checked with it.
//!
//! Also here: the seeded generator the randomised tests draw from.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fmt::Write as _;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Bits of a version below the physical milliseconds (13 logical + 8 region).
pub const PHYSICAL_SHIFT: u32 = 21;

/// The wall-clock milliseconds a version was stamped at.
pub fn physical_ms(version: u64) -> u64 {
    version >> PHYSICAL_SHIFT
}

/// The tie-break index of the region that stamped a version.
pub fn region_of(version: u64) -> u8 {
    (version & 0xff) as u8
}

/// A version from its parts, for tests of the checker.
pub fn version(physical_ms: u64, logical: u64, region: u8) -> u64 {
    physical_ms << PHYSICAL_SHIFT | (logical & 0x1fff) << 8 | u64::from(region)
}

/// Milliseconds since the Unix epoch now (the clock versions are stamped from).
pub fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

/// An entry as a region shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Held {
    pub value: String,
    pub version: u64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OpKind {
    /// A set of a value no other operation writes.
    Set(String),
    Del,
}

/// One client operation.
#[derive(Debug, Clone)]
pub struct Op {
    pub id: usize,
    /// Index of the region it was sent to.
    pub region: usize,
    /// That region's tie-break index in versions.
    pub region_index: u8,
    pub key: String,
    pub kind: OpKind,
    /// Wall-clock ms just before the request was sent.
    pub invoked_ms: u64,
    /// Wall-clock ms just after the answer (or the failure) came.
    pub ended_ms: u64,
    /// The region acknowledged it; otherwise it may or may not have happened.
    pub acked: bool,
    /// Its version, when known exactly (from the write's answer, or from a
    /// read right after it that showed its own value).
    pub version: Option<u64>,
    /// What a read in the same region (the same process) right after the
    /// acknowledgement showed: `Some(None)` for absent, `None` when not read.
    pub read_back: Option<Option<Held>>,
    /// Which door it went through, for the report.
    pub door: &'static str,
}

impl Op {
    fn describe(&self, names: &[String]) -> String {
        let what = match &self.kind {
            OpKind::Set(v) => format!("set {:?}={v:?}", self.key),
            OpKind::Del => format!("del {:?}", self.key),
        };
        let version = self
            .version
            .map_or(String::new(), |v| format!(", version {v}"));
        format!(
            "#{} {what} in {} via {} ({}, {}..{} ms{version})",
            self.id,
            names.get(self.region).map_or("?", String::as_str),
            self.door,
            if self.acked {
                "acked"
            } else {
                "unacknowledged"
            },
            self.invoked_ms,
            self.ended_ms,
        )
    }
}

/// True when `a` certainly has the lower version: it was answered in an
/// earlier millisecond than `b` was invoked, so (on one clock) it was stamped
/// in an earlier millisecond than `b` was.
pub fn before(a: &Op, b: &Op) -> bool {
    a.ended_ms < b.invoked_ms
}

/// True when `a`'s version is certainly lower than `b`'s.
fn older(a: &Op, b: &Op) -> bool {
    match (a.version, b.version) {
        (Some(x), Some(y)) => x < y,
        _ => before(a, b),
    }
}

/// What every region holds once replication is quiet: per region, per key.
pub type Finals = Vec<BTreeMap<String, Option<Held>>>;

/// Checks a history against the final state; every violation, one sentence
/// each, naming the property it breaks. `replicate`: regions store each
/// other's values (so an acknowledged newest set must be held somewhere).
pub fn check(ops: &[Op], finals: &Finals, names: &[String], replicate: bool) -> Vec<String> {
    let mut found = Vec::new();
    let mut by_key: BTreeMap<&str, Vec<&Op>> = BTreeMap::new();
    let mut writer: HashMap<(&str, &str), &Op> = HashMap::new();
    for op in ops {
        by_key.entry(op.key.as_str()).or_default().push(op);
        if let OpKind::Set(value) = &op.kind {
            if let Some(other) = writer.insert((op.key.as_str(), value.as_str()), op) {
                found.push(format!(
                    "history: value {value:?} written twice (#{} and #{}); values must be unique",
                    other.id, op.id
                ));
            }
        }
    }
    check_versions(ops, names, &mut found);
    check_read_backs(&by_key, &writer, names, replicate, &mut found);
    let keys: BTreeSet<&str> = by_key
        .keys()
        .copied()
        .chain(finals.iter().flat_map(|f| f.keys().map(String::as_str)))
        .collect();
    for key in keys {
        let key_ops = by_key.get(key).map_or(&[][..], Vec::as_slice);
        check_key(key, key_ops, finals, &writer, names, replicate, &mut found);
    }
    found
}

/// Each known version: stamped within its request, by its region, unique.
fn check_versions(ops: &[Op], names: &[String], found: &mut Vec<String>) {
    let mut seen: HashMap<u64, &Op> = HashMap::new();
    for op in ops {
        let Some(v) = op.version else { continue };
        let ms = physical_ms(v);
        if ms < op.invoked_ms || ms > op.ended_ms {
            found.push(format!(
                "versions: {} got version {v} stamped at {ms} ms, outside its request",
                op.describe(names)
            ));
        }
        if region_of(v) != op.region_index {
            found.push(format!(
                "versions: {} got version {v} with region index {}, not its region's {}",
                op.describe(names),
                region_of(v),
                op.region_index
            ));
        }
        if let Some(other) = seen.insert(v, op) {
            if other.key == op.key {
                found.push(format!(
                    "versions: {} and {} share version {v}",
                    other.describe(names),
                    op.describe(names)
                ));
            }
        }
    }
}

/// Read-your-writes: a read right after an acknowledged operation, in the
/// same region, shows that operation or something newer.
fn check_read_backs(
    by_key: &BTreeMap<&str, Vec<&Op>>,
    writer: &HashMap<(&str, &str), &Op>,
    names: &[String],
    replicate: bool,
    found: &mut Vec<String>,
) {
    for (key, ops) in by_key {
        for op in ops.iter().filter(|o| o.acked) {
            let Some(read) = &op.read_back else { continue };
            match read {
                Some(held) => match writer.get(&(*key, held.value.as_str())) {
                    None => found.push(format!(
                        "read-your-writes: after {} its region read {:?}, a value nobody wrote",
                        op.describe(names),
                        held.value
                    )),
                    Some(shown) if shown.id != op.id && older(shown, op) => found.push(format!(
                        "read-your-writes: after {} its region read the older {} (version {})",
                        op.describe(names),
                        shown.describe(names),
                        held.version
                    )),
                    Some(_) => {}
                },
                None => {
                    if let OpKind::Set(_) = op.kind {
                        // A newer delete, or (invalidate mode) a newer change
                        // from another region, drops the key here.
                        let explained = ops.iter().any(|d| {
                            d.id != op.id
                                && !older(d, op)
                                && (d.kind == OpKind::Del || (!replicate && d.region != op.region))
                        });
                        if !explained {
                            found.push(format!(
                                "read-your-writes: after {} its region read the key as absent, and no change that drops it can be newer",
                                op.describe(names)
                            ));
                        }
                    }
                }
            }
        }
    }
}

fn check_key(
    key: &str,
    ops: &[&Op],
    finals: &Finals,
    writer: &HashMap<(&str, &str), &Op>,
    names: &[String],
    replicate: bool,
    found: &mut Vec<String>,
) {
    let holders: Vec<(usize, &Held)> = finals
        .iter()
        .enumerate()
        .filter_map(|(r, f)| f.get(key).and_then(Option::as_ref).map(|h| (r, h)))
        .collect();
    let name = |r: usize| names.get(r).map_or("?", String::as_str);
    if let Some((first, held)) = holders.first() {
        for (other, theirs) in &holders[1..] {
            if theirs != held {
                found.push(format!(
                    "diverged: key {key:?}: {} holds {:?} (version {}), {} holds {:?} (version {})",
                    name(*first),
                    held.value,
                    held.version,
                    name(*other),
                    theirs.value,
                    theirs.version
                ));
            }
        }
    }
    let mut distinct: Vec<(usize, &Held)> = Vec::new();
    for (r, h) in &holders {
        if !distinct.iter().any(|(_, d)| d == h) {
            distinct.push((*r, h));
        }
    }
    for (r, held) in distinct {
        let Some(source) = writer.get(&(key, held.value.as_str())) else {
            found.push(format!(
                "unknown value: {} holds {key:?}={:?}, which no operation wrote",
                name(r),
                held.value
            ));
            continue;
        };
        if !replicate && source.region != r {
            found.push(format!(
                "invalidate: {} holds {}'s value; invalidation never copies a value",
                name(r),
                source.describe(names)
            ));
        }
        if source.version.is_some_and(|v| v != held.version) {
            found.push(format!(
                "versions: {} holds {}'s value at version {}",
                name(r),
                source.describe(names),
                held.version
            ));
        }
        let ms = physical_ms(held.version);
        if ms < source.invoked_ms
            || ms > source.ended_ms
            || region_of(held.version) != source.region_index
        {
            found.push(format!(
                "versions: {} holds {}'s value at version {} (stamped at {ms} ms by region index {}), which that write cannot have been given",
                name(r),
                source.describe(names),
                held.version,
                region_of(held.version)
            ));
        }
        let as_held = Op {
            version: Some(held.version),
            ..(*source).clone()
        };
        for newer in ops
            .iter()
            .filter(|o| o.acked && o.id != source.id && older(&as_held, o))
        {
            let what = if newer.kind == OpKind::Del {
                "resurrected: the key was deleted by"
            } else {
                "stale: older than the acknowledged"
            };
            found.push(format!(
                "{what} {}, yet {} holds {} (version {})",
                newer.describe(names),
                name(r),
                source.describe(names),
                held.version
            ));
        }
    }
    if replicate && holders.is_empty() {
        check_not_lost(key, ops, names, found);
    }
}

/// With replication and nothing held anywhere, some delete must be able to be
/// the newest change; otherwise the newest acknowledged set was lost.
fn check_not_lost(key: &str, ops: &[&Op], names: &[String], found: &mut Vec<String>) {
    let sets: Vec<&&Op> = ops
        .iter()
        .filter(|o| o.acked && matches!(o.kind, OpKind::Set(_)))
        .collect();
    let newest_sets: Vec<&&Op> = sets
        .iter()
        .filter(|s| !sets.iter().any(|t| older(s, t)))
        .copied()
        .collect();
    if newest_sets.is_empty() {
        return;
    }
    let explained = ops
        .iter()
        .filter(|d| d.kind == OpKind::Del)
        .any(|d| !sets.iter().any(|s| older(d, s)));
    if !explained {
        let list: Vec<String> = newest_sets.iter().map(|s| s.describe(names)).collect();
        found.push(format!(
            "lost: key {key:?} is held by no region, yet no delete can be newer than the acknowledged {}",
            list.join(" / ")
        ));
    }
}

/// A short account of a history, for the test output.
pub fn summary(ops: &[Op], finals: &Finals, names: &[String]) -> String {
    let acked = ops.iter().filter(|o| o.acked).count();
    let dels = ops.iter().filter(|o| o.kind == OpKind::Del).count();
    let exact = ops.iter().filter(|o| o.version.is_some()).count();
    let mut out = format!(
        "{} operations ({acked} acknowledged, {} not; {dels} deletes; {exact} with a known version)",
        ops.len(),
        ops.len() - acked
    );
    for (r, held) in finals.iter().enumerate() {
        let present = held.values().filter(|h| h.is_some()).count();
        let _ = write!(
            out,
            "; {} holds {present}/{} keys",
            names.get(r).map_or("?", String::as_str),
            held.len()
        );
    }
    out
}

/// A seeded generator (SplitMix64): the same seed, the same draws.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Uniform in `0..n` (`n` > 0).
    pub fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n
    }

    /// True with probability `percent`/100.
    pub fn percent(&mut self, percent: u64) -> bool {
        self.below(100) < percent
    }

    /// A duration uniform in `lo_ms..=hi_ms` milliseconds.
    pub fn millis(&mut self, lo_ms: u64, hi_ms: u64) -> Duration {
        Duration::from_millis(lo_ms + self.below(hi_ms - lo_ms + 1))
    }
}
