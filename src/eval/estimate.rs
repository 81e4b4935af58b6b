//! Best-of-k accuracy of one problem: the first-k draw, closed forms, and the expectation over
//! every k-subset by enumeration or by sampling.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::rng::Rng;
use crate::select::{compare_scores, Pool, Scratch, Selector};

/// The mean of `values` and its standard error (sample standard deviation over sqrt(n); NaN for
/// one value), or `None` for none: how a metric over problems or folds is reported.
pub fn mean_and_standard_error(values: &[f64]) -> Option<(f64, f64)> {
    let n = values.len();
    if n == 0 {
        return None;
    }
    let mean = values.iter().sum::<f64>() / n as f64;
    let se = if n > 1 {
        let var = values.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / (n - 1) as f64;
        (var / n as f64).sqrt()
    } else {
        f64::NAN
    };
    Some((mean, se))
}

/// Exact binomial coefficient C(n, k), saturating at `u128::MAX` when it does not fit (it always
/// fits for n <= 128).
pub fn binomial(n: u64, k: u64) -> u128 {
    if k > n {
        return 0;
    }
    let k = k.min(n - k);
    let mut c: u128 = 1;
    for i in 0..k {
        // C(n, i+1) = C(n, i) * (n - i) / (i + 1). With g = gcd(C(n, i), i + 1), (i + 1) / g
        // divides (n - i), so dividing first keeps every step exact and the product small.
        let (num, den) = (u128::from(n - i), u128::from(i + 1));
        let g = gcd(c, den);
        match (c / g).checked_mul(num / (den / g)) {
            Some(v) => c = v,
            None => return u128::MAX,
        }
    }
    c
}

fn gcd(mut a: u128, mut b: u128) -> u128 {
    while b != 0 {
        (a, b) = (b, a % b);
    }
    a
}

/// C(a, m) / C(b, m) for a <= b, as a product of factors <= 1 (no overflow for any size).
fn binomial_ratio(a: usize, b: usize, m: usize) -> f64 {
    debug_assert!(a <= b);
    if a < m {
        return 0.0;
    }
    (0..m).map(|i| (a - i) as f64 / (b - i) as f64).product()
}

/// Expected accuracy of a uniformly random pick: the mean correctness (pass@1), whatever k is.
pub fn expected_random(correct: &[bool]) -> f64 {
    if correct.is_empty() {
        return 0.0;
    }
    correct.iter().filter(|&&c| c).count() as f64 / correct.len() as f64
}

/// Probability that a uniformly random k-subset of the candidates contains a correct one
/// (pass@k): 1 - C(#incorrect, k) / C(N, k). Panics unless 1 <= k <= N.
pub fn expected_oracle(correct: &[bool], k: usize) -> f64 {
    let n = correct.len();
    assert!((1..=n).contains(&k), "k = {k} outside 1..={n}");
    let incorrect = correct.iter().filter(|&&c| !c).count();
    1.0 - binomial_ratio(incorrect, n, k)
}

/// For each candidate, the probability that it wins the score argmax of a uniformly random
/// k-subset. Candidates are ranked by (score descending, `NaN` last, index ascending), which is
/// exactly the order in which [`crate::select::argmax`] prefers them; candidate j wins iff it is in
/// the subset and no better-ranked one is: P = C(#worse, k-1) / C(N, k). Panics unless
/// 1 <= k <= N.
pub fn argmax_win_probabilities(scores: &[f64], k: usize) -> Vec<f64> {
    win_probabilities(scores, None, k)
}

/// [`argmax_win_probabilities`] with the answered candidates ranked above every unanswered one
/// (`answered[i]`), the order of the pool's `Argmax` selector: a subset's answered members are
/// preferred, by score, over its unanswered ones.
pub fn answered_argmax_win_probabilities(scores: &[f64], answered: &[bool], k: usize) -> Vec<f64> {
    assert_eq!(scores.len(), answered.len());
    win_probabilities(scores, Some(answered), k)
}

