//! A small mutation fuzzer that runs on stable Rust inside `cargo test` (see FUZZING.md).
//!
//! Coverage-blind, but guided by behaviour: an input whose outcome (the error message with its
//! numbers blanked, or the shape of a success) was not seen before joins the corpus. Mutations
//! are byte-level (bit flips, interesting integers at any offset in 1/2/4/8-byte little-endian,
//! inserts, deletes, duplicated runs, splices of two corpus entries, dictionary tokens), plus a
//! structured generator per target where byte flips cannot get past a checksum or a container.
//!
//! Every input is written to `fuzz-out/<target>/current` before it runs, so an abort (an
//! allocation over the cap, a hang caught by the watchdog) leaves the culprit on disk. Panics are
//! caught and the input saved as `crash-<hash>`.

use std::collections::HashSet;
use std::hash::{Hash, Hasher};
use std::io::Write as _;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Largest single allocation allowed; above it the allocator fails, which aborts the process
/// (with `fuzz-out/<target>/current` holding the input).
pub const ALLOC_CAP: usize = 512 << 20;
/// A single allocation above this from one input is reported as a finding.
pub const ALLOC_REPORT: usize = 64 << 20;

pub static LARGEST_ALLOC: AtomicUsize = AtomicUsize::new(0);

/// The allocator of the fuzz binary: the system allocator with a cap and a high-water mark.
pub struct CappedAlloc;

#[allow(unsafe_code)]
// SAFETY: forwards to the system allocator; refusing a request (null) is allowed by the
// `GlobalAlloc` contract.
unsafe impl std::alloc::GlobalAlloc for CappedAlloc {
    unsafe fn alloc(&self, layout: std::alloc::Layout) -> *mut u8 {
        LARGEST_ALLOC.fetch_max(layout.size(), Ordering::Relaxed);
        if layout.size() > ALLOC_CAP {
            return std::ptr::null_mut();
        }
        // SAFETY: same layout, forwarded.
        unsafe { std::alloc::System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: std::alloc::Layout) {
        // SAFETY: `ptr` came from `System.alloc` with this layout.
        unsafe { std::alloc::System.dealloc(ptr, layout) }
    }
    unsafe fn alloc_zeroed(&self, layout: std::alloc::Layout) -> *mut u8 {
        LARGEST_ALLOC.fetch_max(layout.size(), Ordering::Relaxed);
        if layout.size() > ALLOC_CAP {
            return std::ptr::null_mut();
        }
        // SAFETY: same layout, forwarded.
        unsafe { std::alloc::System.alloc_zeroed(layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: std::alloc::Layout, new_size: usize) -> *mut u8 {
        LARGEST_ALLOC.fetch_max(new_size, Ordering::Relaxed);
        if new_size > ALLOC_CAP {
            return std::ptr::null_mut();
        }
        // SAFETY: `ptr`/`layout` from `System`, forwarded.
        unsafe { std::alloc::System.realloc(ptr, layout, new_size) }
    }
}

/// xorshift64*: deterministic for a seed.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Self(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }
    pub fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    pub fn below(&mut self, n: usize) -> usize {
        if n == 0 {
            0
        } else {
            (self.next() % n as u64) as usize
        }
    }
    pub fn chance(&mut self, one_in: usize) -> bool {
        self.below(one_in) == 0
    }
    pub fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len())]
    }
}

const INTERESTING: [u64; 16] = [
    0,
    1,
    2,
    0x7f,
    0x80,
    0xff,
    0x7fff,
    0xffff,
    0x7fff_ffff,
    0xffff_ffff,
    1 << 32,
    1 << 60,
    i64::MAX as u64,
    u64::MAX,
    64,
    4096,
];

/// Applies 1 to 4 random mutations to `data`.
pub fn mutate(
    rng: &mut Rng,
    data: &mut Vec<u8>,
    corpus: &[Vec<u8>],
    dict: &[&[u8]],
    max_len: usize,
) {
    let n = 1 + rng.below(4);
    for _ in 0..n {
        match rng.below(11) {
            0 if !data.is_empty() => {
                let i = rng.below(data.len());
                data[i] ^= 1 << rng.below(8);
            }
            1 if !data.is_empty() => {
                let i = rng.below(data.len());
                data[i] = rng.next() as u8;
            }
            2 | 3 if !data.is_empty() => {
                // An interesting integer, little-endian, at any offset: length fields, counts.
                let width = *rng.pick(&[1usize, 2, 4, 8]);
                let mut v = *rng.pick(&INTERESTING);
                if rng.chance(3) {
                    v = v.wrapping_add(rng.below(3) as u64).wrapping_sub(1);
                }
                let i = rng.below(data.len());
                for (k, b) in v.to_le_bytes()[..width].iter().enumerate() {
                    if let Some(d) = data.get_mut(i + k) {
                        *d = *b;
                    }
                }
            }
            4 if !data.is_empty() => {
                let start = rng.below(data.len());
                let len = 1 + rng.below((data.len() - start).min(64));
                data.drain(start..start + len);
            }
            5 => {
                let at = rng.below(data.len() + 1);
                let len = 1 + rng.below(16);
                let bytes: Vec<u8> = (0..len).map(|_| rng.next() as u8).collect();
                data.splice(at..at, bytes);
            }
            6 if !data.is_empty() => {
                let start = rng.below(data.len());
                let len = 1 + rng.below((data.len() - start).min(256));
                let run = data[start..start + len].to_vec();
                let at = rng.below(data.len() + 1);
                data.splice(at..at, run);
            }
            7 if !corpus.is_empty() => {
                let other = rng.pick(corpus);
                if !other.is_empty() {
                    let cut = rng.below(data.len() + 1);
                    let from = rng.below(other.len());
                    data.truncate(cut);
                    data.extend_from_slice(&other[from..]);
                }
            }
            8 | 9 if !dict.is_empty() => {
                let token = rng.pick(dict);
                let at = rng.below(data.len() + 1);
                if rng.chance(2) && at + token.len() <= data.len() {
                    data[at..at + token.len()].copy_from_slice(token);
                } else {
                    data.splice(at..at, token.iter().copied());
                }
            }
            10 if !data.is_empty() => {
                data.truncate(rng.below(data.len()));
            }
            _ => {}
        }
    }
    data.truncate(max_len);
}

