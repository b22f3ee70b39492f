//! The node's voting: which fork to vote on (Agave's `select_vote_and_reset_forks`), the vote
//! itself, where it goes, and refreshing a vote that has not landed.

use super::*;

impl Node {
    /// Agave's `select_vote_and_reset_forks`: the head to build on, and a vote if allowed.
    pub(super) fn select_and_vote(&mut self) {
        let heaviest = self.forks.best();
        let last = self.tower.last_voted_slot();
        let (candidate, head) = match last {
            None => (Some(heaviest), heaviest),
            Some(l) if l <= self.forks.root() => (Some(heaviest), heaviest),
            // The last vote's block lost to a confirmed version and is gone: as with an invalid
            // fork, leaving it needs no switch proof, and the tower's lockouts still apply.
            Some(l) if self.last_vote_dropped == Some(l) && !self.forks.contains(l) => {
                (Some(heaviest), heaviest)
            }
            Some(l) if !self.forks.contains(l) => (None, heaviest),
            // The last vote's fork holds a duplicate slot no version of which is confirmed: it
            // cannot be optimistically confirmed (that takes more than the 52 % duplicate
            // confirmation needs), so leaving it needs no switch proof — lockouts still apply.
            Some(l) if !self.forks.is_valid(l) => (Some(heaviest), heaviest),
            Some(l) if self.forks.is_ancestor_or_self(l, heaviest) => (Some(heaviest), heaviest),
            Some(l) => {
                let off = self.switch_stake(l);
                if passes_switch_threshold(off, self.votes.total_stake()) {
                    (Some(heaviest), heaviest)
                } else {
                    tracing::debug!(
                        last_vote = l.0,
                        heaviest = heaviest.0,
                        off_fork_stake = off,
                        "not switching: below the switch threshold"
                    );
                    self.stats.switch_refused += 1;
                    (None, self.forks.best_from(l).unwrap_or(heaviest))
                }
            }
        };
        self.head = head;
        let Some(slot) = candidate else {
            return;
        };
        if !self.may_vote(slot) {
            return;
        }
        let check = self.tower.check_vote(
            slot,
            |a| self.is_ancestor(a, slot),
            |a| self.forks.subtree_stake(a),
            self.votes.total_stake(),
        );
        match check {
            Ok(()) => self.vote(slot),
            Err(VoteRefusal::NotNewer { .. }) => {}
            Err(r @ VoteRefusal::LockedOut { .. }) => {
                tracing::debug!(slot = slot.0, "not voting: {r:?}");
                self.stats.votes_refused_locked_out += 1;
            }
            Err(r @ VoteRefusal::Threshold { .. }) => {
                tracing::debug!(slot = slot.0, "not voting: {r:?}");
                self.stats.votes_refused_threshold += 1;
            }
        }
    }

    /// Whether the voting state lets the node vote on `slot` now (moving it to `Ready` when its
    /// wait is over).
    pub(super) fn may_vote(&mut self, slot: Slot) -> bool {
        match self.voting {
            Voting::Ready => self.forks.is_valid(slot),
            Voting::Off => false,
            Voting::CatchingUp { start_slot } => {
                if self.head < start_slot {
                    return false;
                }
                self.voting = Voting::Ready;
                self.forks.is_valid(slot)
            }
            Voting::WaitingForFinality { start_slot } => {
                let f = self.finality.finalized();
                if f <= start_slot || !self.forks.contains(f) {
                    return false;
                }
                self.tower = Tower::new(Some(f));
                self.voting = Voting::Ready;
                self.forks.is_valid(slot) && slot > f
            }
        }
    }

    pub(super) fn vote(&mut self, slot: Slot) {
        let (Some(hash), Some(info)) = (self.forks.hash(slot), self.blocks.get(&slot).copied())
        else {
            return;
        };
        let timestamp = (self.now / 1000) as i64;
        tracing::debug!(slot = slot.0, head = self.head.0, "voting");
        self.tower.record_vote(slot, hash, info.block_id, timestamp);
        self.stats.votes_cast += 1;
        let tower = self.tower.tower_sync();
        let tx = self.vote_tx(&tower, info.blockhash);
        // Own vote counts like anyone's.
        self.count_vote(self.me, &tower);
        let _ = self.evidence.check(self.me, &tower, &tx, |_, _| None);
        let send_to = self.vote_targets();
        if self.leads_soon() {
            self.outputs.push_back(Output::BankVote(tx.clone()));
        }
        self.outputs.push_back(Output::Vote {
            tower_file: tower_file::encode(&tower, &*self.signer),
            tx: tx.clone(),
            send_to,
        });
        self.gossip
            .push_own(self.now, CrdsData::Vote { tx: tx.to_vec() }, &*self.signer);
        self.last_vote_sent = Some(self.now);
        self.last_vote_landed = false;
    }

    pub(super) fn vote_tx(&self, tower: &TowerSync, blockhash: Hash) -> Arc<[u8]> {
        let ix = VoteInstruction::TowerSync(tower.clone());
        Arc::from(build_vote_txn(
            &self.me,
            &self.vote_account,
            &ix,
            &blockhash,
            |m| self.signer.sign(m),
        ))
    }

    /// The vote ports of the leaders of the current and next [`VOTE_LEADERS_AHEAD`] slots, then
    /// of the other validators gossip knows (at most [`VOTE_DIRECT_MAX`], heaviest first).
    pub(super) fn vote_targets(&mut self) -> Vec<VoteTarget> {
        let slot = self.clock.slot_at(self.now);
        let leaders = (slot.0..=slot.0 + VOTE_LEADERS_AHEAD)
            .filter_map(|s| self.schedules.leader(Slot(s)))
            .collect::<Vec<_>>();
        let mut out = Vec::with_capacity(self.peers_by_stake.len() + leaders.len());
        let mut seen = Set::default();
        for k in leaders.iter().chain(&self.peers_by_stake) {
            if *k == self.me {
                continue;
            }
            if let Some(ci) = self.gossip.contact_info(k) {
                if seen.insert(ci.tpu_vote) {
                    out.push(VoteTarget {
                        udp: ci.tpu_vote,
                        quic: ci.tpu_vote_quic,
                    });
                }
            }
        }
        out
    }

    pub(super) fn leads_soon(&mut self) -> bool {
        let slot = self.clock.slot_at(self.now);
        (slot.0..=slot.0 + VOTE_LEADERS_AHEAD)
            .any(|s| self.schedules.leader(Slot(s)) == Some(self.me))
    }

    pub(super) fn maybe_refresh_vote(&mut self) {
        let Some(sent) = self.last_vote_sent else {
            return;
        };
        if self.last_vote_landed || self.now < sent + VOTE_REFRESH_MS {
            return;
        }
        let Some(blockhash) = self.blocks.get(&self.head).map(|b| b.blockhash) else {
            return;
        };
        let tx = self.vote_tx(&self.tower.tower_sync(), blockhash);
        self.stats.votes_refreshed += 1;
        let send_to = self.vote_targets();
        if self.leads_soon() {
            self.outputs.push_back(Output::BankVote(tx.clone()));
        }
        self.gossip
            .push_own(self.now, CrdsData::Vote { tx: tx.to_vec() }, &*self.signer);
        self.outputs.push_back(Output::ResendVote { tx, send_to });
        self.last_vote_sent = Some(self.now);
    }
}
