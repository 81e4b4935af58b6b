//! Training tests on synthetic features where a known direction separates correct from
//! incorrect candidates.

use std::cell::Cell;

use super::*;
use crate::features::{ConcatFeatures, FeatureLayout};
use crate::tasks::AnswerKind;

/// In-memory labelled candidates.
struct Synth {
    layout: FeatureLayout,
    groups: Vec<u64>,
    labels: Vec<bool>,
    rows: Vec<Vec<f32>>,
    reads: Cell<usize>,
}

impl CandidateFeatures for Synth {
    fn layout(&self) -> &FeatureLayout {
        &self.layout
    }
    fn n_candidates(&self) -> usize {
        self.labels.len()
    }
    fn group(&self, i: usize) -> u64 {
        self.groups[i]
    }
    fn label(&self, i: usize) -> bool {
        self.labels[i]
    }
    fn n_tokens(&self, i: usize) -> usize {
        self.rows[i].len() / self.layout.width()
    }
    fn read_rows(&self, i: usize, out: &mut Vec<f32>) -> Result<(), SinkError> {
        self.reads.set(self.reads.get() + 1);
        out.clear();
        out.extend_from_slice(&self.rows[i]);
        Ok(())
    }
}

fn model() -> ModelIdentity {
    ModelIdentity {
        architecture: "llama".to_string(),
        n_layer: 4,
        n_embd: 8,
        n_vocab: 16,
        fingerprint: "sha256:synthetic".to_string(),
    }
}

/// Roughly standard normal.
fn normal(rng: &mut Rng) -> f32 {
    ((0..4).map(|_| rng.next_f64()).sum::<f64>() - 2.0) as f32 * 3f32.sqrt()
}

/// All 5 states of a 4-layer model with n_embd 8 are stored. Correct candidates' tokens are
/// shifted by +delta along a direction in states 2 and 3, incorrect ones by -delta. Each state
/// has its own scale (`scales`) and every dimension an offset (`offset` x a random number), to
/// exercise the normalisations. About one candidate in 40 covers no token (and is incorrect).
fn synth(problems: u64, seed: u64, delta: f32, scales: [f32; 5], offset: f32) -> Synth {
    let layout = FeatureLayout::hidden(StateSpec::All.resolve(4).unwrap(), 8);
    let w = layout.width();
    let mut rng = Rng::new(seed);
    let mut dir = vec![0.0f32; w];
    for v in &mut dir[16..32] {
        *v = normal(&mut rng) * 0.5;
    }
    let offsets: Vec<f32> = (0..w).map(|_| normal(&mut rng) * offset).collect();
    let (mut groups, mut labels, mut rows) = (Vec::new(), Vec::new(), Vec::new());
    for p in 0..problems {
        let hardness = rng.next_f64() * 0.6 + 0.1;
        for _ in 0..8 {
            let n = if rng.below(40) == 0 {
                0
            } else {
                2 + rng.below(9) as usize
            };
            // A candidate that covers no token has no answer: incorrect.
            let label = n > 0 && rng.next_f64() < hardness;
            let sign = if label { delta } else { -delta };
            let mut r = Vec::with_capacity(n * w);
            for _ in 0..n {
                for d in 0..w {
                    let x = normal(&mut rng) + sign * dir[d];
                    r.push(x * scales[d / 8] + offsets[d]);
                }
            }
            groups.push(1000 + p * 7);
            labels.push(label);
            rows.push(r);
        }
    }
    Synth {
        layout,
        groups,
        labels,
        rows,
        reads: Cell::new(0),
    }
}

fn fast() -> TrainOptions {
    TrainOptions::default()
        .with_lr(1e-2)
        .with_max_epochs(25)
        .with_states(Some(StateSpec::Last(2)))
}

fn run(data: &Synth, opts: &TrainOptions) -> TrainOutcome {
    train(data, &model(), opts, &mut |_| {}).unwrap()
}

