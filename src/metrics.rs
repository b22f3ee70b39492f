//! Prometheus metrics: the node's counters rendered in the text exposition format at `GET /metrics`.
//!
//! The hot path counts with plain atomics (no registry on the data plane); a scrape copies them into a
//! fresh `prometheus-client` registry, which does the encoding.

use std::sync::atomic::{AtomicU64, Ordering};

use crate::replication::Replication;
use crate::rpc::stats::PubSubDrop;
use crate::rpc::RpcStats;
use crate::tpu_quic::QuicStats;
use dataplane::metrics::RejectCounters;
use prometheus_client::encoding::text::encode;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;

/// Node-level counters and gauges, updated by the stages that own them.
#[derive(Debug, Default)]
pub struct NodeMetrics {
    /// Slot being produced or replayed now.
    pub slot: AtomicU64,
    /// Newest rooted (finalized) slot.
    pub root_slot: AtomicU64,
    /// Blocks committed to the ledger.
    pub blocks_stored: AtomicU64,
    /// Transactions included in blocks (successful or failed).
    pub transactions_included: AtomicU64,
    /// Included transactions whose transfer failed after the fee.
    pub transactions_failed: AtomicU64,
    /// Packets that passed signature verification.
    pub sigverify_accepted: AtomicU64,
    /// Free transactions shed before verification by admission (the backlog at its bound, or
    /// signed too long ago while overloaded).
    pub sigverify_shed_backlog: AtomicU64,
    /// Of those, the ones shed while overloaded for their blockhash's age.
    pub sigverify_shed_stale: AtomicU64,
    /// Of those, the ones shed for waiting too long in sigverify's input queue.
    pub sigverify_shed_late: AtomicU64,
    /// Forwarded transactions shed unverified while this node forwards.
    pub sigverify_shed_forwarded: AtomicU64,
    /// Blocks replayed from the ledger at start-up.
    pub blocks_replayed: AtomicU64,
    /// Sequential SHA-256 rate measured at start-up.
    pub poh_hashes_per_second: AtomicU64,
    /// Duplicate-slot proofs (a leader's two conflicting, validly signed shreds) received.
    pub duplicate_slot_proofs: AtomicU64,
    /// Held transactions sent on to the leader of the moment (Gulf Stream).
    pub transactions_forwarded: AtomicU64,
    /// Transactions the forwarding socket refused.
    pub transactions_forward_failed: AtomicU64,
    /// Held transactions dropped, not forwarded: another validator had forwarded them here.
    pub transactions_forward_dropped_forwarded: AtomicU64,
    /// The fork-choice head (RPC "processed").
    pub processed_slot: AtomicU64,
    /// The newest optimistically confirmed slot on the head's fork.
    pub confirmed_slot: AtomicU64,
    /// The newest slot more than 2/3 of the stake has rooted.
    pub finalized_slot: AtomicU64,
    /// Votes this node cast.
    pub votes_cast: AtomicU64,
    /// Votes sent again because they had not landed.
    pub votes_refreshed: AtomicU64,
    /// Vote datagrams the socket refused to send.
    pub votes_send_failed: AtomicU64,
    /// Other validators' votes (UDP or QUIC) that passed the edge's checks: a vote, signed.
    pub votes_verified: AtomicU64,
    /// Tower writes that failed (the vote was then not sent).
    pub tower_write_failures: AtomicU64,
    /// Slashing evidence recorded.
    pub slashing_evidence: AtomicU64,
    /// Duplicate slots where this node's version lost to a duplicate-confirmed one.
    pub duplicate_versions_lost: AtomicU64,
    /// Validators gossip knows (this node included).
    pub peers_known: AtomicU64,
    /// Blocks pruned from the ledger (`storage.limit_ledger_slots`).
    pub ledger_pruned_blocks: AtomicU64,
    /// The oldest block the ledger keeps.
    pub ledger_first_slot: AtomicU64,
    /// Size of the ledger file, bytes.
    pub ledger_file_bytes: AtomicU64,
    /// Memory of the signature-index filters, bytes.
    pub ledger_signature_filter_bytes: AtomicU64,
    /// Datagrams on the vote port refused, by reason.
    pub votes_rejected: std::sync::Mutex<std::collections::BTreeMap<&'static str, u64>>,
    /// Gossip records and datagrams refused, by reason (a snapshot of the gossip counters).
    pub gossip_rejected: std::sync::Mutex<Vec<(&'static str, u64)>>,
}

impl NodeMetrics {
    /// Counts a vote datagram refused for `reason`.
    pub fn count_vote_rejected(&self, reason: &str) {
        let reason: &'static str = match reason {
            "malformed" => "malformed",
            "not_a_vote" => "not_a_vote",
            "bad_signature" => "bad_signature",
            _ => "other",
        };
        *self
            .votes_rejected
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .entry(reason)
            .or_default() += 1;
    }
}