fn win_probabilities(scores: &[f64], answered: Option<&[bool]>, k: usize) -> Vec<f64> {
    let n = scores.len();
    assert!((1..=n).contains(&k), "k = {k} outside 1..={n}");
    let first = |i: usize| answered.is_none_or(|a| a[i]);
    let mut order: Vec<usize> = (0..n).collect();
    order.sort_by(|&i, &j| {
        first(j)
            .cmp(&first(i))
            .then(compare_scores(scores[j], scores[i]))
            .then(i.cmp(&j))
    });
    let mut p = vec![0.0; n];
    for (rank, &i) in order.iter().enumerate() {
        let worse = n - 1 - rank;
        // C(w, k-1) / C(N, k) = (k / N) * C(w, k-1) / C(N-1, k-1).
        p[i] = k as f64 / n as f64 * binomial_ratio(worse, n - 1, k - 1);
    }
    p
}

/// Expected accuracy of a uniform pick among the answered members of a uniformly random k-subset
/// (any member when none is answered). Given that the subset holds a >= 1 answered candidates,
/// they are a uniform a-subset of the A answered ones, so each is correct with probability
/// (correct answered) / A whatever a is: E = P(a >= 1) (correct answered) / A
/// + P(a = 0) (correct unanswered) / (N - A). Panics unless 1 <= k <= N.
pub fn expected_random_answered(correct: &[bool], answered: &[bool], k: usize) -> f64 {
    let n = correct.len();
    assert_eq!(n, answered.len());
    assert!((1..=n).contains(&k), "k = {k} outside 1..={n}");
    let a = answered.iter().filter(|&&x| x).count();
    let hits = |want: bool| {
        correct
            .iter()
            .zip(answered)
            .filter(|&(&c, &x)| c && x == want)
            .count() as f64
    };
    let none_answered = binomial_ratio(n - a, n, k);
    let mut e = 0.0;
    if a > 0 {
        e += (1.0 - none_answered) * hits(true) / a as f64;
    }
    if a < n {
        e += none_answered * hits(false) / (n - a) as f64;
    }
    e
}

/// Expected accuracy of the score argmax over uniformly random k-subsets (closed form; see
/// [`argmax_win_probabilities`]). Panics unless 1 <= k <= N.
pub fn expected_argmax(scores: &[f64], correct: &[bool], k: usize) -> f64 {
    assert_eq!(scores.len(), correct.len());
    expected_wins(&argmax_win_probabilities(scores, k), correct)
}

/// Expected accuracy of the pool's `Argmax` selector (answered candidates first, then by score)
/// over uniformly random k-subsets; see [`answered_argmax_win_probabilities`].
pub fn expected_answered_argmax(
    scores: &[f64],
    answered: &[bool],
    correct: &[bool],
    k: usize,
) -> f64 {
    assert_eq!(scores.len(), correct.len());
    expected_wins(
        &answered_argmax_win_probabilities(scores, answered, k),
        correct,
    )
}

fn expected_wins(p: &[f64], correct: &[bool]) -> f64 {
    p.iter()
        .zip(correct)
        .filter(|(_, &c)| c)
        .map(|(p, _)| p)
        .sum()
}

/// How an expected accuracy was obtained.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(into = "String", try_from = "String")]
pub enum Method {
    /// Closed form or enumeration of every subset; written `exact`.
    Exact,
    /// Mean over this many uniformly random subsets (per problem); written `sampled(D)`.
    Sampled(usize),
}

impl fmt::Display for Method {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Method::Exact => f.write_str("exact"),
            Method::Sampled(d) => write!(f, "sampled({d})"),
        }
    }
}

impl FromStr for Method {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if s == "exact" {
            return Ok(Method::Exact);
        }
        s.strip_prefix("sampled(")
            .and_then(|r| r.strip_suffix(')'))
            .and_then(|d| d.parse().ok())
            .map(Method::Sampled)
            .ok_or_else(|| format!("invalid method {s:?} (expected `exact` or `sampled(D)`)"))
    }
}

