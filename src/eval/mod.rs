//! Best-of-k evaluation: how often each selector picks a correct candidate when it sees k of a
//! problem's N candidates, plus score AUCs and counts (SWIFT.md §5).
//!
//! Two accuracies per (selector, k), averaged over problems:
//! - `first_k`: the reference metric BoN@k, the selector applied to the FIRST k candidates (one
//!   draw per problem, hence noisy). For `random` it is the mean correctness of the first k.
//! - `expected`: the expectation over all C(N, k) k-subsets of the candidates, far less noisy.
//!   Closed forms: `random` = mean correctness; `random-answered` (a uniform pick among the
//!   subset's answered candidates) = P(subset has one) x correct / answered; `oracle` =
//!   1 - C(#incorrect, k) / C(N, k); score argmax: rank candidates by (answered first, score
//!   desc, index asc); candidate j wins a random k-subset iff it is in it and no better-ranked
//!   candidate is, so P(j) = C(#worse, k-1) / C(N, k).
//!   Other selectors (majority, weighted vote, fusions) enumerate every subset when there are at
//!   most [`EvalConfig::exact_budget`] of them, and otherwise average over
//!   [`EvalConfig::draws`] uniformly random subsets (seeded), reporting the Monte Carlo standard
//!   error; `method` says which (`exact` / `sampled(D)`).
//!
//! Problems may have different numbers of candidates: at each k only problems with at least k
//! candidates count (the others are reported as skipped).
//!
//! ```no_run
//! # fn records() -> Vec<swift_bon::dataset::CandidateRecord> { Vec::new() }
//! use swift_bon::eval::{evaluate, plot, EvalConfig, HeadScores, PlotOptions, ProblemSet};
//!
//! let head = HeadScores::new("swift").with_score(0, 0, 1.7).with_score(0, 1, -0.4);
//! let set = ProblemSet::from_records(&records(), &[head])?;
//! let report = evaluate(&set, &set.default_selectors(), &EvalConfig::default())?;
//! print!("{}", report.render_text());
//! report.save_json("eval.json".as_ref())?;
//! plot(&report, "eval.svg".as_ref(), &PlotOptions::default())?;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # JSON schema of a [`Report`] (`schema_version` 2)
//!
//! ```text
//! {
//!   "schema_version": 2,
//!   "settings": {
//!     "ks": [1, 2, 4, 8, 16],       // k values asked for (sorted, distinct)
//!     "exact_budget": 20000,        // max subsets per problem enumerated exactly
//!     "draws": 2000,                // random subsets per problem otherwise
//!     "seed": 0                     // seed of the subset draws
//!   },
//!   "counts": {
//!     "problems": 225, "candidates": 3600, "correct": 936,
//!     "min_candidates": 16, "max_candidates": 16,   // candidates per problem
//!     "all_correct": 3,             // problems whose candidates are all correct
//!     "none_correct": 61,           // problems with no correct candidate
//!     "no_answer": 410              // candidates without an extracted answer
//!   },
//!   "selectors": [                  // column order of every row's cells
//!     { "name": "swift-vote", "kind": "weighted_vote", "scores": ["swift"] }
//!     // kind: random | random_answered | oracle | majority | argmax | weighted_vote |
//!     //       fusion_ranking | fusion_scaling; scores: names of the score columns it reads
//!   ],
//!   "scores": [
//!     { "name": "swift",
//!       "missing": 0,               // candidates without this score (ranked lowest)
//!       "auc_pooled": 0.85,         // all candidates pooled; null without both classes
//!       "auc_mean_per_problem": 0.81,  // mean over problems with both classes; null if none
//!       "problems_with_both_classes": 160 }
//!   ],
//!   "rows": [
//!     { "k": 4,
//!       "problems": 225,            // problems with >= k candidates (evaluated)
//!       "skipped": 0,               // problems with fewer than k candidates
//!       "cells": [
//!         { "selector": "swift-vote",
//!           "first_k": 0.52,        // accuracy on the first k candidates
//!           "expected": 0.547,      // expected accuracy over random k-subsets
//!           "std_error": 0.0,       // Monte Carlo standard error of "expected" (0 if exact)
//!           "method": "exact",      // "exact" or "sampled(D)"
//!           "sampled_problems": 0,  // problems whose expectation was sampled
//!           // "expected" minus majority vote's and minus the log-prob argmax's, paired over
//!           // problems: mean and standard error over problems (absent when the report has no
//!           // such selector, or fewer than two problems)
//!           "vs_majority": { "mean": 0.08, "std_error": 0.02 },
//!           "vs_logprob": { "mean": 0.01, "std_error": 0.016 } }
//!       ] }
//!   ],
//!   "notes": ["k=16: 2 problem(s) with fewer than 16 candidates skipped"]
//! }
//! ```
//! Accuracies are fractions in [0, 1]. AUCs count ties as 1/2.

mod calibrate;
mod estimate;
mod input;
mod plot;
pub mod prune;
mod render;
mod report;

