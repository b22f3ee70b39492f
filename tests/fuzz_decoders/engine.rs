//! The fuzzing engine shared by every decoder target: a counting allocator, byte-level mutations of
//! valid encodings, and a proptest runner that feeds a [`Decoder`] mostly-valid and raw inputs and
//! holds it to its contract.
//!
//! Included by `tests/fuzz_decoders/main.rs` (the data- and control-plane decoders) and by the
//! node's RPC unit tests (`src/rpc/tests_fuzz.rs`, whose decoders are private to the crate); each
//! test binary installs [`CountingAlloc`] as its global allocator.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::fmt::Debug;
use std::time::{Duration, Instant};

use proptest::prelude::*;
use proptest::strategy::ValueTree;
use proptest::test_runner::{Config, RngAlgorithm, TestCaseError, TestRng, TestRunner};

/// Environment variable: inputs per decoder (default [`CI_CASES`]); the long run sets 10,000,000.
pub const CASES_ENV: &str = "BLACKBOOK_FUZZ_CASES";
/// Environment variable: the runner's seed (a `u64`); by default each decoder's name picks a fixed
/// one, so a CI run is the same run every time.
pub const SEED_ENV: &str = "BLACKBOOK_FUZZ_SEED";
/// Environment variable: a folder to write each target's valid corpus into (`<folder>/<name>/<i>`),
/// the seed corpus of the cargo-fuzz targets (`fuzz/`).
pub const CORPUS_ENV: &str = "BLACKBOOK_FUZZ_CORPUS";
/// Inputs per decoder in a plain `cargo test` run (CI's budget: a few seconds per decoder in a
/// debug build on 2 shared cores).
pub const CI_CASES: u32 = 10_000;
/// Valid encodings drawn once per run, which mutated inputs start from.
const CORPUS_LEN: usize = 128;
/// A decode slower than this is reported as a hang (decoders are linear in inputs of at most a
/// few KiB; the margin covers a debug build on a loaded machine).
const HANG: Duration = Duration::from_secs(2);

thread_local! {
    // Bytes this thread has asked the allocator for; const-initialised and without a destructor,
    // so reading it from inside the allocator never allocates.
    static REQUESTED: Cell<u64> = const { Cell::new(0) };
}

fn count(bytes: usize) {
    // `try_with` fails only while the thread's locals are being torn down: nothing is measured then.
    let _ = REQUESTED.try_with(|c| c.set(c.get().saturating_add(bytes as u64)));
}

/// The system allocator, counting per thread the bytes requested (allocations, and the growth of
/// reallocations) so that [`measure`] can bound what one decode asks for.
pub struct CountingAlloc;

