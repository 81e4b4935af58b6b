//! The SWIFT head (SWIFT.md §2): one linear map over per-token features giving each token a gate
//! logit and a reward; a candidate's score is the gate-weighted mean reward.
//!
//! ```text
//! a_t = W[0]·x_t + b[0]   r_t = W[1]·x_t + b[1]   g_t = sigmoid(a_t)
//! R   = Σ g_t·r_t / max(Σ g_t, 1e-8)              (no-gate variant: R = mean of r_t)
//! ```
//!
//! - [`Head`]: weights, normalisation statistics and metadata; batch scoring of stored rows.
//! - [`StreamingScorer`]: a [`FeatureSink`](crate::features::FeatureSink) that scores candidates
//!   inline during generation, keeping three numbers per candidate.
//! - Files: [`Head::save`] / [`Head::load`] (`NAME.safetensors` + `NAME.yaml`), and
//!   [`import_torch_checkpoint`] for heads trained with the reference PyTorch code.
//! - Metrics shared with training and evaluation: [`auc`], [`best_index`].
//!
//! Pure Rust: nothing here touches llama.cpp.

mod error;
mod io;
pub(crate) mod kernel;
mod metrics;
mod scorer;
mod torch;

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::features::{CandidateFeatures, EosRule, FeatureLayout, FeatureSource, StateSpec};
use crate::tasks::AnswerKind;

pub use error::HeadError;
pub use io::{head_paths, FORMAT_VERSION};
pub use kernel::{sigmoid, Projection, RMS_EPS, SCORE_DENOM_FLOOR};
pub use metrics::{auc, best_index};
pub use scorer::{CandidateScore, StreamingScorer};
pub use torch::{import_torch_checkpoint, read_torch_state_dict, ImportOptions, TorchTensor};

/// The model a head was made for. The engine fills it from the GGUF it loads.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ModelIdentity {
    /// Architecture name from the GGUF (`general.architecture`), e.g. `llama`.
    pub architecture: String,
    /// Number of blocks (layers) L.
    pub n_layer: u32,
    /// Hidden size.
    pub n_embd: u32,
    /// Vocabulary size.
    pub n_vocab: u32,
    /// A fingerprint of the GGUF file (its weights and quantisation), compared loosely: a
    /// mismatch with matching shapes is a warning unless strict.
    pub fingerprint: String,
}

/// How each token's features are normalised before the linear map.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Normalization {
    /// Raw features.
    #[default]
    None,
    /// Each state segment (n_embd floats, or the whole logit row) divided by its own RMS,
    /// `sqrt(mean(x²) + 1e-6)`, without a gain.
    Rms,
    /// Per-dimension `(x - mean) / std`, statistics estimated on the training set and stored in
    /// the head.
    Standardize,
}

impl FromStr for Normalization {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "none" => Ok(Self::None),
            "rms" => Ok(Self::Rms),
            "standardize" => Ok(Self::Standardize),
            other => Err(format!(
                "unknown normalisation {other:?} (expected none, rms or standardize)"
            )),
        }
    }
}

impl fmt::Display for Normalization {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::None => "none",
            Self::Rms => "rms",
            Self::Standardize => "standardize",
        })
    }
}

/// Per-dimension statistics of `standardize` normalisation (both of length F).
#[derive(Debug, Clone, PartialEq)]
pub struct NormStats {
    /// Mean of each feature dimension.
    pub mean: Vec<f32>,
    /// Standard deviation of each dimension, already floored (all positive).
    pub std: Vec<f32>,
}

/// Validation metrics recorded with a trained head.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct ValidationMetrics {
    /// Validation loss of the kept epoch.
    pub loss: Option<f64>,
    /// AUC of correct vs incorrect candidates.
    pub auc: Option<f64>,
    /// Mean over validation problems with both classes of the AUC within the problem: how well
    /// the score ranks one question's candidates, which is what Best-of-N needs (the pooled AUC
    /// also rewards telling easy questions from hard ones).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auc_per_problem: Option<f64>,
    /// Best-of-N accuracy: fraction of validation problems whose top-scored candidate is correct.
    pub bon_accuracy: Option<f64>,
}

