//! Our compact, versioned encoding of blocks and entries.
//!
//! ```text
//! block = version u8 (1) | slot u64 | parent_slot u64 | entry count u32 | entry body × count
//! entry = version u8 (1) | entry body                      (one storage row)
//! entry body = num_hashes u64 | hash [32] | txn count u16 | (txn len u16 | txn bytes) × count
//!
//! slot stream  = record × n, footer                          (what a leader's shreds carry)
//! record       = kind u8 (1) | version u8 (1) | entry body
//! footer       = kind u8 (2) | version u8 (1) | bank_hash [32] | block_time_ms u64
//! ```
//!
//! The slot stream is written an entry at a time while the slot runs (so shreds leave during the slot)
//! and ends with the leader's claims about the result, which every validator checks by replaying.
//!
//! Integers are little-endian. Decoding is bounded: every count is checked against a named limit
//! and against the bytes that remain before anything is allocated, every transaction is validated
//! by [`Txn::parse`], and unknown versions, truncation and trailing bytes are errors naming the
//! offset.

use crate::byte_reader::{ByteReader, Prefix, ReadError, ReadErrorKind};
use crate::entry::Entry;
use crate::txn::{Txn, TxnError, TXN_SIZE_MAX};
use crate::types::{Hash, Slot};

/// The encoding version this node writes and reads.
pub const CODEC_VERSION: u8 = 1;
/// Most entries one block may hold: ticks of up to 16,384 slots (skipped ones included) at 64 per
/// slot plus records.
pub const ENTRIES_PER_BLOCK_MAX: usize = 1 << 21;
/// Most transactions one entry may hold (PoH refuses larger record batches).
pub const TXNS_PER_ENTRY_MAX: usize = 4096;
/// Smallest encoded entry body: `num_hashes`, `hash`, a zero transaction count.
const ENTRY_BODY_LEN_MIN: usize = 8 + 32 + 2;
/// Smallest encoded transaction: its length prefix, one signature count byte, one signature and a
/// message header (the real minimum is larger; this is a safe lower bound for allocation checks).
const TXN_ENCODED_LEN_MIN: usize = 2 + 1 + 64 + 3;

/// Record kind of an entry in a slot stream.
pub const STREAM_ENTRY: u8 = 1;
/// Record kind of the footer that ends a slot stream.
pub const STREAM_FOOTER: u8 = 2;
/// Encoded size of the footer record.
pub const STREAM_FOOTER_LEN: usize = 1 + 1 + 32 + 8;

/// The leader's claims that close a slot stream; replay checks the bank hash.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SlotFooter {
    /// Bank hash after executing the block.
    pub bank_hash: Hash,
    /// Leader's wall clock when the block was produced, ms since the Unix epoch.
    pub block_time_ms: u64,
}

/// A slot's block: its place in the fork tree and its PoH entries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Block {
    /// The slot this block fills.
    pub slot: Slot,
    /// The slot whose block this one extends.
    pub parent_slot: Slot,
    /// PoH entries in chain order; the last is a tick whose hash is the blockhash.
    pub entries: Vec<Entry>,
}

/// Why bytes are not a valid encoded block or entry.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CodecError {
    /// The version byte is not one this node reads.
    #[error("unknown encoding version {version} (this node reads version {CODEC_VERSION})")]
    UnknownVersion {
        /// The version byte found.
        version: u8,
    },
    /// The bytes end before a field.
    #[error("truncated: {field} needs {needed} bytes at offset {offset}, {available} left")]
    Truncated {
        /// The field being read.
        field: &'static str,
        /// Where it starts.
        offset: usize,
        /// Bytes it needs.
        needed: usize,
        /// Bytes left.
        available: usize,
    },
    /// A count or length exceeds its limit.
    #[error("{field} {count} at offset {offset} exceeds the limit {max}")]
    TooMany {
        /// The count or length that is too large.
        field: &'static str,
        /// Where the count starts.
        offset: usize,
        /// The announced count.
        count: usize,
        /// The limit.
        max: usize,
    },
    /// Bytes remain after the value.
    #[error("{extra} trailing bytes at offset {offset}")]
    TrailingBytes {
        /// Where the unread bytes start.
        offset: usize,
        /// How many there are.
        extra: usize,
    },
    /// A slot stream record has a kind this node does not know.
    #[error("unknown slot stream record kind {kind} at offset {offset}")]
    UnknownRecord {
        /// The kind byte.
        kind: u8,
        /// Where it is.
        offset: usize,
    },
    /// A slot stream ends without its footer.
    #[error("slot stream has no footer")]
    MissingFooter,
    /// A compact-u16 not in canonical form (the format has none today; a future field would).
    #[error("{field} at offset {offset} is not a canonical compact-u16")]
    NonCanonical {
        /// The field being read.
        field: &'static str,
        /// Where it starts.
        offset: usize,
    },
    /// A transaction's bytes are not an acceptable transaction.
    #[error("entry {entry}, transaction {index} at offset {offset}: {source}")]
    Txn {
        /// Entry position in the block (0 for a lone entry).
        entry: usize,
        /// Transaction position in the entry.
        index: usize,
        /// Where its bytes start.
        offset: usize,
        /// What the transaction parser found.
        source: TxnError,
    },
}

