//! `swift-bon ask`: the main job. N candidates with inline capture and streaming SWIFT scoring;
//! the best answer goes to stdout.

use std::path::PathBuf;

use anyhow::Context as _;
use clap::Args;
use serde::Serialize;
use swift_bon::bon::{Answer, BestOfN, EarlyStop, Event, PromptPolicy, Selection};
use swift_bon::engine::Engine;
use swift_bon::heads::{FoundHead, HeadCatalog};
use swift_bon::prune::PrunePolicy;
use swift_bon::tasks::{AnswerKind, TaskSpec};

use super::common::{check_head_for, print_json, progress_bar, GlobalArgs, ModelArgs, UsageError};
use super::sample::{one_line, SamplingArgs};

#[derive(Debug, Args)]
pub struct AskArgs {
    /// The question.
    pub question: String,
    #[command(flatten)]
    pub model: ModelArgs,
    /// SWIFT head: a file, or the name of an installed or shipped head (default: an installed
    /// head made for this model, else a shipped one; with --task, one trained on that task).
    #[arg(long)]
    pub head: Option<PathBuf>,
    /// The kind of question (arithmetic, coinflip, gsm8k, math, jsonl, or general for a head
    /// trained on several families): picks the head trained on that task family when several
    /// fit the model. Without it, a general head is preferred.
    #[arg(long, value_name = "NAME")]
    pub task: Option<String>,
    /// How the answer is chosen: auto (a soft vote calibrated on the head's validation
    /// problems: the majority's answer unless the head's scores clearly single one out), swift
    /// (highest SWIFT score), swift-vote (vote weighted by sigmoid of the score), majority,
    /// logprob (highest mean token log-probability).
    #[arg(long, default_value = "auto")]
    pub select: Selection,
    /// Prune weak candidates early by their running SWIFT score: top:KEEP, margin:M,
    /// deepconf:Q or halve:REJECT, with options like ,warmup=32,every=16,min=2; `off` for none.
    /// The default was chosen by measurement (README, "Early pruning"). Needs a head.
    #[arg(long, value_name = "POLICY", default_value = swift_bon::prune::DEFAULT_POLICY)]
    pub prune: PruneArg,
    /// Stop the whole question once the vote is decided (majority and swift-vote only).
    #[arg(long)]
    pub early_stop: bool,
    /// How final answers are read from candidates (default: the head's task; number without a
    /// head).
    #[arg(long)]
    pub answer_type: Option<AnswerKind>,
    /// Refuse a head whose model fingerprint differs.
    #[arg(long)]
    pub strict: bool,
    /// Print a table of all candidates.
    #[arg(long)]
    pub show_all: bool,
    /// Print everything as JSON.
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub sampling: SamplingArgs,
}

/// A pruning policy, or `off`.
#[derive(Debug, Clone, Copy)]
pub struct PruneArg(pub Option<PrunePolicy>);

impl std::str::FromStr for PruneArg {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if s == "off" || s == "none" {
            return Ok(Self(None));
        }
        s.parse()
            .map(|p| Self(Some(p)))
            .map_err(|e: swift_bon::prune::PruneParseError| e.to_string())
    }
}

#[derive(Serialize)]
struct AskOut<'a> {
    question: &'a str,
    model: String,
    head: Option<String>,
    head_origin: Option<String>,
    n: usize,
    #[serde(flatten)]
    answer: &'a Answer,
}

