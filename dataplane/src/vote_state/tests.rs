//! Each rule of a tower sync, the credits and timestamps it keeps, and the vote state codec.

use proptest::prelude::*;

use super::*;

const EPOCH: u64 = 3;

/// The bank hash slot `slot` has on the test fork.
fn h(slot: u64) -> Hash {
    Hash::hashv(&[b"bank", &slot.to_le_bytes()])
}

/// Slot hashes of a fork through `slots` (ascending), newest first.
fn fork(slots: impl IntoIterator<Item = u64>) -> Vec<(Slot, Hash)> {
    let mut v: Vec<(Slot, Hash)> = slots.into_iter().map(|s| (Slot(s), h(s))).collect();
    v.reverse();
    v
}

fn ctx(slot_hashes: &[(Slot, Hash)]) -> VoteContext<'_> {
    let bank = slot_hashes.first().map_or(Slot(1), |(s, _)| s.next());
    VoteContext {
        slot: bank,
        epoch: EPOCH,
        slot_hashes,
    }
}

fn lockouts(votes: &[(u64, u32)]) -> Vec<Lockout> {
    votes
        .iter()
        .map(|&(s, c)| Lockout {
            slot: Slot(s),
            confirmation_count: c,
        })
        .collect()
}

/// A vote for `votes` (the newest with its bank hash on the test fork).
fn tower(root: Option<u64>, votes: &[(u64, u32)]) -> TowerSync {
    let hash = votes.last().map_or(Hash::default(), |&(s, _)| h(s));
    TowerSync {
        lockouts: lockouts(votes),
        root: root.map(Slot),
        hash,
        timestamp: None,
        block_id: Hash([9; 32]),
    }
}

fn state(root: Option<u64>, votes: &[(u64, u32)]) -> VoteState {
    VoteState {
        root: root.map(Slot),
        votes: lockouts(votes),
        ..VoteState::new(Pubkey([1; 32]), Pubkey([2; 32]))
    }
}

/// Applies `t` to `s` on the fork `slot_hashes`; on error checks that `s` did not change.
fn apply(
    s: &mut VoteState,
    t: &TowerSync,
    slot_hashes: &[(Slot, Hash)],
) -> Result<(), VoteStateError> {
    let before = s.clone();
    let r = s.process_tower_sync(t, &ctx(slot_hashes));
    if r.is_err() {
        assert_eq!(*s, before, "a refused vote changed the state");
    }
    r
}

#[test]
fn a_first_vote_becomes_the_tower() {
    let mut s = state(None, &[]);
    let mut t = tower(None, &[(3, 2), (5, 1)]);
    t.timestamp = Some(1_700_000_000);
    apply(&mut s, &t, &fork(0..=5)).unwrap();
    assert_eq!(s.votes, lockouts(&[(3, 2), (5, 1)]));
    assert_eq!(s.root, None);
    assert_eq!(s.last_voted_slot(), Some(Slot(5)));
    assert_eq!(s.last_timestamp, Some((Slot(5), 1_700_000_000)));
    // No root moved: no credits, no epoch entry.
    assert_eq!((s.credits, s.epoch_credits.len()), (0, 0));
}

#[test]
fn an_empty_or_oversized_tower_is_refused() {
    let mut s = state(None, &[]);
    let slot_hashes = fork(0..=40);
    assert_eq!(
        apply(&mut s, &tower(None, &[]), &slot_hashes),
        Err(VoteStateError::EmptySlots)
    );
    let many: Vec<(u64, u32)> = (1..=32).map(|i| (i, 33 - i as u32)).collect();
    assert_eq!(
        apply(&mut s, &tower(None, &many), &slot_hashes),
        Err(VoteStateError::TooManyVotes { count: 32 })
    );
}

#[test]
fn confirmation_counts_must_be_in_range() {
    let mut s = state(None, &[]);
    let slot_hashes = fork(0..=5);
    assert_eq!(
        apply(&mut s, &tower(None, &[(5, 0)]), &slot_hashes),
        Err(VoteStateError::ZeroConfirmations { slot: Slot(5) })
    );
    assert_eq!(
        apply(&mut s, &tower(None, &[(5, 32)]), &slot_hashes),
        Err(VoteStateError::ConfirmationTooLarge {
            slot: Slot(5),
            confirmation_count: 32
        })
    );
    assert_eq!(
        VoteStateError::ConfirmationTooLarge {
            slot: Slot(5),
            confirmation_count: 32
        }
        .code(),
        VoteErrorCode::ConfirmationTooLarge
    );
}