/// How a head was trained.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct TrainingInfo {
    /// Task name, when known.
    #[serde(default)]
    pub task: Option<String>,
    /// Problems used (training + validation).
    pub problems: u64,
    /// Problems held out for validation.
    pub val_problems: u64,
    /// Candidates used.
    pub candidates: u64,
    /// Covered tokens (feature rows) used.
    pub tokens: u64,
    /// Seed of the split, shuffles and initialisation.
    pub seed: u64,
    /// Loss (`ce` or `pairwise`).
    pub loss: String,
    /// Positive-class weight of the `ce` loss, when class balancing was used.
    #[serde(default)]
    pub pos_weight: Option<f64>,
    /// AdamW learning rate.
    pub lr: f64,
    /// AdamW weight decay.
    pub weight_decay: f64,
    /// Problems per mini-batch.
    pub batch_problems: u64,
    /// Epochs run.
    pub epochs: u32,
    /// Epoch whose weights were kept (1-based).
    pub best_epoch: u32,
    /// What early stopping kept the epoch by, when not the validation loss (`within-auc`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kept_by: Option<String>,
    /// With K-fold cross-validation: K. The head was then trained on every problem for the
    /// folds' median kept epoch, and [`Self::validation`] holds the folds' mean metrics.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub folds: Option<u32>,
    /// Metrics of the kept epoch.
    pub validation: ValidationMetrics,
    /// When training finished, RFC 3339 (UTC).
    pub date: String,
    /// The command line, when given.
    #[serde(default)]
    pub command: Option<String>,
    /// The soft vote's sharpness, calibrated on the validation problems (see
    /// [`SoftVoteCalibration`]); absent in heads trained before it existed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub soft_vote: Option<SoftVoteCalibration>,
    /// For a head trained on several task families: the soft vote calibrated separately on the
    /// validation problems of each answer kind (`number`, `yes-no`, ...), since a head's scores
    /// can be informative for one kind of question and not another. `ask` reads the kind from
    /// the question; a kind without an entry uses `soft_vote`.
    #[serde(default, skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub soft_vote_by_kind: std::collections::BTreeMap<String, SoftVoteCalibration>,
    /// For a head with weights of their own per answer kind (`train --weights-by-kind`): how
    /// each kind's weights were trained, by kind name. The fields above describe the head's
    /// main weights (the kind with the most problems), which every kind without an entry uses.
    #[serde(default, skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub weights_by_kind: std::collections::BTreeMap<String, KindTraining>,
}

/// How one answer kind's own weights were trained (see [`TrainingInfo::weights_by_kind`]): on
/// that kind's problems alone, with the head's recipe.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct KindTraining {
    /// Problems of this kind (training + validation).
    pub problems: u64,
    /// Their candidates.
    pub candidates: u64,
    /// Epochs the kind's weights were trained for.
    pub epochs: u32,
    /// Validation metrics: the folds' mean with cross-validation, else the kept epoch's.
    pub validation: ValidationMetrics,
}

/// How sharply the head's scores, and the model's own mean log-prob, may overrule the
/// majority, chosen on validation problems.
///
/// The `auto` selection is a soft vote ([`crate::select::soft_vote_plus`]): each answer gets
/// `sum exp(beta R + gamma L - best)` over its candidates (`R` the head's score, `L` the mean
/// log-prob, `gamma` = [`Self::logprob`]). Both 0 is majority vote; large `beta` is the head's
/// argmax. The pair is chosen on a grid by the one-standard-error rule
/// ([`crate::eval::calibrate_soft_vote`]).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SoftVoteCalibration {
    /// The head score's sharpness (finite; the largest grid value stands for "the head
    /// decides").
    pub beta: f64,
    /// The mean log-prob's sharpness (0, the default, leaves it out: heads calibrated before it
    /// existed).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub logprob: f64,
    /// Best-of-k the choice was made for.
    pub k: usize,
    /// Validation problems it was measured on.
    pub problems: usize,
    /// Expected Best-of-k accuracy on them: the soft vote with `beta`, majority vote and the
    /// head's argmax.
    pub accuracy: f64,
    /// See `accuracy`.
    pub majority: f64,
    /// See `accuracy`.
    pub argmax: f64,
}

fn is_zero(x: &f64) -> bool {
    *x == 0.0
}

impl SoftVoteCalibration {
    /// The soft vote over score columns `swift` and `logprob` that this calibration describes.
    pub fn selector(&self, swift: usize, logprob: usize) -> crate::select::Selector {
        crate::select::Selector::SoftVote {
            score: swift,
            beta: self.beta,
            plus: (self.logprob > 0.0).then_some(crate::select::Term {
                score: logprob,
                sharpness: self.logprob,
            }),
        }
    }

    /// Why the sharpnesses cannot be used, if they cannot: `beta` must be >= 0 (`+inf`
    /// allowed), `logprob` finite and >= 0.
    pub fn problem(&self) -> Option<String> {
        if self.beta.is_nan() || self.beta < 0.0 {
            Some(format!("beta is {}, expected a number >= 0", self.beta))
        } else if !self.logprob.is_finite() || self.logprob < 0.0 {
            Some(format!(
                "logprob is {}, expected a finite number >= 0",
                self.logprob
            ))
        } else {
            None
        }
    }
}

