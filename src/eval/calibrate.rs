//! Calibrating the soft vote of the `auto` selection: its sharpness on validation problems.

use std::collections::{BTreeMap, HashSet};

use serde::Serialize;

use super::{evaluate, EvalConfig, EvalError, HeadScores, ProblemSet};
use crate::dataset::CandidateRecord;
use crate::head::SoftVoteCalibration;
use crate::select::{NamedSelector, Selector};

/// Sharpness values of the head's score the soft vote is calibrated over: 0 is majority vote;
/// the last stands for "the head decides" (a score lead of 0.1 outweighs e^6.4 = 600 votes).
pub const SOFT_VOTE_GRID: [f64; 9] = [0.0, 0.25, 0.5, 1.0, 2.0, 4.0, 8.0, 16.0, 64.0];

/// Sharpness values of the mean log-prob, calibrated jointly with [`SOFT_VOTE_GRID`]. A
/// problem's candidates spread by about 0.35 nats in mean log-prob on the default model
/// (median standard deviation over the arithmetic training problems), so 0.5 barely tilts the
/// vote and 16 is close to the log-prob's argmax.
pub const LOGPROB_GRID: [f64; 7] = [0.0, 0.5, 1.0, 2.0, 4.0, 8.0, 16.0];

/// One point of the calibration grid and its expected Best-of-k accuracy.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct GridPoint {
    /// The head score's sharpness.
    pub beta: f64,
    /// The mean log-prob's sharpness.
    pub logprob: f64,
    /// Expected Best-of-k accuracy over the problems.
    pub accuracy: f64,
}

/// A calibrated soft vote and the accuracies it was chosen from. Its JSON form (`train
/// --calibration-json`) names the fields `chosen`, `grid` and `per_problem`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SoftVoteFit {
    /// The choice.
    #[serde(rename = "chosen")]
    pub calibration: SoftVoteCalibration,
    /// Every grid point, head sharpness fastest.
    #[serde(rename = "grid")]
    pub curve: Vec<GridPoint>,
    /// Each problem's expected Best-of-k accuracy at every point of `curve`.
    pub per_problem: Vec<Vec<f64>>,
}

impl SoftVoteFit {
    /// The most accurate grid point (ties to the earlier).
    pub fn best(&self) -> Option<GridPoint> {
        most_accurate(self.curve.iter().copied())
    }

    /// The most accurate grid point without the log-prob (the head's score alone).
    pub fn best_without_logprob(&self) -> Option<GridPoint> {
        most_accurate(self.curve.iter().copied().filter(|p| p.logprob == 0.0))
    }
}

fn most_accurate(points: impl Iterator<Item = GridPoint>) -> Option<GridPoint> {
    points.reduce(|a, b| {
        if b.accuracy > a.accuracy + 1e-12 {
            b
        } else {
            a
        }
    })
}

/// The soft vote of the `auto` selection for head score column `score` on `set`: the pair of
/// sharpnesses (head score over [`SOFT_VOTE_GRID`], the set's mean log-prob over
/// [`LOGPROB_GRID`]) chosen by the one-standard-error rule. Of the grid points whose expected
/// Best-of-`k` accuracy falls short of the best point's by at most one standard error of the
/// difference (paired over problems), it takes the least sharp: the fewest grid steps from
/// (0, 0), majority vote, counted over both axes (ties to the more accurate, then to the
/// smaller log-prob sharpness). So the head and the log-prob get a say only where the validation
/// problems show they help by more than the noise: a head that knows little about a family
/// falls back to (nearly) majority vote there.
/// Without a log-prob column (or when `score` is that column) only the head's axis is searched.
/// Also returns majority's and the argmax's accuracy on the same subsets, and every point.
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
    let lp = set.score_index(super::LOGPROB).filter(|&c| c != score);
    let gammas: &[f64] = if lp.is_some() { &LOGPROB_GRID } else { &[0.0] };
    // (beta index, gamma index) per grid point, beta fastest.
    let points: Vec<(usize, usize)> = (0..gammas.len())
        .flat_map(|j| (0..SOFT_VOTE_GRID.len()).map(move |i| (i, j)))
        .collect();
    let soft: Vec<NamedSelector> = points
        .iter()
        .map(|&(i, j)| {
            let plus = lp.filter(|_| gammas[j] > 0.0).map(|c| crate::select::Term {
                score: c,
                sharpness: gammas[j],
            });
            NamedSelector::new(
                format!("soft{i}.{j}"),
                Selector::SoftVote {
                    score,
                    beta: SOFT_VOTE_GRID[i],
                    plus,
                },
            )
        })
        .collect();
    let config = config.clone().with_ks(vec![k]);
    let report = evaluate(set, &baselines, &config)?;
    let row = report.rows.first().ok_or(EvalError::NoProblems)?;
    let acc = |i: usize| row.cells[i].expected;
    // Each grid point's expected accuracy problem by problem (the one-standard-error rule needs
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
    let curve: Vec<GridPoint> = points
        .iter()
        .enumerate()
        .map(|(g, &(i, j))| GridPoint {
            beta: SOFT_VOTE_GRID[i],
            logprob: gammas[j],
            accuracy: per_problem.iter().map(|p| p[g]).sum::<f64>() / n,
        })
        .collect();
    let accuracies: Vec<f64> = curve.iter().map(|p| p.accuracy).collect();
    let steps: Vec<usize> = points.iter().map(|&(i, j)| i + j).collect();
    let chosen = curve[one_standard_error_choice(&accuracies, &steps, &per_problem)];
    Ok(SoftVoteFit {
        calibration: SoftVoteCalibration {
            beta: chosen.beta,
            logprob: chosen.logprob,
            k,
            problems: row.problems,
            accuracy: chosen.accuracy,
            majority: acc(0),
            argmax: acc(1),
        },
        curve,
        per_problem,
    })
}

