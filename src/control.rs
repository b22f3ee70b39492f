//! The node's control task: one tokio task drives the control-plane core
//! ([`controlplane::node::Node`]), woken by its timeout, data-plane events, the gossip socket, the
//! vote socket and the repair socket — no fixed-interval polling. It is the core's edge: datagrams are decoded and their
//! signatures checked here before the core sees them, and the core's outputs become commands to the
//! data plane (lead, set root, votes into banking, forwarding targets, peer addresses, repaired
//! shreds), datagrams (gossip, votes, signed repair requests: see [`repair`]),
//! tower writes (written, fsynced and renamed before the vote they belong to leaves) and what RPC
//! and metrics read, PubSub's event feed included (banks frozen, commitment moves).

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use controlplane::gossip::{self, ContactInfo, GossipMessage};
use controlplane::io::{Input, Output, ParsedVote, PeerTable, VoteTarget};
use controlplane::node::Node;
use controlplane::schedule::Schedules;
use controlplane::signer::Verified;
use crossbeam_channel::{Receiver, Sender};
use dataplane::banking::LeadCommand;
use dataplane::byte_reader::{ByteReader, Prefix};
use dataplane::forward::QuicForward;
use dataplane::plane::{DataEvent, ForkCommand, PeerAddrs};
use dataplane::shred::{ShredVerifier, ShredView};
use dataplane::store::Store;
use dataplane::turbine::ShredId;
use dataplane::txn::{Txn, TxnView};
use dataplane::types::{Hash, Slot};

use crate::cluster_view::{ClusterView, TowerStatus};
use crate::metrics::NodeMetrics;
use crate::rpc::cluster::EvidenceRecord;
use crate::rpc::pubsub::{ChainEvent, CommitmentSlots, EventFeed};
use crate::tpu_quic::forward::QuicForwarder;

pub mod repair;
pub use repair::RepairEdge;

/// Largest datagram read from the gossip or vote socket (a gossip datagram is at most 1,232 bytes;
/// anything longer is refused as oversized).
const DATAGRAM_MAX: usize = 1_500;
/// How often the bridge from the data plane's event channels looks at the exit flag while idle.
const BRIDGE_EXIT_CHECK: Duration = Duration::from_millis(200);
/// Longest duplicate-slot proof: two shreds and a length.
const DUPLICATE_PROOF_MAX: usize = 2 + 2 * 1_232;

/// Where the control task sends what the data plane must do.
pub struct DataPlaneCommands {
    /// Orders to lead.
    pub lead: Sender<LeadCommand>,
    /// Root moves, to the single owner of the bank forks.
    pub fork_commands: Sender<ForkCommand>,
    /// Votes for this node's banking stage (leaders keep the newest per validator).
    pub votes: Sender<Txn>,
    /// Where held transactions go (Gulf Stream).
    pub forward_to: Sender<Option<dataplane::forward::ForwardTarget>>,
    /// Turbine senders' peer addresses (shred receive path, broadcast), in a cluster.
    pub turbine_peers: Vec<Sender<Arc<PeerAddrs>>>,
}

/// Everything the control task owns.
pub struct ControlIo {
    /// The gossip socket (`network.listen_addr`).
    pub gossip: tokio::net::UdpSocket,
    /// The vote socket (`network.tpu_vote_addr`).
    pub votes: tokio::net::UdpSocket,
    /// Votes read from the QUIC vote socket's staked connections (`network.tpu_vote_quic_addr`),
    /// not yet checked.
    pub quic_votes: crate::tpu_quic::QuicVotes,
    /// Sends this node's votes over QUIC, under its identity, where the target announces a QUIC
    /// vote socket.
    pub vote_sender: QuicForwarder,
    /// The repair socket (`network.repair_addr`) and its checks, in a cluster.
    pub repair: Option<RepairEdge>,
    /// Data-plane events, bridged onto tokio (`None`: a stage stopped).
    pub events: tokio::sync::mpsc::UnboundedReceiver<Option<DataEvent>>,
    /// Commands to the data plane.
    pub commands: DataPlaneCommands,
    /// The ledger (duplicate proofs, evidence).
    pub store: Arc<Store>,
    /// What RPC reads.
    pub view: Arc<ClusterView>,
    /// What PubSub hears.
    pub feed: EventFeed,
    /// Counters.
    pub metrics: Arc<NodeMetrics>,
    /// The tower file.
    pub tower_path: PathBuf,
    /// The cluster.
    pub genesis_hash: Hash,
    /// Its shred version (duplicate proofs are checked against it).
    pub shred_version: u16,
    /// Leader schedules (duplicate proofs are checked against the slot's leader).
    pub schedules: Schedules,
}