/// Everything about a head except its numbers.
#[derive(Debug, Clone, PartialEq)]
pub struct HeadSpec {
    /// The model the head belongs to.
    pub model: ModelIdentity,
    /// What the features are (states and width, or logits).
    pub features: FeatureSource,
    /// Feature normalisation.
    pub norm: Normalization,
    /// Gated (two rows) or not (one row).
    pub gate: bool,
    /// Which tokens are covered.
    pub eos: EosRule,
    /// Instruction appended to prompts when the head was trained, if any.
    pub instruction: Option<String>,
    /// Instructions for questions of one answer kind, where the head was trained on
    /// collections that asked each kind its own way (a general head); [`Self::instruction`]
    /// is for every other kind. See [`Self::instruction_for`].
    pub instruction_by_kind: BTreeMap<AnswerKind, String>,
    /// Training provenance (absent for imported heads).
    pub training: Option<TrainingInfo>,
    /// Free-form notes.
    pub notes: Option<String>,
}

impl HeadSpec {
    /// The instruction for a question of answer kind `kind`: its own from
    /// [`Self::instruction_by_kind`], else [`Self::instruction`].
    pub fn instruction_for(&self, kind: AnswerKind) -> Option<&str> {
        self.instruction_by_kind
            .get(&kind)
            .or(self.instruction.as_ref())
            .map(String::as_str)
    }

    /// Feature width F.
    pub fn width(&self) -> usize {
        self.layout().width()
    }

    /// The head's own feature layout.
    pub fn layout(&self) -> FeatureLayout {
        FeatureLayout {
            source: self.features.clone(),
        }
    }

    /// Rows of the weight matrix: 2 with a gate, 1 without.
    pub fn rows(&self) -> usize {
        if self.gate {
            2
        } else {
            1
        }
    }

    fn validate(&self) -> Result<(), HeadError> {
        let bad = |reason: String| Err(HeadError::Invalid { reason });
        match &self.features {
            FeatureSource::Hidden { selection, n_embd } => {
                if selection.n_layer() != self.model.n_layer {
                    return bad(format!(
                        "states are numbered for {} layers but the model has n_layer = {}",
                        selection.n_layer(),
                        self.model.n_layer
                    ));
                }
                if *n_embd != self.model.n_embd {
                    return bad(format!(
                        "feature segments have width {n_embd} but the model has n_embd = {}",
                        self.model.n_embd
                    ));
                }
                if selection.is_empty() {
                    return bad("the head uses no state".to_string());
                }
            }
            FeatureSource::Logits { n_vocab } => {
                if *n_vocab != self.model.n_vocab {
                    return bad(format!(
                        "logit features have width {n_vocab} but the model has n_vocab = {}",
                        self.model.n_vocab
                    ));
                }
            }
        }
        if self.width() == 0 {
            return bad("feature width F is 0".to_string());
        }
        Ok(())
    }
}

/// Hidden-state features for `states` of `model` (resolved with the model's layer count).
pub fn hidden_source(
    states: &StateSpec,
    model: &ModelIdentity,
) -> Result<FeatureSource, HeadError> {
    let selection = states
        .resolve(model.n_layer)
        .map_err(|e| HeadError::Invalid {
            reason: e.to_string(),
        })?;
    Ok(FeatureSource::Hidden {
        selection,
        n_embd: model.n_embd,
    })
}

/// A SWIFT head: `rows x F` weights, `rows` biases, optional standardisation statistics, and
/// its metadata. Always valid: constructors check shapes and finiteness.
#[derive(Debug, Clone, PartialEq)]
pub struct Head {
    spec: HeadSpec,
    weight: Vec<f32>,
    bias: Vec<f32>,
    stats: Option<NormStats>,
    /// Weights of their own for questions of some answer kinds (a general head trained per
    /// kind); every other kind uses `weight`, `bias` and `stats`. See [`Head::for_kind`].
    kinds: BTreeMap<AnswerKind, KindWeights>,
}

/// One answer kind's own weights in a [`Head`]: the same shapes as the head's.
#[derive(Debug, Clone, PartialEq)]
struct KindWeights {
    weight: Vec<f32>,
    bias: Vec<f32>,
    stats: Option<NormStats>,
}

