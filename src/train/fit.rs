//! One call from labelled candidates to a head and its held-out scores ([`fit`]), and a general
//! head with weights of its own per answer kind ([`fit_by_kind`]).
//!
//! [`fit`] is [`train`] or [`cross_validate`], whichever the folds ask for, together with every
//! candidate's score by a head that did not train on it: what the soft vote of `auto` is
//! calibrated on. [`fit_by_kind`] fits each answer kind on that kind's collections alone and
//! merges the results into one head whose main weights are the kind with the most problems.

use std::collections::BTreeMap;

use crate::features::{CandidateFeatures, ConcatFeatures};
use crate::head::{KindTraining, ModelIdentity, ValidationMetrics};
use crate::tasks::AnswerKind;

use super::{
    cross_validate, held_out_scores, train, CvEvent, EpochReport, TrainError, TrainOptions,
    TrainOutcome,
};

/// A trained head with what calibrating and reporting it needs.
#[derive(Debug, Clone)]
pub struct Fit {
    /// The head and its run (with folds, the final run on every problem).
    pub outcome: TrainOutcome,
    /// Each candidate's score by a head that did not train on it, in the data's candidate
    /// order: with folds every candidate's (out of fold), else the validation split's.
    pub held_out: Vec<Option<f64>>,
    /// With folds, the folds' mean validation metrics.
    pub cross_validated: Option<ValidationMetrics>,
    /// With folds, each fold's kept epoch, in fold order (empty without folds).
    pub folds: Vec<EpochReport>,
}

impl Fit {
    /// Validation AUC (pooled, within problems): the folds' mean, else the kept epoch's.
    pub fn aucs(&self) -> (Option<f64>, Option<f64>) {
        match &self.cross_validated {
            Some(mean) => (mean.auc, mean.auc_per_problem),
            None => {
                let best = self.outcome.summary.best();
                (best.val_auc, best.val_auc_per_problem)
            }
        }
    }

    /// Problems the head trained on (training and validation).
    pub fn problems(&self) -> usize {
        self.outcome.summary.plan.problems
    }
}

/// Trains one head on `data`. With `folds`, by [`cross_validate`]: every candidate is then
/// scored out of fold, and the final head trains on every problem for the folds' median kept
/// epoch. Without, one [`train`] run whose validation split's candidates are the scored ones.
/// Progress of a run without folds comes as [`CvEvent::Train`].
pub fn fit(
    data: &dyn CandidateFeatures,
    model: &ModelIdentity,
    opts: &TrainOptions,
    folds: Option<usize>,
    on_event: &mut dyn FnMut(CvEvent<'_>),
) -> Result<Fit, TrainError> {
    match folds {
        Some(k) => {
            let cv = cross_validate(data, model, opts, k, on_event)?;
            let held_out = cv.out_of_fold_scores(data)?;
            let folds = cv.fold_reports().into_iter().cloned().collect();
            Ok(Fit {
                outcome: cv.last,
                held_out,
                cross_validated: Some(cv.mean),
                folds,
            })
        }
        None => {
            let outcome = train(data, model, opts, &mut |e| on_event(CvEvent::Train(e)))?;
            let held_out = held_out_scores(data, &[(&outcome.head, &outcome.summary.val_groups)])?;
            Ok(Fit {
                outcome,
                held_out,
                cross_validated: None,
                folds: Vec::new(),
            })
        }
    }
}

/// The result of [`fit_by_kind`].
#[derive(Debug, Clone)]
pub struct KindsFit {
    /// The merged head: the main kind's run, with every other kind's weights added and
    /// recorded ([`crate::head::Head::for_kind`], [`crate::head::TrainingInfo::weights_by_kind`]).
    /// Its held-out scores cover every part, in the parts' order, as from one [`fit`] over all
    /// of them.
    pub merged: Fit,
    /// The kind whose weights are the head's main ones (the most problems; the first kind in
    /// order on a tie).
    pub main: AnswerKind,
    /// Every kind's own fit, in kind order (the main kind's with its unmerged head), for
    /// reports.
    pub by_kind: Vec<(AnswerKind, Fit)>,
}

impl KindsFit {
    /// Problems over every kind.
    pub fn problems(&self) -> usize {
        self.by_kind.iter().map(|(_, f)| f.problems()).sum()
    }
}

/// A general head with weights of its own per answer kind: one [`fit`] per kind on that kind's
/// parts alone (its own folds, early stopping and epoch count). `parts` are the collections in
/// order, each with its questions' answer kind. Every event names the kind being fitted.
pub fn fit_by_kind(
    parts: &[(AnswerKind, &dyn CandidateFeatures)],
    model: &ModelIdentity,
    opts: &TrainOptions,
    folds: Option<usize>,
    on_event: &mut dyn FnMut(AnswerKind, CvEvent<'_>),
) -> Result<KindsFit, TrainError> {
    let mut members: BTreeMap<AnswerKind, Vec<usize>> = BTreeMap::new();
    for (i, (kind, _)) in parts.iter().enumerate() {
        members.entry(*kind).or_default().push(i);
    }
    if members.is_empty() {
        return Err(TrainError::Data {
            reason: "no collections to train on".to_string(),
        });
    }
    let mut offsets = Vec::with_capacity(parts.len());
    let mut total = 0;
    for (_, data) in parts {
        offsets.push(total);
        total += data.n_candidates();
    }
    let mut held_out = vec![None; total];
    let mut by_kind = Vec::with_capacity(members.len());
    for (&kind, idx) in &members {
        let data = ConcatFeatures::new(idx.iter().map(|&i| parts[i].1).collect())
            .map_err(|reason| TrainError::Data { reason })?;
        let f = fit(&data, model, opts, folds, &mut |e| on_event(kind, e))?;
        let mut at = 0;
        for &i in idx {
            let n = parts[i].1.n_candidates();
            held_out[offsets[i]..offsets[i] + n].clone_from_slice(&f.held_out[at..at + n]);
            at += n;
        }
        by_kind.push((kind, f));
    }
    // The most problems; `max_by_key` keeps the last maximum, so break ties towards the first.
    let main_at = (0..by_kind.len())
        .max_by_key(|&i| (by_kind[i].1.problems(), std::cmp::Reverse(i)))
        .unwrap_or(0);
    let main = by_kind[main_at].0;
    let mut merged = by_kind[main_at].1.clone();
    let mut records = BTreeMap::new();
    for (kind, other) in by_kind.iter().filter(|(k, _)| *k != main) {
        merged.outcome.head = merged
            .outcome
            .head
            .with_kind_weights(*kind, &other.outcome.head)?;
        let t = other
            .outcome
            .head
            .spec()
            .training
            .clone()
            .unwrap_or_default();
        records.insert(
            kind.name().to_string(),
            KindTraining {
                problems: t.problems,
                candidates: t.candidates,
                epochs: other.outcome.summary.epochs.len() as u32,
                validation: other.cross_validated.clone().unwrap_or(t.validation),
            },
        );
    }
    merged.outcome.head.set_kind_training(records);
    merged.held_out = held_out;
    Ok(KindsFit {
        merged,
        main,
        by_kind,
    })
}