/// The grid point the one-standard-error rule picks: of the points that fall short of the best
/// point by at most one standard error of their difference to it (paired over problems: the
/// same problems score every point, so it is their per-problem differences that are noise or
/// not), the one with the fewest `steps` from majority vote; ties to the higher accuracy, then
/// the earlier point. So a sharper point is taken only where the validation problems show it
/// better than every simpler one by more than the noise of that comparison. `per_problem[p][g]`
/// is problem p's accuracy at point g; `accuracy[g]` their mean.
///
/// Paired rather than the textbook form (one standard error of the best point's own mean):
/// in split-half checks on the training collections' out-of-fold scores, the textbook form kept
/// majority-like points that cost 1.6–2.2 points of Best-of-8 accuracy on the other half for
/// number questions, and the paired form lost 0.2–0.3 on yes/no questions (README, "Results").
fn one_standard_error_choice(accuracy: &[f64], steps: &[usize], per_problem: &[Vec<f64>]) -> usize {
    let mut best = 0;
    for (g, &a) in accuracy.iter().enumerate() {
        if a > accuracy[best] + 1e-9 {
            best = g;
        }
    }
    let within = |g: usize| {
        if g == best {
            return true;
        }
        let d: Vec<f64> = per_problem.iter().map(|p| p[best] - p[g]).collect();
        match super::mean_and_standard_error(&d) {
            Some((_, se)) if se.is_finite() => accuracy[best] - accuracy[g] <= se + 1e-12,
            _ => false,
        }
    };
    (0..accuracy.len())
        .filter(|&g| within(g))
        .min_by(|&a, &b| {
            steps[a]
                .cmp(&steps[b])
                .then(accuracy[b].total_cmp(&accuracy[a]))
                .then(a.cmp(&b))
        })
        .unwrap_or(best)
}

/// The soft vote calibrated on every problem, and separately per answer kind when the problems
/// ask for more than one.
#[derive(Debug, Clone, PartialEq, Default, Serialize)]
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

    /// Per-problem accuracies (one row per problem, one column per point) and their means.
    fn table(columns: &[&[f64]]) -> (Vec<f64>, Vec<Vec<f64>>) {
        let n = columns[0].len();
        let rows: Vec<Vec<f64>> = (0..n)
            .map(|p| columns.iter().map(|c| c[p]).collect())
            .collect();
        let means = columns
            .iter()
            .map(|c| c.iter().sum::<f64>() / n as f64)
            .collect();
        (means, rows)
    }

    #[test]
    fn the_one_standard_error_rule_keeps_majority_unless_the_gain_is_clear() {
        let majority: &[f64] = &[1.0, 0.0, 1.0, 0.0, 1.0, 0.0, 1.0, 0.0, 0.0, 0.0];
        // Better on two problems, worse on one: +0.1 with a paired standard error of 0.18, so
        // majority vote is kept.
        let mixed: &[f64] = &[0.0, 1.0, 1.0, 1.0, 1.0, 0.0, 1.0, 0.0, 0.0, 0.0];
        let (acc, rows) = table(&[majority, mixed]);
        assert_eq!(one_standard_error_choice(&acc, &[0, 1], &rows), 0);
        // Better on two problems and never worse: +0.2 against a standard error of 0.13.
        let clear: &[f64] = &[1.0, 1.0, 1.0, 1.0, 1.0, 0.0, 1.0, 0.0, 0.0, 0.0];
        let (acc, rows) = table(&[majority, clear]);
        assert_eq!(one_standard_error_choice(&acc, &[0, 1], &rows), 1);
        // A simpler point the same on every problem as the best is taken.
        let (acc, rows) = table(&[majority, clear, clear]);
        assert_eq!(one_standard_error_choice(&acc, &[0, 2, 1], &rows), 2);
        // One problem: no standard error, the best point.
        assert_eq!(
            one_standard_error_choice(&[0.1, 0.2], &[0, 1], &[vec![0.1, 0.2]]),
            1
        );
    }

    #[test]
    fn on_a_grid_the_rule_takes_the_fewest_steps_then_the_better_point() {
        // Four points with steps 0, 1, 1, 2: majority is clearly behind; the two one-step points
        // each fall short of the best by less than the noise of that comparison, and the more
        // accurate of them wins.
        let majority: &[f64] = &[0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0];
        let best: &[f64] = &[1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 0.0, 0.0, 0.0];
        let a: &[f64] = &[1.0, 1.0, 1.0, 0.0, 1.0, 0.0, 1.0, 1.0, 0.0, 0.0];
        let b: &[f64] = &[1.0, 1.0, 1.0, 0.5, 1.0, 0.0, 1.0, 0.5, 0.5, 0.0];
        let (acc, rows) = table(&[majority, a, b, best]);
        assert_eq!(one_standard_error_choice(&acc, &[0, 1, 1, 2], &rows), 2);
        // Equal accuracy: the earlier point.
        let (acc, rows) = table(&[majority, a, a, best]);
        assert_eq!(one_standard_error_choice(&acc, &[0, 1, 1, 2], &rows), 1);
    }
}