#[test]
fn slots_must_rise_and_confirmations_fall() {
    let mut s = state(None, &[]);
    let slot_hashes = fork(0..=6);
    assert_eq!(
        apply(&mut s, &tower(None, &[(5, 2), (4, 1)]), &slot_hashes),
        Err(VoteStateError::SlotsNotOrdered {
            previous: Slot(5),
            slot: Slot(4)
        })
    );
    assert_eq!(
        apply(&mut s, &tower(None, &[(4, 1), (5, 1)]), &slot_hashes),
        Err(VoteStateError::ConfirmationsNotOrdered {
            previous_slot: Slot(4),
            previous: 1,
            slot: Slot(5),
            confirmation_count: 1
        })
    );
}

#[test]
fn a_vote_past_the_lockout_below_it_is_refused() {
    // Slot 2 with 2 confirmations locks until slot 6; a vote on 7 should have popped it.
    let mut s = state(None, &[]);
    let e = apply(&mut s, &tower(None, &[(2, 2), (7, 1)]), &fork(0..=7)).unwrap_err();
    assert_eq!(
        e,
        VoteStateError::NewVoteStateLockoutMismatch {
            previous: Slot(2),
            last_locked_out: Slot(6),
            slot: Slot(7)
        }
    );
    assert_eq!(e.code().code(), 7);
}

#[test]
fn a_lockout_at_or_below_the_root_is_refused() {
    let mut s = state(None, &[]);
    assert_eq!(
        apply(&mut s, &tower(Some(5), &[(5, 1)]), &fork(0..=5)),
        Err(VoteStateError::SlotSmallerThanRoot {
            slot: Slot(5),
            root: Slot(5)
        })
    );
    // Agave's exception: a tower rooted at slot 0 may hold slot 0.
    apply(&mut s, &tower(Some(0), &[(0, 2), (1, 1)]), &fork(0..=1)).unwrap();
    assert_eq!(s.root, Some(Slot(0)));
}

#[test]
fn the_root_never_rolls_back() {
    let slot_hashes = fork(0..=12);
    let mut s = state(Some(5), &[(10, 1)]);
    assert_eq!(
        apply(&mut s, &tower(Some(4), &[(11, 1)]), &slot_hashes),
        Err(VoteStateError::RootRollBack {
            current: Slot(5),
            proposed: Some(Slot(4))
        })
    );
    assert_eq!(
        apply(&mut s, &tower(None, &[(11, 1)]), &slot_hashes),
        Err(VoteStateError::RootRollBack {
            current: Slot(5),
            proposed: None
        })
    );
    apply(&mut s, &tower(Some(5), &[(10, 2), (11, 1)]), &slot_hashes).unwrap();
}

#[test]
fn a_vote_not_newer_than_the_last_is_too_old() {
    let slot_hashes = fork(0..=12);
    let mut s = state(None, &[(10, 1)]);
    for last in [9, 10] {
        let e = apply(&mut s, &tower(None, &[(last, 1)]), &slot_hashes).unwrap_err();
        assert_eq!(
            e,
            VoteStateError::VoteTooOld {
                last_voted: Slot(10),
                proposed: Slot(last)
            }
        );
        assert_eq!(e.code(), VoteErrorCode::VoteTooOld);
    }
    // Older than every slot hash the bank keeps: too old as well.
    let mut fresh = state(None, &[]);
    let e = apply(&mut fresh, &tower(None, &[(8, 1)]), &fork(10..=20)).unwrap_err();
    assert_eq!(
        e,
        VoteStateError::OlderThanSlotHashes {
            proposed: Slot(8),
            earliest: Slot(10)
        }
    );
    assert_eq!(e.code(), VoteErrorCode::VoteTooOld);
}

