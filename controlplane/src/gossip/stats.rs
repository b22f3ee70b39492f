//! Why gossip refused something, and the counters the node exports as metrics.

use dataplane::types::Pubkey;

/// The reason a value or datagram was refused: one counter each in [`GossipStats`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum RejectReason {
    /// The origin is not in the cluster's validator set.
    UnknownOrigin,
    /// A contact info of another shred version.
    ShredVersion,
    /// A wallclock outside the accepted window around now.
    Wallclock,
    /// A signature that does not verify (strictly) over this cluster's genesis hash.
    BadSignature,
    /// A datagram, value or field longer than its bound.
    Oversized,
    /// Bytes or fields that do not make a valid message.
    Malformed,
    /// Older than the value held under the same label.
    Stale,
    /// The very value already held.
    Duplicate,
    /// A table bound (origins, or values of a kind per origin) is reached.
    TableFull,
    /// A prune addressed to another node.
    WrongDestination,
}

impl RejectReason {
    /// Every reason, in the order metrics list them.
    pub const ALL: [RejectReason; 10] = [
        RejectReason::UnknownOrigin,
        RejectReason::ShredVersion,
        RejectReason::Wallclock,
        RejectReason::BadSignature,
        RejectReason::Oversized,
        RejectReason::Malformed,
        RejectReason::Stale,
        RejectReason::Duplicate,
        RejectReason::TableFull,
        RejectReason::WrongDestination,
    ];

    /// The reason's metric label.
    pub fn as_str(self) -> &'static str {
        match self {
            RejectReason::UnknownOrigin => "unknown_origin",
            RejectReason::ShredVersion => "shred_version",
            RejectReason::Wallclock => "wallclock",
            RejectReason::BadSignature => "bad_signature",
            RejectReason::Oversized => "oversized",
            RejectReason::Malformed => "malformed",
            RejectReason::Stale => "stale",
            RejectReason::Duplicate => "duplicate",
            RejectReason::TableFull => "table_full",
            RejectReason::WrongDestination => "wrong_destination",
        }
    }
}

/// Why a datagram or value was refused, with the values that decided it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum GossipReject {
    /// See [`RejectReason::UnknownOrigin`].
    #[error("origin {origin} is not in the cluster's validator set")]
    UnknownOrigin {
        /// The origin.
        origin: Pubkey,
    },
    /// See [`RejectReason::ShredVersion`].
    #[error("contact info of {origin} has shred version {got}, the cluster's is {want}")]
    ShredVersion {
        /// The origin.
        origin: Pubkey,
        /// Its shred version.
        got: u16,
        /// Ours.
        want: u16,
    },
    /// See [`RejectReason::Wallclock`].
    #[error("value of {origin} has wallclock {wallclock_ms} ms, more than {window_ms} ms from now ({now_ms} ms)")]
    Wallclock {
        /// The origin.
        origin: Pubkey,
        /// The value's wallclock.
        wallclock_ms: u64,
        /// Our time.
        now_ms: u64,
        /// The accepted distance.
        window_ms: u64,
    },
    /// See [`RejectReason::BadSignature`].
    #[error("signature of {origin} does not verify over this cluster's genesis hash")]
    BadSignature {
        /// The claimed origin.
        origin: Pubkey,
    },
    /// See [`RejectReason::Oversized`].
    #[error("{field} is {len} bytes (or items), at most {max} allowed")]
    Oversized {
        /// What was too long.
        field: &'static str,
        /// Its length.
        len: usize,
        /// The bound.
        max: usize,
    },
    /// See [`RejectReason::Malformed`].
    #[error("malformed {field} at byte {offset}: {problem}")]
    Malformed {
        /// What could not be read.
        field: &'static str,
        /// Where in the datagram (0 for values that did not come from bytes).
        offset: usize,
        /// What is wrong with it.
        problem: &'static str,
    },
    /// See [`RejectReason::Stale`].
    #[error("value of {origin} at wallclock {wallclock_ms} ms is older than the held one at {held_wallclock_ms} ms")]
    Stale {
        /// The origin.
        origin: Pubkey,
        /// The refused value's wallclock.
        wallclock_ms: u64,
        /// The held value's wallclock.
        held_wallclock_ms: u64,
    },
    /// See [`RejectReason::Duplicate`].
    #[error("value of {origin} at wallclock {wallclock_ms} ms is already held")]
    Duplicate {
        /// The origin.
        origin: Pubkey,
        /// The value's wallclock.
        wallclock_ms: u64,
    },
    /// See [`RejectReason::TableFull`].
    #[error("no room for a value of {origin}: {bound} ({max}) reached")]
    TableFull {
        /// The origin.
        origin: Pubkey,
        /// Which bound.
        bound: &'static str,
        /// Its value.
        max: usize,
    },
    /// See [`RejectReason::WrongDestination`].
    #[error("prune from {from} is addressed to {destination}, not to this node")]
    WrongDestination {
        /// The prune's sender.
        from: Pubkey,
        /// Whom it is addressed to.
        destination: Pubkey,
    },
}