impl From<ReadError> for CodecError {
    fn from(e: ReadError) -> Self {
        let ReadError {
            field,
            offset,
            kind,
        } = e;
        match kind {
            ReadErrorKind::Truncated { needed, available } => CodecError::Truncated {
                field,
                offset,
                needed,
                available,
            },
            ReadErrorKind::NonCanonical => CodecError::NonCanonical { field, offset },
            ReadErrorKind::TooLarge { value, max } => CodecError::TooMany {
                field,
                offset,
                count: value,
                max,
            },
            ReadErrorKind::TrailingBytes { extra } => CodecError::TrailingBytes { offset, extra },
        }
    }
}

impl Block {
    /// The slot's blockhash: the last entry's hash, if that entry is a tick.
    pub fn blockhash(&self) -> Option<Hash> {
        self.entries.last().filter(|e| e.is_tick()).map(|e| e.hash)
    }

    /// Encodes the block; producers keep to [`ENTRIES_PER_BLOCK_MAX`] and [`TXNS_PER_ENTRY_MAX`].
    pub fn encode(&self) -> Vec<u8> {
        debug_assert!(self.entries.len() <= ENTRIES_PER_BLOCK_MAX);
        let len = 1 + 8 + 8 + 4 + self.entries.iter().map(entry_body_len).sum::<usize>();
        let mut out = Vec::with_capacity(len);
        out.push(CODEC_VERSION);
        out.extend_from_slice(&self.slot.0.to_le_bytes());
        out.extend_from_slice(&self.parent_slot.0.to_le_bytes());
        out.extend_from_slice(&(self.entries.len() as u32).to_le_bytes());
        for e in &self.entries {
            write_entry_body(e, &mut out);
        }
        debug_assert_eq!(out.len(), len);
        out
    }

    /// Decodes and validates a block; any deviation from the format is an error, never a panic.
    pub fn decode(bytes: &[u8]) -> Result<Block, CodecError> {
        let mut r = ByteReader::new(bytes);
        read_version(&mut r)?;
        let slot = Slot(r.u64("slot")?);
        let parent_slot = Slot(r.u64("parent slot")?);
        let count = r.count(
            "entry count",
            Prefix::U32,
            ENTRIES_PER_BLOCK_MAX,
            ENTRY_BODY_LEN_MIN,
        )?;
        let mut entries = Vec::with_capacity(count);
        for i in 0..count {
            entries.push(read_entry_body(&mut r, i)?);
        }
        r.finish("block")?;
        Ok(Block {
            slot,
            parent_slot,
            entries,
        })
    }
}

/// Appends one entry as a standalone, versioned record (one storage row).
pub fn encode_entry(entry: &Entry, out: &mut Vec<u8>) {
    out.reserve(1 + entry_body_len(entry));
    out.push(CODEC_VERSION);
    write_entry_body(entry, out);
}

/// Decodes a standalone entry written by [`encode_entry`].
pub fn decode_entry(bytes: &[u8]) -> Result<Entry, CodecError> {
    let mut r = ByteReader::new(bytes);
    read_version(&mut r)?;
    let entry = read_entry_body(&mut r, 0)?;
    r.finish("entry")?;
    Ok(entry)
}

