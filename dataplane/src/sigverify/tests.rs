use super::*;
use crate::packet::PacketBatchPool;
use crate::txn::{build_transfer, build_transfer_v0};
use crate::types::Hash;
use curve25519_dalek::constants::EIGHT_TORSION;
use curve25519_dalek::edwards::{CompressedEdwardsY, EdwardsPoint};
use curve25519_dalek::scalar::Scalar;
use curve25519_dalek::traits::IsIdentity;
use ed25519_dalek::{Signer, SigningKey, Verifier};
use sha2::{Digest, Sha512};
use std::net::SocketAddr;

/// ℓ, the order of the ed25519 base point, little-endian.
const L: [u8; 32] = [
    0xed, 0xd3, 0xf5, 0x5c, 0x1a, 0x63, 0x12, 0x58, 0xd6, 0x9c, 0xf7, 0xa2, 0xde, 0xf9, 0xde, 0x14,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x10,
];

fn sha512(parts: &[&[u8]]) -> Scalar {
    let mut h = Sha512::new();
    for p in parts {
        h.update(p);
    }
    let mut wide = [0u8; 64];
    wide.copy_from_slice(&h.finalize());
    Scalar::from_bytes_mod_order_wide(&wide)
}

fn secret(seed: &str) -> Scalar {
    sha512(&[seed.as_bytes()])
}

fn signature(r: &[u8; 32], s: &[u8; 32]) -> [u8; 64] {
    let mut sig = [0u8; 64];
    sig[..32].copy_from_slice(r);
    sig[32..].copy_from_slice(s);
    sig
}

/// Ed25519 signing from parts: key encoding `a_enc` with secret `a`, nonce point encoding `r_enc`
/// with nonce `r`. Honest when `a_enc = aB` and `r_enc = rB`; adversarial otherwise.
fn sign_raw(a: &Scalar, a_enc: &[u8; 32], r: &Scalar, r_enc: &[u8; 32], msg: &[u8]) -> [u8; 64] {
    let k = sha512(&[r_enc, a_enc, msg]);
    signature(r_enc, &(r + k * a).to_bytes())
}

/// A legacy transfer message signed by `signers` (the first pays and is debited).
fn transfer_message(signers: &[[u8; 32]], lamports: u64) -> Vec<u8> {
    let n = signers.len() as u8;
    let mut m = vec![n, 0, 1];
    txn::write_compact_u16(&mut m, u16::from(n) + 2);
    for s in signers {
        m.extend_from_slice(s);
    }
    m.extend_from_slice(&[0xBB; 32]); // recipient
    m.extend_from_slice(Pubkey::SYSTEM_PROGRAM.as_bytes());
    m.extend_from_slice(&[7; 32]); // recent blockhash
    txn::write_compact_u16(&mut m, 1);
    m.extend_from_slice(&[n + 1, 2, 0, n, 12]);
    m.extend_from_slice(&2u32.to_le_bytes());
    m.extend_from_slice(&lamports.to_le_bytes());
    m
}

/// One differential vector: a transaction and what each of its signatures covers.
struct Vector {
    name: String,
    message: Vec<u8>,
    signers: Vec<([u8; 32], [u8; 64])>,
    /// What `verify_strict` is expected to say (checks the vector is the case it claims to be).
    strict_accepts: bool,
}

impl Vector {
    fn new(name: impl Into<String>, message: Vec<u8>, signers: Vec<([u8; 32], [u8; 64])>) -> Self {
        Vector {
            name: name.into(),
            message,
            signers,
            strict_accepts: false,
        }
    }

    fn accepted(mut self) -> Self {
        self.strict_accepts = true;
        self
    }

    fn wire(&self) -> Vec<u8> {
        let mut w = Vec::new();
        txn::write_compact_u16(&mut w, self.signers.len() as u16);
        for (_, sig) in &self.signers {
            w.extend_from_slice(sig);
        }
        w.extend_from_slice(&self.message);
        w
    }

    /// Bare `verify_strict` on every (key, message, signature), as any strict verifier does.
    fn bare_strict(&self) -> bool {
        self.signers.iter().all(|(key, sig)| {
            VerifyingKey::from_bytes(key).is_ok_and(|vk| {
                vk.verify_strict(&self.message, &ed25519_dalek::Signature::from_bytes(sig))
                    .is_ok()
            })
        })
    }