#[test]
fn dropping_a_still_locked_vote_conflicts() {
    let slot_hashes = fork(0..=12);
    // Slot 6 with one confirmation locks until slot 8: a tower that drops it for 7 breaks it.
    let mut s = state(None, &[(4, 2), (6, 1)]);
    assert_eq!(
        apply(&mut s, &tower(None, &[(4, 2), (7, 1)]), &slot_hashes),
        Err(VoteStateError::LockoutConflict {
            slot: Slot(6),
            last_locked_out: Slot(8),
            new_slot: Slot(7)
        })
    );
    // At slot 9 both old votes have expired and pop off.
    apply(&mut s, &tower(None, &[(9, 1)]), &slot_hashes).unwrap();
    assert_eq!(s.votes, lockouts(&[(9, 1)]));
}

#[test]
fn a_kept_vote_cannot_lose_confirmations() {
    let mut s = state(None, &[(4, 3), (6, 2), (7, 1)]);
    assert_eq!(
        apply(&mut s, &tower(None, &[(4, 2), (8, 1)]), &fork(0..=8)),
        Err(VoteStateError::ConfirmationRollBack {
            slot: Slot(4),
            current: 3,
            proposed: 2
        })
    );
}

#[test]
fn the_vote_hash_must_be_its_slots_bank_hash() {
    let mut s = state(None, &[]);
    let mut t = tower(None, &[(5, 1)]);
    t.hash = h(4);
    assert_eq!(
        apply(&mut s, &t, &fork(0..=5)),
        Err(VoteStateError::SlotHashMismatch {
            slot: Slot(5),
            bank_hash: h(5),
            vote_hash: h(4)
        })
    );
}

#[test]
fn voted_slots_must_be_ancestors_of_the_bank() {
    // Slot 3 is on another fork: this one goes 0, 1, 2, 4, 5.
    let slot_hashes = fork([0, 1, 2, 4, 5]);
    let mut s = state(None, &[]);
    assert_eq!(
        apply(&mut s, &tower(None, &[(3, 2), (5, 1)]), &slot_hashes),
        Err(VoteStateError::SlotsMismatch {
            slot: Slot(3),
            bank: Slot(6)
        })
    );
    assert_eq!(
        apply(&mut s, &tower(Some(3), &[(5, 1)]), &slot_hashes),
        Err(VoteStateError::RootOnDifferentFork {
            root: Slot(3),
            bank: Slot(6)
        })
    );
    // The executing bank itself is no strict ancestor.
    assert_eq!(
        apply(&mut s, &tower(None, &[(6, 1)]), &slot_hashes),
        Err(VoteStateError::SlotsMismatch {
            slot: Slot(6),
            bank: Slot(6)
        })
    );
    // A bank with no ancestors takes no vote.
    assert!(matches!(
        apply(&mut s, &tower(None, &[(0, 1)]), &[]),
        Err(VoteStateError::SlotsMismatch { .. })
    ));
}

#[test]
fn old_lockouts_outside_the_slot_hashes_are_dropped_unless_already_held() {
    // The bank remembers slots 10..=20; the voter's tower still holds 8 (known) and 9 (not).
    let slot_hashes = fork(10..=20);
    let mut s = state(None, &[(8, 2)]);
    let t = tower(Some(5), &[(8, 3), (9, 2), (12, 1)]);
    apply(&mut s, &t, &slot_hashes).unwrap();
    assert_eq!(s.votes, lockouts(&[(8, 3), (12, 1)]));
    // The root 5 is older than the slot hashes and the old tower has nothing at or below it.
    assert_eq!(s.root, None);
}

#[test]
fn credits_count_old_votes_the_new_root_passes() {
    let slot_hashes = fork(0..=10);
    let mut s = state(None, &[(1, 4), (2, 3), (3, 2), (4, 1)]);
    apply(
        &mut s,
        &tower(Some(2), &[(3, 3), (4, 2), (5, 1)]),
        &slot_hashes,
    )
    .unwrap();
    assert_eq!(s.credits, 2);
    assert_eq!(s.epoch_credits, vec![(EPOCH, 2, 0)]);
    // The next epoch opens a new entry that starts from the total so far.
    let next = VoteContext {
        epoch: EPOCH + 1,
        ..ctx(&slot_hashes)
    };
    s.process_tower_sync(&tower(Some(3), &[(4, 3), (5, 2), (6, 1)]), &next)
        .unwrap();
    assert_eq!(s.credits, 3);
    assert_eq!(s.epoch_credits, vec![(EPOCH, 2, 0), (EPOCH + 1, 3, 2)]);
}

