//! Generation options, the candidates a generation returns, and the one-call
//! [`Engine::generate`] (a loop over a [`super::Session`]); also the teacher-forced re-encode and
//! the capture self-check.

use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde::Serialize;

use super::context::{CapturingContext, ContextShape, TapSpec};
use super::ffi::{Batch, Sampler};
use super::{Engine, EngineError, FinishReason};
use crate::capture::{BackendDecision, CaptureChoice, CapturePlan};
use crate::features::{EosRule, FeatureLayout, FeatureSink, StateSelection, StateSpec};
use crate::prompt::PromptInput;
use crate::rng::Rng;

/// llama.cpp's limit on parallel sequences.
const MAX_SEQUENCES: usize = 256;

/// Tokens per decode call (at least N).
pub(super) const MAX_BATCH: u32 = 512;

/// Which features to capture.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum FeatureRequest {
    /// None: plain generation.
    #[default]
    None,
    /// Hidden states of these states.
    Hidden(StateSpec),
    /// Full-vocabulary logits.
    Logits,
}

/// Options of one generation.
#[derive(Debug, Clone)]
#[must_use]
pub struct GenerateOptions {
    /// Candidates (N).
    pub n: usize,
    /// Token limit per candidate, including the end-of-generation token.
    pub max_tokens: usize,
    /// Sampling temperature; 0 = greedy.
    pub temperature: f32,
    /// Top-k (0 = off).
    pub top_k: i32,
    /// Top-p (1 = off).
    pub top_p: f32,
    /// Base seed; candidate c uses [`candidate_seed`]`(seed, c)` unless `seeds` is given.
    pub seed: u64,
    /// Explicit per-candidate seeds (length N), overriding `seed`.
    pub seeds: Option<Vec<u64>>,
    /// Which tokens carry features.
    pub eos: EosRule,
    /// Stop strings: a candidate whose text comes to contain one ends there, like at its
    /// end-of-generation token (the token that completed the string plays that role for
    /// [`EosRule`]); its text is cut before the string. Empty: only end-of-generation tokens
    /// and the token limit stop.
    pub stop: Vec<String>,
    /// What to capture.
    pub features: FeatureRequest,
    /// Which backend captures hidden states (see [`CaptureChoice`]).
    pub capture: CaptureChoice,
    /// Micro-batch size (default: the batch size, at least N).
    pub n_ubatch: Option<u32>,
    /// CPU threads (default: available cores).
    pub n_threads: Option<i32>,
    /// Context length per sequence (default: the model's training context).
    pub ctx_per_seq: Option<u32>,
    /// Set to true from another thread to stop generation with [`EngineError::Cancelled`].
    pub cancel: Option<Arc<AtomicBool>>,
}

impl Default for GenerateOptions {
    fn default() -> Self {
        Self {
            n: 8,
            max_tokens: 512,
            temperature: 0.8,
            top_k: 40,
            top_p: 0.95,
            seed: 42,
            seeds: None,
            eos: EosRule::Include,
            stop: Vec::new(),
            features: FeatureRequest::None,
            capture: CaptureChoice::Auto,
            n_ubatch: None,
            n_threads: None,
            ctx_per_seq: None,
            cancel: None,
        }
    }
}

