use std::collections::BTreeSet;

use super::estimate::{next_combination, random_subset};
use super::*;
use crate::dataset::{CandidateRecord, FinishReason};
use crate::rng::Rng;
use crate::select::{Candidate, NamedSelector, Pool, Selector};

const NAN: f64 = f64::NAN;

/// Every selector over two score columns (0 and 1).
fn all_selectors() -> Vec<Selector> {
    vec![
        Selector::Random,
        Selector::RandomAnswered,
        Selector::Oracle,
        Selector::Majority,
        Selector::Argmax { score: 0 },
        Selector::Argmax { score: 1 },
        Selector::WeightedVote { score: 0 },
        Selector::SoftVote {
            score: 1,
            beta: 1.5,
            plus: None,
        },
        Selector::FusionRanking { a: 0, b: 1 },
        Selector::FusionScaling { a: 1, b: 0 },
    ]
}

/// A pool of n candidates with few distinct answers (vote ties), a few missing answers, and two
/// score columns with few distinct values and some NaN (score ties).
fn random_pool(rng: &mut Rng, n: usize) -> Pool {
    let consistent = rng.below(2) == 0;
    let candidates: Vec<Candidate> = (0..n)
        .map(|_| {
            let answer = match rng.below(5) {
                0 => None,
                a => Some(a.div_ceil(2).to_string()),
            };
            let correct = if consistent {
                answer.as_deref() == Some("1")
            } else {
                rng.below(3) == 0
            };
            let mut score = || match rng.below(8) {
                0 => NAN,
                v => f64::from(v as u32 % 4) - 1.5,
            };
            let scores = vec![score(), score()];
            Candidate {
                answer,
                correct,
                scores,
            }
        })
        .collect();
    Pool::new(&candidates).unwrap()
}

/// Mean accuracy of `selector` over every k-subset, by enumerating bit masks.
fn brute_force(pool: &Pool, selector: &Selector, k: usize) -> f64 {
    let n = pool.len();
    let (mut total, mut count) = (0.0, 0u32);
    for mask in 0u32..(1 << n) {
        if mask.count_ones() as usize != k {
            continue;
        }
        let subset: Vec<usize> = (0..n).filter(|&i| mask & (1 << i) != 0).collect();
        total += match selector {
            // The random pick's accuracy on a subset is the subset's mean correctness.
            Selector::Random => expected_random(
                &subset
                    .iter()
                    .map(|&i| pool.is_correct(i))
                    .collect::<Vec<_>>(),
            ),
            // A uniform pick among the subset's answered members (all of them if none is).
            Selector::RandomAnswered => {
                let answered: Vec<usize> = subset
                    .iter()
                    .copied()
                    .filter(|&i| pool.is_answered(i))
                    .collect();
                let from = if answered.is_empty() {
                    &subset
                } else {
                    &answered
                };
                expected_random(&from.iter().map(|&i| pool.is_correct(i)).collect::<Vec<_>>())
            }
            _ => {
                let pick = selector.select(pool, &subset, &mut Rng::new(0)).unwrap();
                f64::from(u8::from(pool.is_correct(pick)))
            }
        };
        count += 1;
    }
    total / f64::from(count)
}

#[test]
fn estimators_match_brute_force_enumeration() {
    for seed in 0..6 {
        let mut rng = Rng::new(seed);
        for n in 1..=8 {
            for _ in 0..4 {
                let pool = random_pool(&mut rng, n);
                for k in 1..=n {
                    for sel in all_selectors() {
                        let want = brute_force(&pool, &sel, k);
                        let got = expected_accuracy(
                            &pool,
                            &sel,
                            k,
                            SubsetBudget::default(),
                            &mut Rng::new(1),
                        );
                        assert_eq!(got.method, Method::Exact);
                        assert_eq!(got.std_error, 0.0);
                        assert!(
                            (got.mean - want).abs() < 1e-12,
                            "seed {seed} n {n} k {k} {sel:?}: {} vs brute force {want}",
                            got.mean
                        );
                    }
                }
            }
        }
    }
}

#[test]
fn argmax_win_probabilities_match_brute_force_frequencies() {
    let mut rng = Rng::new(99);
    for n in 1..=8 {
        let pool = random_pool(&mut rng, n);
        let scores = pool.scores(0);
        for k in 1..=n {
            let p = argmax_win_probabilities(scores, k);
            let mut wins = vec![0u32; n];
            let mut subset: Vec<usize> = (0..k).collect();
            loop {
                wins[crate::select::argmax(scores, &subset).unwrap()] += 1;
                if !next_combination(&mut subset, n) {
                    break;
                }
            }
            let total = binomial(n as u64, k as u64) as f64;
            for j in 0..n {
                assert!(
                    (p[j] - f64::from(wins[j]) / total).abs() < 1e-12,
                    "n {n} k {k}"
                );
            }
        }
    }
}

