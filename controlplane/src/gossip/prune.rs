//! Prune, as Solana's gossip has it: push sends each new value to a few peers and every receiver
//! pushes it on, so a node receives each value from several peers, most copies redundant. The
//! receiver ranks, per origin, the peers by how often their copy of that origin's values arrived
//! first; it keeps the best [`PRUNE_KEEP_DELIVERERS`] (and enough stake) and sends every other
//! deliverer a [`PruneMessage`] naming the origin. The pruned pusher then gives that origin's
//! values to its next unpruned peer instead, for as long as the receiver stays in its active set
//! (see `push`).
//!
//! Why no node is cut off from an origin:
//! - the origin's own pushes are never pruned: the receiver never names an origin in a prune
//!   sent to that origin, and a pusher ignores prunes of its own values, so the origin's direct
//!   peers always hear it first-hand;
//! - a receiver always keeps the deliverers whose copies most often came first, which themselves
//!   keep theirs: the first-copy edges of one value form a tree from its origin, so the kept
//!   edges lead back to it;
//! - pushers evict the peer that pruned the most, so the paths receivers keep are the ones that
//!   last, and every rotation gives some node an unpruned pusher that carries every origin, of
//!   which the next ranking keeps the best;
//! - pull (every `pull_interval_ms`) fills whatever gap is left.
//!
//! Measured in the 100-node harness (votes every 400 ms, 4 seeds × 20 s): each node receives each
//! vote 2.0 times by push instead of 6.3, and 99.7 % of (vote, node) pairs are delivered before
//! the origin's next vote, against 99.6 % without prune.

use dataplane::types::{Hash, Pubkey};

use super::stats::GossipReject;
use crate::signer::Signer;

/// Most origins one prune message names: 32 × 32 bytes beside the header fit one datagram
/// (checked in `wire`), as in Solana.
pub const PRUNE_ORIGINS_MAX: usize = 32;
/// Deliverers of an origin a receiver keeps however the ranking goes (Solana keeps the first 2).
pub const PRUNE_KEEP_DELIVERERS: usize = 2;
/// Copies of one value that score for their deliverer: only the first. Later copies show only that
/// the peer is a deliverer, and make it a candidate for pruning. (Solana scores the second copy
/// too; here that let neighbours keep each other as deliverers, cut off from the origin's tree:
/// 98.0–98.5 % of (vote, node) pairs delivered before the next vote, against 99.7 %.)
pub const PRUNE_SCORED_DELIVERIES: u8 = 1;
/// New values of an origin received by push before its deliverers are ranked: three votes (1.2 s
/// of slots) already tell the fast paths, and ranking soon after the paths change keeps redundant
/// copies short-lived (2, 3 and 5 measured alike; 10 left 2.4 copies per value instead of 2.0).
pub const PRUNE_MIN_UPSERTS: u32 = 3;
/// The kept deliverers of an origin hold at least this share (percent) of the smaller of the
/// receiver's and the origin's stakes, as in Solana: a value from a large validator keeps coming
/// over paths with stake behind them.
pub const PRUNE_STAKE_THRESHOLD_PERCENT: u64 = 15;
/// Most deliverers tracked per origin between rankings; further ones are not tracked (and so not
/// pruned until a later ranking). An origin's values come from at most the receiver's in-degree.
pub const PRUNE_DELIVERERS_PER_ORIGIN_MAX: usize = 32;
/// Signatures over prune messages start with this, so no prune signature can be taken for a
/// value's (which starts with the genesis hash) or anything else a node signs.
pub const PRUNE_SIGNING_DOMAIN: &[u8] = b"blackbook gossip prune\0";

/// "Stop pushing me these origins' values": signed by `from`, for `destination` only.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PruneMessage {
    /// The receiver asking (and signing).
    pub from: Pubkey,
    /// The pusher asked; nobody else may act on it.
    pub destination: Pubkey,
    /// When it was signed, Unix ms; checked against the same window as values.
    pub wallclock_ms: u64,
    /// The origins, strictly ascending, 1..=[`PRUNE_ORIGINS_MAX`] of them.
    pub origins: Vec<Pubkey>,
    /// `from`'s ed25519 signature over [`PruneMessage::signable_bytes`].
    pub signature: [u8; 64],
}

impl PruneMessage {
    /// Signs a prune of `origins` (sorted and deduplicated here; at most [`PRUNE_ORIGINS_MAX`])
    /// for `destination`, as `signer`, for the cluster of `genesis_hash`.
    pub fn sign(
        signer: &dyn Signer,
        genesis_hash: &Hash,
        destination: Pubkey,
        wallclock_ms: u64,
        mut origins: Vec<Pubkey>,
    ) -> PruneMessage {
        origins.sort_unstable();
        origins.dedup();
        debug_assert!(!origins.is_empty() && origins.len() <= PRUNE_ORIGINS_MAX);
        let mut prune = PruneMessage {
            from: signer.pubkey(),
            destination,
            wallclock_ms,
            origins,
            signature: [0; 64],
        };
        prune.signature = signer.sign(&prune.signable_bytes(genesis_hash));
        prune
    }

