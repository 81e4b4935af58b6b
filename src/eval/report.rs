//! The evaluation itself and its report.

use std::collections::HashSet;
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::rng::Rng;
use crate::select::{NamedSelector, Selector};

use super::estimate::{problem_k, Method, SubsetBudget};
use super::input::ProblemSet;
use super::{EvalConfig, EvalError};
use crate::head::auc;

/// Version of the report's JSON form; bumped on any change of its keys or their meaning.
pub const SCHEMA_VERSION: u32 = 2;

/// Everything an evaluation measured. Its JSON form is documented in [`crate::eval`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Report {
    /// [`SCHEMA_VERSION`] of the writer.
    pub schema_version: u32,
    /// Settings that produced the numbers.
    pub settings: Settings,
    /// Sizes of the data.
    pub counts: Counts,
    /// The selectors, in column order.
    pub selectors: Vec<SelectorInfo>,
    /// Per score column: how well it separates correct from incorrect candidates.
    pub scores: Vec<ScoreSummary>,
    /// One row per evaluated k, ascending.
    pub rows: Vec<Row>,
    /// Remarks a reader needs (skipped problems, missing scores, ...).
    pub notes: Vec<String>,
}

/// Settings of an evaluation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Settings {
    /// The k values asked for (after defaults, sorting and de-duplication).
    pub ks: Vec<usize>,
    /// Largest number of k-subsets per problem that is enumerated exactly.
    pub exact_budget: u64,
    /// Random k-subsets per problem when enumeration is over budget.
    pub draws: usize,
    /// Seed of the subset draws.
    pub seed: u64,
}

/// Sizes of the data.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Counts {
    /// Problems.
    pub problems: usize,
    /// Candidates over all problems.
    pub candidates: usize,
    /// Correct candidates.
    pub correct: usize,
    /// Fewest candidates of a problem.
    pub min_candidates: usize,
    /// Most candidates of a problem.
    pub max_candidates: usize,
    /// Problems whose candidates are all correct.
    pub all_correct: usize,
    /// Problems with no correct candidate.
    pub none_correct: usize,
    /// Candidates without an extracted answer.
    pub no_answer: usize,
}

/// A selector as reported.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SelectorInfo {
    /// Display name (the key of its cells).
    pub name: String,
    /// Rule: `random`, `oracle`, `majority`, `argmax`, `weighted_vote`, `fusion_ranking` or
    /// `fusion_scaling`.
    pub kind: String,
    /// Names of the score columns it reads, in order.
    pub scores: Vec<String>,
}

/// How well one score separates correct from incorrect candidates.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ScoreSummary {
    /// Score column name.
    pub name: String,
    /// Candidates without this score (`NaN`; ranked lowest everywhere).
    pub missing: usize,
    /// AUC over all candidates of all problems pooled; `null` without both classes.
    pub auc_pooled: Option<f64>,
    /// Mean of the per-problem AUCs over the problems that have both classes; `null` if none.
    pub auc_mean_per_problem: Option<f64>,
    /// Problems with at least one correct and one incorrect candidate.
    pub problems_with_both_classes: usize,
}

/// Accuracies at one k.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Row {
    /// Candidates per pick.
    pub k: usize,
    /// Problems evaluated at this k (those with at least k candidates).
    pub problems: usize,
    /// Problems skipped because they have fewer than k candidates.
    pub skipped: usize,
    /// One cell per selector, in the order of [`Report::selectors`].
    pub cells: Vec<Cell>,
}

/// One selector's accuracy at one k, averaged over the row's problems.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Cell {
    /// Selector name.
    pub selector: String,
    /// Reference BoN@k: accuracy of the pick among the first k candidates (for `random`, the
    /// mean correctness of the first k).
    pub first_k: f64,
    /// Expected accuracy over uniformly random k-subsets of each problem's candidates.
    pub expected: f64,
    /// Monte Carlo standard error of `expected` (0 when exact). It covers the subset sampling
    /// only, not the finite number of problems.
    pub std_error: f64,
    /// `exact`, or `sampled(D)` when at least one problem was estimated from D random subsets.
    pub method: Method,
    /// Problems whose expectation was sampled rather than exact.
    pub sampled_problems: usize,
    /// This selector's expected accuracy minus majority vote's, paired over problems (absent
    /// without a `Majority` selector in the report, or with fewer than two problems).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vs_majority: Option<Difference>,
    /// This selector's expected accuracy minus the log-prob argmax's, paired over problems
    /// (absent without that selector in the report, or with fewer than two problems).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vs_logprob: Option<Difference>,
}

/// A difference of accuracies, paired over problems: the mean over problems of one selector's
/// expected accuracy minus another's, and the standard error of that mean over problems (the
/// noise of the problem set).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Difference {
    /// Mean difference.
    pub mean: f64,
    /// Its standard error over problems.
    pub std_error: f64,
}

