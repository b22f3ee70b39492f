//! `decode_response` (a repairing node's input): shreds, DontHave / OtherRoot, ancestors answers
//! and pings, each re-encoding canonically, and every signature check runs without panicking.
#![no_main]
use dataplane::repair::{decode_response, encode_shred_response, RepairResponse};
use dataplane::types::Hash;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|bytes: &[u8]| {
    let genesis = Hash([7; 32]);
    match decode_response(bytes) {
        Ok(RepairResponse::Shred { shred, nonce }) => {
            assert_eq!(
                encode_shred_response(shred, nonce).expect("shred size"),
                bytes
            );
        }
        Ok(RepairResponse::DontHave(d)) => {
            assert_eq!(d.encode(), bytes);
            let _ = d.verify(&d.reply.recipient, &genesis);
        }
        Ok(RepairResponse::Ancestors(a)) => {
            assert_eq!(a.encode(), bytes);
            let _ = a.verify(&a.reply.recipient, &genesis);
        }
        Ok(RepairResponse::Ping(p)) => {
            assert_eq!(p.encode().as_slice(), bytes);
            let _ = p.verify(&genesis);
        }
        Err(_) => {}
    }
});
