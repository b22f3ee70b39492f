//! The data plane's decoders of bytes from the network: transactions (and messages), shreds,
//! repair requests and responses, vote instructions, vote account states, compute budget
//! instructions, blocks, entries and slot streams.

use dataplane::block::{
    decode_entry, decode_slot_stream, encode_entry, encode_stream_entry, encode_stream_footer,
    Block, CodecError, SlotFooter,
};
use dataplane::compute_budget::ComputeBudgetInstruction;
use dataplane::entry::Entry;
use dataplane::repair::{
    decode_response, encode_shred_response, AncestorHash, Ancestors, DontHave, Ping, RepairKind,
    RepairRequest, RepairResponse, SignedRequest, ANCESTORS_MAX, REPAIR_PACKET_MAX,
};
use dataplane::shred::{
    FecConfig, InsertOutcome, Root, ShredView, Shredder, SlotAssembler, SHRED_SIZE,
};
use dataplane::txn::{parse, parse_message, TxnError, TxnLayout, TxnView, TXN_SIZE_MAX};
use dataplane::types::{Hash, Slot};
use dataplane::vote::{TowerSync, VoteInstruction, TOWER_SYNC_SIZE_MAX};
use dataplane::vote_state::{VoteState, VOTE_STATE_SIZE_MAX};
use proptest::prelude::*;
use proptest::strategy::ValueTree;
use proptest::test_runner::TestRunner;
use solana_sdk::transaction::VersionedTransaction;

use crate::engine::Target;
use crate::generate::{self, key, pubkey};

/// The cluster the signed inputs are made for.
pub const GENESIS: Hash = Hash([7; 32]);

/// Draws `n` valid values of `s`, for corpora that are costly to make per input.
pub fn sample<T: std::fmt::Debug>(s: impl Strategy<Value = T>, n: usize) -> Vec<T> {
    let mut runner = TestRunner::deterministic();
    (0..n)
        .map(|_| s.new_tree(&mut runner).expect("generator").current())
        .collect()
}

fn ensure(ok: bool, what: impl FnOnce() -> String) -> Result<(), String> {
    if ok {
        Ok(())
    } else {
        Err(what())
    }
}

/// Round trip: the accepted input re-encodes to exactly its own bytes.
fn canonical(bytes: &[u8], again: &[u8]) -> Result<(), String> {
    ensure(bytes == again, || {
        format!("accepted bytes re-encode differently: {again:?}")
    })
}

/// Checks an accepted transaction against its layout, [`parse_message`] and Solana's own
/// deserializer and sanitizer: whatever we accept, a stock validator reads the same way.
fn check_txn(bytes: &[u8], layout: TxnLayout) -> Result<(), String> {
    let view = TxnView::from_parts(bytes, layout);
    ensure(usize::from(layout.len) == bytes.len(), || {
        "layout length".into()
    })?;
    let again = parse_message(view.message()).map_err(|e| format!("message refused: {e}"))?;
    ensure(
        (
            again.is_vote,
            again.compute_budget(),
            again.num_instructions,
        ) == (
            layout.is_vote,
            layout.compute_budget(),
            layout.num_instructions,
        ),
        || format!("message parses differently: {again:?}"),
    )?;
    ensure(
        view.transfers().count() <= usize::from(layout.num_instructions),
        || "more transfers than instructions".into(),
    )?;
    ensure(layout.is_vote == view.vote_instruction().is_some(), || {
        "is_vote disagrees with the vote instruction".into()
    })?;
    let solana: VersionedTransaction = bincode::deserialize(bytes)
        .map_err(|e| format!("Solana's deserializer refuses what we accept: {e}"))?;
    solana
        .sanitize()
        .map_err(|e| format!("Solana's sanitizer refuses what we accept: {e}"))?;
    let solana_bytes = bincode::serialize(&solana).map_err(|e| e.to_string())?;
    canonical(bytes, &solana_bytes)?;
    ensure(solana.signatures.len() == view.num_signatures(), || {
        "signature count differs from Solana's".into()
    })?;
    ensure(
        solana.message.static_account_keys().len() == view.num_account_keys(),
        || "account key count differs from Solana's".into(),
    )
}

/// `txn::parse`: every transaction from UDP, forwarding, RPC and gossip votes goes through it.
/// It allocates nothing (the module's contract), so the bound is 0.
pub fn txn() -> Target<Result<TxnLayout, TxnError>> {
    Target {
        name: "txn",
        valid: generate::txn(),
        structured: None,
        cost: 1,
        raw_len_max: TXN_SIZE_MAX + 8,
        alloc_bytes_max: |_| 0,
        decode: Box::new(parse),
        check: Box::new(|bytes, out| match out {
            Ok(layout) => check_txn(bytes, layout).map(|()| true),
            Err(_) => Ok(false),
        }),
    }
}

