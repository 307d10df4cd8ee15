//! Node-wide operations: SCAN steps with deadlines, counted flushes and INFO.
//! On a standalone node they run on the node; on a Redis Cluster they visit
//! every master. The masters come from `CLUSTER SLOTS` (read afresh by each
//! call, so failovers and resharding are seen) and each is addressed through
//! the lowest slot it serves, which redis-rs routes to that slot's master.
//!
//! A cluster SCAN cursor carries both where the walk is and the master's own
//! cursor: the master's lowest slot in the top 16 bits and its SCAN cursor in
//! the low 48 (a Redis cursor indexes a hash table, far below 2^48 buckets).
//! A walk that spans a failover or a reshard may miss or repeat keys, as
//! Redis's own SCAN may across a rehash.

use bytes::Bytes;
use futures_util::future::try_join_all;
use redis::{ErrorKind, RedisError, RedisResult, Value};
use roost_store::UnixMillis;

use super::connection::{Connection, Place};
use super::node_info::NodeInfo;
use super::scripts::deadline_from_pttl;

/// Bits of a cluster SCAN cursor that hold the master's own cursor.
const INNER_CURSOR_BITS: u32 = 48;
const INNER_CURSOR_MASK: u64 = (1 << INNER_CURSOR_BITS) - 1;

/// One SCAN step: the next cursor (0 when done) and the keys with their deadlines.
pub(crate) async fn scan_step(
    connection: &mut Connection,
    cursor: u64,
    count: usize,
    now: UnixMillis,
) -> RedisResult<(u64, Vec<(Bytes, Option<UnixMillis>)>)> {
    let (place, inner, following) = match connection {
        Connection::Node(_) => (Place::Node, cursor, None),
        Connection::Cluster(_) => {
            let masters = masters(connection).await?;
            match cluster_position(&masters, cursor) {
                Some(position) => position,
                None => return Ok((0, Vec::new())),
            }
        }
    };
    let (next_inner, keys): (u64, Vec<Vec<u8>>) = redis::cmd("SCAN")
        .arg(inner)
        .arg("COUNT")
        .arg(count.max(1))
        .query_async(&mut connection.at(place))
        .await?;
    let entries = with_deadlines(connection, place, keys, now).await?;
    let next = match (next_inner, following) {
        (0, Some(next_master)) => join_cursor(next_master, 0)?,
        (0, None) => 0,
        (inner, _) => join_cursor(place, inner)?,
    };
    Ok((next, entries))
}

/// Where a cluster cursor points: the master to scan, its own cursor, and the
/// master after it. `None` when the walk is past the last master.
fn cluster_position(masters: &[Place], cursor: u64) -> Option<(Place, u64, Option<Place>)> {
    let from_slot = cursor >> INNER_CURSOR_BITS;
    let inner = cursor & INNER_CURSOR_MASK;
    let index = masters
        .iter()
        .position(|place| u64::from(slot_of(*place)) >= from_slot)?;
    // A master that no longer starts at the cursor's slot is scanned from its start.
    let inner = if u64::from(slot_of(masters[index])) == from_slot {
        inner
    } else {
        0
    };
    Some((masters[index], inner, masters.get(index + 1).copied()))
}

fn join_cursor(place: Place, inner: u64) -> RedisResult<u64> {
    match place {
        Place::Node => Ok(inner),
        Place::Master { slot } if inner <= INNER_CURSOR_MASK => {
            Ok(u64::from(slot) << INNER_CURSOR_BITS | inner)
        }
        Place::Master { .. } => Err(unexpected(format!(
            "scan cursor {inner} does not fit in 48 bits"
        ))),
    }
}

fn slot_of(place: Place) -> u16 {
    match place {
        Place::Node => 0,
        Place::Master { slot } => slot,
    }
}

/// The scanned keys with their deadlines, read in one pipeline; keys that
/// expired since the SCAN (PTTL -2) are left out.
async fn with_deadlines(
    connection: &mut Connection,
    place: Place,
    keys: Vec<Vec<u8>>,
    now: UnixMillis,
) -> RedisResult<Vec<(Bytes, Option<UnixMillis>)>> {
    if keys.is_empty() {
        return Ok(Vec::new());
    }
    let mut pipeline = redis::pipe();
    for key in &keys {
        pipeline.cmd("PTTL").arg(key);
    }
    let pttls: Vec<i64> = pipeline.query_async(&mut connection.at(place)).await?;
    Ok(keys
        .into_iter()
        .zip(pttls)
        .filter(|(_, pttl)| *pttl != -2)
        .map(|(key, pttl)| (Bytes::from(key), deadline_from_pttl(pttl, now)))
        .collect())
}

