//! Test harness: the real server on 127.0.0.1:0 over a fake [`Chain`] with canned data, and a raw
//! HTTP/1.1 client to speak to it. PubSub is served too, on the RPC port and on a port of its own;
//! tests drive it by publishing events on the fake chain's feed.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::ops::RangeInclusive;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use dataplane::txn::{build_transfer, build_transfer_v0, TxnView};
use dataplane::types::{Hash, Pubkey, Signature, Slot, LAMPORTS_PER_TOKEN};
use ed25519_dalek::{SigningKey, VerifyingKey};
use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

use super::pubsub::{ChainEvent, EventFeed, PubSub, PubSubLimits, SlotChanges};
use super::server::serve_bounded;
use super::*;
use crate::perf_samples::PerfSample;

pub(super) const FINALIZED_SLOT: u64 = 10;
pub(super) const CONFIRMED_SLOT: u64 = 11;
pub(super) const PROCESSED_SLOT: u64 = 12;
pub(super) const BLOCKHASH: Hash = Hash([7; 32]);
pub(super) const PAYER_LAMPORTS: u64 = 1_000_000_000;
/// The fake cluster's total supply.
pub(super) const SUPPLY_LAMPORTS: u64 = 500_000_000_000_000;
/// Transfers of these amounts make the fake node refuse the transaction in one particular way.
pub(super) const LAMPORTS_PREFLIGHT_FAIL: u64 = 13;
pub(super) const LAMPORTS_UNHEALTHY: u64 = 14;
pub(super) const LAMPORTS_BUSY: u64 = 15;
pub(super) const LAMPORTS_UNSUPPORTED: u64 = 16;
/// The slot of the block holding the v0 transfer (the parent of [`FINALIZED_SLOT`]).
pub(super) const V0_SLOT: u64 = 8;
/// Lamports the v0 transfer moves.
pub(super) const V0_LAMPORTS: u64 = 260;
pub(super) const FAILED_SIG: Signature = Signature([1; 64]);
pub(super) const AIRDROP_SIG: Signature = Signature([9; 64]);

/// A node with a block (slot 10) holding one legacy transfer, whose parent (slot 8) holds one v0
/// transfer; slot 9 was skipped.
pub(super) struct FakeChain {
    pub payer: SigningKey,
    pub recipient: Pubkey,
    pub transfer: Vec<u8>,
    pub transfer_v0: Vec<u8>,
    pub healthy: AtomicBool,
    pub submitted: Mutex<Vec<Vec<u8>>>,
    pub airdrops: Mutex<Vec<(Pubkey, u64)>>,
    /// What the fake node publishes for PubSub.
    pub feed: EventFeed,
    /// What each slot changed, as tests set it.
    pub changes: Mutex<HashMap<Slot, SlotChanges>>,
    /// Times PubSub read a slot's changes ([`Chain::slot_changes`]).
    pub slot_changes_reads: AtomicU64,
    /// Set by a test, it holds up every `block` read (the PubSub hub rendering a block).
    pub block_held: AtomicBool,
    /// `block` reads begun.
    pub block_reads: AtomicU64,
}

impl FakeChain {
    pub fn new() -> FakeChain {
        let payer = SigningKey::from_bytes(&[42; 32]);
        let recipient = Pubkey([3; 32]);
        let transfer = build_transfer(&payer, &recipient, 250, &BLOCKHASH);
        let transfer_v0 = build_transfer_v0(&payer, &recipient, V0_LAMPORTS, &BLOCKHASH);
        FakeChain {
            payer,
            recipient,
            transfer,
            transfer_v0,
            healthy: AtomicBool::new(true),
            submitted: Mutex::new(Vec::new()),
            airdrops: Mutex::new(Vec::new()),
            feed: EventFeed::new(),
            changes: Mutex::new(HashMap::new()),
            slot_changes_reads: AtomicU64::new(0),
            block_held: AtomicBool::new(false),
            block_reads: AtomicU64::new(0),
        }
    }

    pub fn payer_key(&self) -> Pubkey {
        Pubkey(self.payer.verifying_key().to_bytes())
    }

    pub fn transfer_signature(&self) -> Signature {
        TxnView::new(&self.transfer).unwrap().signature()
    }