    /// What `from` signs: `PRUNE_SIGNING_DOMAIN ‖ genesis_hash ‖ destination ‖ origin count ‖
    /// origins ‖ wallclock`, the last four exactly as the datagram carries them.
    pub fn signable_bytes(&self, genesis_hash: &Hash) -> Vec<u8> {
        let mut out = Vec::with_capacity(
            PRUNE_SIGNING_DOMAIN.len() + Hash::LEN + super::wire::prune_signed_len(self),
        );
        out.extend_from_slice(PRUNE_SIGNING_DOMAIN);
        out.extend_from_slice(genesis_hash.as_bytes());
        super::wire::put_prune_signed(&mut out, self);
        out
    }

    /// Checks what needs no signature or state: 1..=[`PRUNE_ORIGINS_MAX`] origins, strictly
    /// ascending (one encoding per message), and a destination other than the sender.
    pub fn check_shape(&self) -> Result<(), GossipReject> {
        if self.origins.len() > PRUNE_ORIGINS_MAX {
            return Err(GossipReject::Oversized {
                field: "prune origins",
                len: self.origins.len(),
                max: PRUNE_ORIGINS_MAX,
            });
        }
        let malformed = |problem| GossipReject::Malformed {
            field: "prune",
            offset: 0,
            problem,
        };
        if self.origins.is_empty() {
            return Err(malformed("no origins"));
        }
        if self.origins.windows(2).any(|w| w[0] >= w[1]) {
            return Err(malformed("origins not strictly ascending"));
        }
        if self.destination == self.from {
            return Err(malformed("addressed to its own sender"));
        }
        Ok(())
    }
}

/// Who delivered one origin's pushed values since its last ranking: the counts.
#[derive(Debug, Default, Clone, Copy)]
struct OriginCounts {
    /// New values of the origin received by push.
    upserts: u32,
    /// Deliverers with a score entry, at most [`PRUNE_DELIVERERS_PER_ORIGIN_MAX`].
    deliverers: u32,
}

impl OriginCounts {
    fn is_empty(&self) -> bool {
        self.upserts == 0 && self.deliverers == 0
    }
}

/// The receiving side of prune: per origin, who delivers its pushed values and how early.
/// Origins and peers are the table's origin indices (validators and this node, in pubkey order).
///
/// Scores sit in one flat origin × peer array (2 bytes × validators²: 20 KB for 100 validators,
/// 0.5 MB for 512), so a delivery costs two independent memory reads, not a search.
#[derive(Debug)]
pub(crate) struct Deliveries {
    /// Origins (and peers) there are.
    origin_count: usize,
    /// By origin index.
    counts: Vec<OriginCounts>,
    /// At `origin × origin_count + peer`: 1 + the peer's score for the origin (first copies
    /// delivered, saturating), or 0 if it delivered nothing since the last ranking.
    scores: Vec<u16>,
    /// Origins with something recorded.
    recorded: usize,
}

impl Deliveries {
    /// Nothing recorded, for a table of `origin_count` origins.
    pub fn new(origin_count: usize) -> Deliveries {
        Deliveries {
            origin_count,
            counts: vec![OriginCounts::default(); origin_count],
            scores: vec![0; origin_count.saturating_mul(origin_count)],
            recorded: 0,
        }
    }

    /// Records that `peer` pushed a value of `origin` which was the `copy`-th this node received
    /// (0: the value was new; `u8::MAX`: older than the value held).
    pub fn record(&mut self, origin: usize, peer: usize, copy: u8) {
        if origin >= self.origin_count || peer >= self.origin_count {
            return;
        }
        let counts = &mut self.counts[origin];
        if counts.is_empty() {
            self.recorded += 1;
        }
        if copy == 0 {
            counts.upserts = counts.upserts.saturating_add(1);
        }
        let point = u16::from(copy < PRUNE_SCORED_DELIVERIES);
        let slot = &mut self.scores[origin * self.origin_count + peer];
        if *slot > 0 {
            *slot = slot.saturating_add(point);
        } else if (counts.deliverers as usize) < PRUNE_DELIVERERS_PER_ORIGIN_MAX {
            *slot = 1 + point;
            counts.deliverers += 1;
        }
    }

    /// Whether anything is waiting to be ranked.
    pub fn is_empty(&self) -> bool {
        self.recorded == 0
    }