    /// Our path: parse, then [`verify_txn`].
    fn ours(&self) -> bool {
        let wire = self.wire();
        TxnView::new(&wire).is_ok_and(|v| verify_txn(&v).is_ok())
    }
}

/// Signs a one-signer transfer for key `(a, a_enc)` with an honest nonce, varying the amount until
/// the challenge `k` satisfies `want(k)`.
fn one_signer_where(
    a: &Scalar,
    a_enc: [u8; 32],
    want: impl Fn(&Scalar) -> bool,
) -> (Vec<u8>, [u8; 64]) {
    for lamports in 1.. {
        let msg = transfer_message(&[a_enc], lamports);
        let r = sha512(&[b"nonce", &msg]);
        let r_enc = EdwardsPoint::mul_base(&r).compress().to_bytes();
        if want(&sha512(&[&r_enc, &a_enc, &msg])) {
            let sig = sign_raw(a, &a_enc, &r, &r_enc, &msg);
            return (msg, sig);
        }
    }
    unreachable!()
}

fn adversarial_vectors() -> Vec<Vector> {
    let mut v = Vec::new();
    let sk = SigningKey::from_bytes(&[42; 32]);
    let pk = sk.verifying_key().to_bytes();
    let msg = transfer_message(&[pk], 1);
    let good = sk.sign(&msg).to_bytes();
    v.push(Vector::new("valid", msg.clone(), vec![(pk, good)]).accepted());

    let a = secret("alice");
    let a_enc = EdwardsPoint::mul_base(&a).compress().to_bytes();
    let (m, sig) = one_signer_where(&a, a_enc, |_| true);
    v.push(Vector::new("valid, raw signer", m, vec![(a_enc, sig)]).accepted());

    let other = sk.sign(&transfer_message(&[pk], 2)).to_bytes();
    v.push(Vector::new("wrong message", msg.clone(), vec![(pk, other)]));

    // Non-canonical S: S + ℓ verifies the same equation but is a second encoding.
    let mut s_plus_l = [0u8; 32];
    let mut carry = 0u16;
    for i in 0..32 {
        let sum = u16::from(good[32 + i]) + u16::from(L[i]) + carry;
        s_plus_l[i] = sum as u8;
        carry = sum >> 8;
    }
    let malleated = signature(good[..32].try_into().unwrap(), &s_plus_l);
    v.push(Vector::new("S + l", msg.clone(), vec![(pk, malleated)]));
    let mut high = good;
    high[63] |= 0xE0;
    v.push(Vector::new(
        "S with high bits set",
        msg.clone(),
        vec![(pk, high)],
    ));

    // Small-order public keys. With the identity as key and s = r, [s]B = R + [k]A holds for any
    // message, so a cofactorless check without the small-order test accepts it.
    let r = secret("nonce");
    let r_enc = EdwardsPoint::mul_base(&r).compress().to_bytes();
    let mut small_order_keys: Vec<[u8; 32]> = EIGHT_TORSION
        .iter()
        .map(|t| t.compress().to_bytes())
        .collect();
    // The identity again, non-canonically encoded as y = p + 1.
    let mut y_p_plus_1 = [0xff; 32];
    y_p_plus_1[0] = 0xee;
    y_p_plus_1[31] = 0x7f;
    small_order_keys.push(y_p_plus_1);
    for (i, key) in small_order_keys.iter().enumerate() {
        let m = transfer_message(&[*key], 1);
        let sig = signature(&r_enc, &r.to_bytes());
        v.push(Vector::new(
            format!("small-order key {i}"),
            m,
            vec![(*key, sig)],
        ));
    }

    // Small-order R, with s = k·a so that R = [s]B − [k]A holds for the identity.
    for (i, t) in EIGHT_TORSION.iter().enumerate() {
        let t_enc = t.compress().to_bytes();
        let m = transfer_message(&[a_enc], 1);
        let sig = sign_raw(&a, &a_enc, &Scalar::ZERO, &t_enc, &m);
        v.push(Vector::new(
            format!("small-order R {i}"),
            m,
            vec![(a_enc, sig)],
        ));
    }

    // Mixed-order key A + T8, signed with the honest scalar a: [s]B − [k]A' = R − [k]T8, so it
    // verifies exactly when k·T8 is the identity (k ≡ 0 mod 8). `verify_strict` only refuses
    // small-order keys, so it accepts that case; the differential test pins whatever it says.
    let t8 = EIGHT_TORSION[1];
    assert!(!(t8 + t8 + t8 + t8).is_identity(), "T8 must have order 8");
    let torsioned = (EdwardsPoint::mul_base(&a) + t8).compress().to_bytes();
    let (m, sig) = one_signer_where(&a, torsioned, |k| !(k * t8).is_identity());
    v.push(Vector::new(
        "torsion key, k·T ≠ 0",
        m,
        vec![(torsioned, sig)],
    ));
    let (m, sig) = one_signer_where(&a, torsioned, |k| (k * t8).is_identity());
    v.push(Vector::new("torsion key, k·T = 0", m, vec![(torsioned, sig)]).accepted());

    v.push(Vector::new(
        "all-zero signature",
        msg.clone(),
        vec![(pk, [0; 64])],
    ));

    // Key and R bytes that are not curve points.
    let not_a_point = (2u8..)
        .map(|y| {
            let mut b = [0u8; 32];
            b[0] = y;
            b
        })
        .find(|b| CompressedEdwardsY(*b).decompress().is_none())
        .unwrap();
    let m = transfer_message(&[not_a_point], 1);
    v.push(Vector::new(
        "key not on the curve",
        m,
        vec![(not_a_point, good)],
    ));
    let mut bad_r = good;
    bad_r[..32].copy_from_slice(&not_a_point);
    v.push(Vector::new(
        "R not on the curve",
        msg.clone(),
        vec![(pk, bad_r)],
    ));

    // Two signers: every signature counts.
    let sk2 = SigningKey::from_bytes(&[43; 32]);
    let pk2 = sk2.verifying_key().to_bytes();
    let m2 = transfer_message(&[pk, pk2], 5);
    let (s1, s2) = (sk.sign(&m2).to_bytes(), sk2.sign(&m2).to_bytes());
    v.push(Vector::new("two signers", m2.clone(), vec![(pk, s1), (pk2, s2)]).accepted());
    v.push(Vector::new(
        "two signers, second wrong",
        m2,
        vec![(pk, s1), (pk2, s1)],
    ));
    let id = small_order_keys[0];
    let m3 = transfer_message(&[pk, id], 5);
    let s3 = sk.sign(&m3).to_bytes();
    let id_sig = signature(&r_enc, &r.to_bytes());
    v.push(Vector::new(
        "two signers, second small-order",
        m3,
        vec![(pk, s3), (id, id_sig)],
    ));
    v
}

