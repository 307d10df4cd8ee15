//! The learning state: decayed counts of keys and templates, the candidate
//! successors of each, and the short memory of recent reads that pairs are
//! found in. Only `learn` touches it (under the predictor's learner lock).
//!
//! Two kinds of rule, counted the same way:
//! - successors (exact keys): the last [`RECENT_KEYS`] reads, whatever the
//!   client, are the candidate predecessors when B is read. Only keys read
//!   at least twice take part, so a flood of one-off keys makes no pairs.
//! - patterns (templates): reads are grouped by their variable, so
//!   `user:7` → `feed:7` pairs are found however many other users read in
//!   between; the last [`VAR_RECENT`] reads of each variable seen within the
//!   window are kept, for at most `2 × max_rules` variables.
//!
//! Each key or template A keeps at most [`FOLLOWERS`] candidate followers B.
//! A follower is counted exactly from its admission: `hits` (reads of A
//! followed by B within the window, once per read of A), `before` (reads of
//! A that B came *before* within the window) and `n` (reads of A since). A
//! newcomer takes a free place, or the place of a follower that had
//! [`GRACE`] reads of A to show itself and stayed near chance; so under
//! heavy interleaving the noise rotates through the places while a real
//! follower, once in, keeps its place.
//!
//! Interleaved or unstructured traffic makes pairs by chance. For reads that
//! do not depend on each other, "B followed A" happens as often as "B came
//! before A", so `before / n` is the chance level and confidence is what
//! follows A *beyond* it: `(followed - chance) / (1 - chance)`, with
//! `followed` at its lower and `chance` at its upper Wilson bound (z = 2),
//! so a handful of reads proves nothing. A real session (`user:7` then
//! `feed:7`, the next visit later) follows far more than it precedes;
//! uniform random keys, however small their space, do not.
//!
//! Every count decays with [`HALF_LIFE_MS`], so confidence follows what
//! traffic does now; feedback on a rule is kept beside it and decays the same way.
//!
//! Must not: grow past its bounds — keys and templates at most `max_rules`
//! each (a full table sheds its lighter half), [`FOLLOWERS`] per key or template.

use std::collections::{HashMap, VecDeque};

use bytes::Bytes;
use xxhash_rust::xxh3::xxh3_64;

use super::shape;
use crate::hot::IdentityHash;

/// Counts halve in this time without new reads.
pub const HALF_LIFE_MS: f64 = 30_000.0;
/// Reads that are candidate predecessors of the next read for successors.
pub const RECENT_KEYS: usize = 32;
/// Reads kept per variable for patterns.
pub const VAR_RECENT: usize = 4;
/// Candidate followers per key or template.
pub const FOLLOWERS: usize = 8;
/// Reads of A a follower is given before it can lose its place.
pub const GRACE: f64 = 4.0;
/// A follower this close to chance (or below) gives its place to a newcomer.
const HOPELESS: f64 = 0.25;
/// Reads of A (since the follower's admission) below which it predicts nothing.
const MIN_SUPPORT: f64 = 4.0;
/// Counts decayed below this are forgotten.
const FORGET: f64 = 0.05;
/// A key read at least this often (decayed, this read included) takes part in successor pairs.
const ESTABLISHED: f64 = 1.5;
/// Chance above which a rule cannot be told from background traffic (and B
/// is read so often it stays cached anyway).
const MAX_CHANCE: f64 = 0.75;
/// Standard deviations of the Wilson bounds.
const Z: f64 = 2.0;

type Table<V> = HashMap<u64, V, IdentityHash>;

/// A candidate rule `A → to`, counted since its admission.
#[derive(Debug, Clone)]
pub struct Follower {
    pub to: u64,
    hits: f64,
    before: f64,
    /// Reads of A since admission.
    n: f64,
    used: f64,
    wasted: f64,
}

impl Follower {
    /// How far feedback trusts the rule: 1 when its predictions were used,
    /// down to 2 / (2 + wasted) when none were. Two wasted predictions halve it.
    fn trust(&self) -> f64 {
        (self.used + 2.0) / (self.used + self.wasted + 2.0)
    }

    /// Confidence beyond chance (see the module documentation) times trust;
    /// `None` below support or when chance alone is above [`MAX_CHANCE`].
    pub fn confidence(&self) -> Option<f64> {
        let beyond = self.beyond_chance(Z)?;
        (self.n >= MIN_SUPPORT).then_some(beyond * self.trust())
    }

    fn beyond_chance(&self, z: f64) -> Option<f64> {
        let n = self.n.max(1.0);
        let followed = wilson(self.hits / n, n, -z);
        let chance = wilson(self.before / n, n, z);
        if chance > MAX_CHANCE {
            return None;
        }
        Some(((followed - chance) / (1.0 - chance)).clamp(0.0, 1.0))
    }

