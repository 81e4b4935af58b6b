//! Answer votes: plain majority, the SWIFT-weighted vote, and the soft vote between them.

use std::cmp::Ordering;

use super::score::{argmax, compare_scores};
use serde::{Deserialize, Serialize};

use super::Pool;

/// The logistic function 1 / (1 + e^-x), computed without overflow for any finite `x`;
/// `NaN` stays `NaN`.
pub fn sigmoid(x: f64) -> f64 {
    if x >= 0.0 {
        1.0 / (1.0 + (-x).exp())
    } else {
        let e = x.exp();
        e / (1.0 + e)
    }
}

/// Votes for one answer within a subset.
#[derive(Debug, Clone, Copy)]
struct Tally {
    /// Total weight (a count for the plain majority).
    weight: f64,
    /// Lowest candidate index giving this answer.
    first: usize,
    /// The answer's representative: the highest-scored candidate giving it (weighted vote only).
    best: usize,
}

/// Per-answer tallies, indexed through a slot table so that a vote costs O(subset size).
#[derive(Debug, Default)]
pub(crate) struct Tallies {
    tallies: Vec<Tally>,
    /// `slot[answer_id]` = position in `tallies`, or `u32::MAX` when the answer has no tally.
    slot: Vec<u32>,
    /// Answer ids with a tally, to reset `slot` afterwards.
    touched: Vec<u32>,
    /// Per-candidate combined scores of a two-score soft vote.
    combined: Vec<f64>,
}

impl Tallies {
    fn reset(&mut self, n_answers: usize) {
        for &a in &self.touched {
            self.slot[a as usize] = u32::MAX;
        }
        self.touched.clear();
        self.tallies.clear();
        if self.slot.len() < n_answers {
            self.slot.resize(n_answers, u32::MAX);
        }
    }

    /// Adds `weight` for `answer` from candidate `i`; `better(i, best)` says whether `i` should
    /// replace the answer's current representative.
    fn add(&mut self, answer: u32, i: usize, weight: f64, better: impl Fn(usize, usize) -> bool) {
        let s = self.slot[answer as usize];
        if s == u32::MAX {
            self.slot[answer as usize] = self.tallies.len() as u32;
            self.touched.push(answer);
            self.tallies.push(Tally {
                weight,
                first: i,
                best: i,
            });
        } else {
            let t = &mut self.tallies[s as usize];
            t.weight += weight;
            t.first = t.first.min(i);
            if better(i, t.best) {
                t.best = i;
            }
        }
    }

    /// The tally with the largest weight, ties to the earliest first occurrence.
    fn winner(&self) -> Option<Tally> {
        self.tallies
            .iter()
            .copied()
            .reduce(|w, t| match compare_scores(t.weight, w.weight) {
                Ordering::Greater => t,
                Ordering::Equal if t.first < w.first => t,
                _ => w,
            })
    }
}

/// Majority vote over the answers of `subset`: the most frequent answer wins; ties go to the tied
/// answer whose first occurrence (lowest candidate index) is earliest; candidates without an
/// answer do not vote. Returns the earliest candidate giving the winning answer. When no member
/// has an answer, returns the earliest member. `None` for an empty subset.
pub fn majority(pool: &Pool, subset: &[usize]) -> Option<usize> {
    majority_with(pool, subset, &mut Tallies::default())
}

pub(crate) fn majority_with(pool: &Pool, subset: &[usize], t: &mut Tallies) -> Option<usize> {
    t.reset(pool.n_answers());
    for &i in subset {
        if let Some(a) = pool.answer_id(i) {
            t.add(a, i, 1.0, |i, best| i < best);
        }
    }
    match t.winner() {
        Some(w) => Some(w.first),
        None => subset.iter().copied().min(),
    }
}

/// SWIFT-weighted vote over the answers of `subset`.
///
/// Each member with an answer votes for it with weight `sigmoid(R)`, where `R = scores[i]` is the
/// head's score: the head is trained with binary cross-entropy on `R` used as a logit, so
/// `sigmoid(R)` is its estimate of the probability that the candidate is correct, and the weights
/// do not depend on which other candidates are in the subset. A missing (`NaN`) score weighs 0.
/// The answer with the largest sum of weights wins (sums are accumulated in subset order); ties go
/// to the tied answer whose first occurrence (lowest candidate index) is earliest. Returns the
/// winning answer's highest-scored candidate (ties to the lowest index). Members without an answer
/// do not vote; when no member has one, falls back to [`argmax`] of `scores` over the subset.
/// `None` for an empty subset.
///
/// Panics if `score` is not a column of `pool`.
pub fn weighted_vote(pool: &Pool, score: usize, subset: &[usize]) -> Option<usize> {
    weighted_vote_with(pool, score, subset, &mut Tallies::default())
}

pub(crate) fn weighted_vote_with(
    pool: &Pool,
    score: usize,
    subset: &[usize],
    t: &mut Tallies,
) -> Option<usize> {
    let scores = pool.scores(score);
    t.reset(pool.n_answers());
    let better = |i: usize, j: usize| match compare_scores(scores[i], scores[j]) {
        Ordering::Greater => true,
        Ordering::Equal => i < j,
        Ordering::Less => false,
    };
    for &i in subset {
        if let Some(a) = pool.answer_id(i) {
            let w = sigmoid(scores[i]);
            t.add(a, i, if w.is_nan() { 0.0 } else { w }, better);
        }
    }
    match t.winner() {
        Some(w) => Some(w.best),
        None => argmax(scores, subset),
    }
}