#[test]
fn l_constant_is_the_group_order() {
    assert_eq!(Scalar::from_bytes_mod_order(L), Scalar::ZERO);
    assert!(bool::from(Scalar::from_canonical_bytes(L).is_none()));
}

#[test]
fn differential_against_bare_verify_strict() {
    let vectors = adversarial_vectors();
    for v in &vectors {
        assert_eq!(v.bare_strict(), v.strict_accepts, "vector `{}`", v.name);
        assert_eq!(v.ours(), v.bare_strict(), "verdicts differ on `{}`", v.name);
    }
    // The same verdicts through the running stage.
    let accepted = run_stage(vectors.iter().map(Vector::wire).collect());
    let want: Vec<_> = vectors
        .iter()
        .filter(|v| v.bare_strict())
        .map(Vector::wire)
        .collect();
    let got: Vec<_> = accepted.iter().map(|t| t.bytes().to_vec()).collect();
    assert_eq!(got, want);
}

/// Why neither `verify_batch` nor plain `verify` may replace `verify_strict`.
#[test]
fn batch_and_plain_verify_disagree_with_strict() {
    let vectors = adversarial_vectors();
    let (mut batch_differs, mut plain_differs) = (Vec::new(), Vec::new());
    for v in vectors.iter().filter(|v| v.signers.len() == 1) {
        let (key, sig) = v.signers[0];
        let Ok(vk) = VerifyingKey::from_bytes(&key) else {
            continue;
        };
        let sig = ed25519_dalek::Signature::from_bytes(&sig);
        let batch = ed25519_dalek::verify_batch(&[&v.message], &[sig], &[vk]).is_ok();
        if batch != v.bare_strict() {
            batch_differs.push(v.name.as_str());
        }
        if vk.verify(&v.message, &sig).is_ok() != v.bare_strict() {
            plain_differs.push(v.name.as_str());
        }
    }
    // The identity as key or as R satisfies the equation [s]B = R + [k]A for any weights.
    for differs in [&batch_differs, &plain_differs] {
        assert!(
            differs.contains(&"small-order key 0") && differs.contains(&"small-order R 0"),
            "disagreements: {differs:?}"
        );
    }
}

