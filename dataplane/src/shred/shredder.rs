//! The leader side: one slot's bytes in, signed FEC sets out, streamed as the bytes arrive.

use ed25519_dalek::{Signer, SigningKey};
use reed_solomon_simd::ReedSolomonEncoder;

use super::merkle::{self, MerkleTree};
use super::{
    data_payload_capacity, erasure_shard_len, proof_depth, proof_offset, shard_of,
    write_data_header, CodingHeader, DataHeader, FecConfig, Root, SetHeader, ShredKind,
    CODING_HEADER_END, CODING_SHREDS_PER_SLOT_MAX, DATA_COMPLETE, DATA_HEADER_END,
    DATA_SHREDS_PER_SLOT_MAX, LAST_IN_SLOT, SHRED_SIZE, SIGNATURE_LEN,
};

/// Why the shredder cannot go on.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ShredderError {
    /// The parent is not an earlier slot (or slot 0 for slot 0), or is more than `u16::MAX` back.
    #[error("parent slot {parent} cannot precede slot {slot} (offset must be 1..=65535)")]
    BadParent {
        /// The slot being shredded.
        slot: u64,
        /// The parent given.
        parent: u64,
    },
    /// Shred version 0 is reserved for "unset".
    #[error("shred version 0 is reserved")]
    ZeroVersion,
    /// The slot has no more data or coding indices.
    #[error("slot {slot} is full: {kind} index would reach {max}")]
    SlotFull {
        /// The slot being shredded.
        slot: u64,
        /// "data" or "coding".
        kind: &'static str,
        /// The per-slot limit.
        max: u32,
    },
    /// `push` or `finish` after `finish`.
    #[error("slot {slot} already finished")]
    Finished {
        /// The slot.
        slot: u64,
    },
    /// reed-solomon-simd refused the set (a bug: counts and shard size are validated).
    #[error("erasure encoding failed: {0}")]
    Erasure(String),
}

/// A data shred being filled: its bytes in the shredder's buffer, and its flags.
#[derive(Debug, Clone, Copy)]
struct Segment {
    start: usize,
    len: usize,
    flags: u8,
}

/// Cuts one slot's bytes into signed FEC sets.
///
/// Data shreds are cut at the payload capacity of a full set; a caller batch that ends
/// (`data_complete`) closes its shred early, so the next batch starts in a new shred. A full set is
/// emitted as soon as a byte arrives that belongs to the set after it, so the slot's last set is
/// still held when [`Shredder::finish`] marks it LAST_IN_SLOT.
pub struct Shredder {
    keypair: SigningKey,
    slot: u64,
    parent_offset: u16,
    version: u16,
    config: FecConfig,
    /// Payload bytes per data shred: the full set's capacity (a shorter tail set, with a shallower
    /// tree, could hold a few more bytes per shred; it is cut the same way).
    capacity: usize,
    chained_root: Root,
    next_data_index: u32,
    next_coding_index: u32,
    /// Bytes of the pending (not yet emitted) data shreds: the input's one copy before the shreds.
    buf: Vec<u8>,
    segments: Vec<Segment>,
    /// Whether the last segment takes more bytes.
    open: bool,
    encoder: ReedSolomonEncoder,
    tree: MerkleTree,
    finished: bool,
}

impl Shredder {
    /// A shredder for `slot` extending `parent`, whose first set chains to `chained_root` (the parent
    /// slot's last set root).
    pub fn new(
        keypair: &SigningKey,
        slot: u64,
        parent: u64,
        version: u16,
        chained_root: Root,
        config: FecConfig,
    ) -> Result<Shredder, ShredderError> {
        let offset = slot
            .checked_sub(parent)
            .filter(|&o| (o == 0) == (slot == 0) && o <= u64::from(u16::MAX));
        let Some(offset) = offset else {
            return Err(ShredderError::BadParent { slot, parent });
        };
        if version == 0 {
            return Err(ShredderError::ZeroVersion);
        }
        let depth = proof_depth(config.data_shreds() + config.coding_shreds());
        let shard_len = erasure_shard_len(depth);
        let encoder =
            ReedSolomonEncoder::new(config.data_shreds(), config.coding_shreds(), shard_len)
                .map_err(|e| ShredderError::Erasure(e.to_string()))?;
        Ok(Shredder {
            keypair: keypair.clone(),
            slot,
            parent_offset: offset as u16,
            version,
            config,
            capacity: data_payload_capacity(depth),
            chained_root,
            next_data_index: 0,
            next_coding_index: 0,
            buf: Vec::with_capacity(config.set_capacity()),
            segments: Vec::with_capacity(config.data_shreds()),
            open: false,
            encoder,
            tree: MerkleTree::default(),
            finished: false,
        })
    }

    /// Appends `bytes` to the slot; appends every FEC set that is now complete to `out` (its data
    /// shreds in index order, then its coding shreds). `data_complete`: a caller batch ends with
    /// these bytes, so its last shred is flagged DATA_COMPLETE and the next bytes start a new shred.
    pub fn push(
        &mut self,
        mut bytes: &[u8],
        data_complete: bool,
        out: &mut Vec<[u8; SHRED_SIZE]>,
    ) -> Result<(), ShredderError> {
        if self.finished {
            return Err(ShredderError::Finished { slot: self.slot });
        }
        while !bytes.is_empty() {
            if !self.open {
                if self.segments.len() == self.config.data_shreds() {
                    self.emit(out)?;
                }
                self.open_segment()?;
            }
            let Some(seg) = self.segments.last_mut() else {
                break;
            };
            let take = (self.capacity - seg.len).min(bytes.len());
            self.buf.extend_from_slice(&bytes[..take]);
            seg.len += take;
            bytes = &bytes[take..];
            if seg.len == self.capacity {
                self.open = false;
            }
        }
        if data_complete {
            if let Some(seg) = self.segments.last_mut() {
                seg.flags |= DATA_COMPLETE;
                self.open = false;
            }
        }
        Ok(())
    }