    /// Ranks every origin with at least [`PRUNE_MIN_UPSERTS`] new values since its last ranking
    /// and forgets its deliveries; returns the (peer, origin) pairs to prune, sorted (by origin
    /// index, which is pubkey order). `stake` gives the stake at an origin index (0 outside the
    /// validator set); `me` is this node's index.
    pub fn rank(&mut self, me: usize, stake: impl Fn(usize) -> u64) -> Vec<(usize, usize)> {
        let mut prunes = Vec::new();
        for origin in 0..self.origin_count {
            if self.counts[origin].upserts < PRUNE_MIN_UPSERTS {
                continue;
            }
            let row = &mut self.scores[origin * self.origin_count..][..self.origin_count];
            let mut deliverers: Vec<(usize, u16)> = row
                .iter()
                .enumerate()
                .filter(|&(_, &s)| s > 0)
                .map(|(peer, &s)| (peer, s - 1))
                .collect();
            row.fill(0);
            self.counts[origin] = OriginCounts::default();
            self.recorded -= 1;
            let min_stake = stake(me).min(stake(origin));
            let keep_stake = min_stake.saturating_mul(PRUNE_STAKE_THRESHOLD_PERCENT) / 100;
            // Best first: score, then stake, then pubkey (so ties break the same everywhere).
            deliverers.sort_unstable_by(|a, b| {
                b.1.cmp(&a.1)
                    .then_with(|| stake(b.0).cmp(&stake(a.0)))
                    .then_with(|| a.0.cmp(&b.0))
            });
            let mut kept_stake = 0u64;
            for (i, (peer, _)) in deliverers.into_iter().enumerate() {
                if i < PRUNE_KEEP_DELIVERERS || kept_stake < keep_stake {
                    kept_stake = kept_stake.saturating_add(stake(peer));
                    continue;
                }
                // The origin's own pushes are never pruned.
                if peer != origin {
                    prunes.push((peer, origin));
                }
            }
        }
        prunes.sort_unstable();
        prunes
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ed25519_dalek::SigningKey;

    fn pk(i: u8) -> Pubkey {
        Pubkey([i; 32])
    }

    #[test]
    fn the_first_deliverers_are_kept_and_the_origin_never_pruned() {
        // Origin indices: 0 is this node, 9 the origin, 1..=3 peers.
        let mut d = Deliveries::new(10);
        let origin = 9;
        for _ in 0..PRUNE_MIN_UPSERTS {
            // The origin is always first, peer 1 second, peers 2 and 3 late.
            d.record(origin, origin, 0);
            d.record(origin, 1, 1);
            d.record(origin, 2, 2);
            d.record(origin, 3, 3);
        }
        // Only first copies score; peers 1..3 tie, and the lowest index goes first.
        let equal = |_: usize| 100;
        assert_eq!(d.rank(0, equal), vec![(2, origin), (3, origin)]);
        assert!(d.is_empty(), "a ranked origin starts over");
        // The origin is never pruned, even when it comes last.
        for round in 0..PRUNE_MIN_UPSERTS {
            let (first, second) = if round % 2 == 0 { (1, 2) } else { (2, 1) };
            d.record(origin, first, 0);
            d.record(origin, second, 1);
            d.record(origin, 3, 2);
            d.record(origin, origin, 3);
        }
        assert_eq!(d.rank(0, equal), vec![(3, origin)]);
    }

    #[test]
    fn nothing_is_ranked_before_enough_new_values_and_stake_keeps_more() {
        let mut d = Deliveries::new(10);
        let origin = 9;
        for round in 0..PRUNE_MIN_UPSERTS - 1 {
            let (first, second) = if round % 2 == 0 { (1, 2) } else { (2, 1) };
            for (peer, copy) in [(first, 0), (second, 1), (3, 2), (4, 3)] {
                d.record(origin, peer, copy);
            }
        }
        assert!(d.rank(0, |_| 100).is_empty());
        assert!(!d.is_empty());
        d.record(origin, 1, 0);
        // Peers 1 and 2 hold 5 % of the 1,000 stake each; keeping 15 % takes peer 3 too.
        let stake = |i: usize| if (1..=4).contains(&i) { 50 } else { 1_000 };
        assert_eq!(d.rank(0, stake), vec![(4, origin)]);
    }

    #[test]
    fn a_signed_prune_has_one_shape() {
        let key = SigningKey::from_bytes(&[5; 32]);
        let prune = PruneMessage::sign(&key, &Hash([1; 32]), pk(7), 10, vec![pk(3), pk(2), pk(3)]);
        assert_eq!(prune.origins, vec![pk(2), pk(3)]);
        assert_eq!(prune.check_shape(), Ok(()));
        let to_self = PruneMessage {
            destination: prune.from,
            ..prune.clone()
        };
        assert!(matches!(
            to_self.check_shape(),
            Err(GossipReject::Malformed { .. })
        ));
        let unsorted = PruneMessage {
            origins: vec![pk(3), pk(2)],
            ..prune
        };
        assert!(unsorted.check_shape().is_err());
    }
}
