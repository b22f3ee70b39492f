//! The one bounded reader every decoder of untrusted bytes reads through: transactions, blocks and
//! slot streams, votes and vote states, repair datagrams, store rows, gossip datagrams and the RPC's
//! transaction renderer.
//!
//! Every read checks its length against the bytes left before it touches one, and a count that
//! announces items is checked against its limit and against the bytes left before the caller
//! allocates for it ([`ByteReader::count`]), so no input can make a decoder index past its end or
//! reserve more than the input could fill. A refusal is a [`ReadError`] naming the field, its offset
//! and what is wrong; each decoder converts it into its own error type with a `From` impl.
//!
//! Solana's compact-u16 (`short_vec` length) is decoded here and nowhere else, in canonical form
//! only (as Solana's own decoder), so no two decoders can disagree about a length. A failed read
//! leaves the position where it was.

use std::fmt;

/// How a count or length is written before what it announces (integers little-endian).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Prefix {
    /// One byte.
    U8,
    /// Two bytes.
    U16,
    /// Four bytes.
    U32,
    /// Solana's compact-u16: 1 to 3 bytes, canonical.
    CompactU16,
}

/// What is wrong with a field.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReadErrorKind {
    /// The bytes end before the field does.
    Truncated {
        /// Bytes the field needs.
        needed: usize,
        /// Bytes left.
        available: usize,
    },
    /// A compact-u16 longer than its shortest form, longer than 3 bytes, or above `u16::MAX`.
    NonCanonical,
    /// A count or length above its limit.
    TooLarge {
        /// The value read.
        value: usize,
        /// The limit.
        max: usize,
    },
    /// Bytes are left after what should have been the end.
    TrailingBytes {
        /// How many.
        extra: usize,
    },
}

/// Why the reader refused a field: which one, where it starts, and what is wrong.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReadError {
    /// The field being read (for [`ReadErrorKind::TrailingBytes`], what should have ended).
    pub field: &'static str,
    /// Where the field starts (for trailing bytes, where they start).
    pub offset: usize,
    /// What is wrong.
    pub kind: ReadErrorKind,
}

impl ReadError {
    /// A short, stable description of the kind, for errors that carry one as text.
    pub fn problem(&self) -> &'static str {
        match self.kind {
            ReadErrorKind::Truncated { .. } => "truncated",
            ReadErrorKind::NonCanonical => "not a canonical compact-u16",
            ReadErrorKind::TooLarge { .. } => "over its limit",
            ReadErrorKind::TrailingBytes { .. } => "trailing bytes",
        }
    }
}

impl fmt::Display for ReadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (field, offset) = (self.field, self.offset);
        match self.kind {
            ReadErrorKind::Truncated { needed, available } => write!(
                f,
                "{field} needs {needed} bytes at offset {offset}, {available} left"
            ),
            ReadErrorKind::NonCanonical => {
                write!(
                    f,
                    "{field} at offset {offset} is not a canonical compact-u16"
                )
            }
            ReadErrorKind::TooLarge { value, max } => {
                write!(
                    f,
                    "{field} {value} at offset {offset} exceeds the limit {max}"
                )
            }
            ReadErrorKind::TrailingBytes { extra } => {
                write!(
                    f,
                    "{extra} trailing bytes after the {field} at offset {offset}"
                )
            }
        }
    }
}

impl std::error::Error for ReadError {}

/// Decoders whose errors are text (store rows, the RPC's renderer) report the reader's as is.
impl From<ReadError> for String {
    fn from(e: ReadError) -> String {
        e.to_string()
    }
}

/// A cursor over untrusted bytes; every read is bounds-checked and names its field.
#[derive(Debug, Clone)]
pub struct ByteReader<'a> {
    bytes: &'a [u8],
    pos: usize,
}

impl<'a> ByteReader<'a> {
    /// Reads `bytes` from the first.
    pub fn new(bytes: &'a [u8]) -> Self {
        ByteReader { bytes, pos: 0 }
    }

    /// Reads `bytes` from `offset` (clamped to the end), to re-walk fields a decoder already
    /// validated; offsets in errors still count from the start of `bytes`.
    pub fn at(bytes: &'a [u8], offset: usize) -> Self {
        ByteReader {
            bytes,
            pos: offset.min(bytes.len()),
        }
    }

    /// Offset of the next byte to read.
    pub fn position(&self) -> usize {
        self.pos
    }

