//! The llama.cpp engine: the only module that talks to `llama_cpp_2` / `llama_cpp_sys_2`; all
//! raw pointers are in one file, `ffi.rs`.
//!
//! [`Engine`] loads a GGUF model and generates N candidates for one prompt in one batched decode
//! per step, sharing the prompt's KV cache (a unified cache: copying sequence 0 to 1..N-1 is
//! metadata only), with inline capture of hidden states handed to a
//! [`FeatureSink`](crate::features::FeatureSink).
//!
//! Files: `mod.rs` loading and model facts, `prompt.rs` prompt text (chat templates, the
//! completion format for base models), `session.rs` the steerable batched generation,
//! `generate.rs` its options, results and one-call form, `finish.rs` why candidates stop,
//! `context.rs` the capturing context, `capture.rs` which capture backend a generation uses,
//! `ffi.rs` the model, context, batch, samplers and quantiser call owned through llama-cpp-sys-2
//! (and why), `logits.rs` per-token distribution statistics, `quantize.rs` conversion to another
//! weight format (llama.cpp's quantiser).
//!
//! `ffi` is private to the engine: safe code outside the crate cannot build a capture handle,
//! install its pointer into a context, and drop it while a context still uses it. Neither of
//! these compiles:
//! ```compile_fail,E0603
//! let _ = swift_bon::engine::ffi::ggml_version();
//! ```
//! ```compile_fail,E0603
//! use swift_bon::engine::ffi::CaptureHandle;
//! ```

mod capture;
mod context;
// The one file with raw pointers and `unsafe` (model, context, batch, samplers, eval callback,
// layer-input shim, quantiser call), each block with its SAFETY comment.
#[allow(unsafe_code)]
mod ffi;
mod finish;
mod generate;
pub mod logits;
mod prompt;
mod quantize;
mod session;

use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use llama_cpp_2::llama_backend::LlamaBackend;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

pub use capture::LAYER_INPUT_ARCHITECTURES;
pub use finish::FinishReason;
pub use generate::{
    candidate_seed, Candidate, FeatureRequest, GenerateOptions, Generation, GenerationTiming,
    Reencoding, SelfCheck, StepProgress,
};
pub use session::{CandidateEvent, Session, StepReport};
// The prompt types live in `crate::prompt` (no llama.cpp there); re-exported for callers of the
// engine.
pub use crate::prompt::{
    render_completion, ChatMessage, Prompt, PromptFormat, Role, TemplateChoice, COMPLETION_STOP,
};
pub use quantize::LlamaConverter;

use crate::capture::CaptureError;
use crate::features::{SinkError, StateSpecError};

