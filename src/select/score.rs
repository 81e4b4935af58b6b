//! Score-based selection: argmax and the two fusion rules of SWIFT.md §5.

use std::cmp::Ordering;

/// Total order on scores: `NaN` (missing) is below every other value, `NaN`s are equal to each
/// other, and other values compare numerically (`-0.0 == 0.0`).
pub fn compare_scores(a: f64, b: f64) -> Ordering {
    match (a.is_nan(), b.is_nan()) {
        (true, true) => Ordering::Equal,
        (true, false) => Ordering::Less,
        (false, true) => Ordering::Greater,
        (false, false) => a.partial_cmp(&b).unwrap_or(Ordering::Equal),
    }
}

/// The member of `subset` whose value (by `key`) is best under `order`, ties to the lowest index.
fn best_by<K: Copy>(
    subset: &[usize],
    key: impl Fn(usize) -> K,
    order: impl Fn(K, K) -> Ordering,
) -> Option<usize> {
    let mut best: Option<(usize, K)> = None;
    for &i in subset {
        let k = key(i);
        best = match best {
            None => Some((i, k)),
            Some((b, bk)) => match order(k, bk) {
                Ordering::Greater => Some((i, k)),
                Ordering::Equal if i < b => Some((i, k)),
                _ => Some((b, bk)),
            },
        };
    }
    best.map(|(i, _)| i)
}

/// The member of `subset` with the highest `scores[i]`; ties go to the lowest index, `NaN` ranks
/// lowest. `None` for an empty subset.
pub fn argmax(scores: &[f64], subset: &[usize]) -> Option<usize> {
    best_by(subset, |i| scores[i], compare_scores)
}

/// 0-based competition rank of `scores[i]` within `subset`: the number of members with a strictly
/// better score (so tied members share the best of their ranks).
fn rank_within(scores: &[f64], subset: &[usize], i: usize) -> usize {
    subset
        .iter()
        .filter(|&&j| compare_scores(scores[j], scores[i]) == Ordering::Greater)
        .count()
}

/// Fusion by ranking (SWIFT.md §5): each member of `subset` is ranked within the subset by `a` and
/// by `b` (0-based competition ranks: the number of members with a strictly better score, `NaN`
/// lowest), takes the worse (larger) of its two ranks, and the smallest wins; ties go to the
/// lowest index. `None` for an empty subset.
pub fn fusion_ranking(a: &[f64], b: &[f64], subset: &[usize]) -> Option<usize> {
    best_by(
        subset,
        |i| rank_within(a, subset, i).max(rank_within(b, subset, i)),
        |x: usize, y: usize| y.cmp(&x),
    )
}

/// Min-max scaling of `scores[i]` within `subset` given the finite (min, max) of the subset:
/// finite values map to [0, 1] (all to 1.0 when the finite values are constant), `+inf` to 1.0,
/// `-inf` and `NaN` to 0.0.
fn scaled(x: f64, range: Option<(f64, f64)>) -> f64 {
    if x.is_nan() || x == f64::NEG_INFINITY {
        return 0.0;
    }
    if x == f64::INFINITY {
        return 1.0;
    }
    match range {
        Some((lo, hi)) if hi > lo => (x - lo) / (hi - lo),
        _ => 1.0,
    }
}

fn finite_range(scores: &[f64], subset: &[usize]) -> Option<(f64, f64)> {
    subset
        .iter()
        .map(|&i| scores[i])
        .filter(|x| x.is_finite())
        .fold(None, |acc, x| match acc {
            None => Some((x, x)),
            Some((lo, hi)) => Some((lo.min(x), hi.max(x))),
        })
}

/// Fusion by scaling (SWIFT.md §5): each score is min-max scaled within `subset` (min and max over
/// the subset's finite values; a constant group scales to 1.0; `+inf` scales to 1.0, `-inf` and
/// `NaN` to 0.0), the two scaled scores are averaged, and the highest mean wins; ties go to the
/// lowest index. `None` for an empty subset.
pub fn fusion_scaling(a: &[f64], b: &[f64], subset: &[usize]) -> Option<usize> {
    let (ra, rb) = (finite_range(a, subset), finite_range(b, subset));
    best_by(
        subset,
        |i| 0.5 * (scaled(a[i], ra) + scaled(b[i], rb)),
        compare_scores,
    )
}