    pub fn transfer_v0_signature(&self) -> Signature {
        TxnView::new(&self.transfer_v0).unwrap().signature()
    }

    fn record_v0(&self) -> TransactionRecord {
        TransactionRecord {
            slot: Slot(V0_SLOT),
            block_time: Some(1_699_999_999),
            wire: self.transfer_v0.clone(),
            fee: 5_000,
            err: None,
            pre_balances: vec![PAYER_LAMPORTS + 10_510, 0, 1],
            post_balances: vec![PAYER_LAMPORTS + 5_250, V0_LAMPORTS, 1],
        }
    }

    fn record(&self) -> TransactionRecord {
        TransactionRecord {
            slot: Slot(FINALIZED_SLOT),
            block_time: Some(1_700_000_000),
            wire: self.transfer.clone(),
            fee: 5_000,
            err: None,
            pre_balances: vec![PAYER_LAMPORTS + 5_250, 0, 1],
            post_balances: vec![PAYER_LAMPORTS, 250, 1],
        }
    }
}

fn slot_at(c: Commitment) -> u64 {
    match c {
        Commitment::Processed => PROCESSED_SLOT,
        Commitment::Confirmed => CONFIRMED_SLOT,
        Commitment::Finalized => FINALIZED_SLOT,
    }
}

impl Chain for FakeChain {
    fn slot(&self, c: Commitment) -> Slot {
        Slot(slot_at(c))
    }
    fn block_height(&self, c: Commitment) -> u64 {
        slot_at(c) - 3
    }
    fn balance(&self, key: &Pubkey, c: Commitment) -> (Slot, u64) {
        let lamports = if *key == self.payer_key() {
            PAYER_LAMPORTS
        } else if *key == self.recipient {
            250
        } else {
            0
        };
        (Slot(slot_at(c)), lamports)
    }
    fn balances(&self, keys: &[Pubkey], c: Commitment) -> (Slot, Vec<u64>) {
        let lamports = keys.iter().map(|k| self.balance(k, c).1).collect();
        (Slot(slot_at(c)), lamports)
    }
    fn supply(&self, c: Commitment) -> (Slot, u64) {
        (Slot(slot_at(c)), SUPPLY_LAMPORTS)
    }
    fn first_available_block(&self) -> Slot {
        Slot(V0_SLOT)
    }
    /// Transfers from the payer: one of [`LAMPORTS_PREFLIGHT_FAIL`] fails for lack of funds; an
    /// unknown blockhash is `BlockhashNotFound` unless replaced.
    fn simulate_transaction(
        &self,
        wire: &[u8],
        opts: &SimulateOptions,
    ) -> Result<Simulation, SubmitError> {
        let slot = Slot(slot_at(opts.commitment));
        let balances = |keys: &[Pubkey]| -> Vec<u64> {
            keys.iter()
                .map(|k| self.balance(k, opts.commitment).1)
                .collect()
        };
        let view = match TxnView::new(wire) {
            Ok(v) => v,
            Err(e) => {
                let err = e.to_solana_json().ok_or_else(|| SubmitError::from(&e))?;
                return Ok(Simulation {
                    slot,
                    err: Some(err),
                    accounts: balances(&opts.accounts),
                    ..Simulation::default()
                });
            }
        };
        if opts.sig_verify && dataplane::sigverify::verify_txn(&view).is_err() {
            return Err(SubmitError::BadSignature);
        }
        let replacement = opts
            .replace_recent_blockhash
            .then_some((BLOCKHASH, slot.0 + 150));
        if replacement.is_none() && view.recent_blockhash() != BLOCKHASH {
            return Ok(Simulation {
                slot,
                err: Some(json!("BlockhashNotFound")),
                accounts: balances(&opts.accounts),
                ..Simulation::default()
            });
        }
        let keys: Vec<Pubkey> = (0..view.num_account_keys())
            .map(|i| view.account_key(i))
            .collect();
        let pre = balances(&keys);
        let fee = 5_000 + view.compute_budget().priority_fee();
        // The fake does not check funds; it saturates, since the RPC fuzzer (tests_fuzz) sends
        // transfers of any amount from accounts of any balance.
        let mut post = pre.clone();
        post[0] = post[0].saturating_sub(fee);
        let mut err = None;
        for t in view.transfers() {
            if t.lamports == LAMPORTS_PREFLIGHT_FAIL {
                err = Some(json!({"InstructionError": [t.instruction, {"Custom": 1}]}));
                post = pre.clone();
                post[0] = post[0].saturating_sub(fee);
                break;
            }
            let (from, to) = (usize::from(t.from), usize::from(t.to));
            post[from] = post[from].saturating_sub(t.lamports);
            post[to] = post[to].saturating_add(t.lamports);
        }
        let accounts = opts
            .accounts
            .iter()
            .map(|k| match keys.iter().position(|x| x == k) {
                Some(i) => post[i],
                None => self.balance(k, opts.commitment).1,
            })
            .collect();
        Ok(Simulation {
            slot,
            err,
            fee,
            pre_balances: pre,
            post_balances: post,
            accounts,
            replacement_blockhash: replacement,
        })
    }