/// Errors from the engine.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum EngineError {
    /// The model file does not exist.
    #[error("model file {0} does not exist")]
    ModelNotFound(PathBuf),
    /// The file is not a GGUF file.
    #[error("{path} is not a GGUF model file: {detail}")]
    NotGguf {
        /// File.
        path: PathBuf,
        /// What was found.
        detail: String,
    },
    /// llama.cpp refused to load the model.
    #[error("llama.cpp could not load {path} (corrupt, truncated, or an unsupported architecture; run with -v for llama.cpp's log)")]
    Load {
        /// File.
        path: PathBuf,
    },
    /// The llama.cpp backend failed to initialise.
    #[error("llama.cpp backend: {0}")]
    Backend(String),
    /// A context could not be created (usually out of memory for the requested size).
    #[error("could not create a llama.cpp context with {n_ctx} cells for {n_seq} sequences (out of memory?)")]
    Context {
        /// Cells requested.
        n_ctx: u32,
        /// Sequences requested.
        n_seq: u32,
    },
    /// An option is out of range.
    #[error("invalid {name} = {value}: {reason}")]
    InvalidOption {
        /// Option name.
        name: &'static str,
        /// Value given.
        value: String,
        /// What is allowed.
        reason: String,
    },
    /// The chat template could not be applied.
    #[error("chat template: {0}")]
    Template(String),
    /// The prompt does not fit the context.
    #[error("the prompt has {tokens} tokens but the context holds {limit} per sequence; shorten the prompt or raise --ctx-size")]
    PromptTooLong {
        /// Prompt tokens.
        tokens: usize,
        /// Context per sequence.
        limit: usize,
    },
    /// The prompt tokenised to nothing.
    #[error("the prompt is empty")]
    EmptyPrompt,
    /// `llama_decode` failed.
    #[error("llama_decode failed at step {step}: {detail}")]
    Decode {
        /// Decode step (0 = prompt).
        step: usize,
        /// llama.cpp's error.
        detail: String,
    },
    /// Hidden-state capture failed.
    #[error(transparent)]
    Capture(#[from] CaptureError),
    /// A layer specification does not fit the model.
    #[error(transparent)]
    States(#[from] StateSpecError),
    /// The feature sink returned an error (its cause is the `source()`).
    #[error("the feature consumer failed")]
    Sink(#[source] SinkError),
    /// Generation was cancelled through the cancel flag.
    #[error("cancelled")]
    Cancelled,
    /// I/O on the model file (the cause is the `source()`).
    #[error("cannot read model file {path}")]
    Io {
        /// File.
        path: PathBuf,
        /// Error.
        source: std::io::Error,
    },
}

/// The process-wide llama.cpp backend (llama.cpp allows one initialisation per process).
fn backend() -> Result<&'static LlamaBackend, EngineError> {
    static BACKEND: OnceLock<Result<LlamaBackend, String>> = OnceLock::new();
    BACKEND
        .get_or_init(|| {
            // llama.cpp's own log goes through `tracing` (stderr at -v, silent otherwise).
            llama_cpp_2::send_logs_to_tracing(llama_cpp_2::LogOptions::default());
            LlamaBackend::init().map_err(|e| e.to_string())
        })
        .as_ref()
        .map_err(|e| EngineError::Backend(e.clone()))
}

/// Facts about a loaded model.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ModelInfo {
    /// File it was loaded from.
    pub path: PathBuf,
    /// `general.architecture` (llama, gemma3, ...).
    pub architecture: String,
    /// `general.name`, if present.
    pub name: Option<String>,
    /// Transformer blocks (L). Hidden states are numbered 0..=L.
    pub n_layer: u32,
    /// Hidden size.
    pub n_embd: u32,
    /// Vocabulary size.
    pub n_vocab: u32,
    /// Training context length.
    pub n_ctx_train: u32,
    /// Parameters.
    pub n_params: u64,
    /// File size in bytes.
    pub file_size: u64,
    /// Whether the GGUF carries a chat template.
    pub has_chat_template: bool,
    /// A fingerprint of the file (see [`fingerprint`]).
    pub fingerprint: String,
}

impl ModelInfo {
    /// The identity a head records and is checked against.
    pub fn identity(&self) -> crate::head::ModelIdentity {
        crate::head::ModelIdentity {
            architecture: self.architecture.clone(),
            n_layer: self.n_layer,
            n_embd: self.n_embd,
            n_vocab: self.n_vocab,
            fingerprint: self.fingerprint.clone(),
        }
    }
}

/// A loaded model.
pub struct Engine {
    model: ffi::Model,
    info: ModelInfo,
    /// Outcome of the one-time check that the layer-input backend reproduces the callback's
    /// rows on this model (see `capture.rs`).
    layer_input_probe: OnceLock<Result<(), String>>,
}

impl std::fmt::Debug for Engine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Engine")
            .field("info", &self.info)
            .finish_non_exhaustive()
    }
}

impl Engine {
    /// Loads a GGUF model. Cheap checks (existence, GGUF magic) come first so that a wrong path
    /// gives a clear message instead of llama.cpp's log.
    pub fn load(path: impl AsRef<Path>) -> Result<Self, EngineError> {
        let path = path.as_ref();
        let file_size = check_gguf(path)?;
        let fingerprint = fingerprint(path).map_err(|source| EngineError::Io {
            path: path.into(),
            source,
        })?;
        backend()?;
        let model =
            ffi::Model::load(path).ok_or_else(|| EngineError::Load { path: path.into() })?;
        let architecture = model
            .meta_val_str("general.architecture")
            .unwrap_or_else(|| "unknown".into());
        let name = model.meta_val_str("general.name");
        let info = ModelInfo {
            path: path.to_path_buf(),
            architecture,
            name,
            n_layer: model.n_layer(),
            n_embd: u32::try_from(model.n_embd()).unwrap_or(0),
            n_vocab: u32::try_from(model.n_vocab()).unwrap_or(0),
            n_ctx_train: model.n_ctx_train(),
            n_params: model.n_params(),
            file_size,
            has_chat_template: model.chat_template().is_some(),
            fingerprint,
        };
        if info.n_layer == 0 || info.n_embd == 0 || info.n_vocab == 0 {
            return Err(EngineError::NotGguf {
                path: path.into(),
                detail: format!(
                    "llama.cpp reports {} layers, hidden size {}, vocabulary {}",
                    info.n_layer, info.n_embd, info.n_vocab
                ),
            });
        }
        Ok(Self {
            model,
            info,
            layer_input_probe: OnceLock::new(),
        })
    }