#[test]
fn closed_forms_hold_up_at_n_64() {
    let n = 64;
    let mut rng = Rng::new(5);
    let scores: Vec<f64> = (0..n).map(|_| rng.below(10) as f64).collect();
    let correct: Vec<bool> = scores.iter().map(|&s| s >= 7.0).collect();
    for k in 1..=n {
        let p = argmax_win_probabilities(&scores, k);
        let sum: f64 = p.iter().sum();
        assert!(
            (sum - 1.0).abs() < 1e-9,
            "k {k}: probabilities sum to {sum}"
        );
        assert!(p.iter().all(|&x| (0.0..=1.0).contains(&x)));
        // A perfect score finds a correct candidate whenever the subset has one.
        let perfect = expected_argmax(&scores, &correct, k);
        assert!(
            (perfect - expected_oracle(&correct, k)).abs() < 1e-9,
            "k {k}"
        );
    }
    // pass@k from the closed form against the exact integer formula.
    let incorrect = correct.iter().filter(|&&c| !c).count() as u64;
    for k in [1u64, 2, 5, 20, 40, 64] {
        let want = 1.0 - binomial(incorrect, k) as f64 / binomial(n as u64, k) as f64;
        assert!((expected_oracle(&correct, k as usize) - want).abs() < 1e-12);
    }
}

#[test]
fn binomials_are_exact() {
    // Pascal's triangle up to n = 128, where C(128, 64) still fits in u128.
    let mut row: Vec<u128> = vec![1];
    for n in 1..=128u64 {
        let mut next = vec![1u128; n as usize + 1];
        for k in 1..n as usize {
            next[k] = row[k - 1] + row[k];
        }
        row = next;
        for (k, &c) in row.iter().enumerate() {
            assert_eq!(binomial(n, k as u64), c, "C({n}, {k})");
        }
    }
    assert_eq!(
        binomial(128, 64),
        23_951_146_041_928_082_866_135_587_776_380_551_750
    );
    assert_eq!(binomial(5, 6), 0);
    assert_eq!(binomial(0, 0), 1);
    assert_eq!(binomial(400, 200), u128::MAX, "saturates");
}

#[test]
fn combinations_and_random_subsets() {
    let mut c = vec![0, 1, 2];
    let mut all = vec![c.clone()];
    while next_combination(&mut c, 5) {
        all.push(c.clone());
    }
    assert_eq!(all.len(), 10);
    assert_eq!(all.last().unwrap(), &vec![2, 3, 4]);
    assert!(all.windows(2).all(|w| w[0] < w[1]));

    // Every 2-subset of 0..4 is about equally likely.
    let mut rng = Rng::new(8);
    let mut perm: Vec<usize> = (0..4).collect();
    let mut out = Vec::new();
    let mut counts = std::collections::HashMap::new();
    for _ in 0..60_000 {
        random_subset(&mut rng, &mut perm, 2, &mut out);
        assert!(out[0] < out[1]);
        *counts.entry(out.clone()).or_insert(0u32) += 1;
    }
    assert_eq!(counts.len(), 6);
    for (s, &c) in &counts {
        assert!((9_300..10_700).contains(&c), "{s:?}: {c}");
    }
}

#[test]
fn majority_without_answers_falls_back_to_the_earliest_candidate() {
    let candidates: Vec<Candidate> = [true, false, false, true, false]
        .iter()
        .map(|&correct| Candidate {
            answer: None,
            correct,
            scores: vec![],
        })
        .collect();
    let pool = Pool::new(&candidates).unwrap();
    // "Earliest wins" is the argmax of a score that decreases with the index.
    let by_index: Vec<f64> = (0..5).map(|i| -f64::from(i)).collect();
    for k in 1..=5 {
        let got = expected_accuracy(
            &pool,
            &Selector::Majority,
            k,
            SubsetBudget::default(),
            &mut Rng::new(0),
        );
        let want = expected_argmax(&by_index, pool.correct(), k);
        assert!((got.mean - want).abs() < 1e-12, "k {k}");
    }
    assert_eq!(first_k(&pool, &Selector::Majority, 3), 1.0);
}

#[test]
fn unparseable_answers_do_not_vote_in_evaluation() {
    // Three unparseable wrong candidates come first; the two parseable ones agree and are right.
    let candidates: Vec<Candidate> = [(None, false), (None, false), (None, false)]
        .into_iter()
        .chain([(Some("4"), true), (Some("4"), true)])
        .map(|(a, correct)| Candidate {
            answer: a.map(str::to_owned),
            correct,
            scores: vec![],
        })
        .collect();
    let pool = Pool::new(&candidates).unwrap();
    // Any subset containing a "4" picks it; only all-None subsets fail.
    for k in 1..=5 {
        let got = expected_accuracy(
            &pool,
            &Selector::Majority,
            k,
            SubsetBudget::default(),
            &mut Rng::new(0),
        );
        let want = expected_oracle(pool.correct(), k);
        assert!((got.mean - want).abs() < 1e-12, "k {k}");
    }
    assert_eq!(first_k(&pool, &Selector::Majority, 3), 0.0);
    assert_eq!(first_k(&pool, &Selector::Majority, 4), 1.0);
}

