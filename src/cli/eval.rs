//! `swift-bon eval`: Best-of-k accuracy of SWIFT heads against every free baseline, on a
//! collection (no model needed).

use std::path::PathBuf;

use anyhow::Context as _;
use clap::Args;
use swift_bon::collect::Collection;
use swift_bon::dataset::LabelledStore;
use swift_bon::eval::prune;
use swift_bon::eval::{self, EvalConfig, HeadScores, PlotOptions, ProblemSet};
use swift_bon::head::Head;
use swift_bon::prune::PrunePolicy;
use swift_bon::select::NamedSelector;

use super::common::{GlobalArgs, UsageError};

#[derive(Debug, Args)]
pub struct EvalArgs {
    /// A collection folder made by `swift-bon collect` (held out from the heads' training data).
    #[arg(long)]
    pub data: PathBuf,
    /// SWIFT heads to evaluate (repeatable). One head is named `swift`; several are named by
    /// file name.
    #[arg(long)]
    pub head: Vec<PathBuf>,
    /// Values of k (default 1, 2, 4, ... up to N).
    #[arg(long, value_delimiter = ',')]
    pub k: Option<Vec<usize>>,
    /// Random subsets per problem where exact enumeration is too large.
    #[arg(long, default_value_t = 2000)]
    pub draws: usize,
    /// Seed of the sampled subsets.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Write a plot of accuracy vs k (.svg, or .png with a system font).
    #[arg(long)]
    pub plot: Option<PathBuf>,
    /// Plot the reference first-k metric instead of the expectation over subsets.
    #[arg(long)]
    pub plot_first_k: bool,
    /// Refuse heads whose model fingerprint differs from the collection's.
    #[arg(long)]
    pub strict: bool,
    /// Print the report as JSON.
    #[arg(long)]
    pub json: bool,
    /// Replay an early-pruning policy exactly on the stored per-token features (repeatable;
    /// e.g. top:0.5,warmup=32,every=16,min=2; `none` for the unpruned reference): accuracy and
    /// decoded-token fraction per k, beside the unpruned selectors. Needs one head.
    #[arg(long, value_name = "POLICY")]
    pub prune: Vec<String>,
    /// Values of k for the pruning replay (default 4, 8, 16 where N allows).
    #[arg(long, value_delimiter = ',')]
    pub prune_k: Option<Vec<usize>>,
    /// Selection after pruning (swift, swift-vote, majority, logprob); repeatable.
    #[arg(long, value_delimiter = ',', default_value = "swift")]
    pub prune_select: Vec<swift_bon::bon::Selection>,
    /// Also replay each policy with early stop of decided votes (vote selections only).
    #[arg(long)]
    pub early_stop: bool,
    /// Random k-subsets per problem in the pruning replay.
    #[arg(long, default_value_t = 200)]
    pub prune_draws: usize,
    /// Plot accuracy against decoded tokens (pruned, unpruned, majority at every k) as SVG.
    #[arg(long)]
    pub prune_plot: Option<PathBuf>,
}