#[test]
fn separable_data_reaches_high_validation_auc_with_every_loss_and_all_normalisations() {
    let plain = synth(80, 1, 0.6, [1.0; 5], 0.0);
    let scaled = synth(80, 2, 0.6, [0.05, 1.0, 20.0, 300.0, 4.0], 0.0);
    let shifted = synth(80, 3, 0.6, [1.0, 1.0, 3.0, 0.2, 1.0], 40.0);
    for (data, norm) in [
        (&plain, Normalization::None),
        (&scaled, Normalization::Rms),
        (&shifted, Normalization::Standardize),
    ] {
        for loss in [Loss::Ce, Loss::Pairwise, Loss::Listwise] {
            let out = run(data, &fast().with_loss(loss).with_norm(norm));
            let best = out.summary.best();
            let auc = best.val_auc.unwrap();
            assert!(auc > 0.95, "{norm} {loss}: val AUC {auc}");
            assert!(
                best.val_bon_accuracy.unwrap() > 0.7,
                "{norm} {loss}: {best:?}"
            );
            assert_eq!(out.head.width(), 16);
            assert_eq!(out.head.normalization(), norm);
        }
    }
    let out = run(&plain, &fast().with_gate(false));
    assert_eq!(out.head.rows(), 1);
    assert!(out.summary.best().val_auc.unwrap() > 0.95);
}

#[test]
fn fixed_seed_gives_a_bit_identical_head_cached_or_streamed() {
    let data = synth(30, 4, 0.5, [1.0, 2.0, 3.0, 4.0, 5.0], 2.0);
    let opts = fast()
        .with_max_epochs(4)
        .with_norm(Normalization::Standardize);
    let bits = |h: &Head| -> Vec<u32> {
        h.weight()
            .iter()
            .chain(h.bias())
            .map(|v| v.to_bits())
            .collect()
    };
    let a = run(&data, &opts);
    let b = run(&data, &opts);
    data.reads.set(0);
    let c = run(&data, &opts.clone().with_cache_budget_bytes(0));
    let streamed_reads = data.reads.get();
    assert!(a.summary.plan.cached && !c.summary.plan.cached);
    assert_eq!(bits(&a.head), bits(&b.head));
    assert_eq!(bits(&a.head), bits(&c.head));
    assert_eq!(a.head.norm_stats(), c.head.norm_stats());
    assert_eq!(a.summary.epochs.len(), c.summary.epochs.len());
    let d = run(&data, &opts.clone().with_seed(7));
    assert_ne!(bits(&a.head), bits(&d.head));
    // The cache reads every used candidate once (plus the statistics pass); streaming rereads.
    data.reads.set(0);
    run(&data, &opts);
    let cached_reads = data.reads.get();
    let used = a.summary.plan.train_candidates + a.summary.plan.val_candidates;
    assert!(
        cached_reads <= used + a.summary.plan.train_candidates,
        "{cached_reads}"
    );
    assert!(streamed_reads > 3 * used, "{streamed_reads}");
}