fn unix_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

/// Forwards the data plane's crossbeam events onto tokio from one plain thread (blocking receives,
/// so the data plane's senders never wait); ends when the exit flag is set or both senders are gone.
pub fn bridge_events(
    sources: Vec<Receiver<DataEvent>>,
    exit: Arc<AtomicBool>,
) -> std::io::Result<tokio::sync::mpsc::UnboundedReceiver<Option<DataEvent>>> {
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
    std::thread::Builder::new()
        .name("bbEvents".into())
        .spawn(move || {
            let mut select = crossbeam_channel::Select::new();
            for s in &sources {
                select.recv(s);
            }
            let mut open = sources.len();
            loop {
                if exit.load(Ordering::Relaxed) {
                    let _ = tx.send(None);
                    return;
                }
                let Ok(op) = select.select_timeout(BRIDGE_EXIT_CHECK) else {
                    continue;
                };
                let i = op.index();
                match op.recv(&sources[i]) {
                    Ok(ev) => {
                        if tx.send(Some(ev)).is_err() {
                            return;
                        }
                    }
                    Err(_) => {
                        select.remove(i);
                        open -= 1;
                        if open == 0 {
                            return;
                        }
                    }
                }
            }
        })?;
    Ok(rx)
}

/// Writes the tower file durably: a temporary file, fsync, rename over the old one, fsync of the
/// directory. The vote it belongs to is sent only if this succeeds.
pub fn write_tower(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write as _;
    let tmp = path.with_extension("tmp");
    {
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
    }
    std::fs::rename(&tmp, path)?;
    if let Some(dir) = path.parent() {
        std::fs::File::open(dir)?.sync_all()?;
    }
    Ok(())
}

/// A duplicate-slot proof's bytes: `u16 LE length of the first shred | first | second`.
pub fn encode_duplicate_proof(first: &[u8], second: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(2 + first.len() + second.len());
    out.extend_from_slice(&(first.len().min(u16::MAX as usize) as u16).to_le_bytes());
    out.extend_from_slice(first);
    out.extend_from_slice(second);
    out
}

/// Whether `proof` shows `slot`'s leader signing two different shreds for one position.
pub fn check_duplicate_proof(
    proof: &[u8],
    slot: Slot,
    shred_version: u16,
    schedules: &mut Schedules,
) -> bool {
    if proof.len() > DUPLICATE_PROOF_MAX {
        return false;
    }
    let mut r = ByteReader::new(proof);
    let Ok(first) = r.prefixed("first shred", Prefix::U16, usize::from(u16::MAX)) else {
        return false;
    };
    let second = r.rest();
    let (Ok(a), Ok(b)) = (ShredView::parse(first), ShredView::parse(second)) else {
        return false;
    };
    if a.slot() != slot.0 || b.slot() != slot.0 || first == second {
        return false;
    }
    if ShredId::of(&a) != ShredId::of(&b) {
        return false;
    }
    let Some(leader) = schedules.leader(slot) else {
        return false;
    };
    let mut verifier = ShredVerifier::new(shred_version);
    verifier.verify(&a, &leader).is_ok() && verifier.verify(&b, &leader).is_ok()
}

