use super::*;

const NAN: f64 = f64::NAN;

fn cand(answer: Option<&str>, correct: bool, scores: &[f64]) -> Candidate {
    Candidate {
        answer: answer.map(str::to_owned),
        correct,
        scores: scores.to_vec(),
    }
}

/// A pool with answers and one score column.
fn pool1(answers: &[Option<&str>], scores: &[f64]) -> Pool {
    let c: Vec<Candidate> = answers
        .iter()
        .zip(scores)
        .map(|(a, &s)| cand(*a, false, &[s]))
        .collect();
    Pool::new(&c).unwrap()
}

#[test]
fn compare_scores_puts_nan_lowest() {
    use std::cmp::Ordering::*;
    assert_eq!(compare_scores(NAN, f64::NEG_INFINITY), Less);
    assert_eq!(compare_scores(f64::NEG_INFINITY, NAN), Greater);
    assert_eq!(compare_scores(NAN, NAN), Equal);
    assert_eq!(compare_scores(1.0, 2.0), Less);
    assert_eq!(compare_scores(-0.0, 0.0), Equal);
}

#[test]
fn argmax_ties_go_to_the_earliest_and_nan_ranks_lowest() {
    let s = [1.0, 3.0, NAN, 3.0, -2.0];
    assert_eq!(argmax(&s, &[0, 1, 2, 3, 4]), Some(1));
    assert_eq!(
        argmax(&s, &[3, 1]),
        Some(1),
        "order of the subset must not matter"
    );
    assert_eq!(argmax(&s, &[2, 4]), Some(4));
    assert_eq!(argmax(&[NAN, NAN, NAN], &[2, 1]), Some(1));
    assert_eq!(argmax(&[NAN, f64::NEG_INFINITY], &[0, 1]), Some(1));
    assert_eq!(argmax(&s, &[]), None);
}

#[test]
fn majority_counts_trimmed_answers_and_breaks_ties_by_first_occurrence() {
    let p = pool1(
        &[
            Some("7"),
            Some("5"),
            Some(" 5 "),
            Some("7"),
            None,
            Some("9"),
        ],
        &[0.0; 6],
    );
    // "7" x2 (first at 0) vs "5" x2 (first at 1): tie -> "7", returned as its earliest candidate.
    assert_eq!(majority(&p, &p.all()), Some(0));
    // Without candidate 0, "5" has two votes and "7" one.
    assert_eq!(majority(&p, &[1, 2, 3, 4, 5]), Some(1));
    // "9" (5) vs "7" (3): tie at one vote each, "7" occurs first.
    assert_eq!(majority(&p, &[5, 3]), Some(3));
    // The unparseable candidate does not vote, even when it is the earliest.
    assert_eq!(majority(&p, &[4, 5]), Some(5));
    assert_eq!(majority(&p, &[]), None);
}

#[test]
fn majority_without_any_answer_picks_the_earliest_member() {
    let p = pool1(&[Some("1"), None, Some("  "), None], &[0.0; 4]);
    assert_eq!(majority(&p, &[3, 1, 2]), Some(1));
    assert_eq!(p.answer_id(2), None, "a blank answer is no answer");
    assert_eq!(p.n_answers(), 1);
}

#[test]
fn weighted_vote_uses_sigmoid_weights() {
    // "a" has two votes with low scores, "b" one confident vote:
    // sigmoid(-2) * 2 = 0.238 < sigmoid(3) = 0.953, so "b" wins where majority says "a".
    let p = pool1(&[Some("a"), Some("a"), Some("b")], &[-2.0, -2.0, 3.0]);
    assert_eq!(majority(&p, &p.all()), Some(0));
    assert_eq!(weighted_vote(&p, 0, &p.all()), Some(2));
    // Two moderately good votes beat one good vote: 2 * sigmoid(1) = 1.46 > sigmoid(3) = 0.95.
    let p = pool1(&[Some("b"), Some("a"), Some("a")], &[3.0, 1.0, 1.5]);
    // The winner is represented by its highest-scored candidate.
    assert_eq!(weighted_vote(&p, 0, &p.all()), Some(2));
}