pub fn run(global: &GlobalArgs, args: AskArgs) -> anyhow::Result<()> {
    if args.question.trim().is_empty() {
        return Err(UsageError(
            "the question is empty: give the question as the first argument".into(),
        )
        .into());
    }
    if let Some(t) = &args.task {
        if !TaskSpec::NAMES.contains(&t.as_str()) && t != swift_bon::heads::GENERAL_TASK {
            return Err(UsageError(format!(
                "unknown task {t:?} for --task: expected one of {}, {}",
                TaskSpec::NAMES.join(", "),
                swift_bon::heads::GENERAL_TASK
            ))
            .into());
        }
    }
    let engine = args.model.load(global)?;
    let found = pick_head(global, &args, &engine)?;
    let head_name = found.as_ref().map(|h| h.name.clone());
    let head_origin = found.as_ref().map(|h| h.origin.to_string());
    let head = match found {
        Some(h) => Some(check_head_for(h.head, &h.name, &engine, args.strict)?),
        None => None,
    };
    let task: Option<TaskSpec> = args.task.as_deref().and_then(|t| t.parse().ok());
    let mut policy = PromptPolicy::for_head(head.as_ref(), task.as_ref());
    if let Some(kind) = args.answer_type {
        policy.answer_kind = kind;
        policy.answer_kind_from_question = false;
    }
    policy.template = args.sampling.template.clone();
    let model_path = engine.info().path.display().to_string();
    let mut bon = BestOfN::new(engine);
    if let Some(h) = head {
        // Checked (with its warning) by check_head_for above.
        bon = bon.with_head_checked(h, false)?.0;
    }
    let bon = bon
        .with_policy(policy)
        .with_options(args.sampling.options())
        .with_selection(args.select)
        .with_prune(args.prune.0)
        .with_early_stop(if args.early_stop {
            EarlyStop::Decided
        } else {
            EarlyStop::Off
        });
    let request = bon.request(&args.question);
    let n = request.options.n;
    let bar = progress_bar(
        (n * request.options.max_tokens) as u64,
        global.quiet,
        "{spinner} {pos} tokens [{elapsed}] {msg}",
    );
    let answer = bon
        .run(&request, &mut |e| {
            if let Event::Step {
                fed_tokens,
                sampling,
                ..
            } = e
            {
                bar.set_position(*fed_tokens as u64);
                bar.set_message(format!("{sampling} candidates sampling"));
            }
        })
        .context("sampling")?;
    bar.finish_and_clear();

    if args.json {
        return print_json(&AskOut {
            question: &args.question,
            model: model_path,
            head: head_name,
            head_origin,
            n,
            answer: &answer,
        });
    }
    if args.show_all {
        outln!(
            "{:>1} {:>3} {:>9} {:>9} {:>6} {:<7} {:<12} text",
            "",
            "#",
            "swift",
            "logprob",
            "tokens",
            "finish",
            "answer"
        )?;
        for c in &answer.candidates {
            outln!(
                "{:>1} {:>3} {:>9} {:>9.3} {:>6} {:<7} {:<12} {}",
                if c.chosen { ">" } else { "" },
                c.index,
                c.swift_score.map_or("-".into(), |s| format!("{s:.3}")),
                c.mean_logprob,
                c.tokens,
                c.finish.as_str(),
                one_line(c.answer.as_deref().unwrap_or("-"), 12),
                one_line(&c.text, 60)
            )?;
        }
        outln!()?;
    }
    if !global.quiet {
        let pruned = answer.n_pruned();
        eprintln!(
            "chose candidate {} of {} by {}{} in {:.1} s; {} tokens decoded{}",
            answer.chosen,
            n,
            answer.selection,
            answer
                .answer
                .as_ref()
                .map_or(String::new(), |a| format!(" (answer: {a})")),
            answer.timing.total_s,
            answer.decoded_tokens,
            if pruned > 0 {
                format!(
                    ", {pruned} candidate{} pruned",
                    if pruned == 1 { "" } else { "s" }
                )
            } else {
                String::new()
            }
        );
    }
    outln!("{}", answer.text.trim())?;
    Ok(())
}

/// The head to use: `--head` (a file or a head's name), else an installed head made for this
/// model, else a shipped one (with `--task`, one trained on that task); none for selections that
/// need no head. Says which head it picked and where it came from.
fn pick_head(
    global: &GlobalArgs,
    args: &AskArgs,
    engine: &Engine,
) -> anyhow::Result<Option<FoundHead>> {
    let catalog = HeadCatalog::for_user();
    let say = |h: &FoundHead, hint: &str| {
        if !global.quiet {
            eprintln!(
                "using head {} ({}; trained on {}){hint}",
                h.name,
                h.origin,
                h.task().unwrap_or("an unrecorded task"),
            );
        }
    };
    if let Some(p) = &args.head {
        let found = catalog
            .explicit(p)
            .with_context(|| format!("loading head {}", p.display()))?;
        say(&found, "");
        return Ok(Some(found));
    }
    if !args.select.needs_head() {
        return Ok(None);
    }
    let identity = engine.info().identity();
    let mut found = catalog.for_model(&identity, args.task.as_deref());
    if found.is_empty() {
        return Err(UsageError(format!(
            "no SWIFT head{} for model {} (looked in {} and the heads shipped with swift-bon): pass --head, train one (swift-bon collect, then swift-bon train, then swift-bon heads install), or choose --select majority or --select logprob",
            args.task.as_deref().map(|t| format!(" trained on {t}")).unwrap_or_default(),
            engine.info().path.display(),
            catalog.user_dir().map_or("no folder of installed heads".into(), |d| d.display().to_string()),
        ))
        .into());
    }
    let others: Vec<String> = found[1..]
        .iter()
        .filter_map(|h| h.task().map(|t| format!("--task {t}")))
        .collect();
    let hint = if others.is_empty() {
        String::new()
    } else {
        format!("; {} or --head picks another", others.join(" or "))
    };
    let first = found.swap_remove(0);
    say(&first, &hint);
    Ok(Some(first))
}