    /// The payer's transactions: the legacy transfer (slot 10, finalized), the v0 one (slot 8) and a
    /// failed one (slot 11, confirmed only).
    fn signatures_for_address(
        &self,
        address: &Pubkey,
        before: Option<Signature>,
        until: Option<Signature>,
        limit: usize,
        c: Commitment,
    ) -> Vec<AddressSignatureRecord> {
        if *address != self.payer_key() {
            return Vec::new();
        }
        let record =
            |signature, slot, block_time, err, confirmation_status| AddressSignatureRecord {
                signature,
                slot: Slot(slot),
                err,
                block_time: Some(block_time),
                confirmation_status,
            };
        // Block times as the fake's blocks have them.
        let all = [
            record(
                FAILED_SIG,
                CONFIRMED_SLOT,
                1_700_000_001,
                Some(json!({"InstructionError": [0, {"Custom": 1}]})),
                Commitment::Confirmed,
            ),
            record(
                self.transfer_signature(),
                FINALIZED_SLOT,
                1_700_000_000,
                None,
                Commitment::Finalized,
            ),
            record(
                self.transfer_v0_signature(),
                V0_SLOT,
                1_699_999_999,
                None,
                Commitment::Finalized,
            ),
        ];
        let start = match before {
            Some(b) => match all.iter().position(|r| r.signature == b) {
                Some(i) => i + 1,
                None => return Vec::new(),
            },
            None => 0,
        };
        all[start..]
            .iter()
            .filter(|r| c != Commitment::Finalized || r.slot.0 <= FINALIZED_SLOT)
            .take_while(|r| Some(r.signature) != until)
            .take(limit)
            .cloned()
            .collect()
    }

    /// Three samples, newest first: one minute at 2 transactions a second with a few votes, one
    /// idle minute, and the node's short first sample.
    fn recent_performance_samples(&self, limit: usize) -> Vec<PerfSample> {
        let sample =
            |slot, num_transactions, num_non_vote_transactions, num_slots, secs| PerfSample {
                slot: Slot(slot),
                num_transactions,
                num_non_vote_transactions,
                num_slots,
                sample_period_secs: secs,
            };
        [
            sample(PROCESSED_SLOT, 120, 100, 2, 60),
            sample(PROCESSED_SLOT - 2, 0, 0, 1, 60),
            sample(PROCESSED_SLOT - 3, 3, 1, 9, 5),
        ]
        .into_iter()
        .take(limit)
        .collect()
    }

