//! Request counters: per method, unknown methods, errors and refused HTTP bodies; and PubSub's
//! connections, subscriptions and every refusal or disconnect.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use prometheus_client::metrics::histogram::Histogram;

macro_rules! rpc_methods {
    ($(#[$doc:meta])* $Method:ident { $($variant:ident => $name:literal),* $(,)? }) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum $Method {
            $(
                #[doc = concat!("`", $name, "`")]
                $variant,
            )*
        }

        impl $Method {
            /// Every method, in counter order.
            pub const ALL: &'static [$Method] = &[$($Method::$variant),*];

            /// The JSON-RPC method name.
            pub fn name(self) -> &'static str {
                match self {
                    $($Method::$variant => $name,)*
                }
            }

            /// The method called `name`, if the server implements it.
            pub fn from_name(name: &str) -> Option<$Method> {
                match name {
                    $($name => Some($Method::$variant),)*
                    _ => None,
                }
            }
        }
    };
}

rpc_methods! {
    /// A JSON-RPC method the HTTP server implements.
    Method {
    GetAccountInfo => "getAccountInfo",
    GetBalance => "getBalance",
    GetBlock => "getBlock",
    GetBlockEntries => "getBlockEntries",
    GetBlockHeader => "getBlockHeader",
    GetBlockCommitment => "getBlockCommitment",
    GetBlockHeight => "getBlockHeight",
    GetBlockProduction => "getBlockProduction",
    GetBlockTime => "getBlockTime",
    GetBlocks => "getBlocks",
    GetBlocksWithLimit => "getBlocksWithLimit",
    GetClusterNodes => "getClusterNodes",
    GetEpochInfo => "getEpochInfo",
    GetEpochSchedule => "getEpochSchedule",
    GetFeeForMessage => "getFeeForMessage",
    GetFirstAvailableBlock => "getFirstAvailableBlock",
    GetGenesisHash => "getGenesisHash",
    GetHealth => "getHealth",
    GetHighestSnapshotSlot => "getHighestSnapshotSlot",
    GetIdentity => "getIdentity",
    GetLargestAccounts => "getLargestAccounts",
    GetLatestBlockhash => "getLatestBlockhash",
    GetMaxRetransmitSlot => "getMaxRetransmitSlot",
    GetMaxShredInsertSlot => "getMaxShredInsertSlot",
    GetLeaderSchedule => "getLeaderSchedule",
    GetMinimumBalanceForRentExemption => "getMinimumBalanceForRentExemption",
    GetMultipleAccounts => "getMultipleAccounts",
    GetRecentPerformanceSamples => "getRecentPerformanceSamples",
    GetRecentPrioritizationFees => "getRecentPrioritizationFees",
    GetSignatureStatuses => "getSignatureStatuses",
    GetSignaturesForAddress => "getSignaturesForAddress",
    GetSlashingEvidence => "getSlashingEvidence",
    GetSlot => "getSlot",
    GetSlotLeader => "getSlotLeader",
    GetSlotLeaders => "getSlotLeaders",
    GetSupply => "getSupply",
    GetTransaction => "getTransaction",
    GetTower => "getTower",
    GetTransactionCount => "getTransactionCount",
    GetVersion => "getVersion",
    GetVoteAccounts => "getVoteAccounts",
    IsBlockhashValid => "isBlockhashValid",
    MinimumLedgerSlot => "minimumLedgerSlot",
    RequestAirdrop => "requestAirdrop",
    SendTransaction => "sendTransaction",
    SimulateTransaction => "simulateTransaction",
}}

rpc_methods! {
    /// A PubSub (WebSocket) method.
    PubSubMethod {
    AccountSubscribe => "accountSubscribe",
    AccountUnsubscribe => "accountUnsubscribe",
    BlockSubscribe => "blockSubscribe",
    BlockUnsubscribe => "blockUnsubscribe",
    LogsSubscribe => "logsSubscribe",
    LogsUnsubscribe => "logsUnsubscribe",
    RootSubscribe => "rootSubscribe",
    RootUnsubscribe => "rootUnsubscribe",
    SignatureSubscribe => "signatureSubscribe",
    SignatureUnsubscribe => "signatureUnsubscribe",
    SlotSubscribe => "slotSubscribe",
    SlotUnsubscribe => "slotUnsubscribe",
    SlotsUpdatesSubscribe => "slotsUpdatesSubscribe",
    SlotsUpdatesUnsubscribe => "slotsUpdatesUnsubscribe",
}}