/// `txn::parse_message` (RPC `getFeeForMessage`): one buffer of the message behind placeholder
/// signatures, at most 19 × 64 + 1 bytes more than the message, and nothing else.
pub fn txn_message() -> Target<Result<TxnLayout, TxnError>> {
    Target {
        name: "txn_message",
        valid: generate::txn()
            .prop_map(|wire| {
                let layout = parse(&wire).expect("generated transactions parse");
                wire[usize::from(layout.message_off)..].to_vec()
            })
            .boxed(),
        structured: None,
        cost: 1,
        raw_len_max: TXN_SIZE_MAX + 8,
        alloc_bytes_max: |len| (len + 1 + 19 * 64) as u64,
        decode: Box::new(parse_message),
        check: Box::new(|bytes, out| match out {
            Ok(layout) => {
                let offset = usize::from(layout.message_off);
                ensure(usize::from(layout.len) == offset + bytes.len(), || {
                    "layout does not span the message".into()
                })?;
                Ok(true)
            }
            Err(_) => Ok(false),
        }),
    }
}

/// Shreds of a few slots cut with several FEC set sizes: the shred corpus, slot by slot.
fn slots() -> Vec<Vec<Vec<u8>>> {
    let configs = [(32, 32), (4, 4), (1, 1), (8, 24), (67, 33)];
    let mut out = Vec::new();
    for (i, &(data, coding)) in configs.iter().enumerate() {
        let slot = 1 + 1_000 * i as u64;
        let config = FecConfig::new(data, coding).expect("valid FEC config");
        let mut shredder = Shredder::new(&key(0), slot, slot - 1, 42, Root([i as u8; 32]), config)
            .expect("shredder");
        let mut shreds = Vec::new();
        let bytes: Vec<u8> = (0..1_500 * (i + 1)).map(|b| (b * 7 + i) as u8).collect();
        shredder
            .push(&bytes, true, &mut shreds)
            .expect("shredder push");
        shredder
            .finish(&bytes[..100], &mut shreds)
            .expect("shredder finish");
        out.push(shreds.iter().map(|s| s.to_vec()).collect());
    }
    out
}

/// Every shred of [`slots`].
pub fn shreds() -> Vec<Vec<u8>> {
    slots().into_iter().flatten().collect()
}

/// Inserts the input's shreds (cut into [`SHRED_SIZE`] pieces) into a fresh assembler, each with
/// the root it proves, as a byzantine leader who signs whatever it sends would have them verified.
/// Returns the completed slots' bytes, each checked against the data shreds the assembler holds.
fn assemble(bytes: &[u8]) -> Result<Vec<Vec<u8>>, String> {
    let mut assembler = SlotAssembler::default();
    let mut completed = Vec::new();
    for piece in bytes.chunks(SHRED_SIZE) {
        let Ok(view) = ShredView::parse(piece) else {
            continue;
        };
        if let Ok(InsertOutcome::Inserted(ins)) = assembler.insert(&view, view.merkle_root()) {
            for &index in &ins.recovered {
                ensure(assembler.data_shred(view.slot(), index).is_some(), || {
                    format!("recovered data shred {index} is not held")
                })?;
            }
            if let Some(done) = ins.completed {
                // The slot's bytes are exactly its data shreds' payloads, in index order.
                let last = assembler
                    .last_index(done.slot)
                    .ok_or("a completed slot without a last index")?;
                let mut joined = Vec::new();
                for index in 0..=last {
                    let shred = assembler
                        .data_shred(done.slot, index)
                        .ok_or_else(|| format!("completed slot lacks data shred {index}"))?;
                    let view = ShredView::parse(shred).map_err(|e| e.to_string())?;
                    joined.extend_from_slice(view.payload());
                }
                ensure(joined == done.data, || {
                    "slot bytes differ from its shreds".into()
                })?;
                completed.push(done.data);
            }
        }
    }
    Ok(completed)
}