fn record(problem: u64, candidate: u32, answer: Option<&str>, correct: bool) -> CandidateRecord {
    CandidateRecord {
        problem_id: format!("p{problem}"),
        problem_index: problem,
        candidate,
        seed: u64::from(candidate),
        text: String::new(),
        answer: answer.map(str::to_owned),
        correct,
        n_tokens: 3,
        n_covered: 3,
        finish: FinishReason::Eos,
        mean_logprob: -f64::from(candidate % 3),
        token_logprobs: vec![-0.5; 3],
        token_entropy: None,
        token_self_certainty: None,
    }
}

/// Synthetic records: `problems` problems of n candidates; a perfect head (correct candidates
/// score above incorrect ones, with ties among them) and a noisy one.
fn synthetic(problems: u64, n: u32, seed: u64) -> (Vec<CandidateRecord>, Vec<HeadScores>) {
    let mut rng = Rng::new(seed);
    let mut records = Vec::new();
    let mut perfect = HeadScores::new("perfect");
    let mut noisy = HeadScores::new("noisy");
    for p in 0..problems {
        let rate = rng.next_f64();
        for c in 0..n {
            let correct = rng.next_f64() < rate;
            let answer = if correct {
                Some("42".to_owned())
            } else {
                match rng.below(4) {
                    0 => None,
                    a => Some(a.to_string()),
                }
            };
            let mut r = record(p, c, answer.as_deref(), correct);
            r.mean_logprob = -rng.next_f64() - if correct { 0.0 } else { 0.3 };
            records.push(r);
            let level = if correct { 2.0 } else { -1.0 };
            perfect
                .scores
                .insert((p, c), level + rng.below(2) as f64 * 0.5);
            let noise = rng.next_f64() * 3.0 - 1.5;
            noisy.scores.insert((p, c), level * 0.5 + noise);
        }
    }
    // Records in scrambled order: grouping must not depend on it.
    let mut order: Vec<usize> = (0..records.len()).collect();
    rng.shuffle(&mut order);
    let records = order.into_iter().map(|i| records[i].clone()).collect();
    (records, vec![perfect, noisy])
}

#[test]
fn a_perfect_head_reaches_the_oracle_at_every_k() {
    let (records, heads) = synthetic(40, 16, 1);
    let set = ProblemSet::from_records(&records, &heads).unwrap();
    let report = evaluate(&set, &set.default_selectors(), &EvalConfig::default()).unwrap();
    assert_eq!(report.settings.ks, vec![1, 2, 4, 8, 16]);
    for row in &report.rows {
        let oracle = report.cell(row.k, "oracle").unwrap();
        let perfect = report.cell(row.k, "perfect").unwrap();
        assert!(
            (perfect.expected - oracle.expected).abs() < 1e-12,
            "k {}",
            row.k
        );
        assert!(
            (perfect.first_k - oracle.first_k).abs() < 1e-12,
            "k {}",
            row.k
        );
        let random = report.cell(row.k, "random").unwrap();
        let noisy = report.cell(row.k, "noisy").unwrap();
        assert!(noisy.expected <= oracle.expected + 1e-12);
        if row.k > 1 {
            assert!(oracle.expected > random.expected);
        }
    }
    let perfect = report.scores.iter().find(|s| s.name == "perfect").unwrap();
    assert_eq!(perfect.auc_pooled, Some(1.0));
    assert_eq!(perfect.auc_mean_per_problem, Some(1.0));
    let noisy = report.scores.iter().find(|s| s.name == "noisy").unwrap();
    assert!(noisy.auc_pooled.unwrap() > 0.6 && noisy.auc_pooled.unwrap() < 1.0);
}

#[test]
fn sampled_estimates_land_near_the_exact_values() {
    let (records, heads) = synthetic(60, 10, 2);
    let set = ProblemSet::from_records(&records, &heads).unwrap();
    let selectors = set.default_selectors();
    let exact = evaluate(&set, &selectors, &EvalConfig::default()).unwrap();
    let sampled = evaluate(
        &set,
        &selectors,
        &EvalConfig::default()
            .with_exact_budget(0)
            .with_draws(500)
            .with_seed(7),
    )
    .unwrap();
    let mut z_max: f64 = 0.0;
    let mut n_sampled = 0;
    for (er, sr) in exact.rows.iter().zip(&sampled.rows) {
        for (e, s) in er.cells.iter().zip(&sr.cells) {
            assert_eq!(e.method, Method::Exact);
            assert_eq!(e.first_k, s.first_k, "first-k does not depend on sampling");
            match s.method {
                Method::Exact => assert_eq!(s.expected, e.expected, "{} closed form", s.selector),
                Method::Sampled(d) => {
                    assert_eq!(d, 500);
                    assert_eq!(s.sampled_problems, sr.problems);
                    n_sampled += 1;
                    let diff = (s.expected - e.expected).abs();
                    if s.std_error == 0.0 {
                        // Only possible when every subset gives the same outcome.
                        assert_eq!(diff, 0.0, "{} k {}", s.selector, sr.k);
                    } else {
                        z_max = z_max.max(diff / s.std_error);
                    }
                }
            }
        }
    }
    // majority, two votes and four fusions at five k values.
    assert_eq!(n_sampled, 7 * 5);
    assert!(z_max < 4.5, "largest deviation {z_max:.2} standard errors");
    assert!(z_max > 0.0);
    // The same seed gives the same numbers; another seed does not.
    let again = evaluate(
        &set,
        &selectors,
        &EvalConfig::default()
            .with_exact_budget(0)
            .with_draws(500)
            .with_seed(7),
    )
    .unwrap();
    assert_eq!(again, sampled);
    let other = evaluate(
        &set,
        &selectors,
        &EvalConfig::default()
            .with_exact_budget(0)
            .with_draws(500)
            .with_seed(8),
    )
    .unwrap();
    assert_ne!(other.rows, sampled.rows);
}