impl GenerateOptions {
    /// Defaults with `n` candidates.
    pub fn new(n: usize) -> Self {
        Self {
            n,
            ..Self::default()
        }
    }
    /// Candidates (N).
    pub fn with_n(mut self, n: usize) -> Self {
        self.n = n;
        self
    }
    /// Token limit.
    pub fn with_max_tokens(mut self, m: usize) -> Self {
        self.max_tokens = m;
        self
    }
    /// Temperature.
    pub fn with_temperature(mut self, t: f32) -> Self {
        self.temperature = t;
        self
    }
    /// Top-k.
    pub fn with_top_k(mut self, k: i32) -> Self {
        self.top_k = k;
        self
    }
    /// Top-p.
    pub fn with_top_p(mut self, p: f32) -> Self {
        self.top_p = p;
        self
    }
    /// Base seed.
    pub fn with_seed(mut self, s: u64) -> Self {
        self.seed = s;
        self
    }
    /// Explicit per-candidate seeds.
    pub fn with_seeds(mut self, seeds: Vec<u64>) -> Self {
        self.seeds = Some(seeds);
        self
    }
    /// EOS rule.
    pub fn with_eos(mut self, e: EosRule) -> Self {
        self.eos = e;
        self
    }
    /// Stop strings (see [`GenerateOptions::stop`]).
    pub fn with_stop(mut self, stop: Vec<String>) -> Self {
        self.stop = stop;
        self
    }
    /// Adds stop strings not already present (e.g. [`Engine::stop_strings`] of the prompt
    /// format to a user's own).
    pub fn with_extra_stop(mut self, stop: impl IntoIterator<Item = String>) -> Self {
        for s in stop {
            if !self.stop.contains(&s) {
                self.stop.push(s);
            }
        }
        self
    }
    /// Features to capture.
    pub fn with_features(mut self, f: FeatureRequest) -> Self {
        self.features = f;
        self
    }
    /// Capture backend.
    pub fn with_capture(mut self, c: CaptureChoice) -> Self {
        self.capture = c;
        self
    }
    /// Micro-batch size.
    pub fn with_n_ubatch(mut self, u: u32) -> Self {
        self.n_ubatch = Some(u);
        self
    }
    /// Threads.
    pub fn with_threads(mut self, t: i32) -> Self {
        self.n_threads = Some(t);
        self
    }
    /// Context per sequence.
    pub fn with_ctx_per_seq(mut self, c: u32) -> Self {
        self.ctx_per_seq = Some(c);
        self
    }
    /// Cancel flag.
    pub fn with_cancel(mut self, flag: Arc<AtomicBool>) -> Self {
        self.cancel = Some(flag);
        self
    }

    /// Seed of candidate `c`.
    pub fn seed_of(&self, c: usize) -> u64 {
        match &self.seeds {
            Some(s) => s[c],
            None => candidate_seed(self.seed, c),
        }
    }

    pub(super) fn validate(&self) -> Result<(), EngineError> {
        let bad = |name, value: String, reason: &str| {
            Err(EngineError::InvalidOption {
                name,
                value,
                reason: reason.into(),
            })
        };
        if self.n == 0 || self.n > MAX_SEQUENCES {
            return bad("n", self.n.to_string(), "must be between 1 and 256");
        }
        if self.max_tokens == 0 {
            return bad("max_tokens", "0".into(), "must be at least 1");
        }
        if !(self.temperature >= 0.0 && self.temperature.is_finite()) {
            return bad("temperature", self.temperature.to_string(), "must be >= 0");
        }
        if !(self.top_p > 0.0 && self.top_p <= 1.0) {
            return bad("top_p", self.top_p.to_string(), "must be in (0, 1]");
        }
        if self.top_k < 0 {
            return bad("top_k", self.top_k.to_string(), "must be >= 0 (0 = off)");
        }
        if let Some(s) = &self.seeds {
            if s.len() != self.n {
                return bad(
                    "seeds",
                    format!("{} seeds", s.len()),
                    "need exactly one seed per candidate",
                );
            }
        }
        if self.stop.iter().any(String::is_empty) {
            return bad("stop", "\"\"".into(), "stop strings must not be empty");
        }
        if self.n_ubatch == Some(0) {
            return bad("n_ubatch", "0".into(), "must be at least 1");
        }
        if matches!(self.n_threads, Some(t) if t < 1) {
            return bad(
                "threads",
                format!("{:?}", self.n_threads),
                "must be at least 1",
            );
        }
        Ok(())
    }
}

/// Seed of candidate `c` for base seed `base`: independent streams per candidate, so a candidate
/// samples the same tokens whether it runs alone or in a batch.
pub fn candidate_seed(base: u64, c: usize) -> u64 {
    Rng::derive(base, c as u64).next_u64()
}