    fn largest_accounts(&self, c: Commitment) -> (Slot, Vec<(Pubkey, u64)>) {
        (
            Slot(slot_at(c)),
            vec![(self.payer_key(), PAYER_LAMPORTS), (self.recipient, 250)],
        )
    }
    /// Blocks at 8 and 10 (9 skipped); 11 is a confirmed block not yet finalized.
    fn blocks(&self, range: RangeInclusive<Slot>, limit: usize, c: Commitment) -> Vec<Slot> {
        let top = if c == Commitment::Finalized {
            FINALIZED_SLOT
        } else {
            CONFIRMED_SLOT
        };
        [V0_SLOT, FINALIZED_SLOT, CONFIRMED_SLOT]
            .into_iter()
            .filter(|s| *s <= top && range.contains(&Slot(*s)))
            .take(limit)
            .map(Slot)
            .collect()
    }
    fn latest_blockhash(&self, c: Commitment) -> (Slot, Hash, u64) {
        (Slot(slot_at(c)), BLOCKHASH, slot_at(c) + 150)
    }
    fn is_blockhash_valid(&self, h: &Hash, c: Commitment) -> (Slot, bool) {
        (Slot(slot_at(c)), *h == BLOCKHASH)
    }
    fn submit_transaction(
        &self,
        wire: Vec<u8>,
        _preflight: bool,
    ) -> Result<Signature, SubmitError> {
        let view = TxnView::new(&wire).map_err(|e| SubmitError::from(&e))?;
        let payer = VerifyingKey::from_bytes(view.account_key_bytes(0))
            .map_err(|_| SubmitError::BadSignature)?;
        let sig = ed25519_dalek::Signature::from_bytes(view.signature_bytes(0));
        payer
            .verify_strict(view.message(), &sig)
            .map_err(|_| SubmitError::BadSignature)?;
        match view.transfers().next().map(|t| t.lamports) {
            Some(LAMPORTS_PREFLIGHT_FAIL) => Err(SubmitError::Preflight {
                message: "Blockhash not found".into(),
                err: json!("BlockhashNotFound"),
            }),
            Some(LAMPORTS_UNHEALTHY) => Err(SubmitError::Unhealthy(
                "node is 40 slots behind the cluster".into(),
            )),
            Some(LAMPORTS_BUSY) => Err(SubmitError::Busy),
            Some(LAMPORTS_UNSUPPORTED) => Err(SubmitError::Unsupported(
                "program Vote111 is not supported".into(),
            )),
            _ => {
                let signature = view.signature();
                self.submitted.lock().unwrap().push(wire);
                self.feed.publish(ChainEvent::Received {
                    slot: Slot(PROCESSED_SLOT),
                    signature,
                });
                Ok(signature)
            }
        }
    }
    fn signature_statuses(
        &self,
        sigs: &[Signature],
        _search_history: bool,
    ) -> (Slot, Vec<Option<SignatureStatus>>) {
        let statuses = sigs
            .iter()
            .map(|s| {
                if *s == self.transfer_signature() {
                    Some(SignatureStatus {
                        slot: Slot(FINALIZED_SLOT),
                        confirmations: Some(3),
                        err: None,
                        confirmation_status: Commitment::Finalized,
                    })
                } else if *s == FAILED_SIG {
                    Some(SignatureStatus {
                        slot: Slot(PROCESSED_SLOT),
                        confirmations: Some(0),
                        err: Some(json!({"InstructionError": [0, {"Custom": 1}]})),
                        confirmation_status: Commitment::Processed,
                    })
                } else {
                    None
                }
            })
            .collect();
        (Slot(PROCESSED_SLOT), statuses)
    }
    fn transaction(&self, sig: &Signature, _c: Commitment) -> Option<TransactionRecord> {
        if *sig == self.transfer_v0_signature() {
            return Some(self.record_v0());
        }
        (*sig == self.transfer_signature()).then(|| self.record())
    }
    fn block(&self, slot: Slot, _c: Commitment) -> Result<BlockRecord, BlockError> {
        self.block_reads.fetch_add(1, Ordering::Relaxed);
        while self.block_held.load(Ordering::Acquire) {
            std::thread::sleep(std::time::Duration::from_millis(1));
        }
        match slot.0 {
            FINALIZED_SLOT => Ok(BlockRecord {
                slot,
                parent_slot: Slot(8),
                blockhash: BLOCKHASH,
                previous_blockhash: Hash([6; 32]),
                block_height: FINALIZED_SLOT - 3,
                block_time: Some(1_700_000_000),
                transactions: vec![self.record()],
            }),
            V0_SLOT => Ok(BlockRecord {
                slot,
                parent_slot: Slot(7),
                blockhash: Hash([6; 32]),
                previous_blockhash: Hash([11; 32]),
                block_height: V0_SLOT - 3,
                block_time: Some(1_699_999_999),
                transactions: vec![self.record_v0()],
            }),
            9 => Err(BlockError::Skipped(slot)),
            _ => Err(BlockError::NotAvailable(slot)),
        }
    }
    fn block_header(&self, slot: Slot) -> Result<BlockHeader, BlockError> {
        let block = self.block(slot, Commitment::Finalized)?;
        Ok(BlockHeader {
            slot,
            parent_slot: block.parent_slot,
            blockhash: block.blockhash,
            bank_hash: Hash([4; 32]),
            leader: self.identity(),
            block_height: block.block_height,
            transaction_count: 1,
            block_time: block.block_time,
        })
    }
    fn block_entries(&self, slot: Slot) -> Result<BlockEntries, BlockError> {
        let block = self.block(slot, Commitment::Finalized)?;
        Ok(BlockEntries {
            slot,
            parent_slot: block.parent_slot,
            start_hash: block.previous_blockhash,
            ticks_per_slot: 64,
            hashes_per_tick: 2_000,
            entries: vec![
                EntryRecord {
                    num_hashes: 3,
                    hash: Hash([8; 32]),
                    transactions: block.transactions.iter().map(|t| t.wire.clone()).collect(),
                },
                EntryRecord {
                    num_hashes: 5,
                    hash: block.blockhash,
                    transactions: vec![],
                },
            ],
        })
    }
    fn genesis_hash(&self) -> Hash {
        Hash([5; 32])
    }
    fn epoch_info(&self, c: Commitment) -> EpochInfo {
        EpochInfo {
            epoch: 0,
            slot_index: slot_at(c),
            slots_in_epoch: 432_000,
            absolute_slot: Slot(slot_at(c)),
            block_height: slot_at(c) - 3,
            transaction_count: 77,
        }
    }
    fn request_airdrop(&self, to: &Pubkey, lamports: u64) -> Result<Signature, SubmitError> {
        if lamports > 10 * LAMPORTS_PER_TOKEN {
            return Err(SubmitError::Unsupported(format!(
                "airdrop of {lamports} lamports exceeds the faucet limit"
            )));
        }
        self.airdrops.lock().unwrap().push((*to, lamports));
        Ok(AIRDROP_SIG)
    }
    fn health(&self) -> Result<(), String> {
        if self.healthy.load(Ordering::Relaxed) {
            Ok(())
        } else {
            Err("node is behind by 42 slots".into())
        }
    }
    fn identity(&self) -> Pubkey {
        Pubkey([4; 32])
    }
    fn vote_accounts(&self, c: Commitment) -> (Slot, Vec<super::cluster::VoteAccountInfo>) {
        let slot = Slot(slot_at(c));
        let v = super::cluster::VoteAccountInfo {
            vote_pubkey: Pubkey([21; 32]),
            node_pubkey: self.identity(),
            activated_stake: 1_000,
            last_vote: slot.0,
            root_slot: slot.0.saturating_sub(32),
            epoch_credits: vec![(0, 10, 0)],
        };
        let stale = super::cluster::VoteAccountInfo {
            vote_pubkey: Pubkey([22; 32]),
            node_pubkey: Pubkey([23; 32]),
            activated_stake: 500,
            last_vote: 0,
            root_slot: 0,
            epoch_credits: vec![],
        };
        (slot, vec![v, stale])
    }

