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

/// Sum of what the resident entries weigh (none has a deadline here).
fn resident_weight(shard: &Shard) -> u64 {
    let mut total = 0;
    shard.keys(|key, hit| {
        total +=
            entry_weight(key.len(), hit.value.len()) + hit.collection().map_or(0, |c| c.charge());
    });
    total
}

#[test]
fn pairs_move_together_and_the_books_balance_under_eviction() {
    let capacity = 16 * 1024;
    let (shard, _) = shard(capacity);
    let mut moves = 0;
    for round in 0..300u32 {
        let (from, to) = (format!("l{}", round % 7), format!("l{}", (round + 3) % 7));
        push(
            &shard,
            &from,
            &[format!("item-{round}").as_bytes(), b"filler-filler"],
        )
        .unwrap();
        let growth = Collection::growth(Kind::List, 1, 64);
        let moved = shard
            .update_collection_pair((key(&from), key(&to)), Kind::List, growth, |a, b| {
                let (Collection::List(a), Collection::List(b)) = (a, b) else {
                    unreachable!()
                };
                let item = a.pop_front()?;
                b.push_back(&item);
                Some(item)
            })
            .unwrap();
        // The policy may have evicted the source at once: nothing to move.
        moves += u32::from(moved.is_some());
        assert!(shard.used_bytes() <= capacity, "round {round}");
        assert_eq!(shard.used_bytes(), resident_weight(&shard), "round {round}");
    }
    assert!(shard.evictions() > 0, "the cap was reached");
    assert!(moves > 200, "{moves} moves");
    let refused = shard.update_collection_pair((key("l0"), key("s")), Kind::List, 0, |_, _| ());
    shard.set(key("s"), key("string"), None).unwrap();
    let wrong = shard.update_collection_pair((key("l0"), key("s")), Kind::List, 0, |_, _| ());
    assert!(refused.is_ok());
    assert_eq!(wrong, Err(StoreError::WrongType));
}

#[test]
fn put_collection_replaces_any_type_and_an_empty_one_removes_the_key() {
    let (shard, _) = shard(1 << 20);
    shard.set(key("k"), key("string"), Some(9_000)).unwrap();
    let mut set = roost_store::collection::Set::default();
    set.insert(b"a");
    shard
        .put_collection(key("k"), Collection::Set(set))
        .unwrap();
    let hit = shard.get(b"k").unwrap();
    assert_eq!((hit.type_name(), hit.expires_at), ("set", None));
    assert_eq!(shard.used_bytes(), resident_weight(&shard));
    shard
        .put_collection(key("k"), Collection::new(Kind::Set))
        .unwrap();
    assert!(shard.get(b"k").is_none());
    assert_eq!((shard.len(), shard.used_bytes()), (0, 0));
}
