//! Training a SWIFT head from stored, labelled candidates (SWIFT.md §3).
//!
//! [`train`] reads features through [`CandidateFeatures`] one candidate at a time (or from an
//! in-memory cache when the prepared rows fit under [`TrainOptions::cache_budget_bytes`]),
//! splits problems into training and validation sets, runs AdamW over mini-batches of whole
//! problems with hand-written gradients, stops early on validation loss, and returns the head
//! of the best epoch together with a [`TrainSummary`]. Progress goes to a callback (the CLI
//! draws the bar).
//!
//! Everything is single-threaded and seeded through [`crate::rng`]: the same data, options and
//! seed give a bit-identical head.

mod adamw;
mod cv;
mod data;
mod fit;
mod grad;

use std::fmt;
use std::str::FromStr;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};

use crate::features::{CandidateFeatures, EosRule, FeatureSource, SinkError, StateSpec};
use crate::head::{
    auc, best_index, Head, HeadError, HeadSpec, ModelIdentity, Normalization, Projection,
    TrainingInfo, ValidationMetrics,
};
use crate::rng::Rng;

pub use cv::{
    cross_validate, held_out_scores, mean_metrics, median_epoch, CrossValidation, CvEvent,
};
pub use data::{standardization_stats, STD_FLOOR_ABS, STD_FLOOR_REL};
pub use fit::{fit, fit_by_kind, Fit, KindsFit};

use data::{Prep, Problem, RowReader};
use grad::{loss_terms, score_candidate, Params, Scratch};

/// Training loss.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Loss {
    /// Binary cross-entropy with the score R as the logit, label = correct (the reference).
    #[default]
    Ce,
    /// Logistic loss `log(1 + exp(-(R_correct - R_incorrect)))` over every (correct, incorrect)
    /// pair of candidates of the same problem.
    Pairwise,
    /// Listwise: per problem with correct and incorrect candidates, the cross-entropy between a
    /// softmax over its candidates' scores and the uniform distribution over its correct ones,
    /// `logsumexp_j R_j - mean_{i correct} R_i` (an InfoNCE-style objective with several
    /// positives). Only the order within a problem matters, which is all Best-of-N uses.
    Listwise,
}

impl FromStr for Loss {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "ce" => Ok(Self::Ce),
            "pairwise" => Ok(Self::Pairwise),
            "listwise" => Ok(Self::Listwise),
            other => Err(format!(
                "unknown loss {other:?} (expected ce, pairwise or listwise)"
            )),
        }
    }
}

impl fmt::Display for Loss {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Ce => "ce",
            Self::Pairwise => "pairwise",
            Self::Listwise => "listwise",
        })
    }
}

/// What early stopping keeps: the epoch with the lowest validation loss (the reference), or the
/// one whose scores rank each validation problem's candidates best (highest mean within-problem
/// AUC, the quantity Best-of-N depends on).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum KeepBy {
    /// Lowest validation loss.
    #[default]
    Loss,
    /// Highest mean within-problem validation AUC (falls back to the loss when no validation
    /// problem has both correct and incorrect candidates).
    WithinAuc,
}

impl FromStr for KeepBy {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "loss" => Ok(Self::Loss),
            "within-auc" => Ok(Self::WithinAuc),
            other => Err(format!(
                "unknown early-stopping criterion {other:?} (expected loss or within-auc)"
            )),
        }
    }
}

impl fmt::Display for KeepBy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Loss => "loss",
            Self::WithinAuc => "within-auc",
        })
    }
}

/// Class balancing of the `ce` loss.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub enum PosWeight {
    /// No balancing (the reference).
    #[default]
    None,
    /// Weight correct candidates by (incorrect / correct) counted on the training split.
    Auto,
    /// A given weight for correct candidates.
    Fixed(f64),
}