/// Selector `a`'s accuracy minus `b`'s, paired over the rows of `per_problem`; `None` with fewer
/// than two problems (no standard error).
fn paired_difference(per_problem: &[Vec<f64>], a: usize, b: usize) -> Option<Difference> {
    let d: Vec<f64> = per_problem.iter().map(|p| p[a] - p[b]).collect();
    let (mean, std_error) = super::mean_and_standard_error(&d)?;
    std_error
        .is_finite()
        .then_some(Difference { mean, std_error })
}

impl Report {
    /// The cell of `selector` at `k`.
    pub fn cell(&self, k: usize, selector: &str) -> Option<&Cell> {
        self.rows
            .iter()
            .find(|r| r.k == k)?
            .cells
            .iter()
            .find(|c| c.selector == selector)
    }

    /// The report as pretty-printed JSON.
    pub fn to_json(&self) -> String {
        // Serialising plain structs of numbers and strings cannot fail.
        serde_json::to_string_pretty(self).expect("report serialises")
    }

    /// Writes [`Self::to_json`] (plus a newline) to `path` atomically.
    pub fn save_json(&self, path: &Path) -> std::io::Result<()> {
        let mut s = self.to_json();
        s.push('\n');
        crate::fsutil::write_atomic(path, s.as_bytes())
    }
}

/// The k values used when none are given: 1, 2, 4, ... up to the largest candidate count, plus
/// that count itself when it is not a power of two.
pub fn default_ks(max_candidates: usize) -> Vec<usize> {
    let mut ks: Vec<usize> = std::iter::successors(Some(1usize), |k| k.checked_mul(2))
        .take_while(|&k| k <= max_candidates)
        .collect();
    if max_candidates > 0 && !max_candidates.is_power_of_two() {
        ks.push(max_candidates);
    }
    ks
}

/// Generator for the subsets of one (problem, k): independent of the selectors and of the other
/// problems and k values, so adding either does not change existing numbers.
fn subset_rng(seed: u64, problem_index: u64, k: usize) -> Rng {
    Rng::derive(Rng::derive(seed, problem_index).next_u64(), k as u64)
}

fn validate(
    set: &ProblemSet,
    selectors: &[NamedSelector],
    config: &EvalConfig,
) -> Result<(), EvalError> {
    if selectors.is_empty() {
        return Err(EvalError::NoSelectors);
    }
    let mut names = HashSet::new();
    for s in selectors {
        if !names.insert(s.name.as_str()) {
            return Err(EvalError::DuplicateSelector {
                name: s.name.clone(),
            });
        }
        let n_scores = set.score_names().len();
        if let Some(&column) = s.selector.score_columns().iter().find(|&&c| c >= n_scores) {
            return Err(EvalError::UnknownScoreColumn {
                selector: s.name.clone(),
                column,
                n_scores,
            });
        }
    }
    if config.draws < 2 {
        return Err(EvalError::Draws {
            draws: config.draws,
        });
    }
    if config.ks.as_ref().is_some_and(|ks| ks.contains(&0)) {
        return Err(EvalError::ZeroK);
    }
    Ok(())
}