/// RPC request counters, shared between the server and whoever exports metrics.
#[derive(Debug)]
pub struct RpcStats {
    calls: Box<[AtomicU64]>,
    unknown_method_calls: AtomicU64,
    errors: AtomicU64,
    rejected_bodies: AtomicU64,
    connections_open: AtomicU64,
    connections_refused: AtomicU64,
    connections_timed_out: AtomicU64,
    connections_refused_per_ip: AtomicU64,
    connections_idle_closed: AtomicU64,
    bodies_timed_out: AtomicU64,
    send_transaction_rate_limited: AtomicU64,
    /// PubSub's counters.
    pub pubsub: PubSubStats,
}

/// Why PubSub refused or dropped something (a metrics label each).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PubSubDrop {
    /// A connection refused: the node holds its most connections.
    ConnectionLimit,
    /// A connection refused: its address holds its most connections.
    ConnectionLimitPerIp,
    /// A subscription refused: its connection, or the node, holds its most subscriptions.
    SubscriptionLimit,
    /// A connection closed for an incoming message over the size limit or a broken frame.
    BadFrame,
    /// A connection closed because its client did not read: its send queue was full.
    SlowClient,
    /// Node events the notification hub missed because it fell behind.
    EventsLagged,
    /// A request without an id (a JSON-RPC notification): not run, as Solana runs none; a
    /// subscription made so could not be named.
    Notification,
}

impl PubSubDrop {
    /// Every reason, in counter order.
    pub const ALL: [PubSubDrop; 7] = [
        PubSubDrop::ConnectionLimit,
        PubSubDrop::ConnectionLimitPerIp,
        PubSubDrop::SubscriptionLimit,
        PubSubDrop::BadFrame,
        PubSubDrop::SlowClient,
        PubSubDrop::EventsLagged,
        PubSubDrop::Notification,
    ];

    /// The metrics label.
    pub fn name(self) -> &'static str {
        match self {
            PubSubDrop::ConnectionLimit => "connection_limit",
            PubSubDrop::ConnectionLimitPerIp => "connection_limit_per_ip",
            PubSubDrop::SubscriptionLimit => "subscription_limit",
            PubSubDrop::BadFrame => "bad_frame",
            PubSubDrop::SlowClient => "slow_client",
            PubSubDrop::EventsLagged => "events_lagged",
            PubSubDrop::Notification => "notification_request",
        }
    }
}

/// PubSub counters: calls per method, open connections and subscriptions, notifications sent and
/// every refusal or disconnect by reason.
#[derive(Debug)]
pub struct PubSubStats {
    /// Seconds from the event that made a signature notification due (a block reaching the
    /// subscribed commitment) to the notification's write to the client's socket.
    signature_delay: Histogram,
    calls: Box<[AtomicU64]>,
    connections_open: AtomicU64,
    subscriptions_open: AtomicU64,
    notifications: AtomicU64,
    drops: [AtomicU64; PubSubDrop::ALL.len()],
}

impl Default for PubSubStats {
    fn default() -> Self {
        PubSubStats {
            signature_delay: Histogram::new(SIGNATURE_DELAY_BUCKETS),
            calls: PubSubMethod::ALL
                .iter()
                .map(|_| AtomicU64::new(0))
                .collect(),
            connections_open: AtomicU64::new(0),
            subscriptions_open: AtomicU64::new(0),
            notifications: AtomicU64::new(0),
            drops: Default::default(),
        }
    }
}

/// Buckets of [`PubSubStats::signature_delay`], in seconds: fine around the 10 ms target.
const SIGNATURE_DELAY_BUCKETS: [f64; 12] = [
    0.000_25, 0.000_5, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 1.0, 5.0,
];

impl PubSubStats {
    /// Notes one signature notification's delay from its event to its write.
    pub fn observe_signature_delay(&self, delay: Duration) {
        self.signature_delay.observe(delay.as_secs_f64());
    }

    /// The signature-notification delay histogram (shared: a scrape registers this one).
    pub fn signature_delay(&self) -> Histogram {
        self.signature_delay.clone()
    }