    /// Bytes left to read.
    pub fn remaining(&self) -> usize {
        self.bytes.len() - self.pos
    }

    /// Whether every byte has been read.
    pub fn is_empty(&self) -> bool {
        self.remaining() == 0
    }

    /// The next byte, without reading it.
    pub fn peek_u8(&self) -> Option<u8> {
        self.bytes.get(self.pos).copied()
    }

    fn error(&self, field: &'static str, offset: usize, kind: ReadErrorKind) -> ReadError {
        ReadError {
            field,
            offset,
            kind,
        }
    }

    /// The next `n` bytes, borrowed from the input.
    pub fn take(&mut self, field: &'static str, n: usize) -> Result<&'a [u8], ReadError> {
        let available = self.remaining();
        if n > available {
            return Err(self.error(
                field,
                self.pos,
                ReadErrorKind::Truncated {
                    needed: n,
                    available,
                },
            ));
        }
        let s = &self.bytes[self.pos..self.pos + n];
        self.pos += n;
        Ok(s)
    }

    /// Every byte left, borrowed (a last field that runs to the end of the input).
    pub fn rest(&mut self) -> &'a [u8] {
        let s = &self.bytes[self.pos..];
        self.pos = self.bytes.len();
        s
    }

    /// The next `N` bytes as an array (keys, hashes, signatures).
    pub fn array<const N: usize>(&mut self, field: &'static str) -> Result<[u8; N], ReadError> {
        let mut out = [0u8; N];
        out.copy_from_slice(self.take(field, N)?);
        Ok(out)
    }

    /// The next byte.
    pub fn u8(&mut self, field: &'static str) -> Result<u8, ReadError> {
        Ok(self.array::<1>(field)?[0])
    }

    /// The next little-endian `u16`.
    pub fn u16(&mut self, field: &'static str) -> Result<u16, ReadError> {
        self.array(field).map(u16::from_le_bytes)
    }

    /// The next little-endian `u32`.
    pub fn u32(&mut self, field: &'static str) -> Result<u32, ReadError> {
        self.array(field).map(u32::from_le_bytes)
    }

    /// The next little-endian `u64`.
    pub fn u64(&mut self, field: &'static str) -> Result<u64, ReadError> {
        self.array(field).map(u64::from_le_bytes)
    }

    /// Solana's compact-u16: 7 bits per byte, low bits first, at most 3 bytes, canonical form only
    /// (no zero final byte after the first, nothing above `u16::MAX`), as Solana's decoder, which
    /// refuses aliased encodings.
    pub fn compact_u16(&mut self, field: &'static str) -> Result<u16, ReadError> {
        let start = self.pos;
        let result = self.compact_u16_from(field, start);
        if result.is_err() {
            self.pos = start;
        }
        result
    }

    fn compact_u16_from(&mut self, field: &'static str, start: usize) -> Result<u16, ReadError> {
        let non_canonical = self.error(field, start, ReadErrorKind::NonCanonical);
        let mut value: u32 = 0;
        for i in 0..3 {
            let b = self.u8(field)?;
            // The third byte carries the top 2 bits: more would overflow u16.
            if i == 2 && b > 0x03 {
                return Err(non_canonical);
            }
            value |= u32::from(b & 0x7f) << (7 * i);
            if b & 0x80 == 0 {
                // A zero final byte means a longer-than-needed (aliased) encoding.
                if i > 0 && b == 0 {
                    return Err(non_canonical);
                }
                return u16::try_from(value).map_err(|_| non_canonical);
            }
        }
        // A continuation bit on the third byte.
        Err(non_canonical)
    }

    fn prefix(&mut self, field: &'static str, prefix: Prefix) -> Result<usize, ReadError> {
        Ok(match prefix {
            Prefix::U8 => usize::from(self.u8(field)?),
            Prefix::U16 => usize::from(self.u16(field)?),
            // usize is at least 32 bits on every target this node builds for.
            Prefix::U32 => self.u32(field)? as usize,
            Prefix::CompactU16 => usize::from(self.compact_u16(field)?),
        })
    }