/// Training options. Defaults are the reference recipe (SWIFT.md §3) except where noted.
#[derive(Debug, Clone, PartialEq)]
pub struct TrainOptions {
    /// Loss (default `ce`).
    pub loss: Loss,
    /// Class balancing of `ce` (default none).
    pub pos_weight: PosWeight,
    /// AdamW learning rate (default 1e-4).
    pub lr: f64,
    /// AdamW weight decay (default 1e-5).
    pub weight_decay: f64,
    /// Maximum epochs (default 40).
    pub max_epochs: u32,
    /// Early-stopping patience in epochs without improvement (default 3).
    pub patience: u32,
    /// What early stopping keeps (default: the lowest validation loss).
    pub keep_by: KeepBy,
    /// Problems per mini-batch (default 2: 16 candidates at 8 per problem).
    pub batch_problems: usize,
    /// Fraction of problems held out for validation (default 0.2).
    pub val_fraction: f64,
    /// Cross-validation fold `(fold, folds)`: the problems are shuffled (by `seed`) into `folds`
    /// near-equal parts and part `fold` is the validation split, instead of `val_fraction`.
    /// Every problem is validated on exactly once over the folds 0..folds.
    pub fold: Option<(usize, usize)>,
    /// Seed of the split, the shuffles and the initialisation (default 42).
    pub seed: u64,
    /// Gated head (default) or the no-gate variant.
    pub gate: bool,
    /// Feature normalisation (default none, as the reference).
    pub norm: Normalization,
    /// States the head uses; `None` = every state of the stored features. Must be a subset of
    /// the stored states.
    pub states: Option<StateSpec>,
    /// Cache the prepared rows in memory (f32) when they take at most this many bytes
    /// (default 2 GiB); otherwise stream them from the store every epoch.
    pub cache_budget_bytes: u64,
    /// Covered-token rule the features were collected with (recorded in the head).
    pub eos: EosRule,
    /// Prompt instruction used for collection (recorded in the head).
    pub instruction: Option<String>,
    /// Instructions per answer kind, where collections of several kinds asked each its own way
    /// (recorded in the head; see [`crate::head::HeadSpec::instruction_by_kind`]).
    pub instruction_by_kind: std::collections::BTreeMap<crate::tasks::AnswerKind, String>,
    /// Task name (recorded).
    pub task: Option<String>,
    /// Command line (recorded).
    pub command: Option<String>,
    /// Free-form notes (recorded).
    pub notes: Option<String>,
}

impl Default for TrainOptions {
    fn default() -> Self {
        Self {
            loss: Loss::Ce,
            pos_weight: PosWeight::None,
            lr: 1e-4,
            weight_decay: 1e-5,
            max_epochs: 40,
            patience: 3,
            keep_by: KeepBy::Loss,
            batch_problems: 2,
            val_fraction: 0.2,
            fold: None,
            seed: 42,
            gate: true,
            norm: Normalization::None,
            states: None,
            cache_budget_bytes: 2 << 30,
            eos: EosRule::Include,
            instruction: None,
            instruction_by_kind: Default::default(),
            task: None,
            command: None,
            notes: None,
        }
    }
}

