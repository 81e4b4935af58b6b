//! swift-bon: local Best-of-N reasoning with SWIFT.
//!
//! A small GGUF model samples N candidate answers in one batched decode; the hidden states of every
//! generated token are captured inline through llama.cpp's eval callback and scored by a SWIFT head
//! (one linear map giving each token a reward and a gate); the best candidate wins.
//!
//! Module map (data flows downward):
//! - [`engine`]: the only module that talks to llama.cpp: model loading, batched generation.
//! - [`capture`]: which graph tensors to read and how captured rows map to (candidate, token).
//! - [`bon`]: Best-of-N as one type: engine + head + prompt policy + selection + pruning.
//! - [`prune`]: early pruning policies on running SWIFT scores (online and offline).
//! - [`prompt`]: chat messages, template choice, prompt formats (pure types).
//! - [`features`]: state numbering, feature layout, and the [`features::FeatureSink`] interface.
//! - [`fetch`]: fetching and verifying the known small models.
//! - [`gguf`]: a bounds-checked walk over a GGUF header, before llama.cpp reads the file.
//! - [`weights`]: converting a known model into another weight format once (llama.cpp's own
//!   quantiser behind the [`weights::Converter`] trait), with a sidecar record.
//! - [`locate`]: where models are fetched and heads installed (the user's cache and data
//!   folders), so an installed binary works from any folder.
//! - [`heads`]: finding heads: shipped in the binary, installed by the user, or given as files.
//! - [`collect`]: resumable collection of labelled candidates and their features.
//! - [`dataset`]: candidate records and the f16 feature store.
//! - [`select`]: picking one candidate: random, oracle, majority, score argmax, SWIFT-weighted
//!   vote, and the ranking / scaling fusions of two scores.
//! - [`eval`]: Best-of-k accuracy per selector (first-k and the expectation over k-subsets),
//!   score AUCs, the JSON report, text tables and plots.
//! - [`tasks`]: problem sources (arithmetic, CoinFlip, GSM8K, MATH, any JSONL), prompts, and the
//!   answer extraction and judging that label candidates.
//! - [`head`]: the SWIFT head: per-token gate and reward, streaming scoring, head files, import
//!   of reference PyTorch checkpoints.
//! - [`train`]: training a head from stored features (losses, gradients, AdamW, early stopping).
//! - [`error_class`]: which errors are bad input, model errors or other (the exit codes).
//! - [`serve`]: the OpenAI-compatible surface of `swift-bon serve` (requests, errors, responses,
//!   streaming), without the HTTP stack.
//! - [`bench`]: benchmarks of inline capture and scoring against the alternatives.
#![warn(missing_docs)]

pub mod bench;
pub mod bon;
pub mod capture;
pub mod collect;
pub mod dataset;
pub mod engine;
pub mod error_class;
pub mod eval;
pub mod features;
pub mod fetch;
pub mod fsutil;
pub mod gguf;
pub mod head;
pub mod heads;
pub mod locate;
pub mod prompt;
pub mod prune;
pub mod rng;
pub mod select;
pub mod serve;
pub mod tasks;
pub mod train;
pub mod weights;
pub mod yaml;