/// Runs one input; returns a short description of the outcome (its "signature").
pub type RunFn = Box<dyn FnMut(&[u8]) -> String>;
/// Makes a structured input from the corpus.
pub type GenerateFn = Box<dyn FnMut(&mut Rng, &[Vec<u8>]) -> Vec<u8>>;

/// One fuzz target.
pub struct Target {
    pub name: &'static str,
    /// Tokens worth inserting (keywords, magic numbers).
    pub dict: Vec<&'static [u8]>,
    /// Inputs are cut to this length.
    pub max_len: usize,
    /// Runs one input; returns a short description of the outcome (its "signature").
    pub run: RunFn,
    /// A structured generator, used for a share of the inputs when present.
    pub generate: Option<GenerateFn>,
}

/// What a run found.
#[derive(Debug, Default)]
pub struct Stats {
    pub execs: u64,
    pub corpus: usize,
    pub signatures: usize,
    pub crashes: Vec<(PathBuf, String)>,
    pub slow: Vec<(PathBuf, Duration)>,
    pub big_allocs: Vec<(PathBuf, usize, usize)>,
    pub largest_alloc: usize,
    pub elapsed: Duration,
}

pub fn corpus_dir(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fuzz-corpus")
        .join(name)
}

pub fn out_dir(name: &str) -> PathBuf {
    let d = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fuzz-out")
        .join(name);
    std::fs::create_dir_all(&d).unwrap();
    d
}

pub fn load_corpus(name: &str) -> Vec<Vec<u8>> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(corpus_dir(name))
        .map(|rd| rd.filter_map(|e| e.ok().map(|e| e.path())).collect())
        .unwrap_or_default();
    files.sort();
    files.iter().filter_map(|p| std::fs::read(p).ok()).collect()
}

/// The behaviour an outcome stands for: numbers and quoted text (which echo the input) are
/// blanked, and only the first 160 characters count.
fn blank_digits(s: &str) -> String {
    let mut out = String::with_capacity(160);
    let mut last_digit = false;
    let mut quote: Option<char> = None;
    let mut escaped = false;
    for c in s.chars() {
        if out.len() >= 160 {
            break;
        }
        if let Some(q) = quote {
            if escaped {
                escaped = false;
            } else if c == '\\' {
                escaped = true;
            } else if c == q {
                quote = None;
                out.push(c);
            }
            continue;
        }
        if c == '"' || c == '`' {
            quote = Some(c);
            out.push(c);
            continue;
        }
        if c.is_ascii_digit() {
            if !last_digit {
                out.push('#');
            }
            last_digit = true;
        } else {
            out.push(c);
            last_digit = false;
        }
    }
    out
}

fn hash_of(bytes: &[u8]) -> u64 {
    let mut h = std::collections::hash_map::DefaultHasher::new();
    bytes.hash(&mut h);
    h.finish()
}

static PANIC_MSG: Mutex<String> = Mutex::new(String::new());
static EXEC_STARTED_MS: AtomicU64 = AtomicU64::new(0);

