//! A deterministic in-test network of [`Gossip`] nodes: datagrams queue in a `VecDeque` and arrive
//! one step later, virtual time advances in fixed steps, and (optionally) every datagram goes
//! through `wire::encode` and `decode_and_verify`.

use std::collections::{BTreeMap, VecDeque};
use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4};

use dataplane::types::{Hash, Pubkey};
use ed25519_dalek::SigningKey;

use crate::gossip::{
    encode, encoded_len, wire::decode_and_verify_unheld, ContactInfo, CrdsData, Gossip,
    GossipCluster, GossipConfig, GossipMessage, SoftwareVersion,
};
use crate::signer::{Signer, Verified};

/// The harness cluster's genesis hash.
pub const GENESIS: Hash = Hash([0x6E; 32]);
/// The harness cluster's shred version.
pub const SHRED_VERSION: u16 = 4242;
/// Virtual time per step, which is also every datagram's latency.
pub const STEP_MS: u64 = 10;
/// Virtual Unix time the harness starts at (wallclocks must be plausible, not zero).
pub const START_MS: u64 = 1_700_000_000_000;

/// Node `i`'s identity key.
pub fn key(i: usize) -> SigningKey {
    let mut seed = [0u8; 32];
    seed[..8].copy_from_slice(&(i as u64 + 1).to_le_bytes());
    SigningKey::from_bytes(&seed)
}

/// Node `i`'s address on `port`.
pub fn addr(i: usize, port: u16) -> SocketAddr {
    let [_, _, hi, lo] = (i as u32).to_be_bytes();
    SocketAddr::V4(SocketAddrV4::new(Ipv4Addr::new(10, 1, hi, lo), port))
}

/// Node `i`'s contact info (pubkey and wallclock are filled in when signed).
pub fn contact_info(i: usize) -> ContactInfo {
    ContactInfo {
        pubkey: key(i).pubkey(),
        wallclock_ms: 0,
        shred_version: SHRED_VERSION,
        version: SoftwareVersion {
            major: 0,
            minor: 1,
            patch: 0,
        },
        instance: 0,
        gossip: addr(i, 8001),
        tpu: addr(i, 8003),
        tpu_vote: addr(i, 8004),
        tvu: addr(i, 8002),
        repair: addr(i, 8005),
        serve_repair: addr(i, 8006),
        rpc: Some(addr(i, 8899)),
        tpu_quic: None,
        tpu_vote_quic: None,
    }
}

/// A cluster of `n` validators, stakes rising with the index so weights differ.
pub fn cluster(n: usize) -> GossipCluster {
    GossipCluster {
        genesis_hash: GENESIS,
        shred_version: SHRED_VERSION,
        validators: (0..n)
            .map(|i| (key(i).pubkey(), 1_000_000 * (i as u64 + 1)))
            .collect(),
    }
}

/// One node: its machine and its key.
pub struct Node {
    /// The state machine.
    pub gossip: Gossip,
    /// Its identity.
    pub signer: SigningKey,
}

/// Datagrams and bytes a node sent.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Traffic {
    /// Datagrams.
    pub datagrams: u64,
    /// Bytes (wire encoding).
    pub bytes: u64,
}

/// The network.
pub struct Net {
    /// The nodes, by index.
    pub nodes: Vec<Node>,
    /// Virtual time.
    pub now_ms: u64,
    /// What each node sent.
    pub sent: Vec<Traffic>,
    /// Votes each node received in pushes (every copy counts).
    pub pushed_votes_received: Vec<u64>,
    /// Whether datagrams are encoded and verified (else passed as checked messages).
    through_wire: bool,
    in_flight: VecDeque<(SocketAddr, SocketAddr, GossipMessage)>,
    by_addr: BTreeMap<SocketAddr, usize>,
}

impl Net {
    /// `n` nodes of [`cluster`]`(n)`, each knowing only node 0's gossip address.
    pub fn new(n: usize, config: GossipConfig, through_wire: bool, seed: u64) -> Net {
        let nodes: Vec<Node> = (0..n)
            .map(|i| Node {
                gossip: Gossip::new(
                    config.clone(),
                    cluster(n),
                    contact_info(i),
                    vec![addr(0, 8001)],
                    seed.wrapping_mul(1_000).wrapping_add(i as u64),
                ),
                signer: key(i),
            })
            .collect();
        Net {
            by_addr: (0..n).map(|i| (addr(i, 8001), i)).collect(),
            sent: vec![Traffic::default(); n],
            pushed_votes_received: vec![0; n],
            nodes,
            now_ms: START_MS,
            through_wire,
            in_flight: VecDeque::new(),
        }
    }

    /// Advances one step: delivers what was sent in the last one, runs due timeouts, and queues
    /// what the nodes send for the next.
    pub fn step(&mut self) {
        self.now_ms += STEP_MS;
        let arriving: Vec<_> = self.in_flight.drain(..).collect();
        for (from, to, msg) in arriving {
            let Some(&i) = self.by_addr.get(&to) else {
                continue;
            };
            if let GossipMessage::Push { values, .. } = &msg {
                let votes = values
                    .iter()
                    .filter(|v| matches!(v.data, CrdsData::Vote { .. }))
                    .count();
                self.pushed_votes_received[i] += votes as u64;
            }
            let node = &mut self.nodes[i];
            let checked = if self.through_wire {
                let bytes = encode(&msg);
                match decode_and_verify_unheld(&bytes, &GENESIS, |v| node.gossip.holds(v)) {
                    Ok((checked, held)) => {
                        node.gossip.record_held(held);
                        checked
                    }
                    Err(reject) => {
                        node.gossip.record_reject(&reject);
                        continue;
                    }
                }
            } else {
                Verified::assume_checked(msg)
            };
            node.gossip
                .handle_message(self.now_ms, from, checked, &node.signer);
        }
        for i in 0..self.nodes.len() {
            let node = &mut self.nodes[i];
            if node.gossip.poll_timeout() <= self.now_ms {
                node.gossip.handle_timeout(self.now_ms, &node.signer);
            }
            self.collect(i);
        }
    }

    fn collect(&mut self, i: usize) {
        let from = addr(i, 8001);
        while let Some((to, msg)) = self.nodes[i].gossip.poll_transmit() {
            let len = encoded_len(&msg);
            assert!(
                len <= crate::gossip::DATAGRAM_LEN_MAX,
                "datagram of {len} bytes"
            );
            self.sent[i].datagrams += 1;
            self.sent[i].bytes += len as u64;
            self.in_flight.push_back((from, to, msg));
        }
    }

    /// Steps until `done` holds or `limit_ms` of virtual time has passed; the time it took.
    pub fn run_until(&mut self, limit_ms: u64, mut done: impl FnMut(&Net) -> bool) -> Option<u64> {
        let start = self.now_ms;
        while self.now_ms - start <= limit_ms {
            if done(self) {
                return Some(self.now_ms - start);
            }
            self.step();
        }
        None
    }

    /// Whether every node lists every node's contact info.
    pub fn fully_discovered(&self) -> bool {
        let n = self.nodes.len();
        self.nodes
            .iter()
            .all(|node| node.gossip.contact_infos().count() == n)
    }

    /// Node `i`'s identity.
    pub fn pubkey(&self, i: usize) -> Pubkey {
        self.nodes[i].signer.pubkey()
    }
}
