//! Push: new values are queued and, every flush, sent to a few peers of the active set, chosen by
//! a seeded, stake-weighted draw. Each value goes to the first `push_fanout` peers of the set that
//! did not prune its origin, so a prune hands the origin's values on to a spare peer. The set is
//! renewed one peer at a time, as in Solana, so the prunes each peer sent stay in force for its
//! whole stay rather than being lost to a wholesale redraw.

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::Arc;

use dataplane::types::Pubkey;
use rand::Rng;

use super::crds::SignedValue;
use super::wire::{value_encoded_len, DATAGRAM_LEN_MAX, VALUES_HEADER_LEN, VALUES_PER_MESSAGE_MAX};

/// A peer pushed to, and the origins whose values it asked not to get.
#[derive(Debug)]
pub(crate) struct ActivePeer {
    /// The peer.
    pub pubkey: Pubkey,
    /// Its origin index in the table.
    pub index: usize,
    /// Its gossip address, as its contact info said at the last flush.
    pub addr: SocketAddr,
    /// Origins it pruned, one bit per origin index (so bounded by the validator set). Forgotten
    /// when the peer leaves the active set: the next time it is drawn, it ranks its pushers
    /// afresh.
    pruned: Vec<u64>,
    /// Bits set in `pruned`.
    pruned_count: usize,
}

impl ActivePeer {
    /// A newly drawn peer at origin index `index` of a table of `origin_count` and gossip address
    /// `addr`, nothing pruned.
    pub fn new(pubkey: Pubkey, index: usize, addr: SocketAddr, origin_count: usize) -> ActivePeer {
        ActivePeer {
            pubkey,
            index,
            addr,
            pruned: vec![0; origin_count.div_ceil(64)],
            pruned_count: 0,
        }
    }

    /// Whether values of the origin at `origin` go to this peer: not its own, and not pruned.
    pub fn wants(&self, origin: usize) -> bool {
        origin != self.index
            && self
                .pruned
                .get(origin / 64)
                .is_none_or(|word| word & (1 << (origin % 64)) == 0)
    }

    /// Marks the origin at `origin` pruned; whether it was not already.
    pub fn prune(&mut self, origin: usize) -> bool {
        let Some(word) = self.pruned.get_mut(origin / 64) else {
            return false;
        };
        let bit = 1 << (origin % 64);
        if *word & bit != 0 {
            return false;
        }
        *word |= bit;
        self.pruned_count += 1;
        true
    }

    /// Origins pruned.
    pub fn pruned_count(&self) -> usize {
        self.pruned_count
    }
}

/// What push keeps between flushes.
#[derive(Debug, Default)]
pub(crate) struct PushState {
    /// Values to send at the next flush, oldest first.
    pub queue: VecDeque<Arc<SignedValue>>,
    /// The peers pushed to, longest-standing first.
    pub active_set: Vec<ActivePeer>,
    /// When the queue is flushed next.
    pub next_flush_ms: u64,
    /// When the oldest peer of the active set is replaced next.
    pub next_rotate_ms: u64,
}

/// Which peer leaves the active set at a rotation (`peers` holds one more than its size, the new
/// draw last): among the others, the one that pruned the most origins, the longest-standing on
/// ties. Solana drops the longest-standing; but a peer that pruned little still relies on this
/// node for many origins, and cutting such kept paths is what made votes miss nodes (measured in
/// the 100-node harness: 99.0–99.4 % of (vote, node) pairs delivered before the next vote that
/// way, 99.7 % this way, for 4 % more datagrams).
pub(crate) fn evictee(peers: &[ActivePeer]) -> usize {
    let old = &peers[..peers.len().saturating_sub(1)];
    let mut most = 0;
    for (i, peer) in old.iter().enumerate() {
        if peer.pruned_count() > old[most].pruned_count() {
            most = i;
        }
    }
    most
}

/// A peer's weight in push and pull choices: `(⌈log2(stake + 1)⌉ + 1)²`. Stake counts, but by
/// order of magnitude: weights linear in stake would send most traffic to the largest validator.
pub(crate) fn stake_weight(stake: u64) -> u64 {
    let bucket = u64::from(64 - stake.leading_zeros());
    (bucket + 1) * (bucket + 1)
}