/// Runs the control task until `stop` resolves or the data plane stops.
pub async fn run(
    mut core: Node,
    mut io: ControlIo,
    stop: impl std::future::Future<Output = ()>,
) -> anyhow::Result<()> {
    tokio::pin!(stop);
    let mut gossip_buf = vec![0u8; DATAGRAM_MAX];
    let mut vote_buf = vec![0u8; DATAGRAM_MAX];
    // One byte more than an answer may have, so that a longer one is seen as such.
    let mut repair_buf = vec![0u8; repair::ANSWER_DATAGRAM_MAX + 1];
    let mut last_tower: Option<Slot> = None;
    loop {
        let now = unix_ms();
        let wait = core.poll_timeout().saturating_sub(now);
        let sleep = tokio::time::sleep(Duration::from_millis(wait));
        let input = tokio::select! {
            _ = &mut stop => break,
            _ = sleep => Some(Input::Timeout),
            ev = io.events.recv() => match ev {
                Some(Some(ev)) => on_data_event(&mut io, ev),
                Some(None) | None => anyhow::bail!("a data-plane stage stopped; see the log above"),
            },
            r = io.gossip.recv_from(&mut gossip_buf) => match r {
                Ok((n, from)) => on_gossip_datagram(&mut core, &gossip_buf[..n], from, &io),
                Err(e) => {
                    tracing::debug!("gossip receive failed: {e}");
                    None
                }
            },
            r = io.votes.recv_from(&mut vote_buf) => match r {
                Ok((n, from)) => on_vote_datagram(&vote_buf[..n], from, &io),
                Err(e) => {
                    tracing::debug!("vote receive failed: {e}");
                    None
                }
            },
            Some((bytes, from)) = io.quic_votes.recv() => on_vote_datagram(&bytes, from, &io),
            r = recv_repair(io.repair.as_ref(), &mut repair_buf) => match r {
                Ok((n, from)) => match io.repair.as_mut() {
                    Some(edge) => {
                        let input = edge.on_datagram(&repair_buf[..n], from);
                        edge.send_pongs().await;
                        input
                    }
                    None => None,
                },
                Err(e) => {
                    tracing::debug!("repair receive failed: {e}");
                    None
                }
            },
        };
        if let Some(input) = input {
            core.handle(unix_ms(), input);
        }
        while let Some(out) = core.poll_output() {
            if let Some(input) = carry_out(&mut io, out).await? {
                core.handle(unix_ms(), input);
            }
        }
        if let Some(edge) = &io.repair {
            edge.record(core.stats());
        }
        let newest = core.tower().last_voted_slot();
        if newest != last_tower {
            last_tower = newest;
            io.view.set_tower(TowerStatus {
                votes: core.tower().votes().copied().collect(),
                root: core.tower().root(),
                voting: core.is_voting(),
            });
            io.metrics
                .votes_cast
                .store(core.stats().votes_cast, Ordering::Relaxed);
        }
    }
    Ok(())
}

/// The next datagram on the repair socket; never, without one.
async fn recv_repair(
    edge: Option<&RepairEdge>,
    buf: &mut [u8],
) -> std::io::Result<(usize, SocketAddr)> {
    match edge {
        Some(edge) => edge.socket().recv_from(buf).await,
        None => std::future::pending().await,
    }
}

fn on_data_event(io: &mut ControlIo, ev: DataEvent) -> Option<Input> {
    let m = &io.metrics;
    match ev {
        DataEvent::BankFrozen {
            frozen,
            transactions,
            own,
        } => {
            if own {
                m.blocks_stored.fetch_add(1, Ordering::Relaxed);
                m.transactions_included
                    .fetch_add(u64::from(transactions), Ordering::Relaxed);
            } else {
                m.blocks_replayed.fetch_add(1, Ordering::Relaxed);
            }
            m.slot.fetch_max(frozen.slot.0, Ordering::Relaxed);
            io.feed.publish(ChainEvent::Frozen {
                slot: frozen.slot,
                parent: frozen.parent,
            });
            Some(Input::BankFrozen(frozen))
        }
        DataEvent::BlockDead { slot, .. } => Some(Input::BlockDead { slot }),
        DataEvent::MissingParent { parent, .. } => Some(Input::Orphan { slot: parent }),
        DataEvent::SlotProgress(progress) => Some(Input::SlotProgress(progress)),
        DataEvent::Refetch(r) => Some(Input::Refetch {
            slot: r.slot,
            block_id: r.block_id,
        }),
        DataEvent::SlotStarted { slot, parent } => Some(Input::SlotStarted { slot, parent }),
        DataEvent::Rooted { slot } => {
            m.root_slot.store(slot.0, Ordering::Relaxed);
            None
        }
        DataEvent::DuplicateSlotProof {
            slot,
            first,
            second,
        } => {
            m.duplicate_slot_proofs.fetch_add(1, Ordering::Relaxed);
            match io.store.put_duplicate_proof(slot, &first, &second) {
                Ok(true) => tracing::warn!(
                    slot = slot.0,
                    "duplicate-slot proof kept: the leader equivocated"
                ),
                Ok(false) => {}
                Err(e) => {
                    tracing::error!(slot = slot.0, "keeping a duplicate-slot proof failed: {e}")
                }
            }
            // The receive path checked both shreds: the core may trust it.
            Some(Input::DuplicateSlot {
                slot,
                proof: Arc::from(encode_duplicate_proof(&first, &second)),
            })
        }
        #[allow(unreachable_patterns)]
        _ => None,
    }
}

