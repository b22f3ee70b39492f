//! Request counters: per method, unknown methods, errors and refused HTTP bodies.

use std::sync::atomic::{AtomicU64, Ordering};

macro_rules! rpc_methods {
    ($($variant:ident => $name:literal),* $(,)?) => {
        /// A JSON-RPC method the server implements.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum Method {
            $(
                #[doc = concat!("`", $name, "`")]
                $variant,
            )*
        }

        impl Method {
            /// Every method, in counter order.
            pub const ALL: &'static [Method] = &[$(Method::$variant),*];

            /// The JSON-RPC method name.
            pub fn name(self) -> &'static str {
                match self {
                    $(Method::$variant => $name,)*
                }
            }

            /// The method called `name`, if the server implements it.
            pub fn from_name(name: &str) -> Option<Method> {
                match name {
                    $($name => Some(Method::$variant),)*
                    _ => None,
                }
            }
        }
    };
}

rpc_methods! {
    GetAccountInfo => "getAccountInfo",
    GetBalance => "getBalance",
    GetBlock => "getBlock",
    GetBlockEntries => "getBlockEntries",
    GetBlockHeader => "getBlockHeader",
    GetBlockHeight => "getBlockHeight",
    GetClusterNodes => "getClusterNodes",
    GetEpochInfo => "getEpochInfo",
    GetEpochSchedule => "getEpochSchedule",
    GetFeeForMessage => "getFeeForMessage",
    GetGenesisHash => "getGenesisHash",
    GetHealth => "getHealth",
    GetIdentity => "getIdentity",
    GetLatestBlockhash => "getLatestBlockhash",
    GetLeaderSchedule => "getLeaderSchedule",
    GetMinimumBalanceForRentExemption => "getMinimumBalanceForRentExemption",
    GetRecentPrioritizationFees => "getRecentPrioritizationFees",
    GetSignatureStatuses => "getSignatureStatuses",
    GetSlashingEvidence => "getSlashingEvidence",
    GetSlot => "getSlot",
    GetSlotLeader => "getSlotLeader",
    GetSlotLeaders => "getSlotLeaders",
    GetTransaction => "getTransaction",
    GetTower => "getTower",
    GetTransactionCount => "getTransactionCount",
    GetVersion => "getVersion",
    GetVoteAccounts => "getVoteAccounts",
    IsBlockhashValid => "isBlockhashValid",
    RequestAirdrop => "requestAirdrop",
    SendTransaction => "sendTransaction",
}

/// RPC request counters, shared between the server and whoever exports metrics.
#[derive(Debug)]
pub struct RpcStats {
    calls: Box<[AtomicU64]>,
    unknown_method_calls: AtomicU64,
    errors: AtomicU64,
    rejected_bodies: AtomicU64,
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
    }
}
