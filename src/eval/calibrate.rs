//! Calibrating the soft vote of the `auto` selection: its sharpness on validation problems.

use std::collections::{BTreeMap, HashSet};

use super::{evaluate, EvalConfig, EvalError, HeadScores, ProblemSet};
use crate::dataset::CandidateRecord;
use crate::head::SoftVoteCalibration;
use crate::select::{NamedSelector, Selector};

/// Sharpness values the soft vote is calibrated over: 0 is majority vote; the last stands for
/// "the head decides" (a score lead of 0.1 outweighs e^6.4 = 600 votes).
pub const SOFT_VOTE_GRID: [f64; 9] = [0.0, 0.25, 0.5, 1.0, 2.0, 4.0, 8.0, 16.0, 64.0];

/// A calibrated soft vote and the accuracy curve it was chosen from.
#[derive(Debug, Clone, PartialEq)]
pub struct SoftVoteFit {
    /// The choice.
    pub calibration: SoftVoteCalibration,
    /// (sharpness, expected Best-of-k accuracy) for every grid value.
    pub curve: Vec<(f64, f64)>,
}

/// The soft-vote sharpness with the best expected Best-of-`k` accuracy on `set` for score column
/// `score`, over [`SOFT_VOTE_GRID`]; ties (within 1e-9) go to the smaller sharpness. Also returns
/// majority's and the argmax's accuracy on the same subsets, and the accuracy per grid value.
pub fn calibrate_soft_vote(
    set: &ProblemSet,
    score: usize,
    k: usize,
    config: &EvalConfig,
) -> Result<SoftVoteFit, EvalError> {
    let mut selectors = vec![
        NamedSelector::new("majority", Selector::Majority),
        NamedSelector::new("argmax", Selector::Argmax { score }),
    ];
    for (g, &beta) in SOFT_VOTE_GRID.iter().enumerate() {
        selectors.push(NamedSelector::new(
            format!("soft{g}"),
            Selector::SoftVote { score, beta },
        ));
    }
    let report = evaluate(set, &selectors, &config.clone().with_ks(vec![k]))?;
    let row = report.rows.first().ok_or(EvalError::NoProblems)?;
    let acc = |i: usize| row.cells[i].expected;
    let curve: Vec<(f64, f64)> = SOFT_VOTE_GRID
        .iter()
        .enumerate()
        .map(|(g, &b)| (b, acc(2 + g)))
        .collect();
    let (mut beta, mut best) = curve[0];
    for &(b, a) in &curve[1..] {
        if a > best + 1e-9 {
            (beta, best) = (b, a);
        }
    }
    Ok(SoftVoteFit {
        calibration: SoftVoteCalibration {
            beta,
            k,
            problems: row.problems,
            accuracy: best,
            majority: acc(0),
            argmax: acc(1),
        },
        curve,
    })
}

/// The soft vote calibrated on every problem, and separately per answer kind when the problems
/// ask for more than one.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct KindFits {
    /// Over all problems (`None` without any).
    pub overall: Option<SoftVoteFit>,
    /// Per answer kind name (`number`, `yes-no`, ...); empty when there is one kind.
    pub by_kind: BTreeMap<String, SoftVoteFit>,
}

/// [`calibrate_soft_vote`] on `records` scored by `scores`: once over all
/// problems and, when `kind_of(problem_index)` names more than one kind, once per kind on that
/// kind's problems. Best-of-k with k = min(8, fewest candidates of a problem).
pub fn calibrate_soft_vote_by_kind(
    records: &[CandidateRecord],
    scores: &HeadScores,
    kind_of: &dyn Fn(u64) -> &'static str,
) -> Result<KindFits, EvalError> {
    let fit = |records: &[CandidateRecord],
               scores: HeadScores|
     -> Result<Option<SoftVoteFit>, EvalError> {
        if records.is_empty() {
            return Ok(None);
        }
        let name = scores.name.clone();
        let set = ProblemSet::from_records(records, &[scores])?;
        let n = set
            .problems()
            .iter()
            .map(|p| p.pool.len())
            .min()
            .unwrap_or(1);
        let score = set.score_index(&name).ok_or(EvalError::ScoreName {
            name,
            reason: "no such score column after building the problem set",
        })?;
        calibrate_soft_vote(&set, score, n.min(8), &EvalConfig::default()).map(Some)
    };
    let mut out = KindFits {
        overall: fit(records, scores.clone())?,
        by_kind: BTreeMap::new(),
    };
    let mut kinds: Vec<&'static str> = records.iter().map(|r| kind_of(r.problem_index)).collect();
    kinds.sort_unstable();
    kinds.dedup();
    if kinds.len() > 1 {
        for kind in kinds {
            let mine: Vec<CandidateRecord> = records
                .iter()
                .filter(|r| kind_of(r.problem_index) == kind)
                .cloned()
                .collect();
            let problems: HashSet<u64> = mine.iter().map(|r| r.problem_index).collect();
            let mut s = HeadScores::new(scores.name.clone());
            s.scores = scores
                .scores
                .iter()
                .filter(|((p, _), _)| problems.contains(p))
                .map(|(k, v)| (*k, *v))
                .collect();
            if let Some(f) = fit(&mine, s)? {
                out.by_kind.insert(kind.to_string(), f);
            }
        }
    }
    Ok(out)
}
