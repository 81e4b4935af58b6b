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

/// The soft-vote sharpness for score column `score` on `set`, over [`SOFT_VOTE_GRID`], by the
/// one-standard-error rule: the smallest sharpness whose expected Best-of-`k` accuracy is
/// within one standard error (over problems) of the best one's. Sharpness 0 is majority vote, so the head gets a say only where the
/// validation problems show it helps by more than their noise: a head that knows little about
/// a family falls back to (nearly) majority vote there. Also returns majority's and the
/// argmax's accuracy on the same subsets, and the accuracy per grid value.
pub fn calibrate_soft_vote(
    set: &ProblemSet,
    score: usize,
    k: usize,
    config: &EvalConfig,
) -> Result<SoftVoteFit, EvalError> {
    let baselines = [
        NamedSelector::new("majority", Selector::Majority),
        NamedSelector::new("argmax", Selector::Argmax { score }),
    ];
    let soft: Vec<NamedSelector> = SOFT_VOTE_GRID
        .iter()
        .enumerate()
        .map(|(g, &beta)| {
            NamedSelector::new(format!("soft{g}"), Selector::SoftVote { score, beta })
        })
        .collect();
    let config = config.clone().with_ks(vec![k]);
    let report = evaluate(set, &baselines, &config)?;
    let row = report.rows.first().ok_or(EvalError::NoProblems)?;
    let acc = |i: usize| row.cells[i].expected;
    // Each grid value's expected accuracy problem by problem (the one-standard-error rule needs
    // the spread); the curve is their mean, the same number a whole-set evaluation gives.
    let mut per_problem: Vec<Vec<f64>> = Vec::new();
    for p in set.problems().iter().filter(|p| p.pool.len() >= k) {
        let one = ProblemSet::new(set.score_names().to_vec(), vec![p.clone()])?;
        let r = evaluate(&one, &soft, &config)?;
        if let Some(row) = r.rows.first() {
            per_problem.push(row.cells.iter().map(|c| c.expected).collect());
        }
    }
    if per_problem.is_empty() {
        return Err(EvalError::NoProblems);
    }
    let n = per_problem.len() as f64;
    let curve: Vec<(f64, f64)> = SOFT_VOTE_GRID
        .iter()
        .enumerate()
        .map(|(g, &b)| (b, per_problem.iter().map(|p| p[g]).sum::<f64>() / n))
        .collect();
    let g = one_standard_error_choice(&curve, &per_problem);
    let (beta, best) = curve[g];
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

/// The index into `curve` (ascending sharpness) that the one-standard-error rule picks: the
/// first whose mean accuracy is at most one standard error below the best's, the standard
/// error of the best one's mean over problems (the textbook rule for choosing the simplest
/// model among those the validation data cannot tell apart). `per_problem[p][g]` is problem
/// p's accuracy at grid value g.
fn one_standard_error_choice(curve: &[(f64, f64)], per_problem: &[Vec<f64>]) -> usize {
    let mut best = 0;
    for (g, &(_, a)) in curve.iter().enumerate() {
        if a > curve[best].1 + 1e-9 {
            best = g;
        }
    }
    let x: Vec<f64> = per_problem.iter().map(|p| p[best]).collect();
    let se = match super::mean_and_standard_error(&x) {
        Some((_, se)) if se.is_finite() => se,
        _ => return best,
    };
    curve
        .iter()
        .position(|&(_, a)| a >= curve[best].1 - se - 1e-12)
        .unwrap_or(best)
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

#[cfg(test)]
mod tests {
    use super::one_standard_error_choice;

    #[test]
    fn the_one_standard_error_rule_keeps_majority_unless_the_gain_is_clear() {
        let curve = |accs: &[f64]| -> Vec<(f64, f64)> {
            accs.iter()
                .enumerate()
                .map(|(g, &a)| (g as f64, a))
                .collect()
        };
        // Ten problems, the best value right on half of them: its standard error is 0.167, so
        // a majority vote 0.1 behind is kept.
        let rows =
            |best: &[f64]| -> Vec<Vec<f64>> { best.iter().map(|&b| vec![0.0, 0.0, b]).collect() };
        let half = rows(&[1.0, 0.0, 1.0, 0.0, 1.0, 0.0, 1.0, 0.0, 1.0, 0.0]);
        assert_eq!(
            one_standard_error_choice(&curve(&[0.4, 0.45, 0.5]), &half),
            0
        );
        // 0.3 behind is too far; the middle value, within 0.167, is kept.
        assert_eq!(
            one_standard_error_choice(&curve(&[0.2, 0.45, 0.5]), &half),
            1
        );
        // No spread over problems: only the best itself.
        let steady = rows(&[0.5; 10]);
        assert_eq!(
            one_standard_error_choice(&curve(&[0.45, 0.49, 0.5]), &steady),
            2
        );
        // One problem: no standard error, the best value.
        assert_eq!(
            one_standard_error_choice(&curve(&[0.1, 0.2]), &[vec![0.1, 0.2]]),
            1
        );
    }
}