impl GossipReject {
    /// The counter this rejection goes to.
    pub fn reason(&self) -> RejectReason {
        match self {
            GossipReject::UnknownOrigin { .. } => RejectReason::UnknownOrigin,
            GossipReject::ShredVersion { .. } => RejectReason::ShredVersion,
            GossipReject::Wallclock { .. } => RejectReason::Wallclock,
            GossipReject::BadSignature { .. } => RejectReason::BadSignature,
            GossipReject::Oversized { .. } => RejectReason::Oversized,
            GossipReject::Malformed { .. } => RejectReason::Malformed,
            GossipReject::Stale { .. } => RejectReason::Stale,
            GossipReject::Duplicate { .. } => RejectReason::Duplicate,
            GossipReject::TableFull { .. } => RejectReason::TableFull,
            GossipReject::WrongDestination { .. } => RejectReason::WrongDestination,
        }
    }
}

/// Gossip's counters: rejections by reason, and what the machine did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct GossipStats {
    /// Values from origins outside the validator set.
    pub unknown_origin: u64,
    /// Contact infos of another shred version.
    pub shred_version: u64,
    /// Values with a wallclock outside the window.
    pub wallclock: u64,
    /// Datagrams with a signature that does not verify (counted by the driver).
    pub bad_signature: u64,
    /// Datagrams, values or fields over their bound.
    pub oversized: u64,
    /// Undecodable datagrams or inconsistent values.
    pub malformed: u64,
    /// Values older than the one held.
    pub stale: u64,
    /// Values already held.
    pub duplicate: u64,
    /// Values refused because a table bound was reached.
    pub table_full: u64,
    /// Prunes addressed to another node.
    pub wrong_destination: u64,
    /// Values inserted (new labels and replacements).
    pub values_inserted: u64,
    /// Inserted values that replaced an older one of the same label.
    pub values_replaced: u64,
    /// Values removed because they expired.
    pub values_expired: u64,
    /// Values removed to make room for a newer one of the same kind and origin.
    pub values_evicted: u64,
    /// Values dropped because the push queue was full.
    pub push_queue_dropped: u64,
    /// Push datagrams sent.
    pub push_messages_sent: u64,
    /// Values sent in push datagrams (a value to six peers counts six).
    pub push_values_sent: u64,
    /// Pull requests sent.
    pub pull_requests_sent: u64,
    /// Pull requests received.
    pub pull_requests_received: u64,
    /// Pull requests not answered because their address asked too often.
    pub pull_requests_rate_limited: u64,
    /// Pull response datagrams sent.
    pub pull_responses_sent: u64,
    /// Values sent in pull responses.
    pub pull_response_values_sent: u64,
    /// Datagrams dropped because the driver did not take them out in time.
    pub outbox_dropped: u64,
    /// Values whose signature the driver did not verify again, being byte for byte a held value.
    pub values_verify_skipped: u64,
    /// Prune messages sent.
    pub prune_messages_sent: u64,
    /// Origins named in prune messages sent.
    pub prune_origins_sent: u64,
    /// Prune messages received and accepted (from a peer in the active set or not).
    pub prune_messages_received: u64,
    /// Origins now left out of pushes to a peer because it pruned them.
    pub prune_origins_applied: u64,
}

impl GossipStats {
    /// Counts one rejection.
    pub fn count(&mut self, reason: RejectReason) {
        *self.counter(reason) += 1;
    }

    /// How many rejections of `reason` were counted.
    pub fn rejected(&self, reason: RejectReason) -> u64 {
        match reason {
            RejectReason::UnknownOrigin => self.unknown_origin,
            RejectReason::ShredVersion => self.shred_version,
            RejectReason::Wallclock => self.wallclock,
            RejectReason::BadSignature => self.bad_signature,
            RejectReason::Oversized => self.oversized,
            RejectReason::Malformed => self.malformed,
            RejectReason::Stale => self.stale,
            RejectReason::Duplicate => self.duplicate,
            RejectReason::TableFull => self.table_full,
            RejectReason::WrongDestination => self.wrong_destination,
        }
    }

    /// Every rejection counter with its metric label.
    pub fn rejections(&self) -> impl Iterator<Item = (&'static str, u64)> + '_ {
        RejectReason::ALL
            .into_iter()
            .map(|r| (r.as_str(), self.rejected(r)))
    }

    fn counter(&mut self, reason: RejectReason) -> &mut u64 {
        match reason {
            RejectReason::UnknownOrigin => &mut self.unknown_origin,
            RejectReason::ShredVersion => &mut self.shred_version,
            RejectReason::Wallclock => &mut self.wallclock,
            RejectReason::BadSignature => &mut self.bad_signature,
            RejectReason::Oversized => &mut self.oversized,
            RejectReason::Malformed => &mut self.malformed,
            RejectReason::Stale => &mut self.stale,
            RejectReason::Duplicate => &mut self.duplicate,
            RejectReason::TableFull => &mut self.table_full,
            RejectReason::WrongDestination => &mut self.wrong_destination,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_reason_has_its_own_counter() {
        let mut stats = GossipStats::default();
        for (i, reason) in RejectReason::ALL.into_iter().enumerate() {
            for _ in 0..=i {
                stats.count(reason);
            }
        }
        let counted: Vec<(&str, u64)> = stats.rejections().collect();
        assert_eq!(counted.len(), RejectReason::ALL.len());
        for (i, (_, n)) in counted.iter().enumerate() {
            assert_eq!(*n, i as u64 + 1);
        }
        assert_eq!(stats.table_full, 9);
        assert_eq!(stats.wrong_destination, 10);
    }
}
