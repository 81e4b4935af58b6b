//! The cost of the SWIFT head alone (pure Rust, no model): scoring time per token and per
//! candidate, and the time of the training entry point on synthetic candidates.

use std::hint::black_box;
use std::time::{Duration, Instant};

use serde::Serialize;

use super::{BenchError, Summary};
use crate::features::{FeatureLayout, InMemoryCandidates, StateSpec};
use crate::head::{Head, HeadSpec, ModelIdentity, Normalization, StreamingScorer};
use crate::rng::Rng;
use crate::train::{train, TrainOptions};

/// A head with seeded random weights, uniform in ±1/sqrt(F) (the reference initialisation), for
/// `states` of `model`: the right shape for timing, meaningless as a scorer.
pub fn random_head(
    model: &ModelIdentity,
    states: &StateSpec,
    norm: Normalization,
    seed: u64,
) -> Result<Head, BenchError> {
    let features = crate::head::hidden_source(states, model)?;
    let spec = HeadSpec {
        model: model.clone(),
        features,
        norm,
        gate: true,
        eos: crate::features::EosRule::Include,
        instruction: None,
        instruction_by_kind: Default::default(),
        training: None,
        notes: Some("random weights for benchmarking".to_string()),
    };
    let f = spec.width();
    let bound = 1.0 / (f as f32).sqrt();
    let mut rng = Rng::new(seed);
    let mut u = || (rng.next_f32() * 2.0 - 1.0) * bound;
    let weight = (0..2 * f).map(|_| u()).collect();
    let bias = (0..2).map(|_| u()).collect();
    Ok(Head::new(spec, weight, bias, None)?)
}

/// Timing of one head configuration.
#[derive(Debug, Clone, Serialize)]
pub struct HeadScoring {
    /// States the head reads (`all`, `last:4`, ...).
    pub states: String,
    /// Normalisation.
    pub norm: Normalization,
    /// Feature width F.
    pub width: usize,
    /// Parameters (2F + 2).
    pub params: usize,
    /// Nanoseconds per covered token through [`StreamingScorer`] (`FeatureSink::token`).
    pub ns_per_token: Summary,
    /// Tokens per candidate in the per-candidate timing.
    pub tokens_per_candidate: usize,
    /// Microseconds to score one candidate from stored rows ([`Head::score_rows`]).
    pub us_per_candidate: Summary,
}

/// Timing loop in the manner of criterion: warm up for `warmup`, pick an iteration count that
/// makes one sample last about `sample`, then take `samples` samples. Returns seconds per
/// iteration of each sample.
pub fn time_loop(
    warmup: Duration,
    sample: Duration,
    samples: usize,
    mut f: impl FnMut(),
) -> Vec<f64> {
    let t0 = Instant::now();
    let mut iters = 0u64;
    while t0.elapsed() < warmup || iters == 0 {
        f();
        iters += 1;
    }
    let per_iter = t0.elapsed().as_secs_f64() / iters as f64;
    let n = ((sample.as_secs_f64() / per_iter.max(1e-12)).ceil() as u64).max(1);
    (0..samples)
        .map(|_| {
            let t = Instant::now();
            for _ in 0..n {
                f();
            }
            t.elapsed().as_secs_f64() / n as f64
        })
        .collect()
}

/// Times scoring with a random head on `states` of `model`, over `pool` distinct random rows
/// (so the rows do not all sit in cache, as captured rows would not).
pub fn time_head_scoring(
    model: &ModelIdentity,
    states: &StateSpec,
    norm: Normalization,
    tokens_per_candidate: usize,
    seed: u64,
) -> Result<HeadScoring, BenchError> {
    let head = random_head(model, states, norm, seed)?;
    let layout = head.layout();
    let f = layout.width();
    let pool = 64usize;
    let mut rng = Rng::new(seed ^ 0x5eed);
    let rows: Vec<f32> = (0..pool * f)
        .map(|_| (rng.next_f32() - 0.5) * 4.0)
        .collect();
    let mut scorer = StreamingScorer::new(&head);
    let warmup = Duration::from_millis(150);
    let sample = Duration::from_millis(20);
    // One "iteration" = one token of each of `pool` candidates.
    scorer.reset(&layout, pool)?;
    let mut failed = None;
    let per_pool = time_loop(warmup, sample, 15, || {
        for (c, row) in rows.chunks_exact(f).enumerate() {
            if let Err(e) = scorer.add_token(c, black_box(row)) {
                failed = Some(e);
            }
        }
    });
    if let Some(e) = failed {
        return Err(e.into());
    }
    black_box(scorer.scores());
    let ns_per_token = Summary::of(per_pool.iter().map(|s| s * 1e9 / pool as f64).collect());
    let t = tokens_per_candidate.max(1);
    let cand: Vec<f32> = rows.iter().copied().cycle().take(t * f).collect();
    let mut failed = None;
    let per_cand = time_loop(warmup, sample, 15, || {
        if let Err(e) = head.score_rows(black_box(&cand), &layout) {
            failed = Some(e);
        }
    });
    if let Some(e) = failed {
        return Err(e.into());
    }
    Ok(HeadScoring {
        states: states.to_string(),
        norm,
        width: f,
        params: head.n_params(),
        ns_per_token,
        tokens_per_candidate: t,
        us_per_candidate: Summary::of(per_cand.iter().map(|s| s * 1e6).collect()),
    })
}

