//! What `predict` and `is_follow_up` read: the rules above the confidence
//! floor, built by `learn` from the model and swapped in whole, so the
//! request path never takes the model's lock.
//!
//! Must not: hold a rule below `min_confidence` or more than
//! `max_predictions` rules per key or template.

use std::collections::{HashMap, HashSet};

use bytes::{BufMut, Bytes, BytesMut};
use xxhash_rust::xxh3::xxh3_64;

use super::model::{rule_id, Model};
use super::{shape, Prediction, PredictorStats, RuleId};
use crate::hot::IdentityHash;

#[derive(Debug)]
struct Successor {
    key: Bytes,
    confidence: f64,
    rule: RuleId,
}

#[derive(Debug)]
struct Pattern {
    prefix: Bytes,
    suffix: Bytes,
    confidence: f64,
    rule: RuleId,
}

#[derive(Debug, Default)]
pub struct Published {
    /// By the hash of the key read first; best first.
    successors: HashMap<u64, Vec<Successor>, IdentityHash>,
    /// By the hash of the template read first; best first.
    patterns: HashMap<u64, Vec<Pattern>, IdentityHash>,
    follow_keys: HashSet<u64, IdentityHash>,
    follow_templates: HashSet<u64, IdentityHash>,
    pub stats: PredictorStats,
}

impl Published {
    /// The rules of `model` at or above `min_confidence`, at most
    /// `max_predictions` per key or template read first.
    pub fn build(model: &Model, min_confidence: f64, max_predictions: usize) -> Published {
        let mut published = Published::default();
        for (&from, k) in &model.keys {
            for f in &k.node.followers {
                let Some(confidence) = f.confidence() else {
                    continue;
                };
                let Some(to) = model.keys.get(&f.to) else {
                    continue;
                };
                if confidence < min_confidence {
                    continue;
                }
                published.follow_keys.insert(f.to);
                published
                    .successors
                    .entry(from)
                    .or_default()
                    .push(Successor {
                        key: to.key.clone(),
                        confidence,
                        rule: RuleId(rule_id(from, f.to, false)),
                    });
            }
        }
        for (&from, t) in &model.templates {
            for f in &t.node.followers {
                let Some(confidence) = f.confidence() else {
                    continue;
                };
                let Some(to) = model.templates.get(&f.to) else {
                    continue;
                };
                if confidence < min_confidence {
                    continue;
                }
                published.follow_templates.insert(f.to);
                published.patterns.entry(from).or_default().push(Pattern {
                    prefix: to.prefix.clone(),
                    suffix: to.suffix.clone(),
                    confidence,
                    rule: RuleId(rule_id(from, f.to, true)),
                });
            }
        }
        for rules in published.successors.values_mut() {
            rules.sort_by(|a, b| b.confidence.total_cmp(&a.confidence));
            rules.truncate(max_predictions);
        }
        for rules in published.patterns.values_mut() {
            rules.sort_by(|a, b| b.confidence.total_cmp(&a.confidence));
            rules.truncate(max_predictions);
        }
        published.stats = PredictorStats {
            observed_total: model.observed_total,
            successor_rules: published.successors.values().map(Vec::len).sum(),
            pattern_rules: published.patterns.values().map(Vec::len).sum(),
            memory_bytes: 0,
        };
        published
    }

    /// Bytes this snapshot holds (besides the model it was built from).
    pub fn memory_bytes(&self) -> usize {
        let rules = self.stats.successor_rules + self.stats.pattern_rules;
        rules * (std::mem::size_of::<Pattern>() + 64 + 24)
            + (self.follow_keys.capacity() + self.follow_templates.capacity()) * 9
    }

    /// The most [`Published::memory_bytes`] can be with `max_rules`: every
    /// successor and pattern pair published.
    pub fn memory_bound(max_rules: usize) -> usize {
        let rules = 2 * max_rules;
        rules * (std::mem::size_of::<Pattern>() + 64 + 24) + 2 * (max_rules * 16 / 7 + 64) * 9
    }

    /// The keys likely read after `key`, best first, deduplicated, at most `max`.
    pub fn predict(&self, key: &[u8], max: usize) -> Vec<Prediction> {
        let mut out: Vec<Prediction> = Vec::new();
        if self.successors.is_empty() && self.patterns.is_empty() {
            return out;
        }
        if let Some(rules) = self.successors.get(&xxh3_64(key)) {
            out.extend(rules.iter().map(|r| Prediction {
                key: r.key.clone(),
                confidence: r.confidence,
                rule: r.rule,
            }));
        }
        if let Some(var) = shape::variable(key) {
            if let Some(rules) = self.patterns.get(&shape::template_hash(key, &var)) {
                for r in rules {
                    let mut next =
                        BytesMut::with_capacity(r.prefix.len() + var.len() + r.suffix.len());
                    next.put_slice(&r.prefix);
                    next.put_slice(&key[var.clone()]);
                    next.put_slice(&r.suffix);
                    let next = next.freeze();
                    if next.as_ref() == key || out.iter().any(|p| p.key == next) {
                        continue;
                    }
                    out.push(Prediction {
                        key: next,
                        confidence: r.confidence,
                        rule: r.rule,
                    });
                }
            }
        }
        out.sort_by(|a, b| b.confidence.total_cmp(&a.confidence));
        out.dedup_by(|a, b| a.key == b.key);
        out.truncate(max);
        out
    }

    /// Whether `key` is what some published rule predicts.
    pub fn is_follow_up(&self, key: &[u8]) -> bool {
        if !self.follow_keys.is_empty() && self.follow_keys.contains(&xxh3_64(key)) {
            return true;
        }
        if self.follow_templates.is_empty() {
            return false;
        }
        shape::variable(key).is_some_and(|var| {
            self.follow_templates
                .contains(&shape::template_hash(key, &var))
        })
    }
}