    /// Appends the slot's last `bytes`, emits the last set (fewer data shreds if the slot ends early,
    /// flagged LAST_IN_SLOT) and returns its root: the next slot's chained root.
    pub fn finish(
        &mut self,
        bytes: &[u8],
        out: &mut Vec<[u8; SHRED_SIZE]>,
    ) -> Result<Root, ShredderError> {
        self.push(bytes, false, out)?;
        if self.segments.is_empty() {
            // An empty slot still needs one data shred to say where it ends.
            self.open_segment()?;
        }
        if let Some(seg) = self.segments.last_mut() {
            seg.flags |= DATA_COMPLETE | LAST_IN_SLOT;
        }
        self.emit(out)?;
        self.finished = true;
        Ok(self.chained_root)
    }

    /// The root the next set will chain to (after [`Shredder::finish`]: the slot's last root).
    pub fn chained_root(&self) -> Root {
        self.chained_root
    }

    /// Data index the next emitted set starts at.
    pub fn next_data_index(&self) -> u32 {
        self.next_data_index
    }

    /// Coding index the next emitted set's coding shreds start at.
    pub fn next_coding_index(&self) -> u32 {
        self.next_coding_index
    }

    fn open_segment(&mut self) -> Result<(), ShredderError> {
        let index = self.next_data_index as usize + self.segments.len();
        if index >= DATA_SHREDS_PER_SLOT_MAX as usize {
            return Err(ShredderError::SlotFull {
                slot: self.slot,
                kind: "data",
                max: DATA_SHREDS_PER_SLOT_MAX,
            });
        }
        self.segments.push(Segment {
            start: self.buf.len(),
            len: 0,
            flags: 0,
        });
        self.open = true;
        Ok(())
    }

    /// Turns the pending data shreds into one signed set appended to `out`.
    fn emit(&mut self, out: &mut Vec<[u8; SHRED_SIZE]>) -> Result<(), ShredderError> {
        let k = self.segments.len();
        // Even the slot's short tail set gets the full number of coding shreds: a small set loses all
        // its data to a few drops, and the tail (which ends the slot) is what everyone waits for.
        let m = self.config.coding_shreds();
        if u64::from(self.next_coding_index) + m as u64 > u64::from(CODING_SHREDS_PER_SLOT_MAX) {
            return Err(ShredderError::SlotFull {
                slot: self.slot,
                kind: "coding",
                max: CODING_SHREDS_PER_SLOT_MAX,
            });
        }
        let depth = proof_depth(k + m);
        let shard_len = erasure_shard_len(depth);
        let set = SetHeader {
            slot: self.slot,
            version: self.version,
            fec_set_index: self.next_data_index,
            depth,
            chained_root: self.chained_root,
        };
        let base = out.len();
        out.resize(base + k + m, [0u8; SHRED_SIZE]);
        let shreds = &mut out[base..];
        let (data, coding) = shreds.split_at_mut(k);
        for (i, (s, seg)) in data.iter_mut().zip(&self.segments).enumerate() {
            set.write_common(s, ShredKind::Data, self.next_data_index + i as u32);
            let header = DataHeader {
                parent_offset: self.parent_offset,
                flags: seg.flags,
                size: seg.len as u16,
            };
            write_data_header(s, header);
            s[DATA_HEADER_END..DATA_HEADER_END + seg.len]
                .copy_from_slice(&self.buf[seg.start..seg.start + seg.len]);
        }
        let erasure = |e: reed_solomon_simd::Error| ShredderError::Erasure(e.to_string());
        self.encoder.reset(k, m, shard_len).map_err(erasure)?;
        for s in data.iter() {
            self.encoder
                .add_original_shard(shard_of(s, ShredKind::Data, depth))
                .map_err(erasure)?;
        }
        let parity = self.encoder.encode().map_err(erasure)?;
        for (j, (s, p)) in coding.iter_mut().zip(parity.recovery_iter()).enumerate() {
            let header = CodingHeader {
                num_data: k as u16,
                num_coding: m as u16,
                position: j as u16,
            };
            set.write_coding(s, header, self.next_coding_index + j as u32);
            s[CODING_HEADER_END..CODING_HEADER_END + shard_len].copy_from_slice(p);
        }
        drop(parity);
        let poff = proof_offset(depth);
        self.tree
            .build(shreds.iter().map(|s| merkle::leaf(&s[SIGNATURE_LEN..poff])));
        let root = self.tree.root();
        let signature = self.keypair.sign(&root.0).to_bytes();
        for (i, s) in shreds.iter_mut().enumerate() {
            self.tree.write_proof(i, &mut s[poff..]);
            s[..SIGNATURE_LEN].copy_from_slice(&signature);
        }
        self.chained_root = root;
        self.next_data_index += k as u32;
        self.next_coding_index += m as u32;
        self.segments.clear();
        self.buf.clear();
        self.open = false;
        Ok(())
    }
}
