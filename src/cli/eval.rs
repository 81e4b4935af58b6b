//! `swift-bon eval`: Best-of-k accuracy of SWIFT heads against every free baseline, on a
//! collection (no model needed).

use std::path::PathBuf;

use anyhow::Context as _;
use clap::Args;
use swift_bon::collect::Collection;
use swift_bon::dataset::LabelledStore;
use swift_bon::eval::{self, EvalConfig, HeadScores, PlotOptions, ProblemSet};
use swift_bon::head::Head;

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
    if !args.head.is_empty() {
        let data = LabelledStore::from_records(&col.store, &col.records)?;
        let entries = col.store.entries();
        for (h, path) in args.head.iter().enumerate() {
            let head =
                Head::load(path).with_context(|| format!("loading head {}", path.display()))?;
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
    let report = eval::evaluate(&set, &set.default_selectors(), &config)?;
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
    if args.json {
        outln!("{}", report.to_json())?;
    } else {
        out!("{}", report.render_text())?;
    }
    Ok(())
}