/// Soft vote with sharpness `beta` >= 0 (may be `+inf`): each answered member of `subset` votes
/// for its answer with weight `exp(beta (R_i - R_max))`, `R_max` the best finite score among them;
/// the answer with the largest sum wins (ties to the earliest first occurrence) and its
/// highest-scored candidate is returned.
///
/// It interpolates between the two rules it is calibrated against: `beta = 0` is exactly
/// [`majority`] (every weight 1; the earliest candidate of the winning answer), and as `beta`
/// grows a single candidate needs a smaller lead in score to outvote a larger group, until at
/// `+inf` it is the score argmax over answered members. So when a question's scores barely differ
/// (by much less than 1/beta) the pick is the majority's, and the head decides only where its
/// scores stand apart. A missing (`NaN`) score weighs 0 when `beta > 0`. When no member has an
/// answer, the highest-scored member. `None` for an empty subset.
///
/// Panics if `score` is not a column of `pool` or `beta` is negative or `NaN`.
pub fn soft_vote(pool: &Pool, score: usize, beta: f64, subset: &[usize]) -> Option<usize> {
    soft_vote_with(pool, score, beta, None, subset, &mut Tallies::default())
}

/// A score column and how sharply it counts in a [`soft_vote_plus`].
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Term {
    /// Score column.
    pub score: usize,
    /// Its sharpness, finite and >= 0.
    pub sharpness: f64,
}

/// [`soft_vote`] over two scores: each answered member votes with weight
/// `exp(z_i - z_max)`, `z_i = beta R_i + gamma L_i` (`R` = column `score`, `L` = `plus.score`,
/// `gamma = plus.sharpness`), and the winning answer's candidate is its highest `z`. Both
/// sharpnesses 0 is [`majority`]; `gamma = 0` is exactly [`soft_vote`]; `beta = +inf` is the
/// argmax of `R` (the head decides, `L` is not consulted). This is how the `auto` selection
/// lets the model's own confidence (mean log-prob) count beside the head, each with its own
/// calibrated weight. A candidate with a missing (`NaN`) value in a column that counts weighs 0.
///
/// Panics if a column is out of range, `beta` is negative or `NaN`, or `gamma` is negative or
/// not finite.
pub fn soft_vote_plus(
    pool: &Pool,
    score: usize,
    beta: f64,
    plus: Term,
    subset: &[usize],
) -> Option<usize> {
    soft_vote_with(
        pool,
        score,
        beta,
        Some(plus),
        subset,
        &mut Tallies::default(),
    )
}

pub(crate) fn soft_vote_with(
    pool: &Pool,
    score: usize,
    beta: f64,
    plus: Option<Term>,
    subset: &[usize],
    t: &mut Tallies,
) -> Option<usize> {
    assert!(beta >= 0.0, "soft vote sharpness {beta} is not >= 0");
    let plus = plus.filter(|p| {
        assert!(
            p.sharpness >= 0.0 && p.sharpness.is_finite(),
            "soft vote sharpness {} of the second score is not finite and >= 0",
            p.sharpness
        );
        p.sharpness > 0.0
    });
    if beta == 0.0 && plus.is_none() {
        return majority_with(pool, subset, t);
    }
    let scores = pool.scores(score);
    let answered = || {
        subset
            .iter()
            .copied()
            .filter(|&i| pool.answer_id(i).is_some())
    };
    if beta == f64::INFINITY {
        let eligible: Vec<usize> = answered().collect();
        return argmax(
            scores,
            if eligible.is_empty() {
                subset
            } else {
                &eligible
            },
        );
    }
    // z = R with the sharpness outside the exponent's difference (exactly the one-score vote,
    // read in place), or beta R + gamma L with both inside (into a reused buffer).
    let mut combined = std::mem::take(&mut t.combined);
    let (z, outer): (&[f64], f64) = match plus {
        None => (scores, beta),
        Some(p) => {
            let second = pool.scores(p.score);
            combined.clear();
            combined.resize(scores.len(), f64::NAN);
            for i in answered() {
                let r = if beta == 0.0 { 0.0 } else { beta * scores[i] };
                combined[i] = r + p.sharpness * second[i];
            }
            (&combined, 1.0)
        }
    };
    let top = answered()
        .map(|i| z[i])
        .filter(|x| x.is_finite())
        .fold(f64::NEG_INFINITY, f64::max);
    t.reset(pool.n_answers());
    let better = |i: usize, j: usize| match compare_scores(z[i], z[j]) {
        Ordering::Greater => true,
        Ordering::Equal => i < j,
        Ordering::Less => false,
    };
    for i in answered() {
        let x = z[i];
        let w = if x.is_nan() || top == f64::NEG_INFINITY {
            0.0
        } else {
            (outer * (x - top)).exp()
        };
        t.add(pool.answer_id(i).unwrap_or_default(), i, w, better);
    }
    let pick = match t.winner() {
        Some(w) => Some(w.best),
        None => argmax(scores, subset),
    };
    t.combined = combined;
    pick
}