    /// Calls of `method`, failed or not.
    pub fn calls(&self, method: PubSubMethod) -> u64 {
        self.calls[method as usize].load(Ordering::Relaxed)
    }

    /// WebSocket connections open now.
    pub fn connections_open(&self) -> u64 {
        self.connections_open.load(Ordering::Relaxed)
    }

    /// Subscriptions open now, over every connection.
    pub fn subscriptions_open(&self) -> u64 {
        self.subscriptions_open.load(Ordering::Relaxed)
    }

    /// Notifications queued to clients.
    pub fn notifications(&self) -> u64 {
        self.notifications.load(Ordering::Relaxed)
    }

    /// Refusals or disconnects for `reason`.
    pub fn drops(&self, reason: PubSubDrop) -> u64 {
        self.drops[reason as usize].load(Ordering::Relaxed)
    }

    /// `(method name, calls)` for every method, in [`PubSubMethod::ALL`] order.
    pub fn snapshot(&self) -> Vec<(&'static str, u64)> {
        PubSubMethod::ALL
            .iter()
            .map(|&m| (m.name(), self.calls(m)))
            .collect()
    }

    pub(super) fn count_call(&self, method: PubSubMethod) {
        self.calls[method as usize].fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn count_drop(&self, reason: PubSubDrop, n: u64) {
        self.drops[reason as usize].fetch_add(n, Ordering::Relaxed);
    }

    pub(super) fn count_notification(&self) {
        self.notifications.fetch_add(1, Ordering::Relaxed);
    }

    pub(super) fn connection_opened(&self) {
        self.connections_open.fetch_add(1, Ordering::Relaxed);
    }

    pub(super) fn connection_closed(&self) {
        self.connections_open.fetch_sub(1, Ordering::Relaxed);
    }

    pub(super) fn set_subscriptions_open(&self, n: usize) {
        self.subscriptions_open.store(n as u64, Ordering::Relaxed);
    }
}

impl Default for RpcStats {
    fn default() -> Self {
        RpcStats::new()
    }
}

impl RpcStats {
    /// All counters at zero.
    pub fn new() -> RpcStats {
        RpcStats {
            calls: Method::ALL.iter().map(|_| AtomicU64::new(0)).collect(),
            unknown_method_calls: AtomicU64::new(0),
            errors: AtomicU64::new(0),
            rejected_bodies: AtomicU64::new(0),
            connections_open: AtomicU64::new(0),
            connections_refused: AtomicU64::new(0),
            connections_timed_out: AtomicU64::new(0),
            connections_refused_per_ip: AtomicU64::new(0),
            connections_idle_closed: AtomicU64::new(0),
            bodies_timed_out: AtomicU64::new(0),
            send_transaction_rate_limited: AtomicU64::new(0),
            pubsub: PubSubStats::default(),
        }
    }

    /// Calls of `method` (each request in a batch counts once), failed or not.
    pub fn calls(&self, method: Method) -> u64 {
        self.calls[method as usize].load(Ordering::Relaxed)
    }

    /// Requests naming a method the server does not implement.
    pub fn unknown_method_calls(&self) -> u64 {
        self.unknown_method_calls.load(Ordering::Relaxed)
    }

    /// Error responses of any kind (parse, envelope, params, chain), including rejected bodies.
    pub fn errors(&self) -> u64 {
        self.errors.load(Ordering::Relaxed)
    }

    /// HTTP bodies refused before parsing (too large, unreadable).
    pub fn rejected_bodies(&self) -> u64 {
        self.rejected_bodies.load(Ordering::Relaxed)
    }

    /// TCP connections the RPC port holds now.
    pub fn connections_open(&self) -> u64 {
        self.connections_open.load(Ordering::Relaxed)
    }

    /// Connections closed at accept because the port held [`super::HTTP_CONNECTIONS_MAX`].
    pub fn connections_refused(&self) -> u64 {
        self.connections_refused.load(Ordering::Relaxed)
    }

    /// Connections closed for not sending a request head within [`super::HEADER_READ_TIMEOUT`].
    pub fn connections_timed_out(&self) -> u64 {
        self.connections_timed_out.load(Ordering::Relaxed)
    }

