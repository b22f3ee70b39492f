//! Gossip's settings and the cluster facts it checks records against.

use dataplane::types::{Hash, Pubkey};

/// Accepted distance between a value's wallclock and the receiver's clock (both ways): bounds how
/// long a captured value can be replayed, and tolerates ordinary clock skew.
pub const WALLCLOCK_WINDOW_MS: u64 = 30_000;
/// A pull response sends at most this many bytes per byte of the request it answers, so a spoofed
/// request cannot be used to send a victim more than 4× what the attacker spent.
pub const PULL_RESPONSE_AMPLIFICATION_MAX: usize = 4;
/// Most seed addresses used; the rest of a longer list is ignored.
pub const SEEDS_MAX: usize = 16;
/// Largest push active set (a flush marks each value's peers in a 32-bit mask).
pub const ACTIVE_SET_SIZE_MAX: usize = 32;

/// Gossip's settings; every bound is named here. See `Default` for the values and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GossipConfig {
    /// Peers each new value is pushed to.
    pub push_fanout: usize,
    /// Peers in the push active set, at least `push_fanout` and at most [`ACTIVE_SET_SIZE_MAX`]:
    /// each value goes to the first `push_fanout` of them that did not prune its origin.
    pub active_set_size: usize,
    /// Time between push flushes (values queued in between go out together).
    pub push_interval_ms: u64,
    /// Time between replacements of the longest-standing push peer by a new draw.
    pub active_set_rotate_ms: u64,
    /// Time between rankings of who delivers each origin's pushed values, and the prunes they
    /// send.
    pub prune_interval_ms: u64,
    /// Time between pull requests.
    pub pull_interval_ms: u64,
    /// Time between re-signings of this node's contact info (the node's
    /// `gossip.heartbeat_interval`).
    pub contact_refresh_ms: u64,
    /// Life of a vote without a newer one.
    pub value_expiry_ms: u64,
    /// Life of a validator's contact info without a newer one. Long, as Agave keeps staked
    /// nodes' for an epoch: after a partition heals, each side must still know where the other is.
    pub contact_info_expiry_ms: u64,
    /// Every this many pull requests, one goes to a seed address too (re-joins tables that a
    /// long partition split; 0 = only while no peer is known).
    pub seed_pull_every: u32,
    /// Life of duplicate-shred chunks and slashing evidence.
    pub evidence_expiry_ms: u64,
    /// Accepted distance between a value's wallclock and now.
    pub wallclock_window_ms: u64,
    /// Most origins in the table (this node included).
    pub peers_max: usize,
    /// Most duplicate-shred chunks held per origin.
    pub duplicate_shred_chunks_per_origin_max: usize,
    /// Most pieces of slashing evidence held per origin.
    pub slashing_evidence_per_origin_max: usize,
    /// Most values waiting for the next push flush; the oldest are dropped beyond it.
    pub push_queue_max: usize,
    /// Most values in the answer to one pull request.
    pub pull_response_values_max: usize,
    /// Most datagrams in the answer to one pull request.
    pub pull_response_datagrams_max: usize,
    /// Most pull requests answered per source address per `pull_interval_ms`.
    pub pull_requests_per_address_max: u32,
    /// Most source addresses tracked for that limit per `pull_interval_ms`; requests from further
    /// addresses go unanswered until the window turns.
    pub pull_rate_addresses_max: usize,
    /// Most datagrams waiting for the driver to take them.
    pub outbox_max: usize,
}

