use proptest::prelude::*;
use sha2::{Digest, Sha256};

use super::*;
use crate::repair::{
    decode_response, decode_serve_datagram, RepairKind, RepairRequest, RepairResponse,
    ServeDatagram, REQUEST_LEN_MAX,
};
use crate::types::Slot;

fn key(b: u8) -> SigningKey {
    SigningKey::from_bytes(&[b; 32])
}

fn genesis() -> Hash {
    Hash::of(b"cluster A")
}

fn ping() -> Ping {
    Ping::new([7; 32], &key(1), &genesis())
}

#[test]
fn sizes_are_fixed_and_a_ping_is_no_larger_than_any_request() {
    assert_eq!(PING_LEN, 129);
    assert_eq!(PONG_LEN, 129);
    assert_eq!(REQUEST_LEN_MIN, 149);
    let orphan = RepairRequest {
        recipient: Pubkey([2; 32]),
        wallclock_ms: 1,
        nonce: 1,
        kind: RepairKind::Orphan { slot: Slot(1) },
    }
    .sign(&key(3), &genesis())
    .encode();
    assert_eq!(orphan.len(), REQUEST_LEN_MIN);
    assert!(ping().encode().len() <= orphan.len());
}

#[test]
fn the_pong_hash_is_sha256_of_the_prefix_and_token() {
    let token = [0x5A; 32];
    let mut h = Sha256::new();
    h.update(b"SOLANA_PING_PONG");
    h.update(token);
    let want: [u8; 32] = h.finalize().into();
    assert_eq!(pong_hash(&token).0, want);
}

#[test]
fn ping_and_pong_round_trip_and_verify() {
    let ping = ping();
    let bytes = ping.encode();
    assert_eq!(Ping::decode(&bytes), Ok(ping));
    assert_eq!(decode_response(&bytes), Ok(RepairResponse::Ping(ping)));
    ping.verify(&genesis()).unwrap();
    assert_eq!(ping.from, Pubkey(key(1).verifying_key().to_bytes()));

    let pong = Pong::new(&ping, &key(2), &genesis());
    assert_eq!(pong.hash, pong_hash(&ping.token));
    let bytes = pong.encode();
    assert_eq!(Pong::decode(&bytes), Ok(pong));
    assert_eq!(decode_serve_datagram(&bytes), Ok(ServeDatagram::Pong(pong)));
    pong.verify(&genesis()).unwrap();
}

#[test]
fn requests_still_decode_on_the_serve_socket() {
    let request = RepairRequest {
        recipient: Pubkey([2; 32]),
        wallclock_ms: 1,
        nonce: 1,
        kind: RepairKind::HighestShred {
            slot: Slot(9),
            from_index: 3,
        },
    }
    .sign(&key(3), &genesis());
    assert_eq!(
        decode_serve_datagram(&request.encode()),
        Ok(ServeDatagram::Request(request))
    );
}

#[test]
fn another_cluster_or_a_forged_signer_fails_verification() {
    let ping = ping();
    let other = Hash::of(b"cluster B");
    assert_eq!(
        ping.verify(&other),
        Err(RepairError::BadSignature(ping.from))
    );
    let pong = Pong::new(&ping, &key(2), &genesis());
    assert_eq!(
        pong.verify(&other),
        Err(RepairError::BadSignature(pong.from))
    );
    // Claiming to be someone else: their key does not match the signature.
    let forged = Pong {
        from: Pubkey(key(9).verifying_key().to_bytes()),
        ..pong
    };
    assert_eq!(
        forged.verify(&genesis()),
        Err(RepairError::BadSignature(forged.from))
    );
    // An echo of another token is still a valid signature: which token is live is the gate's
    // question, not the codec's.
    let wrong = Pong::new(
        &Ping::new([8; 32], &key(1), &genesis()),
        &key(2),
        &genesis(),
    );
    wrong.verify(&genesis()).unwrap();
    assert_ne!(wrong.hash, pong.hash);
}

#[test]
fn every_tampered_byte_is_rejected() {
    let ping = ping().encode();
    let pong = Pong::new(&ping_from(&ping), &key(2), &genesis()).encode();
    for i in 0..PING_LEN {
        let mut bad = ping;
        bad[i] ^= 0x01;
        let ok = Ping::decode(&bad).and_then(|p| p.verify(&genesis()));
        assert!(ok.is_err(), "ping byte {i}");
    }
    for i in 0..PONG_LEN {
        let mut bad = pong;
        bad[i] ^= 0x01;
        let ok = Pong::decode(&bad).and_then(|p| p.verify(&genesis()));
        assert!(ok.is_err(), "pong byte {i}");
    }
}

fn ping_from(bytes: &[u8]) -> Ping {
    Ping::decode(bytes).unwrap()
}

#[test]
fn truncated_and_padded_datagrams_name_the_problem() {
    let ping = ping().encode();
    let pong = Pong::new(&ping_from(&ping), &key(2), &genesis()).encode();
    for cut in 0..PING_LEN {
        assert!(Ping::decode(&ping[..cut]).is_err(), "ping cut at {cut}");
        assert!(
            decode_response(&ping[..cut]).is_err(),
            "response cut at {cut}"
        );
        assert!(Pong::decode(&pong[..cut]).is_err(), "pong cut at {cut}");
        assert!(
            decode_serve_datagram(&pong[..cut]).is_err(),
            "serve datagram cut at {cut}"
        );
    }
    assert_eq!(
        Ping::decode(&ping[..100]),
        Err(RepairError::Truncated {
            field: "token",
            offset: 97,
            needed: 32,
            available: 3,
        })
    );
    let mut long = ping.to_vec();
    long.push(0);
    assert_eq!(
        Ping::decode(&long),
        Err(RepairError::TrailingBytes { extra: 1 })
    );
    let mut long = pong.to_vec();
    long.push(0);
    assert_eq!(
        decode_serve_datagram(&long),
        Err(RepairError::TrailingBytes { extra: 1 })
    );
    assert_eq!(
        Pong::decode(&[0u8; 2_000]),
        Err(RepairError::Oversized { len: 2_000 })
    );
    // A pong's tag is not a ping's, nor the other way round.
    assert!(matches!(
        Ping::decode(&pong),
        Err(RepairError::UnknownTag { .. })
    ));
    assert!(matches!(
        Pong::decode(&ping),
        Err(RepairError::UnknownTag { .. })
    ));
}

proptest! {
    #[test]
    fn garbage_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..1400)) {
        let _ = Ping::decode(&bytes).map(|p| p.verify(&genesis()));
        let _ = Pong::decode(&bytes).map(|p| p.verify(&genesis()));
        let _ = decode_serve_datagram(&bytes);
        let _ = decode_response(&bytes);
    }

    #[test]
    fn garbage_with_a_valid_tag_never_panics(
        mut bytes in proptest::collection::vec(any::<u8>(), 0..REQUEST_LEN_MAX + 2),
        ping_tag in any::<bool>(),
    ) {
        if ping_tag {
            if let Some(b) = bytes.first_mut() { *b = TAG_PING; }
            let _ = decode_response(&bytes);
        } else {
            if let Some(b) = bytes.get_mut(Signature::LEN) { *b = TAG_PONG; }
            let _ = decode_serve_datagram(&bytes);
        }
    }
}