/// Runs one batch of packets through a one-worker stage and returns what it accepted.
fn run_stage(packets: Vec<Vec<u8>>) -> Vec<Txn> {
    let (accepted, _, _) = run_stage_counting(packets);
    accepted
}

fn run_stage_counting(packets: Vec<Vec<u8>>) -> (Vec<Txn>, Arc<RejectCounters>, u64) {
    let addr: SocketAddr = "127.0.0.1:9".parse().unwrap();
    let (in_tx, in_rx) = crossbeam_channel::bounded(4);
    let (out_tx, out_rx) = crossbeam_channel::bounded(4);
    let pool = PacketBatchPool::new(0);
    let counters = Arc::new(RejectCounters::default());
    let exit = Arc::new(AtomicBool::new(false));
    let stage = SigverifyStage::spawn(
        1,
        in_rx,
        out_tx,
        pool.recycler(),
        Arc::clone(&counters),
        Arc::clone(&exit),
    )
    .unwrap();
    let mut sent = 0;
    for chunk in packets.chunks(crate::packet::PACKETS_PER_BATCH) {
        let mut batch = pool.take();
        for p in chunk {
            assert!(batch.push(p, addr));
        }
        in_tx.send(batch).unwrap();
        sent += 1;
    }
    drop(in_tx);
    let stats = Arc::clone(stage.stats());
    stage.join().unwrap();
    assert_eq!(stats.packets.load(Ordering::Relaxed), packets.len() as u64);
    assert!(sent > 0 && pool.available() == 1, "batch not recycled");
    let accepted: Vec<Txn> = out_rx.try_iter().flatten().collect();
    assert_eq!(
        stats.accepted.load(Ordering::Relaxed),
        accepted.len() as u64
    );
    (accepted, counters, stats.accepted.load(Ordering::Relaxed))
}

#[test]
fn stage_keeps_only_good_packets_and_counts_the_rest() {
    let keys: Vec<SigningKey> = (1..=3).map(|i| SigningKey::from_bytes(&[i; 32])).collect();
    let good: Vec<Vec<u8>> = keys
        .iter()
        .map(|k| build_transfer(k, &Pubkey([9; 32]), 100, &Hash([1; 32])))
        .collect();
    let mut bad_sig = build_transfer(&keys[0], &Pubkey([9; 32]), 101, &Hash([1; 32]));
    bad_sig[10] ^= 1;
    let mut trailing = good[0].clone();
    trailing.push(0);
    let mut program = good[1].clone();
    program[65 + 4 + 64] = 1; // the third key, the program id
    let mut instruction = good[2].clone();
    let data_off = instruction.len() - 12;
    instruction[data_off] = 0; // CreateAccount
    let packets = vec![
        good[0].clone(),
        bad_sig,
        trailing,
        vec![1, 2, 3],
        vec![0x55; 1300], // oversized
        good[1].clone(),
        good[0].clone(), // duplicate
        program,
        instruction,
        good[2].clone(),
        good[1].clone(), // duplicate
    ];
    let (accepted, counters, n) = run_stage_counting(packets);
    let got: Vec<&[u8]> = accepted.iter().map(Txn::bytes).collect();
    let want: Vec<&[u8]> = good.iter().map(Vec::as_slice).collect();
    assert_eq!(got, want);
    assert_eq!(n, 3);
    for (reason, count) in [
        (Reject::BadSignature, 1),
        (Reject::Malformed, 2),
        (Reject::Oversized, 1),
        (Reject::DuplicateSignature, 2),
        (Reject::UnsupportedProgram, 1),
        (Reject::UnsupportedInstruction, 1),
        (Reject::QueueFull, 0),
    ] {
        assert_eq!(counters.get(reason), count, "{}", reason.name());
    }
}