#[test]
fn keeps_the_best_epoch_and_the_saved_head_reproduces_its_metrics() {
    let data = synth(40, 5, 0.4, [1.0, 1.0, 8.0, 0.5, 1.0], 5.0);
    // A large learning rate makes validation loss wander, so the best epoch is not the last.
    let opts = fast()
        .with_lr(0.3)
        .with_max_epochs(12)
        .with_patience(12)
        .with_norm(Normalization::Standardize);
    let mut events = (0usize, 0usize, 0usize);
    let out = train(&data, &model(), &opts, &mut |e| match e {
        TrainEvent::Started(_) => events.0 += 1,
        TrainEvent::Batch { .. } => events.1 += 1,
        TrainEvent::Epoch(_) => events.2 += 1,
    })
    .unwrap();
    let s = &out.summary;
    assert_eq!(events.0, 1);
    assert_eq!(events.2, s.epochs.len());
    assert_eq!(events.1, s.epochs.len() * s.plan.batches_per_epoch);
    assert_eq!(s.selected_by, Selection::ValidationLoss);
    let min = s
        .epochs
        .iter()
        .map(|e| e.val_loss.unwrap())
        .fold(f64::INFINITY, f64::min);
    assert_eq!(s.best().val_loss.unwrap(), min);
    assert!(s.best().improved);
    assert!(
        (s.best_epoch as usize) < s.epochs.len(),
        "the test needs a best epoch before the last"
    );

    // Score the validation problems with the returned head (through the inference path, with
    // standardisation folded into the weights) and compare with the kept epoch's metrics.
    let (_, val) = data::split(data::problems(&data), opts.val_fraction, opts.seed);
    let scores = out.head.score_features(&data).unwrap();
    let (mut sc, mut lab) = (Vec::new(), Vec::new());
    let mut hits = 0;
    let mut within = Vec::new();
    for p in &val {
        let ps: Vec<f64> = p.cands.iter().map(|&i| scores[i].score).collect();
        let pl: Vec<bool> = p.cands.iter().map(|&i| data.label(i)).collect();
        hits += usize::from(pl[best_index(&ps).unwrap()]);
        within.extend(auc(&ps, &pl));
        sc.extend(ps);
        lab.extend(pl);
    }
    let got = auc(&sc, &lab).unwrap();
    let got_within = within.iter().sum::<f64>() / within.len() as f64;
    assert!(
        (got_within - s.best().val_auc_per_problem.unwrap()).abs() < 0.01,
        "{got_within} vs {:?}",
        s.best()
    );
    assert!(
        (got - s.best().val_auc.unwrap()).abs() < 0.01,
        "{got} vs {:?}",
        s.best()
    );
    assert!((hits as f64 / val.len() as f64 - s.best().val_bon_accuracy.unwrap()).abs() < 0.11);

    let info = out.head.spec().training.as_ref().unwrap();
    assert_eq!(info.best_epoch, s.best_epoch);
    assert_eq!(info.epochs as usize, s.epochs.len());
    assert_eq!(info.validation.auc, s.best().val_auc);
    assert_eq!(
        info.validation.auc_per_problem,
        s.best().val_auc_per_problem
    );
    assert_eq!(info.loss, "ce");
    // And the head file round-trips with its provenance.
    let dir = tempfile::tempdir().unwrap();
    out.head.save(dir.path().join("h")).unwrap();
    assert_eq!(Head::load(dir.path().join("h")).unwrap(), out.head);
}

#[test]
fn early_stopping_stops_after_patience_epochs_without_improvement() {
    let data = synth(30, 6, 0.0, [1.0; 5], 0.0); // nothing to learn
    let out = run(
        &data,
        &fast().with_lr(0.05).with_max_epochs(40).with_patience(2),
    );
    let s = &out.summary;
    if s.stopped_early {
        let n = s.epochs.len();
        assert!(n < 40);
        assert!(!s.epochs[n - 1].improved && !s.epochs[n - 2].improved);
        assert_eq!(s.best_epoch as usize, n - 2);
    } else {
        assert_eq!(s.epochs.len(), 40);
    }
    // Noise-only data cannot keep improving validation loss for 40 epochs at this rate.
    assert!(s.stopped_early, "{:?}", s.epochs);
}

#[test]
fn class_balancing_sets_the_positive_weight() {
    let data = synth(30, 7, 0.6, [1.0; 5], 0.0);
    let out = run(
        &data,
        &fast().with_max_epochs(2).with_pos_weight(PosWeight::Auto),
    );
    let (_, val) = data::split(data::problems(&data), 0.2, 42);
    let val_groups: Vec<u64> = val.iter().map(|p| p.group).collect();
    let train: Vec<usize> = (0..data.n_candidates())
        .filter(|&i| !val_groups.contains(&data.group(i)) && data.n_tokens(i) > 0)
        .collect();
    let pos = train.iter().filter(|&&i| data.label(i)).count() as f64;
    let want = (train.len() as f64 - pos) / pos;
    assert!((out.summary.pos_weight.unwrap() - want).abs() < 1e-12);
    assert_eq!(
        out.head.spec().training.as_ref().unwrap().pos_weight,
        Some(want)
    );
}