/// `SlotAssembler::insert` over a slot's worth of shreds: the shred receive path after
/// verification (set recovery, equivocation checks, slot assembly), fed by a leader that may send
/// anything it signs. Valid: a whole slot, shuffled, which must complete. Bound: each shred boxed
/// once, recovered shreds and the slot's bytes on top, the Reed-Solomon decoder's work buffers
/// (per set shape): 8 × the input plus 4 MiB. Gets a tenth of the inputs the decoders get.
pub fn slot_assembler() -> Target<Result<Vec<Vec<u8>>, String>> {
    let slot = prop::sample::select(slots())
        .prop_flat_map(|shreds| Just(shreds).prop_shuffle())
        .prop_map(|shreds| shreds.concat());
    Target {
        name: "slot_assembler",
        valid: slot.boxed(),
        structured: None,
        // One input is up to a few hundred shreds (≈ 0.8 ms each in a test build, 1/40 ms for a
        // plain decoder): a tenth as many keeps it within its neighbours' time.
        cost: 10,
        raw_len_max: 3 * SHRED_SIZE,
        alloc_bytes_max: |len| 8 * len as u64 + (4 << 20),
        decode: Box::new(assemble),
        check: Box::new(|_, out| Ok(!out?.is_empty())),
    }
}

/// `ShredView::parse` (Turbine, repair responses), then every derived field: zero-copy, so 0 bytes.
pub fn shred() -> Target<bool> {
    Target {
        name: "shred",
        valid: prop::sample::select(shreds()).boxed(),
        structured: None,
        cost: 1,
        raw_len_max: SHRED_SIZE + 8,
        alloc_bytes_max: |_| 0,
        decode: Box::new(|bytes| match ShredView::parse(bytes) {
            Ok(view) => {
                // The accessors read offsets parse checked; the Merkle root walks the proof.
                let _ = (view.merkle_root(), view.payload(), view.chained_root());
                let _ = (view.data_header(), view.coding_header(), view.parent());
                let _ = (view.leaf_index(), view.signature());
                true
            }
            Err(_) => false,
        }),
        check: Box::new(|_, accepted| Ok(accepted)),
    }
}

fn repair_request() -> impl Strategy<Value = Vec<u8>> {
    let kind = prop_oneof![
        (
            any::<u64>(),
            any::<u32>(),
            prop::option::of(any::<[u8; 32]>())
        )
            .prop_map(|(slot, index, root)| RepairKind::Shred {
                slot: Slot(slot),
                index,
                root: root.map(Hash),
            }),
        (any::<u64>(), any::<u32>()).prop_map(|(slot, from_index)| RepairKind::HighestShred {
            slot: Slot(slot),
            from_index,
        }),
        any::<u64>().prop_map(|slot| RepairKind::Orphan { slot: Slot(slot) }),
    ];
    (0u8..4, any::<u64>(), any::<u32>(), kind).prop_map(|(who, wallclock_ms, nonce, kind)| {
        let request = RepairRequest {
            recipient: pubkey(who + 1),
            wallclock_ms,
            nonce,
            kind,
        };
        request.sign(&key(who), &GENESIS).encode()
    })
}

/// `SignedRequest::decode` (a repair responder's input): fixed-size fields, no allocation.
/// Accepted requests re-encode canonically and their signature check runs without panicking.
pub fn repair_request_target() -> Target<bool> {
    Target {
        name: "repair_request",
        valid: repair_request().boxed(),
        structured: None,
        cost: 1,
        raw_len_max: REPAIR_PACKET_MAX,
        alloc_bytes_max: |_| 0,
        decode: Box::new(|bytes| SignedRequest::decode(bytes).is_ok()),
        check: Box::new(|bytes, accepted| {
            if let Ok(request) = SignedRequest::decode(bytes) {
                canonical(bytes, &request.encode())?;
                let me = request.request.recipient;
                let now = request.request.wallclock_ms;
                let _ = dataplane::repair::verify(&request, &me, &GENESIS, now, 1_000);
            }
            Ok(accepted)
        }),
    }
}