impl From<Method> for String {
    fn from(m: Method) -> Self {
        m.to_string()
    }
}

impl TryFrom<String> for Method {
    type Error = String;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        s.parse()
    }
}

/// An expected accuracy with its Monte Carlo standard error (0 when exact).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Estimate {
    /// Expected accuracy.
    pub mean: f64,
    /// Standard error of `mean` due to subset sampling; 0 for exact values.
    pub std_error: f64,
    /// How `mean` was obtained.
    pub method: Method,
}

/// Limits for estimating an expectation over k-subsets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SubsetBudget {
    /// Enumerate every k-subset when there are at most this many.
    pub exact_budget: u64,
    /// Otherwise average over this many uniformly random k-subsets (at least 2).
    pub draws: usize,
}

impl Default for SubsetBudget {
    fn default() -> Self {
        Self {
            exact_budget: 20_000,
            draws: 2_000,
        }
    }
}

/// Accuracy of `selector` on the first k candidates (the reference BoN@k of one problem: 0 or 1),
/// except `Random` and `RandomAnswered`, whose value is the expectation over the random pick (for
/// `Random` the mean correctness of the first k). Panics unless 1 <= k <= N.
pub fn first_k(pool: &Pool, selector: &Selector, k: usize) -> f64 {
    assert!(
        (1..=pool.len()).contains(&k),
        "k = {k} outside 1..={}",
        pool.len()
    );
    first_k_with(pool, selector, k, &mut Scratch::default())
}

fn first_k_with(pool: &Pool, selector: &Selector, k: usize, scratch: &mut Scratch) -> f64 {
    match selector {
        Selector::Random => return expected_random(&pool.correct()[..k]),
        Selector::RandomAnswered => {
            let answered: Vec<bool> = (0..k).map(|i| pool.is_answered(i)).collect();
            return expected_random_answered(&pool.correct()[..k], &answered, k);
        }
        _ => {}
    }
    let subset: Vec<usize> = (0..k).collect();
    // Only Random draws from the generator, and it is handled above.
    let pick = selector.select_with(pool, &subset, &mut Rng::new(0), scratch);
    f64::from(u8::from(pick.is_some_and(|i| pool.is_correct(i))))
}

/// Expected accuracy of `selector` over uniformly random k-subsets of the pool: closed form for
/// `Random`, `RandomAnswered`, `Oracle` and `Argmax`; otherwise exact enumeration of the C(N, k) subsets when that
/// is at most `budget.exact_budget`, else the mean over `budget.draws` random subsets drawn from
/// `rng`. Panics unless 1 <= k <= N.
pub fn expected_accuracy(
    pool: &Pool,
    selector: &Selector,
    k: usize,
    budget: SubsetBudget,
    rng: &mut Rng,
) -> Estimate {
    expected_many(pool, std::slice::from_ref(selector), k, budget, rng)[0]
}

/// Both accuracies of several selectors for one problem and one k.
pub(crate) struct ProblemK {
    pub first_k: Vec<f64>,
    pub expected: Vec<Estimate>,
}

pub(crate) fn problem_k(
    pool: &Pool,
    selectors: &[Selector],
    k: usize,
    budget: SubsetBudget,
    rng: &mut Rng,
) -> ProblemK {
    let mut scratch = Scratch::default();
    ProblemK {
        first_k: selectors
            .iter()
            .map(|s| first_k_with(pool, s, k, &mut scratch))
            .collect(),
        expected: expected_many(pool, selectors, k, budget, rng),
    }
}