/// The crate's one AUC, shared with training (see [`crate::head::auc`]).
pub use crate::head::auc;
pub use calibrate::{
    calibrate_soft_vote, calibrate_soft_vote_by_kind, GridPoint, KindFits, SoftVoteFit,
    LOGPROB_GRID, SOFT_VOTE_GRID,
};
pub use estimate::{
    answered_argmax_win_probabilities, argmax_win_probabilities, binomial, expected_accuracy,
    expected_answered_argmax, expected_argmax, expected_oracle, expected_random,
    expected_random_answered, first_k, mean_and_standard_error, Estimate, Method, SubsetBudget,
};
pub use input::{HeadScores, Problem, ProblemSet, LOGPROB, SELF_CERTAINTY};
pub use plot::{find_system_font, plot, PlotError, PlotMetric, PlotOptions, FONT_PATHS};
pub use report::{
    default_ks, evaluate, Cell, Counts, Difference, Report, Row, ScoreSummary, SelectorInfo,
    Settings, SCHEMA_VERSION,
};

use crate::select::SelectError;

/// Errors in the evaluation's input.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum EvalError {
    /// There is no problem to evaluate.
    #[error("no candidates to evaluate")]
    NoProblems,
    /// A problem has no candidate.
    #[error("problem {problem_index} has no candidate")]
    EmptyProblem {
        /// The problem.
        problem_index: u64,
    },
    /// Two problems share an index.
    #[error("problem {problem_index} appears twice")]
    DuplicateProblem {
        /// The problem.
        problem_index: u64,
    },
    /// Two records share a (problem, candidate) pair.
    #[error("problem {problem_index} has two records for candidate {candidate}")]
    DuplicateCandidate {
        /// The problem.
        problem_index: u64,
        /// The candidate.
        candidate: u32,
    },
    /// A problem's candidate list and pool differ in length.
    #[error("problem {problem_index} lists {got} candidate indices for {expected} candidates")]
    CandidateCount {
        /// The problem.
        problem_index: u64,
        /// Candidates in the pool.
        expected: usize,
        /// Candidate indices listed.
        got: usize,
    },
    /// A head has scores for candidates without a record (scores from another run?).
    #[error(
        "head {head:?} scores {count} candidate(s) that have no record, \
         first (problem {problem_index}, candidate {candidate}): are the scores from another run?"
    )]
    UnknownCandidate {
        /// The head.
        head: String,
        /// First unknown problem.
        problem_index: u64,
        /// First unknown candidate.
        candidate: u32,
        /// How many scores have no record.
        count: usize,
    },
    /// A score column name is unusable.
    #[error("score name {name:?}: {reason}")]
    ScoreName {
        /// The name.
        name: String,
        /// Why it is unusable.
        reason: &'static str,
    },
    /// A pool has a different number of score columns than the set has names.
    #[error("problem {problem_index} has {got} score columns, expected {expected}")]
    ScoreColumnCount {
        /// The problem.
        problem_index: u64,
        /// Score names of the set.
        expected: usize,
        /// Columns of the pool.
        got: usize,
    },
    /// A selector reads a score column that does not exist.
    #[error("selector {selector:?} reads score column {column}, but there are {n_scores}")]
    UnknownScoreColumn {
        /// The selector.
        selector: String,
        /// The column.
        column: usize,
        /// Columns available.
        n_scores: usize,
    },
    /// Two selectors share a name.
    #[error("two selectors are named {name:?}")]
    DuplicateSelector {
        /// The name.
        name: String,
    },
    /// No selector was given.
    #[error("no selector to evaluate")]
    NoSelectors,
    /// k = 0 was asked for.
    #[error("k must be at least 1")]
    ZeroK,
    /// Fewer than two random subsets per problem (no standard error).
    #[error("draws must be at least 2, got {draws}")]
    Draws {
        /// The number given.
        draws: usize,
    },
    /// Building a pool failed.
    #[error(transparent)]
    Pool(#[from] SelectError),
}

/// Settings of [`evaluate`].
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct EvalConfig {
    /// k values; `None` = [`default_ks`] of the largest candidate count (1, 2, 4, ... N).
    pub ks: Option<Vec<usize>>,
    /// Enumerate all k-subsets of a problem when there are at most this many (default 20,000).
    pub exact_budget: u64,
    /// Otherwise average over this many random k-subsets per problem (default 2,000; >= 2).
    pub draws: usize,
    /// Seed of the random subsets (default 0).
    pub seed: u64,
}

impl Default for EvalConfig {
    fn default() -> Self {
        let budget = SubsetBudget::default();
        Self {
            ks: None,
            exact_budget: budget.exact_budget,
            draws: budget.draws,
            seed: 0,
        }
    }
}

impl EvalConfig {
    /// Evaluate at these k values.
    #[must_use]
    pub fn with_ks(mut self, ks: impl Into<Vec<usize>>) -> Self {
        self.ks = Some(ks.into());
        self
    }

    /// Enumerate exactly up to `subsets` k-subsets per problem.
    #[must_use]
    pub fn with_exact_budget(mut self, subsets: u64) -> Self {
        self.exact_budget = subsets;
        self
    }

    /// Sample `draws` random k-subsets per problem beyond the budget.
    #[must_use]
    pub fn with_draws(mut self, draws: usize) -> Self {
        self.draws = draws;
        self
    }

    /// Seed the random subsets.
    #[must_use]
    pub fn with_seed(mut self, seed: u64) -> Self {
        self.seed = seed;
        self
    }
}

#[cfg(test)]
mod tests;