    /// A count of items that follow, refused when above `max` or when the bytes left cannot hold
    /// that many items of at least `item_len_min` bytes each: a caller may then reserve `count`
    /// items, and a hostile count never buys an allocation larger than the input.
    pub fn count(
        &mut self,
        field: &'static str,
        prefix: Prefix,
        max: usize,
        item_len_min: usize,
    ) -> Result<usize, ReadError> {
        let start = self.pos;
        let count = self.prefix(field, prefix)?;
        if count > max {
            self.pos = start;
            return Err(self.error(field, start, ReadErrorKind::TooLarge { value: count, max }));
        }
        let needed = count.saturating_mul(item_len_min);
        let available = self.remaining();
        if needed > available {
            let offset = self.pos;
            self.pos = start;
            return Err(self.error(
                field,
                offset,
                ReadErrorKind::Truncated { needed, available },
            ));
        }
        Ok(count)
    }

    /// A length of at most `max` written as `prefix`, then that many bytes, borrowed.
    pub fn prefixed(
        &mut self,
        field: &'static str,
        prefix: Prefix,
        max: usize,
    ) -> Result<&'a [u8], ReadError> {
        let start = self.pos;
        let len = self.count(field, prefix, max, 0)?;
        self.take(field, len).inspect_err(|_| self.pos = start)
    }

    /// Succeeds only when every byte has been read; `field` names what should have ended there.
    pub fn finish(&self, field: &'static str) -> Result<(), ReadError> {
        match self.remaining() {
            0 => Ok(()),
            extra => Err(self.error(field, self.pos, ReadErrorKind::TrailingBytes { extra })),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// Solana's encoder, restated here so the tests do not check the reader against itself.
    fn encode_compact_u16(mut v: u16) -> Vec<u8> {
        let mut out = Vec::new();
        loop {
            let b = (v & 0x7f) as u8;
            v >>= 7;
            if v == 0 {
                out.push(b);
                return out;
            }
            out.push(b | 0x80);
        }
    }

    fn truncated(field: &'static str, offset: usize, needed: usize, available: usize) -> ReadError {
        ReadError {
            field,
            offset,
            kind: ReadErrorKind::Truncated { needed, available },
        }
    }

    #[test]
    fn reads_fixed_fields_little_endian() {
        let mut bytes = vec![7u8];
        bytes.extend_from_slice(&0x0102u16.to_le_bytes());
        bytes.extend_from_slice(&0x0304_0506u32.to_le_bytes());
        bytes.extend_from_slice(&0x0708_090a_0b0c_0d0eu64.to_le_bytes());
        bytes.extend_from_slice(&[9; 4]);
        let mut r = ByteReader::new(&bytes);
        assert_eq!(r.u8("a"), Ok(7));
        assert_eq!(r.u16("b"), Ok(0x0102));
        assert_eq!(r.u32("c"), Ok(0x0304_0506));
        assert_eq!(r.u64("d"), Ok(0x0708_090a_0b0c_0d0e));
        assert_eq!(r.remaining(), 4);
        assert_eq!(r.peek_u8(), Some(9));
        assert_eq!(r.array::<3>("e"), Ok([9; 3]));
        assert_eq!(r.take("f", 1), Ok(&[9][..]));
        assert!(r.is_empty());
        assert_eq!(r.rest(), &[] as &[u8]);
        assert_eq!(r.finish("record"), Ok(()));
    }

    #[test]
    fn truncation_at_every_field_names_the_field_and_offset() {
        let bytes = [0u8; 15]; // u8 + u16 + u32 + u64
        for len in 0..bytes.len() {
            let mut r = ByteReader::new(&bytes[..len]);
            let e = r
                .u8("a")
                .and_then(|_| r.u16("b").map(drop))
                .and_then(|_| r.u32("c").map(drop))
                .and_then(|_| r.u64("d").map(drop))
                .unwrap_err();
            let (field, offset, needed) = match len {
                0 => ("a", 0, 1),
                1..=2 => ("b", 1, 2),
                3..=6 => ("c", 3, 4),
                _ => ("d", 7, 8),
            };
            assert_eq!(e, truncated(field, offset, needed, len - offset));
            // A failed read leaves the position where it was.
            assert_eq!(r.position(), offset);
        }
        let e = ByteReader::new(&[1, 2])
            .take("payload", usize::MAX)
            .unwrap_err();
        assert_eq!(e, truncated("payload", 0, usize::MAX, 2));
        assert_eq!(
            e.to_string(),
            format!("payload needs {} bytes at offset 0, 2 left", usize::MAX)
        );
    }

    #[test]
    fn compact_u16_reads_every_canonical_value() {
        for v in 0..=u16::MAX {
            let bytes = encode_compact_u16(v);
            let mut r = ByteReader::new(&bytes);
            assert_eq!(r.compact_u16("len"), Ok(v));
            assert!(r.is_empty());
        }
    }

    #[test]
    fn compact_u16_refuses_aliased_long_and_overflowing_forms() {
        let non_canonical = [
            &[0x80, 0x00][..],         // 0 in two bytes
            &[0x81, 0x00],             // 1 in two bytes
            &[0xff, 0x80, 0x00],       // 127 in three bytes
            &[0x80, 0x80, 0x00],       // 0 in three bytes
            &[0xff, 0xff, 0x04],       // 0x1_ffff: over u16
            &[0xff, 0xff, 0x7f],       // far over u16
            &[0x80, 0x80, 0x80],       // a continuation bit on the third byte
            &[0x80, 0x80, 0x80, 0x01], // four bytes
        ];
        for bytes in non_canonical {
            let mut r = ByteReader::new(bytes);
            let e = r.compact_u16("count").unwrap_err();
            assert_eq!(e.kind, ReadErrorKind::NonCanonical, "{bytes:x?}");
            assert_eq!((e.field, e.offset, r.position()), ("count", 0, 0));
            assert!(e.to_string().contains("count"), "{e}");
        }
        // The largest value takes three bytes, the third at most 0x03.
        assert_eq!(
            ByteReader::new(&[0xff, 0xff, 0x03]).compact_u16("x"),
            Ok(u16::MAX)
        );
    }

    #[test]
    fn compact_u16_truncation_names_the_missing_byte() {
        for bytes in [&[][..], &[0x80], &[0xff, 0xff]] {
            // One byte before the count, so offsets are seen to count from the input's start.
            let padded: Vec<u8> = [5].into_iter().chain(bytes.iter().copied()).collect();
            let mut r = ByteReader::at(&padded, 1);
            let e = r.compact_u16("count").unwrap_err();
            assert_eq!(e, truncated("count", 1 + bytes.len(), 1, 0));
            assert_eq!(r.position(), 1);
        }
    }

    #[test]
    fn counts_are_bounded_by_their_limit_and_by_the_bytes_left() {
        // 3 items of at least 4 bytes need 12 bytes; 11 are left.
        let mut bytes = vec![3u8];
        bytes.extend_from_slice(&[0; 11]);
        let mut r = ByteReader::new(&bytes);
        assert_eq!(
            r.count("item count", Prefix::U8, 10, 4),
            Err(truncated("item count", 1, 12, 11))
        );
        assert_eq!(r.position(), 0);
        assert_eq!(r.count("item count", Prefix::U8, 10, 3), Ok(3));
        // Above the limit: refused at the count's own offset, whatever follows.
        let e = ByteReader::new(&[11])
            .count("item count", Prefix::U8, 10, 0)
            .unwrap_err();
        assert_eq!(e.kind, ReadErrorKind::TooLarge { value: 11, max: 10 });
        assert_eq!(
            e.to_string(),
            "item count 11 at offset 0 exceeds the limit 10"
        );
        // A hostile u32 count is refused before anything could be reserved for it.
        let e = ByteReader::new(&u32::MAX.to_le_bytes())
            .count("entry count", Prefix::U32, usize::MAX, 42)
            .unwrap_err();
        assert!(matches!(
            e.kind,
            ReadErrorKind::Truncated { available: 0, .. }
        ));
        // Every prefix width.
        let mut r = ByteReader::new(&[2, 0, 3, 0, 0, 0, 0x80, 0x01]);
        assert_eq!(r.count("a", Prefix::U16, 9, 0), Ok(2));
        assert_eq!(r.count("b", Prefix::U32, 9, 0), Ok(3));
        assert_eq!(r.count("c", Prefix::CompactU16, 200, 0), Ok(128));
        // A non-canonical compact-u16 count is refused as such.
        let e = ByteReader::new(&[0x80, 0x00])
            .count("c", Prefix::CompactU16, 9, 0)
            .unwrap_err();
        assert_eq!(e.kind, ReadErrorKind::NonCanonical);
    }

    #[test]
    fn prefixed_bytes_are_bounded_and_borrowed() {
        let mut r = ByteReader::new(&[3, 0, b'a', b'b', b'c', 9]);
        assert_eq!(r.prefixed("text", Prefix::U16, 3), Ok(&b"abc"[..]));
        assert_eq!(
            r.finish("row"),
            Err(ReadError {
                field: "row",
                offset: 5,
                kind: ReadErrorKind::TrailingBytes { extra: 1 }
            })
        );
        let e = ByteReader::new(&[3, 0, b'a', b'b', b'c'])
            .prefixed("text", Prefix::U16, 2)
            .unwrap_err();
        assert_eq!(e.kind, ReadErrorKind::TooLarge { value: 3, max: 2 });
        let mut r = ByteReader::new(&[4, 0, b'a']);
        assert_eq!(
            r.prefixed("text", Prefix::U16, 9),
            Err(truncated("text", 2, 4, 1))
        );
        assert_eq!(r.position(), 0);
    }

    #[test]
    fn trailing_bytes_name_what_should_have_ended() {
        let mut r = ByteReader::new(&[1, 2, 3]);
        r.u8("tag").unwrap();
        let e = r.finish("message").unwrap_err();
        assert_eq!(e.kind, ReadErrorKind::TrailingBytes { extra: 2 });
        assert_eq!(
            e.to_string(),
            "2 trailing bytes after the message at offset 1"
        );
        assert_eq!(e.problem(), "trailing bytes");
    }

    #[test]
    fn at_clamps_to_the_end() {
        let r = ByteReader::at(&[1, 2], 5);
        assert_eq!((r.position(), r.remaining()), (2, 0));
        assert_eq!(ByteReader::at(&[1, 2], 1).peek_u8(), Some(2));
    }

    proptest! {
        #[test]
        fn random_reads_never_panic_or_overrun(
            bytes in proptest::collection::vec(any::<u8>(), 0..64),
            ops in proptest::collection::vec((0u8..8, any::<u16>()), 0..32),
        ) {
            let mut r = ByteReader::new(&bytes);
            for (op, arg) in ops {
                let before = r.position();
                let ok = match op {
                    0 => r.u8("f").is_ok(),
                    1 => r.u16("f").is_ok(),
                    2 => r.u32("f").is_ok(),
                    3 => r.u64("f").is_ok(),
                    4 => r.compact_u16("f").is_ok(),
                    5 => r.take("f", usize::from(arg)).is_ok(),
                    6 => r.count("f", Prefix::CompactU16, usize::from(arg), 8).is_ok(),
                    _ => r.prefixed("f", Prefix::U8, usize::from(arg)).is_ok(),
                };
                prop_assert!(r.position() <= bytes.len());
                if !ok {
                    prop_assert_eq!(r.position(), before);
                }
            }
        }

        /// Random bytes into every data-plane decoder built on the reader: an error or a value,
        /// never a panic. A first byte that is a known tag or version gets past the dispatch.
        #[test]
        fn decoders_built_on_the_reader_never_panic(
            first in prop::sample::select(vec![0u8, 1, 2, 3, 4, 0x40, 0x80, 0x81, 0x82, 0x83]),
            rest in proptest::collection::vec(any::<u8>(), 0..1400),
        ) {
            use crate::{block, repair, txn, vote, vote_state};
            let mut bytes = vec![first];
            bytes.extend_from_slice(&rest);
            for input in [&bytes[..], &rest[..]] {
                let _ = txn::parse(input);
                let _ = txn::parse_message(input);
                let _ = block::Block::decode(input);
                let _ = block::decode_entry(input);
                let _ = block::decode_slot_stream(input);
                let _ = vote::VoteInstruction::decode(input);
                let _ = vote::TowerSync::decode_prefix(input);
                let _ = vote_state::VoteState::decode(input);
                let _ = repair::SignedRequest::decode(input);
                let _ = repair::decode_serve_datagram(input);
                let _ = repair::decode_response(input);
                let _ = repair::Ping::decode(input);
                let _ = repair::Pong::decode(input);
                let _ = repair::SignedAncestors::decode(input);
            }
        }

        #[test]
        fn accepted_counts_fit_in_the_bytes_left(
            bytes in proptest::collection::vec(any::<u8>(), 0..64),
            item_len_min in 1usize..64,
        ) {
            let mut r = ByteReader::new(&bytes);
            if let Ok(n) = r.count("n", Prefix::CompactU16, usize::MAX, item_len_min) {
                prop_assert!(n * item_len_min <= r.remaining());
            }
        }
    }
}