#[test]
fn trains_on_logit_features_and_on_every_stored_state() {
    let mut data = synth(30, 8, 0.8, [1.0; 5], 0.0);
    let out = run(&data, &fast().with_states(None).with_max_epochs(3));
    assert_eq!(out.head.width(), 40);
    // Reinterpret the first 16 floats of each row as 16 logits.
    data.layout = FeatureLayout::logits(16);
    data.rows = data
        .rows
        .iter()
        .map(|r| r.chunks(40).flat_map(|row| row[16..32].to_vec()).collect())
        .collect();
    let out = run(&data, &fast().with_states(None).with_max_epochs(10));
    assert_eq!(out.head.width(), 16);
    assert!(
        out.summary.best().val_auc.unwrap() > 0.9,
        "{:?}",
        out.summary.epochs
    );
}

#[test]
fn refuses_bad_options_and_data() {
    let data = synth(10, 9, 0.5, [1.0; 5], 0.0);
    let err = |opts: TrainOptions| train(&data, &model(), &opts, &mut |_| {}).unwrap_err();
    assert!(matches!(
        err(fast().with_lr(0.0)),
        TrainError::InvalidOption { option: "lr", .. }
    ));
    assert!(matches!(
        err(fast().with_val_fraction(1.0)),
        TrainError::InvalidOption { .. }
    ));
    assert!(matches!(
        err(fast().with_batch_problems(0)),
        TrainError::InvalidOption { .. }
    ));
    assert!(matches!(
        err(fast()
            .with_loss(Loss::Pairwise)
            .with_pos_weight(PosWeight::Auto)),
        TrainError::InvalidOption {
            option: "pos_weight",
            ..
        }
    ));
    assert!(matches!(
        err(fast().with_states(Some(StateSpec::List(vec![9])))),
        TrainError::InvalidOption {
            option: "states",
            ..
        }
    ));

    // States that the store does not hold.
    let mut narrow = synth(10, 9, 0.5, [1.0; 5], 0.0);
    narrow.layout = FeatureLayout::hidden(StateSpec::Last(2).resolve(4).unwrap(), 8);
    narrow.rows = narrow
        .rows
        .iter()
        .map(|r| r.chunks(40).flat_map(|row| row[16..32].to_vec()).collect())
        .collect();
    let e = train(
        &narrow,
        &model(),
        &fast().with_states(Some(StateSpec::All)),
        &mut |_| {},
    )
    .unwrap_err();
    assert!(e.to_string().contains("missing: 0,1,4"), "{e}");
    run(&narrow, &fast()); // last:2 is what it holds

    // Features from another model.
    let mut other = model();
    other.n_embd = 16;
    let e = train(&data, &other, &fast(), &mut |_| {})
        .unwrap_err()
        .to_string();
    assert!(e.contains("n_embd = 8") && e.contains("16"), "{e}");

    // Pairwise needs problems with both kinds of candidates.
    let mut all_wrong = synth(10, 9, 0.5, [1.0; 5], 0.0);
    all_wrong.labels.iter_mut().for_each(|l| *l = false);
    let e = train(
        &all_wrong,
        &model(),
        &fast().with_loss(Loss::Pairwise),
        &mut |_| {},
    )
    .unwrap_err();
    assert!(matches!(e, TrainError::Data { .. }), "{e}");

    // A store that returns rows of the wrong length.
    let mut short = synth(4, 9, 0.5, [1.0; 5], 0.0);
    short.rows[0].pop();
    let e = train(&short, &model(), &fast(), &mut |_| {})
        .unwrap_err()
        .to_string();
    assert!(e.contains("candidate 0"), "{e}");
}

