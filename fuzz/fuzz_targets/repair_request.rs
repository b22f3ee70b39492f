//! `decode_serve_datagram` (a repair responder's input): signed requests and pongs, each
//! re-encoding canonically, and every signature check runs without panicking.
#![no_main]
use dataplane::repair::{decode_serve_datagram, verify, ServeDatagram};
use dataplane::types::Hash;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|bytes: &[u8]| {
    let genesis = Hash([7; 32]);
    match decode_serve_datagram(bytes) {
        Ok(ServeDatagram::Request(request)) => {
            assert_eq!(request.encode(), bytes);
            let now = request.request.wallclock_ms;
            let _ = verify(&request, &request.request.recipient, &genesis, now, 1_000);
        }
        Ok(ServeDatagram::Pong(pong)) => {
            assert_eq!(pong.encode().as_slice(), bytes);
            let _ = pong.verify(&genesis);
        }
        Err(_) => {}
    }
});
