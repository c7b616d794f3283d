//! The fuzz targets for a bounded budget inside the test suite: up to 150 inputs of each
//! target's corpus (`fuzz/corpus/<target>/`, seeds plus what coverage-guided runs kept), every
//! saved regression (`fuzz/regressions/<target>/`), then deterministic mutations of them.
//!
//! This is not coverage-guided (that is `scripts/fuzz.sh`, with libFuzzer); it replays what the
//! guided runs found and keeps exploring near it on every test run, with a fixed seed so that a
//! failure here reproduces. A failing input is written to `target/fuzz-failures/` and named in
//! the message; copy it to `fuzz/regressions/<target>/` once fixed.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::{Path, PathBuf};

use calimero_fuzz::TARGETS;

/// Mutated inputs per target (on top of the corpus); `FUZZ_ITERATIONS` overrides it.
const ITERATIONS: usize = 1000;
/// Corpus inputs replayed per target, evenly spread over the sorted corpus (regressions are
/// always all replayed); `FUZZ_CORPUS_SAMPLE` overrides it.
const CORPUS_SAMPLE: usize = 150;

struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

/// One libFuzzer-style mutation: flip, overwrite with an interesting value, insert, erase,
/// duplicate a slice, or splice in part of another input.
fn mutate(input: &mut Vec<u8>, other: &[u8], rng: &mut Rng) {
    const INTERESTING: [u8; 8] = [0, 1, 0x7f, 0x80, 0xff, 0x20, b'{', b'"'];
    for _ in 0..1 + rng.below(4) {
        let at = rng.below(input.len() + 1);
        match rng.below(6) {
            0 if !input.is_empty() => {
                let i = at.min(input.len() - 1);
                input[i] ^= 1 << rng.below(8);
            }
            1 if !input.is_empty() => {
                let i = at.min(input.len() - 1);
                input[i] = INTERESTING[rng.below(INTERESTING.len())];
            }
            2 => input.insert(at, rng.next() as u8),
            3 if !input.is_empty() => {
                let end = (at + 1 + rng.below(8)).min(input.len());
                input.drain(at.min(input.len() - 1)..end);
            }
            4 if !input.is_empty() => {
                let start = rng.below(input.len());
                let end = (start + 1 + rng.below(16)).min(input.len());
                let slice = input[start..end].to_vec();
                let at = at.min(input.len());
                input.splice(at..at, slice);
            }
            _ if !other.is_empty() => {
                let start = rng.below(other.len());
                let end = (start + 1 + rng.below(32)).min(other.len());
                let at = at.min(input.len());
                input.splice(at..at, other[start..end].iter().copied());
            }
            _ => input.push(rng.next() as u8),
        }
    }
    input.truncate(64 * 1024);
}

fn inputs(dir: &Path) -> Vec<Vec<u8>> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .map(|entries| entries.filter_map(|e| e.ok().map(|e| e.path())).collect())
        .unwrap_or_default();
    files.sort();
    files
        .into_iter()
        .filter_map(|path| std::fs::read(path).ok())
        .collect()
}

fn run(name: &str, target: fn(&[u8]), input: &[u8]) -> Result<(), String> {
    catch_unwind(AssertUnwindSafe(|| target(input))).map_err(|payload| {
        let message = payload
            .downcast_ref::<String>()
            .cloned()
            .or_else(|| payload.downcast_ref::<&str>().map(|s| (*s).to_owned()))
            .unwrap_or_default();
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/fuzz-failures");
        let _ = std::fs::create_dir_all(&dir);
        let path = dir.join(format!("{name}-{:016x}", fingerprint(input)));
        let _ = std::fs::write(&path, input);
        format!(
            "{name} failed on {} ({} bytes): {message}",
            path.display(),
            input.len()
        )
    })
}

fn fingerprint(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(*b)).wrapping_mul(0x100_0000_01b3)
    })
}

#[test]
fn every_target_survives_its_corpus_its_regressions_and_mutations_of_them() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let iterations = std::env::var("FUZZ_ITERATIONS")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(ITERATIONS);
    let sample = std::env::var("FUZZ_CORPUS_SAMPLE")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(CORPUS_SAMPLE);
    let mut failures = Vec::new();
    for (name, target) in TARGETS {
        let corpus = inputs(&root.join("corpus").join(name));
        let step = corpus.len().div_ceil(sample.max(1)).max(1);
        let mut seeds: Vec<Vec<u8>> = corpus.into_iter().step_by(step).collect();
        seeds.extend(inputs(&root.join("regressions").join(name)));
        assert!(
            !seeds.is_empty(),
            "{name} has no corpus in fuzz/corpus/{name}"
        );
        for seed in &seeds {
            if let Err(failure) = run(name, *target, seed) {
                failures.push(failure);
            }
        }
        let mut rng = Rng(fingerprint(name.as_bytes()));
        for _ in 0..iterations {
            let mut input = seeds[rng.below(seeds.len())].clone();
            let other = &seeds[rng.below(seeds.len())];
            mutate(&mut input, other, &mut rng);
            if let Err(failure) = run(name, *target, &input) {
                failures.push(failure);
                break;
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