#[test]
fn epoch_credits_keep_the_last_64_epochs() {
    let mut s = state(None, &[]);
    for epoch in 0..100 {
        s.increment_credits(epoch, 1);
    }
    assert_eq!(s.epoch_credits.len(), MAX_EPOCH_CREDITS_HISTORY);
    assert_eq!(s.epoch_credits.first(), Some(&(36, 37, 36)));
    assert_eq!(s.epoch_credits.last(), Some(&(99, 100, 99)));
    assert_eq!(s.credits, 100);
    // An epoch with nothing earned is renamed rather than kept.
    let mut idle = state(None, &[]);
    idle.increment_credits(1, 0);
    idle.increment_credits(2, 0);
    assert_eq!(idle.epoch_credits, vec![(2, 0, 0)]);
}

#[test]
fn timestamps_never_go_back() {
    let slot_hashes = fork(0..=10);
    let mut s = state(None, &[]);
    let mut t = tower(None, &[(5, 1)]);
    t.timestamp = Some(100);
    apply(&mut s, &t, &slot_hashes).unwrap();
    // No timestamp: the last one stays.
    apply(&mut s, &tower(None, &[(5, 2), (6, 1)]), &slot_hashes).unwrap();
    assert_eq!(s.last_timestamp, Some((Slot(5), 100)));
    let mut older = tower(None, &[(5, 3), (6, 2), (7, 1)]);
    older.timestamp = Some(99);
    assert_eq!(
        apply(&mut s, &older, &slot_hashes),
        Err(VoteStateError::TimestampTooOld {
            slot: Slot(7),
            timestamp: 99,
            last_slot: Slot(5),
            last_timestamp: 100
        })
    );
    older.timestamp = Some(100);
    apply(&mut s, &older, &slot_hashes).unwrap();
    assert_eq!(s.last_timestamp, Some((Slot(7), 100)));
}

#[test]
fn error_codes_are_agaves() {
    for (i, code) in VoteErrorCode::ALL.iter().enumerate() {
        assert_eq!(code.code() as usize, i);
        assert_eq!(VoteErrorCode::from_code(i as u32), Some(*code));
    }
    assert_eq!(VoteErrorCode::from_code(21), None);
    assert_eq!(VoteErrorCode::SlotHashMismatch.code(), 2);
    assert_eq!(VoteErrorCode::LockoutConflict.code(), 6);
    assert_eq!(VoteErrorCode::RootRollBack.code(), 12);
    assert_eq!(
        VoteErrorCode::RootOnDifferentFork.to_string(),
        "vote error RootOnDifferentFork (17)"
    );
}

#[test]
fn the_delta_hash_is_order_free_and_empty_hashes_nothing() {
    assert_eq!(vote_delta_hash(std::iter::empty()), Hash::of(&[]));
    let a = (Pubkey([1; 32]), state(None, &[(1, 1)]));
    let b = (Pubkey([2; 32]), state(Some(3), &[(4, 1)]));
    let forward = vote_delta_hash([(&a.0, &a.1), (&b.0, &b.1)]);
    let backward = vote_delta_hash([(&b.0, &b.1), (&a.0, &a.1)]);
    assert_eq!(forward, backward);
    let mut bytes = a.0 .0.to_vec();
    bytes.extend(a.1.to_bytes());
    bytes.extend(b.0 .0);
    bytes.extend(b.1.to_bytes());
    assert_eq!(forward, Hash::of(&bytes));
}