impl Head {
    /// A head from its parts. `weight` is row-major `rows x F` (row 0 the gate when gated);
    /// `stats` must be present exactly when `spec.norm` is `standardize`. All numbers must be
    /// finite and standard deviations positive.
    pub fn new(
        spec: HeadSpec,
        weight: Vec<f32>,
        bias: Vec<f32>,
        stats: Option<NormStats>,
    ) -> Result<Self, HeadError> {
        spec.validate()?;
        let f = spec.width();
        let rows = spec.rows();
        let shape = |name: &str, expected: Vec<usize>, got: Vec<usize>| HeadError::TensorShape {
            file: None,
            name: name.to_string(),
            expected,
            got,
        };
        if weight.len() != rows * f {
            return Err(shape("weight", vec![rows, f], vec![weight.len()]));
        }
        if bias.len() != rows {
            return Err(shape("bias", vec![rows], vec![bias.len()]));
        }
        check_finite(None, "weight", &weight)?;
        check_finite(None, "bias", &bias)?;
        match (&spec.norm, &stats) {
            (Normalization::Standardize, Some(st)) => {
                if st.mean.len() != f {
                    return Err(shape("norm.mean", vec![f], vec![st.mean.len()]));
                }
                if st.std.len() != f {
                    return Err(shape("norm.std", vec![f], vec![st.std.len()]));
                }
                check_finite(None, "norm.mean", &st.mean)?;
                check_finite(None, "norm.std", &st.std)?;
                if let Some(i) = st.std.iter().position(|&s| s <= 0.0) {
                    return Err(HeadError::Invalid {
                        reason: format!("norm.std[{i}] = {} is not positive", st.std[i]),
                    });
                }
            }
            (Normalization::Standardize, None) => {
                return Err(HeadError::Invalid {
                    reason: "standardize normalisation needs mean and std statistics".to_string(),
                })
            }
            (_, Some(_)) => {
                return Err(HeadError::Invalid {
                    reason: format!(
                        "normalisation statistics given but the normalisation is {}",
                        spec.norm
                    ),
                })
            }
            (_, None) => {}
        }
        Ok(Self {
            spec,
            weight,
            bias,
            stats,
            kinds: BTreeMap::new(),
        })
    }

    /// This head with `other`'s weights for questions of answer kind `kind` (replacing any it
    /// had for that kind). `other` must read the same features the same way: states, width,
    /// normalisation, gate and EOS rule. Its metadata is not kept: the head's own (instructions,
    /// calibrations, provenance) covers every kind.
    pub fn with_kind_weights(mut self, kind: AnswerKind, other: &Head) -> Result<Self, HeadError> {
        let (a, b) = (&self.spec, &other.spec);
        let differs = [
            ("features", a.features != b.features),
            ("normalisation", a.norm != b.norm),
            ("gate", a.gate != b.gate),
            ("EOS rule", a.eos != b.eos),
            ("model", a.model != b.model),
        ];
        if let Some((what, _)) = differs.iter().find(|(_, d)| *d) {
            return Err(HeadError::Invalid {
                reason: format!(
                    "the weights for {kind} questions come from a head with another {what}"
                ),
            });
        }
        self.kinds.insert(
            kind,
            KindWeights {
                weight: other.weight.clone(),
                bias: other.bias.clone(),
                stats: other.stats.clone(),
            },
        );
        Ok(self)
    }