#[test]
fn first_k_uses_the_first_candidates() {
    let mut rng = Rng::new(4);
    for _ in 0..50 {
        let n = 1 + rng.below(8) as usize;
        let pool = random_pool(&mut rng, n);
        for k in 1..=n {
            let prefix: Vec<usize> = (0..k).collect();
            for sel in all_selectors() {
                let got = first_k(&pool, &sel, k);
                let want = match sel {
                    Selector::Random => expected_random(&pool.correct()[..k]),
                    Selector::RandomAnswered => {
                        let answered: Vec<bool> = (0..k).map(|i| pool.is_answered(i)).collect();
                        let from: Vec<usize> = (0..k).filter(|&i| answered[i]).collect();
                        let from = if from.is_empty() {
                            prefix.clone()
                        } else {
                            from
                        };
                        expected_random(
                            &from.iter().map(|&i| pool.is_correct(i)).collect::<Vec<_>>(),
                        )
                    }
                    _ => {
                        let pick = sel.select(&pool, &prefix, &mut Rng::new(0)).unwrap();
                        f64::from(u8::from(pool.is_correct(pick)))
                    }
                };
                assert_eq!(got, want, "{sel:?} k {k}");
            }
        }
    }
}

#[test]
fn auc_counts_ties_as_half() {
    // Correct: 3, 2; incorrect: 2, 1. Pairs: (3>2), (3>1), (2=2 -> 1/2), (2>1) = 3.5 / 4.
    assert_eq!(
        auc(&[3.0, 2.0, 2.0, 1.0], &[true, true, false, false]),
        Some(0.875)
    );
    assert_eq!(auc(&[1.0, 2.0], &[true, false]), Some(0.0));
    assert_eq!(auc(&[5.0, 5.0], &[true, false]), Some(0.5));
    // NaN ranks lowest, tied with other NaNs.
    assert_eq!(auc(&[NAN, -1e300], &[false, true]), Some(1.0));
    assert_eq!(auc(&[NAN, NAN], &[false, true]), Some(0.5));
    assert_eq!(auc(&[1.0, 2.0], &[true, true]), None);
    assert_eq!(auc(&[], &[]), None);
    // Against all pairs on random data with ties.
    let mut rng = Rng::new(12);
    for _ in 0..50 {
        let n = 2 + rng.below(30) as usize;
        let s: Vec<f64> = (0..n).map(|_| rng.below(5) as f64).collect();
        let c: Vec<bool> = (0..n).map(|_| rng.below(2) == 0).collect();
        let (mut wins, mut pairs) = (0.0, 0.0);
        for i in (0..n).filter(|&i| c[i]) {
            for j in (0..n).filter(|&j| !c[j]) {
                pairs += 1.0;
                wins += match s[i].partial_cmp(&s[j]).unwrap() {
                    std::cmp::Ordering::Greater => 1.0,
                    std::cmp::Ordering::Equal => 0.5,
                    std::cmp::Ordering::Less => 0.0,
                };
            }
        }
        let want = (pairs > 0.0).then(|| wins / pairs);
        let got = auc(&s, &c);
        assert_eq!(got.is_some(), want.is_some());
        if let (Some(g), Some(w)) = (got, want) {
            assert!((g - w).abs() < 1e-12);
        }
    }
}