    fn max_shred_slots(&self) -> (Slot, Slot) {
        (Slot(PROCESSED_SLOT + 1), Slot(PROCESSED_SLOT + 2))
    }

    fn block_commitment(&self, slot: Slot) -> super::cluster::BlockCommitment {
        // Two towers: 1,000 stake rooted at 3 with votes on 9 (stacked twice) and 10; 500 stake
        // with one vote, on the processed head.
        let towers = [
            (
                super::cluster::test_tower(Some(3), &[(9, 2), (10, 1)]),
                1_000,
            ),
            (
                super::cluster::test_tower(None, &[(PROCESSED_SLOT, 1)]),
                500,
            ),
        ];
        super::cluster::BlockCommitment {
            commitment: (slot.0 <= PROCESSED_SLOT)
                .then(|| super::cluster::commitment_of(slot, towers.iter().map(|(t, s)| (t, *s)))),
            total_stake: 1_500,
        }
    }

    fn cluster_nodes(&self) -> Vec<super::cluster::ClusterNode> {
        vec![super::cluster::ClusterNode {
            pubkey: self.identity(),
            gossip: Some("127.0.0.1:8001".parse().unwrap()),
            tvu: Some("127.0.0.1:8004".parse().unwrap()),
            tpu: Some("127.0.0.1:8003".parse().unwrap()),
            tpu_quic: Some("127.0.0.1:8009".parse().unwrap()),
            tpu_vote: Some("127.0.0.1:8007".parse().unwrap()),
            serve_repair: Some("127.0.0.1:8006".parse().unwrap()),
            rpc: Some("127.0.0.1:8899".parse().unwrap()),
            version: Some("0.1.0".into()),
            shred_version: Some(7),
        }]
    }

