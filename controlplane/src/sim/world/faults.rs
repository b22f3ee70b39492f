//! Faults the simulated world injects: scheduled actions (partitions, crashes, restarts) and the
//! byzantine behaviours that act outside a node's core (impersonation, replays, conflicting votes).

use super::*;

impl World {
    pub(super) fn act(&mut self, action: Action) {
        match action {
            Action::Partition(groups) => {
                for n in self.nodes.iter_mut() {
                    n.group = groups.len() + 1;
                }
                for (g, members) in groups.iter().enumerate() {
                    for &m in members {
                        if let Some(n) = self.nodes.get_mut(m) {
                            n.group = g + 1;
                        }
                    }
                }
                self.checker.note(format!("partition {groups:?}"));
            }
            Action::Heal => {
                for n in self.nodes.iter_mut() {
                    n.group = 0;
                }
            }
            Action::Crash(i) => self.crash(i),
            Action::CrashLeader => {
                let slot = self.clock.slot_at(self.now);
                let mut s = crate::schedule::Schedules::new(&self.genesis);
                if let Some(l) = s.leader(slot) {
                    if let Some(i) = self.index_of(&l) {
                        self.crash(i);
                        self.checker
                            .note(format!("crashed leader {i} at slot {slot}"));
                    }
                }
            }
            Action::Restart(i, fate) => {
                if self.alive(i) {
                    return;
                }
                let p = &mut self.nodes[i].standin.persisted;
                let tower = match fate {
                    TowerFate::Keep => p.tower_file.clone(),
                    TowerFate::RollBack(n) => {
                        let k = p.older_towers.len().saturating_sub(n);
                        p.older_towers.get(k).cloned().or(p.tower_file.clone())
                    }
                    TowerFate::Lose => None,
                };
                p.tower_file = tower.clone();
                let me = self.nodes[i].identity;
                let start = match tower {
                    Some(bytes) => {
                        match crate::tower::file::decode_unverified(bytes.as_slice(), &me) {
                            Ok(t) => TowerStart::Saved(t),
                            Err(_) => TowerStart::Lost,
                        }
                    }
                    None => TowerStart::Lost,
                };
                self.start_node(i, start, self.now);
            }
        }
    }

    pub(super) fn crash(&mut self, i: usize) {
        if let Some(n) = self.nodes.get_mut(i) {
            n.core = None;
            n.next_timeout = None;
            n.standin.leading = None;
            n.standin.have.clear();
            n.standin.pending.clear();
            n.standin.vote_queue.clear();
            n.lead_epoch += 1;
        }
        self.checker.on_crash(i);
    }

    /// A forger outside the validator set: records claiming a validator's identity, signed with
    /// its own key (the edge refuses them), and records of its own (gossip refuses an unknown
    /// origin).
    pub(super) fn impersonate(&mut self) {
        let n = self.config.validators;
        if n == 0 {
            return;
        }
        let victim = self.rng.gen_range(0..n);
        let to = self.rng.gen_range(0..n);
        let mut key = [0xeeu8; 32];
        key[..8].copy_from_slice(&self.seq.to_le_bytes());
        let forger = SimSigner::new(Pubkey(key), 0xdead_beef);
        let fake = |origin: Pubkey| ContactInfo {
            pubkey: origin,
            wallclock_ms: self.now,
            shred_version: dataplane::shred::shred_version(&self.genesis.hash()),
            version: SoftwareVersion {
                major: 0,
                minor: 1,
                patch: 0,
            },
            instance: 7,
            gossip: SocketAddr::from(([10, 9, 9, 9], 8001)),
            tpu: SocketAddr::from(([10, 9, 9, 9], 8003)),
            tpu_vote: SocketAddr::from(([10, 9, 9, 9], 8005)),
            tvu: SocketAddr::from(([10, 9, 9, 9], 8004)),
            repair: SocketAddr::from(([10, 9, 9, 9], 8006)),
            serve_repair: SocketAddr::from(([10, 9, 9, 9], 8007)),
            rpc: None,
            tpu_quic: None,
            tpu_vote_quic: None,
        };
        // Signed by the forger while claiming the victim's identity: the edge refuses it.
        let mut claimed = crate::gossip::SignedValue::sign(
            &forger,
            &self.genesis.hash(),
            self.now,
            crate::gossip::CrdsData::ContactInfo(fake(forger.pubkey())),
        );
        claimed.origin = self.nodes[victim].identity;
        let own = crate::gossip::SignedValue::sign(
            &forger,
            &self.genesis.hash(),
            self.now,
            crate::gossip::CrdsData::ContactInfo(fake(forger.pubkey())),
        );
        let from = SocketAddr::from(([10, 9, 9, 9], 8001));
        let forged = GossipMessage::Push {
            from: self.nodes[victim].identity,
            values: vec![Arc::new(claimed)],
        };
        let unknown = GossipMessage::Push {
            from: forger.pubkey(),
            values: vec![Arc::new(own)],
        };
        self.schedule(
            self.now + 10,
            Event::Gossip {
                to,
                from,
                msg: Box::new(forged),
                forged: true,
            },
        );
        self.schedule(
            self.now + 10,
            Event::Gossip {
                to,
                from,
                msg: Box::new(unknown),
                forged: false,
            },
        );
    }

    pub(super) fn replay_old(&mut self, i: usize) {
        if !self.alive(i) || self.nodes[i].recorded.is_empty() {
            return;
        }
        let k = self.rng.gen_range(0..self.nodes[i].recorded.len());
        let (from, msg) = self.nodes[i].recorded[k].clone();
        let to = self.rng.gen_range(0..self.config.validators);
        let bytes = wire::encoded_len(&msg) as u64;
        self.send(i, to, Traffic::Gossip, bytes, |_| Event::Gossip {
            to,
            from,
            msg: Box::new(msg),
            forged: false,
        });
    }

    /// A double voter's second vote: the same tower with another hash for the newest slot.
    pub(super) fn conflicting_vote(&self, i: usize, tx: &[u8]) -> Option<Arc<[u8]>> {
        let v = ParsedVote::parse(tx)?;
        let mut tower = v.tower.clone();
        tower.hash = Hash::hashv(&[b"double-vote", tower.hash.as_bytes()]);
        let ix = dataplane::vote::VoteInstruction::TowerSync(tower);
        let signer = &self.nodes[i].signer;
        Some(Arc::from(dataplane::vote::build_vote_txn(
            &v.voter,
            &v.vote_account,
            &ix,
            &Hash::default(),
            |m| signer.sign(m),
        )))
    }
}