/// Appends one entry to a slot stream.
pub fn encode_stream_entry(entry: &Entry, out: &mut Vec<u8>) {
    out.reserve(2 + entry_body_len(entry));
    out.push(STREAM_ENTRY);
    out.push(CODEC_VERSION);
    write_entry_body(entry, out);
}

/// Appends the footer that ends a slot stream.
pub fn encode_stream_footer(footer: &SlotFooter, out: &mut Vec<u8>) {
    out.push(STREAM_FOOTER);
    out.push(CODEC_VERSION);
    out.extend_from_slice(&footer.bank_hash.0);
    out.extend_from_slice(&footer.block_time_ms.to_le_bytes());
}

/// Decodes a whole slot stream: its entries, then the footer, which must be the last bytes.
pub fn decode_slot_stream(bytes: &[u8]) -> Result<(Vec<Entry>, SlotFooter), CodecError> {
    let mut r = ByteReader::new(bytes);
    let mut entries = Vec::new();
    loop {
        if r.is_empty() {
            return Err(CodecError::MissingFooter);
        }
        let offset = r.position();
        let [kind] = r.array("record kind")?;
        match kind {
            STREAM_ENTRY => {
                if entries.len() >= ENTRIES_PER_BLOCK_MAX {
                    return Err(CodecError::TooMany {
                        field: "entry count",
                        offset,
                        count: entries.len() + 1,
                        max: ENTRIES_PER_BLOCK_MAX,
                    });
                }
                read_version(&mut r)?;
                let entry = read_entry_body(&mut r, entries.len())?;
                entries.push(entry);
            }
            STREAM_FOOTER => {
                read_version(&mut r)?;
                let bank_hash = Hash(r.array("bank hash")?);
                let block_time_ms = r.u64("block time")?;
                r.finish("slot stream footer")?;
                return Ok((
                    entries,
                    SlotFooter {
                        bank_hash,
                        block_time_ms,
                    },
                ));
            }
            kind => return Err(CodecError::UnknownRecord { kind, offset }),
        }
    }
}

fn entry_body_len(e: &Entry) -> usize {
    ENTRY_BODY_LEN_MIN
        + e.transactions
            .iter()
            .map(|t| 2 + t.bytes().len())
            .sum::<usize>()
}

fn write_entry_body(e: &Entry, out: &mut Vec<u8>) {
    debug_assert!(e.transactions.len() <= TXNS_PER_ENTRY_MAX);
    out.extend_from_slice(&e.num_hashes.to_le_bytes());
    out.extend_from_slice(&e.hash.0);
    out.extend_from_slice(&(e.transactions.len() as u16).to_le_bytes());
    for t in &e.transactions {
        // A parsed `Txn` is at most TXN_SIZE_MAX (1232) bytes, so its length fits in u16.
        out.extend_from_slice(&(t.bytes().len() as u16).to_le_bytes());
        out.extend_from_slice(t.bytes());
    }
}

fn read_version(r: &mut ByteReader<'_>) -> Result<(), CodecError> {
    let version = r.u8("version")?;
    if version != CODEC_VERSION {
        return Err(CodecError::UnknownVersion { version });
    }
    Ok(())
}