/// The QUIC sockets' counters, for the metrics page.
#[derive(Clone, Copy)]
pub struct QuicMetrics<'a> {
    /// The QUIC TPU, and forwarding over QUIC.
    pub tpu: &'a QuicStats,
    /// The QUIC vote socket, and sending votes over QUIC.
    pub votes: &'a QuicStats,
}

/// How one QUIC socket's counters are named: the server's prefix and name, the sender's prefix
/// and what it sends.
struct QuicNaming {
    server: &'static str,
    what: &'static str,
    sender: &'static str,
    sent: &'static str,
}

const TPU_QUIC_NAMING: QuicNaming = QuicNaming {
    server: "blackbook_tpu_quic",
    what: "QUIC TPU",
    sender: "blackbook_forward_quic",
    sent: "Held transactions",
};

const VOTE_QUIC_NAMING: QuicNaming = QuicNaming {
    server: "blackbook_tpu_vote_quic",
    what: "QUIC vote socket",
    sender: "blackbook_vote_quic",
    sent: "Own votes",
};

/// One QUIC socket's counters, and its sender's, named by `n`.
fn register_quic(r: &mut Registry, q: &QuicStats, n: &QuicNaming) {
    let get = |a: &AtomicU64| a.load(Ordering::Relaxed);
    let (server, what) = (n.server, n.what);
    let counters = [
        (
            "connections_accepted",
            format!("{what} handshakes completed"),
            &q.connections_accepted,
        ),
        (
            "connections_refused",
            format!("{what} connections refused: the node holds its most"),
            &q.connections_refused,
        ),
        (
            "connections_refused_per_ip",
            format!("{what} connections refused: the source address holds its most"),
            &q.connections_refused_per_ip,
        ),
        (
            "connections_refused_unstaked",
            format!("{what} unstaked connections closed: the unstaked ones held their most, or the socket takes staked peers only"),
            &q.connections_refused_unstaked,
        ),
        (
            "staked_connections",
            format!("{what} connections of staked identities"),
            &q.staked_connections,
        ),
        (
            "staked_transactions",
            format!("Transactions read from staked {what} connections"),
            &q.staked_transactions,
        ),
        (
            "handshakes_failed",
            format!("{what} handshakes failed or timed out"),
            &q.handshakes_failed,
        ),
        (
            "identified_connections",
            format!("{what} connections that showed an ed25519 identity"),
            &q.identified_connections,
        ),
        (
            "transactions",
            format!("Transactions read whole from {what} streams"),
            &q.transactions,
        ),
        (
            "streams_oversized",
            format!("{what} streams longer than a transaction (stopped)"),
            &q.streams_oversized,
        ),
        (
            "streams_failed",
            format!("{what} streams reset, failed or too slow"),
            &q.streams_failed,
        ),
        (
            "queue_full",
            format!("{what} transactions dropped: the queue they go to was full"),
            &q.queue_full,
        ),
    ]
    .map(|(name, help, v)| (format!("{server}_{name}"), help, v));
    let (sender, sent) = (n.sender, n.sent);
    let f = &q.forward;
    let sending = [
        (
            "sent",
            format!("{sent} written to a peer's {what} stream"),
            &f.sent,
        ),
        (
            "failed",
            format!("{sent} lost on QUIC: the connection failed or its queue was full"),
            &f.failed,
        ),
        (
            "handshakes_failed",
            format!("Handshakes with a peer's {what} that failed or timed out"),
            &f.handshakes_failed,
        ),
        (
            "sent_by_udp",
            format!("{sent} sent by UDP instead: QUIC queue full or the peer unreachable lately"),
            &f.sent_by_udp,
        ),
    ]
    .map(|(name, help, v)| (format!("{sender}_{name}"), help, v));
    for (name, help, value) in counters.into_iter().chain(sending) {
        counter(r, &name, &help, get(value));
    }
    gauge(
        r,
        &format!("{server}_unstaked_connections_open"),
        &format!("{what} unstaked connections open"),
        q.unstaked_open.load(Ordering::Relaxed) as u64,
    );
    gauge(
        r,
        &format!("{server}_connections_open"),
        &format!("{what} connections open"),
        q.connections_open.load(Ordering::Relaxed) as u64,
    );
}

