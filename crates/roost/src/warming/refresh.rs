//! When a hot key's hit starts a refresh-ahead. The decision runs on every
//! client hit of a key with a deadline, so it is arithmetic first (is the
//! deadline inside the window at all?), then the hot-set lookup.
//!
//! The window is a lead before the deadline: enough for a refresh to be
//! fetched and stored before the entry expires, with room for a read to come
//! along inside it. It is [`LEAD_LATENCIES`] times the origin's latency
//! moving average, at least [`MIN_LEAD`] and at most [`MAX_LEAD`]; within it,
//! XFetch's probabilistic early expiry (Vattani et al., "Optimal Probabilistic
//! Cache Stampede Prevention") spreads the refreshes of keys that expire
//! together: a read at `gap` ms before the deadline refreshes with
//! probability `exp(-gap / (delta × BETA))`, and always once the gap is
//! inside the last third of the lead (a refresh started later could not land
//! in time). A deterministic floor matters at these rates: 50 hot keys read
//! a few thousand times a second give each key a read every ~15 ms, and pure
//! XFetch with delta = 20 ms would miss the deadline in about one cycle in ten.
//!
//! The cost: each hot key is fetched once per `TTL - lead` instead of once
//! per TTL plus a wait, i.e. `TTL / (TTL - lead)` times the origin requests
//! (1.11x for a 2 s TTL and the 200 ms minimum lead).

use std::time::Duration;

use crate::hot::roll;

/// The least lead: covers a read gap and a fast origin's answer.
pub const MIN_LEAD: Duration = Duration::from_millis(200);
/// The most lead, whatever the origin's latency.
pub const MAX_LEAD: Duration = Duration::from_secs(5);
/// Leads in units of the origin's latency average.
pub const LEAD_LATENCIES: u32 = 4;
/// XFetch's beta, in units of the latency average.
const BETA: f64 = 2.0;

/// The lead before a deadline, from the origin's latency average.
pub fn lead(latency: Option<Duration>) -> Duration {
    latency
        .map_or(MIN_LEAD, |l| l * LEAD_LATENCIES)
        .clamp(MIN_LEAD, MAX_LEAD)
}

/// Whether a hit `gap_ms` before its deadline refreshes now; `draw` is a
/// uniform number in (0, 1].
pub fn due(gap_ms: u64, lead: Duration, latency: Option<Duration>, draw: f64) -> bool {
    let lead_ms = lead.as_millis() as u64;
    if gap_ms > lead_ms {
        return false;
    }
    if gap_ms * 3 <= lead_ms {
        return true;
    }
    let delta_ms = latency.map_or(1.0, |l| l.as_secs_f64() * 1000.0).max(1.0);
    // gap <= delta × beta × -ln(draw)
    gap_ms as f64 <= delta_ms * BETA * -draw.max(f64::MIN_POSITIVE).ln()
}

/// A uniform draw in (0, 1] from the calling thread's xorshift (the one hot-key
/// sampling draws from): one per hit inside a lead, no lock, no system call.
pub fn draw() -> f64 {
    ((roll() >> 11) as f64 + 1.0) / (1u64 << 53) as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn draws_are_uniform_in_the_unit_interval() {
        let draws: Vec<f64> = (0..10_000).map(|_| draw()).collect();
        assert!(draws.iter().all(|&d| d > 0.0 && d <= 1.0));
        let mean = draws.iter().sum::<f64>() / draws.len() as f64;
        assert!((mean - 0.5).abs() < 0.02, "mean {mean}");
    }

    #[test]
    fn the_lead_follows_the_origin_latency_within_bounds() {
        assert_eq!(lead(None), MIN_LEAD);
        assert_eq!(lead(Some(Duration::from_millis(10))), MIN_LEAD);
        assert_eq!(
            lead(Some(Duration::from_millis(100))),
            Duration::from_millis(400)
        );
        assert_eq!(lead(Some(Duration::from_secs(60))), MAX_LEAD);
    }

    #[test]
    fn far_never_inside_the_last_third_always_and_between_by_chance() {
        let latency = Some(Duration::from_millis(20));
        let lead = lead(latency);
        assert!(!due(201, lead, latency, 1e-9), "outside the lead");
        assert!(due(66, lead, latency, 1.0), "inside the last third");
        assert!(!due(150, lead, latency, 1.0), "a draw of 1 waits");
        assert!(
            due(150, lead, latency, 1e-4),
            "a small draw refreshes early"
        );
        let draws = (1..=1000).map(|i| f64::from(i) / 1000.0);
        let early = draws.filter(|&d| due(100, lead, latency, d)).count();
        // exp(-100 / 40) ~= 8 %
        assert!((40..=130).contains(&early), "{early}");
    }
}