// SAFETY: every call is forwarded unchanged to `System`, which upholds GlobalAlloc's contract; the
// counting only touches a thread-local `Cell` and never allocates.
unsafe impl GlobalAlloc for CountingAlloc {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        count(layout.size());
        // SAFETY: the caller's layout is passed through unchanged.
        unsafe { System.alloc(layout) }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        count(layout.size());
        // SAFETY: as above.
        unsafe { System.alloc_zeroed(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: `ptr` came from `System` with this layout (every allocation above goes there).
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        count(new_size.saturating_sub(layout.size()));
        // SAFETY: as for `dealloc`; the caller guarantees `new_size` is valid for the layout.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

/// Runs `f`, returning its result, the bytes it asked the allocator for on this thread, and its
/// wall time.
pub fn measure<R>(f: impl FnOnce() -> R) -> (R, u64, Duration) {
    let before = REQUESTED.with(Cell::get);
    let start = Instant::now();
    let out = f();
    let elapsed = start.elapsed();
    (out, REQUESTED.with(Cell::get) - before, elapsed)
}

/// A decode under test.
pub type DecodeFn<O> = Box<dyn Fn(&[u8]) -> O>;
/// A check of a decode's output against its input: `Ok(true)` if accepted, `Ok(false)` if refused,
/// `Err` on a broken contract.
pub type CheckFn<O> = Box<dyn Fn(&[u8], O) -> Result<bool, String>>;

/// One decoder under test: how to make valid inputs, how to decode, and what must hold after.
pub struct Target<O> {
    /// Name in reports and failure messages.
    pub name: &'static str,
    /// Valid encodings, every one of which `check` must accept.
    pub valid: BoxedStrategy<Vec<u8>>,
    /// Inputs made at the structure level that need not be valid (JSON with arbitrary
    /// parameters, say), if the decoder's input has such a structure.
    pub structured: Option<BoxedStrategy<Vec<u8>>>,
    /// Divides the number of inputs this target gets: 1 for a decoder, more for a stateful target
    /// whose one input is a whole sequence of messages (a slot's shreds).
    pub cost: u32,
    /// Longest raw random input worth trying: a little past the decoder's own size bound.
    pub raw_len_max: usize,
    /// Most bytes one decode of an input of the given length may ask the allocator for.
    pub alloc_bytes_max: fn(usize) -> u64,
    /// The decode under test: only this is timed and allocation-counted.
    pub decode: DecodeFn<O>,
    /// Checks the output against the input (round trips, cross-checks): `Ok(true)` if the input
    /// was accepted, `Ok(false)` if refused, `Err` on a broken contract.
    pub check: CheckFn<O>,
}

/// Where an input came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Origin {
    /// A fresh valid encoding, unchanged: must be accepted.
    Valid,
    /// A valid encoding from the corpus, mutated.
    Mutated,
    /// A structured input, valid or not.
    Structured,
    /// Random bytes.
    Raw,
}

/// Integers that sit on boundaries: lengths, counts, tags and version bytes live near them.
const INTERESTING: [u64; 14] = [
    0,
    1,
    2,
    0x7f,
    0x80,
    0xff,
    0x100,
    0x3fff,
    0x4000,
    0xffff,
    0x1_0000,
    0x7fff_ffff,
    0xffff_ffff,
    u64::MAX,
];

/// One edit of an input. Positions are taken modulo the input's length when applied.
#[derive(Debug, Clone)]
pub enum Mutation {
    /// Flip one bit.
    FlipBit { at: u32, bit: u8 },
    /// Overwrite one byte.
    SetByte { at: u32, value: u8 },
    /// Overwrite a little-endian integer of `width` bytes with a boundary value (length fields).
    SetInt { at: u32, width: u8, value: u64 },
    /// Overwrite with a (possibly longer) compact-u16 / LEB128 encoding of `value`.
    SetVarint { at: u32, value: u64 },
    /// Cut the input short.
    Truncate { at: u32 },
    /// Insert bytes.
    Insert { at: u32, bytes: Vec<u8> },
    /// Remove a range.
    Delete { at: u32, len: u16 },
    /// Copy a range of the input over another place in it.
    Duplicate { from: u32, len: u16, to: u32 },
    /// Insert part of another corpus entry (splicing two valid encodings).
    Splice {
        other: u32,
        from: u32,
        len: u16,
        to: u32,
    },
}

fn mutation() -> impl Strategy<Value = Mutation> {
    let at = any::<u32>();
    prop_oneof![
        4 => (at, 0u8..8).prop_map(|(at, bit)| Mutation::FlipBit { at, bit }),
        3 => (at, any::<u8>()).prop_map(|(at, value)| Mutation::SetByte { at, value }),
        3 => (at, prop::sample::select(vec![1u8, 2, 4, 8]), prop::sample::select(&INTERESTING[..]))
            .prop_map(|(at, width, value)| Mutation::SetInt { at, width, value }),
        2 => (at, prop::sample::select(&INTERESTING[..]))
            .prop_map(|(at, value)| Mutation::SetVarint { at, value }),
        2 => at.prop_map(|at| Mutation::Truncate { at }),
        2 => (at, prop::collection::vec(any::<u8>(), 1..16))
            .prop_map(|(at, bytes)| Mutation::Insert { at, bytes }),
        2 => (at, 1u16..64).prop_map(|(at, len)| Mutation::Delete { at, len }),
        1 => (at, 1u16..128, at)
            .prop_map(|(from, len, to)| Mutation::Duplicate { from, len, to }),
        2 => (any::<u32>(), at, 1u16..512, at)
            .prop_map(|(other, from, len, to)| Mutation::Splice { other, from, len, to }),
    ]
}

fn pos(at: u32, len: usize) -> usize {
    if len == 0 {
        0
    } else {
        at as usize % len
    }
}

/// Appends `value` as LEB128 (Solana's compact-u16 and serde_varint share it).
fn leb128(mut value: u64, out: &mut Vec<u8>) {
    loop {
        let b = (value & 0x7f) as u8;
        value >>= 7;
        if value == 0 {
            out.push(b);
            return;
        }
        out.push(b | 0x80);
    }
}

/// Applies `m` to `input`; `corpus` is the splice source.
pub fn apply(m: &Mutation, input: &mut Vec<u8>, corpus: &[Vec<u8>]) {
    let len = input.len();
    match m {
        Mutation::FlipBit { at, bit } if len > 0 => input[pos(*at, len)] ^= 1 << bit,
        Mutation::SetByte { at, value } if len > 0 => input[pos(*at, len)] = *value,
        Mutation::SetInt { at, width, value } if len > 0 => {
            let start = pos(*at, len);
            let bytes = value.to_le_bytes();
            let end = (start + usize::from(*width)).min(len);
            input[start..end].copy_from_slice(&bytes[..end - start]);
        }
        Mutation::SetVarint { at, value } => {
            let start = pos(*at, len + 1);
            let mut enc = Vec::new();
            leb128(*value, &mut enc);
            let end = (start + enc.len()).min(len);
            input.splice(start..end, enc);
        }
        Mutation::Truncate { at } => input.truncate(pos(*at, len + 1)),
        Mutation::Insert { at, bytes } => {
            let start = pos(*at, len + 1);
            input.splice(start..start, bytes.iter().copied());
        }
        Mutation::Delete { at, len: n } => {
            let start = pos(*at, len + 1);
            let end = (start + usize::from(*n)).min(len);
            input.drain(start..end);
        }
        Mutation::Duplicate { from, len: n, to } if len > 0 => {
            let start = pos(*from, len);
            let chunk = input[start..(start + usize::from(*n)).min(len)].to_vec();
            let to = pos(*to, len);
            let end = (to + chunk.len()).min(len);
            input[to..end].copy_from_slice(&chunk[..end - to]);
        }
        Mutation::Splice {
            other,
            from,
            len: n,
            to,
        } if !corpus.is_empty() => {
            let src = &corpus[*other as usize % corpus.len()];
            let start = pos(*from, src.len());
            let chunk = &src[start..(start + usize::from(*n)).min(src.len())];
            let to = pos(*to, len + 1);
            input.splice(to..to, chunk.iter().copied());
        }
        _ => {}
    }
}

/// What one decoder's run saw; printed by [`fuzz`] (`--nocapture` shows it).
#[derive(Debug, Default, Clone)]
pub struct Report {
    /// Inputs decoded.
    pub cases: u64,
    /// Inputs the decoder accepted, all origins.
    pub accepted: u64,
    /// Mutated inputs, and those accepted.
    pub mutated: u64,
    /// Mutated inputs accepted.
    pub mutated_accepted: u64,
    /// Structured inputs, and those accepted.
    pub structured: (u64, u64),
    /// Most bytes one decode asked for, and the input length it happened at.
    pub alloc_max: (u64, usize),
    /// Slowest decode.
    pub slowest: Duration,
    /// Wall time of the run.
    pub wall: Duration,
}

fn env_u64(name: &str) -> Option<u64> {
    let text = std::env::var(name).ok()?;
    let digits: String = text.chars().filter(|c| *c != '_' && *c != ',').collect();
    Some(
        digits
            .parse()
            .unwrap_or_else(|_| panic!("{name}={text}: not a number")),
    )
}

fn runner(name: &str, cases: u32, salt: u64) -> TestRunner {
    // FNV-1a of the name: a fixed, distinct stream per decoder unless the seed is given.
    let fixed = name.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    });
    let seed = env_u64(SEED_ENV).unwrap_or(fixed) ^ salt;
    let mut key = [0u8; 32];
    key[..8].copy_from_slice(&seed.to_le_bytes());
    let config = Config {
        cases,
        // Regressions are kept as named tests beside the decoder, not in proptest's files.
        failure_persistence: None,
        max_shrink_iters: 20_000,
        ..Config::default()
    };
    TestRunner::new_with_rng(config, TestRng::from_seed(RngAlgorithm::ChaCha, &key))
}