/// One generated candidate.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Candidate {
    /// Index within the generation.
    pub index: usize,
    /// Its sampler's seed.
    pub seed: u64,
    /// Generated token ids, including the end-of-generation token if one was produced.
    pub tokens: Vec<i32>,
    /// Generated text, without special tokens.
    pub text: String,
    /// Log-probability of each generated token under the full distribution (temperature 1).
    pub token_logprobs: Vec<f32>,
    /// Entropy of the distribution each token was sampled from (nats).
    pub token_entropy: Vec<f32>,
    /// Self-certainty KL(U || p) of that distribution (nats).
    pub token_self_certainty: Vec<f32>,
    /// Why it stopped.
    pub finish: FinishReason,
    /// Feature rows delivered to the sink.
    pub n_covered: usize,
    /// Tokens fed to the model after the prompt (its share of the decode work; equals
    /// `n_covered` when features are captured).
    pub n_fed: usize,
}

impl Candidate {
    /// Mean log-probability of the generated tokens.
    pub fn mean_logprob(&self) -> f64 {
        mean(&self.token_logprobs)
    }
    /// Mean self-certainty.
    pub fn mean_self_certainty(&self) -> f64 {
        mean(&self.token_self_certainty)
    }
}

fn mean(v: &[f32]) -> f64 {
    if v.is_empty() {
        f64::NAN
    } else {
        v.iter().map(|&x| f64::from(x)).sum::<f64>() / v.len() as f64
    }
}

/// Wall-clock split of a generation.
#[derive(Debug, Clone, Copy, Default, Serialize)]
pub struct GenerationTiming {
    /// Prompt decode.
    pub prefill: Duration,
    /// All generation steps (decode, capture, sampling, sink).
    pub generate: Duration,
    /// Decode steps after the prompt.
    pub steps: usize,
    /// Tokens fed in those steps.
    pub fed_tokens: usize,
}

/// Reported after each decode step.
#[derive(Debug, Clone, Copy)]
pub struct StepProgress {
    /// Steps so far.
    pub step: usize,
    /// Candidates fed in this step.
    pub live: usize,
    /// Tokens fed so far.
    pub fed_tokens: usize,
}

/// The result of [`Engine::generate`].
#[derive(Debug, Clone, Serialize)]
pub struct Generation {
    /// Candidates in index order.
    pub candidates: Vec<Candidate>,
    /// Prompt length in tokens.
    pub prompt_tokens: usize,
    /// Layout of the features delivered to the sink, if any.
    pub layout: Option<FeatureLayout>,
    /// The capture backend used, and why.
    pub capture: BackendDecision,
    /// Timing.
    pub timing: GenerationTiming,
}

impl Engine {
    /// Resolves a feature request against this model.
    pub fn feature_layout(
        &self,
        req: &FeatureRequest,
    ) -> Result<Option<FeatureLayout>, EngineError> {
        Ok(match req {
            FeatureRequest::None => None,
            FeatureRequest::Hidden(spec) => Some(FeatureLayout::hidden(
                spec.resolve(self.info.n_layer)?,
                self.info.n_embd,
            )),
            FeatureRequest::Logits => Some(FeatureLayout::logits(self.info.n_vocab)),
        })
    }

    /// Generates `opts.n` candidates for `prompt` (a [`crate::prompt::Prompt`] or templated
    /// text), delivering the features of every covered token to `sink`.
    pub fn generate<P: PromptInput + ?Sized>(
        &self,
        prompt: &P,
        opts: &GenerateOptions,
        sink: &mut dyn FeatureSink,
    ) -> Result<Generation, EngineError> {
        self.generate_with_progress(prompt, opts, sink, &mut |_| {})
    }

    /// [`Engine::generate`], calling `progress` after every decode step.
    pub fn generate_with_progress<P: PromptInput + ?Sized>(
        &self,
        prompt: &P,
        opts: &GenerateOptions,
        sink: &mut dyn FeatureSink,
        progress: &mut dyn FnMut(StepProgress),
    ) -> Result<Generation, EngineError> {
        let mut session = self.start(prompt, opts, sink)?;
        loop {
            let report = session.step()?;
            if report.done {
                break;
            }
            progress(StepProgress {
                step: report.step,
                live: report.live,
                fed_tokens: report.fed_tokens,
            });
        }
        session.finish()
    }
}