#[test]
fn weighted_vote_weights_are_absolute_probabilities() {
    // The weighting is absolute (a probability per candidate), not relative to the subset:
    // adding a constant changes the outcome here, which a softmax weighting would not.
    let base = [0.0, 0.0, 1.5];
    let answers = [Some("a"), Some("a"), Some("b")];
    let p = pool1(&answers, &base);
    assert_eq!(weighted_vote(&p, 0, &p.all()), Some(0)); // 1.0 vs 0.82
    let shifted: Vec<f64> = base.iter().map(|s| s + 10.0).collect();
    let p = pool1(&answers, &shifted);
    assert_eq!(weighted_vote(&p, 0, &p.all()), Some(0)); // ~2.0 vs ~1.0
    let shifted: Vec<f64> = base.iter().map(|s| s - 10.0).collect();
    let p = pool1(&answers, &shifted);
    // 2 e^-10 vs e^-8.5: 9.1e-5 vs 2.0e-4, "b" wins.
    assert_eq!(weighted_vote(&p, 0, &p.all()), Some(2));
}

#[test]
fn weighted_vote_ties_nan_and_fallback() {
    // Equal totals: the answer that occurs first wins; its best-scored candidate is returned.
    let p = pool1(&[Some("x"), Some("y"), Some("x")], &[0.0, 0.0, 0.0]);
    assert_eq!(weighted_vote(&p, 0, &[1, 0]), Some(0));
    assert_eq!(weighted_vote(&p, 0, &[1, 2]), Some(1));
    // Equal scores inside the winning answer: the earliest candidate represents it.
    assert_eq!(weighted_vote(&p, 0, &p.all()), Some(0));
    // A NaN score weighs nothing: "y" (weight 0.5) beats "x" (weight 0).
    let p = pool1(&[Some("x"), Some("y")], &[NAN, 0.0]);
    assert_eq!(weighted_vote(&p, 0, &p.all()), Some(1));
    // Nothing parses: the best score wins.
    let p = pool1(&[None, None, None], &[0.1, 0.7, NAN]);
    assert_eq!(weighted_vote(&p, 0, &p.all()), Some(1));
    assert_eq!(weighted_vote(&p, 0, &[]), None);
}

#[test]
fn sigmoid_is_stable() {
    assert_eq!(sigmoid(0.0), 0.5);
    assert!((sigmoid(2.0) - 0.880_797_077_977_882_4).abs() < 1e-15);
    assert!((sigmoid(-2.0) - 0.119_202_922_022_117_6).abs() < 1e-15);
    assert_eq!(sigmoid(1000.0), 1.0);
    assert_eq!(sigmoid(-1000.0), 0.0);
    assert!(sigmoid(-700.0) > 0.0);
    assert!(sigmoid(NAN).is_nan());
}

#[test]
fn fusion_ranking_takes_the_worse_rank() {
    let a = [3.0, 2.0, 1.0];
    let b = [1.0, 3.0, 2.0];
    // Ranks by a: 0, 1, 2; by b: 2, 0, 1; worse: 2, 1, 2.
    assert_eq!(fusion_ranking(&a, &b, &[0, 1, 2]), Some(1));
    // Within {0, 2}: by a 0, 1; by b 1, 0; worse 1, 1: tie -> earliest.
    assert_eq!(fusion_ranking(&a, &b, &[2, 0]), Some(0));
    // Tied scores share the better rank: a = 5, 5, 1 ranks 0, 0, 2.
    let a = [5.0, 5.0, 1.0];
    let b = [0.0, 1.0, 2.0];
    // b ranks 2, 1, 0; worse: 2, 1, 2.
    assert_eq!(fusion_ranking(&a, &b, &[0, 1, 2]), Some(1));
    // NaN ranks last in a: a ranks 1, 0 (NaN) -> worse for 1.
    let a = [0.0, NAN];
    let b = [0.0, 9.0];
    // a ranks 0, 1; b ranks 1, 0; worse 1, 1 -> earliest.
    assert_eq!(fusion_ranking(&a, &b, &[0, 1]), Some(0));
    assert_eq!(fusion_ranking(&a, &b, &[]), None);
    // Larger example: a ranks 0..4 = [1, 0, 3, 2]; b ranks = [2, 3, 0, 1]; worse [2, 3, 3, 2].
    let a = [3.0, 4.0, 1.0, 2.0];
    let b = [2.0, 1.0, 4.0, 3.0];
    assert_eq!(fusion_ranking(&a, &b, &[0, 1, 2, 3]), Some(0));
    assert_eq!(fusion_ranking(&a, &b, &[1, 2, 3]), Some(3));
}

