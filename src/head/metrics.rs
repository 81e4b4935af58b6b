//! Ranking metrics shared by training, evaluation and reports.

/// Area under the ROC curve of `scores` for separating `labels == true` from `false`: the
/// probability that a random correct candidate outscores a random incorrect one, ties counting
/// one half (the Mann-Whitney U statistic over `n_pos x n_neg`).
///
/// The one AUC of the crate: training (validation AUCs, early stopping) and evaluation (the
/// report) both call it, so they cannot disagree. Scores are ordered as selection orders them
/// ([`compare_scores`](crate::select::compare_scores)): `NaN` ranks below every other score and
/// ties with other `NaN`s, `NEG_INFINITY` (the score of a candidate with no covered token) ranks
/// below every finite score, `-0.0 == 0.0`. Returns `None` when either class is empty. Counts
/// are exact integers (no rounding before the final division). O(n log n).
///
/// # Panics
/// When `scores` and `labels` differ in length.
pub fn auc(scores: &[f64], labels: &[bool]) -> Option<f64> {
    use crate::select::compare_scores;
    assert_eq!(
        scores.len(),
        labels.len(),
        "auc: scores and labels differ in length"
    );
    let positives = labels.iter().filter(|&&c| c).count();
    let negatives = labels.len() - positives;
    if positives == 0 || negatives == 0 {
        return None;
    }
    let mut order: Vec<usize> = (0..scores.len()).collect();
    order.sort_by(|&i, &j| compare_scores(scores[i], scores[j]));
    // Walk groups of equal scores upwards; each correct candidate beats every incorrect one below
    // its group and ties with the incorrect ones inside it.
    let mut negatives_below = 0u64;
    let mut twice_wins = 0u128;
    let mut start = 0;
    while start < order.len() {
        let mut end = start + 1;
        while end < order.len() && compare_scores(scores[order[end]], scores[order[start]]).is_eq()
        {
            end += 1;
        }
        let pos = order[start..end].iter().filter(|&&i| labels[i]).count() as u64;
        let neg = (end - start) as u64 - pos;
        twice_wins += u128::from(pos) * u128::from(2 * negatives_below + neg);
        negatives_below += neg;
        start = end;
    }
    Some(twice_wins as f64 / (2.0 * positives as f64 * negatives as f64))
}

/// Index of the highest score, ties going to the earliest candidate (SWIFT.md §5). NaN ranks
/// below everything. `None` for an empty slice.
pub fn best_index(scores: &[f64]) -> Option<usize> {
    let mut best: Option<usize> = None;
    for (i, &s) in scores.iter().enumerate() {
        if s.is_nan() {
            continue;
        }
        match best {
            Some(b) if scores[b] >= s => {}
            _ => best = Some(i),
        }
    }
    best.or(if scores.is_empty() { None } else { Some(0) })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn brute_auc(scores: &[f64], labels: &[bool]) -> f64 {
        let (mut num, mut den) = (0.0, 0.0);
        for (i, &li) in labels.iter().enumerate() {
            for (j, &lj) in labels.iter().enumerate() {
                if li && !lj {
                    den += 1.0;
                    num += match crate::select::compare_scores(scores[i], scores[j]) {
                        std::cmp::Ordering::Greater => 1.0,
                        std::cmp::Ordering::Equal => 0.5,
                        std::cmp::Ordering::Less => 0.0,
                    };
                }
            }
        }
        num / den
    }

    #[test]
    fn auc_matches_brute_force_with_ties() {
        assert_eq!(auc(&[0.1, 0.9], &[false, true]), Some(1.0));
        assert_eq!(auc(&[0.9, 0.1], &[false, true]), Some(0.0));
        assert_eq!(auc(&[0.5, 0.5], &[false, true]), Some(0.5));
        assert_eq!(auc(&[1.0, 2.0], &[true, true]), None);
        let mut rng = crate::rng::Rng::new(5);
        for _ in 0..50 {
            let n = 2 + rng.below(30) as usize;
            let scores: Vec<f64> = (0..n)
                .map(|_| match rng.below(7) {
                    0 => f64::NEG_INFINITY,
                    6 => f64::NAN,
                    k => k as f64 * 0.25,
                })
                .collect();
            let labels: Vec<bool> = (0..n).map(|_| rng.below(2) == 1).collect();
            match auc(&scores, &labels) {
                Some(a) => assert!((a - brute_auc(&scores, &labels)).abs() < 1e-12),
                None => assert!(labels.iter().all(|&l| l) || labels.iter().all(|&l| !l)),
            }
        }
    }

    #[test]
    fn nan_ranks_lowest_as_in_selection_and_training_and_eval_share_one_auc() {
        let nan = f64::NAN;
        // A NaN score is the worst score, whatever its sign bit (`total_cmp` put a positive
        // NaN above +inf, so training and evaluation reported different AUCs).
        assert_eq!(auc(&[nan, 1.0], &[true, false]), Some(0.0));
        assert_eq!(auc(&[-nan, 1.0], &[true, false]), Some(0.0));
        assert_eq!(auc(&[nan, nan], &[true, false]), Some(0.5));
        assert_eq!(auc(&[nan, f64::NEG_INFINITY], &[false, true]), Some(1.0));
        assert_eq!(auc(&[-0.0, 0.0], &[false, true]), Some(0.5));
        let (s, l) = ([0.3, nan, 2.0, nan, -1.0], [true, false, true, true, false]);
        assert_eq!(crate::eval::auc(&s, &l), auc(&s, &l));
        assert_eq!(auc(&s, &l), Some(brute_auc(&s, &l)));
    }

    #[test]
    fn best_index_prefers_the_earliest_of_ties() {
        assert_eq!(best_index(&[]), None);
        assert_eq!(best_index(&[1.0, 3.0, 3.0, 2.0]), Some(1));
        assert_eq!(best_index(&[f64::NEG_INFINITY, f64::NEG_INFINITY]), Some(0));
        assert_eq!(best_index(&[f64::NAN, -5.0]), Some(1));
        assert_eq!(best_index(&[f64::NAN]), Some(0));
    }
}