fn on_gossip_datagram(
    core: &mut Node,
    bytes: &[u8],
    from: SocketAddr,
    _io: &ControlIo,
) -> Option<Input> {
    let held = |v: &gossip::SignedValue| core.gossip().holds(v);
    match gossip::wire::decode_and_verify_unheld(bytes, core.gossip().genesis_hash(), held) {
        Ok((msg, already_held)) => {
            core.record_edge_held(already_held);
            Some(Input::Gossip { from, msg })
        }
        Err(reject) => {
            tracing::trace!(%from, "gossip datagram refused: {reject}");
            core.record_edge_reject(&reject);
            None
        }
    }
}

fn on_vote_datagram(bytes: &[u8], from: SocketAddr, io: &ControlIo) -> Option<Input> {
    let refuse = |reason: &str| {
        io.metrics.count_vote_rejected(reason);
        tracing::trace!(%from, "vote refused: {reason}");
        None
    };
    let Ok(view) = TxnView::new(bytes) else {
        return refuse("malformed");
    };
    if !view.is_vote() {
        return refuse("not_a_vote");
    }
    if dataplane::sigverify::verify_txn(&view).is_err() {
        return refuse("bad_signature");
    }
    match ParsedVote::parse(bytes) {
        Some(v) => {
            io.metrics.votes_verified.fetch_add(1, Ordering::Relaxed);
            Some(Input::Vote(Verified::checked_at_edge(v)))
        }
        None => refuse("malformed"),
    }
}

