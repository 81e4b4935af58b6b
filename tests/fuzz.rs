//! Fuzzing of every parser of outside input, on stable Rust (see FUZZING.md).
//!
//! `cargo test --release --test fuzz` replays the committed corpus (`tests/fuzz-corpus/`) through
//! every target: a regression test that runs in CI. Fuzzing proper is ignored by default:
//!
//! ```text
//! SWIFT_BON_FUZZ_SECS=600 nice -n 19 cargo test --release --test fuzz -- --ignored --test-threads 1 fuzz_gguf
//! ```
//! Findings land in `fuzz-out/<target>/` (git-ignored): `crash-*`, `slow-*`, `alloc-*`, and
//! `stats.txt`.

#[path = "fuzz/kit.rs"]
mod kit;

/// Dictionary tokens of a target.
macro_rules! dict {
    ($($x:expr),* $(,)?) => { vec![$(&$x[..] as &'static [u8]),*] };
}

use std::collections::HashMap;
use std::io::{Read as _, Write as _};
use std::path::{Path, PathBuf};
use std::time::Duration;

use kit::{CappedAlloc, Rng, Target};
use swift_bon::dataset::store::{FeatureStore, FeatureWriter, StoreOptions};
use swift_bon::features::{FeatureLayout, FeatureSink as _, StateSpec};
use swift_bon::head::{Head, HeadSpec, ModelIdentity, NormStats, Normalization};
use swift_bon::tasks::{AnswerKind, TaskSpec};

#[global_allocator]
static ALLOC: CappedAlloc = CappedAlloc;

const TARGETS: [&str; 8] = [
    "gguf",
    "head_yaml",
    "head_safetensors",
    "torch",
    "jsonl",
    "task_spec",
    "answers",
    "store_index",
];

fn scratch() -> tempfile::TempDir {
    let shm = Path::new("/dev/shm");
    if shm.is_dir() {
        if let Ok(d) = tempfile::tempdir_in(shm) {
            return d;
        }
    }
    tempfile::tempdir().unwrap()
}

/// The outcome of a parse: the shape of a success, or the whole error chain (a cause returned
/// as `source()`, such as the YAML parser's message, is part of the behaviour).
fn sig<T, E: std::error::Error + 'static>(
    r: &Result<T, E>,
    ok: impl FnOnce(&T) -> String,
) -> String {
    match r {
        Ok(v) => format!("ok:{}", ok(v)),
        Err(e) => format!("err:{}", swift_bon::error_class::chain_text(e)),
    }
}

// ---- the tiny head used by the head targets ------------------------------------------------

fn tiny_identity() -> ModelIdentity {
    ModelIdentity {
        architecture: "llama".into(),
        n_layer: 2,
        n_embd: 4,
        n_vocab: 32,
        fingerprint: "sha256-ends-v1:00".into(),
    }
}

fn tiny_head(gate: bool, norm: Normalization) -> Head {
    let model = tiny_identity();
    let features = swift_bon::head::hidden_source(&StateSpec::All, &model).unwrap();
    let spec = HeadSpec {
        model,
        features,
        norm,
        gate,
        eos: swift_bon::features::EosRule::Include,
        instruction: Some("Answer.".into()),
        instruction_by_kind: Default::default(),
        training: None,
        notes: Some("fuzz seed".into()),
    };
    let f = spec.width();
    let rows = spec.rows();
    let weight = (0..rows * f).map(|i| (i as f32 - 5.0) * 0.25).collect();
    let bias = (0..rows).map(|i| i as f32 * 0.5 - 0.25).collect();
    let stats = (norm == Normalization::Standardize).then(|| NormStats {
        mean: (0..f).map(|i| i as f32 * 0.1).collect(),
        std: (0..f).map(|i| 1.0 + i as f32 * 0.1).collect(),
    });
    Head::new(spec, weight, bias, stats).unwrap()
}

/// (yaml, safetensors) bytes of the gated rms tiny head.
fn tiny_head_files() -> (Vec<u8>, Vec<u8>) {
    let dir = scratch();
    let (y, s) = tiny_head(true, Normalization::Rms)
        .save(dir.path().join("h"))
        .unwrap();
    (std::fs::read(y).unwrap(), std::fs::read(s).unwrap())
}

/// A safetensors file built by hand, so that offsets, dtypes and shapes can all be wrong.
fn safetensors_bytes(
    tensors: &[(&str, &str, Vec<u64>, Vec<u8>)],
    lie: Option<(usize, u64)>,
) -> Vec<u8> {
    let mut header = serde_json::Map::new();
    let mut data = Vec::new();
    for (i, (name, dtype, shape, bytes)) in tensors.iter().enumerate() {
        let start = data.len() as u64;
        data.extend_from_slice(bytes);
        let mut end = data.len() as u64;
        if let Some((which, delta)) = lie {
            if which == i {
                end = end.wrapping_add(delta);
            }
        }
        header.insert(
            name.to_string(),
            serde_json::json!({"dtype": dtype, "shape": shape, "data_offsets": [start, end]}),
        );
    }
    let h = serde_json::to_vec(&serde_json::Value::Object(header)).unwrap();
    let mut out = (h.len() as u64).to_le_bytes().to_vec();
    out.extend(h);
    out.extend(data);
    out
}

fn gen_safetensors(rng: &mut Rng) -> Vec<u8> {
    const DTYPES: [(&str, usize); 8] = [
        ("F32", 4),
        ("F32", 4),
        ("F16", 2),
        ("BF16", 2),
        ("F64", 8),
        ("I32", 4),
        ("U8", 1),
        ("BOOL", 1),
    ];
    const NAMES: [&str; 6] = ["weight", "bias", "norm.mean", "norm.std", "weight", "extra"];
    let specials = [
        f32::NAN,
        f32::INFINITY,
        f32::NEG_INFINITY,
        f32::MAX,
        f32::MIN_POSITIVE / 2.0,
        -0.0,
        1e30,
    ];
    let n = 1 + rng.below(4);
    let mut tensors = Vec::new();
    for _ in 0..n {
        let name = *rng.pick(&NAMES);
        let (dtype, size) = *rng.pick(&DTYPES);
        let shape: Vec<u64> = match rng.below(5) {
            0 => vec![2, 12],
            1 => vec![2],
            2 => vec![12],
            3 => vec![],
            _ => (0..rng.below(4)).map(|_| rng.below(14) as u64).collect(),
        };
        let numel: u64 = shape.iter().product::<u64>().min(64);
        let mut bytes = Vec::new();
        for _ in 0..numel {
            let v: f32 = if rng.chance(6) {
                *rng.pick(&specials)
            } else {
                rng.below(1000) as f32 / 100.0 - 5.0
            };
            match size {
                4 => bytes.extend(v.to_le_bytes()),
                8 => bytes.extend(f64::from(v).to_le_bytes()),
                2 => bytes.extend(half::f16::from_f32(v).to_le_bytes()),
                _ => bytes.push(v as u8),
            }
        }
        if rng.chance(8) {
            bytes.truncate(rng.below(bytes.len() + 1));
        }
        tensors.push((name, dtype, shape, bytes));
    }
    // Usually the right names and shapes, with wrong values or dtypes.
    if rng.chance(2) {
        tensors.clear();
        let w: Vec<u8> = (0..24)
            .flat_map(|i| {
                let v = if rng.chance(10) {
                    *rng.pick(&specials)
                } else {
                    i as f32
                };
                v.to_le_bytes()
            })
            .collect();
        let b: Vec<u8> = [0.5f32, -0.5]
            .iter()
            .flat_map(|v| v.to_le_bytes())
            .collect();
        tensors.push(("weight", "F32", vec![2, 12], w));
        tensors.push(("bias", "F32", vec![2], b));
        if rng.chance(3) {
            let (dtype, _) = *rng.pick(&DTYPES);
            tensors[rng.below(2)].1 = dtype;
        }
    }
    let lie = rng.chance(5).then(|| {
        (
            rng.below(tensors.len()),
            *rng.pick(&[1u64, u64::MAX, 1 << 40, 4]),
        )
    });
    safetensors_bytes(&tensors, lie)
}

// ---- torch checkpoints: rezipped after mutating an entry -----------------------------------

fn unzip(bytes: &[u8]) -> Option<Vec<(String, Vec<u8>)>> {
    let mut z = zip::ZipArchive::new(std::io::Cursor::new(bytes)).ok()?;
    let mut out = Vec::new();
    for i in 0..z.len() {
        let mut f = z.by_index(i).ok()?;
        let mut data = Vec::new();
        f.read_to_end(&mut data).ok()?;
        let name = f.name().ok()?.to_string();
        out.push((name, data));
    }
    Some(out)
}

fn rezip(entries: &[(String, Vec<u8>)], deflate: bool) -> Vec<u8> {
    let mut w = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    let method = if deflate {
        zip::CompressionMethod::Deflated
    } else {
        zip::CompressionMethod::Stored
    };
    let opts = zip::write::SimpleFileOptions::default().compression_method(method);
    for (name, data) in entries {
        w.start_file(name.as_str(), opts).unwrap();
        w.write_all(data).unwrap();
    }
    w.finish().unwrap().into_inner()
}

const PICKLE_DICT: [&[u8]; 24] = [
    b"\x80\x02",
    b"ctorch._utils\n_rebuild_tensor_v2\n",
    b"ccollections\nOrderedDict\n",
    b"ctorch\nFloatStorage\n",
    b"ctorch\nHalfStorage\n",
    b"cos\nsystem\n",
    b"cbuiltins\neval\n",
    b"\x8c\x0bfused_layer",
    b"X\x05\x00\x00\x00storage",
    b"Q",
    b"R",
    b"b",
    b"(",
    b"t",
    b"}",
    b"]",
    b"K\x02",
    b"M\xff\xff",
    b"J\xff\xff\xff\x7f",
    b"\x8a\x08\xff\xff\xff\xff\xff\xff\xff\x7f",
    b"h\x01",
    b"q\x05",
    b"\x94",
    b".",
];

// ---- the feature store used by the index target ---------------------------------------------

fn store_layout() -> FeatureLayout {
    FeatureLayout::hidden(StateSpec::All.resolve(1).unwrap(), 4)
}

fn feed_problem(w: &mut FeatureWriter, p: u64) {
    let layout = store_layout();
    let width = layout.width();
    let n = 2 + (p % 2) as usize;
    w.begin(&layout, n).unwrap();
    for t in 0..3 {
        for c in 0..n {
            if c == 1 && t > 0 {
                continue;
            }
            let row: Vec<f32> = (0..width)
                .map(|j| (p * 100 + t * 10 + j as u64) as f32 * 0.5)
                .collect();
            w.token(c, t as usize, &row).unwrap();
        }
    }
    w.end().unwrap();
}

/// A store of 4 problems over two chunks; returns its files by name.
fn baseline_store() -> HashMap<String, Vec<u8>> {
    let dir = scratch();
    let mut w = FeatureWriter::create_or_resume(
        dir.path(),
        &store_layout(),
        &StoreOptions::new().with_chunk_limit(400),
    )
    .unwrap();
    for p in 0..4 {
        feed_problem(&mut w, p);
        w.commit_problem(p).unwrap();
    }
    drop(w);
    let root = dir.path().join("features");
    std::fs::read_dir(&root)
        .unwrap()
        .map(|e| {
            let e = e.unwrap();
            (
                e.file_name().to_string_lossy().into_owned(),
                std::fs::read(e.path()).unwrap(),
            )
        })
        .collect()
}

// ---- the targets ------------------------------------------------------------------------------

fn target(name: &str) -> Target {
    match name {
        "gguf" => Target {
            name: "gguf",
            dict: dict![
                b"GGUF",
                b"general.alignment",
                b"general.architecture",
                b"\x09\x00\x00\x00",
                b"\x08\x00\x00\x00"
            ],
            max_len: 1 << 16,
            run: Box::new(|input| {
                let r = swift_bon::gguf::check(std::io::Cursor::new(input), input.len() as u64);
                sig(&r, |s| format!("{} {}", s.n_kv, s.n_tensors))
            }),
            generate: None,
        },
        "head_yaml" => {
            let dir = scratch();
            let (_, st) = tiny_head_files();
            std::fs::write(dir.path().join("h.safetensors"), st).unwrap();
            Target {
                name: "head_yaml",
                dict: dict![
                    b"format_version: 1\n",
                    b"states: ",
                    b"width: ",
                    b"source: logits\n",
                    b"normalization: standardize\n",
                    b"gate: false\n",
                    b"n_layer: ",
                    b"n_embd: ",
                    b"!!binary",
                    b"&a [*a, *a]",
                    b"- ",
                    b": ",
                    b"\n  ",
                    b"0-2",
                    b"last:",
                    b"18446744073709551615",
                    b"~",
                    b"{",
                    b"\"",
                ],
                max_len: 1 << 14,
                run: Box::new(move |input| {
                    std::fs::write(dir.path().join("h.yaml"), input).unwrap();
                    let r = Head::load(dir.path().join("h"));
                    sig(&r, |h| format!("{} {}", h.rows(), h.width()))
                }),
                generate: None,
            }
        }
        "head_safetensors" => {
            let dir = scratch();
            let (yaml, _) = tiny_head_files();
            std::fs::write(dir.path().join("h.yaml"), yaml).unwrap();
            Target {
                name: "head_safetensors",
                dict: dict![
                    b"\"dtype\"",
                    b"\"F32\"",
                    b"\"F16\"",
                    b"\"shape\"",
                    b"\"data_offsets\"",
                    b"\"weight\"",
                    b"\"bias\"",
                    b"\"__metadata__\"",
                    b"[2,12]",
                    b"18446744073709551615",
                    b"\x00\x00\xc0\x7f",
                    b"\x00\x00\x80\x7f",
                    b"\x00\x00\x80\xff"
                ],
                max_len: 1 << 14,
                run: Box::new(move |input| {
                    std::fs::write(dir.path().join("h.safetensors"), input).unwrap();
                    let r = Head::load(dir.path().join("h"));
                    sig(&r, |h| format!("{} {}", h.rows(), h.width()))
                }),
                generate: Some(Box::new(|rng, _| gen_safetensors(rng))),
            }
        }
        "torch" => {
            let dir = scratch();
            let path = dir.path().join("c.pt");
            Target {
                name: "torch",
                dict: PICKLE_DICT.to_vec(),
                max_len: 1 << 15,
                run: Box::new(move |input| {
                    let _keep = &dir;
                    std::fs::write(&path, input).unwrap();
                    let r = swift_bon::head::read_torch_state_dict(&path);
                    sig(&r, |t| format!("{}", t.len()))
                }),
                generate: Some(Box::new(|rng, corpus| {
                    let base = rng.pick(corpus).clone();
                    let Some(mut entries) = unzip(&base) else {
                        return base;
                    };
                    if entries.is_empty() {
                        return base;
                    }
                    let i = rng.below(entries.len());
                    let pick_pkl = entries.iter().position(|(n, _)| n.ends_with("data.pkl"));
                    let i = if rng.chance(2) {
                        pick_pkl.unwrap_or(i)
                    } else {
                        i
                    };
                    kit::mutate(rng, &mut entries[i].1, &[], &PICKLE_DICT, 1 << 14);
                    if rng.chance(10) {
                        entries.remove(rng.below(entries.len()));
                    }
                    rezip(&entries, rng.chance(2))
                })),
            }
        }
        "jsonl" => {
            let dir = scratch();
            let path = dir.path().join("d.jsonl");
            let mut n = 0usize;
            Target {
                name: "jsonl",
                dict: dict![
                    b"{\"question\":",
                    b"\"answer\":",
                    b"\"problem\":",
                    b"#### ",
                    b"\\boxed{",
                    b"\"yes\"",
                    b"\"B\"",
                    b"null",
                    b"true",
                    b"1e400",
                    b"-0",
                    b"\n",
                    b"\r\n",
                    b"\xff\xfe",
                    b"[",
                    b"{}",
                    b"\"\\ud800\""
                ],
                max_len: 1 << 14,
                run: Box::new(move |input| {
                    let _keep = &dir;
                    std::fs::write(&path, input).unwrap();
                    n += 1;
                    let kind = AnswerKind::ALL[n % AnswerKind::ALL.len()];
                    let mut j = swift_bon::tasks::jsonl::JsonlSpec::new(&path, kind);
                    j.skip_invalid = n % 2 == 0;
                    j.offset = n % 3;
                    let a = swift_bon::tasks::jsonl::load(&j);
                    let f = swift_bon::tasks::FileSpec::new(&path);
                    let b = swift_bon::tasks::gsm8k::load(&f);
                    let c = swift_bon::tasks::math::load(&f);
                    format!(
                        "{} | {} | {}",
                        sig(&a, |p| p.len().to_string()),
                        sig(&b, |p| p.len().to_string()),
                        sig(&c, |p| p.len().to_string())
                    )
                }),
                generate: None,
            }
        }
        "task_spec" => Target {
            name: "task_spec",
            dict: dict![
                b"arithmetic:",
                b"coinflip:",
                b"gsm8k:",
                b"math:",
                b"jsonl:",
                b"count=",
                b"seed=",
                b"ops=",
                b"operands=",
                b"digits=",
                b"people=",
                b"path=",
                b"limit=",
                b"offset=",
                b"answer=",
                b"skip-invalid=",
                b"question-field=",
                b",",
                b"..",
                b"..=",
                b"-",
                b"{\"task\":",
                b"\"instruction\":",
                b"18446744073709551615",
                b"4294967295",
                b"0"
            ],
            max_len: 1 << 10,
            run: Box::new(|input| {
                let text = String::from_utf8_lossy(input);
                let r = text.parse::<TaskSpec>();
                if let Ok(spec) = &r {
                    // Every accepted spec prints to a form that parses back to itself.
                    let shown = spec.to_string();
                    let again: TaskSpec = shown.parse().unwrap_or_else(|e| {
                        panic!("{shown:?} (from {text:?}) does not parse back: {e}")
                    });
                    assert_eq!(&again, spec, "round trip through {shown:?}");
                    let json = serde_json::to_string(spec).unwrap();
                    let back: TaskSpec = serde_json::from_str(&json).unwrap();
                    assert_eq!(&back, spec, "JSON round trip through {json}");
                    // Small generated tasks are generated (large ones are the user's to ask for).
                    let small = match spec {
                        TaskSpec::Arithmetic(a) => a.count <= 32,
                        TaskSpec::Coinflip(c) => c.count <= 32,
                        _ => false,
                    };
                    if small {
                        let p = spec.problems();
                        return format!("gen {}", sig(&p, |p| p.len().to_string()));
                    }
                    let _ = spec.examples();
                }
                sig(&r, |s| s.name().to_string())
            }),
            generate: None,
        },
        "answers" => Target {
            name: "answers",
            dict: dict![
                b"The answer is ",
                b"\\boxed{",
                b"\\frac{",
                b"}{",
                b"}",
                b"\\dfrac",
                b"\\text{",
                b"\\left(",
                b"\\right)",
                b"\\sqrt",
                b"$",
                b"**",
                b"Yes",
                b"No",
                b"not ",
                b"isn't",
                b"(B)",
                b"1,000",
                b"3/4",
                b"0.750",
                b"-",
                b"^{",
                b"_",
                b"\\!",
                b"\\%",
                b"\xc3\xa9",
                b"\xe2\x88\x92",
                b"99999999999999999999999999999999999999999"
            ],
            max_len: 1 << 12,
            run: Box::new(|input| {
                let text = String::from_utf8_lossy(input);
                let mut out = String::new();
                for kind in AnswerKind::ALL {
                    let e = kind.extract(&text);
                    let n = kind.normalize(&text);
                    let j = kind.judge(&text, &text);
                    if let Some(a) = &e {
                        let _ = kind.judge(a, "42");
                    }
                    let bit = |b: bool| if b { 'y' } else { 'n' };
                    out.push_str(&format!(
                        "{}{}{} ",
                        bit(e.is_some()),
                        bit(n.is_some()),
                        bit(j)
                    ));
                }
                out
            }),
            generate: None,
        },
        "store_index" => {
            let base = baseline_store();
            let dir = scratch();
            let root = dir.path().join("features");
            let mut n = 0u64;
            Target {
                name: "store_index",
                dict: dict![b"SWBFIDX\0", b"\x01\x00\x00\x00"],
                max_len: 1 << 14,
                run: Box::new(move |input| {
                    let _ = std::fs::remove_dir_all(&root);
                    std::fs::create_dir_all(&root).unwrap();
                    for (name, bytes) in &base {
                        if name != "index.bin" {
                            std::fs::write(root.join(name), bytes).unwrap();
                        }
                    }
                    std::fs::write(root.join("index.bin"), input).unwrap();
                    n += 1;
                    let reader_before = FeatureStore::open(dir.path());
                    let w = FeatureWriter::resume(dir.path(), &store_layout());
                    let wsig = sig(&w, |w| w.n_problems().to_string());
                    if let Ok(mut w) = w {
                        if n % 4 == 0 {
                            let next = w.next_problem_index();
                            feed_problem(&mut w, next);
                            w.commit_problem(next).unwrap();
                        }
                    }
                    let r = FeatureStore::open(dir.path());
                    let rsig = sig(&r, |s| s.len().to_string());
                    if let Ok(s) = &r {
                        let _ = s.verify();
                        let mut rows = Vec::new();
                        for i in 0..s.len() {
                            let _ = s.read_rows(i, &mut rows);
                        }
                    }
                    // A reader opened before the writer recovered keeps reading (no SIGBUS).
                    if let Ok(s) = &reader_before {
                        let mut rows = Vec::new();
                        for i in 0..s.len() {
                            let _ = s.read_rows(i, &mut rows);
                        }
                    }
                    format!("{wsig} | {rsig}")
                }),
                generate: None,
            }
        }
        other => panic!("no target {other}"),
    }
}

fn budget() -> Duration {
    let secs: f64 = std::env::var("SWIFT_BON_FUZZ_SECS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(10.0);
    Duration::from_secs_f64(secs)
}

fn fuzz_one(name: &str) {
    let seed = std::env::var("SWIFT_BON_FUZZ_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(1);
    let stats = kit::fuzz(target(name), budget(), seed);
    assert!(
        stats.crashes.is_empty() && stats.slow.is_empty() && stats.big_allocs.is_empty(),
        "fuzz {name} found problems: {:#?}",
        (&stats.crashes, &stats.slow, &stats.big_allocs)
    );
}

/// Every committed corpus input, once through its target: no panic, no abort.
#[test]
fn committed_corpus_replays_cleanly() {
    for name in TARGETS {
        let stats = kit::fuzz(target(name), Duration::ZERO, 0);
        assert!(
            stats.crashes.is_empty() && stats.big_allocs.is_empty(),
            "{name}: {:#?}",
            (&stats.crashes, &stats.big_allocs)
        );
    }
}

macro_rules! fuzz_tests {
    ($($fn_name:ident => $target:literal),* $(,)?) => {$(
        #[test]
        #[ignore = "fuzzing; set SWIFT_BON_FUZZ_SECS and run with --ignored (see FUZZING.md)"]
        fn $fn_name() {
            fuzz_one($target);
        }
    )*};
}

fuzz_tests! {
    fuzz_gguf => "gguf",
    fuzz_head_yaml => "head_yaml",
    fuzz_head_safetensors => "head_safetensors",
    fuzz_torch => "torch",
    fuzz_jsonl => "jsonl",
    fuzz_task_spec => "task_spec",
    fuzz_answers => "answers",
    fuzz_store_index => "store_index",
}

// ---- the seed corpus --------------------------------------------------------------------------

fn gguf_seed(kvs: &[(&str, u32, Vec<u8>)], tensors: &[(&str, &[u64], u32, usize)]) -> Vec<u8> {
    let mut b = b"GGUF".to_vec();
    b.extend(3u32.to_le_bytes());
    b.extend((tensors.len() as u64).to_le_bytes());
    b.extend((kvs.len() as u64).to_le_bytes());
    let string = |b: &mut Vec<u8>, s: &[u8]| {
        b.extend((s.len() as u64).to_le_bytes());
        b.extend(s);
    };
    for (k, ty, v) in kvs {
        string(&mut b, k.as_bytes());
        b.extend(ty.to_le_bytes());
        b.extend(v);
    }
    let mut offset = 0u64;
    for (name, dims, ty, bytes) in tensors {
        string(&mut b, name.as_bytes());
        b.extend((dims.len() as u32).to_le_bytes());
        for d in *dims {
            b.extend(d.to_le_bytes());
        }
        b.extend(ty.to_le_bytes());
        b.extend(offset.to_le_bytes());
        offset += (*bytes as u64).next_multiple_of(32);
    }
    while b.len() % 32 != 0 {
        b.push(0);
    }
    b.extend(vec![0u8; offset as usize]);
    b
}

fn gguf_str(s: &str) -> Vec<u8> {
    let mut v = (s.len() as u64).to_le_bytes().to_vec();
    v.extend(s.as_bytes());
    v
}

/// Writes the seed corpus (run once; the files are committed).
#[test]
#[ignore = "writes tests/fuzz-corpus; run by hand when the seeds change"]
fn write_seed_corpus() {
    let put = |target: &str, name: &str, bytes: &[u8]| {
        let d = kit::corpus_dir(target);
        std::fs::create_dir_all(&d).unwrap();
        std::fs::write(d.join(name), bytes).unwrap();
    };
    // GGUF: every metadata type, nested arrays, three tensor types.
    let mut arr_str = 8u32.to_le_bytes().to_vec();
    arr_str.extend(2u64.to_le_bytes());
    arr_str.extend(gguf_str("a"));
    arr_str.extend(gguf_str("bc"));
    let mut arr_i32 = 5u32.to_le_bytes().to_vec();
    arr_i32.extend(3u64.to_le_bytes());
    for v in [1i32, -2, 3] {
        arr_i32.extend(v.to_le_bytes());
    }
    let mut nested = 9u32.to_le_bytes().to_vec();
    nested.extend(1u64.to_le_bytes());
    nested.extend(&arr_i32);
    let kvs = vec![
        ("general.architecture", 8, gguf_str("llama")),
        ("general.alignment", 4, 32u32.to_le_bytes().to_vec()),
        ("u8", 0, vec![7]),
        ("i16", 3, (-3i16).to_le_bytes().to_vec()),
        ("f32", 6, 1.5f32.to_le_bytes().to_vec()),
        ("bool", 7, vec![1]),
        ("u64", 10, 9u64.to_le_bytes().to_vec()),
        ("f64", 12, 2.5f64.to_le_bytes().to_vec()),
        ("tokenizer.ggml.tokens", 9, arr_str),
        ("ints", 9, arr_i32),
        ("nested", 9, nested),
    ];
    put(
        "gguf",
        "full.gguf",
        &gguf_seed(
            &kvs,
            &[
                ("a", &[8], 0, 32),
                ("b", &[32, 2], 8, 68),
                ("c", &[256], 12, 144),
            ],
        ),
    );
    put("gguf", "empty.gguf", &gguf_seed(&[], &[]));
    put(
        "gguf",
        "one.gguf",
        &gguf_seed(&kvs[..1], &[("w", &[4, 2], 1, 16)]),
    );

    // Heads: every variant's YAML; the gated rms head's safetensors.
    let dir = scratch();
    for (name, gate, norm) in [
        ("gated-rms", true, Normalization::Rms),
        ("nogate-none", false, Normalization::None),
        ("gated-std", true, Normalization::Standardize),
    ] {
        let (y, s) = tiny_head(gate, norm).save(dir.path().join(name)).unwrap();
        put(
            "head_yaml",
            &format!("{name}.yaml"),
            &std::fs::read(y).unwrap(),
        );
        if name == "gated-rms" {
            put(
                "head_safetensors",
                "gated-rms.safetensors",
                &std::fs::read(s).unwrap(),
            );
        }
    }
    let mut rng = Rng::new(7);
    for i in 0..4 {
        put(
            "head_safetensors",
            &format!("generated-{i}.safetensors"),
            &gen_safetensors(&mut rng),
        );
    }

    // Torch: the committed fixtures.
    let fixtures = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures");
    for e in std::fs::read_dir(&fixtures).unwrap() {
        let p: PathBuf = e.unwrap().path();
        if p.extension().is_some_and(|x| x == "pt") {
            put(
                "torch",
                p.file_name().unwrap().to_str().unwrap(),
                &std::fs::read(&p).unwrap(),
            );
        }
    }

    // JSONL rows.
    put("jsonl", "gsm8k.jsonl", b"{\"question\": \"What is 2 + 3?\", \"answer\": \"2 + 3 = 5\\n#### 5\"}\n{\"question\": \"Half of 1,000?\", \"answer\": \"#### 500\"}\n");
    put("jsonl", "math.jsonl", b"{\"problem\": \"Simplify $\\\\frac{2}{4}$.\", \"answer\": \"\\\\frac{1}{2}\"}\n\n{\"problem\": \"Interval?\", \"answer\": \"(0, \\\\infty)\"}\n");
    put("jsonl", "generic.jsonl", b"{\"question\": \"Is it?\", \"answer\": \"yes\"}\n{\"question\": \"Pick\", \"answer\": \"B\"}\n{\"question\": \"Num\", \"answer\": 12}\n");

    // Task specs.
    for (i, s) in [
        "arithmetic:count=20,seed=7,ops=+-*,operands=2..3,digits=1..2,negative=true",
        "coinflip:count=5,seed=1,people=2..4",
        "gsm8k:path=data/test.jsonl,offset=2,limit=500,skip-invalid=true",
        "math:path=m.jsonl",
        "jsonl:path=q.jsonl,answer=yes-no,question-field=q,answer-field=a",
        "{\"task\":\"arithmetic\",\"count\":10,\"ops\":[\"*\"],\"operands\":{\"min\":2,\"max\":2}}",
        "{\"task\":\"jsonl\",\"path\":\"x.jsonl\",\"answer\":\"number\",\"limit\":3,\"instruction\":\"Go.\"}",
    ]
    .iter()
    .enumerate()
    {
        put("task_spec", &format!("spec-{i}"), s.as_bytes());
    }

    // Answers.
    for (i, s) in [
        "So 17 + 25 = 42. The answer is 42.",
        "The answer is $\\boxed{\\frac{3}{4}}$.",
        "Final: \\boxed{1\\frac{4}{5}} and \\boxed{(1, 2]}",
        "Yes, the coin is still heads up.",
        "The coin is not heads up. So no.",
        "The answer is (C).",
        "I think it is 1,000.50 dollars, or -3/6.",
        "\\boxed{\\text{Monday}}",
    ]
    .iter()
    .enumerate()
    {
        put("answers", &format!("answer-{i}"), s.as_bytes());
    }

    // The store's index.
    let base = baseline_store();
    put("store_index", "index.bin", &base["index.bin"]);
    let idx = &base["index.bin"];
    put("store_index", "torn.bin", &idx[..idx.len() - 7]);
}

/// Runs the files named by `SWIFT_BON_FUZZ_REPLAY` (space-separated) through the target named
/// by `SWIFT_BON_FUZZ_TARGET`, timing each: to study what a fuzz run saved.
#[test]
#[ignore = "replays fuzz findings named by SWIFT_BON_FUZZ_REPLAY"]
fn replay() {
    let name = std::env::var("SWIFT_BON_FUZZ_TARGET").expect("SWIFT_BON_FUZZ_TARGET");
    let mut t = target(&name);
    for f in std::env::var("SWIFT_BON_FUZZ_REPLAY")
        .unwrap_or_default()
        .split_whitespace()
    {
        let input = std::fs::read(f).unwrap();
        let start = std::time::Instant::now();
        let sig = (t.run)(&input);
        eprintln!("{f}: {:?} -> {sig}", start.elapsed());
    }
}