#[test]
fn bad_state_bytes_are_refused_by_name() {
    let s = VoteState {
        last_timestamp: Some((Slot(4), -3)),
        epoch_credits: vec![(1, 2, 3)],
        credits: 2,
        ..state(Some(2), &[(3, 2), (4, 1)])
    };
    let bytes = s.to_bytes();
    assert_eq!(VoteState::decode(&bytes), Ok(s.clone()));
    let mut trailing = bytes.clone();
    trailing.push(0);
    assert_eq!(
        VoteState::decode(&trailing),
        Err(VoteStateDecodeError::TrailingBytes(1))
    );
    let mut version = bytes.clone();
    version[0] = 2;
    assert_eq!(
        VoteState::decode(&version),
        Err(VoteStateDecodeError::UnknownVersion(2))
    );
    let mut votes = bytes.clone();
    votes[65] = 32;
    assert_eq!(
        VoteState::decode(&votes),
        Err(VoteStateDecodeError::TooManyVotes(32))
    );
    let mut tag = bytes.clone();
    tag[66 + 2 * 12] = 2;
    assert_eq!(
        VoteState::decode(&tag),
        Err(VoteStateDecodeError::BadOptionTag {
            field: "root",
            tag: 2
        })
    );
    let mut epochs = bytes;
    epochs[66 + 2 * 12 + 9 + 8] = 65;
    assert_eq!(
        VoteState::decode(&epochs),
        Err(VoteStateDecodeError::TooManyEpochCredits(65))
    );
}

fn vote_state_strategy() -> impl Strategy<Value = VoteState> {
    (
        (any::<[u8; 32]>(), any::<[u8; 32]>()),
        proptest::collection::vec((any::<u64>(), any::<u32>()), 0..=MAX_LOCKOUT_HISTORY),
        proptest::option::of(any::<u64>()),
        any::<u64>(),
        proptest::collection::vec(
            (any::<u64>(), any::<u64>(), any::<u64>()),
            0..=MAX_EPOCH_CREDITS_HISTORY,
        ),
        proptest::option::of((any::<u64>(), any::<i64>())),
    )
        .prop_map(
            |((node, voter), votes, root, credits, epoch_credits, ts)| VoteState {
                node: Pubkey(node),
                authorized_voter: Pubkey(voter),
                votes: votes
                    .into_iter()
                    .map(|(s, c)| Lockout {
                        slot: Slot(s),
                        confirmation_count: c,
                    })
                    .collect(),
                root: root.map(Slot),
                credits,
                epoch_credits,
                last_timestamp: ts.map(|(s, t)| (Slot(s), t)),
            },
        )
}

proptest! {
    #[test]
    fn states_round_trip_within_the_size_bound(s in vote_state_strategy()) {
        let bytes = s.to_bytes();
        prop_assert!(bytes.len() <= VOTE_STATE_SIZE_MAX);
        prop_assert_eq!(VoteState::decode(&bytes), Ok(s));
    }

    #[test]
    fn truncated_states_are_refused(s in vote_state_strategy(), cut in any::<prop::sample::Index>()) {
        let bytes = s.to_bytes();
        let short = &bytes[..cut.index(bytes.len())];
        prop_assert!(VoteState::decode(short).is_err());
    }

    #[test]
    fn garbage_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..2100)) {
        let _ = VoteState::decode(&bytes);
    }

    /// An honest voter's towers, voting on every slot of one fork, are always accepted, and the
    /// state then equals the tower.
    #[test]
    fn an_honest_towers_votes_are_accepted(skips in proptest::collection::vec(0u64..3, 1..80)) {
        let mut slots = vec![0u64];
        for skip in &skips {
            let last = *slots.last().unwrap_or(&0);
            slots.push(last + 1 + skip);
        }
        let mut s = state(None, &[]);
        let mut honest: Vec<Lockout> = Vec::new();
        let mut root: Option<Slot> = None;
        for (i, &slot) in slots.iter().enumerate() {
            // Tower BFT's vote: pop expired votes, push, double the lockouts that are stacked on.
            while honest.last().is_some_and(|l| l.last_locked_out_slot() < Slot(slot)) {
                honest.pop();
            }
            if honest.len() == MAX_LOCKOUT_HISTORY {
                root = Some(honest.remove(0).slot);
            }
            honest.push(Lockout::new(Slot(slot)));
            let n = honest.len();
            for (j, l) in honest.iter_mut().enumerate() {
                if n > j + l.confirmation_count as usize {
                    l.confirmation_count += 1;
                }
            }
            let votes: Vec<(u64, u32)> = honest.iter().map(|l| (l.slot.0, l.confirmation_count)).collect();
            let bank_fork = fork(slots[..=i].iter().copied());
            apply(&mut s, &tower(root.map(|r| r.0), &votes), &bank_fork).unwrap();
            prop_assert_eq!(&s.votes, &honest);
            prop_assert_eq!(s.root, root);
        }
    }
}