macro_rules! with {
    ($($(#[$doc:meta])* $name:ident: $field:ident: $ty:ty;)*) => {
        impl TrainOptions {
            $(
                $(#[$doc])*
                #[must_use]
                pub fn $name(mut self, v: $ty) -> Self {
                    self.$field = v;
                    self
                }
            )*
        }
    };
}

with! {
    /// Sets the loss.
    with_loss: loss: Loss;
    /// Sets class balancing.
    with_pos_weight: pos_weight: PosWeight;
    /// Sets the learning rate.
    with_lr: lr: f64;
    /// Sets the weight decay.
    with_weight_decay: weight_decay: f64;
    /// Sets the maximum number of epochs.
    with_max_epochs: max_epochs: u32;
    /// Sets the early-stopping patience.
    with_patience: patience: u32;
    /// Sets what early stopping keeps.
    with_keep_by: keep_by: KeepBy;
    /// Sets the problems per mini-batch.
    with_batch_problems: batch_problems: usize;
    /// Sets the validation fraction.
    with_val_fraction: val_fraction: f64;
    /// Validates on cross-validation fold `(fold, folds)` instead of a random fraction.
    with_fold: fold: Option<(usize, usize)>;
    /// Sets the seed.
    with_seed: seed: u64;
    /// Gated or not.
    with_gate: gate: bool;
    /// Sets the normalisation.
    with_norm: norm: Normalization;
    /// Sets the head's states.
    with_states: states: Option<StateSpec>;
    /// Sets the cache budget in bytes (0 = always stream).
    with_cache_budget_bytes: cache_budget_bytes: u64;
    /// Sets the EOS rule to record.
    with_eos: eos: EosRule;
    /// Sets the instruction to record.
    with_instruction: instruction: Option<String>;
    /// Sets the instructions per answer kind to record.
    with_instruction_by_kind: instruction_by_kind: std::collections::BTreeMap<crate::tasks::AnswerKind, String>;
    /// Sets the task name to record.
    with_task: task: Option<String>;
    /// Sets the command line to record.
    with_command: command: Option<String>;
    /// Sets the notes to record.
    with_notes: notes: Option<String>;
}

/// What a training run will do, reported before the first epoch.
#[derive(Debug, Clone, PartialEq)]
pub struct TrainPlan {
    /// Problems in the store.
    pub problems: usize,
    /// Training problems that contribute to the loss.
    pub train_problems: usize,
    /// Validation problems.
    pub val_problems: usize,
    /// Training candidates used.
    pub train_candidates: usize,
    /// Validation candidates.
    pub val_candidates: usize,
    /// Candidates without any covered token (excluded from training; scored lowest in
    /// validation).
    pub empty_candidates: usize,
    /// Training problems dropped because they cannot contribute (no non-empty candidate, or
    /// for `pairwise` no mix of correct and incorrect candidates).
    pub dropped_problems: usize,
    /// Covered tokens of the used candidates.
    pub tokens: u64,
    /// Feature width F of the head.
    pub width: usize,
    /// Whether rows are cached in memory.
    pub cached: bool,
    /// Mini-batches per epoch.
    pub batches_per_epoch: usize,
    /// Maximum epochs.
    pub max_epochs: u32,
}

/// Metrics of one epoch.
#[derive(Debug, Clone, PartialEq)]
pub struct EpochReport {
    /// Epoch number, from 1.
    pub epoch: u32,
    /// Mean training loss over the epoch's loss terms (with the weights as they were updated).
    pub train_loss: f64,
    /// Validation loss after the epoch (`None` without validation terms).
    pub val_loss: Option<f64>,
    /// Validation AUC of correct vs incorrect candidates.
    pub val_auc: Option<f64>,
    /// Mean within-problem validation AUC (see [`ValidationMetrics::auc_per_problem`]).
    pub val_auc_per_problem: Option<f64>,
    /// Validation Best-of-N accuracy (argmax per problem, ties to the earliest candidate).
    pub val_bon_accuracy: Option<f64>,
    /// Whether this epoch improved the selection loss (its weights are the best so far).
    pub improved: bool,
    /// Wall time of the epoch.
    pub seconds: f64,
}

/// Progress of a training run.
#[derive(Debug, Clone, Copy)]
pub enum TrainEvent<'a> {
    /// Data prepared, training begins.
    Started(&'a TrainPlan),
    /// A mini-batch was applied.
    Batch {
        /// Epoch, from 1.
        epoch: u32,
        /// Batch within the epoch, from 1.
        batch: usize,
        /// Batches per epoch.
        batches: usize,
    },
    /// An epoch finished.
    Epoch(&'a EpochReport),
}

/// Which loss chose the kept epoch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Selection {
    /// Validation loss (the normal case).
    ValidationLoss,
    /// Training loss, because the validation set yields no loss term (no validation problems,
    /// or for `pairwise` none with both correct and incorrect candidates).
    TrainingLoss,
    /// Mean within-problem validation AUC ([`KeepBy::WithinAuc`]).
    ValidationWithinAuc,
}

/// Result of a training run besides the head.
#[derive(Debug, Clone, PartialEq)]
pub struct TrainSummary {
    /// The plan.
    pub plan: TrainPlan,
    /// Every epoch run.
    pub epochs: Vec<EpochReport>,
    /// Kept epoch (1-based).
    pub best_epoch: u32,
    /// Whether early stopping ended training before `max_epochs`.
    pub stopped_early: bool,
    /// Which loss selected the kept epoch.
    pub selected_by: Selection,
    /// Positive-class weight used by `ce` (`None` when unweighted).
    pub pos_weight: Option<f64>,
    /// Groups (problems) of the validation split, ascending.
    pub val_groups: Vec<u64>,
}

impl TrainSummary {
    /// Report of the kept epoch.
    pub fn best(&self) -> &EpochReport {
        &self.epochs[self.best_epoch as usize - 1]
    }
}

/// A trained head and how it went.
#[derive(Debug, Clone)]
pub struct TrainOutcome {
    /// The head, with the best epoch's weights and full provenance.
    pub head: Head,
    /// The run.
    pub summary: TrainSummary,
}

/// Training errors.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TrainError {
    /// An option is out of range or does not apply.
    #[error("invalid training option {option}: {reason}")]
    InvalidOption {
        /// The option.
        option: &'static str,
        /// What is wrong.
        reason: String,
    },
    /// The data cannot train a head with these options.
    #[error("cannot train: {reason}")]
    Data {
        /// What is missing or wrong.
        reason: String,
    },
    /// The features or model do not fit the head being trained.
    #[error(transparent)]
    Head(#[from] HeadError),
    /// The store failed to return a candidate's rows.
    #[error("reading the feature rows of candidate {candidate}")]
    Read {
        /// Candidate index.
        candidate: usize,
        /// The store's error.
        source: SinkError,
    },
    /// The loss became NaN or infinite.
    #[error("training diverged in epoch {epoch} (loss {loss}); try a lower learning rate or a normalisation")]
    Diverged {
        /// Epoch, from 1.
        epoch: u32,
        /// The offending loss.
        loss: f64,
    },
}

fn check_options(o: &TrainOptions) -> Result<(), TrainError> {
    let bad = |option, reason: String| Err(TrainError::InvalidOption { option, reason });
    if !(o.lr.is_finite() && o.lr > 0.0) {
        return bad("lr", format!("{} is not a positive number", o.lr));
    }
    if !(o.weight_decay.is_finite() && o.weight_decay >= 0.0) {
        return bad(
            "weight_decay",
            format!("{} is not a non-negative number", o.weight_decay),
        );
    }
    if o.max_epochs == 0 {
        return bad("max_epochs", "must be at least 1".to_string());
    }
    if o.batch_problems == 0 {
        return bad("batch_problems", "must be at least 1".to_string());
    }
    if let Some((fold, folds)) = o.fold {
        if folds < 2 || fold >= folds {
            return bad(
                "fold",
                format!("fold {fold} of {folds}: need at least 2 folds and fold < folds"),
            );
        }
    }
    if !(0.0..1.0).contains(&o.val_fraction) {
        return bad(
            "val_fraction",
            format!("{} is not in [0, 1)", o.val_fraction),
        );
    }
    match (o.loss, o.pos_weight) {
        (Loss::Pairwise | Loss::Listwise, PosWeight::Auto | PosWeight::Fixed(_)) => {
            return bad("pos_weight", "applies to the ce loss only".to_string())
        }
        (_, PosWeight::Fixed(w)) if !(w.is_finite() && w > 0.0) => {
            return bad("pos_weight", format!("{w} is not a positive number"))
        }
        _ => {}
    }
    Ok(())
}

/// The head's feature source: the requested states, or all stored ones.
fn head_source(
    data: &dyn CandidateFeatures,
    model: &ModelIdentity,
    states: Option<&StateSpec>,
) -> Result<FeatureSource, TrainError> {
    let mismatch = |what: &str, expected: u32, got: u32| TrainError::Data {
        reason: format!(
            "the features were collected with {what} = {got} but the model has {expected}"
        ),
    };
    match (&data.layout().source, states) {
        (FeatureSource::Hidden { selection, n_embd }, states) => {
            if selection.n_layer() != model.n_layer {
                return Err(mismatch("n_layer", model.n_layer, selection.n_layer()));
            }
            if *n_embd != model.n_embd {
                return Err(mismatch("n_embd", model.n_embd, *n_embd));
            }
            let selection = match states {
                None => selection.clone(),
                Some(spec) => {
                    spec.resolve(model.n_layer)
                        .map_err(|e| TrainError::InvalidOption {
                            option: "states",
                            reason: e.to_string(),
                        })?
                }
            };
            Ok(FeatureSource::Hidden {
                selection,
                n_embd: *n_embd,
            })
        }
        (FeatureSource::Logits { n_vocab }, None) => {
            if *n_vocab != model.n_vocab {
                return Err(mismatch("n_vocab", model.n_vocab, *n_vocab));
            }
            Ok(FeatureSource::Logits { n_vocab: *n_vocab })
        }
        (FeatureSource::Logits { .. }, Some(_)) => Err(TrainError::InvalidOption {
            option: "states",
            reason: "the stored features are logits, which have no states".to_string(),
        }),
    }
}

/// Seed streams (see `Rng::derive`).
const INIT_STREAM: u64 = 0x1417;
const SHUFFLE_STREAM: u64 = 0x5_4aff;

/// Validation metrics of the current weights.
struct Eval {
    loss: Option<f64>,
    auc: Option<f64>,
    auc_per_problem: Option<f64>,
    bon: Option<f64>,
}

fn evaluate(
    params: &Params,
    reader: &mut RowReader<'_>,
    data: &dyn CandidateFeatures,
    problems: &[Problem],
    loss: Loss,
    pos_weight: f64,
    scratch: &mut Scratch,
) -> Result<Eval, TrainError> {
    let (mut sum, mut terms) = (0.0, 0usize);
    let mut all_scores = Vec::new();
    let mut all_labels = Vec::new();
    let mut hits = 0usize;
    let mut within = Vec::new();
    let mut dl = Vec::new();
    for p in problems {
        let mut scores = Vec::with_capacity(p.cands.len());
        let mut labels = Vec::with_capacity(p.cands.len());
        for &i in &p.cands {
            let s = if data.n_tokens(i) == 0 {
                None
            } else {
                score_candidate(params, reader.rows(i)?, scratch, None)
            };
            scores.push(s);
            labels.push(data.label(i));
        }
        let same = vec![0usize; scores.len()];
        let (s, t) = loss_terms(loss, pos_weight, &scores, &labels, &same, &mut dl);
        sum += s;
        terms += t;
        let flat: Vec<f64> = scores
            .iter()
            .map(|s| s.unwrap_or(f64::NEG_INFINITY))
            .collect();
        if let Some(b) = best_index(&flat) {
            hits += usize::from(labels[b]);
        }
        within.extend(auc(&flat, &labels));
        all_scores.extend(flat);
        all_labels.extend(labels);
    }
    Ok(Eval {
        loss: (terms > 0).then(|| sum / terms as f64),
        auc: auc(&all_scores, &all_labels),
        auc_per_problem: (!within.is_empty())
            .then(|| within.iter().sum::<f64>() / within.len() as f64),
        bon: (!problems.is_empty()).then(|| hits as f64 / problems.len() as f64),
    })
}

/// Trains a head for `model` on `data` (see the module documentation). `progress` receives a
/// [`TrainEvent`] at the start, after every mini-batch and after every epoch.
pub fn train(
    data: &dyn CandidateFeatures,
    model: &ModelIdentity,
    opts: &TrainOptions,
    progress: &mut dyn FnMut(TrainEvent<'_>),
) -> Result<TrainOutcome, TrainError> {
    check_options(opts)?;
    let source = head_source(data, model, opts.states.as_ref())?;
    let proj = Projection::new(&source, data.layout())?;
    let f = proj.out_width();

    let all = data::problems(data);
    if all.is_empty() {
        return Err(TrainError::Data {
            reason: "the feature store holds no candidate".to_string(),
        });
    }
    let n_problems = all.len();
    let (train_all, val) = match opts.fold {
        Some((fold, folds)) => {
            if all.len() < folds {
                return Err(TrainError::Data {
                    reason: format!(
                        "{folds}-fold cross-validation needs at least {folds} problems, there are {}",
                        all.len()
                    ),
                });
            }
            data::split_fold(all, fold, folds, opts.seed)
        }
        None => data::split(all, opts.val_fraction, opts.seed),
    };

    // Keep what can contribute to the training loss.
    let mut train = Vec::with_capacity(train_all.len());
    let mut dropped = 0usize;
    for p in train_all {
        let cands: Vec<usize> = p
            .cands
            .iter()
            .copied()
            .filter(|&i| data.n_tokens(i) > 0)
            .collect();
        let pos = cands.iter().filter(|&&i| data.label(i)).count();
        let useful = match opts.loss {
            Loss::Ce => !cands.is_empty(),
            Loss::Pairwise | Loss::Listwise => pos > 0 && pos < cands.len(),
        };
        if useful {
            train.push(Problem {
                group: p.group,
                cands,
            });
        } else {
            dropped += 1;
        }
    }
    if train.is_empty() {
        return Err(TrainError::Data {
            reason: match opts.loss {
                Loss::Ce => "no training candidate has a covered token".to_string(),
                Loss::Pairwise | Loss::Listwise => format!(
                    "no training problem has both a correct and an incorrect candidate, so the {} loss has nothing to rank",
                    opts.loss
                ),
            },
        });
    }
    let train_cands: Vec<usize> = train.iter().flat_map(|p| p.cands.iter().copied()).collect();
    let val_cands: Vec<usize> = val.iter().flat_map(|p| p.cands.iter().copied()).collect();
    let n_pos = train_cands.iter().filter(|&&i| data.label(i)).count();
    let n_neg = train_cands.len() - n_pos;
    let pos_weight = match opts.pos_weight {
        PosWeight::None => None,
        PosWeight::Fixed(w) => Some(w),
        PosWeight::Auto => {
            if n_pos == 0 || n_neg == 0 {
                return Err(TrainError::Data {
                    reason: format!(
                        "automatic class balancing needs both classes; the training split has {n_pos} correct and {n_neg} incorrect candidates"
                    ),
                });
            }
            Some(n_neg as f64 / n_pos as f64)
        }
    };
    let pw = pos_weight.unwrap_or(1.0);

    let stats = match opts.norm {
        Normalization::Standardize => Some(standardization_stats(data, &source, &train_cands)?),
        _ => None,
    };
    let prep = Prep::new(proj, opts.norm, stats.as_ref());
    let used: Vec<usize> = train_cands
        .iter()
        .chain(val_cands.iter().filter(|&&i| data.n_tokens(i) > 0))
        .copied()
        .collect();
    let tokens: u64 = used.iter().map(|&i| data.n_tokens(i) as u64).sum();
    let cache_floats = tokens as u128 * f as u128;
    let mut reader = if cache_floats * 4 <= u128::from(opts.cache_budget_bytes) {
        RowReader::cached(data, prep, &used, cache_floats as usize)?
    } else {
        RowReader::streaming(data, prep)
    };

    let plan = TrainPlan {
        problems: n_problems,
        train_problems: train.len(),
        val_problems: val.len(),
        train_candidates: train_cands.len(),
        val_candidates: val_cands.len(),
        empty_candidates: (0..data.n_candidates())
            .filter(|&i| data.n_tokens(i) == 0)
            .count(),
        dropped_problems: dropped,
        tokens,
        width: f,
        cached: reader.is_cached(),
        batches_per_epoch: train.len().div_ceil(opts.batch_problems),
        max_epochs: opts.max_epochs,
    };
    progress(TrainEvent::Started(&plan));

    // Initialisation: uniform in ±1/sqrt(F), weights then biases.
    let rows = if opts.gate { 2 } else { 1 };
    let bound = 1.0 / (f as f64).sqrt();
    let mut init = Rng::derive(opts.seed, INIT_STREAM);
    let theta: Vec<f32> = (0..rows * (f + 1))
        .map(|_| ((init.next_f64() * 2.0 - 1.0) * bound) as f32)
        .collect();
    let mut params = Params {
        gate: opts.gate,
        f,
        theta,
    };
    let mut best_theta = params.theta.clone();
    let mut opt = adamw::AdamW::new(params.theta.len(), opts.lr, opts.weight_decay);
    let mut shuffle = Rng::derive(opts.seed, SHUFFLE_STREAM);
    let mut scratch = Scratch::default();
    let mut cand_grads: Vec<Vec<f32>> = Vec::new();
    let mut grad = vec![0.0f32; params.theta.len()];
    let mut dl = Vec::new();

    let mut reports: Vec<EpochReport> = Vec::new();
    let mut best: Option<(f64, u32)> = None;
    let mut since_best = 0u32;
    let mut stopped_early = false;
    let mut selected_by = Selection::ValidationLoss;
    let mut order: Vec<usize> = (0..train.len()).collect();
    for epoch in 1..=opts.max_epochs {
        let started = Instant::now();
        shuffle.shuffle(&mut order);
        let (mut epoch_sum, mut epoch_terms) = (0.0f64, 0usize);
        let batches = plan.batches_per_epoch;
        for (b, chunk) in order.chunks(opts.batch_problems).enumerate() {
            let mut cands = Vec::new();
            let mut labels = Vec::new();
            let mut probs = Vec::new();
            for (local, &pi) in chunk.iter().enumerate() {
                for &i in &train[pi].cands {
                    cands.push(i);
                    labels.push(data.label(i));
                    probs.push(local);
                }
            }
            while cand_grads.len() < cands.len() {
                cand_grads.push(vec![0.0; params.theta.len()]);
            }
            let mut scores = Vec::with_capacity(cands.len());
            for (k, &i) in cands.iter().enumerate() {
                let rows = reader.rows(i)?;
                scores.push(score_candidate(
                    &params,
                    rows,
                    &mut scratch,
                    Some(&mut cand_grads[k]),
                ));
            }
            let (sum, terms) = loss_terms(opts.loss, pw, &scores, &labels, &probs, &mut dl);
            if terms == 0 {
                continue;
            }
            if !sum.is_finite() {
                return Err(TrainError::Diverged { epoch, loss: sum });
            }
            grad.fill(0.0);
            for (k, cg) in cand_grads.iter().enumerate().take(cands.len()) {
                let c = (dl[k] / terms as f64) as f32;
                if c != 0.0 && scores[k].is_some() {
                    for (g, &v) in grad.iter_mut().zip(cg) {
                        *g += c * v;
                    }
                }
            }
            opt.step(&mut params.theta, &grad);
            epoch_sum += sum;
            epoch_terms += terms;
            progress(TrainEvent::Batch {
                epoch,
                batch: b + 1,
                batches,
            });
        }
        let train_loss = epoch_sum / epoch_terms.max(1) as f64;
        if !train_loss.is_finite() || params.theta.iter().any(|v| !v.is_finite()) {
            return Err(TrainError::Diverged {
                epoch,
                loss: train_loss,
            });
        }
        let ev = evaluate(
            &params,
            &mut reader,
            data,
            &val,
            opts.loss,
            pw,
            &mut scratch,
        )?;
        let criterion = match (opts.keep_by, ev.auc_per_problem, ev.loss) {
            (KeepBy::WithinAuc, Some(a), _) => {
                selected_by = Selection::ValidationWithinAuc;
                -a
            }
            (_, _, Some(l)) => l,
            (_, _, None) => {
                selected_by = Selection::TrainingLoss;
                train_loss
            }
        };
        let improved = best.is_none_or(|(b, _)| criterion < b);
        if improved {
            best = Some((criterion, epoch));
            best_theta.copy_from_slice(&params.theta);
            since_best = 0;
        } else {
            since_best += 1;
        }
        let report = EpochReport {
            epoch,
            train_loss,
            val_loss: ev.loss,
            val_auc: ev.auc,
            val_auc_per_problem: ev.auc_per_problem,
            val_bon_accuracy: ev.bon,
            improved,
            seconds: started.elapsed().as_secs_f64(),
        };
        progress(TrainEvent::Epoch(&report));
        reports.push(report);
        if since_best >= opts.patience && epoch < opts.max_epochs {
            stopped_early = true;
            break;
        }
    }
    let best_epoch = best.map(|(_, e)| e).unwrap_or(1);
    let kept = &reports[best_epoch as usize - 1];

    let training = TrainingInfo {
        task: opts.task.clone(),
        problems: n_problems as u64,
        val_problems: val.len() as u64,
        candidates: (train_cands.len() + val_cands.len()) as u64,
        tokens,
        seed: opts.seed,
        loss: opts.loss.to_string(),
        pos_weight,
        lr: opts.lr,
        weight_decay: opts.weight_decay,
        batch_problems: opts.batch_problems as u64,
        epochs: reports.len() as u32,
        best_epoch,
        kept_by: (selected_by == Selection::ValidationWithinAuc).then(|| opts.keep_by.to_string()),
        folds: None,
        validation: ValidationMetrics {
            loss: kept.val_loss,
            auc: kept.val_auc,
            auc_per_problem: kept.val_auc_per_problem,
            bon_accuracy: kept.val_bon_accuracy,
        },
        date: rfc3339_utc(SystemTime::now()),
        command: opts.command.clone(),
        soft_vote: None,
        soft_vote_by_kind: Default::default(),
        weights_by_kind: Default::default(),
    };
    let spec = HeadSpec {
        model: model.clone(),
        features: source,
        norm: opts.norm,
        gate: opts.gate,
        eos: opts.eos,
        instruction: opts.instruction.clone(),
        instruction_by_kind: opts.instruction_by_kind.clone(),
        training: Some(training),
        notes: opts.notes.clone(),
    };
    let split_at = rows * f;
    let head = Head::new(
        spec,
        best_theta[..split_at].to_vec(),
        best_theta[split_at..].to_vec(),
        stats,
    )?;
    let summary = TrainSummary {
        plan,
        epochs: reports,
        best_epoch,
        stopped_early,
        selected_by,
        pos_weight,
        val_groups: val.iter().map(|p| p.group).collect(),
    };
    Ok(TrainOutcome { head, summary })
}

/// `time` as an RFC 3339 UTC timestamp with whole seconds, e.g. `2026-03-21T09:05:00Z`.
pub fn rfc3339_utc(time: SystemTime) -> String {
    let secs = match time.duration_since(UNIX_EPOCH) {
        Ok(d) => d.as_secs() as i64,
        Err(e) => -(e.duration().as_secs() as i64),
    };
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    // Civil date from days since 1970-01-01 (proleptic Gregorian; H. Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        rem / 60 % 60,
        rem % 60
    )
}

#[cfg(test)]
mod tests;