#[test]
fn fusion_scaling_averages_min_max_scaled_scores() {
    let a = [0.0, 5.0, 10.0];
    let b = [10.0, 0.0, 6.0];
    // Scaled a: 0, .5, 1; scaled b: 1, 0, .6; means .5, .25, .8.
    assert_eq!(fusion_scaling(&a, &b, &[0, 1, 2]), Some(2));
    // Within {0, 1}: a 0, 1; b 1, 0; means .5, .5 -> earliest.
    assert_eq!(fusion_scaling(&a, &b, &[1, 0]), Some(0));
    // A constant group scales to 1.0, so b decides.
    let a = [2.0, 2.0, 2.0];
    let b = [1.0, 3.0, 2.0];
    assert_eq!(fusion_scaling(&a, &b, &[0, 1, 2]), Some(1));
    // Scaling is per subset: a single member scales to 1.0 on both.
    assert_eq!(fusion_scaling(&a, &b, &[2]), Some(2));
    // NaN scales to 0.0 and does not widen the range: a = [1, NaN, 0] -> 1, 0, 0;
    // b = [0, 10, 1] -> 0, 1, .1; means .5, .5, .05 -> earliest of the tie.
    let a = [1.0, NAN, 0.0];
    let b = [0.0, 10.0, 1.0];
    assert_eq!(fusion_scaling(&a, &b, &[0, 1, 2]), Some(0));
    // Scale matters, not just order: a ranks 1 first but by a hair.
    let a = [1.0, 0.99, 0.0];
    let b = [0.0, 1.0, 0.9];
    // Scaled a: 1, .99, 0; scaled b: 0, 1, .9; means .5, .995, .45.
    assert_eq!(fusion_scaling(&a, &b, &[0, 1, 2]), Some(1));
    assert_eq!(fusion_scaling(&a, &b, &[]), None);
}

#[test]
fn oracle_and_random_pick_within_the_subset() {
    let c = vec![
        cand(Some("1"), false, &[]),
        cand(Some("2"), true, &[]),
        cand(Some("3"), false, &[]),
        cand(Some("2"), true, &[]),
    ];
    let p = Pool::new(&c).unwrap();
    let mut rng = Rng::new(3);
    assert_eq!(Selector::Oracle.select(&p, &[3, 0, 1], &mut rng), Some(1));
    assert_eq!(Selector::Oracle.select(&p, &[2, 0], &mut rng), Some(0));
    assert_eq!(Selector::Oracle.select(&p, &[], &mut rng), None);
    let mut seen = [0u32; 4];
    for _ in 0..400 {
        let i = Selector::Random.select(&p, &[0, 2, 3], &mut rng).unwrap();
        seen[i] += 1;
    }
    assert_eq!(seen[1], 0);
    assert!(seen[0] > 80 && seen[2] > 80 && seen[3] > 80, "{seen:?}");
}

#[test]
fn selector_dispatch_matches_the_functions() {
    let mut rng = Rng::new(11);
    for trial in 0..200 {
        let n = 1 + rng.below(9) as usize;
        let c: Vec<Candidate> = (0..n)
            .map(|_| {
                let answer = match rng.below(4) {
                    0 => None,
                    a => Some(a.to_string()),
                };
                let s = |rng: &mut Rng| match rng.below(6) {
                    0 => NAN,
                    v => v as f64,
                };
                let scores = vec![s(&mut rng), s(&mut rng)];
                cand(answer.as_deref(), rng.below(2) == 0, &scores)
            })
            .collect();
        let p = Pool::new(&c).unwrap();
        let mut subset = p.all();
        rng.shuffle(&mut subset);
        subset.truncate(1 + rng.below(n as u64) as usize);
        let (a, b) = (p.scores(0), p.scores(1));
        // Score-based rules see only the answered members (all of them when none is).
        let answered: Vec<usize> = subset
            .iter()
            .copied()
            .filter(|&i| p.is_answered(i))
            .collect();
        let eligible = if answered.is_empty() {
            subset.clone()
        } else {
            answered
        };
        let cases = [
            (Selector::Majority, majority(&p, &subset)),
            (Selector::Argmax { score: 1 }, argmax(b, &eligible)),
            (
                Selector::WeightedVote { score: 0 },
                weighted_vote(&p, 0, &subset),
            ),
            (
                Selector::FusionRanking { a: 0, b: 1 },
                fusion_ranking(a, b, &eligible),
            ),
            (
                Selector::FusionScaling { a: 0, b: 1 },
                fusion_scaling(a, b, &eligible),
            ),
        ];
        let mut scratch = Scratch::default();
        for (sel, want) in cases {
            assert!(want.is_some_and(|w| subset.contains(&w)));
            assert_eq!(
                sel.select(&p, &subset, &mut rng),
                want,
                "{sel:?} trial {trial}"
            );
            // A reused scratch gives the same answer as a fresh one.
            let again = sel.select_with(&p, &subset, &mut rng, &mut scratch);
            assert_eq!(again, want, "{sel:?} trial {trial} (scratch)");
            // Reversing the subset does not change the pick.
            let rev: Vec<usize> = subset.iter().rev().copied().collect();
            assert_eq!(sel.select(&p, &rev, &mut rng), want, "{sel:?} reversed");
        }
    }
}

