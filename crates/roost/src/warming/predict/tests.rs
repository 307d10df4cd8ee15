//! The predictor's behaviour on simulated traffic: reads at simulated times,
//! `learn` every 200 ms of them, as the warming task drives it.

#![allow(clippy::unwrap_used)]

use std::collections::HashSet;

use proptest::prelude::*;

use super::*;

const LEARN_EVERY_MS: u64 = 200;

/// A deterministic xorshift, so every run sees the same traffic.
struct Dice(u64);

impl Dice {
    fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        x
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

/// Feeds `reads` (time, key) in time order, learning every 200 ms of them.
struct Driver {
    predictor: Predictor,
    last_learn: u64,
}

impl Driver {
    fn new(config: PredictorConfig) -> Driver {
        Driver {
            predictor: Predictor::new(config),
            last_learn: 0,
        }
    }

    fn read(&mut self, key: &str, at_ms: u64) {
        while at_ms >= self.last_learn + LEARN_EVERY_MS {
            self.last_learn += LEARN_EVERY_MS;
            self.predictor.learn(self.last_learn);
        }
        self.predictor.observe(key.as_bytes(), at_ms);
    }

    fn replay(&mut self, mut reads: Vec<(u64, String)>) {
        reads.sort_by_key(|(at, _)| *at);
        for (at, key) in &reads {
            self.read(key, *at);
        }
        let end = reads.last().map_or(0, |(at, _)| *at) + LEARN_EVERY_MS;
        self.finish(end);
    }

    fn finish(&mut self, at_ms: u64) {
        self.last_learn = self.last_learn.max(at_ms);
        self.predictor.learn(self.last_learn);
    }