    /// Whether a newcomer may take this follower's place.
    fn hopeless(&self) -> bool {
        self.n >= GRACE && self.beyond_chance(0.0).is_none_or(|b| b < HOPELESS)
    }

    fn decay(&mut self, f: f64) {
        self.hits *= f;
        self.before *= f;
        self.n *= f;
        self.used *= f;
        self.wasted *= f;
    }

    pub fn feedback(&mut self, used: bool) {
        if used {
            self.used += 1.0;
        } else {
            self.wasted += 1.0;
        }
    }
}

/// The Wilson score bound of a proportion `p` seen over `n` trials, `z`
/// standard deviations below (negative) or above (positive).
fn wilson(p: f64, n: f64, z: f64) -> f64 {
    let p = p.clamp(0.0, 1.0);
    let z2 = z * z;
    let centre = p + z2 / (2.0 * n);
    let spread = z * (p * (1.0 - p) / n + z2 / (4.0 * n * n)).sqrt();
    ((centre + spread) / (1.0 + z2 / n)).clamp(0.0, 1.0)
}

/// A key's or template's decayed read count and its candidate followers.
#[derive(Debug, Default)]
pub struct Node {
    pub count: f64,
    pub followers: Vec<Follower>,
}

impl Node {
    /// `to` followed a read of this node's key: counted, or admitted if there
    /// is a place for it.
    fn followed_by(&mut self, to: u64) {
        if let Some(f) = self.followers.iter_mut().find(|f| f.to == to) {
            f.hits += 1.0;
            return;
        }
        let newcomer = Follower {
            to,
            hits: 1.0,
            before: 0.0,
            n: 1.0,
            used: 0.0,
            wasted: 0.0,
        };
        if self.followers.len() < FOLLOWERS {
            if self.followers.capacity() == 0 {
                self.followers.reserve_exact(FOLLOWERS);
            }
            self.followers.push(newcomer);
        } else if let Some(place) = self.followers.iter_mut().find(|f| f.hopeless()) {
            *place = newcomer;
        }
    }

    /// A read of this node's key: one more read for every follower, and
    /// `before` for those among `earlier` (distinct ids read before it).
    fn read(&mut self, earlier: &[u64]) {
        self.count += 1.0;
        for f in &mut self.followers {
            f.n += 1.0;
            if earlier.contains(&f.to) {
                f.before += 1.0;
            }
        }
    }

    fn decay(&mut self, f: f64) {
        self.count *= f;
        for follower in &mut self.followers {
            follower.decay(f);
        }
    }
}

/// A key read: its text (for predictions) and its node.
#[derive(Debug)]
pub struct KeyCount {
    pub key: Bytes,
    pub node: Node,
}

/// A template read: the text around its variable and its node.
#[derive(Debug)]
pub struct TemplateCount {
    pub prefix: Bytes,
    pub suffix: Bytes,
    pub node: Node,
}

#[derive(Debug, Clone, Copy)]
struct Seen {
    /// A key hash (successors) or a template hash (patterns).
    id: u64,
    at_ms: u64,
    established: bool,
}

/// The last reads of one variable.
#[derive(Debug, Default)]
struct VarReads {
    seen: VecDeque<Seen>,
}

/// Rule ids: patterns have the top bit set, successors clear.
const PATTERN_BIT: u64 = 1 << 63;
/// The bits of a rule id that hold its `from` part.
const FROM_BITS: u64 = 0x7FFF_FFFF_0000_0000;

/// A rule's id: the kind, 31 bits of `from`'s hash and 32 of `to`'s, so
/// feedback finds the rule again without an index beside the tables.
pub fn rule_id(from: u64, to: u64, pattern: bool) -> u64 {
    let kind = if pattern { PATTERN_BIT } else { 0 };
    kind | (from & FROM_BITS) | (to & 0xFFFF_FFFF)
}

/// The parts of a rule id: whether it is a pattern, its `from` part (as
/// `rule_id` keeps it) and its `to` part.
fn rule_parts(rule: u64) -> (bool, u64, u32) {
    (rule & PATTERN_BIT != 0, rule & FROM_BITS, rule as u32)
}

#[derive(Debug)]
pub struct Model {
    window_ms: u64,
    max_rules: usize,
    pub keys: Table<KeyCount>,
    pub templates: Table<TemplateCount>,
    recent: VecDeque<Seen>,
    by_var: Table<VarReads>,
    pub last_learn_ms: Option<u64>,
    pub observed_total: u64,
}