    /// The answer kinds that have weights of their own (see [`Head::for_kind`]), in order.
    pub fn kinds_with_own_weights(&self) -> impl Iterator<Item = AnswerKind> + '_ {
        self.kinds.keys().copied()
    }

    /// The head that scores questions of answer kind `kind`: this one with that kind's own
    /// weights when it has them (borrowed unchanged otherwise). Scoring, streaming and the
    /// batch paths all use a head's main weights, so callers that know the question's kind
    /// score through this.
    pub fn for_kind(&self, kind: AnswerKind) -> std::borrow::Cow<'_, Head> {
        match self.kinds.get(&kind) {
            None => std::borrow::Cow::Borrowed(self),
            Some(w) => std::borrow::Cow::Owned(Head {
                spec: self.spec.clone(),
                weight: w.weight.clone(),
                bias: w.bias.clone(),
                stats: w.stats.clone(),
                kinds: BTreeMap::new(),
            }),
        }
    }

    /// Weights, biases and statistics of `kind`'s own weights, if it has them (for writing the
    /// head's file).
    pub(crate) fn kind_tensors(
        &self,
        kind: AnswerKind,
    ) -> Option<(&[f32], &[f32], Option<&NormStats>)> {
        self.kinds
            .get(&kind)
            .map(|w| (&w.weight[..], &w.bias[..], w.stats.as_ref()))
    }

    /// The metadata.
    pub fn spec(&self) -> &HeadSpec {
        &self.spec
    }

    /// Records K-fold cross-validation in the training provenance: K and the folds' mean
    /// validation metrics (see [`TrainingInfo::folds`]).
    pub fn set_cross_validation(&mut self, folds: u32, mean: ValidationMetrics) {
        let t = self.spec.training.get_or_insert_with(TrainingInfo::default);
        t.folds = Some(folds);
        t.validation = mean;
    }

    /// Records the soft vote's calibration in the training provenance (a head without one gets
    /// a bare provenance record holding it).
    pub fn set_soft_vote(&mut self, calibration: Option<SoftVoteCalibration>) {
        self.spec
            .training
            .get_or_insert_with(TrainingInfo::default)
            .soft_vote = calibration;
    }

    /// Records how each answer kind's own weights were trained (see
    /// [`TrainingInfo::weights_by_kind`]).
    pub fn set_kind_training(&mut self, by_kind: BTreeMap<String, KindTraining>) {
        self.spec
            .training
            .get_or_insert_with(TrainingInfo::default)
            .weights_by_kind = by_kind;
    }

    /// Records the per-answer-kind calibrations (see [`TrainingInfo::soft_vote_by_kind`]).
    pub fn set_soft_vote_by_kind(
        &mut self,
        by_kind: std::collections::BTreeMap<String, SoftVoteCalibration>,
    ) {
        self.spec
            .training
            .get_or_insert_with(TrainingInfo::default)
            .soft_vote_by_kind = by_kind;
    }

    /// The calibrated soft vote for questions of answer kind `kind` (its own calibration when
    /// the head has one for that kind, else the overall one). Loading a head checks that its
    /// sharpnesses are valid.
    pub fn soft_vote_for(&self, kind: crate::tasks::AnswerKind) -> Option<&SoftVoteCalibration> {
        let t = self.spec.training.as_ref()?;
        t.soft_vote_by_kind
            .get(kind.name())
            .or(t.soft_vote.as_ref())
    }

    /// Replaces the free-form notes.
    #[must_use]
    pub fn with_notes(mut self, notes: Option<String>) -> Self {
        self.spec.notes = notes;
        self
    }

    /// Replaces the prompt instruction.
    #[must_use]
    pub fn with_instruction(mut self, instruction: Option<String>) -> Self {
        self.spec.instruction = instruction;
        self
    }

    /// Feature width F.
    pub fn width(&self) -> usize {
        self.spec.width()
    }

    /// Rows of the weight matrix (2 gated, 1 not).
    pub fn rows(&self) -> usize {
        self.spec.rows()
    }

    /// Whether the head has a gate.
    pub fn gate(&self) -> bool {
        self.spec.gate
    }

    /// Feature normalisation.
    pub fn normalization(&self) -> Normalization {
        self.spec.norm
    }

    /// Row-major `rows x F` weights (in normalised feature space).
    pub fn weight(&self) -> &[f32] {
        &self.weight
    }

    /// Biases, one per row.
    pub fn bias(&self) -> &[f32] {
        &self.bias
    }

    /// Standardisation statistics, present with `standardize`.
    pub fn norm_stats(&self) -> Option<&NormStats> {
        self.stats.as_ref()
    }

    /// Number of parameters (`rows x (F + 1)`, once more for every answer kind with weights of
    /// its own).
    pub fn n_params(&self) -> usize {
        self.weight.len()
            + self.bias.len()
            + self
                .kinds
                .values()
                .map(|w| w.weight.len() + w.bias.len())
                .sum::<usize>()
    }

    /// The head's own feature layout.
    pub fn layout(&self) -> FeatureLayout {
        self.spec.layout()
    }

    /// (segment width, number of segments).
    pub(crate) fn segment_shape(&self) -> (usize, usize) {
        let l = self.layout();
        (l.segment_width(), l.segments())
    }

    /// How to read this head's segments from rows of `layout`.
    pub fn projection(&self, layout: &FeatureLayout) -> Result<Projection, HeadError> {
        Projection::new(&self.spec.features, layout)
    }

    /// Compares the model the head was made for with `model`. Differences in architecture,
    /// n_layer, n_embd or n_vocab are errors (listing expected and got). A different fingerprint
    /// with matching shapes returns `Ok(Some(warning))` (the caller prints it), or an error when
    /// `strict`. `Ok(None)` means a full match.
    pub fn check_model(
        &self,
        model: &ModelIdentity,
        strict: bool,
    ) -> Result<Option<String>, HeadError> {
        let want = &self.spec.model;
        let mut diffs = Vec::new();
        if want.architecture != model.architecture {
            diffs.push(format!(
                "architecture: head expects {:?}, model is {:?}",
                want.architecture, model.architecture
            ));
        }
        for (name, a, b) in [
            ("n_layer", want.n_layer, model.n_layer),
            ("n_embd", want.n_embd, model.n_embd),
            ("n_vocab", want.n_vocab, model.n_vocab),
        ] {
            if a != b {
                diffs.push(format!("{name}: head expects {a}, model has {b}"));
            }
        }
        if !diffs.is_empty() {
            return Err(HeadError::ModelMismatch {
                details: diffs.join("; "),
            });
        }
        if want.fingerprint != model.fingerprint {
            if strict {
                return Err(HeadError::FingerprintMismatch {
                    expected: want.fingerprint.clone(),
                    got: model.fingerprint.clone(),
                });
            }
            return Ok(Some(format!(
                "the head was trained on another GGUF of the same shape (fingerprint {} vs {}): \
                 states from another quantisation or runtime differ, so scores may be off",
                want.fingerprint, model.fingerprint
            )));
        }
        Ok(None)
    }

    /// Scores one candidate from stored rows (row-major, `layout.width()` floats per covered
    /// token; `layout` may hold more states than the head uses). The same arithmetic as
    /// [`StreamingScorer`], so both give identical scores.
    pub fn score_rows(
        &self,
        rows: &[f32],
        layout: &FeatureLayout,
    ) -> Result<CandidateScore, HeadError> {
        let proj = self.projection(layout)?;
        let kernel = kernel::Kernel::new(self);
        score_rows_with(&kernel, &proj, rows)
    }

    /// Per-token `(gate weight, reward)` of stored rows (for inspection; gate weight is 1
    /// without a gate).
    pub fn token_values(
        &self,
        rows: &[f32],
        layout: &FeatureLayout,
    ) -> Result<Vec<(f64, f64)>, HeadError> {
        let proj = self.projection(layout)?;
        let kernel = kernel::Kernel::new(self);
        check_row_block(&proj, rows)?;
        Ok(rows
            .chunks_exact(proj.in_width())
            .map(|row| kernel.token(&proj, row))
            .collect())
    }

    /// Scores every candidate of a feature store, reading one candidate at a time.
    pub fn score_features(
        &self,
        data: &dyn CandidateFeatures,
    ) -> Result<Vec<CandidateScore>, HeadError> {
        self.map_candidates(data, |kernel, proj, rows| {
            score_rows_with(kernel, proj, rows)
        })
    }

    /// Reads every candidate's rows of `data` and maps them with `f`.
    fn map_candidates<T>(
        &self,
        data: &dyn CandidateFeatures,
        mut f: impl FnMut(&kernel::Kernel, &Projection, &[f32]) -> Result<T, HeadError>,
    ) -> Result<Vec<T>, HeadError> {
        let proj = self.projection(data.layout())?;
        let kernel = kernel::Kernel::new(self);
        let mut buf = Vec::new();
        (0..data.n_candidates())
            .map(|i| {
                data.read_rows(i, &mut buf)
                    .map_err(|source| HeadError::Read {
                        candidate: i,
                        source,
                    })?;
                f(&kernel, &proj, &buf)
            })
            .collect()
    }

    /// The running score of every stored candidate after each of its covered tokens (entry t is
    /// the score of its first t + 1 tokens; the last entry equals
    /// [`Head::score_features`]'s score): what a streaming scorer knows at every step, for
    /// replaying pruning policies offline.
    pub fn running_scores(&self, data: &dyn CandidateFeatures) -> Result<Vec<Vec<f64>>, HeadError> {
        self.map_candidates(data, |kernel, proj, rows| {
            check_row_block(proj, rows)?;
            let mut acc = scorer::Accumulator::default();
            Ok(rows
                .chunks_exact(proj.in_width())
                .map(|row| {
                    let (g, r) = kernel.token(proj, row);
                    acc.add(g, r);
                    acc.score()
                })
                .collect())
        })
    }
}