/// `decode_response` (a repairing node's input): shreds, signed DontHave / OtherRoot and ancestors
/// answers, and pings.
pub fn repair_response() -> Target<bool> {
    let shred = (prop::sample::select(shreds()), any::<u32>())
        .prop_map(|(s, nonce)| encode_shred_response(&s, nonce).expect("a shred's size"));
    let dont_have = (
        0u8..4,
        any::<u32>(),
        any::<u64>(),
        any::<u32>(),
        prop::option::of(any::<[u8; 32]>()),
    )
        .prop_map(|(who, nonce, slot, index, root)| {
            let reply = DontHave {
                recipient: pubkey(who + 1),
                nonce,
                slot: Slot(slot),
                index,
                held_root: root.map(Hash),
            };
            reply.sign(&key(who), &GENESIS).encode()
        });
    let ancestors = (0u8..8, any::<u32>(), 1u64..1_000, 1usize..=ANCESTORS_MAX).prop_map(
        |(who, nonce, slot, n)| {
            let top = slot + ANCESTORS_MAX as u64;
            let chain = (0..n)
                .map(|i| AncestorHash {
                    slot: Slot(top - i as u64),
                    bank_hash: Hash([i as u8; 32]),
                    block_id: Hash([i as u8 ^ 0xff; 32]),
                })
                .collect();
            let answer = Ancestors {
                recipient: pubkey(who + 1),
                nonce,
                slot: Slot(top),
                chain,
            };
            answer
                .sign(&key(who), &GENESIS)
                .map(|a| a.encode())
                .unwrap_or_default()
        },
    );
    let ping = (0u8..8, any::<[u8; 32]>())
        .prop_map(|(who, token)| Ping::new(token, &key(who), &GENESIS).encode().to_vec());
    Target {
        name: "repair_response",
        valid: prop_oneof![shred, dont_have, ancestors, ping].boxed(),
        structured: None,
        cost: 1,
        raw_len_max: REPAIR_PACKET_MAX + 8,
        // An ancestors answer's chain is the one allocation: at most ANCESTORS_MAX entries.
        alloc_bytes_max: |_| (ANCESTORS_MAX * std::mem::size_of::<AncestorHash>()) as u64,
        decode: Box::new(|bytes| decode_response(bytes).is_ok()),
        check: Box::new(|bytes, accepted| {
            match decode_response(bytes) {
                Ok(RepairResponse::Shred { shred, nonce }) => {
                    let again = encode_shred_response(shred, nonce).map_err(|e| e.to_string())?;
                    canonical(bytes, &again)?;
                }
                Ok(RepairResponse::DontHave(d)) => {
                    canonical(bytes, &d.encode())?;
                    let _ = d.verify(&d.reply.recipient, &GENESIS);
                }
                Ok(RepairResponse::Ancestors(a)) => {
                    canonical(bytes, &a.encode())?;
                    let _ = a.verify(&a.reply.recipient, &GENESIS);
                }
                Ok(RepairResponse::Ping(p)) => {
                    canonical(bytes, &p.encode())?;
                    let _ = p.verify(&GENESIS);
                }
                Err(_) => {}
            }
            Ok(accepted)
        }),
    }
}

/// `VoteInstruction::decode`: its lockouts go into one vector reserved for the 31 a tower can hold.
pub fn vote_instruction() -> Target<Option<VoteInstruction>> {
    Target {
        name: "vote_instruction",
        valid: generate::vote_instruction()
            .prop_map(|ix| {
                let mut out = Vec::new();
                ix.encode(&mut out);
                out
            })
            .boxed(),
        structured: None,
        cost: 1,
        raw_len_max: TOWER_SYNC_SIZE_MAX + 40,
        alloc_bytes_max: |_| (31 * std::mem::size_of::<dataplane::vote::Lockout>()) as u64,
        decode: Box::new(|bytes| VoteInstruction::decode(bytes).ok()),
        check: Box::new(|bytes, out| {
            ensure(
                VoteInstruction::check(bytes).is_ok() == out.is_some(),
                || "check() and decode() disagree".into(),
            )?;
            let Some(ix) = out else { return Ok(false) };
            let mut again = Vec::new();
            ix.encode(&mut again);
            canonical(bytes, &again)?;
            // The tower alone decodes from the data after the 4-byte discriminant.
            let (tower, used) = TowerSync::decode_prefix(&bytes[4..]).map_err(|e| e.to_string())?;
            ensure(&tower == ix.tower() && used <= bytes.len() - 4, || {
                "decode_prefix disagrees".into()
            })?;
            Ok(true)
        }),
    }
}

/// `VoteState::decode` (vote accounts: from snapshots and `getAccountInfo` clients alike); its two
/// lists are bounded by their constants, so the bound is fixed.
pub fn vote_state() -> Target<Option<VoteState>> {
    Target {
        name: "vote_state",
        valid: generate::vote_state().prop_map(|s| s.to_bytes()).boxed(),
        structured: None,
        cost: 1,
        raw_len_max: VOTE_STATE_SIZE_MAX + 8,
        alloc_bytes_max: |_| 31 * 16 + 64 * 24,
        decode: Box::new(|bytes| VoteState::decode(bytes).ok()),
        check: Box::new(|bytes, out| match out {
            Some(state) => canonical(bytes, &state.to_bytes()).map(|()| true),
            None => Ok(false),
        }),
    }
}

