//! Exact offline replay of early pruning (`eval --prune`).
//!
//! Candidates never influence each other (own sampler and seed, own KV sequence; batched equals
//! one-at-a-time), so a collection with stored per-token features replays any policy: the
//! running score a streaming scorer would have after step s is the score of a candidate's first
//! s stored rows. [`replay`] runs the same [`Pruner`] the online [`crate::bon::BestOfN`] runs,
//! with the same step semantics, and reports which answer would have been chosen and how many
//! tokens would have been decoded. (Stored rows are f16, online rows f32: a score within rounding
//! of a threshold may fall the other way; nothing else differs.)
//!
//! Step semantics, for a candidate with T sampled tokens and L covered rows: after step s it has
//! been fed s tokens; it is still sampling while s + 1 < T, and complete once s >= L. Pruned after
//! step s, it decoded s tokens instead of L.

use std::path::Path;

use plotters::backend::SVGBackend;
use plotters::prelude::*;
use serde::Serialize;

use crate::bon::Selection;
use crate::prune::{vote_decided, CandidateView, PrunePolicy, Pruner};
use crate::rng::Rng;
use crate::select::sigmoid;

/// One stored candidate, as the replay needs it.
#[derive(Debug, Clone, PartialEq)]
pub struct ReplayCandidate {
    /// Running score after each covered row (see [`crate::head::Head::running_scores`]).
    pub running: Vec<f64>,
    /// Sampled tokens.
    pub n_tokens: usize,
    /// Extracted answer.
    pub answer: Option<String>,
    /// Whether it is correct.
    pub correct: bool,
    /// Mean token log-probability.
    pub mean_logprob: f64,
}

impl ReplayCandidate {
    fn rows(&self) -> usize {
        self.running.len()
    }
    fn score_after(&self, step: usize) -> f64 {
        match step.min(self.rows()) {
            0 => f64::NEG_INFINITY,
            s => self.running[s - 1],
        }
    }
    fn final_score(&self) -> f64 {
        self.score_after(self.rows())
    }
}

/// What one replay of one subset gave.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Outcome {
    /// Whether the chosen candidate is correct.
    pub correct: bool,
    /// Tokens decoded.
    pub decoded: usize,
    /// Tokens the unpruned run decodes.
    pub full: usize,
    /// Candidates pruned (or stopped early).
    pub pruned: usize,
}

/// Replays `policy` (none: unpruned) on the candidates `subset` of one problem, then selects as
/// [`crate::bon::BestOfN`] does (unpruned candidates only; answered ones first).
pub fn replay(
    cands: &[ReplayCandidate],
    subset: &[usize],
    policy: Option<&PrunePolicy>,
    selection: Selection,
    early_stop: bool,
) -> Outcome {
    let m = subset.len();
    let mut pruned_at: Vec<Option<usize>> = vec![None; m];
    let mut pruner = policy.map(|p| Pruner::new(*p));
    let max_rows = subset.iter().map(|&c| cands[c].rows()).max().unwrap_or(0);
    let vote = matches!(selection, Selection::Majority | Selection::SwiftVote);
    let mut step = 0;
    while step < max_rows {
        step += 1;
        // Still to be fed after this step (online: not complete).
        let undecided_at = |j: usize, pruned: &[Option<usize>]| {
            pruned[j].is_none() && step < cands[subset[j]].rows()
        };
        if !(0..m).any(|j| undecided_at(j, &pruned_at)) {
            break;
        }
        if let Some(p) = pruner.as_mut() {
            let views: Vec<CandidateView> = (0..m)
                .map(|j| {
                    let c = &cands[subset[j]];
                    CandidateView {
                        score: c.score_after(step),
                        sampling: pruned_at[j].is_none() && step + 1 < c.n_tokens,
                        pruned: pruned_at[j].is_some(),
                    }
                })
                .collect();
            for j in p.checkpoint(step, &views) {
                pruned_at[j] = Some(step);
            }
        }
        if vote && early_stop {
            let undecided = (0..m).filter(|&j| undecided_at(j, &pruned_at)).count();
            if undecided > 0 {
                let mut by: Vec<(&str, f64)> = Vec::new();
                for j in 0..m {
                    let c = &cands[subset[j]];
                    if pruned_at[j].is_some() || step < c.rows() {
                        continue;
                    }
                    let Some(a) = c.answer.as_deref() else {
                        continue;
                    };
                    let w = match selection {
                        Selection::SwiftVote => sigmoid(c.final_score()),
                        _ => 1.0,
                    };
                    match by.iter_mut().find(|(x, _)| *x == a) {
                        Some((_, t)) => *t += w,
                        None => by.push((a, w)),
                    }
                }
                let weights: Vec<f64> = by.iter().map(|(_, w)| *w).collect();
                if vote_decided(&weights, undecided, 1.0) {
                    for j in 0..m {
                        let c = &cands[subset[j]];
                        if pruned_at[j].is_none() && step + 1 < c.n_tokens {
                            pruned_at[j] = Some(step);
                        }
                    }
                }
            }
        }
    }
    let decoded: usize = (0..m)
        .map(|j| pruned_at[j].unwrap_or(cands[subset[j]].rows()))
        .sum();
    let full: usize = subset.iter().map(|&c| cands[c].rows()).sum();
    let members: Vec<ReplayCandidate> = (0..m)
        .map(|j| {
            let c = &cands[subset[j]];
            match pruned_at[j] {
                Some(s) => ReplayCandidate {
                    running: c.running[..s.min(c.rows())].to_vec(),
                    ..c.clone()
                },
                None => c.clone(),
            }
        })
        .collect();
    let chosen = choose(&members, &pruned_at, selection);
    Outcome {
        correct: members[chosen].correct,
        decoded,
        full,
        pruned: pruned_at.iter().filter(|p| p.is_some()).count(),
    }
}