fn check_row_block(proj: &Projection, rows: &[f32]) -> Result<(), HeadError> {
    if rows.len() % proj.in_width() != 0 {
        return Err(HeadError::LayoutMismatch {
            reason: format!(
                "{} floats is not a whole number of rows of width {}",
                rows.len(),
                proj.in_width()
            ),
        });
    }
    Ok(())
}

fn score_rows_with(
    kernel: &kernel::Kernel,
    proj: &Projection,
    rows: &[f32],
) -> Result<CandidateScore, HeadError> {
    check_row_block(proj, rows)?;
    let mut acc = scorer::Accumulator::default();
    for row in rows.chunks_exact(proj.in_width()) {
        let (g, r) = kernel.token(proj, row);
        acc.add(g, r);
    }
    Ok(acc.result())
}

pub(crate) fn check_finite(
    file: Option<&std::path::Path>,
    name: &str,
    v: &[f32],
) -> Result<(), HeadError> {
    if let Some(index) = v.iter().position(|x| !x.is_finite()) {
        return Err(HeadError::NonFinite {
            file: file.map(|p| p.to_path_buf()),
            name: name.to_string(),
            index,
            value: v[index],
        });
    }
    Ok(())
}

#[cfg(test)]
pub(crate) mod test_util {
    use super::*;
    use crate::features::StateSpec;

