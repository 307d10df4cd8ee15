//! Node-level facts read from Redis's INFO text: key counts, memory and the
//! eviction and expiry counters. Owns the parsing and the summing over a
//! cluster's masters; it sends nothing.

/// Node-level facts gathered by one probe.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NodeInfo {
    /// Keys in the link's database (`keys=` of its `db<N>` line).
    pub keys: u64,
    /// Keys with a deadline in the link's database.
    pub expires: u64,
    pub used_memory: u64,
    /// The configured memory cap; 0 means none.
    pub maxmemory: u64,
    pub evicted_keys: u64,
    pub expired_keys: u64,
}

impl NodeInfo {
    /// The facts in one INFO reply, for database `db`. Missing fields count 0
    /// (a database without keys has no `db<N>` line at all).
    pub(crate) fn parse(text: &str, db: i64) -> NodeInfo {
        let keyspace_prefix = format!("db{db}:");
        let mut info = NodeInfo::default();
        for line in text.lines().map(str::trim_end) {
            if let Some(stats) = line.strip_prefix(&keyspace_prefix) {
                info.keys = keyspace_field(stats, "keys");
                info.expires = keyspace_field(stats, "expires");
                continue;
            }
            let Some((name, value)) = line.split_once(':') else {
                continue;
            };
            let slot = match name {
                "used_memory" => &mut info.used_memory,
                "maxmemory" => &mut info.maxmemory,
                "evicted_keys" => &mut info.evicted_keys,
                "expired_keys" => &mut info.expired_keys,
                _ => continue,
            };
            *slot = value.parse().unwrap_or(0);
        }
        info
    }

    /// Adds `other`'s numbers to these (a cluster is the sum of its masters).
    pub(crate) fn add(&mut self, other: &NodeInfo) {
        self.keys += other.keys;
        self.expires += other.expires;
        self.used_memory += other.used_memory;
        self.maxmemory += other.maxmemory;
        self.evicted_keys += other.evicted_keys;
        self.expired_keys += other.expired_keys;
    }
}

/// `name=<n>` out of `keys=3,expires=1,avg_ttl=0`.
fn keyspace_field(stats: &str, name: &str) -> u64 {
    stats
        .split(',')
        .filter_map(|pair| pair.split_once('='))
        .find(|(key, _)| *key == name)
        .and_then(|(_, value)| value.parse().ok())
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    const SAMPLE: &str = "# Memory\r\nused_memory:1048576\r\nused_memory_human:1.00M\r\n\
        maxmemory:67108864\r\n\r\n# Stats\r\nexpired_keys:12\r\nexpired_stale_perc:0.00\r\n\
        evicted_keys:3\r\n\r\n# Keyspace\r\ndb0:keys=42,expires=7,avg_ttl=1000\r\n\
        db2:keys=5,expires=0,avg_ttl=0\r\n";

    #[test]
    fn reads_the_numbers_of_the_links_database() {
        let info = NodeInfo::parse(SAMPLE, 0);
        let expected = NodeInfo {
            keys: 42,
            expires: 7,
            used_memory: 1_048_576,
            maxmemory: 67_108_864,
            evicted_keys: 3,
            expired_keys: 12,
        };
        assert_eq!(info, expected);
        let other_db = NodeInfo::parse(SAMPLE, 2);
        assert_eq!((other_db.keys, other_db.expires), (5, 0));
    }

    #[test]
    fn an_empty_database_has_no_keyspace_line() {
        let info = NodeInfo::parse(SAMPLE, 5);
        assert_eq!((info.keys, info.expires), (0, 0));
        assert_eq!(info.used_memory, 1_048_576);
    }

    #[test]
    fn masters_add_up() {
        let mut total = NodeInfo::parse(SAMPLE, 0);
        total.add(&NodeInfo::parse(SAMPLE, 2));
        assert_eq!(total.keys, 47);
        assert_eq!(total.used_memory, 2 * 1_048_576);
        assert_eq!(total.evicted_keys, 6);
    }
}
