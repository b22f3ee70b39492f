//! The node's repair traffic: blocks that votes name but this node lacks, the planner's rounds,
//! and answers.

use super::*;

impl Node {
    /// Asks for blocks that validators' newest votes name but this node lacks — heaviest first —
    /// so their votes count in fork choice and a switch can be proven (a fork this node never saw
    /// otherwise stays invisible once its leaders stop producing on it).
    pub(super) fn repair_voted_blocks(&mut self) {
        let root = self.forks.root();
        let now = self.now;
        let mut asked = 0;
        for (slot, hash, _) in self.forks.wanted() {
            if asked >= REPAIR_WANTED_PER_STEP_MAX {
                break;
            }
            if slot <= root || self.dead.contains(&slot) {
                continue;
            }
            let due = self
                .repair_asked
                .get(&(slot, hash))
                .is_none_or(|t| now >= t + REPAIR_WANTED_RETRY_MS);
            if !due {
                continue;
            }
            self.repair_asked.insert((slot, hash), now);
            asked += 1;
            // Asked as an orphan: the answer brings the slot's end and its ancestors. A slot
            // held in another version is asked for again: the answer proves the duplicate.
            if self.forks.contains(slot) {
                self.repair.reopen(now, slot);
            } else {
                self.repair.on_orphan(now, slot);
            }
            self.wake_repair();
        }
        while self.repair_asked.len() > REPAIR_WANTED_MAX {
            self.repair_asked.pop_first();
        }
    }

    /// Runs a repair round soon, if none is due.
    pub(super) fn wake_repair(&mut self) {
        if self.repair_round_at.is_none() {
            self.repair_round_at = Some(self.now);
        }
    }

    /// A due repair round: the planner's requests go out; the next round is due while it has
    /// work or answers to wait for.
    pub(super) fn maybe_repair(&mut self) {
        if self.repair_round_at.is_none_or(|t| self.now < t) {
            return;
        }
        for request in self.repair.tick(self.now) {
            let Some(&to) = self.repair_addrs.get(&request.peer) else {
                continue;
            };
            self.stats.repair_requests += 1;
            self.outputs
                .push_back(Output::RepairRequest { to, request });
        }
        self.repair_round_at = (self.repair.has_work() || self.repair.outstanding() > 0)
            .then_some(self.now + REPAIR_ROUND_MS);
    }

    pub(super) fn on_repair_answer(&mut self, from: Pubkey, nonce: u32, answer: RepairAnswer) {
        match answer {
            RepairAnswer::Shred(bytes) => {
                if self.repair.accept_response(self.now, nonce, &from) {
                    self.stats.repair_accepted += 1;
                    self.outputs.push_back(Output::Repaired(bytes));
                } else {
                    self.stats.repair_refused += 1;
                }
            }
            RepairAnswer::Ancestors(chain) => self.on_ancestors(from, nonce, &chain),
            RepairAnswer::DontHave if self.ancestry.on_dont_have(nonce, &from) => {
                self.stats.repair_dont_have += 1;
            }
            RepairAnswer::DontHave => {
                if self.repair.on_dont_have(self.now, nonce, &from) {
                    self.stats.repair_dont_have += 1;
                    self.wake_repair();
                } else {
                    self.stats.repair_refused += 1;
                }
            }
        }
    }
}