/// Empties the link's database on every place; returns how many keys were there.
/// Each place counts and flushes in one MULTI, so no write slips in between.
pub(crate) async fn flush(connection: &mut Connection) -> RedisResult<u64> {
    let places = places(connection).await?;
    let flushes = places.into_iter().map(|place| {
        let mut connection = connection.clone();
        async move {
            let (count, ()): (u64, ()) = redis::pipe()
                .atomic()
                .cmd("DBSIZE")
                .cmd("FLUSHDB")
                .query_async(&mut connection.at(place))
                .await?;
            RedisResult::Ok(count)
        }
    });
    Ok(try_join_all(flushes).await?.into_iter().sum())
}

/// `evicted_keys` of INFO stats from every place, summed.
pub(crate) async fn evicted_keys(connection: &mut Connection) -> RedisResult<u64> {
    let places = places(connection).await?;
    let probes = places.into_iter().map(|place| {
        let mut connection = connection.clone();
        async move {
            let text: String = redis::cmd("INFO")
                .arg("stats")
                .query_async(&mut connection.at(place))
                .await?;
            RedisResult::Ok(NodeInfo::parse(&text, 0).evicted_keys)
        }
    });
    Ok(try_join_all(probes).await?.into_iter().sum())
}

/// INFO from every place, summed; `db` picks the keyspace line.
pub(crate) async fn info(connection: &mut Connection, db: i64) -> RedisResult<NodeInfo> {
    let places = places(connection).await?;
    let probes = places.into_iter().map(|place| {
        let mut connection = connection.clone();
        async move {
            let text: String = redis::cmd("INFO")
                .query_async(&mut connection.at(place))
                .await?;
            RedisResult::Ok(NodeInfo::parse(&text, db))
        }
    });
    let mut total = NodeInfo::default();
    for info in try_join_all(probes).await? {
        total.add(&info);
    }
    Ok(total)
}

/// Every place a node-wide command must run: the node, or each cluster master.
pub(crate) async fn places(connection: &mut Connection) -> RedisResult<Vec<Place>> {
    match connection {
        Connection::Node(_) => Ok(vec![Place::Node]),
        Connection::Cluster(_) => masters(connection).await,
    }
}

/// The cluster's masters, each as the lowest slot it serves, in slot order.
async fn masters(connection: &mut Connection) -> RedisResult<Vec<Place>> {
    let reply: Value = redis::cmd("CLUSTER")
        .arg("SLOTS")
        .query_async(connection)
        .await?;
    masters_from_slots(reply)
}

/// Parses `CLUSTER SLOTS`: `[[start, end, [host, port, id, …], replicas…], …]`.
fn masters_from_slots(reply: Value) -> RedisResult<Vec<Place>> {
    let Value::Array(ranges) = reply else {
        return Err(unexpected("CLUSTER SLOTS did not answer an array"));
    };
    let mut lowest: Vec<(Vec<u8>, u16)> = Vec::new();
    for range in ranges {
        let (start, master) = slot_range(range)?;
        match lowest.iter_mut().find(|(id, _)| *id == master) {
            Some((_, slot)) => *slot = (*slot).min(start),
            None => lowest.push((master, start)),
        }
    }
    let mut slots: Vec<u16> = lowest.into_iter().map(|(_, slot)| slot).collect();
    slots.sort_unstable();
    Ok(slots
        .into_iter()
        .map(|slot| Place::Master { slot })
        .collect())
}

/// One range's first slot and its master's identity (node id, or host and port
/// when the id is missing).
fn slot_range(range: Value) -> RedisResult<(u16, Vec<u8>)> {
    let malformed = || unexpected("CLUSTER SLOTS answered a malformed range");
    let Value::Array(fields) = range else {
        return Err(malformed());
    };
    let start = match fields.first() {
        Some(Value::Int(start)) => u16::try_from(*start).map_err(|_| malformed())?,
        _ => return Err(malformed()),
    };
    let Some(Value::Array(master)) = fields.get(2) else {
        return Err(malformed());
    };
    let identity = match (master.first(), master.get(1), master.get(2)) {
        (_, _, Some(Value::BulkString(id))) => id.clone(),
        (Some(Value::BulkString(host)), Some(Value::Int(port)), _) => {
            let mut identity = host.clone();
            identity.extend_from_slice(format!(":{port}").as_bytes());
            identity
        }
        _ => return Err(malformed()),
    };
    Ok((start, identity))
}