    fn slots_per_epoch(&self) -> u64 {
        64
    }

    fn slot_leader(&self, slot: Slot) -> Option<Pubkey> {
        Some(if slot.0 % 8 < 4 {
            self.identity()
        } else {
            Pubkey([23; 32])
        })
    }

    fn tower(&self) -> super::cluster::TowerView {
        super::cluster::TowerView {
            votes: vec![(9, 2), (10, 1)],
            root: Some(3),
            voting: true,
        }
    }

    fn slashing_evidence(&self) -> Vec<super::cluster::EvidenceRecord> {
        vec![super::cluster::EvidenceRecord {
            offender: Pubkey([23; 32]),
            kind: "double_vote".into(),
            slot: Slot(5),
            first: vec![1, 2, 3],
            second: vec![4, 5, 6],
        }]
    }

    fn transaction_count(&self, _c: Commitment) -> u64 {
        77
    }

    /// Slot 8 held only free transfers; slot 10's lowest price was 5,000, and 20,000 for the
    /// transactions writing the payer.
    fn recent_prioritization_fees(&self, accounts: &[Pubkey]) -> Vec<(Slot, u64)> {
        let contended = accounts.contains(&self.payer_key());
        vec![
            (Slot(V0_SLOT), 0),
            (Slot(FINALIZED_SLOT), if contended { 20_000 } else { 5_000 }),
        ]
    }

    fn slot_changes(&self, slot: Slot) -> Option<SlotChanges> {
        self.slot_changes_reads.fetch_add(1, Ordering::Relaxed);
        self.changes.lock().unwrap().get(&slot).cloned()
    }

    fn slot_signatures(
        &self,
        slot: Slot,
        wanted: &dyn Fn(&Signature) -> bool,
    ) -> Option<Vec<(Signature, Option<Value>)>> {
        let changes = self.changes.lock().unwrap();
        let slot = changes.get(&slot)?;
        let signatures = slot
            .transactions
            .iter()
            .filter(|t| wanted(&t.signature))
            .map(|t| (t.signature, t.err.clone()))
            .collect();
        Some(signatures)
    }
}

/// A running server; dropping it shuts the server down.
pub(super) struct TestNode {
    pub addr: SocketAddr,
    /// PubSub's own port.
    pub ws_addr: SocketAddr,
    pub chain: Arc<FakeChain>,
    pub stats: Arc<RpcStats>,
    _shutdown: tokio::sync::oneshot::Sender<()>,
    _pubsub_shutdown: tokio::sync::oneshot::Sender<()>,
}

pub(super) async fn start() -> TestNode {
    start_with(PubSubLimits::default()).await
}

/// [`start`] with PubSub bounded by `limits`.
pub(super) async fn start_with(limits: PubSubLimits) -> TestNode {
    start_bounded(limits, HttpLimits::default()).await
}

/// [`start`] with PubSub and the RPC port bounded as given.
pub(super) async fn start_bounded(limits: PubSubLimits, http: HttpLimits) -> TestNode {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let ws_listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let ws_addr = ws_listener.local_addr().unwrap();
    let chain = Arc::new(FakeChain::new());
    let stats = Arc::new(RpcStats::new());
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let (ws_tx, ws_rx) = tokio::sync::oneshot::channel::<()>();
    let server_chain: Arc<dyn Chain> = chain.clone();
    let pubsub =
        PubSub::start_with_limits(server_chain.clone(), stats.clone(), &chain.feed, limits)
            .unwrap();
    tokio::spawn(serve_bounded(
        listener,
        server_chain,
        stats.clone(),
        axum::Router::new(),
        Some(pubsub.clone()),
        http,
        async {
            let _ = rx.await;
        },
    ));
    tokio::spawn(super::pubsub::serve(ws_listener, pubsub, http, async {
        let _ = ws_rx.await;
    }));
    TestNode {
        addr,
        ws_addr,
        chain,
        stats,
        _shutdown: tx,
        _pubsub_shutdown: ws_tx,
    }
}