/// Best-of-k accuracy of every selector at every k, score AUCs and counts.
///
/// For each k, the problems with at least k candidates are evaluated (the others are skipped and
/// counted); each cell averages over them the first-k accuracy and the expected accuracy over
/// uniformly random k-subsets (closed form for random, oracle and score argmax; otherwise exact
/// enumeration within `config.exact_budget` subsets per problem, else `config.draws` random
/// subsets per problem, seeded by `config.seed`, the problem index and k).
pub fn evaluate(
    set: &ProblemSet,
    selectors: &[NamedSelector],
    config: &EvalConfig,
) -> Result<Report, EvalError> {
    validate(set, selectors, config)?;
    let problems = set.problems();
    let sizes: Vec<usize> = problems.iter().map(|p| p.pool.len()).collect();
    let max_n = sizes.iter().copied().max().unwrap_or(0);
    let min_n = sizes.iter().copied().min().unwrap_or(0);
    let ks = match &config.ks {
        Some(ks) => {
            let mut ks = ks.clone();
            ks.sort_unstable();
            ks.dedup();
            ks
        }
        None => default_ks(max_n),
    };
    let mut notes: Vec<String> = set.notes().to_vec();

    let counts = Counts {
        problems: problems.len(),
        candidates: sizes.iter().sum(),
        correct: problems
            .iter()
            .map(|p| p.pool.correct().iter().filter(|&&c| c).count())
            .sum(),
        min_candidates: min_n,
        max_candidates: max_n,
        all_correct: problems
            .iter()
            .filter(|p| p.pool.correct().iter().all(|&c| c))
            .count(),
        none_correct: problems
            .iter()
            .filter(|p| !p.pool.correct().iter().any(|&c| c))
            .count(),
        no_answer: problems
            .iter()
            .map(|p| {
                (0..p.pool.len())
                    .filter(|&i| p.pool.answer_id(i).is_none())
                    .count()
            })
            .sum(),
    };

    let scores: Vec<ScoreSummary> = set
        .score_names()
        .iter()
        .enumerate()
        .map(|(column, name)| summarize_score(set, column, name))
        .collect();
    for s in &scores {
        if s.missing > 0 {
            notes.push(format!(
                "{}: {} candidate(s) have no score and rank lowest",
                s.name, s.missing
            ));
        }
    }

    let rules: Vec<Selector> = selectors.iter().map(|s| s.selector).collect();
    // The two baselines every selector is compared with, problem by problem.
    let majority = rules.iter().position(|r| *r == Selector::Majority);
    let logprob = set.score_index(super::LOGPROB).and_then(|c| {
        rules
            .iter()
            .position(|r| *r == Selector::Argmax { score: c })
    });
    let budget = SubsetBudget {
        exact_budget: config.exact_budget,
        draws: config.draws,
    };
    let mut rows = Vec::new();
    for &k in &ks {
        let included: Vec<_> = problems.iter().filter(|p| p.pool.len() >= k).collect();
        let skipped = problems.len() - included.len();
        if included.is_empty() {
            notes.push(format!(
                "k={k}: every problem has fewer than {k} candidates; no row"
            ));
            continue;
        }
        if skipped > 0 {
            notes.push(format!(
                "k={k}: {skipped} problem(s) with fewer than {k} candidates skipped"
            ));
        }
        let m = rules.len();
        let (mut first, mut expected, mut var) = (vec![0.0; m], vec![0.0; m], vec![0.0; m]);
        let mut sampled = vec![0usize; m];
        // Each problem's expected accuracy per selector, for the paired differences.
        let mut per_problem: Vec<Vec<f64>> = Vec::with_capacity(included.len());
        for p in &included {
            let mut rng = subset_rng(config.seed, p.problem_index, k);
            let r = problem_k(&p.pool, &rules, k, budget, &mut rng);
            per_problem.push(r.expected.iter().map(|e| e.mean).collect());
            for s in 0..m {
                first[s] += r.first_k[s];
                expected[s] += r.expected[s].mean;
                var[s] += r.expected[s].std_error * r.expected[s].std_error;
                if let Method::Sampled(_) = r.expected[s].method {
                    sampled[s] += 1;
                }
            }
        }
        let n = included.len() as f64;
        let cells = selectors
            .iter()
            .enumerate()
            .map(|(s, named)| Cell {
                selector: named.name.clone(),
                first_k: first[s] / n,
                expected: expected[s] / n,
                std_error: var[s].sqrt() / n,
                method: if sampled[s] > 0 {
                    Method::Sampled(config.draws)
                } else {
                    Method::Exact
                },
                sampled_problems: sampled[s],
                vs_majority: majority.and_then(|b| paired_difference(&per_problem, s, b)),
                vs_logprob: logprob.and_then(|b| paired_difference(&per_problem, s, b)),
            })
            .collect();
        rows.push(Row {
            k,
            problems: included.len(),
            skipped,
            cells,
        });
    }

    let selectors = selectors
        .iter()
        .map(|s| SelectorInfo {
            name: s.name.clone(),
            kind: s.selector.kind().to_owned(),
            scores: s
                .selector
                .score_columns()
                .iter()
                .map(|&c| set.score_names()[c].clone())
                .collect(),
        })
        .collect();
    Ok(Report {
        schema_version: SCHEMA_VERSION,
        settings: Settings {
            ks,
            exact_budget: config.exact_budget,
            draws: config.draws,
            seed: config.seed,
        },
        counts,
        selectors,
        scores,
        rows,
        notes,
    })
}

fn summarize_score(set: &ProblemSet, column: usize, name: &str) -> ScoreSummary {
    let mut all_scores = Vec::new();
    let mut all_correct = Vec::new();
    let mut per_problem = Vec::new();
    for p in set.problems() {
        let s = p.pool.scores(column);
        all_scores.extend_from_slice(s);
        all_correct.extend_from_slice(p.pool.correct());
        per_problem.extend(auc(s, p.pool.correct()));
    }
    ScoreSummary {
        name: name.to_owned(),
        missing: all_scores.iter().filter(|s| s.is_nan()).count(),
        auc_pooled: auc(&all_scores, &all_correct),
        auc_mean_per_problem: (!per_problem.is_empty())
            .then(|| per_problem.iter().sum::<f64>() / per_problem.len() as f64),
        problems_with_both_classes: per_problem.len(),
    }
}