#[test]
fn rfc3339_dates() {
    let t = |s: u64| rfc3339_utc(UNIX_EPOCH + std::time::Duration::from_secs(s));
    assert_eq!(t(0), "1970-01-01T00:00:00Z");
    assert_eq!(t(951_782_400), "2000-02-29T00:00:00Z");
    assert_eq!(t(1_700_000_000), "2023-11-14T22:13:20Z");
    assert_eq!(t(4_107_542_399), "2100-02-28T23:59:59Z");
}

#[test]
fn keeping_by_within_problem_auc_keeps_the_best_ranking_epoch() {
    // Noisy data so that the epochs differ in how they rank each problem's candidates.
    let data = synth(60, 9, 0.2, [1.0; 5], 0.0);
    let opts = fast().with_keep_by(KeepBy::WithinAuc).with_patience(4);
    let out = run(&data, &opts);
    let s = &out.summary;
    assert_eq!(s.selected_by, Selection::ValidationWithinAuc);
    let aucs: Vec<f64> = s
        .epochs
        .iter()
        .map(|e| e.val_auc_per_problem.unwrap())
        .collect();
    assert!(
        aucs.iter().any(|&a| a != aucs[0]),
        "epochs must differ: {aucs:?}"
    );
    let max = aucs.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    let first_max = aucs.iter().position(|&a| a == max).unwrap() + 1;
    assert_eq!(s.best_epoch as usize, first_max, "{aucs:?}");
    let info = out.head.spec().training.as_ref().unwrap();
    assert_eq!(info.kept_by.as_deref(), Some("within-auc"));
    // The default keeps by validation loss and does not record a criterion.
    let by_loss = run(&data, &fast().with_patience(4));
    assert_eq!(by_loss.summary.selected_by, Selection::ValidationLoss);
    assert_eq!(by_loss.head.spec().training.as_ref().unwrap().kept_by, None);
    assert_eq!("within-auc".parse::<KeepBy>().unwrap(), KeepBy::WithinAuc);
    assert!("auc".parse::<KeepBy>().is_err());
}

#[test]
fn cross_validation_validates_every_problem_once_and_scores_every_candidate_out_of_fold() {
    let data = synth(40, 21, 1.0, [1.0; 5], 0.0);
    let opts = fast().with_max_epochs(6).with_patience(6);
    let mut events = Vec::new();
    let cv = cross_validate(&data, &model(), &opts, 4, &mut |e| match e {
        CvEvent::Fold { fold, folds } => events.push(format!("fold {fold}/{folds}")),
        CvEvent::Final { epochs } => events.push(format!("final {epochs}")),
        CvEvent::Train(_) => {}
    })
    .unwrap();
    assert_eq!(cv.folds.len(), 4);
    let median = median_epoch(cv.folds.iter().map(|o| o.summary.best_epoch));
    assert_eq!(
        events,
        [
            "fold 0/4",
            "fold 1/4",
            "fold 2/4",
            "fold 3/4",
            &format!("final {median}")
        ]
    );
    // The folds' validation groups partition the problems.
    let mut seen: Vec<u64> = cv
        .folds
        .iter()
        .flat_map(|o| o.summary.val_groups.iter().copied())
        .collect();
    seen.sort_unstable();
    let mut all: Vec<u64> = data.groups.clone();
    all.dedup();
    assert_eq!(seen, all);
    // The final head trained on every problem for the folds' median epoch, and records them.
    assert_eq!(cv.last.summary.plan.val_problems, 0);
    assert_eq!(cv.last.summary.epochs.len() as u32, median);
    let t = cv.last.head.spec().training.as_ref().unwrap();
    assert_eq!(t.folds, Some(4));
    assert_eq!(t.validation, cv.mean);
    let aucs: Vec<f64> = cv
        .fold_reports()
        .iter()
        .map(|r| r.val_auc.unwrap())
        .collect();
    let mean = aucs.iter().sum::<f64>() / aucs.len() as f64;
    assert!((cv.mean.auc.unwrap() - mean).abs() < 1e-12);
    // Every candidate is scored by the one fold head that did not train on it.
    let oof = cv.out_of_fold_scores(&data).unwrap();
    assert_eq!(oof.len(), data.n_candidates());
    for fold in &cv.folds {
        let mine = &fold.summary.val_groups;
        let idx: Vec<usize> = (0..data.n_candidates())
            .filter(|&i| mine.contains(&data.groups[i]))
            .collect();
        let direct = fold
            .head
            .score_features(&crate::features::SubsetFeatures::new(&data, idx.clone()))
            .unwrap();
        for (&i, s) in idx.iter().zip(&direct) {
            assert_eq!(
                oof[i].unwrap().to_bits(),
                s.score.to_bits(),
                "candidate {i}"
            );
        }
    }
    assert!(oof.iter().all(Option::is_some));
    // A head's own validation split only: the other candidates stay unscored.
    let one = held_out_scores(
        &data,
        &[(&cv.folds[0].head, &cv.folds[0].summary.val_groups)],
    )
    .unwrap();
    let scored = one.iter().filter(|s| s.is_some()).count();
    assert_eq!(scored, cv.folds[0].summary.plan.val_candidates);
}