impl TestNode {
    /// One HTTP/1.1 exchange; returns the status and body.
    pub async fn http(&self, method: &str, path: &str, body: &[u8]) -> (u16, Vec<u8>) {
        let (status, _, body) = self.exchange(method, path, &[], body).await;
        (status, body)
    }

    /// One HTTP/1.1 exchange with `headers` added; returns the status, the response's header lines
    /// (lowercased) and its body.
    pub async fn exchange(
        &self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: &[u8],
    ) -> (u16, String, Vec<u8>) {
        let stream = TcpStream::connect(self.addr).await.unwrap();
        let (mut rd, mut wr) = stream.into_split();
        let extra: String = headers
            .iter()
            .map(|(k, v)| format!("{k}: {v}\r\n"))
            .collect();
        let head = format!(
            "{method} {path} HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\n\
             Content-Length: {}\r\nConnection: close\r\n{extra}\r\n",
            body.len()
        );
        let body = body.to_vec();
        // Written concurrently: the server may answer and close before reading a refused body. The
        // write half stays open until the reply is read (hyper drops half-closed connections).
        let writer = tokio::spawn(async move {
            let _ = wr.write_all(head.as_bytes()).await;
            let _ = wr.write_all(&body).await;
            wr
        });
        let mut raw = Vec::new();
        let mut chunk = [0u8; 16 * 1024];
        while let Ok(n) = rd.read(&mut chunk).await {
            if n == 0 {
                break;
            }
            raw.extend_from_slice(&chunk[..n]);
        }
        let _ = writer.await;
        let split = raw
            .windows(4)
            .position(|w| w == b"\r\n\r\n")
            .expect("no headers");
        let head = String::from_utf8_lossy(&raw[..split]).to_ascii_lowercase();
        let status: u16 = head[9..12].parse().unwrap();
        let mut body = raw[split + 4..].to_vec();
        if let Some(len) = head
            .lines()
            .find_map(|l| l.strip_prefix("content-length: "))
        {
            body.truncate(len.trim().parse().unwrap());
        }
        (status, head, body)
    }

    /// POSTs `body` and parses the JSON reply.
    pub async fn post(&self, body: &[u8]) -> Value {
        let (status, reply) = self.http("POST", "/", body).await;
        assert_eq!(status, 200, "{}", String::from_utf8_lossy(&reply));
        serde_json::from_slice(&reply).unwrap()
    }

    pub async fn call(&self, method: &str, params: Value) -> Value {
        let request = json!({"jsonrpc": "2.0", "id": 1, "method": method, "params": params});
        self.post(request.to_string().as_bytes()).await
    }

    /// The result of a call that must succeed.
    pub async fn ok(&self, method: &str, params: Value) -> Value {
        let reply = self.call(method, params).await;
        assert_eq!(reply["jsonrpc"], "2.0");
        assert_eq!(reply["id"], 1);
        assert!(reply.get("error").is_none(), "{method}: {reply}");
        reply["result"].clone()
    }

    /// The error object of a call that must fail with `code`.
    pub async fn err(&self, method: &str, params: Value, code: i64) -> Value {
        let reply = self.call(method, params).await;
        assert_eq!(reply["error"]["code"], code, "{method}: {reply}");
        assert!(reply.get("result").is_none());
        reply["error"].clone()
    }
}

pub(super) fn message_of(e: &Value) -> &str {
    e["message"].as_str().unwrap()
}

pub(super) fn assert_context(v: &Value, slot: u64) {
    assert_eq!(v["context"]["slot"], slot, "{v}");
    assert_eq!(v["context"]["apiVersion"], SOLANA_CORE_VERSION);
}