#[test]
fn full_output_queue_is_counted() {
    let (in_tx, in_rx) = crossbeam_channel::bounded(1);
    let (out_tx, out_rx) = crossbeam_channel::bounded(1);
    out_tx.send(Vec::new()).unwrap(); // downstream is stuck
    let counters = Arc::new(RejectCounters::default());
    let exit = Arc::new(AtomicBool::new(false));
    let stage = SigverifyStage::spawn(
        2,
        in_rx,
        out_tx,
        PacketBatchPool::new(1).recycler(),
        Arc::clone(&counters),
        Arc::clone(&exit),
    )
    .unwrap();
    let mut batch = PacketBatch::new();
    for i in 0..3u8 {
        let k = SigningKey::from_bytes(&[i + 10; 32]);
        let t = build_transfer(&k, &Pubkey([9; 32]), 1, &Hash::default());
        batch.push(&t, "127.0.0.1:9".parse().unwrap());
    }
    in_tx.send(batch).unwrap();
    let stats = Arc::clone(stage.stats());
    while stats.packets.load(Ordering::Relaxed) < 3 {
        std::thread::sleep(Duration::from_millis(1));
    }
    exit.store(true, Ordering::Relaxed);
    stage.join().unwrap();
    assert_eq!(counters.get(Reject::QueueFull), 3);
    assert_eq!(stats.accepted.load(Ordering::Relaxed), 0);
    assert_eq!(out_rx.len(), 1);
}

/// A one-thread stage under `admission`, fed and drained by the test.
struct AdmittingStage {
    input: crossbeam_channel::Sender<PacketBatch>,
    output: crossbeam_channel::Receiver<Vec<Txn>>,
    counters: Arc<RejectCounters>,
    exit: Arc<AtomicBool>,
    stage: SigverifyStage,
}

impl AdmittingStage {
    fn spawn(admission: &Arc<Admission>) -> AdmittingStage {
        Self::spawn_behind(admission, Vec::new())
    }

    /// A stage that starts with `queued` waiting in its input queue, in order.
    fn spawn_behind(admission: &Arc<Admission>, queued: Vec<PacketBatch>) -> AdmittingStage {
        let room = queued.len() + 4;
        let (input, in_rx) = crossbeam_channel::bounded(room);
        for batch in queued {
            input.send(batch).unwrap();
        }
        // Room for every batch's survivors, however far behind the test reads them.
        let (out_tx, output) = crossbeam_channel::bounded(room);
        let counters = Arc::new(RejectCounters::default());
        let exit = Arc::new(AtomicBool::new(false));
        let stage = SigverifyStage::spawn_admitting(
            1,
            in_rx,
            out_tx,
            PacketBatchPool::new(1).recycler(),
            Arc::clone(&counters),
            Arc::clone(&exit),
            Some(Arc::clone(admission)),
        )
        .unwrap();
        AdmittingStage {
            input,
            output,
            counters,
            exit,
            stage,
        }
    }

    /// Stops the stage; returns its counters and what it sent on that was not read.
    fn stop(self) -> (Arc<SigverifyStats>, crossbeam_channel::Receiver<Vec<Txn>>) {
        let stats = Arc::clone(self.stage.stats());
        self.exit.store(true, Ordering::Relaxed);
        self.stage.join().unwrap();
        (stats, self.output)
    }
}

#[test]
fn batches_are_shed_unverified_while_the_banking_backlog_is_at_its_configured_bound() {
    // A configured ceiling far below the default applies, not the constant.
    const CEILING: usize = 3_000;
    const _: () = assert!(CEILING < ADMIT_BACKLOG_MAX);
    let admission = Arc::new(Admission::new(CEILING));
    admission.set_drain_rate(1e9);
    assert_eq!(admission.limit(), CEILING);
    admission.set_backlog(CEILING);
    let stage = AdmittingStage::spawn(&admission);
    let batch_of = |seed: u8| {
        let mut batch = PacketBatch::new();
        for i in 0..3u8 {
            let k = SigningKey::from_bytes(&[seed + i; 32]);
            let t = build_transfer(&k, &Pubkey([9; 32]), 1, &Hash::default());
            batch.push(&t, "127.0.0.1:9".parse().unwrap());
        }
        batch
    };
    let stats = Arc::clone(stage.stage.stats());
    let wait_for = |packets: u64| {
        while stats.packets.load(Ordering::Relaxed) < packets {
            std::thread::sleep(Duration::from_millis(1));
        }
    };
    // At the bound: shed, nothing verified or sent on.
    stage.input.send(batch_of(10)).unwrap();
    wait_for(3);
    assert_eq!(stats.shed_backlog.load(Ordering::Relaxed), 3);
    assert_eq!(stage.counters.get(Reject::QueueFull), 3);
    assert_eq!(stats.accepted.load(Ordering::Relaxed), 0);
    assert!(stage.output.is_empty());
    // Below it: verified as usual.
    admission.set_backlog(CEILING - 1);
    stage.input.send(batch_of(20)).unwrap();
    wait_for(6);
    let (_, output) = stage.stop();
    assert_eq!(stats.accepted.load(Ordering::Relaxed), 3);
    assert_eq!(stats.shed_backlog.load(Ordering::Relaxed), 3);
    assert_eq!(output.recv().unwrap().len(), 3);
}

