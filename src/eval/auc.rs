//! Area under the ROC curve of a score separating correct from incorrect candidates.

use std::cmp::Ordering;

use crate::select::compare_scores;

/// AUC of `scores` for the labels `correct`: the probability that a random correct candidate
/// scores higher than a random incorrect one, ties counting 1/2 (the Mann-Whitney statistic).
/// `NaN` ranks below every other score, as in selection. `None` unless both classes are present.
///
/// Panics if the slices differ in length.
pub fn auc(scores: &[f64], correct: &[bool]) -> Option<f64> {
    assert_eq!(scores.len(), correct.len(), "one label per score");
    let positives = correct.iter().filter(|&&c| c).count();
    let negatives = correct.len() - positives;
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
        while end < order.len()
            && compare_scores(scores[order[end]], scores[order[start]]) == Ordering::Equal
        {
            end += 1;
        }
        let pos = order[start..end].iter().filter(|&&i| correct[i]).count() as u64;
        let neg = (end - start) as u64 - pos;
        twice_wins += u128::from(pos) * u128::from(2 * negatives_below + neg);
        negatives_below += neg;
        start = end;
    }
    Some(twice_wins as f64 / (2.0 * positives as f64 * negatives as f64))
}