#[test]
fn pool_rejects_ragged_scores() {
    let c = vec![cand(None, false, &[1.0, 2.0]), cand(None, true, &[1.0])];
    assert_eq!(
        Pool::new(&c),
        Err(SelectError::ScoreCount {
            candidate: 1,
            expected: 2,
            got: 1
        })
    );
    let e = Pool::from_columns([None, None], vec![true, false], vec![vec![1.0]]);
    assert!(matches!(
        e,
        Err(SelectError::ColumnLength { column: 0, .. })
    ));
    let e = Pool::from_columns([None], vec![true, false], vec![]);
    assert!(matches!(
        e,
        Err(SelectError::AnswerCount {
            expected: 2,
            got: 1
        })
    ));
    let p = Pool::new(&[]).unwrap();
    assert!(p.is_empty());
    assert_eq!(Selector::Majority.select(&p, &[], &mut Rng::new(0)), None);
}

#[test]
fn selector_json_form() {
    let s = Selector::FusionScaling { a: 2, b: 0 };
    let j = serde_json::to_string(&s).unwrap();
    assert_eq!(j, r#"{"kind":"fusion_scaling","a":2,"b":0}"#);
    assert_eq!(serde_json::from_str::<Selector>(&j).unwrap(), s);
    assert_eq!(
        serde_json::to_string(&Selector::Majority).unwrap(),
        r#"{"kind":"majority"}"#
    );
    assert_eq!(s.kind(), "fusion_scaling");
    assert_eq!(s.score_columns(), vec![2, 0]);
}

#[test]
fn no_selector_but_random_and_oracle_picks_an_unanswered_candidate_over_an_answered_one() {
    // Candidate 0 has no answer and the best scores in both columns; 1 and 2 are answered.
    let c = vec![
        cand(None, false, &[9.0, 9.0]),
        cand(Some("4"), false, &[1.0, 2.0]),
        cand(Some("5"), true, &[2.0, 1.0]),
    ];
    let p = Pool::new(&c).unwrap();
    let mut rng = Rng::new(3);
    for sel in [
        Selector::RandomAnswered,
        Selector::Majority,
        Selector::Argmax { score: 0 },
        Selector::WeightedVote { score: 0 },
        Selector::FusionRanking { a: 0, b: 1 },
        Selector::FusionScaling { a: 0, b: 1 },
    ] {
        for _ in 0..20 {
            let pick = sel.select(&p, &[0, 1, 2], &mut rng).unwrap();
            assert_ne!(pick, 0, "{sel:?} picked the unanswered candidate");
        }
        // With no answered member in the subset, the rule still picks one.
        assert_eq!(sel.select(&p, &[0], &mut rng), Some(0), "{sel:?}");
    }
    // The unrestricted baselines may: argmax would have, and Random does sometimes.
    assert_eq!(argmax(p.scores(0), &[0, 1, 2]), Some(0));
    assert!((0..200).any(|_| Selector::Random.select(&p, &[0, 1, 2], &mut rng) == Some(0)));
    // Among the answered: candidate 2 is best by column 0, candidate 1 by column 1.
    assert_eq!(
        Selector::Argmax { score: 0 }.select(&p, &[0, 1, 2], &mut rng),
        Some(2)
    );
    assert_eq!(
        Selector::Argmax { score: 1 }.select(&p, &[0, 1, 2], &mut rng),
        Some(1)
    );
}

#[test]
fn soft_vote_runs_from_majority_to_argmax() {
    // Answers: "7" x3 with low scores, "8" x1 with a high one, one unanswered with the top score.
    let c = vec![
        cand(Some("7"), true, &[0.0]),
        cand(Some("8"), false, &[2.0]),
        cand(Some("7"), true, &[0.1]),
        cand(None, false, &[9.0]),
        cand(Some("7"), true, &[-0.2]),
    ];
    let p = Pool::new(&c).unwrap();
    let all = p.all();
    assert_eq!(soft_vote(&p, 0, 0.0, &all), majority(&p, &all));
    assert_eq!(soft_vote(&p, 0, 0.0, &all), Some(0));
    assert_eq!(soft_vote(&p, 0, f64::INFINITY, &all), Some(1));
    // "8" weighs 1; "7" weighs e^-2b (1 + e^0.1b + e^-0.2b): about 3 at small b, < 1 at large b.
    assert_eq!(soft_vote(&p, 0, 0.1, &all), Some(2), "the best-scored 7");
    assert_eq!(soft_vote(&p, 0, 5.0, &all), Some(1));
    let sel = Selector::SoftVote {
        score: 0,
        beta: 5.0,
        plus: None,
    };
    assert_eq!(sel.select(&p, &all, &mut Rng::new(0)), Some(1));
    assert_eq!(sel.score_columns(), vec![0]);
    // No answered member: the best score.
    assert_eq!(soft_vote(&p, 0, 1.0, &[3]), Some(3));
    assert_eq!(soft_vote(&p, 0, 1.0, &[]), None);
}

#[test]
fn a_two_score_soft_vote_lets_the_second_score_tilt_the_vote() {
    // Columns: head score, mean log-prob. "7" x3 with a poor log-prob, "8" x2 with a good one,
    // one unanswered candidate with the best of both.
    let c = vec![
        cand(Some("7"), true, &[0.0, -2.0]),
        cand(Some("8"), false, &[0.3, -0.2]),
        cand(Some("7"), true, &[0.5, -2.1]),
        cand(Some("8"), false, &[0.0, -0.1]),
        cand(Some("7"), true, &[0.1, -1.9]),
        cand(None, false, &[9.0, 0.0]),
    ];
    let p = Pool::new(&c).unwrap();
    let all = p.all();
    let lp = |sharpness: f64| Term {
        score: 1,
        sharpness,
    };
    // Second sharpness 0 is exactly the one-score vote, at every head sharpness.
    for beta in [0.0, 0.5, 3.0, f64::INFINITY] {
        assert_eq!(
            soft_vote_plus(&p, 0, beta, lp(0.0), &all),
            soft_vote(&p, 0, beta, &all),
            "beta {beta}"
        );
    }
    // A gentle log-prob leaves the majority (its best log-prob, candidate 4); a sharp one
    // outvotes it with the two "8"s, and the pick is the "8" with the higher combined score
    // (candidate 3: -0.1 against -0.2).
    assert_eq!(soft_vote_plus(&p, 0, 0.0, lp(0.1), &all), Some(4));
    assert_eq!(soft_vote_plus(&p, 0, 0.0, lp(4.0), &all), Some(3));
    // With the head in too, candidate 1 combines best: 2 * 0.3 - 4 * 0.2 > 2 * 0 - 4 * 0.1.
    assert_eq!(soft_vote_plus(&p, 0, 2.0, lp(4.0), &all), Some(1));
    // Head sharpness infinite: the head's argmax among the answered, whatever the log-prob.
    assert_eq!(soft_vote_plus(&p, 0, f64::INFINITY, lp(4.0), &all), Some(2));
    // The selector form reads both columns and agrees.
    let sel = Selector::SoftVote {
        score: 0,
        beta: 0.0,
        plus: Some(lp(4.0)),
    };
    assert_eq!(sel.score_columns(), vec![0, 1]);
    assert_eq!(sel.select(&p, &all, &mut Rng::new(0)), Some(3));
    // A missing log-prob weighs nothing once it counts.
    let c = vec![
        cand(Some("7"), true, &[0.0, NAN]),
        cand(Some("7"), true, &[0.0, NAN]),
        cand(Some("8"), false, &[0.0, -1.0]),
    ];
    let p = Pool::new(&c).unwrap();
    assert_eq!(soft_vote_plus(&p, 0, 0.0, lp(1.0), &p.all()), Some(2));
    assert_eq!(soft_vote_plus(&p, 0, 0.0, lp(0.0), &p.all()), Some(0));
}