fn choose(members: &[ReplayCandidate], pruned: &[Option<usize>], selection: Selection) -> usize {
    let answers: Vec<Option<String>> = members.iter().map(|c| c.answer.clone()).collect();
    let logprob: Vec<f64> = members.iter().map(|c| c.mean_logprob).collect();
    let swift: Vec<f64> = members.iter().map(ReplayCandidate::final_score).collect();
    let out: Vec<bool> = pruned.iter().map(Option::is_some).collect();
    crate::bon::choose(selection, &answers, &logprob, &swift, &out).unwrap_or(0)
}

/// One row of a pruning report: a (k, policy, selection) cell averaged over problems.
#[derive(Debug, Clone, Serialize)]
pub struct PruneRow {
    /// Candidates per question.
    pub k: usize,
    /// Policy (`none` for unpruned).
    pub policy: String,
    /// Selection.
    pub selection: Selection,
    /// Whether early stop was on.
    pub early_stop: bool,
    /// Mean accuracy.
    pub accuracy: f64,
    /// Standard error of the accuracy over problems.
    pub accuracy_se: f64,
    /// Decoded tokens as a fraction of the unpruned run's.
    pub token_fraction: f64,
    /// Mean decoded tokens per question.
    pub tokens_per_question: f64,
    /// Mean candidates pruned per question.
    pub pruned_per_question: f64,
}

/// What to replay.
#[derive(Debug, Clone)]
pub struct PruneVariant {
    /// Policy (none: unpruned).
    pub policy: Option<PrunePolicy>,
    /// Selection.
    pub selection: Selection,
    /// Early stop of the whole question.
    pub early_stop: bool,
}

/// Averages [`replay`] over `draws` random k-subsets per problem (one subset when k = N) for
/// every k and variant.
pub fn prune_report(
    problems: &[Vec<ReplayCandidate>],
    ks: &[usize],
    variants: &[PruneVariant],
    draws: usize,
    seed: u64,
) -> Vec<PruneRow> {
    let mut rows = Vec::new();
    for &k in ks {
        for v in variants {
            let mut acc_per_problem = Vec::new();
            let (mut dec, mut full, mut pruned, mut runs) = (0usize, 0usize, 0usize, 0usize);
            for (pi, cands) in problems.iter().enumerate() {
                if cands.len() < k {
                    continue;
                }
                let n_draws = if k == cands.len() { 1 } else { draws.max(1) };
                // The same subsets for every variant: paired comparisons.
                let mut rng = Rng::derive(seed, pi as u64 * 1000 + k as u64);
                let mut idx: Vec<usize> = (0..cands.len()).collect();
                let mut correct = 0usize;
                for _ in 0..n_draws {
                    rng.shuffle(&mut idx);
                    let mut subset = idx[..k].to_vec();
                    subset.sort_unstable();
                    let o = replay(cands, &subset, v.policy.as_ref(), v.selection, v.early_stop);
                    correct += usize::from(o.correct);
                    dec += o.decoded;
                    full += o.full;
                    pruned += o.pruned;
                    runs += 1;
                }
                acc_per_problem.push(correct as f64 / n_draws as f64);
            }
            let np = acc_per_problem.len().max(1) as f64;
            let mean = acc_per_problem.iter().sum::<f64>() / np;
            let var = acc_per_problem
                .iter()
                .map(|a| (a - mean).powi(2))
                .sum::<f64>()
                / (np - 1.0).max(1.0);
            rows.push(PruneRow {
                k,
                policy: v
                    .policy
                    .map_or_else(|| "none".to_string(), |p| p.to_string()),
                selection: v.selection,
                early_stop: v.early_stop,
                accuracy: mean,
                accuracy_se: (var / np).sqrt(),
                token_fraction: dec as f64 / full.max(1) as f64,
                tokens_per_question: dec as f64 / runs.max(1) as f64,
                pruned_per_question: pruned as f64 / runs.max(1) as f64,
            });
        }
    }
    rows
}