pub fn run(global: &GlobalArgs, args: EvalArgs) -> anyhow::Result<()> {
    let col = Collection::open(&args.data)
        .with_context(|| format!("{} is not a readable collection", args.data.display()))?;
    if col.records.is_empty() {
        return Err(
            UsageError(format!("{} holds no complete problem", args.data.display())).into(),
        );
    }
    let mut heads = Vec::new();
    // (score column name, calibrated soft-vote sharpness) of the heads that have one.
    let mut soft_votes: Vec<(String, swift_bon::head::SoftVoteCalibration)> = Vec::new();
    let mut running: Option<Vec<Vec<f64>>> = None;
    let policies = parse_policies(&args.prune)?;
    if !args.prune.is_empty() && args.head.len() != 1 {
        return Err(UsageError(format!(
            "--prune replays one head's running scores: give exactly one --head (got {})",
            args.head.len()
        ))
        .into());
    }
    if !args.head.is_empty() {
        let data = LabelledStore::from_records(&col.store, &col.records)?;
        let entries = col.store.entries();
        for (h, path) in args.head.iter().enumerate() {
            let head =
                Head::load(path).with_context(|| format!("loading head {}", path.display()))?;
            // A general head may have weights of its own for the collection's kind of answer.
            let head = head.for_kind(col.manifest.task.answer_kind());
            if let Some(w) = head
                .check_model(&col.manifest.model, args.strict)
                .with_context(|| {
                    format!(
                        "head {} was not made for the model of {}",
                        path.display(),
                        args.data.display()
                    )
                })?
            {
                tracing::warn!("{w}");
            }
            if head.spec().eos != col.manifest.eos_rule {
                tracing::warn!(
                    "head {} covers the end token by rule {} but the collection used {}",
                    path.display(),
                    head.spec().eos,
                    col.manifest.eos_rule
                );
            }
            let scores = head.score_features(&data).with_context(|| {
                format!(
                    "scoring {} with head {}",
                    args.data.display(),
                    path.display()
                )
            })?;
            let name = if args.head.len() == 1 {
                "swift".to_string()
            } else {
                path.file_stem()
                    .map(|s| s.to_string_lossy().into_owned())
                    .unwrap_or_else(|| format!("head{h}"))
            };
            if !policies.is_empty() {
                running = Some(head.running_scores(&data).with_context(|| {
                    format!(
                        "running scores of {} with head {}",
                        args.data.display(),
                        path.display()
                    )
                })?);
            }
            if let Some(c) = head.soft_vote_for(col.manifest.task.answer_kind()) {
                soft_votes.push((name.clone(), c.clone()));
            }
            let mut hs = HeadScores::new(name);
            for (i, s) in scores.iter().enumerate() {
                hs.scores
                    .insert((entries[i].problem_index, entries[i].candidate), s.score);
            }
            heads.push(hs);
        }
    }
    let set = ProblemSet::from_records(&col.records, &heads)?;
    let mut config = EvalConfig::default()
        .with_draws(args.draws)
        .with_seed(args.seed);
    if let Some(ks) = &args.k {
        config = config.with_ks(ks.clone());
    }
    let mut selectors = set.default_selectors();
    let lp_col = set
        .score_index(eval::LOGPROB)
        .context("the problem set has no log-prob column")?;
    for (name, calibration) in &soft_votes {
        if let Some(score) = set.score_index(name) {
            // `ask`'s default selection with this head.
            let label = if name == "swift" {
                "auto".to_string()
            } else {
                format!("{name}-auto")
            };
            selectors.push(NamedSelector::new(
                label,
                calibration.selector(score, lp_col),
            ));
        }
    }
    let report = eval::evaluate(&set, &selectors, &config)?;
    if let Some(path) = &args.plot {
        let mut opts = PlotOptions::default().with_title(format!(
            "Best-of-k on {} ({})",
            args.data
                .file_name()
                .map(|f| f.to_string_lossy())
                .unwrap_or_default(),
            col.manifest.model_file
        ));
        if args.plot_first_k {
            opts = opts.with_metric(eval::PlotMetric::FirstK);
        }
        eval::plot(&report, path, &opts)
            .with_context(|| format!("writing plot {}", path.display()))?;
        if !global.quiet {
            eprintln!("plot written to {}", path.display());
        }
    }
    let prune_rows = match &running {
        Some(running) => Some(prune_replay(global, &args, &col, running, &policies)?),
        None => None,
    };
    if args.json {
        match &prune_rows {
            Some(rows) => outln!(
                "{}",
                serde_json::to_string_pretty(&serde_json::json!({
                    "report": serde_json::from_str::<serde_json::Value>(&report.to_json())?,
                    "prune": rows,
                }))?
            )?,
            None => outln!("{}", report.to_json())?,
        }
    } else {
        out!("{}", report.render_text())?;
        if let Some(rows) = &prune_rows {
            outln!("\nEarly pruning, replayed on the stored per-token scores ({} random k-subsets per problem, the same for every policy):\n", args.prune_draws)?;
            out!("{}", prune::render_prune_table(rows))?;
        }
    }
    Ok(())
}