/// [`expected_accuracy`] for several selectors; the selectors without a closed form share the
/// same subsets (enumerated or drawn), so their differences have less sampling noise.
pub(crate) fn expected_many(
    pool: &Pool,
    selectors: &[Selector],
    k: usize,
    budget: SubsetBudget,
    rng: &mut Rng,
) -> Vec<Estimate> {
    let n = pool.len();
    assert!((1..=n).contains(&k), "k = {k} outside 1..={n}");
    let exact = |mean| Estimate {
        mean,
        std_error: 0.0,
        method: Method::Exact,
    };
    let answered: Vec<bool> = (0..n).map(|i| pool.is_answered(i)).collect();
    let mut out: Vec<Option<Estimate>> = selectors
        .iter()
        .map(|s| match *s {
            Selector::Random => Some(exact(expected_random(pool.correct()))),
            Selector::RandomAnswered => Some(exact(expected_random_answered(
                pool.correct(),
                &answered,
                k,
            ))),
            Selector::Oracle => Some(exact(expected_oracle(pool.correct(), k))),
            Selector::Argmax { score } => Some(exact(expected_answered_argmax(
                pool.scores(score),
                &answered,
                pool.correct(),
                k,
            ))),
            _ => None,
        })
        .collect();
    let open: Vec<usize> = (0..selectors.len()).filter(|&i| out[i].is_none()).collect();
    if open.is_empty() {
        return out.into_iter().flatten().collect();
    }

    let mut wins = vec![0u64; open.len()];
    let mut scratch = Scratch::default();
    let mut tally = |subset: &[usize], wins: &mut [u64], rng: &mut Rng| {
        for (w, &s) in wins.iter_mut().zip(&open) {
            if let Some(i) = selectors[s].select_with(pool, subset, rng, &mut scratch) {
                *w += u64::from(pool.is_correct(i));
            }
        }
    };
    let total = binomial(n as u64, k as u64);
    let (count, method) = if total <= u128::from(budget.exact_budget) {
        let mut subset: Vec<usize> = (0..k).collect();
        loop {
            tally(&subset, &mut wins, rng);
            if !next_combination(&mut subset, n) {
                break;
            }
        }
        (total as u64, Method::Exact)
    } else {
        let draws = budget.draws.max(1);
        let mut perm: Vec<usize> = (0..n).collect();
        let mut subset = Vec::with_capacity(k);
        for _ in 0..draws {
            random_subset(rng, &mut perm, k, &mut subset);
            tally(&subset, &mut wins, rng);
        }
        (draws as u64, Method::Sampled(draws))
    };
    for (&s, &w) in open.iter().zip(&wins) {
        let mean = w as f64 / count as f64;
        let std_error = match method {
            Method::Exact => 0.0,
            // Sample standard deviation of a 0/1 outcome, over sqrt(D).
            Method::Sampled(d) => (mean * (1.0 - mean) / (d.max(2) - 1) as f64).sqrt(),
        };
        out[s] = Some(Estimate {
            mean,
            std_error,
            method,
        });
    }
    out.into_iter().flatten().collect()
}

/// Advances `c` (a strictly increasing k-combination of 0..n) to the next one in lexicographic
/// order; returns false after the last one.
pub(crate) fn next_combination(c: &mut [usize], n: usize) -> bool {
    let k = c.len();
    let Some(i) = (0..k).rev().find(|&i| c[i] < n - k + i) else {
        return false;
    };
    c[i] += 1;
    for j in i + 1..k {
        c[j] = c[j - 1] + 1;
    }
    true
}

/// A uniformly random k-subset of 0..n into `out` (ascending), by a partial Fisher-Yates shuffle of
/// `perm` (any arrangement of 0..n; it is left shuffled, which keeps later draws uniform).
pub(crate) fn random_subset(rng: &mut Rng, perm: &mut [usize], k: usize, out: &mut Vec<usize>) {
    let n = perm.len();
    for i in 0..k {
        let j = i + rng.below((n - i) as u64) as usize;
        perm.swap(i, j);
    }
    out.clear();
    out.extend_from_slice(&perm[..k]);
    out.sort_unstable();
}
