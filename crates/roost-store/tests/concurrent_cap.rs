//! Readers and writers hammering one store at once: the memory cap holds at every
//! observation, and the counters agree with what the shards really hold afterwards.

use std::num::NonZeroUsize;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use bytes::Bytes;
use roost_store::{entry_weight, ManualClock, PolicyKind, Store, StoreConfig};

#[test]
fn cap_holds_while_threads_write_read_and_sweep() {
    for policy in PolicyKind::ALL {
        let clock = ManualClock::new(0);
        let config = StoreConfig {
            shards: NonZeroUsize::new(2).expect("2 is non-zero"),
            max_memory_bytes: 200 * entry_weight(16, 64),
            policy,
        };
        let store = Store::new(config, Arc::new(clock.clone()));
        let writers_done = AtomicBool::new(false);
        std::thread::scope(|scope| {
            let writers: Vec<_> = (0..2u64)
                .map(|t| {
                    let store = &store;
                    scope.spawn(move || {
                        for i in 0..5_000u64 {
                            let key = Bytes::from(format!("t{t}-{:05}", i % 1_500));
                            let value = Bytes::from(vec![b'x'; ((i * 31 + t) % 200) as usize]);
                            let ttl = (i % 4 == 0).then_some(i / 10);
                            let shard = &store.shards()[(i % 2) as usize];
                            shard.set(key, value, ttl).expect("entries fit a shard");
                        }
                    })
                })
                .collect();
            scope.spawn(|| {
                let mut rounds = 0u32;
                while !writers_done.load(Ordering::Acquire) && rounds < 1_000_000 {
                    rounds += 1;
                    for shard in store.shards() {
                        assert!(shard.used_bytes() <= shard.capacity_bytes(), "{policy}");
                        let _ = shard.get(format!("t0-{:05}", rounds % 1_500).as_bytes());
                    }
                    clock.advance(std::time::Duration::from_millis(1));
                    store.shards()[(rounds % 2) as usize].sweep_expired(16);
                }
            });
            for writer in writers {
                writer.join().expect("writer thread panicked");
            }
            writers_done.store(true, Ordering::Release);
        });
        assert!(store.used_bytes() <= store.max_memory_bytes(), "{policy}");
        for shard in store.shards() {
            // Sweep everything due, then every remaining entry must be visible and counted.
            clock.set(u64::MAX);
            while shard.sweep_expired(1_000) > 0 {}
            let mut visible = 0u64;
            let mut weight = 0u64;
            shard.keys(|key, hit| {
                visible += 1;
                weight += entry_weight(key.len(), hit.value.len());
            });
            assert_eq!(visible, shard.len(), "{policy}: len drifted");
            assert_eq!(weight, shard.used_bytes(), "{policy}: used_bytes drifted");
            assert!(shard.evictions() > 0, "{policy}: the cap never bit");
        }
    }
}