#[test]
fn records_are_grouped_and_validated() {
    let records = vec![
        record(5, 1, Some("2"), false),
        record(5, 0, Some("1"), true),
        record(2, 0, None, false),
        record(2, 2, Some("1"), true),
        record(2, 1, Some("1"), true),
    ];
    let head = HeadScores::new("swift")
        .with_score(5, 0, 1.0)
        .with_score(2, 1, 0.5);
    let set = ProblemSet::from_records(&records, std::slice::from_ref(&head)).unwrap();
    assert_eq!(set.score_names(), ["logprob", "swift"]);
    let p: Vec<u64> = set.problems().iter().map(|p| p.problem_index).collect();
    assert_eq!(p, vec![2, 5]);
    assert_eq!(set.problems()[0].candidates, vec![0, 1, 2]);
    assert_eq!(set.problems()[0].pool.correct(), [false, true, true]);
    let swift = set.problems()[0].pool.scores(1);
    assert!(swift[0].is_nan() && swift[1] == 0.5 && swift[2].is_nan());
    assert_eq!(set.problems()[1].pool.scores(0), [0.0, -1.0]);

    let report = evaluate(&set, &set.default_selectors(), &EvalConfig::default()).unwrap();
    // Ragged: problem 5 has two candidates, so k = 3 only counts problem 2.
    assert_eq!(report.settings.ks, vec![1, 2, 3]);
    assert_eq!(report.rows[2].k, 3);
    assert_eq!((report.rows[2].problems, report.rows[2].skipped), (1, 1));
    assert!(report.notes.iter().any(|n| n.contains("k=3: 1 problem(s)")));
    let swift = report.scores.iter().find(|s| s.name == "swift").unwrap();
    assert_eq!(swift.missing, 3);
    assert!(report
        .notes
        .iter()
        .any(|n| n.starts_with("swift: 3 candidate(s)")));
    let c = &report.counts;
    assert_eq!(
        (c.problems, c.candidates, c.correct, c.no_answer),
        (2, 5, 3, 1)
    );
    assert_eq!((c.min_candidates, c.max_candidates), (2, 3));
    assert_eq!((c.all_correct, c.none_correct), (0, 0));

    // Asking for k beyond every problem gives a note, not a row.
    let report = evaluate(
        &set,
        &set.default_selectors(),
        &EvalConfig::default().with_ks([4, 1, 1]),
    )
    .unwrap();
    assert_eq!(report.settings.ks, vec![1, 4]);
    assert_eq!(report.rows.len(), 1);
    assert!(report
        .notes
        .iter()
        .any(|n| n.starts_with("k=4: every problem")));

    let mut dup = records.clone();
    dup.push(record(2, 1, None, false));
    assert_eq!(
        ProblemSet::from_records(&dup, &[]),
        Err(EvalError::DuplicateCandidate {
            problem_index: 2,
            candidate: 1
        })
    );
    let stray = head.clone().with_score(9, 0, 1.0).with_score(5, 7, 1.0);
    assert_eq!(
        ProblemSet::from_records(&records, &[stray]),
        Err(EvalError::UnknownCandidate {
            head: "swift".into(),
            problem_index: 5,
            candidate: 7,
            count: 2
        })
    );
    let reserved = HeadScores::new("logprob");
    assert!(matches!(
        ProblemSet::from_records(&records, &[reserved]),
        Err(EvalError::ScoreName { .. })
    ));
    assert!(matches!(
        ProblemSet::from_records(&records, &[head.clone(), head]),
        Err(EvalError::ScoreName { .. })
    ));
    assert_eq!(
        ProblemSet::from_records(&[], &[]),
        Err(EvalError::NoProblems)
    );
}

#[test]
fn self_certainty_and_gaps() {
    let mut records = vec![
        record(0, 0, Some("1"), true),
        record(0, 2, Some("2"), false),
    ];
    records[0].token_self_certainty = Some(vec![1.0, 2.0]);
    let set = ProblemSet::from_records(&records, &[]).unwrap();
    assert_eq!(set.score_names(), ["logprob", "self-certainty"]);
    let sc = set.problems()[0].pool.scores(1);
    assert_eq!(sc[0], 1.5);
    assert!(sc[1].is_nan());
    assert!(set.notes()[0].contains("gaps"));
    let names: Vec<String> = set
        .default_selectors()
        .into_iter()
        .map(|s| s.name)
        .collect();
    assert_eq!(
        names,
        [
            "random",
            "random-answered",
            "oracle",
            "majority",
            "logprob",
            "self-certainty"
        ]
    );
}

#[test]
fn default_selectors_per_head() {
    let (records, heads) = synthetic(2, 4, 3);
    let set = ProblemSet::from_records(&records, &heads[..1]).unwrap();
    let names: Vec<String> = set
        .default_selectors()
        .into_iter()
        .map(|s| s.name)
        .collect();
    assert_eq!(
        names,
        [
            "random",
            "random-answered",
            "oracle",
            "majority",
            "logprob",
            "perfect",
            "perfect-vote",
            "rank(perfect,logprob)",
            "scale(perfect,logprob)"
        ]
    );
    assert_eq!(
        set.default_selectors()[7].selector,
        Selector::FusionRanking { a: 1, b: 0 }
    );
}

