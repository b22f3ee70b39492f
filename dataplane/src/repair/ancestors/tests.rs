use super::super::{decode_response, RepairRequest, RepairResponder, RepairResponse, ShredSource};
use super::*;
use crate::repair::RepairKind;

fn signer(b: u8) -> SigningKey {
    SigningKey::from_bytes(&[b; 32])
}

fn id(key: &SigningKey) -> Pubkey {
    Pubkey(key.verifying_key().to_bytes())
}

fn genesis() -> Hash {
    Hash::of(b"cluster A")
}

fn chain(top: u64, n: u64) -> Vec<AncestorHash> {
    (0..n)
        .map(|i| AncestorHash {
            slot: Slot(top - 2 * i),
            bank_hash: Hash::of(&(top - 2 * i).to_le_bytes()),
            block_id: Hash::of(&(top - 2 * i + 1_000).to_le_bytes()),
        })
        .collect()
}

fn answer(n: u64) -> Ancestors {
    Ancestors {
        recipient: id(&signer(2)),
        nonce: 77,
        slot: Slot(100),
        chain: chain(100, n),
    }
}

#[test]
fn an_answer_round_trips_fits_a_datagram_and_verifies_only_for_its_recipient_and_cluster() {
    let signed = answer(ANCESTORS_MAX as u64)
        .sign(&signer(1), &genesis())
        .expect("well formed");
    let bytes = signed.encode();
    assert_eq!(bytes.len(), ANCESTORS_LEN_MAX);
    assert!(bytes.len() < crate::repair::SHRED_RESPONSE_LEN);
    let RepairResponse::Ancestors(decoded) = decode_response(&bytes).unwrap() else {
        panic!("not decoded as ancestors");
    };
    assert_eq!(decoded, signed);
    decoded.verify(&id(&signer(2)), &genesis()).unwrap();
    assert!(matches!(
        decoded.verify(&id(&signer(3)), &genesis()),
        Err(RepairError::WrongRecipient { .. })
    ));
    assert!(matches!(
        decoded.verify(&id(&signer(2)), &Hash::of(b"cluster B")),
        Err(RepairError::BadSignature(_))
    ));
    // Any flipped byte after the tag breaks the signature or the form.
    for at in 1..bytes.len() {
        let mut t = bytes.clone();
        t[at] ^= 1;
        if let Ok(RepairResponse::Ancestors(d)) = decode_response(&t) {
            assert!(d.verify(&id(&signer(2)), &genesis()).is_err(), "byte {at}");
        }
    }
}

#[test]
fn malformed_chains_are_neither_signed_nor_decoded() {
    let key = signer(1);
    let mut empty = answer(1);
    empty.chain.clear();
    assert!(empty.sign(&key, &genesis()).is_none());
    let mut long = answer(ANCESTORS_MAX as u64);
    long.chain.push(AncestorHash {
        slot: Slot(1),
        bank_hash: Hash::default(),
        block_id: Hash::default(),
    });
    assert!(long.sign(&key, &genesis()).is_none());
    let mut wrong_start = answer(3);
    wrong_start.slot = Slot(101);
    assert!(wrong_start.sign(&key, &genesis()).is_none());

    // Built by hand: a chain that climbs, and a count of zero or past the maximum.
    let good = answer(3).sign(&key, &genesis()).unwrap().encode();
    let header = good.len() - 3 * ENTRY_LEN;
    let mut climbing = good.clone();
    climbing[header + ENTRY_LEN..header + ENTRY_LEN + 8].copy_from_slice(&500u64.to_le_bytes());
    assert!(matches!(
        decode_response(&climbing),
        Err(RepairError::BadAncestors(_))
    ));
    for count in [0u8, ANCESTORS_MAX as u8 + 1] {
        let mut t = good.clone();
        t[header - 1] = count;
        assert!(matches!(
            decode_response(&t),
            Err(RepairError::BadAncestors(_))
        ));
    }
    for cut in [1, ENTRY_LEN, good.len() - 1] {
        assert!(decode_response(&good[..good.len() - cut]).is_err());
    }
    let mut trailing = good;
    trailing.push(0);
    assert!(matches!(
        decode_response(&trailing),
        Err(RepairError::TrailingBytes { .. })
    ));
}

struct Chain(Vec<AncestorHash>);

impl ShredSource for Chain {
    fn shred(&self, _slot: Slot, _index: u32) -> Option<Vec<u8>> {
        None
    }
    fn last_index(&self, _slot: Slot) -> Option<u32> {
        None
    }
    fn parent(&self, _slot: Slot) -> Option<Slot> {
        None
    }
    fn ancestor_hashes(&self, slot: Slot, max: usize) -> Vec<AncestorHash> {
        self.0
            .iter()
            .skip_while(|e| e.slot > slot)
            .take(max)
            .copied()
            .collect()
    }
}

#[test]
fn the_responder_answers_with_the_held_chain_capped_or_says_it_does_not_have_it() {
    let requester = signer(2);
    let responder = RepairResponder::new(signer(1), genesis(), 8);
    let request = |slot: u64| {
        RepairRequest {
            recipient: id(&signer(1)),
            wallclock_ms: 1,
            nonce: 5,
            kind: RepairKind::AncestorHashes { slot: Slot(slot) },
        }
        .sign(&requester, &genesis())
    };
    let store = Chain(chain(100, 40));
    let out = responder.respond(&request(100), &store);
    assert_eq!(out.len(), 1, "one datagram, whatever the chain's length");
    let RepairResponse::Ancestors(a) = decode_response(&out[0]).unwrap() else {
        panic!("not an ancestors answer");
    };
    a.verify(&id(&requester), &genesis()).unwrap();
    assert_eq!(a.responder, id(&signer(1)));
    assert_eq!(a.reply.nonce, 5);
    assert_eq!(a.reply.chain, chain(100, ANCESTORS_MAX as u64));
    // A slot not held (odd slots are not in this chain), and a store that holds nothing.
    for store in [Chain(chain(100, 40)), Chain(Vec::new())] {
        let out = responder.respond(&request(99), &store);
        assert!(matches!(
            decode_response(&out[0]),
            Ok(RepairResponse::DontHave(_))
        ));
    }
}