/// The rows as a text table.
pub fn render_prune_table(rows: &[PruneRow]) -> String {
    use std::fmt::Write as _;
    let mut s = String::new();
    let _ = writeln!(
        s,
        "{:>3}  {:<36} {:<10} {:>5}  {:>8} {:>6}  {:>7} {:>9} {:>7}",
        "k", "policy", "select", "early", "accuracy", "±se", "tokens", "tok/quest", "pruned"
    );
    for r in rows {
        let _ = writeln!(
            s,
            "{:>3}  {:<36} {:<10} {:>5}  {:>8.3} {:>6.3}  {:>6.1}% {:>9.1} {:>7.2}",
            r.k,
            r.policy,
            r.selection.as_str(),
            if r.early_stop { "on" } else { "off" },
            r.accuracy,
            r.accuracy_se,
            100.0 * r.token_fraction,
            r.tokens_per_question,
            r.pruned_per_question
        );
    }
    s
}

/// Accuracy against decoded tokens per question: one line per (policy, selection, early stop),
/// through its k values. SVG; written atomically.
pub fn plot_prune(rows: &[PruneRow], title: &str, path: &Path) -> Result<(), String> {
    let mut series: Vec<(String, Vec<(f64, f64)>)> = Vec::new();
    for r in rows {
        let name = format!(
            "{} {}{}",
            r.selection.as_str(),
            if r.policy == "none" {
                "unpruned".to_string()
            } else {
                format!("pruned {}", r.policy)
            },
            if r.early_stop { " +early stop" } else { "" }
        );
        match series.iter_mut().find(|(n, _)| *n == name) {
            Some((_, pts)) => pts.push((r.tokens_per_question, r.accuracy)),
            None => series.push((name, vec![(r.tokens_per_question, r.accuracy)])),
        }
    }
    if series.is_empty() {
        return Err("nothing to plot".into());
    }
    let xmax = rows
        .iter()
        .map(|r| r.tokens_per_question)
        .fold(1.0, f64::max)
        * 1.05;
    let (ylo, yhi) = rows.iter().fold((1.0f64, 0.0f64), |(lo, hi), r| {
        (lo.min(r.accuracy), hi.max(r.accuracy))
    });
    let (ylo, yhi) = ((ylo - 0.03).max(0.0), (yhi + 0.03).min(1.0));
    let palette = super::plot::PALETTE;
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (1100, 620)).into_drawing_area();
        fn e<E: std::error::Error + Send + Sync>(e: DrawingAreaErrorKind<E>) -> String {
            e.to_string()
        }
        root.fill(&WHITE).map_err(e)?;
        // Text is laid out here, not by plotters' caption, which measures text through a font
        // that an SVG does not need.
        root.draw(&Text::new(title.to_string(), (20, 10), ("sans-serif", 20)))
            .map_err(e)?;
        let body = root.margin(40, 0, 0, 0);
        let (chart_area, legend_area) = body.split_horizontally(760);
        let mut chart = ChartBuilder::on(&chart_area)
            .margin(12)
            .x_label_area_size(44)
            .y_label_area_size(60)
            .build_cartesian_2d(0.0..xmax, ylo..yhi)
            .map_err(e)?;
        chart
            .configure_mesh()
            .x_desc("tokens decoded per question (all candidates)")
            .y_desc("accuracy")
            .y_label_formatter(&|y| format!("{y:.2}"))
            .draw()
            .map_err(e)?;
        for (i, (_, pts)) in series.iter().enumerate() {
            let color = palette[i % palette.len()];
            chart
                .draw_series(LineSeries::new(pts.clone(), color.stroke_width(2)))
                .map_err(e)?;
            chart
                .draw_series(pts.iter().map(|&p| Circle::new(p, 4, color.filled())))
                .map_err(e)?;
        }
        for (i, (name, _)) in series.iter().enumerate() {
            let y = 40 + 24 * i as i32;
            let color = palette[i % palette.len()];
            legend_area
                .draw(&Rectangle::new([(10, y - 5), (30, y + 5)], color.filled()))
                .map_err(e)?;
            legend_area
                .draw(&Text::new(name.clone(), (38, y - 8), ("sans-serif", 14)))
                .map_err(e)?;
        }
    }
    crate::fsutil::write_atomic(path, svg.as_bytes()).map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::prune::PruneRule;

    fn cand(running: Vec<f64>, correct: bool) -> ReplayCandidate {
        ReplayCandidate {
            n_tokens: running.len(),
            running,
            answer: Some(if correct { "1" } else { "2" }.into()),
            correct,
            mean_logprob: -1.0,
        }
    }

    #[test]
    fn unpruned_replay_decodes_everything_and_picks_the_argmax() {
        let c = vec![cand(vec![0.0; 10], false), cand(vec![1.0; 6], true)];
        let o = replay(&c, &[0, 1], None, Selection::Swift, false);
        assert_eq!((o.decoded, o.full, o.pruned), (16, 16, 0));
        assert!(o.correct);
    }

    #[test]
    fn pruning_saves_the_tokens_after_the_checkpoint() {
        // Candidate 0 is weak from the start and long; 1 and 2 strong.
        let c = vec![
            cand(vec![-5.0; 40], false),
            cand(vec![2.0; 20], true),
            cand(vec![1.0; 30], false),
        ];
        let p = PrunePolicy::new(PruneRule::Top { keep: 0.5 })
            .with_warmup(4)
            .with_every(4)
            .with_min_keep(1);
        let o = replay(&c, &[0, 1, 2], Some(&p), Selection::Swift, false);
        // At step 4 the two worst of three go (keep ceil(1.5) = 2 -> prune 1: candidate 0);
        // at step 8 one of the two survivors (candidate 2) goes.
        assert_eq!(o.pruned, 2);
        assert_eq!(o.decoded, 4 + 20 + 8);
        assert!(o.correct);
    }

    #[test]
    fn early_stop_stops_once_the_vote_cannot_change() {
        let mut c: Vec<ReplayCandidate> = (0..3).map(|_| cand(vec![0.0; 5], true)).collect();
        c.push(cand(vec![0.0; 50], false));
        let o = replay(&c, &[0, 1, 2, 3], None, Selection::Majority, true);
        // After step 5 three votes for "1" against at most one more: the long one stops.
        assert_eq!(o.pruned, 1);
        assert_eq!(o.decoded, 15 + 5);
        assert!(o.correct);
    }

    #[test]
    fn report_rows_cover_every_k_and_variant() {
        let problems = vec![vec![
            cand(vec![0.0; 8], true),
            cand(vec![-1.0; 12], false),
            cand(vec![1.0; 4], true),
            cand(vec![0.5; 9], false),
        ]];
        let vs = vec![
            PruneVariant {
                policy: None,
                selection: Selection::Swift,
                early_stop: false,
            },
            PruneVariant {
                policy: Some(
                    PrunePolicy::new(PruneRule::Margin { margin: 0.1 })
                        .with_warmup(2)
                        .with_min_keep(1),
                ),
                selection: Selection::Swift,
                early_stop: false,
            },
        ];
        let rows = prune_report(&problems, &[2, 4], &vs, 10, 0);
        assert_eq!(rows.len(), 4);
        assert!((rows[0].token_fraction - 1.0).abs() < 1e-12);
        assert!(rows[3].token_fraction < 1.0);
        assert!(render_prune_table(&rows).contains("margin:0.1"));
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("p.svg");
        plot_prune(&rows, "t", &path).unwrap();
        assert!(std::fs::read_to_string(&path).unwrap().contains("<svg"));
    }
}