    pub fn identity() -> ModelIdentity {
        ModelIdentity {
            architecture: "llama".to_string(),
            n_layer: 4,
            n_embd: 4,
            n_vocab: 32,
            fingerprint: "sha256:abc".to_string(),
        }
    }

    pub fn spec(states: &str, gate: bool, norm: Normalization) -> HeadSpec {
        let model = identity();
        let features = hidden_source(&states.parse::<StateSpec>().unwrap(), &model).unwrap();
        HeadSpec {
            model,
            features,
            norm,
            gate,
            eos: EosRule::Include,
            instruction: None,
            instruction_by_kind: Default::default(),
            training: None,
            notes: None,
        }
    }

    /// A head with seeded random weights (and statistics when standardising).
    pub fn random_head(states: &str, gate: bool, norm: Normalization, seed: u64) -> Head {
        let spec = spec(states, gate, norm);
        let f = spec.width();
        let mut rng = crate::rng::Rng::new(seed);
        let mut u = |s: f32| (rng.next_f32() * 2.0 - 1.0) * s;
        let weight = (0..spec.rows() * f).map(|_| u(0.5)).collect();
        let bias = (0..spec.rows()).map(|_| u(0.5)).collect();
        let stats = (norm == Normalization::Standardize).then(|| NormStats {
            mean: (0..f).map(|_| u(3.0)).collect(),
            std: (0..f).map(|_| 0.5 + u(0.4).abs()).collect(),
        });
        Head::new(spec, weight, bias, stats).unwrap()
    }
}

#[cfg(test)]
mod tests {
    use super::test_util::*;
    use super::*;

    /// The formula of SWIFT.md §2 in plain f64, normalising explicitly.
    fn reference_score(head: &Head, rows: &[f32]) -> f64 {
        let f = head.width();
        let (seg, _) = head.segment_shape();
        let (mut sg, mut sgr, mut n) = (0.0f64, 0.0f64, 0usize);
        for row in rows.chunks(f) {
            let mut x: Vec<f64> = row.iter().map(|&v| f64::from(v)).collect();
            match head.normalization() {
                Normalization::None => {}
                Normalization::Rms => {
                    for s in x.chunks_mut(seg) {
                        let ms = s.iter().map(|v| v * v).sum::<f64>() / seg as f64;
                        let d = (ms + 1e-6).sqrt();
                        s.iter_mut().for_each(|v| *v /= d);
                    }
                }
                Normalization::Standardize => {
                    let st = head.norm_stats().unwrap();
                    for (i, v) in x.iter_mut().enumerate() {
                        *v = (*v - f64::from(st.mean[i])) / f64::from(st.std[i]);
                    }
                }
            }
            let lin = |k: usize| -> f64 {
                let w = &head.weight()[k * f..(k + 1) * f];
                w.iter()
                    .zip(&x)
                    .map(|(&a, b)| f64::from(a) * b)
                    .sum::<f64>()
                    + f64::from(head.bias()[k])
            };
            if head.gate() {
                let g = 1.0 / (1.0 + (-lin(0)).exp());
                sg += g;
                sgr += g * lin(1);
            } else {
                sg += 1.0;
                sgr += lin(0);
            }
            n += 1;
        }
        if n == 0 {
            f64::NEG_INFINITY
        } else {
            sgr / sg.max(1e-8)
        }
    }

    fn random_rows(n_tokens: usize, f: usize, seed: u64, scale: f32) -> Vec<f32> {
        let mut rng = crate::rng::Rng::new(seed);
        (0..n_tokens * f)
            .map(|_| (rng.next_f32() * 2.0 - 1.0) * scale + 0.3)
            .collect()
    }

    #[test]
    fn hand_computed_score() {
        // F = 4 (state 4 = final norm, n_embd 4), two tokens.
        let spec = spec("4", true, Normalization::None);
        let head = Head::new(
            spec,
            vec![1.0, 0.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0],
            vec![0.0, 0.5],
            None,
        )
        .unwrap();
        let rows = [0.0, 1.0, 0.0, 0.0, 2.0, -1.0, 0.0, 0.0];
        // token 1: a=0 -> g=0.5, r=1.5; token 2: a=2 -> g=sigmoid(2), r=-0.5.
        let g2 = 1.0 / (1.0 + (-2.0f64).exp());
        let want = (0.5 * 1.5 + g2 * -0.5) / (0.5 + g2);
        let got = head.score_rows(&rows, &head.layout()).unwrap();
        assert!((got.score - want).abs() < 1e-12, "{} vs {want}", got.score);
        assert_eq!(got.tokens, 2);
        assert!(!got.empty);

        let nogate = Head::new(
            super::test_util::spec("4", false, Normalization::None),
            vec![0.0, 1.0, 0.0, 0.0],
            vec![0.5],
            None,
        )
        .unwrap();
        let got = nogate.score_rows(&rows, &nogate.layout()).unwrap();
        assert!((got.score - 0.5).abs() < 1e-12); // mean of 1.5 and -0.5
    }