impl Default for GossipConfig {
    fn default() -> Self {
        GossipConfig {
            // Solana's push fanout: with ~100 nodes a value reaches all in about three hops, and a
            // node misses a push wave with probability ≈ e^-6 (pull fills those gaps).
            push_fanout: 6,
            // Solana's fanout + 3: spare peers take over the pushes of origins others pruned.
            active_set_size: 9,
            // Each hop waits for a flush, so this sets vote latency. Measured with 100 nodes
            // voting every 400 ms: 20 ms gives delay p50 50 ms / p99 70 ms and 99.6 % of votes
            // delivered before the next, for 10 % more datagrams than 100 ms (p50 160 ms, 97.7 %):
            // votes (~460 bytes as values) fill datagrams two at a time either way. No queued
            // value, no wake-up.
            push_interval_ms: 20,
            // Solana's: a peer stays 6 × 7.5 s = 45 s, long enough for its prunes to pay off;
            // a node no one pushes to gets a pusher within seconds (100 nodes each draw one).
            active_set_rotate_ms: 7_500,
            // Prunes wait at most this long after their origin's ranking is due (5 new values,
            // 2 s of votes); a shorter interval only sends more, smaller prunes.
            prune_interval_ms: 500,
            // Fills gaps push left within half a second; a request is ≈ 0.8 KB.
            pull_interval_ms: 500,
            // The node's default `gossip.heartbeat_interval`.
            contact_refresh_ms: 5_000,
            // A vote is replaced within a slot; a silent voter's last vote is forgotten after a
            // minute.
            value_expiry_ms: 60_000,
            // An hour: validators are the permanent, genesis-listed members of the cluster.
            contact_info_expiry_ms: 3_600_000,
            // Every 8 s at the default pull interval.
            seed_pull_every: 16,
            // Evidence stays for consensus to look up and to be recognised if it comes again.
            evidence_expiry_ms: 300_000,
            wallclock_window_ms: WALLCLOCK_WINDOW_MS,
            // Five times the ~100 validators the cluster is built for.
            peers_max: 512,
            // Five proofs of three chunks, plus one.
            duplicate_shred_chunks_per_origin_max: 16,
            slashing_evidence_per_origin_max: 8,
            // 100 validators voting every 400 ms queue ~25 values per 100-ms flush: 40× headroom.
            push_queue_max: 1_024,
            pull_response_values_max: 32,
            pull_response_datagrams_max: 4,
            // One request per interval is what an honest peer sends to any one responder at most.
            pull_requests_per_address_max: 2,
            pull_rate_addresses_max: 1_024,
            outbox_max: 4_096,
        }
    }
}

/// Why a [`GossipConfig`] cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("gossip setting {field} = {value}: {problem}")]
pub struct GossipConfigError {
    /// The setting.
    pub field: &'static str,
    /// Its value.
    pub value: u64,
    /// What is wrong.
    pub problem: &'static str,
}

impl GossipConfig {
    /// Checks that intervals and bounds that must be positive are, and that this node's contact
    /// info is refreshed before peers would expire it.
    pub fn validate(&self) -> Result<(), GossipConfigError> {
        let positive: [(&'static str, u64); 10] = [
            ("push_fanout", self.push_fanout as u64),
            ("push_interval_ms", self.push_interval_ms),
            ("active_set_rotate_ms", self.active_set_rotate_ms),
            ("prune_interval_ms", self.prune_interval_ms),
            ("pull_interval_ms", self.pull_interval_ms),
            ("contact_refresh_ms", self.contact_refresh_ms),
            ("peers_max", self.peers_max as u64),
            ("push_queue_max", self.push_queue_max as u64),
            (
                "pull_response_datagrams_max",
                self.pull_response_datagrams_max as u64,
            ),
            ("outbox_max", self.outbox_max as u64),
        ];
        for (field, value) in positive {
            if value == 0 {
                return Err(GossipConfigError {
                    field,
                    value,
                    problem: "must be positive",
                });
            }
        }
        if self.active_set_size < self.push_fanout || self.active_set_size > ACTIVE_SET_SIZE_MAX {
            return Err(GossipConfigError {
                field: "active_set_size",
                value: self.active_set_size as u64,
                problem: "must be at least push_fanout and at most 32",
            });
        }
        if self.contact_refresh_ms >= self.contact_info_expiry_ms {
            return Err(GossipConfigError {
                field: "contact_refresh_ms",
                value: self.contact_refresh_ms,
                problem:
                    "must be below contact_info_expiry_ms, or peers forget this node between refreshes",
            });
        }
        if self.contact_refresh_ms >= self.wallclock_window_ms {
            return Err(GossipConfigError {
                field: "contact_refresh_ms",
                value: self.contact_refresh_ms,
                problem: "must be below wallclock_window_ms, or new peers refuse this node's contact info as too old",
            });
        }
        Ok(())
    }
}

/// What gossip must know of its cluster.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GossipCluster {
    /// Binds every signature to this cluster.
    pub genesis_hash: Hash,
    /// Contact infos of other shred versions are refused.
    pub shred_version: u16,
    /// The validators (identity, stake); values of anyone else are refused.
    pub validators: Vec<(Pubkey, u64)>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_is_valid_and_zero_intervals_are_named() {
        assert_eq!(GossipConfig::default().validate(), Ok(()));
        let c = GossipConfig {
            push_interval_ms: 0,
            ..GossipConfig::default()
        };
        assert_eq!(c.validate().map_err(|e| e.field), Err("push_interval_ms"));
        let c = GossipConfig {
            contact_refresh_ms: 60_000,
            ..GossipConfig::default()
        };
        assert_eq!(c.validate().map_err(|e| e.field), Err("contact_refresh_ms"));
    }
}
