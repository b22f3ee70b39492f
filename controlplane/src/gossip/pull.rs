//! Pull: a node periodically sends one peer a Bloom filter of what it holds, and the peer answers
//! with held values outside the filter — bounded in values, datagrams and bytes (at most
//! [`PULL_RESPONSE_AMPLIFICATION_MAX`] × the request), and rate-limited per source address.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::Arc;

use dataplane::types::Pubkey;
use rand::Rng;

use super::bloom::{mask_bits_for, partition, Bloom};
use super::config::{GossipConfig, PULL_RESPONSE_AMPLIFICATION_MAX};
use super::crds::{CrdsKind, SignedValue};
use super::table::CrdsTable;
use super::wire::{value_encoded_len, DATAGRAM_LEN_MAX, VALUES_HEADER_LEN, VALUES_PER_MESSAGE_MAX};

/// What pull keeps between requests.
#[derive(Debug, Default)]
pub(crate) struct PullState {
    /// When the next request goes out.
    pub next_pull_ms: u64,
    /// Start of the current rate-limit window.
    window_start_ms: u64,
    /// Requests answered per source address in the current window.
    answered: BTreeMap<SocketAddr, u32>,
}

impl PullState {
    /// Whether a request from `from` may be answered now; counts it if so.
    pub fn admit(&mut self, now_ms: u64, from: SocketAddr, config: &GossipConfig) -> bool {
        if now_ms >= self.window_start_ms.saturating_add(config.pull_interval_ms) {
            self.answered.clear();
            self.window_start_ms = now_ms;
        }
        if !self.answered.contains_key(&from)
            && self.answered.len() >= config.pull_rate_addresses_max
        {
            return false;
        }
        let answered = self.answered.entry(from).or_insert(0);
        if *answered >= config.pull_requests_per_address_max {
            return false;
        }
        *answered += 1;
        true
    }
}

/// A filter of the hashes of one random partition of the table, sized for that partition.
pub(crate) fn build_filter(table: &CrdsTable, rng: &mut impl Rng) -> Bloom {
    let mask_bits = mask_bits_for(table.len());
    let mask = if mask_bits == 0 {
        0
    } else {
        rng.gen_range(0..1u64 << mask_bits)
    };
    let items = table
        .entries()
        .filter(|e| partition(&e.hash, mask_bits) == mask)
        .count();
    let mut filter = Bloom::for_items(items, mask, mask_bits, rng);
    for entry in table.entries() {
        if filter.covers(&entry.hash) {
            filter.add(&entry.hash);
        }
    }
    filter
}

/// What a pull request may be answered with.
pub(crate) struct ResponseBudget {
    /// Most values.
    pub values_max: usize,
    /// Most datagrams.
    pub datagrams_max: usize,
    /// Most bytes over all datagrams.
    pub bytes_max: usize,
}

impl ResponseBudget {
    /// The budget for a request of `request_len` bytes.
    pub fn for_request(request_len: usize, config: &GossipConfig) -> ResponseBudget {
        ResponseBudget {
            values_max: config.pull_response_values_max,
            datagrams_max: config.pull_response_datagrams_max,
            bytes_max: request_len.saturating_mul(PULL_RESPONSE_AMPLIFICATION_MAX),
        }
    }
}

/// Who asks for a pull: its identity and the instance its contact info names.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Requester {
    /// The caller's identity.
    pub pubkey: Pubkey,
    /// Its process instance.
    pub instance: u64,
}

/// The values to answer `requester`'s `filter` with, packed into datagrams: held values in the
/// filter's partition that it does not contain, not the requester's own (except a contact info of
/// its identity from another instance: how a twin learns that a second process runs it), young enough that
/// the requester's wallclock check will take them. Contact infos go first (they are what a new
/// node needs to find the others); within each kind the choice is random, so requesters that ask
/// often get different values while their filter catches up.
pub(crate) fn select_response(
    table: &CrdsTable,
    filter: &Bloom,
    requester: &Requester,
    now_ms: u64,
    wallclock_window_ms: u64,
    budget: &ResponseBudget,
    rng: &mut impl Rng,
) -> Vec<Vec<Arc<SignedValue>>> {
    let mut contact_infos = Vec::new();
    let mut others = Vec::new();
    for entry in table.entries() {
        let value = &entry.value;
        let twin = || {
            value
                .contact_info()
                .is_some_and(|ci| ci.instance != requester.instance)
        };
        if (value.origin == requester.pubkey && !twin())
            || now_ms.saturating_sub(value.wallclock_ms) > wallclock_window_ms
            || !filter.covers(&entry.hash)
            || filter.contains(&entry.hash)
        {
            continue;
        }
        if value.kind() == CrdsKind::ContactInfo {
            contact_infos.push(value);
        } else {
            others.push(value);
        }
    }
    let mut datagrams: Vec<(usize, Vec<Arc<SignedValue>>)> = Vec::new();
    let mut bytes = 0usize;
    let mut values = 0usize;
    while values < budget.values_max {
        let group = if !contact_infos.is_empty() {
            &mut contact_infos
        } else if !others.is_empty() {
            &mut others
        } else {
            break;
        };
        let value = group.swap_remove(rng.gen_range(0..group.len()));
        let len = value_encoded_len(value);
        let opened = datagrams.len();
        let room = datagrams.iter_mut().find(|(used, batch)| {
            used + len <= DATAGRAM_LEN_MAX && batch.len() < VALUES_PER_MESSAGE_MAX
        });
        match room {
            Some((used, batch)) if bytes + len <= budget.bytes_max => {
                *used += len;
                bytes += len;
                batch.push(value.clone());
            }
            None if opened < budget.datagrams_max
                && bytes + VALUES_HEADER_LEN + len <= budget.bytes_max =>
            {
                bytes += VALUES_HEADER_LEN + len;
                datagrams.push((VALUES_HEADER_LEN + len, vec![value.clone()]));
            }
            // No room for this one; a smaller value may still fit.
            _ => continue,
        }
        values += 1;
    }
    datagrams.into_iter().map(|(_, batch)| batch).collect()
}