#[test]
fn past_the_admission_bound_only_paying_transactions_are_verified() {
    use crate::compute_budget::ComputeBudgetInstruction;
    use crate::txn::build_transfer_with_budget;
    let admission = Arc::new(Admission::new(ADMIT_BACKLOG_MAX));
    admission.set_backlog(ADMIT_BACKLOG_MIN);
    let stage = AdmittingStage::spawn(&admission);
    let from = "127.0.0.1:9".parse().unwrap();
    let to = Pubkey([9; 32]);
    let free = build_transfer(&SigningKey::from_bytes(&[50; 32]), &to, 1, &Hash::default());
    let paying = build_transfer_with_budget(
        &SigningKey::from_bytes(&[51; 32]),
        &to,
        1,
        &Hash::default(),
        &[ComputeBudgetInstruction::SetComputeUnitPrice(10)],
    );
    let mut forged = paying.clone();
    forged[1] ^= 1;
    let mut batch = PacketBatch::new();
    for wire in [&free, &paying, &forged] {
        batch.push(wire, from);
    }
    stage.input.send(batch).unwrap();
    let out = stage.output.recv_timeout(Duration::from_secs(10)).unwrap();
    let counters = Arc::clone(&stage.counters);
    let (stats, _) = stage.stop();
    // The paying one verified and sent on; a forged paying one still checked and refused;
    // the free one shed unverified.
    assert_eq!(
        out.iter().map(|t| t.bytes()).collect::<Vec<_>>(),
        [&paying[..]]
    );
    assert_eq!(counters.get(Reject::BadSignature), 1);
    assert_eq!(counters.get(Reject::QueueFull), 1);
    assert_eq!(stats.shed_backlog.load(Ordering::Relaxed), 1);
    // Shed before the dedup filter saw it: its resend is checked once there is room.
    let mut keys = KeyCache::new();
    let deduper = Deduper::default();
    assert_eq!(
        check_packet(
            &free,
            false,
            false,
            &mut BatchAdmission::with_rule(FreeRule::None),
            &deduper,
            &mut keys
        )
        .unwrap_err(),
        Reject::QueueFull
    );
    assert!(check_packet(
        &free,
        false,
        false,
        &mut BatchAdmission::with_rule(FreeRule::All),
        &deduper,
        &mut keys
    )
    .is_ok());
}