/// Draws `n` values of `strategy` (no shrinking).
fn draw(strategy: &BoxedStrategy<Vec<u8>>, runner: &mut TestRunner, n: usize) -> Vec<Vec<u8>> {
    (0..n)
        .map(|_| match strategy.new_tree(runner) {
            Ok(tree) => tree.current(),
            Err(reason) => panic!("valid-input generator failed: {reason}"),
        })
        .collect()
}

/// Feeds `target` [`CASES_ENV`] inputs (default [`CI_CASES`]), divided by its cost: 1 in 8 a fresh valid encoding,
/// 6 in 8 a corpus entry under 1–4 mutations (2 of those 6 structured inputs instead, where the
/// target has them), 1 in 8 raw bytes. Fails, with the shrunk input, on a
/// panic, a broken check, a refused valid input, an allocation past the decoder's bound or a hang;
/// also fails if no mutated input was accepted or none refused (the generator would be useless).
pub fn fuzz<O: Debug>(target: &Target<O>) -> Report {
    let name = target.name;
    let cases = env_u64(CASES_ENV).map_or(CI_CASES, |n| u32::try_from(n).unwrap_or(u32::MAX))
        / target.cost.max(1);
    let valid = target.valid.clone();
    let corpus = draw(&valid, &mut runner(name, 1, 0x5eed), CORPUS_LEN);
    if let Ok(dir) = std::env::var(CORPUS_ENV) {
        let dir = std::path::Path::new(&dir).join(name);
        std::fs::create_dir_all(&dir).expect("corpus folder");
        for (i, input) in corpus.iter().enumerate() {
            std::fs::write(dir.join(format!("seed-{i:03}")), input).expect("corpus file");
        }
    }
    let corpus_len = corpus.len() as u32;
    let mutated = (0..corpus_len, prop::collection::vec(mutation(), 1..=4))
        .prop_map({
            let corpus = corpus.clone();
            move |(i, ms)| {
                let mut input = corpus[i as usize].clone();
                for m in &ms {
                    apply(m, &mut input, &corpus);
                }
                (Origin::Mutated, input)
            }
        })
        .boxed();
    // Without structured inputs, their share goes to mutated ones.
    let structured = target.structured.clone().map_or_else(
        || mutated.clone().boxed(),
        |s| s.prop_map(|b| (Origin::Structured, b)).boxed(),
    );
    let inputs = prop_oneof![
        1 => valid.prop_map(|b| (Origin::Valid, b)),
        4 => mutated,
        2 => structured,
        1 => prop::collection::vec(any::<u8>(), 0..=target.raw_len_max)
            .prop_map(|b| (Origin::Raw, b)),
    ];
    let report = std::cell::RefCell::new(Report::default());
    let start = Instant::now();
    let result = runner(name, cases, 0).run(&inputs, |(origin, bytes)| {
        let (out, allocated, elapsed) = measure(|| (target.decode)(&bytes));
        let bound = (target.alloc_bytes_max)(bytes.len());
        let fail = |why: String| TestCaseError::fail(format!("{name} ({origin:?}): {why}"));
        if allocated > bound {
            return Err(fail(format!(
                "decoding {} bytes asked for {allocated} bytes, bound {bound}",
                bytes.len()
            )));
        }
        if elapsed > HANG {
            return Err(fail(format!(
                "decoding {} bytes took {elapsed:?}",
                bytes.len()
            )));
        }
        let accepted = (target.check)(&bytes, out).map_err(fail)?;
        if origin == Origin::Valid && !accepted {
            return Err(fail("a valid encoding was refused".into()));
        }
        let mut r = report.borrow_mut();
        r.cases += 1;
        r.accepted += u64::from(accepted);
        if origin == Origin::Mutated {
            r.mutated += 1;
            r.mutated_accepted += u64::from(accepted);
        }
        if origin == Origin::Structured {
            r.structured.0 += 1;
            r.structured.1 += u64::from(accepted);
        }
        if allocated > r.alloc_max.0 {
            r.alloc_max = (allocated, bytes.len());
        }
        r.slowest = r.slowest.max(elapsed);
        Ok(())
    });
    let mut report = report.into_inner();
    report.wall = start.elapsed();
    if let Err(e) = result {
        panic!("fuzz {name}: {e}");
    }
    println!(
        "fuzz {name}: {} inputs in {:.1} s, {} accepted; {} mutated, {} of them accepted; \
         {} structured, {} accepted; most allocated {} B (at {} input bytes); slowest decode {:?}",
        report.cases,
        report.wall.as_secs_f64(),
        report.accepted,
        report.mutated,
        report.mutated_accepted,
        report.structured.0,
        report.structured.1,
        report.alloc_max.0,
        report.alloc_max.1,
        report.slowest,
    );
    assert!(
        report.mutated_accepted > 0 && report.mutated_accepted < report.mutated,
        "fuzz {name}: {} of {} mutated inputs accepted; the mutations should leave some valid \
         and break others",
        report.mutated_accepted,
        report.mutated
    );
    report
}