fn read_entry_body(r: &mut ByteReader<'_>, entry: usize) -> Result<Entry, CodecError> {
    let num_hashes = r.u64("num_hashes")?;
    let hash = Hash(r.array("entry hash")?);
    let count = r.count(
        "transaction count",
        Prefix::U16,
        TXNS_PER_ENTRY_MAX,
        TXN_ENCODED_LEN_MIN,
    )?;
    let mut transactions = Vec::with_capacity(count);
    for index in 0..count {
        let bytes = r.prefixed("transaction length", Prefix::U16, TXN_SIZE_MAX)?;
        let offset = r.position() - bytes.len();
        let txn = Txn::parse(bytes).map_err(|source| CodecError::Txn {
            entry,
            index,
            offset,
            source,
        })?;
        transactions.push(txn);
    }
    Ok(Entry {
        num_hashes,
        hash,
        transactions,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::entry::tests::txn_pool;
    use proptest::prelude::*;

    fn entry_strategy() -> impl Strategy<Value = Entry> {
        (
            any::<u64>(),
            any::<[u8; 32]>(),
            proptest::collection::vec(0usize..32, 0..6),
        )
            .prop_map(|(num_hashes, hash, idx)| Entry {
                num_hashes,
                hash: Hash(hash),
                transactions: idx.iter().map(|&i| txn_pool()[i].clone()).collect(),
            })
    }

    fn block_strategy() -> impl Strategy<Value = Block> {
        (
            any::<u64>(),
            any::<u64>(),
            proptest::collection::vec(entry_strategy(), 0..12),
        )
            .prop_map(|(slot, parent, entries)| Block {
                slot: Slot(slot),
                parent_slot: Slot(parent),
                entries,
            })
    }

    fn sample_block() -> Block {
        let pool = txn_pool();
        Block {
            slot: Slot(9),
            parent_slot: Slot(7),
            entries: vec![
                Entry {
                    num_hashes: 3,
                    hash: Hash([1; 32]),
                    transactions: pool[..2].to_vec(),
                },
                Entry {
                    num_hashes: 5,
                    hash: Hash([2; 32]),
                    transactions: vec![],
                },
            ],
        }
    }

    #[test]
    fn blockhash_is_the_closing_tick() {
        let mut b = sample_block();
        assert_eq!(b.blockhash(), Some(Hash([2; 32])));
        b.entries.pop();
        assert_eq!(b.blockhash(), None);
        b.entries.clear();
        assert_eq!(b.blockhash(), None);
    }

    #[test]
    fn rejects_version_truncation_and_trailing_bytes_with_offsets() {
        let b = sample_block();
        let bytes = b.encode();
        let mut v2 = bytes.clone();
        v2[0] = 2;
        assert_eq!(
            Block::decode(&v2),
            Err(CodecError::UnknownVersion { version: 2 })
        );
        let mut long = bytes.clone();
        long.extend_from_slice(&[0, 0]);
        assert_eq!(
            Block::decode(&long),
            Err(CodecError::TrailingBytes {
                offset: bytes.len(),
                extra: 2
            })
        );
        for n in 0..bytes.len() {
            assert!(Block::decode(&bytes[..n]).is_err(), "prefix {n} decoded");
        }
        assert!(matches!(
            Block::decode(&[]),
            Err(CodecError::Truncated {
                field: "version",
                ..
            })
        ));
    }

    #[test]
    fn rejects_counts_the_bytes_cannot_hold() {
        // A header announcing 1,000,000 entries followed by nothing: refused before allocating.
        let mut b = vec![CODEC_VERSION];
        b.extend_from_slice(&[0; 16]);
        b.extend_from_slice(&1_000_000u32.to_le_bytes());
        let err = Block::decode(&b).unwrap_err();
        assert!(
            matches!(
                err,
                CodecError::Truncated {
                    field: "entry count",
                    needed: 42_000_000,
                    ..
                }
            ),
            "{err}"
        );
        b[17..21].copy_from_slice(&u32::MAX.to_le_bytes());
        assert!(matches!(
            Block::decode(&b),
            Err(CodecError::TooMany {
                field: "entry count",
                offset: 17,
                ..
            })
        ));
        // An entry announcing more transactions than the limit.
        let mut e = vec![CODEC_VERSION];
        e.extend_from_slice(&[0; 40]);
        e.extend_from_slice(&u16::MAX.to_le_bytes());
        let err = decode_entry(&e).unwrap_err();
        assert!(err.to_string().contains("transaction count 65535"), "{err}");
    }

    #[test]
    fn rejects_an_oversized_or_invalid_transaction() {
        let entry = sample_block().entries.remove(0);
        let mut bytes = Vec::new();
        encode_entry(&entry, &mut bytes);
        // First transaction's length prefix sits right after version, num_hashes, hash, count.
        let len_off = 1 + 8 + 32 + 2;
        let mut big = bytes.clone();
        big[len_off..len_off + 2].copy_from_slice(&2000u16.to_le_bytes());
        let err = decode_entry(&big).unwrap_err();
        assert!(err.to_string().contains("2000"), "{err}");
        // Corrupt the first transaction's signature count: the parser's verdict is reported.
        let mut bad = bytes.clone();
        bad[len_off + 2] = 5;
        assert!(matches!(
            decode_entry(&bad),
            Err(CodecError::Txn { entry: 0, index: 0, offset, .. }) if offset == len_off + 2
        ));
    }

    fn stream_of(entries: &[Entry], footer: &SlotFooter) -> Vec<u8> {
        let mut out = Vec::new();
        for e in entries {
            encode_stream_entry(e, &mut out);
        }
        encode_stream_footer(footer, &mut out);
        out
    }

    #[test]
    fn slot_stream_needs_its_footer_last_and_known_record_kinds() {
        let b = sample_block();
        let footer = SlotFooter {
            bank_hash: Hash([4; 32]),
            block_time_ms: 77,
        };
        let bytes = stream_of(&b.entries, &footer);
        assert_eq!(decode_slot_stream(&bytes), Ok((b.entries.clone(), footer)));
        // Without the footer: refused, however the entries end.
        let no_footer = &bytes[..bytes.len() - STREAM_FOOTER_LEN];
        assert_eq!(
            decode_slot_stream(no_footer),
            Err(CodecError::MissingFooter)
        );
        // Bytes after the footer.
        let mut long = bytes.clone();
        long.push(STREAM_ENTRY);
        assert!(matches!(
            decode_slot_stream(&long),
            Err(CodecError::TrailingBytes { extra: 1, .. })
        ));
        let mut unknown = bytes.clone();
        unknown[0] = 9;
        assert_eq!(
            decode_slot_stream(&unknown),
            Err(CodecError::UnknownRecord { kind: 9, offset: 0 })
        );
        // An empty stream (a footer alone) is a valid, if odd, encoding; PoH replay refuses it later.
        assert_eq!(
            decode_slot_stream(&stream_of(&[], &footer)),
            Ok((vec![], footer))
        );
    }

    proptest! {
        #[test]
        fn slot_streams_round_trip_and_garbage_never_panics(
            entries in proptest::collection::vec(entry_strategy(), 0..8),
            hash in any::<[u8; 32]>(),
            time in any::<u64>(),
            garbage in proptest::collection::vec(any::<u8>(), 0..400),
            cut in any::<prop::sample::Index>(),
        ) {
            let footer = SlotFooter { bank_hash: Hash(hash), block_time_ms: time };
            let bytes = stream_of(&entries, &footer);
            prop_assert_eq!(decode_slot_stream(&bytes), Ok((entries, footer)));
            let n = cut.index(bytes.len());
            prop_assert!(decode_slot_stream(&bytes[..n]).is_err());
            let _ = decode_slot_stream(&garbage);
        }

        #[test]
        fn blocks_round_trip(block in block_strategy()) {
            let bytes = block.encode();
            prop_assert_eq!(Block::decode(&bytes), Ok(block));
        }

        #[test]
        fn entries_round_trip_appended(
            entries in proptest::collection::vec(entry_strategy(), 1..4),
        ) {
            for e in &entries {
                let mut out = vec![0xAA];
                encode_entry(e, &mut out);
                prop_assert_eq!(decode_entry(&out[1..]), Ok(e.clone()));
            }
        }

        #[test]
        fn garbage_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..600)) {
            let _ = Block::decode(&bytes);
            let _ = decode_entry(&bytes);
            // Also behind a valid version byte, so the parser gets past the first check.
            let mut v = vec![CODEC_VERSION];
            v.extend_from_slice(&bytes);
            let _ = Block::decode(&v);
            let _ = decode_entry(&v);
        }

        #[test]
        fn mutations_never_panic(
            block in block_strategy(),
            edits in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..8),
            cut in any::<prop::sample::Index>(),
        ) {
            let mut bytes = block.encode();
            for (i, v) in &edits {
                let i = i.index(bytes.len());
                bytes[i] = *v;
            }
            if let Ok(b) = Block::decode(&bytes) {
                // Whatever decodes must re-encode to the same bytes (the encoding is canonical).
                prop_assert_eq!(b.encode(), bytes.clone());
            }
            let n = cut.index(bytes.len());
            let _ = Block::decode(&bytes[..n]);
            let _ = decode_entry(&bytes[n..]);
        }
    }
}