#[test]
fn invalid_settings_are_rejected() {
    let (records, heads) = synthetic(3, 4, 4);
    let set = ProblemSet::from_records(&records, &heads).unwrap();
    let sel = set.default_selectors();
    let cfg = EvalConfig::default();
    assert_eq!(
        evaluate(&set, &sel, &cfg.clone().with_draws(1)),
        Err(EvalError::Draws { draws: 1 })
    );
    assert_eq!(
        evaluate(&set, &sel, &cfg.clone().with_ks([0, 1])),
        Err(EvalError::ZeroK)
    );
    assert_eq!(evaluate(&set, &[], &cfg), Err(EvalError::NoSelectors));
    let twice = vec![sel[0].clone(), sel[0].clone()];
    assert!(matches!(
        evaluate(&set, &twice, &cfg),
        Err(EvalError::DuplicateSelector { .. })
    ));
    let bad = vec![NamedSelector::new("x", Selector::Argmax { score: 3 })];
    assert_eq!(
        evaluate(&set, &bad, &cfg),
        Err(EvalError::UnknownScoreColumn {
            selector: "x".into(),
            column: 3,
            n_scores: 3
        })
    );
}

#[test]
fn default_ks_are_powers_of_two_up_to_n() {
    assert_eq!(default_ks(16), vec![1, 2, 4, 8, 16]);
    assert_eq!(default_ks(10), vec![1, 2, 4, 8, 10]);
    assert_eq!(default_ks(1), vec![1]);
    assert_eq!(default_ks(64).last(), Some(&64));
}

#[test]
fn method_strings() {
    assert_eq!(Method::Exact.to_string(), "exact");
    assert_eq!(Method::Sampled(2000).to_string(), "sampled(2000)");
    assert_eq!("sampled(7)".parse::<Method>(), Ok(Method::Sampled(7)));
    assert_eq!("exact".parse::<Method>(), Ok(Method::Exact));
    assert!("sampled()".parse::<Method>().is_err());
    assert!("Exact".parse::<Method>().is_err());
}

/// Every key path of a JSON value: objects add `.key`, arrays add `[]` (union over elements).
fn key_paths(v: &serde_json::Value, prefix: &str, out: &mut BTreeSet<String>) {
    match v {
        serde_json::Value::Object(m) => {
            for (k, v) in m {
                let p = if prefix.is_empty() {
                    k.clone()
                } else {
                    format!("{prefix}.{k}")
                };
                out.insert(p.clone());
                key_paths(v, &p, out);
            }
        }
        serde_json::Value::Array(a) => {
            for v in a {
                key_paths(v, &format!("{prefix}[]"), out);
            }
        }
        _ => {}
    }
}

fn sample_report() -> Report {
    let (records, heads) = synthetic(6, 8, 5);
    let set = ProblemSet::from_records(&records, &heads[..1]).unwrap();
    evaluate(
        &set,
        &set.default_selectors(),
        &EvalConfig::default().with_ks([1, 4, 8, 32]),
    )
    .unwrap()
}

#[test]
fn json_key_set_is_pinned() {
    let report = sample_report();
    assert!(!report.notes.is_empty());
    let v: serde_json::Value = serde_json::from_str(&report.to_json()).unwrap();
    let mut keys = BTreeSet::new();
    key_paths(&v, "", &mut keys);
    let want: BTreeSet<String> = [
        "schema_version",
        "settings",
        "settings.ks",
        "settings.exact_budget",
        "settings.draws",
        "settings.seed",
        "counts",
        "counts.problems",
        "counts.candidates",
        "counts.correct",
        "counts.min_candidates",
        "counts.max_candidates",
        "counts.all_correct",
        "counts.none_correct",
        "counts.no_answer",
        "selectors",
        "selectors[].name",
        "selectors[].kind",
        "selectors[].scores",
        "scores",
        "scores[].name",
        "scores[].missing",
        "scores[].auc_pooled",
        "scores[].auc_mean_per_problem",
        "scores[].problems_with_both_classes",
        "rows",
        "rows[].k",
        "rows[].problems",
        "rows[].skipped",
        "rows[].cells",
        "rows[].cells[].selector",
        "rows[].cells[].first_k",
        "rows[].cells[].expected",
        "rows[].cells[].std_error",
        "rows[].cells[].method",
        "rows[].cells[].sampled_problems",
        "rows[].cells[].vs_majority",
        "rows[].cells[].vs_majority.mean",
        "rows[].cells[].vs_majority.std_error",
        "rows[].cells[].vs_logprob",
        "rows[].cells[].vs_logprob.mean",
        "rows[].cells[].vs_logprob.std_error",
        "notes",
    ]
    .into_iter()
    .map(String::from)
    .collect();
    assert_eq!(
        keys, want,
        "the report's JSON keys changed: update the schema docs"
    );
    assert_eq!(v["schema_version"], SCHEMA_VERSION);
    assert_eq!(v["rows"][0]["cells"][0]["method"], "exact");
    assert_eq!(v["selectors"][6]["kind"], "weighted_vote");
    // The JSON form reads back into the same report.
    let back: Report = serde_json::from_str(&report.to_json()).unwrap();
    assert_eq!(back, report);
}

#[test]
fn report_saves_atomically() {
    let report = sample_report();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("out/eval.json");
    report.save_json(&path).unwrap();
    let back: Report = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
    assert_eq!(back, report);
}