impl Model {
    pub fn new(window_ms: u64, max_rules: usize) -> Model {
        Model {
            window_ms: window_ms.max(1),
            max_rules: max_rules.max(2),
            keys: Table::default(),
            templates: Table::default(),
            recent: VecDeque::with_capacity(RECENT_KEYS + 1),
            by_var: Table::default(),
            last_learn_ms: None,
            observed_total: 0,
        }
    }

    fn max_vars(&self) -> usize {
        2 * self.max_rules
    }

    /// Ages every count by `elapsed_ms` and forgets what decayed away, and
    /// the variables not read within the window before `now_ms`.
    pub fn decay(&mut self, elapsed_ms: u64, now_ms: u64) {
        let f = 0.5f64.powf(elapsed_ms as f64 / HALF_LIFE_MS);
        self.keys.retain(|_, k| {
            k.node.decay(f);
            k.node.count >= FORGET
        });
        self.templates.retain(|_, t| {
            t.node.decay(f);
            t.node.count >= FORGET
        });
        let horizon = now_ms.saturating_sub(self.window_ms);
        self.by_var
            .retain(|_, v| v.seen.back().is_some_and(|s| s.at_ms >= horizon));
    }

    /// Folds one read of `key` at `at_ms` (reads come in time order).
    pub fn fold(&mut self, key: &[u8], at_ms: u64) {
        self.observed_total += 1;
        let hash = xxh3_64(key);
        self.fold_successor(key, hash, at_ms);
        if let Some(var) = shape::variable(key) {
            self.fold_pattern(key, &var, at_ms);
        }
    }

    fn fold_successor(&mut self, key: &[u8], hash: u64, at_ms: u64) {
        while let Some(front) = self.recent.front() {
            if at_ms.saturating_sub(front.at_ms) <= self.window_ms
                && self.recent.len() < RECENT_KEYS
            {
                break;
            }
            self.recent.pop_front();
        }
        let (earlier, since_last) = scan(&self.recent, hash, at_ms, self.window_ms, true);
        let k = entry(
            &mut self.keys,
            hash,
            self.max_rules,
            |k| k.node.count,
            || KeyCount {
                key: Bytes::copy_from_slice(key),
                node: Node::default(),
            },
        );
        k.node.read(&earlier);
        let established = k.node.count >= ESTABLISHED;
        if established {
            for from in since_last {
                if let Some(k) = self.keys.get_mut(&from) {
                    k.node.followed_by(hash);
                }
            }
        }
        self.recent.push_back(Seen {
            id: hash,
            at_ms,
            established,
        });
    }

    fn fold_pattern(&mut self, key: &[u8], var: &std::ops::Range<usize>, at_ms: u64) {
        let var_hash = shape::variable_hash(key, var);
        if !self.by_var.contains_key(&var_hash) && self.by_var.len() >= self.max_vars() {
            // Full of variables read within the window: this read is left out
            // whole (its template's count too), like a sampled-out one.
            return;
        }
        let template = shape::template_hash(key, var);
        let reads = self.by_var.entry(var_hash).or_default();
        let (earlier, since_last) = scan(&reads.seen, template, at_ms, self.window_ms, false);
        if reads.seen.len() == VAR_RECENT {
            reads.seen.pop_front();
        }
        reads.seen.push_back(Seen {
            id: template,
            at_ms,
            established: true,
        });
        let t = entry(
            &mut self.templates,
            template,
            self.max_rules,
            |t| t.node.count,
            || TemplateCount {
                prefix: Bytes::copy_from_slice(&key[..var.start]),
                suffix: Bytes::copy_from_slice(&key[var.end..]),
                node: Node::default(),
            },
        );
        t.node.read(&earlier);
        for from in since_last {
            if let Some(t) = self.templates.get_mut(&from) {
                t.node.followed_by(template);
            }
        }
    }

    /// Applies feedback on rules (a rule already replaced or forgotten is
    /// ignored): one pass over the tables, whatever the feedback's length.
    pub fn feedback(&mut self, feedback: &[(u64, bool)]) {
        if feedback.is_empty() {
            return;
        }
        let mut by_from: HashMap<(bool, u64), Vec<(u32, bool)>> = HashMap::new();
        for &(rule, used) in feedback {
            let (pattern, from, to) = rule_parts(rule);
            by_from.entry((pattern, from)).or_default().push((to, used));
        }
        let nodes = self
            .keys
            .iter_mut()
            .map(|(&from, k)| (false, from, &mut k.node))
            .chain(
                self.templates
                    .iter_mut()
                    .map(|(&from, t)| (true, from, &mut t.node)),
            );
        for (pattern, from, node) in nodes {
            let (_, from_part, _) = rule_parts(rule_id(from, 0, pattern));
            let Some(items) = by_from.get(&(pattern, from_part)) else {
                continue;
            };
            for &(to, used) in items {
                if let Some(f) = node.followers.iter_mut().find(|f| f.to as u32 == to) {
                    f.feedback(used);
                }
            }
        }
    }