/// Registers a counter holding `value` (the encoder appends `_total` to `name`).
pub(crate) fn counter(registry: &mut Registry, name: &str, help: &str, value: u64) {
    let c = Counter::<u64>::default();
    c.inc_by(value);
    registry.register(name, help, c);
}

fn gauge(registry: &mut Registry, name: &str, help: &str, value: u64) {
    let g = Gauge::<i64>::default();
    g.set(i64::try_from(value).unwrap_or(i64::MAX));
    registry.register(name, help, g);
}

/// Registers a counter family with one label, one member per `(label value, count)`.
pub(crate) fn labelled<'a>(
    registry: &mut Registry,
    name: &str,
    help: &str,
    label: &str,
    values: impl IntoIterator<Item = (&'a str, u64)>,
) {
    let family = Family::<Vec<(String, String)>, Counter<u64>>::default();
    for (value, n) in values {
        family
            .get_or_create(&vec![(label.to_string(), value.to_string())])
            .inc_by(n);
    }
    registry.register(name, help, family);
}

/// JSON-RPC and PubSub counters.
fn register_rpc(r: &mut Registry, rpc: &RpcStats) {
    labelled(
        r,
        "blackbook_rpc_calls",
        "JSON-RPC calls over HTTP, by method",
        "method",
        rpc.snapshot(),
    );
    counter(
        r,
        "blackbook_rpc_unknown_method_calls",
        "JSON-RPC requests naming a method not served (HTTP and PubSub)",
        rpc.unknown_method_calls(),
    );
    counter(
        r,
        "blackbook_rpc_errors",
        "JSON-RPC error answers (HTTP and PubSub)",
        rpc.errors(),
    );
    counter(
        r,
        "blackbook_rpc_rejected_bodies",
        "HTTP bodies refused before parsing (too large, unreadable)",
        rpc.rejected_bodies(),
    );
    gauge(
        r,
        "blackbook_rpc_connections_open",
        "TCP connections the RPC port holds now",
        rpc.connections_open(),
    );
    counter(
        r,
        "blackbook_rpc_connections_refused",
        "RPC connections closed at accept: the port held its most",
        rpc.connections_refused(),
    );
    counter(
        r,
        "blackbook_rpc_send_transaction_rate_limited",
        "RPC requests refused with HTTP 429: sendTransaction over the IP's rate",
        rpc.send_transaction_rate_limited(),
    );
    counter(
        r,
        "blackbook_rpc_connections_timed_out",
        "RPC connections closed for not sending a request head in time (slow or idle)",
        rpc.connections_timed_out(),
    );
    counter(
        r,
        "blackbook_rpc_connections_refused_per_ip",
        "RPC connections closed at accept: their address held its most",
        rpc.connections_refused_per_ip(),
    );
    counter(
        r,
        "blackbook_rpc_connections_idle_closed",
        "RPC connections closed for sitting idle (no request, no bytes) past the idle timeout",
        rpc.connections_idle_closed(),
    );
    counter(
        r,
        "blackbook_rpc_bodies_timed_out",
        "RPC requests whose body did not arrive in time (answered 408, connection closed)",
        rpc.bodies_timed_out(),
    );
    let p = &rpc.pubsub;
    labelled(
        r,
        "blackbook_pubsub_calls",
        "PubSub calls, by method",
        "method",
        p.snapshot(),
    );
    gauge(
        r,
        "blackbook_pubsub_connections",
        "PubSub (WebSocket) connections open",
        p.connections_open(),
    );
    gauge(
        r,
        "blackbook_pubsub_subscriptions",
        "PubSub subscriptions open",
        p.subscriptions_open(),
    );
    counter(
        r,
        "blackbook_pubsub_notifications",
        "PubSub notifications queued to clients",
        p.notifications(),
    );
    r.register(
        "blackbook_pubsub_signature_notification_delay_seconds",
        "Seconds from a block reaching a signature subscription's commitment to the notification's \
         write to the client",
        p.signature_delay(),
    );
    labelled(
        r,
        "blackbook_pubsub_dropped",
        "PubSub connections, subscriptions and events refused or dropped, by reason",
        "reason",
        PubSubDrop::ALL.iter().map(|&d| (d.name(), p.drops(d))),
    );
}