#[test]
fn batches_late_from_a_standing_queue_shed_their_free_transfers_and_the_node_turns_overloaded() {
    use crate::compute_budget::ComputeBudgetInstruction;
    use crate::txn::build_transfer_with_budget;
    const BATCHES: usize = ADMIT_STANDING_QUEUE + 4;
    let admission = Arc::new(Admission::new(ADMIT_BACKLOG_MAX));
    let from = "127.0.0.1:9".parse().unwrap();
    let to = Pubkey([9; 32]);
    let free = |i: usize| {
        let key = SigningKey::from_bytes(&[100 + i as u8; 32]);
        build_transfer(&key, &to, 1, &Hash::default())
    };
    let paying = build_transfer_with_budget(
        &SigningKey::from_bytes(&[71; 32]),
        &to,
        1,
        &Hash::default(),
        &[ComputeBudgetInstruction::SetComputeUnitPrice(10)],
    );
    // A free transfer a staked validator forwarded (the QUIC TPU marks those).
    let forwarded = build_transfer(&SigningKey::from_bytes(&[72; 32]), &to, 1, &Hash::default());
    // One free transfer per batch, the first batch with a paying one and a forwarded one too;
    // all of them wait past the delay, as behind a queue that verification cannot keep up with.
    let batches: Vec<PacketBatch> = (0..BATCHES)
        .map(|i| {
            let mut batch = PacketBatch::new();
            batch.push(&free(i), from);
            if i == 0 {
                batch.push(&paying, from);
                batch.push_flagged(&forwarded, from, PacketFlags::FORWARDED);
            }
            batch
        })
        .collect();
    std::thread::sleep(ADMIT_QUEUE_DELAY + Duration::from_millis(50));
    assert!(!admission.overloaded());
    let stage = AdmittingStage::spawn_behind(&admission, batches);
    // Batch i is taken with BATCHES - 1 - i behind it: the first SHED with a standing queue.
    const SHED: usize = BATCHES - ADMIT_STANDING_QUEUE;
    let expected: Vec<Vec<u8>> = [paying.clone(), forwarded.clone()]
        .into_iter()
        .chain((SHED..BATCHES).map(free))
        .collect();
    let mut out = Vec::new();
    while out.len() < expected.len() {
        out.extend(stage.output.recv_timeout(Duration::from_secs(10)).unwrap());
    }
    // Their free transfers were shed unverified; the paying one and the staked validator's forward
    // verified (fee and stake go first); the rest, as late but with the queue drained below
    // standing, verified.
    assert_eq!(
        out.iter().map(|t| t.bytes().to_vec()).collect::<Vec<_>>(),
        expected
    );
    assert!(admission.overloaded());
    let counters = Arc::clone(&stage.counters);
    let (stats, _) = stage.stop();
    assert_eq!(counters.get(Reject::QueueFull), SHED as u64);
    assert_eq!(stats.shed_late.load(Ordering::Relaxed), SHED as u64);
    assert_eq!(stats.shed_backlog.load(Ordering::Relaxed), SHED as u64);
    assert_eq!(
        stats.accepted.load(Ordering::Relaxed),
        expected.len() as u64
    );
}

#[test]
fn while_overloaded_a_free_transfer_signed_long_ago_is_shed_and_a_recent_one_verified() {
    use crate::blockhash_queue::BlockhashQueue;
    // Blockhashes of heights 0..40, `[h; 32]` at height h; 400 ms slots: 20 blocks are fresh.
    let admission =
        Arc::new(Admission::new(ADMIT_BACKLOG_MAX).with_slot_duration(Duration::from_millis(400)));
    admission.set_blockhashes(Arc::new(BlockhashQueue::from_recent(
        40,
        (0..40u8).map(|h| (Hash([h; 32]), u64::from(h))),
    )));
    let stage = AdmittingStage::spawn(&admission);
    let from = "127.0.0.1:9".parse().unwrap();
    let transfer = |key: u8, height: u8| {
        build_transfer(
            &SigningKey::from_bytes(&[key; 32]),
            &Pubkey([9; 32]),
            1,
            &Hash([height; 32]),
        )
    };
    let verify = |wires: &[&Vec<u8>]| {
        let mut batch = PacketBatch::new();
        for wire in wires {
            batch.push(wire, from);
        }
        stage.input.send(batch).unwrap();
        stage.output.recv_timeout(Duration::from_secs(10)).unwrap()
    };
    // Unloaded, a transfer signed at height 39 is verified, and the node learns that
    // arriving transactions are signed that recently.
    let newest = transfer(60, 39);
    assert_eq!(verify(&[&newest]).len(), 1);
    // The backlog reaches its bound and drains again: overloaded. A resend signed at height
    // 10 (29 blocks before the newest) is shed unverified; one signed at 31 is verified.
    admission.set_backlog(ADMIT_BACKLOG_MIN);
    admission.set_backlog(0);
    let (stale, fresh) = (transfer(61, 10), transfer(62, 31));
    let out = verify(&[&stale, &fresh]);
    assert_eq!(
        out.iter().map(|t| t.bytes()).collect::<Vec<_>>(),
        [&fresh[..]]
    );
    let counters = Arc::clone(&stage.counters);
    let (stats, _) = stage.stop();
    assert_eq!(counters.get(Reject::QueueFull), 1);
    assert_eq!(stats.shed_stale.load(Ordering::Relaxed), 1);
    assert_eq!(stats.shed_backlog.load(Ordering::Relaxed), 1);
}

