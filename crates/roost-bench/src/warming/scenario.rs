//! The read-through scenarios: which keys one visit reads, in which order, and
//! which class of reads each one is tallied under.
//!
//! - `Refresh`: one GET of one of `keys` hot keys (`hot:<i>`, uniformly chosen);
//!   the origin's max-age makes each expire every few seconds.
//! - `Sessions`: `GET user:<id>`, a think time, `GET feed:<id>`. Visit `v` is user
//!   `(v mod users) * stride mod users`: the same order every cycle, so each id comes
//!   back exactly `users / rate` seconds later — after both keys expired when that
//!   is longer than the origin's max-age plus the think time.
//! - `Uniform`: one GET of a key drawn uniformly from `keyspace` (`random:<n>`): no
//!   structure a predictor could learn.

use std::time::Duration;

use rand::rngs::SmallRng;
use rand::RngExt;

/// One scenario and its parameters.
#[derive(Debug, Clone, PartialEq)]
pub enum Scenario {
    Refresh { keys: u64 },
    Sessions { users: u64, think: Duration },
    Uniform { keyspace: u64 },
}

/// The reads of one visit: each key with its class (an index into `classes()`),
/// and the pause before the next read of the visit.
#[derive(Debug, Clone, PartialEq)]
pub struct Step {
    pub key: String,
    pub class: usize,
    pub pause_after: Duration,
}

impl Scenario {
    pub fn name(&self) -> &'static str {
        match self {
            Scenario::Refresh { .. } => "refresh",
            Scenario::Sessions { .. } => "sessions",
            Scenario::Uniform { .. } => "uniform",
        }
    }

    /// The names of the read classes, by class index.
    pub fn classes(&self) -> &'static [&'static str] {
        match self {
            Scenario::Refresh { .. } => &["hot"],
            Scenario::Sessions { .. } => &["user", "feed"],
            Scenario::Uniform { .. } => &["random"],
        }
    }

    /// The reads of visit number `visit`.
    pub fn steps(&self, visit: u64, rng: &mut SmallRng) -> Vec<Step> {
        match self {
            Scenario::Refresh { keys } => vec![Step {
                key: format!("hot:{}", rng.random_range(0..*keys)),
                class: 0,
                pause_after: Duration::ZERO,
            }],
            Scenario::Sessions { users, think } => {
                let id = session_id(visit, *users);
                vec![
                    Step {
                        key: format!("user:{id}"),
                        class: 0,
                        pause_after: *think,
                    },
                    Step {
                        key: format!("feed:{id}"),
                        class: 1,
                        pause_after: Duration::ZERO,
                    },
                ]
            }
            Scenario::Uniform { keyspace } => vec![Step {
                key: format!("random:{}", rng.random_range(0..*keyspace)),
                class: 0,
                pause_after: Duration::ZERO,
            }],
        }
    }
}

/// The user of visit `visit`: a fixed permutation of `0..users`, repeated each cycle,
/// so consecutive visits are not consecutive ids and every id recurs exactly every
/// `users` visits.
pub fn session_id(visit: u64, users: u64) -> u64 {
    let users = users.max(1);
    (visit % users) * stride(users) % users
}

/// A multiplier coprime with `users` (so `i * stride mod users` is a permutation),
/// far from 1 so neighbours in visit order are far apart in id.
fn stride(users: u64) -> u64 {
    let mut stride = 7919 % users.max(2);
    while gcd(stride, users) != 1 {
        stride += 1;
    }
    stride
}

fn gcd(mut a: u64, mut b: u64) -> u64 {
    while b != 0 {
        (a, b) = (b, a % b);
    }
    a
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    #[test]
    fn every_user_comes_back_exactly_once_per_cycle() {
        for users in [1, 2, 10, 600, 7919, 15_838] {
            let mut seen: Vec<u64> = (0..users).map(|v| session_id(v, users)).collect();
            assert_eq!(session_id(users + 3, users), session_id(3, users));
            seen.sort_unstable();
            seen.dedup();
            assert_eq!(seen.len() as u64, users, "{users} users");
        }
    }

    #[test]
    fn a_session_reads_user_then_feed_of_one_id() {
        let mut rng = SmallRng::seed_from_u64(1);
        let scenario = Scenario::Sessions {
            users: 600,
            think: Duration::from_millis(10),
        };
        let steps = scenario.steps(5, &mut rng);
        let id = session_id(5, 600);
        assert_eq!(steps[0].key, format!("user:{id}"));
        assert_eq!(steps[1].key, format!("feed:{id}"));
        assert_eq!(steps[0].pause_after, Duration::from_millis(10));
        assert_eq!(scenario.classes()[steps[1].class], "feed");
        let refresh = Scenario::Refresh { keys: 50 };
        for v in 0..100 {
            let key = &refresh.steps(v, &mut rng)[0].key;
            let i: u64 = key.strip_prefix("hot:").unwrap().parse().unwrap();
            assert!(i < 50);
        }
    }
}