    #[test]
    fn empty_candidate_scores_lowest_and_is_flagged() {
        let head = random_head("1-3", true, Normalization::None, 1);
        let s = head.score_rows(&[], &head.layout()).unwrap();
        assert_eq!(s.score, f64::NEG_INFINITY);
        assert!(s.empty);
        assert_eq!(s.tokens, 0);
    }

    #[test]
    fn batch_scores_match_plain_f64_formula() {
        for norm in [
            Normalization::None,
            Normalization::Rms,
            Normalization::Standardize,
        ] {
            for gate in [true, false] {
                let head = random_head("0,2-4", gate, norm, 7);
                let rows = random_rows(9, head.width(), 11, 5.0);
                let got = head.score_rows(&rows, &head.layout()).unwrap().score;
                let want = reference_score(&head, &rows);
                assert!(
                    (got - want).abs() <= 1e-5 * want.abs().max(1.0),
                    "{norm} gate={gate}: {got} vs {want}"
                );
            }
        }
    }

    #[test]
    fn projection_reads_the_head_states_from_a_larger_layout() {
        let head = random_head("2,4", true, Normalization::Rms, 3);
        let all = crate::features::FeatureLayout::hidden(StateSpec::All.resolve(4).unwrap(), 4);
        let wide = random_rows(5, all.width(), 5, 2.0);
        // The same tokens restricted to states 2 and 4 (segments 2 and 4 of `all`).
        let narrow: Vec<f32> = wide
            .chunks(20)
            .flat_map(|r| {
                r[8..12]
                    .iter()
                    .chain(&r[16..20])
                    .copied()
                    .collect::<Vec<_>>()
            })
            .collect();
        let a = head.score_rows(&wide, &all).unwrap();
        let b = head.score_rows(&narrow, &head.layout()).unwrap();
        assert_eq!(a.score.to_bits(), b.score.to_bits());

        let last2 =
            crate::features::FeatureLayout::hidden(StateSpec::Last(2).resolve(4).unwrap(), 4);
        let err = head.projection(&last2).unwrap_err().to_string();
        assert!(err.contains("missing: 4"), "{err}");
        let logits = crate::features::FeatureLayout::logits(32);
        assert!(head.projection(&logits).is_err());
    }

    #[test]
    fn new_rejects_bad_parts() {
        let s = spec("1-2", true, Normalization::None);
        assert!(matches!(
            Head::new(s.clone(), vec![0.0; 15], vec![0.0; 2], None),
            Err(HeadError::TensorShape { .. })
        ));
        let mut w = vec![0.0; 16];
        w[3] = f32::NAN;
        let err = Head::new(s.clone(), w, vec![0.0; 2], None).unwrap_err();
        assert!(err.to_string().contains("weight[3]"), "{err}");
        let st = NormStats {
            mean: vec![0.0; 8],
            std: vec![1.0; 8],
        };
        assert!(Head::new(s, vec![0.0; 16], vec![0.0; 2], Some(st.clone())).is_err());
        let s = spec("1-2", true, Normalization::Standardize);
        assert!(Head::new(s.clone(), vec![0.0; 16], vec![0.0; 2], None).is_err());
        let mut bad = st;
        bad.std[5] = 0.0;
        assert!(Head::new(s, vec![0.0; 16], vec![0.0; 2], Some(bad)).is_err());
    }

    #[test]
    fn check_model_compares_shapes_strictly_and_fingerprints_loosely() {
        let head = random_head("1-2", true, Normalization::None, 1);
        assert_eq!(head.check_model(&identity(), true).unwrap(), None);
        let mut other = identity();
        other.fingerprint = "sha256:def".to_string();
        let warn = head.check_model(&other, false).unwrap().unwrap();
        assert!(warn.contains("sha256:abc") && warn.contains("sha256:def"));
        assert!(matches!(
            head.check_model(&other, true),
            Err(HeadError::FingerprintMismatch { .. })
        ));
        other.n_embd = 8;
        other.architecture = "qwen2".to_string();
        let err = head.check_model(&other, false).unwrap_err().to_string();
        assert!(err.contains("n_embd: head expects 4, model has 8"), "{err}");
        assert!(err.contains("qwen2"), "{err}");
    }
}
