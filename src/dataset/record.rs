//! One line of `candidates.jsonl`: everything known about one sampled candidate except its
//! feature rows (those live in the feature store, keyed by the same (problem, candidate) pair).

use serde::{Deserialize, Serialize};

pub use crate::engine::FinishReason;

/// A labelled candidate.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CandidateRecord {
    /// Problem identifier from the task (stable across runs).
    pub problem_id: String,
    /// 0-based index of the problem in this collection (the feature store's key).
    pub problem_index: u64,
    /// 0-based index of the candidate within its problem (its sampling order).
    pub candidate: u32,
    /// Seed of this candidate's sampler.
    pub seed: u64,
    /// Generated text (without the end-of-generation token).
    pub text: String,
    /// Final answer extracted by the task's checker, normalised; `None` when none was found.
    pub answer: Option<String>,
    /// Whether `answer` is judged correct.
    pub correct: bool,
    /// Generated tokens, including the end-of-generation token when one was produced.
    pub n_tokens: u32,
    /// Feature rows stored for this candidate (covered tokens; see `features::EosRule`).
    pub n_covered: u32,
    /// Why generation stopped.
    pub finish: FinishReason,
    /// Mean over generated tokens of the log-probability of the sampled token under the model's
    /// full-vocabulary distribution (temperature 1, before any truncation).
    pub mean_logprob: f64,
    /// Per-token log-probability of each generated token.
    pub token_logprobs: Vec<f32>,
    /// Per-token entropy of the full distribution (nats), when collected with `--entropy`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token_entropy: Option<Vec<f32>>,
    /// Per-token self-certainty term KL(uniform || p) (nats), when collected with `--entropy`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token_self_certainty: Option<Vec<f32>>,
}

impl CandidateRecord {
    /// Mean self-certainty over tokens (Kang et al. 2025), if collected.
    pub fn self_certainty(&self) -> Option<f64> {
        mean(self.token_self_certainty.as_deref()?)
    }

    /// Mean entropy over tokens, if collected.
    pub fn mean_entropy(&self) -> Option<f64> {
        mean(self.token_entropy.as_deref()?)
    }
}

fn mean(v: &[f32]) -> Option<f64> {
    if v.is_empty() {
        None
    } else {
        Some(v.iter().map(|&x| f64::from(x)).sum::<f64>() / v.len() as f64)
    }
}