#[test]
fn cross_validation_refuses_fewer_than_two_folds_and_medians_round_up() {
    let data = synth(10, 3, 1.0, [1.0; 5], 0.0);
    for k in [0, 1] {
        let err = cross_validate(&data, &model(), &fast(), k, &mut |_| {}).unwrap_err();
        assert!(err.to_string().contains("folds"), "{err}");
    }
    assert_eq!(median_epoch([3, 1, 2].into_iter()), 2);
    assert_eq!(median_epoch([4, 1, 2, 3].into_iter()), 3);
    assert_eq!(median_epoch(std::iter::empty()), 1);
    assert_eq!(mean_metrics(&[]), ValidationMetrics::default());
}

#[test]
fn fit_without_folds_scores_the_validation_split_only() {
    let data = synth(30, 8, 1.0, [1.0; 5], 0.0);
    let opts = fast().with_max_epochs(4);
    let mut trained = 0;
    let f = fit(&data, &model(), &opts, None, &mut |e| {
        assert!(matches!(e, CvEvent::Train(_)), "{e:?}");
        trained += 1;
    })
    .unwrap();
    assert!(trained > 0);
    assert!(f.folds.is_empty() && f.cross_validated.is_none());
    let plain = run(&data, &opts);
    let scores = |h: &Head| -> Vec<f64> {
        h.score_features(&data)
            .unwrap()
            .iter()
            .map(|s| s.score)
            .collect()
    };
    assert_eq!(scores(&f.outcome.head), scores(&plain.head));
    let val: std::collections::HashSet<u64> = plain.summary.val_groups.iter().copied().collect();
    for (i, s) in f.held_out.iter().enumerate() {
        assert_eq!(s.is_some(), val.contains(&data.group(i)), "candidate {i}");
    }
    assert_eq!(
        f.aucs(),
        (
            plain.summary.best().val_auc,
            plain.summary.best().val_auc_per_problem
        )
    );
    assert_eq!(f.problems(), 30);
}