/// Renders every metric in Prometheus' text format.
pub fn render(
    node: &NodeMetrics,
    rejected: &RejectCounters,
    rpc: &RpcStats,
    quic: Option<QuicMetrics<'_>>,
    replication: Option<&Replication>,
) -> String {
    let mut r = Registry::default();
    register_rpc(&mut r, rpc);
    if let Some(q) = quic {
        register_quic(&mut r, q.tpu, &TPU_QUIC_NAMING);
        register_quic(&mut r, q.votes, &VOTE_QUIC_NAMING);
    }
    if let Some(replication) = replication {
        replication.register_metrics(&mut r);
    }
    let get = |a: &AtomicU64| a.load(Ordering::Relaxed);
    gauge(
        &mut r,
        "blackbook_slot",
        "Slot being produced now",
        get(&node.slot),
    );
    gauge(
        &mut r,
        "blackbook_root_slot",
        "Newest rooted slot",
        get(&node.root_slot),
    );
    gauge(
        &mut r,
        "blackbook_poh_hashes_per_second",
        "Sequential SHA-256 rate measured at start-up",
        get(&node.poh_hashes_per_second),
    );
    counter(
        &mut r,
        "blackbook_blocks_stored",
        "Blocks committed to the ledger",
        get(&node.blocks_stored),
    );
    counter(
        &mut r,
        "blackbook_ledger_pruned_blocks",
        "Blocks pruned from the ledger below the kept window",
        get(&node.ledger_pruned_blocks),
    );
    gauge(
        &mut r,
        "blackbook_ledger_first_slot",
        "The oldest block the ledger keeps",
        get(&node.ledger_first_slot),
    );
    gauge(
        &mut r,
        "blackbook_ledger_file_bytes",
        "Size of the ledger file",
        get(&node.ledger_file_bytes),
    );
    gauge(
        &mut r,
        "blackbook_ledger_signature_filter_bytes",
        "Memory of the signature-index filters (2 bytes per stored signature)",
        get(&node.ledger_signature_filter_bytes),
    );
    counter(
        &mut r,
        "blackbook_blocks_replayed",
        "Blocks replayed from the ledger at start-up",
        get(&node.blocks_replayed),
    );
    counter(
        &mut r,
        "blackbook_transactions_forwarded",
        "Held transactions sent on to the leader of the moment (Gulf Stream)",
        get(&node.transactions_forwarded),
    );
    counter(
        &mut r,
        "blackbook_transactions_forward_failed",
        "Transactions the forwarding socket refused",
        get(&node.transactions_forward_failed),
    );
    counter(
        &mut r,
        "blackbook_transactions_forward_dropped_forwarded",
        "Held transactions dropped at a hand-off, not forwarded: another validator forwarded them here",
        get(&node.transactions_forward_dropped_forwarded),
    );
    counter(
        &mut r,
        "blackbook_transactions_included",
        "Transactions included in blocks",
        get(&node.transactions_included),
    );
    counter(
        &mut r,
        "blackbook_transactions_failed",
        "Included transactions whose transfer failed after paying the fee",
        get(&node.transactions_failed),
    );
    counter(
        &mut r,
        "blackbook_duplicate_slot_proofs",
        "Proofs that a leader signed two conflicting shreds for one slot position",
        get(&node.duplicate_slot_proofs),
    );
    counter(
        &mut r,
        "blackbook_sigverify_accepted",
        "Packets that passed signature verification",
        get(&node.sigverify_accepted),
    );
    counter(
        &mut r,
        "blackbook_sigverify_shed_backlog",
        "Free transactions shed before verification by admission: the backlog at its bound, or \
         signed too long ago while overloaded",
        get(&node.sigverify_shed_backlog),
    );
    counter(
        &mut r,
        "blackbook_sigverify_shed_stale",
        "Free transactions shed before verification while overloaded: signed against a blockhash \
         older than the freshest arriving by more than the admission window",
        get(&node.sigverify_shed_stale),
    );
    counter(
        &mut r,
        "blackbook_sigverify_shed_late",
        "Free transactions shed before verification because their batch waited in the verify \
         queue longer than the admission delay (verification fell behind)",
        get(&node.sigverify_shed_late),
    );
    counter(
        &mut r,
        "blackbook_sigverify_shed_forwarded",
        "Transactions another validator forwarded here, shed before verification while this node \
         leads neither now nor next (a forwarded transaction is never forwarded again)",
        get(&node.sigverify_shed_forwarded),
    );
    for (name, help, a) in [
        (
            "blackbook_processed_slot",
            "The fork-choice head (RPC processed)",
            &node.processed_slot,
        ),
        (
            "blackbook_confirmed_slot",
            "Newest optimistically confirmed slot",
            &node.confirmed_slot,
        ),
        (
            "blackbook_finalized_slot",
            "Newest slot more than 2/3 of the stake rooted",
            &node.finalized_slot,
        ),
        (
            "blackbook_peers_known",
            "Validators gossip knows",
            &node.peers_known,
        ),
    ] {
        gauge(&mut r, name, help, get(a));
    }
    for (name, help, a) in [
        (
            "blackbook_votes_cast",
            "Votes this node cast",
            &node.votes_cast,
        ),
        (
            "blackbook_votes_refreshed",
            "Votes sent again because they had not landed",
            &node.votes_refreshed,
        ),
        (
            "blackbook_votes_send_failed",
            "Vote datagrams the socket refused",
            &node.votes_send_failed,
        ),
        (
            "blackbook_votes_verified",
            "Votes received (UDP or QUIC) that passed the edge's checks: a vote, signed",
            &node.votes_verified,
        ),
        (
            "blackbook_tower_write_failures",
            "Tower writes that failed (the vote was not sent)",
            &node.tower_write_failures,
        ),
        (
            "blackbook_slashing_evidence",
            "Slashing evidence recorded",
            &node.slashing_evidence,
        ),
        (
            "blackbook_duplicate_versions_lost",
            "Duplicate slots whose version here lost",
            &node.duplicate_versions_lost,
        ),
    ] {
        counter(&mut r, name, help, get(a));
    }
    let votes_rejected = Family::<Vec<(String, String)>, Counter<u64>>::default();
    for (reason, n) in node
        .votes_rejected
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .iter()
    {
        votes_rejected
            .get_or_create(&vec![("reason".to_string(), reason.to_string())])
            .inc_by(*n);
    }
    r.register(
        "blackbook_votes_rejected",
        "Vote-port datagrams refused, by reason",
        votes_rejected,
    );
    let gossip_rejected = Family::<Vec<(String, String)>, Counter<u64>>::default();
    for (reason, n) in node
        .gossip_rejected
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .iter()
    {
        gossip_rejected
            .get_or_create(&vec![("reason".to_string(), reason.to_string())])
            .inc_by(*n);
    }
    r.register(
        "blackbook_gossip_rejected",
        "Gossip datagrams and records refused, by reason",
        gossip_rejected,
    );
    let family = Family::<Vec<(String, String)>, Counter<u64>>::default();
    for (reason, n) in rejected.snapshot() {
        family
            .get_or_create(&vec![("reason".to_string(), reason.to_string())])
            .inc_by(n);
    }
    r.register(
        "blackbook_rejected",
        "Packets and transactions refused, by reason",
        family,
    );
    let mut out = String::new();
    // Writing into a String cannot fail.
    let _ = encode(&mut out, &r);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use dataplane::metrics::Reject;

    #[test]
    fn renders_counters_by_reason_in_text_format() {
        let node = NodeMetrics::default();
        node.blocks_stored.store(7, Ordering::Relaxed);
        let rejected = RejectCounters::default();
        rejected.add_n(Reject::BadSignature, 3);
        let rpc = RpcStats::new();
        rpc.pubsub.count_drop(PubSubDrop::SlowClient, 2);
        let text = render(&node, &rejected, &rpc, None, None);
        assert!(
            text.contains("blackbook_pubsub_dropped_total{reason=\"slow_client\"} 2"),
            "{text}"
        );
        assert!(
            text.contains("blackbook_rpc_calls_total{method=\"getSlot\"} 0"),
            "{text}"
        );
        assert!(text.contains("blackbook_blocks_stored_total 7"), "{text}");
        rpc.pubsub
            .observe_signature_delay(std::time::Duration::from_micros(700));
        let text = render(&node, &rejected, &rpc, None, None);
        assert!(
            text.contains(
                "blackbook_pubsub_signature_notification_delay_seconds_bucket{le=\"0.001\"} 1"
            ),
            "{text}"
        );
        assert!(
            text.contains("blackbook_rejected_total{reason=\"bad_signature\"} 3"),
            "{text}"
        );
        assert!(
            text.contains("blackbook_rejected_total{reason=\"malformed\"} 0"),
            "{text}"
        );
        assert!(text.contains("# TYPE blackbook_slot gauge"), "{text}");
    }
}
