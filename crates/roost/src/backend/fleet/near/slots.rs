//! A Redis Cluster's masters for the near cache: which master serves each
//! slot (from `CLUSTER SLOTS`), the key-to-slot hash Redis uses, and the task
//! that asks again every health interval — or at once after a fill met a
//! redirect — and, when anything changed, moves the near cache to the new
//! masters (dropping everything it held).

use std::sync::Arc;
use std::time::Duration;

use tokio_util::sync::CancellationToken;

use super::NearCache;
use crate::backend::fleet::topology::FleetNode;
use crate::backend::redis_link::NodeAddress;

const SLOTS: usize = 16384;
const NONE: u16 = u16::MAX;

/// Slot → index of its master in the tracker list.
pub(crate) struct SlotMap {
    owners: Box<[u16]>,
}

impl SlotMap {
    /// The master index serving `key`'s slot, if any serves it.
    pub(crate) fn master_of(&self, key: &[u8]) -> Option<usize> {
        let owner = self.owners[usize::from(slot(key))];
        (owner != NONE).then_some(usize::from(owner))
    }
}

/// The masters (in first-seen order) and the slot map of a `CLUSTER SLOTS`
/// answer; an empty host stands for `seed`'s.
fn layout(ranges: &[(u16, u16, String, u16)], seed: &NodeAddress) -> (Vec<NodeAddress>, SlotMap) {
    let mut masters: Vec<NodeAddress> = Vec::new();
    let mut owners = vec![NONE; SLOTS].into_boxed_slice();
    for (start, end, host, port) in ranges {
        let address = if host.is_empty() || host == "?" {
            let seed_host = seed.host_port();
            let host = seed_host.rsplit_once(':').map_or("", |(h, _)| h);
            seed.at(host.trim_matches(['[', ']']), *port)
        } else {
            seed.at(host, *port)
        };
        let index = match masters.iter().position(|m| *m == address) {
            Some(i) => i,
            None => {
                masters.push(address);
                masters.len() - 1
            }
        };
        for slot in *start..=(*end).min(SLOTS as u16 - 1) {
            owners[usize::from(slot)] = index as u16;
        }
    }
    (masters, SlotMap { owners })
}

/// Learns the cluster's masters through `node` (the cluster's link) now and
/// every `every`, or sooner when [`NearCache::slots_moved`] is called; a
/// changed answer moves the near cache to it.
pub(crate) async fn refresh_slots_forever(
    near: Arc<NearCache>,
    node: Arc<FleetNode>,
    every: Duration,
    stop: CancellationToken,
) {
    let mut known: Option<Vec<(u16, u16, String, u16)>> = None;
    loop {
        match node.link.cluster_slots().await {
            Ok(mut ranges) => {
                ranges.sort_unstable();
                if known.as_ref() != Some(&ranges) && !ranges.is_empty() {
                    let (masters, slots) = layout(&ranges, node.address());
                    tracing::info!(
                        masters = masters.len(),
                        "near cache: cluster slots learnt; tracking each master"
                    );
                    near.follow_slots(&masters, slots);
                    known = Some(ranges);
                }
            }
            Err(err) => tracing::debug!(error = %err, "near cache: CLUSTER SLOTS failed"),
        }
        tokio::select! {
            _ = stop.cancelled() => return,
            _ = near.reslot.notified() => {}
            _ = tokio::time::sleep(every) => {}
        }
    }
}

/// Redis Cluster's slot of `key`: CRC16 (XMODEM) of the key, or of its hash
/// tag (the part between the first `{` and the next `}`, when not empty).
pub(crate) fn slot(key: &[u8]) -> u16 {
    let tagged = key.iter().position(|&b| b == b'{').and_then(|open| {
        let rest = &key[open + 1..];
        let close = rest.iter().position(|&b| b == b'}')?;
        (close > 0).then(|| &rest[..close])
    });
    crc16(tagged.unwrap_or(key)) % SLOTS as u16
}

fn crc16(bytes: &[u8]) -> u16 {
    let mut crc: u16 = 0;
    for &byte in bytes {
        crc ^= u16::from(byte) << 8;
        for _ in 0..8 {
            crc = if crc & 0x8000 != 0 {
                (crc << 1) ^ 0x1021
            } else {
                crc << 1
            };
        }
    }
    crc
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn slots_match_redis() {
        // Values from Redis's CLUSTER KEYSLOT.
        assert_eq!(slot(b"foo"), 12182);
        assert_eq!(slot(b"bar"), 5061);
        assert_eq!(slot(b"{user1000}.following"), slot(b"user1000"));
        assert_eq!(slot(b"foo{}{bar}"), slot(b"foo{}{bar}"));
        assert_eq!(crc16(b"123456789"), 0x31C3, "CRC-16/XMODEM check value");
    }

    #[test]
    fn layout_names_each_master_once() {
        let seed = NodeAddress::parse("redis://127.0.0.1:7000").unwrap();
        let ranges = vec![
            (0, 5460, "127.0.0.1".to_string(), 7000),
            (5461, 10922, "127.0.0.1".to_string(), 7001),
            (10923, 16383, "".to_string(), 7002),
        ];
        let (masters, map) = layout(&ranges, &seed);
        assert_eq!(masters.len(), 3);
        assert_eq!(masters[2].host_port(), "127.0.0.1:7002");
        assert_eq!(map.master_of(b"foo"), Some(2));
        assert_eq!(map.master_of(b"bar"), Some(0));
    }
}