    fn predicted(&self, key: &str) -> Vec<String> {
        self.predictor
            .predict(key.as_bytes(), self.last_learn)
            .into_iter()
            .map(|p| String::from_utf8(p.key.to_vec()).unwrap())
            .collect()
    }
}

/// `users` sessions `user:<id>` → (think) → `feed:<id>` starting at random
/// times over `seconds`, each user visiting every ~`visit_every_ms`.
fn sessions(dice: &mut Dice, users: u64, seconds: u64, visit_every_ms: u64) -> Vec<(u64, String)> {
    let mut reads = Vec::new();
    for id in 0..users {
        let mut at = dice.below(visit_every_ms);
        while at < seconds * 1000 {
            reads.push((at, format!("user:{id}")));
            reads.push((at + 5 + dice.below(20), format!("feed:{id}")));
            at += visit_every_ms / 2 + dice.below(visit_every_ms);
        }
    }
    reads
}

#[test]
fn a_session_pattern_predicts_ids_never_seen() {
    let mut driver = Driver::new(PredictorConfig::default());
    let mut dice = Dice(7);
    driver.replay(sessions(&mut dice, 20, 20, 3000));
    let predictions = driver.predictor.predict(b"user:987654", driver.last_learn);
    assert_eq!(predictions.len(), 1, "{predictions:?}");
    assert_eq!(predictions[0].key.as_ref(), b"feed:987654");
    assert!(predictions[0].confidence > 0.9, "{predictions:?}");
    assert!(driver.predictor.is_follow_up(b"feed:555"));
    assert!(!driver.predictor.is_follow_up(b"user:555"));
    // Nothing reliably follows a feed (the next visit is seconds later).
    assert!(driver.predicted("feed:3").is_empty());
    let stats = driver.predictor.stats();
    assert_eq!(stats.pattern_rules, 1, "{stats:?}");
}

#[test]
fn many_interleaved_users_with_noise_still_learn_the_pattern() {
    let mut driver = Driver::new(PredictorConfig::default());
    let mut dice = Dice(11);
    // 2,000 users, ~1,300 sessions a second, all interleaved, and random
    // other reads (some sharing the ids) at 1,000 a second.
    let mut reads = sessions(&mut dice, 2000, 20, 3000);
    for i in 0..20_000 {
        let id = dice.below(2000);
        let key = match dice.below(3) {
            0 => format!("item:{}", dice.below(1_000_000)),
            1 => format!("post:{id}"),
            _ => format!("k{}", dice.below(100_000)),
        };
        reads.push((i, key));
    }
    driver.replay(reads);
    assert_eq!(driver.predicted("user:123456789"), vec!["feed:123456789"]);
    let confidence = driver.predictor.predict(b"user:1", 0)[0].confidence;
    assert!(confidence > 0.8, "{confidence}");
    assert!(driver.predicted("post:5").is_empty());
    assert!(driver.predicted("item:5").is_empty());
}

#[test]
fn a_successor_is_learned_through_interleaved_traffic() {
    let mut driver = Driver::new(PredictorConfig::default());
    let mut dice = Dice(3);
    let mut reads = Vec::new();
    // `home` then `config:v2` once a second or so, amid 300 random reads a
    // second over 200 keys, each read often enough to take part in pairs.
    let mut at = 0;
    while at < 30_000 {
        reads.push((at, "home".to_string()));
        reads.push((at + 10, "config:v2".to_string()));
        at += 500 + dice.below(1000);
    }
    for i in 0..9000 {
        reads.push((i * 30 / 9, format!("noise:k{}", dice.below(200))));
    }
    driver.replay(reads);
    assert_eq!(driver.predicted("home"), vec!["config:v2"]);
    assert!(driver.predictor.is_follow_up(b"config:v2"));
    // Unrelated interleavings stay below the floor.
    for k in 0..200 {
        let noise = format!("noise:k{k}");
        let after = driver.predicted(&noise);
        assert!(after.is_empty(), "{noise} -> {after:?}");
    }
    assert_eq!(driver.predictor.stats().successor_rules, 1);
}

#[test]
fn uniform_random_keys_learn_nothing() {
    for (seed, space) in [(1u64, 100u64), (2, 5_000), (3, 10_000_000)] {
        let mut driver = Driver::new(PredictorConfig::default());
        let mut dice = Dice(seed);
        let mut reads = Vec::new();
        for i in 0..60_000u64 {
            let r = dice.below(space);
            let key = match dice.below(4) {
                0 => format!("k:{r}"),
                1 => format!("a:{r}"),
                2 => format!("b:{r}:x"),
                _ => format!("key{r}"),
            };
            reads.push((i / 2, key));
        }
        driver.replay(reads.clone());
        let stats = driver.predictor.stats();
        assert_eq!(
            (stats.successor_rules, stats.pattern_rules),
            (0, 0),
            "space {space}: {stats:?}"
        );
        for (_, key) in reads.iter().take(2000) {
            assert!(driver.predicted(key).is_empty(), "space {space}: {key}");
        }
    }
}

#[test]
fn memory_stays_bounded_under_a_flood_of_distinct_keys() {
    let config = PredictorConfig {
        max_rules: 512,
        ..PredictorConfig::default()
    };
    let mut driver = Driver::new(config);
    let mut dice = Dice(5);
    let mut at = 0;
    let mut peak = 0;
    for round in 0..40u64 {
        for _ in 0..3000 {
            let key = match dice.below(3) {
                0 => format!("t{}:{}", dice.below(5000), dice.below(u64::MAX)),
                1 => format!("{:x}", dice.next()),
                _ => format!("user:{round}{}", dice.below(100)),
            };
            driver.read(&key, at);
            at += dice.below(2);
        }
        driver.finish(at);
        let model = driver.predictor.learner.lock();
        let sizes = model.model.sizes();
        assert!(sizes[0] <= 512 && sizes[1] <= 512, "{sizes:?}");
        assert!(
            sizes[2] <= 1024 && sizes[3] <= model::FOLLOWERS,
            "{sizes:?}"
        );
        peak = peak.max(driver.predictor.stats().memory_bytes);
    }
    let bound = memory_bound(512);
    assert!(peak <= bound, "peak {peak} > bound {bound}");
    // The figure the module documentation states for the default settings.
    let default = memory_bound(PredictorConfig::default().max_rules);
    println!("peak {peak} B, bound with 512 rules: {bound} B, with the default: {default} B");
    assert!(default < 10 << 20, "{default}");
    assert!(driver.predictor.stats().observed_total >= 100_000);
}

#[test]
fn wasted_predictions_silence_a_rule_and_used_ones_keep_it() {
    let mut driver = Driver::new(PredictorConfig::default());
    let mut dice = Dice(9);
    driver.replay(sessions(&mut dice, 20, 10, 2000));
    let prediction = driver.predictor.predict(b"user:1", 0)[0].clone();
    for _ in 0..20 {
        driver.predictor.feedback(prediction.rule, true);
    }
    driver.finish(driver.last_learn + LEARN_EVERY_MS);
    assert_eq!(driver.predicted("user:1"), vec!["feed:1"]);
    for _ in 0..60 {
        driver.predictor.feedback(prediction.rule, false);
    }
    driver.finish(driver.last_learn + LEARN_EVERY_MS);
    assert!(driver.predicted("user:1").is_empty());
    assert_eq!(driver.predictor.stats().pattern_rules, 0);
    // Feedback on a rule that does not exist is ignored.
    driver.predictor.feedback(RuleId(42), false);
    driver.finish(driver.last_learn + LEARN_EVERY_MS);
}

#[test]
fn a_pattern_that_stops_holding_decays_below_the_floor() {
    let mut driver = Driver::new(PredictorConfig::default());
    let mut dice = Dice(13);
    driver.replay(sessions(&mut dice, 20, 10, 2000));
    assert_eq!(driver.predicted("user:1"), vec!["feed:1"]);
    // Users stop reading their feed: confidence decays with the new reads.
    let start = driver.last_learn;
    let mut reads = Vec::new();
    for i in 0..12_000 {
        reads.push((start + i * 10, format!("user:{}", dice.below(50))));
    }
    driver.replay(reads);
    assert!(driver.predicted("user:1").is_empty());
}

#[test]
fn observe_from_many_threads_is_folded() {
    let predictor = std::sync::Arc::new(Predictor::new(PredictorConfig::default()));
    let threads: Vec<_> = (0..4u64)
        .map(|t| {
            let predictor = predictor.clone();
            std::thread::spawn(move || {
                for i in 0..1000u64 {
                    let id = t * 1000 + i;
                    predictor.observe(format!("user:{id}").as_bytes(), i * 3);
                    predictor.observe(format!("feed:{id}").as_bytes(), i * 3 + 1);
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    predictor.learn(3000);
    assert_eq!(predictor.stats().observed_total, 8000);
    assert_eq!(
        predictor.predict(b"user:77777", 3000)[0].key.as_ref(),
        b"feed:77777"
    );
}

#[test]
fn long_and_empty_keys_are_not_observed() {
    let predictor = Predictor::new(PredictorConfig::default());
    predictor.observe(&[b'a'; 65], 1);
    predictor.observe(b"", 1);
    predictor.learn(10);
    assert_eq!(predictor.stats().observed_total, 0);
}

#[test]
fn heavy_traffic_is_sampled_by_variable_and_the_pattern_survives() {
    let mut driver = Driver::new(PredictorConfig::default());
    let mut dice = Dice(17);
    // ~80,000 reads a second: sampling keeps whole sessions.
    let reads = sessions(&mut dice, 100_000, 6, 2500);
    driver.replay(reads);
    assert!(driver.predictor.shift.load(Ordering::Relaxed) > 0);
    assert_eq!(driver.predicted("user:31337"), vec!["feed:31337"]);
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

    /// Any two templates (any words, any separator) in sessions interleaved
    /// with any other reads: the pattern is learned and predicts new ids.
    #[test]
    fn any_template_pair_is_learned(
        first in "[a-z]{1,8}", second in "[a-z]{1,8}", sep in "[:/._|#=-]",
        tail in "([:/][a-z]{1,5})?", seed in 1u64..u64::MAX,
    ) {
        prop_assume!(first != second);
        let mut dice = Dice(seed);
        let mut reads = Vec::new();
        for id in 0..50u64 {
            let mut at = dice.below(2000);
            while at < 12_000 {
                reads.push((at, format!("{first}{sep}{id}{tail}")));
                reads.push((at + 1 + dice.below(50), format!("{second}{sep}{id}{tail}")));
                at += 1000 + dice.below(2000);
            }
        }
        let mut driver = Driver::new(PredictorConfig::default());
        driver.replay(reads);
        let unseen = format!("{first}{sep}424242{tail}");
        let predicted = driver.predicted(&unseen);
        prop_assert_eq!(predicted, vec![format!("{second}{sep}424242{tail}")]);
    }

    /// Whatever is read, predictions keep their promises: at or above the
    /// floor, at most `max_predictions`, best first, never the key itself,
    /// and the tables within their bound.
    #[test]
    fn predictions_keep_their_promises(
        keys in proptest::collection::vec("[a-c]{1,2}[:/]?[0-9]{0,2}", 1..400),
        gaps in proptest::collection::vec(0u64..300, 400),
    ) {
        let config = PredictorConfig { max_rules: 16, max_predictions: 2, ..PredictorConfig::default() };
        let mut driver = Driver::new(config);
        let mut at = 0;
        for _ in 0..5 {
            for (key, gap) in keys.iter().zip(&gaps) {
                at += gap;
                driver.read(key, at);
            }
        }
        driver.finish(at + 1);
        let distinct: HashSet<&String> = keys.iter().collect();
        for key in distinct {
            let predictions = driver.predictor.predict(key.as_bytes(), at);
            prop_assert!(predictions.len() <= 2);
            for pair in predictions.windows(2) {
                prop_assert!(pair[0].confidence >= pair[1].confidence);
            }
            for p in &predictions {
                prop_assert!(p.confidence >= 0.5 && p.confidence <= 1.0);
                prop_assert!(p.key.as_ref() != key.as_bytes());
            }
        }
        let sizes = driver.predictor.learner.lock().model.sizes();
        prop_assert!(sizes[0] <= 16 && sizes[1] <= 16 && sizes[3] <= model::FOLLOWERS, "{:?}", sizes);
    }
}
