//! Cross-validation over problems ([`cross_validate`]) and out-of-fold scoring
//! ([`held_out_scores`]).
//!
//! With `k` folds the problems are shuffled into `k` parts; fold `f` trains on the other parts
//! and validates on part `f`, so every problem is validated on exactly once. The folds choose
//! when to stop (their median kept epoch), and the final head trains on every problem for that
//! many epochs: no problem is spent on a validation split. Each candidate's score by the fold
//! head that did not train on it (out of fold) is what the soft vote is calibrated on.

use std::collections::HashSet;

use crate::eval::mean_and_standard_error;
use crate::features::{CandidateFeatures, SubsetFeatures};
use crate::head::{Head, HeadError, ModelIdentity, ValidationMetrics};

use super::{train, EpochReport, TrainError, TrainEvent, TrainOptions, TrainOutcome};

/// Progress of [`cross_validate`].
#[derive(Debug)]
pub enum CvEvent<'a> {
    /// Fold `fold` (from 0) of `folds` begins.
    Fold {
        /// The fold, from 0.
        fold: usize,
        /// Number of folds.
        folds: usize,
    },
    /// The final head begins: every problem, `epochs` epochs.
    Final {
        /// The folds' median kept epoch.
        epochs: u32,
    },
    /// Progress of the current run (a fold's or the final one).
    Train(TrainEvent<'a>),
}

/// The folds and the final head of [`cross_validate`].
#[derive(Debug, Clone)]
pub struct CrossValidation {
    /// One run per fold, in fold order; each validated on its own part of the problems.
    pub folds: Vec<TrainOutcome>,
    /// The head trained on every problem; its training record holds the number of folds and
    /// [`CrossValidation::mean`].
    pub last: TrainOutcome,
    /// The folds' mean validation metrics at their kept epochs.
    pub mean: ValidationMetrics,
}

impl CrossValidation {
    /// The kept epoch's report of every fold.
    pub fn fold_reports(&self) -> Vec<&EpochReport> {
        self.folds.iter().map(|o| o.summary.best()).collect()
    }

    /// Every candidate's out-of-fold score (see [`held_out_scores`]).
    pub fn out_of_fold_scores(
        &self,
        data: &dyn CandidateFeatures,
    ) -> Result<Vec<Option<f64>>, HeadError> {
        let scorers: Vec<(&Head, &[u64])> = self
            .folds
            .iter()
            .map(|o| (&o.head, &o.summary.val_groups[..]))
            .collect();
        held_out_scores(data, &scorers)
    }
}

/// `k`-fold cross-validation over problems, then the final head on every problem (see the
/// module docs). `opts`' validation fraction and fold are replaced; everything else, the seed
/// included, is used by every run.
pub fn cross_validate(
    data: &dyn CandidateFeatures,
    model: &ModelIdentity,
    opts: &TrainOptions,
    folds: usize,
    on_event: &mut dyn FnMut(CvEvent<'_>),
) -> Result<CrossValidation, TrainError> {
    if folds < 2 {
        return Err(TrainError::InvalidOption {
            option: "folds",
            reason: format!("{folds}: cross-validation needs at least 2 folds"),
        });
    }
    let mut runs = Vec::with_capacity(folds);
    for fold in 0..folds {
        on_event(CvEvent::Fold { fold, folds });
        let o = opts.clone().with_fold(Some((fold, folds)));
        runs.push(train(data, model, &o, &mut |e| {
            on_event(CvEvent::Train(e))
        })?);
    }
    let epochs = median_epoch(runs.iter().map(|o| o.summary.best_epoch));
    on_event(CvEvent::Final { epochs });
    let last_opts = opts
        .clone()
        .with_fold(None)
        .with_val_fraction(0.0)
        .with_max_epochs(epochs);
    let mut last = train(data, model, &last_opts, &mut |e| {
        on_event(CvEvent::Train(e))
    })?;
    let reports: Vec<&EpochReport> = runs.iter().map(|o| o.summary.best()).collect();
    let mean = mean_metrics(&reports);
    last.head.set_cross_validation(folds as u32, mean.clone());
    Ok(CrossValidation {
        folds: runs,
        last,
        mean,
    })
}

/// Candidate `i`'s score by the head whose groups (problems) hold candidate `i`'s group, or
/// `None` when no head's groups do. Each head scores only its own groups' candidates; a group
/// in several heads' lists is scored by the last of them.
pub fn held_out_scores(
    data: &dyn CandidateFeatures,
    scorers: &[(&Head, &[u64])],
) -> Result<Vec<Option<f64>>, HeadError> {
    let mut out = vec![None; data.n_candidates()];
    for (head, groups) in scorers {
        let mine: HashSet<u64> = groups.iter().copied().collect();
        let idx: Vec<usize> = (0..data.n_candidates())
            .filter(|&i| mine.contains(&data.group(i)))
            .collect();
        let scored = head.score_features(&SubsetFeatures::new(data, idx.clone()))?;
        for (&i, s) in idx.iter().zip(&scored) {
            out[i] = Some(s.score);
        }
    }
    Ok(out)
}

/// The median of the folds' kept epochs (the upper one of an even count), at least 1.
pub fn median_epoch(epochs: impl Iterator<Item = u32>) -> u32 {
    let mut v: Vec<u32> = epochs.collect();
    v.sort_unstable();
    v.get(v.len() / 2).copied().unwrap_or(1).max(1)
}

/// The mean of each validation metric over the reports that have it.
pub fn mean_metrics(reports: &[&EpochReport]) -> ValidationMetrics {
    let mean = |get: &dyn Fn(&EpochReport) -> Option<f64>| {
        let v: Vec<f64> = reports.iter().filter_map(|r| get(r)).collect();
        mean_and_standard_error(&v).map(|(mean, _)| mean)
    };
    ValidationMetrics {
        loss: mean(&|r| r.val_loss),
        auc: mean(&|r| r.val_auc),
        auc_per_problem: mean(&|r| r.val_auc_per_problem),
        bon_accuracy: mean(&|r| r.val_bon_accuracy),
    }
}