/// Timing of the training entry point on synthetic candidates.
#[derive(Debug, Clone, Serialize)]
pub struct TrainingCost {
    /// States of the synthetic features (and of the head).
    pub states: String,
    /// Feature width F.
    pub width: usize,
    /// Problems.
    pub problems: usize,
    /// Candidates (8 per problem).
    pub candidates: usize,
    /// Covered tokens per candidate.
    pub tokens_per_candidate: usize,
    /// Feature rows in all.
    pub rows: usize,
    /// Size of the rows as f32, MiB.
    pub data_mib: f64,
    /// Epochs run (early stopping off).
    pub epochs: u32,
    /// Wall time of [`train`], seconds (data preparation, all epochs, validation).
    pub seconds: f64,
    /// Mean seconds per epoch, as the trainer reports them.
    pub seconds_per_epoch: f64,
    /// Validation AUC of the kept epoch (a sanity check that it learned the planted signal).
    pub val_auc: Option<f64>,
}

/// Synthetic labelled candidates: noise plus a shift along a planted direction, positive for
/// correct candidates, negative for incorrect ones (about 30% correct), 8 per problem.
fn synthetic(
    layout: FeatureLayout,
    problems: usize,
    tokens: usize,
    seed: u64,
) -> InMemoryCandidates {
    let f = layout.width();
    let mut rng = Rng::new(seed);
    let dir: Vec<f32> = (0..f).map(|_| rng.next_f32() - 0.5).collect();
    let mut data = InMemoryCandidates::new(layout);
    for p in 0..problems {
        for _ in 0..8 {
            let label = rng.next_f64() < 0.3;
            let shift = if label { 0.05 } else { -0.05 };
            let r: Vec<f32> = (0..tokens * f)
                .map(|i| rng.next_f32() - 0.5 + shift * dir[i % f])
                .collect();
            data.push(p as u64, label, r).expect("rows are whole");
        }
    }
    data
}

/// Times [`train`] on `problems` x 8 synthetic candidates of `tokens` covered tokens each,
/// with features of `states` of `model`, for exactly `epochs` epochs.
pub fn time_training(
    model: &ModelIdentity,
    states: &StateSpec,
    problems: usize,
    tokens: usize,
    epochs: u32,
    seed: u64,
) -> Result<TrainingCost, BenchError> {
    let selection = states.resolve(model.n_layer)?;
    let layout = FeatureLayout::hidden(selection, model.n_embd);
    let f = layout.width();
    let data = synthetic(layout, problems, tokens, seed);
    let opts = TrainOptions::default()
        .with_max_epochs(epochs)
        .with_patience(epochs + 1)
        .with_seed(seed);
    let t0 = Instant::now();
    let out = train(&data, model, &opts, &mut |_| {})?;
    let seconds = t0.elapsed().as_secs_f64();
    let ran = out.summary.epochs.len();
    let rows = problems * 8 * tokens;
    Ok(TrainingCost {
        states: states.to_string(),
        width: f,
        problems,
        candidates: problems * 8,
        tokens_per_candidate: tokens,
        rows,
        data_mib: (rows * f * 4) as f64 / (1 << 20) as f64,
        epochs: ran as u32,
        seconds,
        seconds_per_epoch: out.summary.epochs.iter().map(|e| e.seconds).sum::<f64>()
            / ran.max(1) as f64,
        val_auc: out.summary.best().val_auc,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn model() -> ModelIdentity {
        ModelIdentity {
            architecture: "llama".into(),
            n_layer: 4,
            n_embd: 8,
            n_vocab: 16,
            fingerprint: "x".into(),
        }
    }

    #[test]
    fn random_head_has_the_reference_init_range() {
        let head = random_head(&model(), &StateSpec::All, Normalization::None, 1).unwrap();
        let f = head.width();
        assert_eq!(f, 5 * 8);
        let bound = 1.0 / (f as f32).sqrt();
        assert!(head.weight().iter().all(|w| w.abs() <= bound));
        assert_eq!(head.n_params(), 2 * f + 2);
    }

    #[test]
    fn timing_loop_returns_the_samples_asked_for() {
        let mut calls = 0u64;
        let s = time_loop(Duration::ZERO, Duration::ZERO, 3, || calls += 1);
        assert_eq!(s.len(), 3);
        assert!(calls >= 4);
    }

    #[test]
    fn head_and_training_costs_have_sane_shapes() {
        let h =
            time_head_scoring(&model(), &StateSpec::Last(2), Normalization::None, 5, 3).unwrap();
        assert_eq!(h.width, 16);
        assert!(h.ns_per_token.median > 0.0);
        let t = time_training(&model(), &StateSpec::All, 6, 4, 2, 9).unwrap();
        assert_eq!(t.candidates, 48);
        assert_eq!(t.epochs, 2);
    }
}
