//! Picking one candidate out of a problem's candidates.
//!
//! A [`Pool`] holds one problem's candidates in sampling order: each candidate's extracted answer
//! (interned, so votes compare small integers), whether it is correct, and any number of score
//! columns (mean log-prob, self-certainty, one column per SWIFT head, ...). A [`Selector`] picks
//! one candidate out of a *subset* of the pool, given as candidate indices, so that Best-of-k can
//! be evaluated on any k candidates (see [`crate::eval`]).
//!
//! Conventions shared by every selector:
//! - A subset is a set of distinct candidate indices; its order does not matter ("earliest"
//!   always means the lowest candidate index). An empty subset selects nothing (`None`).
//! - Scores are `f64`; `NaN` means "missing" and ranks below every other value, including
//!   `-inf` (SWIFT.md §1: a candidate with no covered token gets the lowest score). The order is
//!   [`compare_scores`].
//! - Score ties go to the earliest candidate (SWIFT.md §5).
//! - Answers are compared after trimming surrounding whitespace (the task's checker has already
//!   normalised them); an answer that is `None` or blank does not vote.
//! - **A candidate without an answer is never picked while a member of the subset has one**, by
//!   every selector but `Random` and `Oracle`: score-based rules (argmax, both fusions) rank the
//!   subset's answered members only, and votes count only answers. A reply with no final answer
//!   cannot be right, so a head that ranks it first (it may well score a fluent, unfinished
//!   reply highly) would throw the question away. `Random` stays the plain pass@1 baseline;
//!   `RandomAnswered` is the baseline a score must beat: a uniform pick among the answered.
//!
//! The selectors:
//!
//! | [`Selector`] | picks |
//! | --- | --- |
//! | `Random` | a uniformly random member (expected accuracy = mean correctness, pass@1) |
//! | `RandomAnswered` | a uniformly random answered member (any member when none has an answer) |
//! | `Oracle` | the earliest correct member, else the earliest member (accuracy = pass@k) |
//! | `Majority` | the most frequent answer ([`majority`]) |
//! | `Argmax` | the highest score ([`argmax`]) |
//! | `WeightedVote` | the answer with the largest sum of sigmoid(score) ([`weighted_vote`]) |
//! | `SoftVote` | the answer with the largest sum of exp(beta (score - best)): majority at beta = 0, argmax at infinity ([`soft_vote`]); optionally with a second score in the exponent ([`soft_vote_plus`]) |
//! | `FusionRanking` | the best worse-of-two ranks ([`fusion_ranking`]) |
//! | `FusionScaling` | the best mean of two min-max scaled scores ([`fusion_scaling`]) |

mod score;
mod vote;

use std::collections::HashMap;

use serde::{Deserialize, Serialize};

use crate::rng::Rng;

pub use score::{argmax, compare_scores, fusion_ranking, fusion_scaling};
pub use vote::{majority, sigmoid, soft_vote, soft_vote_plus, weighted_vote, Term};

/// Errors building a [`Pool`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SelectError {
    /// A candidate carries a different number of scores than the first one.
    #[error("candidate {candidate} has {got} scores, expected {expected} (as candidate 0)")]
    ScoreCount {
        /// Index of the offending candidate.
        candidate: usize,
        /// Scores of candidate 0.
        expected: usize,
        /// Scores of this candidate.
        got: usize,
    },
    /// There are not as many answers as correctness labels.
    #[error("{got} answers for {expected} candidates")]
    AnswerCount {
        /// Number of correctness labels (candidates).
        expected: usize,
        /// Number of answers.
        got: usize,
    },
    /// A score column does not have one value per candidate.
    #[error("score column {column} has {got} values for {expected} candidates")]
    ColumnLength {
        /// Index of the column.
        column: usize,
        /// Number of candidates.
        expected: usize,
        /// Values in the column.
        got: usize,
    },
}

/// One candidate as the selectors see it.
#[derive(Debug, Clone, PartialEq)]
pub struct Candidate {
    /// Extracted, normalised final answer; `None` when the checker found none.
    pub answer: Option<String>,
    /// Whether the answer is correct (used by `Oracle` and by evaluation, never by the others).
    pub correct: bool,
    /// Score columns, the same number and meaning for every candidate of a pool; `NaN` = missing.
    pub scores: Vec<f64>,
}

/// One problem's candidates, in sampling order, prepared for repeated selection.
#[derive(Debug, Clone, PartialEq)]
pub struct Pool {
    /// Interned answer per candidate: equal ids mean equal (trimmed) answers.
    answer_ids: Vec<Option<u32>>,
    /// Number of distinct answers.
    n_answers: usize,
    correct: Vec<bool>,
    /// `scores[column][candidate]`.
    scores: Vec<Vec<f64>>,
}