/// Carries out one output; returns an input it produced for the core (a checked duplicate proof).
async fn carry_out(io: &mut ControlIo, out: Output) -> anyhow::Result<Option<Input>> {
    let c = &io.commands;
    match out {
        Output::Lead(cmd) => {
            tracing::info!(
                first = cmd.first.0,
                last = cmd.last.0,
                parent = cmd.parent.0,
                "leading"
            );
            if c.lead.try_send(cmd).is_err() {
                tracing::warn!(first = cmd.first.0, "lead command not taken: queue full");
            }
        }
        Output::SetRoot(slot) => {
            let _ = c.fork_commands.send(ForkCommand::SetRoot(slot));
        }
        Output::Vote {
            tower_file,
            tx,
            send_to,
        } => {
            // The tower first: a vote must never leave a node that could forget it after a crash.
            let path = io.tower_path.clone();
            let written = tokio::task::spawn_blocking(move || write_tower(&path, &tower_file))
                .await
                .map_err(|e| std::io::Error::other(e.to_string()))
                .and_then(|r| r);
            match written {
                Ok(()) => send_vote(io, &tx, &send_to).await,
                Err(e) => {
                    io.metrics
                        .tower_write_failures
                        .fetch_add(1, Ordering::Relaxed);
                    tracing::error!(
                        path = %io.tower_path.display(),
                        "tower not saved, vote not sent: {e}"
                    );
                }
            }
        }
        Output::ResendVote { tx, send_to } => {
            io.metrics.votes_refreshed.fetch_add(1, Ordering::Relaxed);
            send_vote(io, &tx, &send_to).await;
        }
        Output::BankVote(tx) => {
            if let Ok(txn) = Txn::parse(&tx) {
                let _ = c.votes.try_send(txn);
            }
        }
        Output::Gossip { to, msg } => send_gossip(&io.gossip, to, &msg).await,
        Output::CheckDuplicateProof {
            slot,
            origin,
            proof,
        } => {
            if check_duplicate_proof(&proof, slot, io.shred_version, &mut io.schedules) {
                return Ok(Some(Input::DuplicateSlot { slot, proof }));
            }
            tracing::warn!(slot = slot.0, %origin, "gossiped duplicate-slot proof does not verify");
        }
        Output::RepairRequest { to, request } => {
            if let Some(edge) = &io.repair {
                edge.send(unix_ms(), to, request).await;
            }
        }
        Output::Repaired(shred) => {
            if let Some(edge) = &io.repair {
                edge.repaired(&shred);
            }
        }
        Output::ReplaceBlock {
            slot,
            bank_hash,
            block_id,
        } => {
            io.metrics
                .duplicate_versions_lost
                .fetch_add(1, Ordering::Relaxed);
            tracing::warn!(
                slot = slot.0,
                %bank_hash,
                ?block_id,
                "another version of this slot was duplicate-confirmed; this node holds the losing one"
            );
            // The ledger stage drops this version and what was built on it, then the shred receive
            // path and repair fetch the confirmed one.
            let _ = c.fork_commands.send(ForkCommand::ReplaceBlock {
                slot,
                bank_hash,
                block_id,
            });
        }
        Output::Evidence(e) => {
            let both_signed = [&e.first, &e.second].iter().all(|tx| {
                TxnView::new(tx).is_ok_and(|v| dataplane::sigverify::verify_txn(&v).is_ok())
            });
            if !both_signed {
                tracing::warn!(offender = %e.offender, "evidence with a bad vote signature dropped");
                return Ok(None);
            }
            io.metrics.slashing_evidence.fetch_add(1, Ordering::Relaxed);
            tracing::warn!(
                offender = %e.offender,
                kind = e.kind.name(),
                slot = e.slot.0,
                "slashing evidence"
            );
            if let Err(err) =
                io.store
                    .put_evidence(&e.offender, e.kind.name(), e.slot, &e.first, &e.second)
            {
                tracing::error!("storing slashing evidence failed: {err}");
            }
            io.view.add_evidence(EvidenceRecord {
                offender: e.offender,
                kind: e.kind.name().to_owned(),
                slot: e.slot,
                first: e.first.to_vec(),
                second: e.second.to_vec(),
            });
        }
        Output::Commitment(levels) => {
            io.view.set_levels(levels);
            // After the view: a subscriber RPC reads as not yet there is sure to hear of it.
            io.feed.publish(ChainEvent::Commitment(CommitmentSlots {
                processed: levels.processed,
                confirmed: levels.confirmed,
                finalized: levels.finalized,
                root: levels.root,
            }));
            let m = &io.metrics;
            m.processed_slot
                .store(levels.processed.0, Ordering::Relaxed);
            m.confirmed_slot
                .store(levels.confirmed.0, Ordering::Relaxed);
            m.finalized_slot
                .store(levels.finalized.0, Ordering::Relaxed);
        }
        Output::Peers(table) => apply_peers(io, table),
        Output::ForwardTo(target) => {
            let _ = c.forward_to.try_send(target);
        }
        Output::DuplicateInstance { other } => {
            anyhow::bail!(
                "another process runs this node's identity (gossip {other}); this one stops, \
                 so the two never vote twice"
            );
        }
    }
    Ok(None)
}

/// Sends a vote to each target: over QUIC where it announces a QUIC vote socket (a staked
/// connection a flood cannot crowd out), by UDP where it does not or the QUIC sender gives the
/// vote back (queue full, or the target failed a handshake lately).
async fn send_vote(io: &ControlIo, tx: &[u8], to: &[VoteTarget]) {
    for target in to {
        if let Some(quic) = target.quic {
            if io.vote_sender.try_forward(quic, vec![tx.into()]).is_ok() {
                continue;
            }
        }
        if let Err(e) = io.votes.send_to(tx, target.udp).await {
            io.metrics.votes_send_failed.fetch_add(1, Ordering::Relaxed);
            tracing::debug!(addr = %target.udp, "sending a vote failed: {e}");
        }
    }
}

async fn send_gossip(socket: &tokio::net::UdpSocket, to: SocketAddr, msg: &GossipMessage) {
    let bytes = gossip::wire::encode(msg);
    if let Err(e) = socket.send_to(&bytes, to).await {
        tracing::debug!(%to, "sending gossip failed: {e}");
    }
}

fn apply_peers(io: &mut ControlIo, table: PeerTable) {
    let peers: Vec<ContactInfo> = table.peers;
    let addrs = Arc::new(PeerAddrs {
        tvu: peers.iter().map(|p| (p.pubkey, p.tvu)).collect(),
    });
    for s in &io.commands.turbine_peers {
        let _ = s.try_send(addrs.clone());
    }
    if let Some(edge) = &mut io.repair {
        edge.set_peers(&peers);
    }
    io.metrics
        .peers_known
        .store(peers.len() as u64, Ordering::Relaxed);
    io.view.set_peers(peers);
}
