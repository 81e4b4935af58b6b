//! Shared helpers for model tests: the two small GGUF models, fetched once by pip into the
//! crate's `models/` folder (the only network access tests make).
#![allow(dead_code)]

use std::path::PathBuf;
use std::sync::{Mutex, MutexGuard};

use swift_bon::fetch::{self, KnownModel};

static FETCH_LOCK: Mutex<()> = Mutex::new(());
static MODEL_LOCK: Mutex<()> = Mutex::new(());

/// Model tests take this first: llama.cpp's worker threads spin while waiting, so two models
/// decoding at once on a small machine slow each other down many times over.
pub fn serial() -> MutexGuard<'static, ()> {
    MODEL_LOCK.lock().unwrap_or_else(|e| e.into_inner())
}

/// Folder the models are fetched into.
pub fn models_dir() -> PathBuf {
    std::env::var_os(fetch::MODELS_DIR_ENV)
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("models"))
}

/// Path of a known model, fetching it on first use.
pub fn model(known: &KnownModel) -> PathBuf {
    let _guard = FETCH_LOCK.lock().unwrap_or_else(|e| e.into_inner());
    fetch::ensure_model(&models_dir(), known, &mut |m| eprintln!("{m}"))
        .unwrap_or_else(|e| panic!("could not fetch test model {}: {e}", known.name))
}

/// The default model in its default weight format (converted from the fetched original on
/// first use, beside it), the file `ask` loads and the shipped heads were trained on.
pub fn smollm2() -> PathBuf {
    let original = model(&fetch::SMOLLM2_135M);
    let format = swift_bon::weights::default_format(&fetch::SMOLLM2_135M);
    let _guard = FETCH_LOCK.lock().unwrap_or_else(|e| e.into_inner());
    let dir = original.parent().expect("a model file has a folder");
    swift_bon::weights::ensure_weights(
        dir,
        &fetch::SMOLLM2_135M,
        format,
        &swift_bon::engine::LlamaConverter::new(),
        &mut |m| eprintln!("{m}"),
    )
    .unwrap_or_else(|e| panic!("could not convert the test model to {format}: {e}"))
}

/// The default model's published file (Q4_1), as fetched.
pub fn smollm2_original() -> PathBuf {
    model(&fetch::SMOLLM2_135M)
}

/// The second model (gemma3, no chat template).
pub fn gemma3() -> PathBuf {
    model(&fetch::GEMMA3_270M)
}

/// Largest |a-b| / (1 + |b|) over two equal-length slices.
pub fn max_rel_diff(a: &[f32], b: &[f32]) -> f32 {
    assert_eq!(a.len(), b.len(), "length mismatch");
    a.iter()
        .zip(b)
        .map(|(x, y)| (x - y).abs() / (1.0 + y.abs()))
        .fold(0.0, f32::max)
}