#[test]
fn a_packet_a_validator_forwarded_becomes_a_transaction_marked_forwarded_or_is_shed_while_forwarding(
) {
    let admission = Arc::new(Admission::new(ADMIT_BACKLOG_MAX));
    let stage = AdmittingStage::spawn(&admission);
    let from = "127.0.0.1:9".parse().unwrap();
    let batch = |seed: u8| {
        let mut batch = PacketBatch::new();
        for i in 0..2u8 {
            let k = SigningKey::from_bytes(&[seed + i; 32]);
            let t = build_transfer(&k, &Pubkey([9; 32]), 1, &Hash::default());
            let flags = if i == 1 {
                PacketFlags::FORWARDED
            } else {
                PacketFlags::default()
            };
            batch.push_flagged(&t, from, flags);
        }
        batch
    };
    stage.input.send(batch(40)).unwrap();
    let out = stage.output.recv_timeout(Duration::from_secs(10)).unwrap();
    let marks: Vec<bool> = out.iter().map(Txn::is_forwarded).collect();
    assert_eq!(marks, [false, true]);
    // While the node forwards, a forwarded transaction would be dropped after verification:
    // it is shed before, and counted; the client's own is still verified.
    admission.set_forwarding(true);
    stage.input.send(batch(50)).unwrap();
    let out = stage.output.recv_timeout(Duration::from_secs(10)).unwrap();
    let marks: Vec<bool> = out.iter().map(Txn::is_forwarded).collect();
    assert_eq!(marks, [false]);
    // Leading again: forwarded transactions are verified and kept.
    admission.set_forwarding(false);
    stage.input.send(batch(60)).unwrap();
    let out = stage.output.recv_timeout(Duration::from_secs(10)).unwrap();
    assert_eq!(out.len(), 2);
    let (stats, _) = stage.stop();
    assert_eq!(stats.shed_forwarded.load(Ordering::Relaxed), 1);
    assert_eq!(stats.accepted.load(Ordering::Relaxed), 5);
}

#[test]
fn verify_txn_names_the_failing_signer() {
    let sk = SigningKey::from_bytes(&[5; 32]);
    let mut t = build_transfer(&sk, &Pubkey([9; 32]), 1, &Hash::default());
    assert_eq!(verify_txn(&TxnView::new(&t).unwrap()), Ok(()));
    t[1] ^= 0x40;
    let err = verify_txn(&TxnView::new(&t).unwrap()).unwrap_err();
    let signer = Pubkey(sk.verifying_key().to_bytes());
    assert_eq!(err, SigverifyError::BadSignature { index: 0, signer });
    assert!(err.to_string().contains(&signer.to_string()));
}

#[test]
fn v0_transactions_are_verified_over_their_version_byte() {
    let sk = SigningKey::from_bytes(&[5; 32]);
    let v0 = build_transfer_v0(&sk, &Pubkey([9; 32]), 1, &Hash::default());
    let deduper = Deduper::new(10, Duration::from_secs(60));
    let txn = check_packet(
        &v0,
        false,
        false,
        &mut BatchAdmission::with_rule(FreeRule::All),
        &deduper,
        &mut KeyCache::new(),
    )
    .unwrap();
    assert_eq!(txn.view().version(), txn::MessageVersion::V0);
    // The legacy twin's signature does not sign the v0 message: the version byte is covered.
    let legacy = build_transfer(&sk, &Pubkey([9; 32]), 1, &Hash::default());
    let mut forged = v0.clone();
    forged[1..65].copy_from_slice(&legacy[1..65]);
    assert_eq!(
        check_packet(
            &forged,
            false,
            false,
            &mut BatchAdmission::with_rule(FreeRule::All),
            &deduper,
            &mut KeyCache::new()
        )
        .unwrap_err(),
        Reject::BadSignature
    );
    // A lookup table is refused before any signature is checked, and counted as such.
    let mut lookups = v0.clone();
    *lookups.last_mut().unwrap() = 1;
    assert_eq!(
        check_packet(
            &lookups,
            false,
            false,
            &mut BatchAdmission::with_rule(FreeRule::All),
            &deduper,
            &mut KeyCache::new()
        )
        .unwrap_err(),
        Reject::UnsupportedMessage
    );
}

#[test]
fn key_cache_gives_what_decompression_gives() {
    let mut cache = KeyCache::new();
    let a = SigningKey::from_bytes(&[1; 32]).verifying_key().to_bytes();
    // Same cache slot (first two bytes), different key.
    let mut b = a;
    b[31] ^= 0x01;
    let mut not_a_point = [0u8; 32];
    not_a_point[0] = 2;
    for key in [a, b, a, not_a_point, b, a, not_a_point] {
        assert_eq!(
            cache.get(&key),
            VerifyingKey::from_bytes(&key).ok(),
            "{key:?}"
        );
    }
}