/// `ComputeBudgetInstruction::decode`: fixed-size data, no allocation.
pub fn compute_budget() -> Target<Option<ComputeBudgetInstruction>> {
    let ix = prop_oneof![
        any::<u32>().prop_map(ComputeBudgetInstruction::SetComputeUnitLimit),
        any::<u64>().prop_map(ComputeBudgetInstruction::SetComputeUnitPrice),
    ];
    Target {
        name: "compute_budget",
        valid: ix.prop_map(|ix| ix.encode()).boxed(),
        structured: None,
        cost: 1,
        raw_len_max: 16,
        alloc_bytes_max: |_| 0,
        decode: Box::new(|bytes| ComputeBudgetInstruction::decode(bytes).ok()),
        check: Box::new(|bytes, out| match out {
            Some(ix) => canonical(bytes, &ix.encode()).map(|()| true),
            None => Ok(false),
        }),
    }
}

/// Entries of a few transactions each, from a small corpus of valid transactions.
fn entries(max: usize) -> impl Strategy<Value = Vec<Entry>> {
    let txns = sample(generate::txn(), 32);
    prop::collection::vec(generate::entry(txns), 0..=max)
}

/// Bound for the block codecs: the entry vector (64 bytes per entry of at least 42 encoded bytes,
/// with growth doubling it at most: ≈ 3.1 × the input), each transaction's own bytes (1 ×) and its
/// entry's transaction vector (≈ 0.8 ×), and allocator rounding: 8 × the input plus 1 KiB.
fn block_alloc_max(len: usize) -> u64 {
    8 * len as u64 + 1_024
}

/// `Block::decode`: a block from a peer (catchup) or the ledger.
pub fn block() -> Target<Result<Block, CodecError>> {
    let block = (any::<u64>(), any::<u64>(), entries(6)).prop_map(|(slot, parent, entries)| {
        Block {
            slot: Slot(slot),
            parent_slot: Slot(parent),
            entries,
        }
        .encode()
    });
    Target {
        name: "block",
        valid: block.boxed(),
        structured: None,
        cost: 1,
        raw_len_max: 2_048,
        alloc_bytes_max: block_alloc_max,
        decode: Box::new(Block::decode),
        check: Box::new(|bytes, out| match out {
            Ok(block) => canonical(bytes, &block.encode()).map(|()| true),
            Err(_) => Ok(false),
        }),
    }
}

/// `decode_entry`: one stored entry.
pub fn entry() -> Target<Result<Entry, CodecError>> {
    let txns = sample(generate::txn(), 32);
    let one = generate::entry(txns).prop_map(|e| {
        let mut out = Vec::new();
        encode_entry(&e, &mut out);
        out
    });
    Target {
        name: "entry",
        valid: one.boxed(),
        structured: None,
        cost: 1,
        raw_len_max: 2_048,
        alloc_bytes_max: block_alloc_max,
        decode: Box::new(decode_entry),
        check: Box::new(|bytes, out| match out {
            Ok(e) => {
                let mut again = Vec::new();
                encode_entry(&e, &mut again);
                canonical(bytes, &again).map(|()| true)
            }
            Err(_) => Ok(false),
        }),
    }
}

/// `decode_slot_stream`: the bytes a slot's shreds reassemble to, from the slot's leader.
pub fn slot_stream() -> Target<Result<(Vec<Entry>, SlotFooter), CodecError>> {
    let stream = (entries(6), any::<[u8; 32]>(), any::<u64>()).prop_map(|(es, bank, time)| {
        let mut out = Vec::new();
        for e in &es {
            encode_stream_entry(e, &mut out);
        }
        let footer = SlotFooter {
            bank_hash: Hash(bank),
            block_time_ms: time,
        };
        encode_stream_footer(&footer, &mut out);
        out
    });
    Target {
        name: "slot_stream",
        valid: stream.boxed(),
        structured: None,
        cost: 1,
        raw_len_max: 2_048,
        alloc_bytes_max: block_alloc_max,
        decode: Box::new(decode_slot_stream),
        check: Box::new(|bytes, out| match out {
            Ok((entries, footer)) => {
                let mut again = Vec::new();
                for e in &entries {
                    encode_stream_entry(e, &mut again);
                }
                encode_stream_footer(&footer, &mut again);
                canonical(bytes, &again).map(|()| true)
            }
            Err(_) => Ok(false),
        }),
    }
}
