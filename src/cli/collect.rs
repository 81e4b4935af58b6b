//! `swift-bon collect`: labelled candidates with their features, resumable.

use std::path::PathBuf;

use anyhow::Context as _;
use clap::Args;
use swift_bon::collect::{self, CollectConfig, CollectProgress};
use swift_bon::dataset::store::{bytes_per_row, StoreOptions};
use swift_bon::engine::FeatureRequest;
use swift_bon::features::{EosRule, StateSpec};
use swift_bon::tasks::{SpecDefaults, TaskSpec};

use super::common::{progress_bar, GlobalArgs, ModelArgs};
use super::sample::SamplingArgs;

#[derive(Debug, Args)]
pub struct CollectArgs {
    /// Task: arithmetic, coinflip, gsm8k, math, jsonl; or a full spec such as
    /// `arithmetic:ops=+-*,digits=1..2,operands=2` (see the README for every option).
    #[arg(long)]
    pub task: String,
    /// JSONL file for gsm8k, math and jsonl tasks.
    #[arg(long)]
    pub dataset: Option<PathBuf>,
    /// Number of problems (generated tasks), or at most this many records (file tasks).
    #[arg(long)]
    pub count: Option<usize>,
    /// People per CoinFlip problem, N or MIN..MAX.
    #[arg(long)]
    pub people: Option<String>,
    /// Answer type of a jsonl task: number, yes-no, choice, exact, math.
    #[arg(long)]
    pub answer_type: Option<String>,
    /// Output folder (created; resumed if it holds a collection with the same settings).
    #[arg(long)]
    pub out: PathBuf,
    #[command(flatten)]
    pub model: ModelArgs,
    #[command(flatten)]
    pub sampling: SamplingArgs,
    /// States to store: all, last:K, or a list (0 = embedding input, L = final norm).
    #[arg(long, default_value = "all")]
    pub layers: StateSpec,
    /// Store full-vocabulary logits instead of hidden states.
    #[arg(long, conflicts_with = "layers")]
    pub logits: bool,
    /// Whether the end-of-generation token is fed once more and covered.
    #[arg(long, default_value = "include")]
    pub eos: EosRule,
    /// Keep per-token entropy and self-certainty in the records (for the self-certainty
    /// baseline).
    #[arg(long)]
    pub entropy: bool,
}

/// Builds the task spec from `--task` (short form or JSON) and the convenience flags, which
/// fill in what the spec does not set.
pub fn task_spec(
    task: &str,
    dataset: Option<&PathBuf>,
    count: Option<usize>,
    seed: u64,
    people: Option<&str>,
    answer_type: Option<&str>,
) -> anyhow::Result<TaskSpec> {
    let defaults = SpecDefaults::default()
        .with_count(count)
        .with_seed(Some(seed))
        .with_path(dataset.cloned())
        .with_people(people.map(String::from))
        .with_answer(answer_type.map(String::from));
    Ok(TaskSpec::parse_with(task, &defaults)?)
}

pub fn run(global: &GlobalArgs, args: CollectArgs) -> anyhow::Result<()> {
    let spec = task_spec(
        &args.task,
        args.dataset.as_ref(),
        args.count,
        args.sampling.seed,
        args.people.as_deref(),
        args.answer_type.as_deref(),
    )?;
    // Read or generate the problems before loading the model: bad files fail fast.
    let n_problems = spec
        .problems()
        .with_context(|| format!("task {spec}"))?
        .len();
    let engine = args.model.load(global)?;
    let features = if args.logits {
        FeatureRequest::Logits
    } else {
        FeatureRequest::Hidden(args.layers.clone())
    };
    let layout = engine
        .feature_layout(&features)?
        .expect("features requested");
    let generate = args
        .sampling
        .options()
        .with_features(features)
        .with_eos(args.eos);
    let config = CollectConfig {
        task: spec.clone(),
        generate,
        template: args.sampling.template.clone(),
        entropy: args.entropy,
        store: StoreOptions::new(),
    };
    if !global.quiet {
        eprintln!(
            "collecting {} problems of {} x {} candidates into {} ({} floats = {} bytes per token)",
            n_problems,
            spec,
            config.generate.n,
            args.out.display(),
            layout.width(),
            bytes_per_row(&layout)
        );
    }
    let bar = progress_bar(
        n_problems as u64,
        global.quiet,
        "{bar:30} {pos}/{len} problems [{elapsed_precise}<{eta_precise}] {msg}",
    );
    let mut report = |p: &CollectProgress| {
        bar.set_position(p.done as u64);
        if p.this_run > 0 {
            let secs = p.elapsed.as_secs_f64().max(1e-9);
            bar.set_message(format!(
                "{:.2} problems/s, {:.0} tok/s, correct {:.1}% of candidates, {:.1}% of problems",
                p.this_run as f64 / secs,
                p.tokens as f64 / secs,
                100.0 * p.correct as f64 / p.candidates.max(1) as f64,
                100.0 * p.any_correct as f64 / p.this_run.max(1) as f64
            ));
        }
    };
    let summary = collect::collect(&engine, &args.out, &config, &mut report)
        .with_context(|| format!("collecting into {}", args.out.display()))?;
    bar.finish_and_clear();
    let p = &summary.progress;
    if summary.resumed_from > 0 {
        eprintln!(
            "resumed after {} complete problems{}",
            summary.resumed_from,
            if summary.records_dropped > 0 {
                format!(
                    " ({} records of an unfinished problem were redone)",
                    summary.records_dropped
                )
            } else {
                String::new()
            }
        );
    }
    if summary.saturated_values > 0 {
        eprintln!(
            "warning: {} feature values exceeded the f16 range and were clamped",
            summary.saturated_values
        );
    }
    outln!(
        "{}: {} problems complete ({} this run, {} skipped); this run: {} candidates, {:.1}% correct, {:.1}% of problems with a correct candidate, {} without an answer, {} tokens in {:.0} s",
        args.out.display(),
        p.done,
        p.this_run,
        p.skipped,
        p.candidates,
        100.0 * p.correct as f64 / p.candidates.max(1) as f64,
        100.0 * p.any_correct as f64 / p.this_run.max(1) as f64,
        p.no_answer,
        p.tokens,
        p.elapsed.as_secs_f64()
    )?;
    outln!(
        "feature store: {} rows, {:.1} MB ({:.0} bytes per token)",
        summary.store_rows,
        summary.store_bytes as f64 / 1e6,
        summary.store_bytes as f64 / summary.store_rows.max(1) as f64
    )?;
    Ok(())
}