    /// Bytes held now: the tables' slots, followers and the keys' copies.
    pub fn memory_bytes(&self) -> usize {
        let follower = std::mem::size_of::<Follower>();
        let keys: usize = self
            .keys
            .values()
            .map(|k| k.key.len() + k.node.followers.capacity() * follower)
            .sum();
        let templates: usize = self
            .templates
            .values()
            .map(|t| t.prefix.len() + t.suffix.len() + t.node.followers.capacity() * follower)
            .sum();
        slot_bytes(&self.keys)
            + slot_bytes(&self.templates)
            + slot_bytes(&self.by_var)
            + self
                .by_var
                .values()
                .map(|v| v.seen.capacity())
                .sum::<usize>()
                * std::mem::size_of::<Seen>()
            + keys
            + templates
            + self.recent.capacity() * std::mem::size_of::<Seen>()
    }

    /// The most [`Model::memory_bytes`] can be with `max_rules`: every table
    /// full at the largest capacity a hash table of that many entries grows
    /// to (a power of two of buckets at 7/8 load: under 16/7 slots per entry),
    /// keys and templates at 64 bytes of text with all their followers, every
    /// variable with its reads.
    pub fn memory_bound(max_rules: usize) -> usize {
        let max = max_rules.max(2);
        let table = |entries: usize, value: usize| entries * 16 / 7 * (8 + value + 1) + 64;
        let followers = FOLLOWERS * std::mem::size_of::<Follower>();
        table(max, std::mem::size_of::<KeyCount>())
            + table(max, std::mem::size_of::<TemplateCount>())
            + table(2 * max, std::mem::size_of::<VarReads>())
            + 2 * max * VAR_RECENT * std::mem::size_of::<Seen>()
            + 2 * max * (64 + followers)
            + (RECENT_KEYS + 1) * std::mem::size_of::<Seen>() * 2
    }

    /// Table sizes, for tests of the bound.
    #[cfg(test)]
    pub fn sizes(&self) -> [usize; 4] {
        let most = |t: &Table<KeyCount>| t.values().map(|k| k.node.followers.len()).max();
        [
            self.keys.len(),
            self.templates.len(),
            self.by_var.len(),
            most(&self.keys).unwrap_or(0),
        ]
    }
}

/// What a read of `now` finds in `earlier` reads (oldest first) within the
/// window: the distinct ids read before it (`before` of the rules `now →
/// them`), and the reads since the last read of `now` itself, which it
/// follows (each read of A counted once per B). `only_established` leaves
/// out the reads of keys seen once.
fn scan(
    earlier: &VecDeque<Seen>,
    now: u64,
    at_ms: u64,
    window_ms: u64,
    only_established: bool,
) -> (Vec<u64>, Vec<u64>) {
    let mut distinct = Vec::new();
    let mut since_last = Vec::new();
    let mut after_last = true;
    for seen in earlier.iter().rev() {
        if at_ms.saturating_sub(seen.at_ms) > window_ms {
            break;
        }
        if seen.id == now {
            after_last = false;
            continue;
        }
        if only_established && !seen.established {
            continue;
        }
        if after_last {
            since_last.push(seen.id);
        }
        if !distinct.contains(&seen.id) {
            distinct.push(seen.id);
        }
    }
    (distinct, since_last)
}

fn slot_bytes<V>(table: &Table<V>) -> usize {
    table.capacity() * (std::mem::size_of::<(u64, V)>() + 1)
}

/// `table[id]`, inserted with `new` if absent; a full table first sheds its
/// lighter half (by `weight`), so it never holds more than `max` entries and
/// the work of shedding is spread over the inserts that filled it.
fn entry<V>(
    table: &mut Table<V>,
    id: u64,
    max: usize,
    weight: impl Fn(&V) -> f64,
    new: impl FnOnce() -> V,
) -> &mut V {
    if table.len() >= max && !table.contains_key(&id) {
        let mut weights: Vec<f64> = table.values().map(&weight).collect();
        let keep = max / 2;
        let cut = weights.len() - keep;
        let (_, threshold, _) = weights.select_nth_unstable_by(cut, f64::total_cmp);
        let threshold = *threshold;
        table.retain(|_, v| weight(v) > threshold);
    }
    table.entry(id).or_insert_with(new)
}