/// Runs `target` for `budget`, starting from its committed corpus. Returns the statistics; the
/// caller asserts there were no crashes.
pub fn fuzz(mut target: Target, budget: Duration, seed: u64) -> Stats {
    let out = out_dir(target.name);
    let current = out.join("current");
    let mut corpus = load_corpus(target.name);
    assert!(!corpus.is_empty(), "no seed corpus for {}", target.name);
    let mut seen: HashSet<u64> = HashSet::new();
    let mut stats = Stats::default();
    let mut rng = Rng::new(seed);

    let prev_hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(|info| {
        let loc = info
            .location()
            .map(|l| format!("{}:{}", l.file(), l.line()))
            .unwrap_or_default();
        let msg = info
            .payload()
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| info.payload().downcast_ref::<String>().cloned())
            .unwrap_or_default();
        *PANIC_MSG.lock().unwrap_or_else(|e| e.into_inner()) = format!("{msg} at {loc}");
    }));
    // Watchdog: an input running for more than 30 s is a hang; abort with it on disk.
    let t0 = Instant::now();
    let name = target.name;
    let current_for_dog = current.clone();
    std::thread::spawn(move || loop {
        std::thread::sleep(Duration::from_millis(500));
        let started = EXEC_STARTED_MS.load(Ordering::Relaxed);
        if started != 0 && t0.elapsed().as_millis() as u64 > started + 30_000 {
            eprintln!(
                "fuzz {name}: an input has run for 30 s (hang); it is in {}",
                current_for_dog.display()
            );
            std::process::abort();
        }
    });

    let mut current_file = std::fs::File::create(&current).unwrap();
    let start = Instant::now();
    let mut replay = corpus.clone().into_iter();
    while start.elapsed() < budget || replay.len() > 0 {
        let replaying = replay.len() > 0;
        let input = match replay.next() {
            Some(seed_input) => seed_input,
            None => match target.generate.as_mut() {
                Some(g) if rng.chance(3) => {
                    let mut v = g(&mut rng, &corpus);
                    if rng.chance(2) {
                        mutate(&mut rng, &mut v, &corpus, &target.dict, target.max_len);
                    }
                    v.truncate(target.max_len);
                    v
                }
                _ => {
                    let mut v = rng.pick(&corpus).clone();
                    mutate(&mut rng, &mut v, &corpus, &target.dict, target.max_len);
                    v
                }
            },
        };
        current_file.set_len(0).unwrap();
        std::io::Seek::rewind(&mut current_file).unwrap();
        current_file.write_all(&input).unwrap();

        LARGEST_ALLOC.store(0, Ordering::Relaxed);
        EXEC_STARTED_MS.store(t0.elapsed().as_millis() as u64, Ordering::Relaxed);
        let began = Instant::now();
        let outcome = catch_unwind(AssertUnwindSafe(|| (target.run)(&input)));
        let took = began.elapsed();
        EXEC_STARTED_MS.store(0, Ordering::Relaxed);
        let largest = LARGEST_ALLOC.load(Ordering::Relaxed);
        stats.execs += 1;
        stats.largest_alloc = stats.largest_alloc.max(largest);
        let h = hash_of(&input);
        match outcome {
            Ok(sig) => {
                let sig = blank_digits(&sig);
                if seen.insert(hash_of(sig.as_bytes())) && !replaying && corpus.len() < 4096 {
                    corpus.push(input.clone());
                }
            }
            Err(_) => {
                let msg = PANIC_MSG.lock().unwrap_or_else(|e| e.into_inner()).clone();
                let path = out.join(format!("crash-{h:016x}"));
                if !stats.crashes.iter().any(|(_, m)| *m == msg) {
                    std::fs::write(&path, &input).unwrap();
                    stats.crashes.push((path, msg));
                }
            }
        }
        // Over a second of wall time may be the scheduler (the fuzzer runs at nice 19 beside
        // builds): it counts as slow only if a second run of the input is slow too.
        let took = if took > Duration::from_secs(1) {
            let again = Instant::now();
            let _ = catch_unwind(AssertUnwindSafe(|| (target.run)(&input)));
            took.min(again.elapsed())
        } else {
            took
        };
        if took > Duration::from_secs(1) && stats.slow.len() < 20 {
            let path = out.join(format!("slow-{h:016x}"));
            std::fs::write(&path, &input).unwrap();
            stats.slow.push((path, took));
        }
        if largest > ALLOC_REPORT && stats.big_allocs.len() < 20 {
            let path = out.join(format!("alloc-{h:016x}"));
            std::fs::write(&path, &input).unwrap();
            stats.big_allocs.push((path, input.len(), largest));
        }
    }
    std::panic::set_hook(prev_hook);
    stats.elapsed = start.elapsed();
    stats.corpus = corpus.len();
    stats.signatures = seen.len();
    let report = format!(
        "target {}: {} execs in {:.0} s ({:.0}/s), corpus {} (from {} seeds), {} outcome signatures, {} crashes, {} slow (>1 s), {} allocations > {} MiB, largest allocation {} bytes\n{:#?}\n",
        target.name,
        stats.execs,
        stats.elapsed.as_secs_f64(),
        stats.execs as f64 / stats.elapsed.as_secs_f64().max(1e-9),
        stats.corpus,
        load_corpus(target.name).len(),
        stats.signatures,
        stats.crashes.len(),
        stats.slow.len(),
        stats.big_allocs.len(),
        ALLOC_REPORT >> 20,
        stats.largest_alloc,
        (&stats.crashes, &stats.slow, &stats.big_allocs),
    );
    eprintln!("{report}");
    // A replay of the corpus (no budget) leaves the stats of the last fuzz run alone.
    if !budget.is_zero() {
        std::fs::write(out.join("stats.txt"), &report).unwrap();
    }
    stats
}
