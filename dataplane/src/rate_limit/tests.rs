use proptest::prelude::*;

use super::*;

fn buckets(per_s: u64, burst: u64, keys_max: usize) -> KeyedTokenBuckets<u32, Vec<u32>> {
    KeyedTokenBuckets::new(TokenBucketConfig {
        per_s,
        burst,
        keys_max,
    })
}

#[test]
fn a_bucket_spends_its_burst_then_refills_at_its_rate_up_to_the_burst() {
    let mut b = buckets(10, 5, 4);
    assert!((0..5).all(|_| b.admit(1, 1, 1_000)));
    assert!(!b.admit(1, 1, 1_000));
    // 10 a second: one token per 100 ms.
    assert!(!b.admit(1, 1, 1_099));
    assert!(b.admit(1, 1, 1_100));
    // Another key has its own bucket.
    assert!(b.admit(2, 5, 1_100));
    // A long idle spell refills only up to the burst.
    assert!(b.admit(1, 5, 100_000));
    assert!(!b.admit(1, 1, 100_000));
}

#[test]
fn asking_for_more_than_is_left_takes_nothing() {
    let mut b = buckets(10, 5, 4);
    assert!(b.admit(1, 3, 0));
    assert!(!b.admit(1, 3, 0));
    assert!(b.admit(1, 2, 0));
    assert!(!b.admit(1, 6, 1_000_000), "more than the burst never fits");
}

#[test]
fn a_clock_going_backwards_neither_refills_nor_panics() {
    let mut b = buckets(10, 2, 4);
    assert!(b.admit(1, 2, 5_000));
    assert!(!b.admit(1, 1, 0));
    assert!(b.admit(1, 1, 5_100));
}

#[test]
fn state_is_updated_only_on_admission_and_kept_with_the_bucket() {
    let mut b = buckets(1, 2, 4);
    assert!(b.admit_with(1, 1, 0, |s| s.push(10)));
    assert!(b.admit_with(1, 1, 0, |s| s.push(11)));
    assert!(!b.admit_with(1, 1, 0, |s| s.push(12)));
    assert_eq!(b.state(&1), Some(&vec![10, 11]));
    assert_eq!(b.state(&2), None);
}

#[test]
fn a_full_table_forgets_refilled_buckets_first_and_never_evicts_a_busy_one() {
    let mut b = buckets(1, 2, 3);
    for key in 0..3 {
        assert!(b.admit_with(key, 1, 0, |s| s.push(key)));
    }
    // Everyone is mid-burst: the newcomer is judged on a fresh bucket and not stored.
    assert!(b.admit(99, 2, 0));
    assert!(b.admit(99, 2, 0), "unstored, so full again");
    assert!(!b.admit(99, 3, 0), "but never more than the burst");
    assert_eq!(b.tracked(), 3);
    assert_eq!(b.state(&0), Some(&vec![0]), "busy keys keep their state");
    // Key 0 spends again; keys 1 and 2 refill after 1 s (one token at 1 token/s).
    assert!(b.admit(0, 1, 500));
    assert!(b.admit(99, 1, 1_000));
    assert_eq!(b.tracked(), 2, "1 and 2 forgotten, 99 stored");
    assert_eq!(b.state(&0), Some(&vec![0]));
    assert_eq!(b.state(&1), None);
}

#[test]
fn zero_keys_judges_everyone_on_a_fresh_bucket() {
    let mut b = buckets(1, 2, 0);
    assert!(b.admit(1, 2, 0));
    assert!(b.admit(1, 2, 0));
    assert!(!b.admit(1, 3, 0));
    assert_eq!(b.tracked(), 0);
}

#[test]
fn a_zero_rate_never_refills() {
    let mut b = buckets(0, 1, 1);
    assert!(b.admit(1, 1, 0));
    assert!(!b.admit(1, 1, u64::MAX));
    // Never full again, so never forgotten: a newcomer is judged unstored.
    assert!(b.admit(2, 1, u64::MAX));
    assert_eq!(b.tracked(), 1);
}

proptest! {
    #[test]
    fn the_table_stays_bounded(
        ops in proptest::collection::vec((0u32..20, 1u64..4, 0u64..50), 1..400),
    ) {
        let config = TokenBucketConfig { per_s: 20, burst: 4, keys_max: 8 };
        let mut b: KeyedTokenBuckets<u32> = KeyedTokenBuckets::new(config);
        let mut now = 0u64;
        for (key, n, step) in ops {
            now += step;
            b.admit(key, n, now);
            prop_assert!(b.tracked() <= config.keys_max);
        }
    }

    #[test]
    fn a_tracked_key_never_beats_its_burst_plus_its_rate(
        ops in proptest::collection::vec((0u32..20, 1u64..4, 0u64..50), 1..400),
    ) {
        let config = TokenBucketConfig { per_s: 20, burst: 4, keys_max: 20 };
        let mut b: KeyedTokenBuckets<u32> = KeyedTokenBuckets::new(config);
        let mut now = 0u64;
        let mut taken = [0u64; 20];
        for (key, n, step) in ops {
            now += step;
            if b.admit(key, n, now) {
                taken[key as usize] += n;
            }
        }
        for t in taken {
            prop_assert!(t <= config.burst + now * config.per_s / 1000);
        }
    }
}