impl Pool {
    /// A pool from per-candidate records. Every candidate must have as many scores as the first.
    pub fn new(candidates: &[Candidate]) -> Result<Self, SelectError> {
        let n_scores = candidates.first().map_or(0, |c| c.scores.len());
        let mut scores = vec![Vec::with_capacity(candidates.len()); n_scores];
        for (i, c) in candidates.iter().enumerate() {
            if c.scores.len() != n_scores {
                return Err(SelectError::ScoreCount {
                    candidate: i,
                    expected: n_scores,
                    got: c.scores.len(),
                });
            }
            for (column, &s) in scores.iter_mut().zip(&c.scores) {
                column.push(s);
            }
        }
        Self::from_columns(
            candidates.iter().map(|c| c.answer.as_deref()),
            candidates.iter().map(|c| c.correct).collect(),
            scores,
        )
    }

    /// A pool from columns: answers and correctness per candidate, and score columns
    /// (`scores[column][candidate]`), each as long as `correct`.
    pub fn from_columns<'a>(
        answers: impl IntoIterator<Item = Option<&'a str>>,
        correct: Vec<bool>,
        scores: Vec<Vec<f64>>,
    ) -> Result<Self, SelectError> {
        let mut ids: HashMap<&str, u32> = HashMap::new();
        let answer_ids: Vec<Option<u32>> = answers
            .into_iter()
            .map(|a| {
                let a = a.map(str::trim).filter(|a| !a.is_empty())?;
                let next = ids.len() as u32;
                Some(*ids.entry(a).or_insert(next))
            })
            .collect();
        if answer_ids.len() != correct.len() {
            return Err(SelectError::AnswerCount {
                expected: correct.len(),
                got: answer_ids.len(),
            });
        }
        for (column, s) in scores.iter().enumerate() {
            if s.len() != correct.len() {
                return Err(SelectError::ColumnLength {
                    column,
                    expected: correct.len(),
                    got: s.len(),
                });
            }
        }
        Ok(Self {
            answer_ids,
            n_answers: ids.len(),
            correct,
            scores,
        })
    }

    /// Number of candidates.
    pub fn len(&self) -> usize {
        self.correct.len()
    }

    /// Whether the pool has no candidate.
    pub fn is_empty(&self) -> bool {
        self.correct.is_empty()
    }

    /// Whether candidate `i` is correct.
    pub fn is_correct(&self, i: usize) -> bool {
        self.correct[i]
    }

    /// Correctness of every candidate.
    pub fn correct(&self) -> &[bool] {
        &self.correct
    }

    /// Interned answer of candidate `i` (`None` when it has no answer); candidates with equal
    /// (trimmed) answers have equal ids, which are dense in `0..n_answers()`.
    pub fn answer_id(&self, i: usize) -> Option<u32> {
        self.answer_ids[i]
    }

    /// Number of distinct answers.
    pub fn n_answers(&self) -> usize {
        self.n_answers
    }

    /// Number of score columns.
    pub fn n_scores(&self) -> usize {
        self.scores.len()
    }

    /// Score column `column`, one value per candidate. Panics if the column does not exist.
    pub fn scores(&self, column: usize) -> &[f64] {
        &self.scores[column]
    }

    /// Every candidate index, in order: the subset for a plain Best-of-N pick.
    pub fn all(&self) -> Vec<usize> {
        (0..self.len()).collect()
    }

    /// Whether candidate `i` has an answer.
    pub fn is_answered(&self, i: usize) -> bool {
        self.answer_ids[i].is_some()
    }

    /// The members of `subset` that have an answer, into `out` (in subset order); when none has
    /// one, the whole subset: the candidates a score-based selector may pick.
    pub(crate) fn eligible_into(&self, subset: &[usize], out: &mut Vec<usize>) {
        out.clear();
        out.extend(subset.iter().copied().filter(|&i| self.is_answered(i)));
        if out.is_empty() {
            out.extend_from_slice(subset);
        }
    }
}

/// How to pick a candidate. Score columns are indices into the [`Pool`]'s columns.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Selector {
    /// A uniformly random member of the subset.
    Random,
    /// A uniformly random member among the subset's answered ones (any member when none has an
    /// answer): what a score has to beat to show it knows more than "has an answer".
    RandomAnswered,
    /// The earliest correct member, or the earliest member when none is correct.
    Oracle,
    /// Majority vote over answers; see [`majority`].
    Majority,
    /// The highest score; see [`argmax`].
    Argmax {
        /// Score column.
        score: usize,
    },
    /// Vote weighted by sigmoid(score); see [`weighted_vote`].
    WeightedVote {
        /// Score column (a SWIFT head's R, a logit).
        score: usize,
    },
    /// Vote weighted by exp(beta (score - best score)); see [`soft_vote`]. With `plus`, a
    /// second score counts in the exponent too; see [`soft_vote_plus`].
    SoftVote {
        /// Score column.
        score: usize,
        /// Sharpness beta >= 0 (`+inf` allowed; written `null` in JSON).
        beta: f64,
        /// A second score column and its (finite) sharpness.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        plus: Option<Term>,
    },
    /// Worse of two ranks, best wins; see [`fusion_ranking`].
    FusionRanking {
        /// First score column.
        a: usize,
        /// Second score column.
        b: usize,
    },
    /// Mean of two min-max scaled scores, best wins; see [`fusion_scaling`].
    FusionScaling {
        /// First score column.
        a: usize,
        /// Second score column.
        b: usize,
    },
}