    /// Facts about the model.
    pub fn info(&self) -> &ModelInfo {
        &self.info
    }

    /// Tokenises prompt text, parsing special tokens and adding BOS when the model wants one
    /// (without doubling a BOS that the template already wrote).
    pub fn tokenize(&self, text: &str) -> Result<Vec<i32>, EngineError> {
        let mut ids = self.model.tokenize(text.as_bytes(), true, true);
        // A template that writes the BOS text itself, plus llama.cpp adding one, gives two.
        let bos = self.model.bos();
        if ids.len() >= 2 && ids[0] == bos && ids[1] == bos {
            ids.remove(0);
        }
        Ok(ids)
    }

    /// Text of tokens, without special tokens; invalid UTF-8 is replaced.
    pub fn detokenize(&self, tokens: &[i32]) -> String {
        let mut bytes = Vec::with_capacity((tokens.len() * 2).max(8));
        self.model.detokenize_into(tokens, &mut bytes, false, false);
        String::from_utf8_lossy(&bytes).into_owned()
    }

    /// Appends the text bytes of one token (no special-token text) to `out`.
    pub(crate) fn piece_into(&self, token: i32, out: &mut Vec<u8>) {
        self.model.detokenize_into(&[token], out, false, false);
    }

    /// Whether `token` ends generation.
    pub fn is_eog(&self, token: i32) -> bool {
        self.model.is_eog(token)
    }

    pub(crate) fn model(&self) -> &ffi::Model {
        &self.model
    }
}

/// Checks the file exists and starts with the GGUF magic; returns its size.
fn check_gguf(path: &Path) -> Result<u64, EngineError> {
    let meta = std::fs::metadata(path).map_err(|_| EngineError::ModelNotFound(path.into()))?;
    if !meta.is_file() {
        return Err(EngineError::ModelNotFound(path.into()));
    }
    let mut magic = [0u8; 4];
    let mut f = File::open(path).map_err(|source| EngineError::Io {
        path: path.into(),
        source,
    })?;
    if f.read_exact(&mut magic).is_err() || &magic != b"GGUF" {
        return Err(EngineError::NotGguf {
            path: path.into(),
            detail: format!("it starts with {magic:?}, not \"GGUF\""),
        });
    }
    Ok(meta.len())
}

/// A fast fingerprint of a model file: sha256 over its size, its first 4 MiB (header, metadata,
/// tensor table) and its last 4 MiB (tensor data). It tells models apart (different
/// architecture, quantisation, fine-tune) without hashing gigabytes at every start.
pub fn fingerprint(path: &Path) -> std::io::Result<String> {
    const SPAN: u64 = 4 << 20;
    let mut f = File::open(path)?;
    let len = f.metadata()?.len();
    let mut h = Sha256::new();
    h.update(len.to_le_bytes());
    let mut buf = vec![0u8; SPAN.min(len) as usize];
    f.read_exact(&mut buf)?;
    h.update(&buf);
    if len > SPAN {
        let start = len.saturating_sub(SPAN).max(SPAN);
        f.seek(SeekFrom::Start(start))?;
        buf.clear();
        f.take(SPAN).read_to_end(&mut buf)?;
        h.update(&buf);
    }
    Ok(format!(
        "sha256-ends-v1:{}",
        &crate::fetch::hex(&h.finalize())[..32]
    ))
}

/// Version facts for `doctor` and head metadata.
pub fn versions() -> Versions {
    Versions {
        swift_bon: env!("CARGO_PKG_VERSION"),
        git: env!("SWIFT_BON_GIT_HASH"),
        llama_cpp_sys_2: env!("SWIFT_BON_LLAMA_SYS_VERSION"),
        ggml: ffi::ggml_version(),
    }
}

/// Version facts.
#[derive(Debug, Clone, Serialize)]
pub struct Versions {
    /// This crate.
    pub swift_bon: &'static str,
    /// Git commit it was built from.
    pub git: &'static str,
    /// llama-cpp-sys-2 (fixes the vendored llama.cpp).
    pub llama_cpp_sys_2: &'static str,
    /// ggml version and commit as compiled.
    pub ggml: String,
}
