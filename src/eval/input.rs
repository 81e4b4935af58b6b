//! Grouping candidate records (and head scores) into per-problem pools.

use std::collections::{BTreeMap, HashMap, HashSet};

use crate::dataset::CandidateRecord;
use crate::select::{NamedSelector, Pool, Selector};

use super::EvalError;

/// Name of the score column holding each candidate's mean token log-probability.
pub const LOGPROB: &str = "logprob";
/// Name of the score column holding each candidate's mean self-certainty.
pub const SELF_CERTAINTY: &str = "self-certainty";

/// One head's scores, keyed by (problem_index, candidate).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct HeadScores {
    /// Column and selector name, e.g. `swift` (must differ from `logprob` and `self-certainty`).
    pub name: String,
    /// Score R per (problem_index, candidate). Candidates without an entry get `NaN` (missing,
    /// ranked lowest).
    pub scores: HashMap<(u64, u32), f64>,
}

impl HeadScores {
    /// An empty set of scores for the head `name`.
    pub fn new(name: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            scores: HashMap::new(),
        }
    }

    /// Adds (or replaces) the score of one candidate.
    #[must_use]
    pub fn with_score(mut self, problem_index: u64, candidate: u32, score: f64) -> Self {
        self.scores.insert((problem_index, candidate), score);
        self
    }
}

/// One problem's candidates.
#[derive(Debug, Clone, PartialEq)]
pub struct Problem {
    /// The problem's index in its collection.
    pub problem_index: u64,
    /// Candidate indices in pool order (ascending: sampling order); "first k" means the first k
    /// of these.
    pub candidates: Vec<u32>,
    /// Answers, correctness and score columns, in the same order.
    pub pool: Pool,
}

/// Every problem of an evaluation, with named score columns shared by all pools.
#[derive(Debug, Clone, PartialEq)]
pub struct ProblemSet {
    score_names: Vec<String>,
    problems: Vec<Problem>,
    notes: Vec<String>,
}

impl ProblemSet {
    /// A problem set from prepared pools; every pool must have one score column per name.
    pub fn new(score_names: Vec<String>, problems: Vec<Problem>) -> Result<Self, EvalError> {
        let mut seen = HashSet::new();
        for name in &score_names {
            if name.trim().is_empty() {
                return Err(EvalError::ScoreName {
                    name: name.clone(),
                    reason: "a score name must not be blank",
                });
            }
            if !seen.insert(name.as_str()) {
                return Err(EvalError::ScoreName {
                    name: name.clone(),
                    reason: "score names must be unique",
                });
            }
        }
        if problems.is_empty() {
            return Err(EvalError::NoProblems);
        }
        let mut indices = HashSet::new();
        for p in &problems {
            if !indices.insert(p.problem_index) {
                return Err(EvalError::DuplicateProblem {
                    problem_index: p.problem_index,
                });
            }
            if p.pool.n_scores() != score_names.len() {
                return Err(EvalError::ScoreColumnCount {
                    problem_index: p.problem_index,
                    expected: score_names.len(),
                    got: p.pool.n_scores(),
                });
            }
            if p.pool.is_empty() {
                return Err(EvalError::EmptyProblem {
                    problem_index: p.problem_index,
                });
            }
            if p.candidates.len() != p.pool.len() {
                return Err(EvalError::CandidateCount {
                    problem_index: p.problem_index,
                    expected: p.pool.len(),
                    got: p.candidates.len(),
                });
            }
        }
        Ok(Self {
            score_names,
            problems,
            notes: Vec::new(),
        })
    }

