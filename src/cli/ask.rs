//! `swift-bon ask`: the main job. N candidates with inline capture and streaming SWIFT scoring;
//! the best answer goes to stdout.

use std::path::{Path, PathBuf};

use anyhow::Context as _;
use clap::{Args, ValueEnum};
use serde::Serialize;
use swift_bon::engine::{Engine, FeatureRequest};
use swift_bon::features::{EosRule, NullSink};
use swift_bon::head::{Head, StreamingScorer};
use swift_bon::select::{self, Pool};
use swift_bon::tasks::{prompt_messages, AnswerKind, TaskSpec};

use super::common::{
    head_features, load_head_for, print_json, progress_bar, GlobalArgs, ModelArgs, UsageError,
};
use super::sample::{one_line, SamplingArgs};

/// How the answer is chosen.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Selection {
    /// Highest SWIFT score.
    Swift,
    /// Vote over extracted answers, each candidate weighted by sigmoid(SWIFT score).
    SwiftVote,
    /// Most frequent extracted answer (self-consistency); needs no head.
    Majority,
    /// Highest mean token log-probability; needs no head.
    Logprob,
}

#[derive(Debug, Args)]
pub struct AskArgs {
    /// The question.
    pub question: String,
    #[command(flatten)]
    pub model: ModelArgs,
    /// SWIFT head (default: a head in the models folder made for this model; with --task, one
    /// trained on that task).
    #[arg(long)]
    pub head: Option<PathBuf>,
    /// The kind of question (arithmetic, coinflip, gsm8k, math, jsonl): picks the head trained
    /// on that task family when several fit the model.
    #[arg(long, value_name = "NAME")]
    pub task: Option<String>,
    /// How the answer is chosen.
    #[arg(long, value_enum, default_value = "swift")]
    pub select: Selection,
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

#[derive(Serialize)]
struct CandidateOut {
    index: usize,
    text: String,
    answer: Option<String>,
    swift_score: Option<f64>,
    tokens: usize,
    mean_logprob: f64,
    finish: String,
    chosen: bool,
}

#[derive(Serialize)]
struct AskOut {
    question: String,
    answer: Option<String>,
    text: String,
    chosen: usize,
    selection: Selection,
    model: String,
    head: Option<String>,
    n: usize,
    seed: u64,
    elapsed_s: f64,
    candidates: Vec<CandidateOut>,
}

/// Heads in `dir` made for this model (same architecture, shape and fingerprint), by name;
/// with `task`, only those trained on that task family.
fn find_heads(
    dir: &Path,
    engine: &Engine,
    task: Option<&str>,
) -> Vec<(PathBuf, Option<&'static str>)> {
    let identity = engine.info().identity();
    let mut found = Vec::new();
    let Ok(entries) = std::fs::read_dir(dir) else {
        return found;
    };
    let mut paths: Vec<PathBuf> = entries
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|e| e == "yaml"))
        .collect();
    paths.sort();
    for p in paths {
        if let Ok(h) = Head::load(&p) {
            let trained_on = h
                .spec()
                .training
                .as_ref()
                .and_then(|t| t.task.as_deref())
                .and_then(|t| t.parse::<TaskSpec>().ok())
                .map(|t| t.name());
            let task_fits = task.is_none_or(|want| trained_on == Some(want));
            if task_fits && h.check_model(&identity, true).is_ok() {
                found.push((p.with_extension(""), trained_on));
            }
        }
    }
    found
}