fn parse_policies(texts: &[String]) -> anyhow::Result<Vec<Option<PrunePolicy>>> {
    texts
        .iter()
        .map(|t| {
            if t == "none" || t == "off" {
                Ok(None)
            } else {
                t.parse::<PrunePolicy>()
                    .map(Some)
                    .map_err(|e| UsageError(format!("--prune: {e}")).into())
            }
        })
        .collect()
}

fn prune_replay(
    global: &GlobalArgs,
    args: &EvalArgs,
    col: &Collection,
    running: &[Vec<f64>],
    policies: &[Option<PrunePolicy>],
) -> anyhow::Result<Vec<prune::PruneRow>> {
    use std::collections::BTreeMap;
    let mut by_problem: BTreeMap<u64, Vec<prune::ReplayCandidate>> = BTreeMap::new();
    let mut records: Vec<&swift_bon::dataset::CandidateRecord> = col.records.iter().collect();
    records.sort_by_key(|r| (r.problem_index, r.candidate));
    for r in records {
        let Some(i) = col.store.find(r.problem_index, r.candidate) else {
            continue;
        };
        by_problem
            .entry(r.problem_index)
            .or_default()
            .push(prune::ReplayCandidate {
                running: running[i].clone(),
                n_tokens: r.n_tokens as usize,
                answer: r.answer.clone(),
                correct: r.correct,
                mean_logprob: r.mean_logprob,
            });
    }
    let problems: Vec<Vec<prune::ReplayCandidate>> = by_problem.into_values().collect();
    let max_n = problems.iter().map(Vec::len).max().unwrap_or(0);
    let ks = args
        .prune_k
        .clone()
        .unwrap_or_else(|| [4, 8, 16].into_iter().filter(|&k| k <= max_n).collect());
    let mut variants = Vec::new();
    for &selection in &args.prune_select {
        for p in std::iter::once(None).chain(policies.iter().copied().filter(Option::is_some)) {
            variants.push(prune::PruneVariant {
                policy: p,
                selection,
                early_stop: false,
            });
            if args.early_stop
                && matches!(
                    selection,
                    swift_bon::bon::Selection::Majority | swift_bon::bon::Selection::SwiftVote
                )
            {
                variants.push(prune::PruneVariant {
                    policy: p,
                    selection,
                    early_stop: true,
                });
            }
        }
    }
    if !args
        .prune_select
        .contains(&swift_bon::bon::Selection::Majority)
    {
        variants.push(prune::PruneVariant {
            policy: None,
            selection: swift_bon::bon::Selection::Majority,
            early_stop: false,
        });
    }
    let mut rows = prune::prune_report(&problems, &ks, &variants, args.prune_draws, args.seed);
    if let Some(path) = &args.prune_plot {
        // The unpruned curves at every k, so that equal token budgets can be read off.
        let curve_ks: Vec<usize> = (0..)
            .map(|i| 1usize << i)
            .take_while(|&k| k <= max_n)
            .collect();
        let mut plot_rows = prune::prune_report(
            &problems,
            &curve_ks,
            &variants
                .iter()
                .filter(|v| v.policy.is_none())
                .cloned()
                .collect::<Vec<_>>(),
            args.prune_draws,
            args.seed,
        );
        plot_rows.extend(rows.iter().filter(|r| r.policy != "none").cloned());
        let title = format!(
            "Early pruning on {} ({})",
            args.data
                .file_name()
                .map(|f| f.to_string_lossy())
                .unwrap_or_default(),
            col.manifest.model_file
        );
        prune::plot_prune(&plot_rows, &title, path)
            .map_err(|e| anyhow::anyhow!("writing plot {}: {e}", path.display()))?;
        if !global.quiet {
            eprintln!("pruning plot written to {}", path.display());
        }
    }
    rows.sort_by_key(|r| r.k);
    Ok(rows)
}