    /// Connections closed at accept because their address held
    /// [`super::HTTP_CONNECTIONS_PER_IP_MAX`].
    pub fn connections_refused_per_ip(&self) -> u64 {
        self.connections_refused_per_ip.load(Ordering::Relaxed)
    }

    /// Connections closed after [`super::IDLE_TIMEOUT`] with nothing to do.
    pub fn connections_idle_closed(&self) -> u64 {
        self.connections_idle_closed.load(Ordering::Relaxed)
    }

    /// Requests whose body did not arrive within [`super::BODY_READ_TIMEOUT`] (answered 408,
    /// connection closed; also counted as rejected bodies).
    pub fn bodies_timed_out(&self) -> u64 {
        self.bodies_timed_out.load(Ordering::Relaxed)
    }

    /// HTTP requests refused with 429: their `sendTransaction` calls exceeded the IP's rate.
    pub fn send_transaction_rate_limited(&self) -> u64 {
        self.send_transaction_rate_limited.load(Ordering::Relaxed)
    }

    pub(super) fn count_rate_limited(&self) {
        self.send_transaction_rate_limited
            .fetch_add(1, Ordering::Relaxed);
    }

    pub(super) fn connection_opened(&self) {
        self.connections_open.fetch_add(1, Ordering::Relaxed);
    }

    pub(super) fn connection_closed(&self) {
        self.connections_open.fetch_sub(1, Ordering::Relaxed);
    }

    pub(super) fn count_refused_connection(&self) {
        self.connections_refused.fetch_add(1, Ordering::Relaxed);
    }

    pub(super) fn count_timed_out_connection(&self) {
        self.connections_timed_out.fetch_add(1, Ordering::Relaxed);
    }

    pub(super) fn count_refused_per_ip_connection(&self) {
        self.connections_refused_per_ip
            .fetch_add(1, Ordering::Relaxed);
    }

    pub(super) fn count_idle_closed_connection(&self) {
        self.connections_idle_closed.fetch_add(1, Ordering::Relaxed);
    }

    pub(super) fn count_body_timed_out(&self) {
        self.bodies_timed_out.fetch_add(1, Ordering::Relaxed);
        self.count_rejected_body();
    }

    /// `(method name, calls)` for every method, in [`Method::ALL`] order.
    pub fn snapshot(&self) -> Vec<(&'static str, u64)> {
        Method::ALL
            .iter()
            .map(|&m| (m.name(), self.calls(m)))
            .collect()
    }

    pub(super) fn count_call(&self, method: Method) {
        self.calls[method as usize].fetch_add(1, Ordering::Relaxed);
    }

    pub(super) fn count_unknown_method(&self) {
        self.unknown_method_calls.fetch_add(1, Ordering::Relaxed);
    }

    pub(super) fn count_error(&self) {
        self.errors.fetch_add(1, Ordering::Relaxed);
    }

    pub(super) fn count_rejected_body(&self) {
        self.rejected_bodies.fetch_add(1, Ordering::Relaxed);
        self.count_error();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_index_counters() {
        for (i, &m) in Method::ALL.iter().enumerate() {
            assert_eq!(m as usize, i);
            assert_eq!(Method::from_name(m.name()), Some(m));
        }
        assert_eq!(Method::from_name("getslot"), None);
        let stats = RpcStats::new();
        stats.count_call(Method::SendTransaction);
        stats.count_call(Method::SendTransaction);
        assert_eq!(stats.calls(Method::SendTransaction), 2);
        assert_eq!(stats.calls(Method::GetSlot), 0);
        let snap = stats.snapshot();
        assert_eq!(snap.len(), Method::ALL.len());
        assert!(snap.contains(&("sendTransaction", 2)));
        // PubSub's methods are not HTTP's.
        assert_eq!(Method::from_name("slotSubscribe"), None);
        for (i, &m) in PubSubMethod::ALL.iter().enumerate() {
            assert_eq!(m as usize, i);
            assert_eq!(PubSubMethod::from_name(m.name()), Some(m));
        }
        stats.pubsub.count_call(PubSubMethod::SlotSubscribe);
        assert!(stats.pubsub.snapshot().contains(&("slotSubscribe", 1)));
        assert_eq!(stats.pubsub.calls(PubSubMethod::RootSubscribe), 0);
    }
}