#[test]
fn fit_by_kind_fits_each_kind_alone_and_merges_into_one_head() {
    use crate::tasks::AnswerKind::{Number, YesNo};
    // Numbers in two collections around one yes/no collection, whose signal lies elsewhere.
    let (n1, y, n2) = (
        synth(20, 31, 1.0, [1.0; 5], 0.0),
        synth(16, 32, 1.0, [1.0; 5], 0.0),
        synth(12, 33, 1.0, [1.0; 5], 0.0),
    );
    let parts: Vec<(AnswerKind, &dyn CandidateFeatures)> =
        vec![(Number, &n1), (YesNo, &y), (Number, &n2)];
    let opts = fast().with_max_epochs(5).with_patience(5);
    let mut kinds_seen = Vec::new();
    let k = fit_by_kind(&parts, &model(), &opts, Some(3), &mut |kind, _| {
        if kinds_seen.last() != Some(&kind) {
            kinds_seen.push(kind);
        }
    })
    .unwrap();
    // Kinds in order, each once; the kind with the most problems gives the main weights.
    assert_eq!(kinds_seen, [Number, YesNo]);
    assert_eq!(k.main, Number);
    assert_eq!(k.problems(), 48);
    assert_eq!(
        k.by_kind
            .iter()
            .map(|(kind, f)| (*kind, f.problems()))
            .collect::<Vec<_>>(),
        [(Number, 32), (YesNo, 16)]
    );
    // Each kind's fit is exactly a fit on that kind's collections alone.
    let numbers = ConcatFeatures::new(vec![&n1 as &dyn CandidateFeatures, &n2]).unwrap();
    let alone_n = fit(&numbers, &model(), &opts, Some(3), &mut |_| {}).unwrap();
    let alone_y = fit(&y, &model(), &opts, Some(3), &mut |_| {}).unwrap();
    assert_eq!(k.by_kind[0].1.held_out, alone_n.held_out);
    assert_eq!(k.by_kind[1].1.held_out, alone_y.held_out);
    // The merged scores follow the collections' order.
    let (a, b) = (n1.n_candidates(), y.n_candidates());
    let merged = &k.merged.held_out;
    assert_eq!(merged.len(), a + b + n2.n_candidates());
    assert_eq!(merged[..a], alone_n.held_out[..a]);
    assert_eq!(merged[a..a + b], alone_y.held_out[..]);
    assert_eq!(merged[a + b..], alone_n.held_out[a..]);
    assert!(merged.iter().all(Option::is_some));
    // The merged head scores each kind with that kind's weights and records how they trained.
    let head = &k.merged.outcome.head;
    let score = |h: &Head, d: &dyn CandidateFeatures| -> Vec<f64> {
        h.score_features(d)
            .unwrap()
            .iter()
            .map(|s| s.score)
            .collect()
    };
    assert_eq!(
        score(&head.for_kind(YesNo), &y),
        score(&alone_y.outcome.head, &y)
    );
    assert_eq!(
        score(&head.for_kind(Number), &n2),
        score(&alone_n.outcome.head, &n2)
    );
    assert_ne!(
        score(&head.for_kind(Number), &y),
        score(&head.for_kind(YesNo), &y)
    );
    let t = head.spec().training.as_ref().unwrap();
    assert_eq!(t.problems, 32);
    let rec = &t.weights_by_kind["yes-no"];
    assert_eq!(
        (rec.problems, rec.epochs),
        (16, alone_y.outcome.summary.epochs.len() as u32)
    );
    assert_eq!(Some(rec.validation.clone()), alone_y.cross_validated);
    assert_eq!(k.merged.cross_validated, alone_n.cross_validated);
    assert!(fit_by_kind(&[], &model(), &opts, None, &mut |_, _| {}).is_err());
}

#[test]
fn fit_by_kind_breaks_a_tie_in_problems_towards_the_first_kind() {
    use crate::tasks::AnswerKind::{Number, YesNo};
    let (y, n) = (
        synth(10, 41, 1.0, [1.0; 5], 0.0),
        synth(10, 42, 1.0, [1.0; 5], 0.0),
    );
    let parts: Vec<(AnswerKind, &dyn CandidateFeatures)> = vec![(YesNo, &y), (Number, &n)];
    let k = fit_by_kind(
        &parts,
        &model(),
        &fast().with_max_epochs(2),
        None,
        &mut |_, _| {},
    )
    .unwrap();
    // Kinds are ordered as AnswerKind orders them, whatever the collections' order.
    assert_eq!(k.main, k.by_kind[0].0);
    assert_eq!(
        k.merged
            .outcome
            .head
            .kinds_with_own_weights()
            .collect::<Vec<_>>(),
        [k.by_kind[1].0]
    );
}