/// Byte offset of the earliest occurrence of any of `stops` in `text`.
pub(super) fn first_stop(text: &[u8], stops: &[String]) -> Option<usize> {
    stops
        .iter()
        .filter_map(|s| {
            let s = s.as_bytes();
            text.windows(s.len()).position(|w| w == s)
        })
        .min()
}

pub(super) fn make_sampler(opts: &GenerateOptions, seed: u64) -> Sampler {
    if opts.temperature == 0.0 {
        return Sampler::greedy();
    }
    let seed32 = (seed ^ (seed >> 32)) as u32;
    Sampler::chain(
        (opts.top_k > 0).then_some(opts.top_k),
        (opts.top_p < 1.0).then_some(opts.top_p),
        opts.temperature,
        seed32,
    )
}

pub(super) fn decode_err(step: usize, e: impl std::fmt::Display) -> EngineError {
    EngineError::Decode {
        step,
        detail: e.to_string(),
    }
}

/// Available cores.
pub(crate) fn default_threads() -> i32 {
    std::thread::available_parallelism().map_or(4, |n| n.get() as i32)
}

/// Features of a teacher-forced re-encode (see [`Engine::reencode`]).
#[derive(Debug, Clone)]
pub struct Reencoding {
    /// Row-major feature rows of the covered positions.
    pub rows: Vec<f32>,
    /// Floats per row.
    pub width: usize,
    /// `llama_get_embeddings_ith` for the same positions (when asked).
    pub embeddings: Option<Vec<f32>>,
}

impl Engine {
    /// Re-encodes `tokens` in a fresh context in one pass (teacher forcing, every position an
    /// output) and returns the feature rows of positions `from..tokens.len()`. This is the
    /// reference implementation's second pass; it is the independent path that tests compare the
    /// inline capture against, and the baseline the benchmark compares inline scoring with.
    pub fn reencode(
        &self,
        tokens: &[i32],
        from: usize,
        selection: &StateSelection,
        with_embeddings: bool,
        n_ubatch: Option<u32>,
    ) -> Result<Reencoding, EngineError> {
        let len = tokens.len();
        if len == 0 || from >= len {
            return Err(EngineError::EmptyPrompt);
        }
        let plan = CapturePlan::new(selection, self.info.n_embd as usize);
        let width = plan.width();
        let n_batch = len as u32;
        let shape = ContextShape {
            n_ctx: (len.div_ceil(256) * 256) as u32,
            n_batch,
            n_ubatch: n_ubatch.unwrap_or(n_batch).min(n_batch),
            n_seq: 1,
            n_threads: default_threads(),
            embeddings: with_embeddings,
            kv_per_sequence: false,
        };
        let mut cc = CapturingContext::new(self, shape, TapSpec::Callback(plan))?;
        let mut batch = Batch::new(len, 1);
        for (p, &t) in tokens.iter().enumerate() {
            batch
                .add(t, p as i32, &[0], true)
                .map_err(|e| decode_err(0, e))?;
        }
        cc.decode(&batch, Some(len), 0)?;
        let mut rows = Vec::with_capacity((len - from) * width);
        let st = cc
            .capture_state()
            .expect("a callback context has a capture state");
        for p in from..len {
            st.row_into(p, &mut rows);
        }
        let embeddings = if with_embeddings {
            let mut e = Vec::new();
            for p in from..len {
                let row = cc.ctx().embeddings_ith(p as i32).ok_or_else(|| {
                    decode_err(0, "Embeddings weren't enabled in the context options")
                })?;
                e.extend_from_slice(row);
            }
            Some(e)
        } else {
            None
        };
        Ok(Reencoding {
            rows,
            width,
            embeddings,
        })
    }
}

