//! Collections as native entries of a shard (issue 17, item 2): charged by
//! their elements with the cap never passed, evicted whole by the policy,
//! refused before they run when they could not fit, WRONGTYPE both ways,
//! empty ones removed, deadlines kept across writes and changed by EXPIRE.

#![allow(clippy::unwrap_used)]

use std::sync::Arc;

use bytes::Bytes;
use roost_store::{
    entry_weight, Collection, Kind, ManualClock, Mutation, PolicyKind, Shard, StoreError,
};

fn shard(capacity: u64) -> (Shard, ManualClock) {
    let clock = ManualClock::new(1_000);
    (
        Shard::new(PolicyKind::default(), capacity, Arc::new(clock.clone())),
        clock,
    )
}

fn key(s: &str) -> Bytes {
    Bytes::copy_from_slice(s.as_bytes())
}

fn push(shard: &Shard, k: &str, items: &[&[u8]]) -> Result<usize, StoreError> {
    let bytes = items.iter().map(|i| i.len()).sum();
    let growth = Collection::growth(Kind::List, items.len(), bytes);
    shard.update_collection(key(k), Kind::List, growth, |c| {
        let Collection::List(l) = c else {
            unreachable!()
        };
        for item in items {
            l.push_back(item);
        }
        l.len()
    })
}

#[test]
fn a_collection_is_charged_by_its_elements_and_empty_ones_are_removed() {
    let (shard, _) = shard(1 << 20);
    assert_eq!(push(&shard, "l", &[b"abc", b"de"]), Ok(2));
    let held = shard.get(b"l").unwrap();
    assert_eq!(held.type_name(), "list");
    let charge = held.collection().unwrap().charge();
    assert_eq!(
        charge,
        Kind::List.base_overhead() + 5 + 2 * Kind::List.element_overhead()
    );
    assert_eq!(shard.used_bytes(), entry_weight(1, 0) + charge);
    // Popping everything removes the key, and its charge.
    shard
        .update_collection(key("l"), Kind::List, 0, |c| {
            let Collection::List(l) = c else {
                unreachable!()
            };
            while l.pop_front().is_some() {}
        })
        .unwrap();
    assert!(shard.get(b"l").is_none());
    assert_eq!((shard.len(), shard.used_bytes()), (0, 0));
    // A write that adds nothing to an absent key creates nothing.
    assert_eq!(push(&shard, "never", &[]), Ok(0));
    assert!(shard.is_empty());
}

#[test]
fn wrong_types_are_refused_both_ways_and_a_set_replaces_a_collection() {
    let (shard, _) = shard(1 << 20);
    shard.set(key("s"), key("string"), None).unwrap();
    assert_eq!(push(&shard, "s", &[b"x"]), Err(StoreError::WrongType));
    assert_eq!(shard.get(b"s").unwrap().value, key("string"));
    push(&shard, "l", &[b"x"]).unwrap();
    let as_hash = shard.update_collection(key("l"), Kind::Hash, 100, |_| ());
    assert_eq!(as_hash, Err(StoreError::WrongType));
    shard.set(key("l"), key("now a string"), None).unwrap();
    let hit = shard.get(b"l").unwrap();
    assert_eq!(
        (hit.type_name(), hit.value),
        ("string", key("now a string"))
    );
}

#[test]
fn a_write_that_could_not_fit_is_refused_before_it_runs() {
    let (shard, _) = shard(2_000);
    let mut ran = false;
    let refused = shard.update_collection(key("l"), Kind::List, 10_000, |_| ran = true);
    assert!(
        matches!(refused, Err(StoreError::EntryTooLarge { .. })),
        "{refused:?}"
    );
    assert!(!ran, "nothing ran");
    assert!(shard.is_empty());
}

#[test]
fn the_cap_holds_and_the_policy_evicts_whole_collections() {
    let capacity = 64 * 1024;
    let (shard, _) = shard(capacity);
    for i in 0..200 {
        let items: Vec<Vec<u8>> = (0..20)
            .map(|j| format!("item-{i}-{j}").into_bytes())
            .collect();
        let items: Vec<&[u8]> = items.iter().map(Vec::as_slice).collect();
        push(&shard, &format!("list-{i}"), &items).unwrap();
        assert!(shard.used_bytes() <= capacity, "after list {i}");
    }
    assert!(shard.evictions() > 0);
    // What stays is whole: every resident list holds its 20 items.
    let mut resident = 0;
    shard.keys(|_, hit| {
        resident += 1;
        assert_eq!(hit.collection().unwrap().read().len(), 20);
    });
    assert!(resident > 0 && resident < 200, "{resident}");
}

#[test]
fn deadlines_are_kept_across_writes_and_retimed_by_expire() {
    let (shard, clock) = shard(1 << 20);
    push(&shard, "l", &[b"a"]).unwrap();
    shard
        .update(key("l"), |_| {
            (
                Mutation::Retime {
                    expires_at: Some(5_000),
                },
                (),
            )
        })
        .unwrap();
    push(&shard, "l", &[b"b"]).unwrap();
    let hit = shard.get(b"l").unwrap();
    assert_eq!(hit.expires_at, Some(5_000), "a write keeps the deadline");
    assert_eq!(
        hit.collection().unwrap().read().len(),
        2,
        "EXPIRE kept the list"
    );
    clock.advance(std::time::Duration::from_secs(5));
    assert!(shard.get(b"l").is_none(), "expired");
    assert_eq!(shard.expirations(), 1);
    assert_eq!(
        push(&shard, "l", &[b"fresh"]),
        Ok(1),
        "a new list, not the old one"
    );
}