pub fn run(global: &GlobalArgs, args: AskArgs) -> anyhow::Result<()> {
    if args.question.trim().is_empty() {
        return Err(UsageError(
            "the question is empty: give the question to answer, e.g. swift-bon ask \"What is 17 + 25?\""
                .into(),
        )
        .into());
    }
    if let Some(t) = &args.task {
        if !TaskSpec::NAMES.contains(&t.as_str()) {
            return Err(UsageError(format!(
                "unknown task {t:?} for --task: expected one of {}",
                TaskSpec::NAMES.join(", ")
            ))
            .into());
        }
    }
    let engine = args.model.load(global)?;
    let needs_head = matches!(args.select, Selection::Swift | Selection::SwiftVote);
    let head_path = match &args.head {
        Some(p) => Some(p.clone()),
        None if needs_head => {
            let found = find_heads(&global.models_dir, &engine, args.task.as_deref());
            match found.first() {
                Some((p, task)) => {
                    if found.len() > 1 && !global.quiet {
                        let others: Vec<String> = found[1..]
                            .iter()
                            .filter_map(|(_, t)| t.map(|t| format!("--task {t}")))
                            .chain(std::iter::once("--head".to_string()))
                            .collect();
                        eprintln!(
                            "using head {} (trained on {}; {} picks another)",
                            p.display(),
                            task.unwrap_or("an unrecorded task"),
                            others.join(" or ")
                        );
                    }
                    Some(p.clone())
                }
                None => {
                    return Err(UsageError(format!(
                        "no SWIFT head{} for model {} in {}: pass --head, train one (swift-bon collect, then swift-bon train), or choose --select majority or --select logprob",
                        args.task.as_deref().map(|t| format!(" trained on {t}")).unwrap_or_default(),
                        engine.info().path.display(),
                        global.models_dir.display()
                    ))
                    .into())
                }
            }
        }
        None => None,
    };
    let head = match &head_path {
        Some(p) => Some(load_head_for(p, &engine, args.strict)?),
        None => None,
    };
    // The head was trained on prompts made of its task's instruction and the question: ask the
    // same way, and read answers the way its task does.
    let spec_task: Option<TaskSpec> = head
        .as_ref()
        .and_then(|h| h.spec().training.as_ref())
        .and_then(|t| t.task.as_deref())
        .and_then(|t| t.parse().ok())
        // Without a head, the task named on the command line with its default parameters.
        .or_else(|| args.task.as_deref().and_then(|t| t.parse().ok()));
    let kind = args
        .answer_type
        .or_else(|| spec_task.as_ref().map(TaskSpec::answer_kind))
        .unwrap_or(AnswerKind::Number);
    let instruction = head
        .as_ref()
        .and_then(|h| h.spec().instruction.clone())
        .or_else(|| spec_task.as_ref().map(|t| t.instruction().to_string()));
    // Base models get the task's worked examples too, as in collection.
    let examples = spec_task
        .as_ref()
        .map(TaskSpec::examples)
        .unwrap_or_default();
    let messages = prompt_messages(
        instruction.as_deref(),
        &examples,
        &args.question,
        engine.prompt_format(&args.sampling.template),
    );
    let prompt = engine.render_prompt(&messages, &args.sampling.template)?;
    let (features, eos) = match &head {
        Some(h) => (head_features(h), h.spec().eos),
        None => (FeatureRequest::None, EosRule::Include),
    };
    let opts = args
        .sampling
        .options_for(&engine)
        .with_features(features)
        .with_eos(eos);
    let bar = progress_bar(
        (opts.n * opts.max_tokens) as u64,
        global.quiet,
        "{spinner} {pos} tokens [{elapsed}] {msg}",
    );
    let t0 = std::time::Instant::now();
    let mut scorer = head.as_ref().map(StreamingScorer::new);
    let mut null = NullSink;
    let sink: &mut dyn swift_bon::features::FeatureSink = match scorer.as_mut() {
        Some(s) => s,
        None => &mut null,
    };
    let gen = engine
        .generate_with_progress(&prompt, &opts, sink, &mut |p| {
            bar.set_position(p.fed_tokens as u64);
            bar.set_message(format!("{} candidates live", p.live));
        })
        .context("sampling")?;
    bar.finish_and_clear();
    let elapsed = t0.elapsed().as_secs_f64();

    let answers: Vec<Option<String>> = gen
        .candidates
        .iter()
        .map(|c| kind.extract(&c.text))
        .collect();
    let swift: Option<Vec<f64>> = scorer.as_ref().map(|s| s.scores());
    let logprob: Vec<f64> = gen.candidates.iter().map(|c| c.mean_logprob()).collect();
    let cands: Vec<select::Candidate> = gen
        .candidates
        .iter()
        .enumerate()
        .map(|(i, _)| select::Candidate {
            answer: answers[i].clone(),
            correct: false,
            scores: vec![logprob[i], swift.as_ref().map_or(f64::NAN, |s| s[i])],
        })
        .collect();
    let pool = Pool::new(&cands)?;
    let all = pool.all();
    let chosen = match args.select {
        Selection::Swift => select::argmax(pool.scores(1), &all),
        Selection::SwiftVote => select::weighted_vote(&pool, 1, &all),
        Selection::Majority => select::majority(&pool, &all),
        Selection::Logprob => select::argmax(pool.scores(0), &all),
    }
    .unwrap_or(0);

    let out = AskOut {
        question: args.question.clone(),
        answer: answers[chosen].clone(),
        text: gen.candidates[chosen].text.clone(),
        chosen,
        selection: args.select,
        model: engine.info().path.display().to_string(),
        head: head_path.as_ref().map(|p| p.display().to_string()),
        n: opts.n,
        seed: opts.seed,
        elapsed_s: elapsed,
        candidates: gen
            .candidates
            .iter()
            .enumerate()
            .map(|(i, c)| CandidateOut {
                index: i,
                text: c.text.clone(),
                answer: answers[i].clone(),
                swift_score: swift.as_ref().map(|s| s[i]),
                tokens: c.tokens.len(),
                mean_logprob: logprob[i],
                finish: c.finish.to_string(),
                chosen: i == chosen,
            })
            .collect(),
    };
    if args.json {
        return print_json(&out);
    }
    if args.show_all {
        println!(
            "{:>1} {:>3} {:>9} {:>9} {:>6} {:<12} text",
            "", "#", "swift", "logprob", "tokens", "answer"
        );
        for c in &out.candidates {
            println!(
                "{:>1} {:>3} {:>9} {:>9.3} {:>6} {:<12} {}",
                if c.chosen { ">" } else { "" },
                c.index,
                c.swift_score.map_or("-".into(), |s| format!("{s:.3}")),
                c.mean_logprob,
                c.tokens,
                one_line(c.answer.as_deref().unwrap_or("-"), 12),
                one_line(&c.text, 60)
            );
        }
        println!();
    }
    if !global.quiet {
        eprintln!(
            "chose candidate {} of {} by {}{} in {:.1} s",
            chosen,
            opts.n,
            args.select
                .to_possible_value()
                .map_or_else(String::new, |v| v.get_name().to_string()),
            out.answer
                .as_ref()
                .map_or(String::new(), |a| format!(" (answer: {a})")),
            elapsed
        );
    }
    println!("{}", out.text.trim());
    Ok(())
}