    /// Groups candidate records by `problem_index` (problems ascending, candidates in ascending
    /// candidate index) with the score columns `logprob` (mean token log-prob),
    /// `self-certainty` (only when some record has per-token self-certainty; `NaN` for the
    /// others), then one column per head, in the order given.
    ///
    /// Problems may have different numbers of candidates. Duplicate (problem, candidate) pairs,
    /// head scores for candidates that have no record, and clashing head names are errors;
    /// candidates without a head score get `NaN` (ranked lowest; counted in the report).
    pub fn from_records(
        records: &[CandidateRecord],
        heads: &[HeadScores],
    ) -> Result<Self, EvalError> {
        let mut by_problem: BTreeMap<u64, Vec<&CandidateRecord>> = BTreeMap::new();
        for r in records {
            by_problem.entry(r.problem_index).or_default().push(r);
        }
        let with_self_certainty = records.iter().any(|r| r.token_self_certainty.is_some());
        let mut score_names = vec![LOGPROB.to_owned()];
        if with_self_certainty {
            score_names.push(SELF_CERTAINTY.to_owned());
        }
        for h in heads {
            if h.name == LOGPROB || h.name == SELF_CERTAINTY {
                return Err(EvalError::ScoreName {
                    name: h.name.clone(),
                    reason: "this name is reserved for a built-in score",
                });
            }
            score_names.push(h.name.clone());
        }
        let known: HashSet<(u64, u32)> = records
            .iter()
            .map(|r| (r.problem_index, r.candidate))
            .collect();
        for h in heads {
            let mut unknown: Vec<&(u64, u32)> =
                h.scores.keys().filter(|key| !known.contains(key)).collect();
            unknown.sort_unstable();
            if let Some(&&(problem_index, candidate)) = unknown.first() {
                return Err(EvalError::UnknownCandidate {
                    head: h.name.clone(),
                    problem_index,
                    candidate,
                    count: unknown.len(),
                });
            }
        }

        let mut notes = Vec::new();
        let mut gaps = 0usize;
        let mut problems = Vec::with_capacity(by_problem.len());
        for (problem_index, mut recs) in by_problem {
            recs.sort_by_key(|r| r.candidate);
            if let Some(w) = recs.windows(2).find(|w| w[0].candidate == w[1].candidate) {
                return Err(EvalError::DuplicateCandidate {
                    problem_index,
                    candidate: w[0].candidate,
                });
            }
            if recs
                .last()
                .is_some_and(|r| r.candidate as usize + 1 != recs.len())
            {
                gaps += 1;
            }
            let mut scores = vec![recs.iter().map(|r| r.mean_logprob).collect::<Vec<f64>>()];
            if with_self_certainty {
                scores.push(
                    recs.iter()
                        .map(|r| r.self_certainty().unwrap_or(f64::NAN))
                        .collect(),
                );
            }
            for h in heads {
                scores.push(
                    recs.iter()
                        .map(|r| {
                            h.scores
                                .get(&(problem_index, r.candidate))
                                .copied()
                                .unwrap_or(f64::NAN)
                        })
                        .collect(),
                );
            }
            let pool = Pool::from_columns(
                recs.iter().map(|r| r.answer.as_deref()),
                recs.iter().map(|r| r.correct).collect(),
                scores,
            )?;
            problems.push(Problem {
                problem_index,
                candidates: recs.iter().map(|r| r.candidate).collect(),
                pool,
            });
        }
        if gaps > 0 {
            notes.push(format!(
                "{gaps} problem(s) have gaps in their candidate indices; \
                 first-k uses the first k candidates present"
            ));
        }
        let mut set = Self::new(score_names, problems)?;
        set.notes = notes;
        Ok(set)
    }

    /// Names of the score columns, in column order.
    pub fn score_names(&self) -> &[String] {
        &self.score_names
    }

    /// Column of the score named `name`.
    pub fn score_index(&self, name: &str) -> Option<usize> {
        self.score_names.iter().position(|n| n == name)
    }

    /// The problems, in ascending problem index when built from records.
    pub fn problems(&self) -> &[Problem] {
        &self.problems
    }

    /// Remarks found while building the set (carried into the report).
    pub fn notes(&self) -> &[String] {
        &self.notes
    }

    /// The standard selectors for this set's columns: `random`, `oracle`, `majority`, then the
    /// argmax of `logprob` and of `self-certainty` (when present), then for every other column
    /// `H` (a head): `H` (argmax), `H-vote` (SWIFT-weighted vote), and, when `logprob` is present,
    /// `rank(H,logprob)` and `scale(H,logprob)` (the two fusions).
    pub fn default_selectors(&self) -> Vec<NamedSelector> {
        let mut out = vec![
            NamedSelector::new("random", Selector::Random),
            NamedSelector::new("random-answered", Selector::RandomAnswered),
            NamedSelector::new("oracle", Selector::Oracle),
            NamedSelector::new("majority", Selector::Majority),
        ];
        let logprob = self.score_index(LOGPROB);
        for builtin in [LOGPROB, SELF_CERTAINTY] {
            if let Some(score) = self.score_index(builtin) {
                out.push(NamedSelector::new(builtin, Selector::Argmax { score }));
            }
        }
        for (score, name) in self.score_names.iter().enumerate() {
            if name == LOGPROB || name == SELF_CERTAINTY {
                continue;
            }
            out.push(NamedSelector::new(name, Selector::Argmax { score }));
            out.push(NamedSelector::new(
                format!("{name}-vote"),
                Selector::WeightedVote { score },
            ));
            if let Some(lp) = logprob {
                out.push(NamedSelector::new(
                    format!("rank({name},{LOGPROB})"),
                    Selector::FusionRanking { a: score, b: lp },
                ));
                out.push(NamedSelector::new(
                    format!("scale({name},{LOGPROB})"),
                    Selector::FusionScaling { a: score, b: lp },
                ));
            }
        }
        out
    }
}