fn unexpected(what: impl Into<String>) -> RedisError {
    RedisError::from((ErrorKind::Client, "unexpected reply", what.into()))
}

/// The ranges of a `CLUSTER SLOTS` reply: start, end, master host and port.
/// Entries that do not have that shape are skipped.
pub(crate) fn slot_ranges(reply: &redis::Value) -> Vec<(u16, u16, String, u16)> {
    use redis::Value;
    let Value::Array(entries) = reply else {
        return Vec::new();
    };
    let int = |v: &Value| match v {
        Value::Int(n) => u16::try_from(*n).ok(),
        _ => None,
    };
    entries
        .iter()
        .filter_map(|entry| {
            let Value::Array(fields) = entry else {
                return None;
            };
            let (start, end) = (int(fields.first()?)?, int(fields.get(1)?)?);
            let Value::Array(master) = fields.get(2)? else {
                return None;
            };
            let host = match master.first()? {
                Value::BulkString(host) => String::from_utf8_lossy(host).into_owned(),
                Value::SimpleString(host) => host.clone(),
                _ => return None,
            };
            Some((start, end, host, int(master.get(1)?)?))
        })
        .collect()
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn range(start: i64, end: i64, id: &str) -> Value {
        let master = Value::Array(vec![
            Value::BulkString(b"127.0.0.1".to_vec()),
            Value::Int(7000),
            Value::BulkString(id.as_bytes().to_vec()),
        ]);
        Value::Array(vec![Value::Int(start), Value::Int(end), master])
    }

    #[test]
    fn masters_are_named_by_their_lowest_slot_in_order() {
        let reply = Value::Array(vec![
            range(10923, 16383, "c"),
            range(5461, 10922, "b"),
            range(100, 5460, "a"),
            range(0, 99, "c"),
        ]);
        let masters = masters_from_slots(reply).unwrap();
        let slots: Vec<u16> = masters.iter().map(|p| slot_of(*p)).collect();
        assert_eq!(slots, [0, 100, 5461]);
    }

    #[test]
    fn malformed_slots_reply_is_an_error() {
        assert!(masters_from_slots(Value::Int(1)).is_err());
        let bad = Value::Array(vec![Value::Array(vec![Value::Int(0)])]);
        assert!(masters_from_slots(bad).is_err());
    }

    #[test]
    fn cluster_cursor_walks_master_by_master() {
        let masters = [
            Place::Master { slot: 0 },
            Place::Master { slot: 5461 },
            Place::Master { slot: 10923 },
        ];
        let start = cluster_position(&masters, 0).unwrap();
        assert_eq!(start, (masters[0], 0, Some(masters[1])));
        let mid = join_cursor(masters[1], 77).unwrap();
        assert_eq!(
            cluster_position(&masters, mid).unwrap(),
            (masters[1], 77, Some(masters[2]))
        );
        let last = join_cursor(masters[2], 0).unwrap();
        assert_ne!(
            last, 0,
            "a cursor into a later master must not read as done"
        );
        assert_eq!(
            cluster_position(&masters, last).unwrap(),
            (masters[2], 0, None)
        );
        let beyond = join_cursor(Place::Master { slot: 16000 }, 5).unwrap();
        assert_eq!(cluster_position(&masters, beyond), None);
    }

    #[test]
    fn a_master_that_moved_is_scanned_from_its_start() {
        let masters = [Place::Master { slot: 0 }, Place::Master { slot: 6000 }];
        let stale = join_cursor(Place::Master { slot: 5461 }, 99).unwrap();
        assert_eq!(
            cluster_position(&masters, stale).unwrap(),
            (masters[1], 0, None)
        );
    }

    #[test]
    fn oversized_inner_cursor_is_refused() {
        assert!(join_cursor(Place::Master { slot: 1 }, 1 << 48).is_err());
        assert_eq!(join_cursor(Place::Node, u64::MAX).unwrap(), u64::MAX);
    }
}
