//! When held values expire: one list per lifetime, in deadline order.
//!
//! A value gets `now + its kind's lifetime`, so as long as the clock does not go back, a value
//! inserted or replaced goes last in its lifetime's list: filing, refiling and removing cost a few
//! index writes, where an ordered map paid a search on every vote replacement (about every
//! 4 ms per node with 100 voters). A clock that went back files by walking from the end.

use super::LabelKey;

/// A value's place in the lists.
pub(crate) type ExpiryId = u32;

/// A value's lifetime class; values of one class share one lifetime.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Lifetime {
    /// Contact infos.
    ContactInfo,
    /// Votes.
    Vote,
    /// Duplicate-shred chunks and slashing evidence.
    Evidence,
}

const LIFETIMES: usize = 3;
const NIL: u32 = u32::MAX;

#[derive(Debug)]
struct Record {
    prev: u32,
    next: u32,
    at_ms: u64,
    lifetime: Lifetime,
    /// The value's origin index and label key in the table.
    origin: usize,
    key: LabelKey,
}

/// Every expiring value's deadline, in one doubly linked list per lifetime (records in a slab,
/// so the lists hold no more than the table does).
#[derive(Debug)]
pub(crate) struct ExpiryLists {
    records: Vec<Record>,
    free: Vec<u32>,
    head: [u32; LIFETIMES],
    tail: [u32; LIFETIMES],
}

impl ExpiryLists {
    /// No records.
    pub fn new() -> ExpiryLists {
        ExpiryLists {
            records: Vec::new(),
            free: Vec::new(),
            head: [NIL; LIFETIMES],
            tail: [NIL; LIFETIMES],
        }
    }

    /// Files the value under (`origin`, `key`) to expire at `at_ms`.
    pub fn add(
        &mut self,
        lifetime: Lifetime,
        at_ms: u64,
        origin: usize,
        key: LabelKey,
    ) -> ExpiryId {
        let record = Record {
            prev: NIL,
            next: NIL,
            at_ms,
            lifetime,
            origin,
            key,
        };
        let id = match self.free.pop() {
            Some(id) => {
                self.records[id as usize] = record;
                id
            }
            None => {
                // A table holds far fewer than 2^32 values.
                let id = u32::try_from(self.records.len()).unwrap_or(NIL - 1);
                self.records.push(record);
                id
            }
        };
        self.link(id);
        id
    }

    /// Moves record `id` to `at_ms` (a replacement of its value).
    pub fn refile(&mut self, id: ExpiryId, at_ms: u64) {
        self.unlink(id);
        self.records[id as usize].at_ms = at_ms;
        self.link(id);
    }

    /// Drops record `id`.
    pub fn remove(&mut self, id: ExpiryId) {
        self.unlink(id);
        self.free.push(id);
    }

    /// The earliest deadline.
    pub fn next_ms(&self) -> Option<u64> {
        self.head
            .iter()
            .filter(|&&id| id != NIL)
            .map(|&id| self.records[id as usize].at_ms)
            .min()
    }

    /// A record due at `now_ms`, if any: its id and its value's origin index and label key.
    pub fn due(&self, now_ms: u64) -> Option<(ExpiryId, usize, LabelKey)> {
        self.head.iter().find_map(|&id| {
            let r = self.records.get(id as usize)?;
            (r.at_ms <= now_ms).then_some((id, r.origin, r.key))
        })
    }

    /// Puts record `id` into its lifetime's list, after the last record due no later.
    fn link(&mut self, id: u32) {
        let (lifetime, at_ms) = {
            let r = &self.records[id as usize];
            (r.lifetime as usize, r.at_ms)
        };
        let mut after = self.tail[lifetime];
        while after != NIL && self.records[after as usize].at_ms > at_ms {
            after = self.records[after as usize].prev;
        }
        let next = if after == NIL {
            self.head[lifetime]
        } else {
            self.records[after as usize].next
        };
        self.records[id as usize].prev = after;
        self.records[id as usize].next = next;
        match after {
            NIL => self.head[lifetime] = id,
            a => self.records[a as usize].next = id,
        }
        match next {
            NIL => self.tail[lifetime] = id,
            n => self.records[n as usize].prev = id,
        }
    }

    fn unlink(&mut self, id: u32) {
        let (lifetime, prev, next) = {
            let r = &self.records[id as usize];
            (r.lifetime as usize, r.prev, r.next)
        };
        match prev {
            NIL => self.head[lifetime] = next,
            p => self.records[p as usize].next = next,
        }
        match next {
            NIL => self.tail[lifetime] = prev,
            n => self.records[n as usize].prev = prev,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_come_due_in_deadline_order_even_filed_out_of_order() {
        let mut lists = ExpiryLists::new();
        let a = lists.add(Lifetime::Vote, 100, 1, LabelKey::Vote);
        let b = lists.add(Lifetime::Vote, 200, 2, LabelKey::Vote);
        let c = lists.add(Lifetime::ContactInfo, 150, 3, LabelKey::ContactInfo);
        // A clock that went back: filed before b.
        let d = lists.add(Lifetime::Vote, 120, 4, LabelKey::Vote);
        assert_eq!(lists.next_ms(), Some(100));
        lists.refile(a, 300);
        assert_eq!(lists.next_ms(), Some(120));
        assert_eq!(lists.due(119), None);
        let mut order = Vec::new();
        while let Some((id, origin, _)) = lists.due(1_000) {
            order.push(origin);
            lists.remove(id);
        }
        // Due records of different lifetimes come in any order; within one, by deadline.
        assert_eq!(order, vec![3, 4, 2, 1]);
        assert_eq!(lists.next_ms(), None);
        // Freed records are reused.
        let e = lists.add(Lifetime::Evidence, 5, 9, LabelKey::Vote);
        assert!([a, b, c, d].contains(&e));
        assert_eq!(lists.due(5).map(|(_, o, _)| o), Some(9));
    }
}