#[test]
fn text_tables_are_aligned() {
    let (records, heads) = synthetic(6, 8, 5);
    let set = ProblemSet::from_records(&records, &heads[..1]).unwrap();
    let report = evaluate(
        &set,
        &set.default_selectors(),
        &EvalConfig::default().with_exact_budget(10).with_draws(50),
    )
    .unwrap();
    let text = report.render_text();
    for s in &report.selectors {
        assert!(text.contains(&s.name), "{} missing", s.name);
    }
    assert!(
        text.contains('±'),
        "sampled cells show their standard error"
    );
    assert!(text.contains("AUC pooled"));
    // The two accuracy tables: a header and one line per row, all of one width.
    let blocks: Vec<&str> = text.split("\n\n").collect();
    for block in &blocks[..2] {
        let lines: Vec<&str> = block.lines().skip(1).collect();
        assert_eq!(lines.len(), 1 + report.rows.len());
        let w = lines[0].chars().count();
        assert!(lines.iter().all(|l| l.chars().count() == w), "{block}");
    }
    let k8 = report.cell(8, "oracle").unwrap();
    assert!(blocks[0].contains(&format!("{:.3}", k8.expected)));
    assert_eq!(format!("{report}"), text);
}

#[test]
fn svg_plot_needs_no_font() {
    let report = sample_report();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("acc.svg");
    plot(&report, &path, &PlotOptions::default()).unwrap();
    let svg = std::fs::read_to_string(&path).unwrap();
    assert!(svg.starts_with("<svg"));
    for s in &report.selectors {
        assert!(
            svg.contains(&format!(">\n{}\n</text>", s.name)),
            "{}",
            s.name
        );
    }
    // Tick labels at every k of the report, and the axis labels.
    for k in ["1", "4", "8"] {
        assert!(svg.contains(&format!(">\n{k}\n</text>")), "tick {k}");
    }
    assert!(svg.contains("accuracy"));
    assert!(svg.contains("log2"));
    let first = dir.path().join("first.SVG");
    plot(
        &report,
        &first,
        &PlotOptions::default()
            .with_metric(PlotMetric::FirstK)
            .with_title("first k only")
            .with_size(640, 400),
    )
    .unwrap();
    let svg = std::fs::read_to_string(&first).unwrap();
    assert!(svg.contains("first k only"));
    assert!(svg.contains(r#"width="640""#));
}

#[test]
fn png_plot_uses_a_system_font_or_explains() {
    let report = sample_report();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("acc.png");
    match find_system_font() {
        Some(_) => {
            plot(&report, &path, &PlotOptions::default()).unwrap();
            let bytes = std::fs::read(&path).unwrap();
            assert_eq!(&bytes[..8], b"\x89PNG\r\n\x1a\n");
            assert!(bytes.len() > 10_000, "a plot with text, not a blank image");
            // No temporary file is left next to it.
            assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
        }
        None => {
            let e = plot(&report, &path, &PlotOptions::default()).unwrap_err();
            assert!(matches!(e, PlotError::NoFont { .. }));
            assert!(e.to_string().contains("SVG"));
        }
    }
    // A font file that is not a font is a clear error.
    let fake = dir.path().join("fake.ttf");
    std::fs::write(&fake, b"not a font").unwrap();
    let e = plot(&report, &path, &PlotOptions::default().with_font(&fake)).unwrap_err();
    assert!(matches!(e, PlotError::Font { .. }), "{e}");
}

#[test]
fn plot_rejects_unknown_formats_and_empty_reports() {
    let mut report = sample_report();
    let dir = tempfile::tempdir().unwrap();
    let e = plot(&report, &dir.path().join("x.jpg"), &PlotOptions::default()).unwrap_err();
    assert!(matches!(e, PlotError::Format { .. }));
    report.rows.clear();
    let e = plot(&report, &dir.path().join("x.svg"), &PlotOptions::default()).unwrap_err();
    assert!(matches!(e, PlotError::Empty));
}

#[test]
fn the_soft_vote_calibrates_towards_the_head_that_knows_and_splits_by_kind() {
    // A head that always ranks the correct candidates first: the sharpest grid value wins (or
    // ties it), and it beats majority vote.
    let (records, heads) = synthetic(30, 8, 7);
    let set = ProblemSet::from_records(&records, &heads[..1]).unwrap();
    let fit = calibrate_soft_vote(
        &set,
        set.score_index("perfect").unwrap(),
        8,
        &EvalConfig::default(),
    )
    .unwrap();
    assert_eq!(fit.curve.len(), SOFT_VOTE_GRID.len() * LOGPROB_GRID.len());
    assert!(fit.calibration.beta > 0.0, "{fit:?}");
    assert!(
        fit.calibration.accuracy >= fit.calibration.majority,
        "{fit:?}"
    );
    assert!(fit.calibration.accuracy >= fit.curve[0].accuracy - 1e-12);
    assert_eq!((fit.curve[0].beta, fit.curve[0].logprob), (0.0, 0.0));
    // By kind: even problems one kind, odd the other; each kind's fit sees only its problems.
    let kind_of = |p: u64| if p % 2 == 0 { "number" } else { "yes-no" };
    let fits = calibrate_soft_vote_by_kind(&records, &heads[0], &kind_of).unwrap();
    assert_eq!(fits.overall.as_ref().unwrap().calibration.problems, 30);
    assert_eq!(fits.by_kind.len(), 2);
    assert_eq!(fits.by_kind["number"].calibration.problems, 15);
    assert_eq!(fits.by_kind["yes-no"].calibration.problems, 15);
    // One kind only: no per-kind fits.
    let one = calibrate_soft_vote_by_kind(&records, &heads[0], &|_| "number").unwrap();
    assert!(one.by_kind.is_empty());
}

#[test]
fn mean_and_standard_error_by_hand() {
    assert_eq!(mean_and_standard_error(&[]), None);
    let (m, se) = mean_and_standard_error(&[1.0]).unwrap();
    assert_eq!(m, 1.0);
    assert!(se.is_nan());
    // Sample variance of 1, 2, 3 is 1, so the standard error is 1/sqrt(3).
    let (m, se) = mean_and_standard_error(&[1.0, 2.0, 3.0]).unwrap();
    assert_eq!(m, 2.0);
    assert!((se - 1.0 / 3f64.sqrt()).abs() < 1e-12);
}

#[test]
fn the_soft_vote_gives_the_log_prob_a_say_where_it_knows_and_the_head_does_not() {
    // Each problem: 3 of 8 candidates right ("42"), the other 5 agree on one wrong answer, so
    // majority vote is usually wrong; the right ones have the better mean log-prob; the head's
    // score is noise.
    let mut rng = Rng::new(5);
    let mut records = Vec::new();
    let mut noise = HeadScores::new("noise");
    for p in 0..40u64 {
        for c in 0..8u32 {
            let correct = c % 3 == 0;
            let mut r = record(p, c, Some(if correct { "42" } else { "41" }), correct);
            r.mean_logprob = if correct { -0.2 } else { -0.9 } - 0.2 * rng.next_f64();
            records.push(r);
            noise.scores.insert((p, c), rng.next_f64() * 2.0 - 1.0);
        }
    }
    let set = ProblemSet::from_records(&records, &[noise]).unwrap();
    let fit = calibrate_soft_vote(
        &set,
        set.score_index("noise").unwrap(),
        8,
        &EvalConfig::default(),
    )
    .unwrap();
    let c = &fit.calibration;
    assert!(c.logprob > 0.0, "{c:?}");
    assert!(c.accuracy > c.majority + 0.5, "{c:?}");
    assert!(
        c.accuracy > fit.best_without_logprob().unwrap().accuracy + 0.5,
        "{c:?}"
    );
    // The calibration's selector is the soft vote it describes, on the set's columns.
    let lp = set.score_index(LOGPROB).unwrap();
    match c.selector(set.score_index("noise").unwrap(), lp) {
        Selector::SoftVote { beta, plus, .. } => {
            assert_eq!(beta, c.beta);
            assert_eq!(plus.map(|t| (t.score, t.sharpness)), Some((lp, c.logprob)));
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn every_selector_is_compared_with_majority_and_log_prob_problem_by_problem() {
    let (records, heads) = synthetic(30, 8, 11);
    let set = ProblemSet::from_records(&records, &heads).unwrap();
    let config = EvalConfig::default().with_ks(vec![4]);
    let report = evaluate(&set, &set.default_selectors(), &config).unwrap();
    let row = &report.rows[0];
    let cell = |name: &str| row.cells.iter().find(|c| c.selector == name).unwrap();
    let (maj, lp) = (cell("majority"), cell("logprob"));
    for c in &row.cells {
        // The mean of the paired differences is the difference of the means.
        let d = c.vs_majority.unwrap();
        assert!(
            (d.mean - (c.expected - maj.expected)).abs() < 1e-12,
            "{c:?}"
        );
        let d = c.vs_logprob.unwrap();
        assert!((d.mean - (c.expected - lp.expected)).abs() < 1e-12, "{c:?}");
        assert!(d.std_error >= 0.0);
    }
    assert_eq!(maj.vs_majority.unwrap().mean, 0.0);
    assert_eq!(maj.vs_majority.unwrap().std_error, 0.0);
    // The perfect head beats majority on these problems by more than its noise.
    let perfect = cell("perfect").vs_majority.unwrap();
    assert!(perfect.mean > 2.0 * perfect.std_error, "{perfect:?}");
    let text = report.render_text();
    assert!(
        text.contains("minus majority vote's, paired over problems"),
        "{text}"
    );
    assert!(text.contains("minus log-prob's"), "{text}");
    // Without the baselines in the report there is nothing to compare with.
    let only = [NamedSelector::new("oracle", Selector::Oracle)];
    let report = evaluate(&set, &only, &config).unwrap();
    assert!(report.rows[0].cells[0].vs_majority.is_none());
    assert!(report.rows[0].cells[0].vs_logprob.is_none());
    assert!(!report.render_text().contains("paired over problems"));
}