/// Draws up to `k` distinct peers from `candidates` (peer, weight), each draw weighted among those
/// left. O(n·k) in integers, so one seed gives the same draw on every machine.
pub(crate) fn weighted_sample(
    candidates: &[(Pubkey, u64)],
    k: usize,
    rng: &mut impl Rng,
) -> Vec<Pubkey> {
    let mut left: Vec<(Pubkey, u64)> = candidates.to_vec();
    let mut chosen = Vec::with_capacity(k.min(left.len()));
    while chosen.len() < k && !left.is_empty() {
        let total: u128 = left.iter().map(|&(_, w)| u128::from(w.max(1))).sum();
        let mut point = rng.gen_range(0..total);
        let mut index = left.len() - 1;
        for (i, &(_, w)) in left.iter().enumerate() {
            let w = u128::from(w.max(1));
            if point < w {
                index = i;
                break;
            }
            point -= w;
        }
        chosen.push(left.remove(index).0);
    }
    chosen
}

/// Packs values into push datagrams (first fit: each value goes into the first datagram with room),
/// each within [`DATAGRAM_LEN_MAX`] bytes and [`VALUES_PER_MESSAGE_MAX`] values.
pub(crate) fn pack<'a>(
    values: impl Iterator<Item = &'a Arc<SignedValue>>,
) -> Vec<Vec<Arc<SignedValue>>> {
    let mut batches: Vec<(usize, Vec<Arc<SignedValue>>)> = Vec::new();
    for value in values {
        let len = value_encoded_len(value);
        let room = batches.iter_mut().find(|(used, batch)| {
            used + len <= DATAGRAM_LEN_MAX && batch.len() < VALUES_PER_MESSAGE_MAX
        });
        match room {
            Some((used, batch)) => {
                *used += len;
                batch.push(value.clone());
            }
            None => {
                // Room for a few: most datagrams carry two votes, or more smaller values.
                let mut batch = Vec::with_capacity(4);
                batch.push(value.clone());
                batches.push((VALUES_HEADER_LEN + len, batch));
            }
        }
    }
    batches.into_iter().map(|(_, batch)| batch).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gossip::crds::CrdsData;
    use rand::SeedableRng;
    use rand_chacha::ChaCha8Rng;

    fn vote(len: usize) -> Arc<SignedValue> {
        Arc::new(SignedValue::new(
            Pubkey([1; 32]),
            0,
            CrdsData::Vote { tx: vec![0; len] },
            [0; 64],
        ))
    }

    #[test]
    fn packing_fills_datagrams_first_fit() {
        // 457-byte values: two per datagram; a 200-byte one fills the first datagram's gap.
        let values = [vote(350), vote(350), vote(350), vote(93)];
        let batches = pack(values.iter());
        assert_eq!(batches.iter().map(Vec::len).collect::<Vec<_>>(), vec![3, 1]);
        for batch in &batches {
            let len: usize = batch.iter().map(|v| value_encoded_len(v)).sum();
            assert!(VALUES_HEADER_LEN + len <= DATAGRAM_LEN_MAX);
        }
        let small: Vec<_> = (0..40).map(|_| vote(0)).collect();
        let batches = pack(small.iter());
        assert!(batches.iter().all(|b| b.len() <= VALUES_PER_MESSAGE_MAX));
        assert_eq!(batches.iter().map(Vec::len).sum::<usize>(), 40);
    }

    #[test]
    fn the_draw_is_weighted_distinct_and_reproducible() {
        let candidates: Vec<(Pubkey, u64)> = (0..10u8)
            .map(|i| (Pubkey([i; 32]), if i == 0 { 1_000 } else { 1 }))
            .collect();
        let mut rng = ChaCha8Rng::seed_from_u64(5);
        let mut first = 0;
        for _ in 0..1_000 {
            let s = weighted_sample(&candidates, 3, &mut rng);
            assert_eq!(s.len(), 3);
            assert!(s[0] != s[1] && s[1] != s[2] && s[0] != s[2]);
            if s[0] == Pubkey([0; 32]) {
                first += 1;
            }
        }
        // Peer 0 weighs 1000 against nine of 1: it is drawn first almost always.
        assert!(first > 950, "{first}");
        let a = weighted_sample(&candidates, 4, &mut ChaCha8Rng::seed_from_u64(9));
        let b = weighted_sample(&candidates, 4, &mut ChaCha8Rng::seed_from_u64(9));
        assert_eq!(a, b);
        assert_eq!(weighted_sample(&candidates, 20, &mut rng).len(), 10);
    }

    #[test]
    fn weights_grow_with_the_order_of_magnitude_of_stake() {
        assert_eq!(stake_weight(0), 1);
        assert_eq!(stake_weight(1), 4);
        assert_eq!(stake_weight(1 << 20), 22 * 22);
        assert_eq!(stake_weight(u64::MAX), 65 * 65);
    }
}