/// Result of [`Engine::capture_self_check`].
#[derive(Debug, Clone, Serialize)]
pub struct SelfCheck {
    /// Tokens decoded.
    pub tokens: usize,
    /// States captured per token (L+1).
    pub states: usize,
    /// Floats per token.
    pub width: usize,
    /// Eval-callback `ask` calls in the decode (graph nodes offered).
    pub graph_nodes: usize,
    /// Root-mean-square of each state, averaged over tokens (how magnitudes grow with depth).
    pub state_rms: Vec<f64>,
    /// Wall time of the decode.
    pub elapsed: Duration,
}

impl Engine {
    /// Decodes a short text once with every state captured, verifying that each state's graph
    /// tensor arrives with the right shape and type and that all values are finite.
    pub fn capture_self_check(&self) -> Result<SelfCheck, EngineError> {
        let selection = StateSpec::All.resolve(self.info.n_layer)?;
        let n_embd = self.info.n_embd as usize;
        let plan = CapturePlan::new(&selection, n_embd);
        let width = plan.width();
        let CheckDecode { mut cc, batch, len } = self.check_decode(plan)?;
        let t0 = Instant::now();
        cc.decode(&batch, Some(len), 0)?;
        let elapsed = t0.elapsed();
        let st = cc
            .capture_state()
            .expect("a callback context has a capture state");
        let mut state_rms = vec![0f64; selection.len()];
        for p in 0..len {
            for (s, rms) in state_rms.iter_mut().enumerate() {
                let seg = st.segment(s, p);
                if seg.iter().any(|x| !x.is_finite()) {
                    return Err(EngineError::Capture(crate::capture::CaptureError::Layout {
                        name: format!("state {}", selection.states()[s]),
                        detail: "non-finite values".into(),
                    }));
                }
                let ms = seg
                    .iter()
                    .map(|&x| f64::from(x) * f64::from(x))
                    .sum::<f64>()
                    / n_embd as f64;
                *rms += ms.sqrt() / len as f64;
            }
        }
        Ok(SelfCheck {
            tokens: len,
            states: selection.len(),
            width,
            graph_nodes: st.asks(),
            state_rms,
            elapsed,
        })
    }
}

/// A context capturing every state through the eval callback, and a batch holding
/// [`CHECK_TEXT`] with an output on every token, not yet decoded: the self-check and the
/// layer-input probe decode the same text.
pub(super) struct CheckDecode<'m> {
    pub cc: CapturingContext<'m>,
    pub batch: Batch,
    /// Tokens of the text.
    pub len: usize,
}

/// The text the self-check and the layer-input probe decode.
const CHECK_TEXT: &str = "The capital of France is Paris. Two plus two is";

impl Engine {
    /// See [`CheckDecode`].
    pub(super) fn check_decode(&self, plan: CapturePlan) -> Result<CheckDecode<'_>, EngineError> {
        let tokens = self.tokenize(CHECK_TEXT)?;
        let len = tokens.len();
        let shape = ContextShape {
            n_ctx: 256,
            n_batch: len as u32,
            n_ubatch: len as u32,
            n_seq: 1,
            n_threads: default_threads(),
            embeddings: false,
            kv_per_sequence: false,
        };
        let cc = CapturingContext::new(self, shape, TapSpec::Callback(plan))?;
        let mut batch = Batch::new(len, 1);
        for (p, &t) in tokens.iter().enumerate() {
            batch
                .add(t, p as i32, &[0], true)
                .map_err(|e| decode_err(0, e))?;
        }
        Ok(CheckDecode { cc, batch, len })
    }
}

#[cfg(test)]
mod tests {
    use super::first_stop;

    #[test]
    fn first_stop_finds_the_earliest_of_several() {
        let stops = vec!["\nQuestion:".to_string(), "###".to_string()];
        assert_eq!(first_stop(b"7.\nQuestion: x ###", &stops), Some(2));
        assert_eq!(first_stop(b"### 7.\nQuestion:", &stops), Some(0));
        assert_eq!(first_stop(b"7.\nQuestion", &stops), None);
        assert_eq!(first_stop(b"", &stops), None);
        assert_eq!(first_stop(b"abc", &[]), None);
    }
}