impl Selector {
    /// Picks a member of `subset` (distinct candidate indices of `pool`), or `None` when the
    /// subset is empty. Only `Random` draws from `rng`.
    ///
    /// Panics if a subset index or a score column is out of range for `pool`.
    pub fn select(&self, pool: &Pool, subset: &[usize], rng: &mut Rng) -> Option<usize> {
        self.select_with(pool, subset, rng, &mut Scratch::default())
    }

    /// [`Self::select`] reusing `scratch` between calls (no allocation in the steady state).
    pub(crate) fn select_with(
        &self,
        pool: &Pool,
        subset: &[usize],
        rng: &mut Rng,
        scratch: &mut Scratch,
    ) -> Option<usize> {
        if subset.is_empty() {
            return None;
        }
        match *self {
            Selector::Random => return Some(subset[rng.below(subset.len() as u64) as usize]),
            Selector::Oracle
            | Selector::Majority
            | Selector::WeightedVote { .. }
            | Selector::SoftVote { .. } => {}
            Selector::RandomAnswered
            | Selector::Argmax { .. }
            | Selector::FusionRanking { .. }
            | Selector::FusionScaling { .. } => {
                let mut eligible = std::mem::take(&mut scratch.eligible);
                pool.eligible_into(subset, &mut eligible);
                let pick = self.select_among(pool, &eligible, rng, scratch);
                scratch.eligible = eligible;
                return pick;
            }
        }
        self.select_among(pool, subset, rng, scratch)
    }

    /// The rule applied to exactly `subset` (already restricted to answered members where the
    /// rule requires it).
    fn select_among(
        &self,
        pool: &Pool,
        subset: &[usize],
        rng: &mut Rng,
        scratch: &mut Scratch,
    ) -> Option<usize> {
        match *self {
            Selector::Random | Selector::RandomAnswered => {
                Some(subset[rng.below(subset.len() as u64) as usize])
            }
            Selector::Oracle => subset
                .iter()
                .copied()
                .filter(|&i| pool.is_correct(i))
                .min()
                .or_else(|| subset.iter().copied().min()),
            Selector::Majority => vote::majority_with(pool, subset, &mut scratch.tallies),
            Selector::Argmax { score } => argmax(pool.scores(score), subset),
            Selector::WeightedVote { score } => {
                vote::weighted_vote_with(pool, score, subset, &mut scratch.tallies)
            }
            Selector::SoftVote { score, beta, plus } => {
                vote::soft_vote_with(pool, score, beta, plus, subset, &mut scratch.tallies)
            }
            Selector::FusionRanking { a, b } => {
                fusion_ranking(pool.scores(a), pool.scores(b), subset)
            }
            Selector::FusionScaling { a, b } => {
                fusion_scaling(pool.scores(a), pool.scores(b), subset)
            }
        }
    }

    /// Short name of the rule: `random`, `random_answered`, `oracle`, `majority`, `argmax`,
    /// `weighted_vote`, `fusion_ranking` or `fusion_scaling` (the `kind` tag of its JSON form).
    pub fn kind(&self) -> &'static str {
        match self {
            Selector::Random => "random",
            Selector::RandomAnswered => "random_answered",
            Selector::Oracle => "oracle",
            Selector::Majority => "majority",
            Selector::Argmax { .. } => "argmax",
            Selector::WeightedVote { .. } => "weighted_vote",
            Selector::SoftVote { .. } => "soft_vote",
            Selector::FusionRanking { .. } => "fusion_ranking",
            Selector::FusionScaling { .. } => "fusion_scaling",
        }
    }

    /// The score columns this selector reads, in order.
    pub fn score_columns(&self) -> Vec<usize> {
        match *self {
            Selector::Random | Selector::RandomAnswered | Selector::Oracle | Selector::Majority => {
                Vec::new()
            }
            Selector::Argmax { score } | Selector::WeightedVote { score } => vec![score],
            Selector::SoftVote { score, plus, .. } => std::iter::once(score)
                .chain(plus.map(|p| p.score))
                .collect(),
            Selector::FusionRanking { a, b } | Selector::FusionScaling { a, b } => vec![a, b],
        }
    }
}

/// A selector with the name it is reported under (for example `swift-vote`).
#[derive(Debug, Clone, PartialEq)]
pub struct NamedSelector {
    /// Display name, unique within a report.
    pub name: String,
    /// The rule.
    pub selector: Selector,
}

impl NamedSelector {
    /// A named selector.
    pub fn new(name: impl Into<String>, selector: Selector) -> Self {
        Self {
            name: name.into(),
            selector,
        }
    }
}

/// Reusable buffers for repeated selection.
#[derive(Debug, Default)]
pub(crate) struct Scratch {
    tallies: vote::Tallies,
    eligible: Vec<usize>,
}

#[cfg(test)]
mod tests;
