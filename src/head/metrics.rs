//! Ranking metrics shared by training, evaluation and reports.

/// Area under the ROC curve of `scores` for separating `labels == true` from `false`: the
/// probability that a random correct candidate outscores a random incorrect one, ties counting
/// one half (the Mann-Whitney U statistic over `n_pos x n_neg`).
///
/// Scores are ordered with `f64::total_cmp`, so `NEG_INFINITY` (the score of a candidate with no
/// covered token) ranks lowest and equal infinities tie. Returns `None` when either class is
/// empty. O(n log n).
///
/// # Panics
/// When `scores` and `labels` differ in length.
pub fn auc(scores: &[f64], labels: &[bool]) -> Option<f64> {
    assert_eq!(
        scores.len(),
        labels.len(),
        "auc: scores and labels differ in length"
    );
    let n_pos = labels.iter().filter(|&&l| l).count();
    let n_neg = labels.len() - n_pos;
    if n_pos == 0 || n_neg == 0 {
        return None;
    }
    let mut order: Vec<usize> = (0..scores.len()).collect();
    order.sort_by(|&a, &b| scores[a].total_cmp(&scores[b]));
    // Sum of the (1-based, tie-averaged) ranks of the positives.
    let mut rank_sum = 0.0f64;
    let mut i = 0;
    while i < order.len() {
        let mut j = i + 1;
        while j < order.len() && scores[order[j]].total_cmp(&scores[order[i]]).is_eq() {
            j += 1;
        }
        let avg_rank = (i + 1 + j) as f64 / 2.0;
        let pos_in_group = order[i..j].iter().filter(|&&k| labels[k]).count();
        rank_sum += avg_rank * pos_in_group as f64;
        i = j;
    }
    let u = rank_sum - (n_pos as f64) * (n_pos as f64 + 1.0) / 2.0;
    Some(u / (n_pos as f64 * n_neg as f64))
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
                    num += match scores[i].total_cmp(&scores[j]) {
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
                .map(|_| match rng.below(6) {
                    0 => f64::NEG_INFINITY,
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
    fn best_index_prefers_the_earliest_of_ties() {
        assert_eq!(best_index(&[]), None);
        assert_eq!(best_index(&[1.0, 3.0, 3.0, 2.0]), Some(1));
        assert_eq!(best_index(&[f64::NEG_INFINITY, f64::NEG_INFINITY]), Some(0));
        assert_eq!(best_index(&[f64::NAN, -5.0]), Some(1));
        assert_eq!(best_index(&[f64::NAN]), Some(0));
    }
}
