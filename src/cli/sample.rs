//! `swift-bon sample`: N candidates with inline capture, reported per candidate.

use std::time::Instant;

use anyhow::Context as _;
use clap::Args;
use serde::Serialize;
use swift_bon::engine::{
    ChatMessage, Engine, FeatureRequest, GenerateOptions, ModelInfo, TemplateChoice,
};
use swift_bon::features::{
    EosRule, FeatureLayout, FeatureSink, FeatureSource, SinkError, StateSpec,
};

use super::common::{print_json, progress_bar, GlobalArgs, ModelArgs};

/// Sampling options shared by commands that generate.
#[derive(Debug, Args, Clone)]
pub struct SamplingArgs {
    /// Candidates per question (N).
    #[arg(short = 'n', long = "n", default_value_t = 8)]
    pub n: usize,
    /// Token limit per candidate.
    #[arg(long, default_value_t = 256)]
    pub max_tokens: usize,
    /// Sampling temperature (0 = greedy).
    #[arg(long, default_value_t = 0.8)]
    pub temperature: f32,
    /// Top-k (0 = off).
    #[arg(long, default_value_t = 40)]
    pub top_k: i32,
    /// Top-p (1 = off).
    #[arg(long, default_value_t = 0.95)]
    pub top_p: f32,
    /// Base seed; candidate c gets its own seed derived from it.
    #[arg(long, default_value_t = 42)]
    pub seed: u64,
    /// Prompt format: auto (the model's chat template; a GGUF without one is taken for a base
    /// model and gets `completion`), completion (few-shot Question:/Answer: text that stops at
    /// the next "Question:"), a llama.cpp built-in chat template (chatml, gemma, llama3, ...), or
    /// raw.
    #[arg(long, default_value = "auto")]
    pub template: TemplateChoice,
    /// Stop string (repeatable): a candidate ends when its text contains it, and its text is
    /// cut there. Added to the completion format's own.
    #[arg(long = "stop", value_name = "TEXT")]
    pub stop: Vec<String>,
    /// CPU threads (default: all cores).
    #[arg(long)]
    pub threads: Option<i32>,
    /// Micro-batch size (default: the batch size).
    #[arg(long)]
    pub ubatch: Option<u32>,
    /// Context length per candidate, prompt included (default: the model's training context).
    #[arg(long)]
    pub ctx_size: Option<u32>,
    /// How hidden states are captured: auto (llama.cpp's layer-input outputs where the
    /// architecture supports them and they pay, see `doctor`), callback (the eval callback,
    /// every architecture), or layer-input (falls back to the callback, with a warning, where
    /// unsupported).
    #[arg(long, default_value = "auto")]
    pub capture: swift_bon::capture::CaptureChoice,
}

impl SamplingArgs {
    pub fn options(&self) -> GenerateOptions {
        let mut o = GenerateOptions::new(self.n)
            .with_max_tokens(self.max_tokens)
            .with_temperature(self.temperature)
            .with_top_k(self.top_k)
            .with_top_p(self.top_p)
            .with_seed(self.seed)
            .with_stop(self.stop.clone())
            .with_capture(self.capture);
        if let Some(t) = self.threads {
            o = o.with_threads(t);
        }
        if let Some(u) = self.ubatch {
            o = o.with_n_ubatch(u);
        }
        if let Some(c) = self.ctx_size {
            o = o.with_ctx_per_seq(c);
        }
        o
    }

    /// [`SamplingArgs::options`] plus the stop strings of the prompt format `engine` resolves
    /// the template to.
    pub fn options_for(&self, engine: &Engine) -> GenerateOptions {
        self.options()
            .with_extra_stop(engine.stop_strings(&self.template))
    }
}

#[derive(Debug, Args)]
pub struct SampleArgs {
    /// The question.
    pub question: String,
    #[command(flatten)]
    pub model: ModelArgs,
    #[command(flatten)]
    pub sampling: SamplingArgs,
    /// States to capture: all, last:K, or a list like 0,10-17,30 (0 = embedding input, k = output
    /// of block k-1, L = final norm).
    #[arg(long, default_value = "all")]
    pub layers: StateSpec,
    /// Capture the full-vocabulary logits instead of hidden states.
    #[arg(long, conflicts_with = "layers")]
    pub logits: bool,
    /// Do not capture anything (plain generation).
    #[arg(long, conflicts_with_all = ["layers", "logits"])]
    pub no_capture: bool,
    /// Whether the end-of-generation token is fed once more and covered.
    #[arg(long, default_value = "include")]
    pub eos: EosRule,
    /// Score every candidate inline with this SWIFT head (its states are captured).
    #[arg(long)]
    pub head: Option<std::path::PathBuf>,
    /// Refuse a head whose model fingerprint differs (otherwise a warning).
    #[arg(long)]
    pub strict: bool,
    /// Machine-readable output.
    #[arg(long)]
    pub json: bool,
}

/// Counts captured rows per candidate and checks their width.
struct CountingSink {
    width: usize,
    rows: Vec<usize>,
    non_finite: usize,
}

impl FeatureSink for CountingSink {
    fn begin(&mut self, layout: &FeatureLayout, n: usize) -> Result<(), SinkError> {
        self.width = layout.width();
        self.rows = vec![0; n];
        Ok(())
    }
    fn token(&mut self, c: usize, pos: usize, f: &[f32]) -> Result<(), SinkError> {
        if f.len() != self.width || pos != self.rows[c] {
            return Err(format!(
                "row {pos} of candidate {c} has width {} (expected {})",
                f.len(),
                self.width
            )
            .into());
        }
        self.non_finite += f.iter().filter(|x| !x.is_finite()).count();
        self.rows[c] += 1;
        Ok(())
    }
}

#[derive(Serialize)]
struct CandidateOut<'a> {
    index: usize,
    seed: u64,
    text: &'a str,
    tokens: usize,
    mean_logprob: f64,
    finish: String,
    captured_rows: usize,
    captured_states: usize,
    features_per_row: usize,
    #[serde(skip_serializing_if = "Option::is_none")]
    swift_score: Option<f64>,
}

#[derive(Serialize)]
struct SampleOut<'a> {
    model: &'a ModelInfo,
    question: &'a str,
    prompt_tokens: usize,
    template: String,
    states: Option<Vec<u32>>,
    feature_source: &'static str,
    eos_rule: EosRule,
    n: usize,
    seed: u64,
    temperature: f32,
    top_k: i32,
    top_p: f32,
    max_tokens: usize,
    elapsed_s: f64,
    generated_tokens: usize,
    tokens_per_s: f64,
    candidates: Vec<CandidateOut<'a>>,
}

pub fn run(global: &GlobalArgs, args: SampleArgs) -> anyhow::Result<()> {
    let engine = args.model.load(global)?;
    let head = match &args.head {
        // A general head may have weights of its own for the question's kind of answer.
        Some(path) => Some(
            super::common::load_head_for(path, &engine, args.strict)?
                .for_kind(swift_bon::tasks::AnswerKind::for_question(&args.question))
                .into_owned(),
        ),
        None => None,
    };
    let features = if let Some(h) = &head {
        super::common::head_features(h)
    } else if args.no_capture {
        FeatureRequest::None
    } else if args.logits {
        FeatureRequest::Logits
    } else {
        FeatureRequest::Hidden(args.layers.clone())
    };
    // Validate the layer spec against the model before generating.
    let layout = engine.feature_layout(&features)?;
    let opts = args
        .sampling
        .options_for(&engine)
        .with_features(features)
        .with_eos(args.eos);
    let prompt = engine.render_prompt(
        &[ChatMessage::user(&args.question)],
        &args.sampling.template,
    )?;
    let mut sink = CountingSink {
        width: 0,
        rows: Vec::new(),
        non_finite: 0,
    };
    let bar = progress_bar(
        (opts.n * args.sampling.max_tokens) as u64,
        global.quiet,
        "{spinner} sampling {pos} tokens [{elapsed}] {msg}",
    );
    let t0 = Instant::now();
    let mut scorer = head.as_ref().map(swift_bon::head::StreamingScorer::new);
    let mut null = swift_bon::features::NullSink;
    let mut tee = match scorer.as_mut() {
        Some(s) => swift_bon::features::TeeSink(
            &mut sink as &mut dyn FeatureSink,
            s as &mut dyn FeatureSink,
        ),
        None => swift_bon::features::TeeSink(
            &mut sink as &mut dyn FeatureSink,
            &mut null as &mut dyn FeatureSink,
        ),
    };
    let gen = engine
        .generate_with_progress(&prompt, &opts, &mut tee, &mut |p| {
            bar.set_position(p.fed_tokens as u64);
            bar.set_message(format!("{} live", p.live));
        })
        .context("sampling")?;
    bar.finish_and_clear();
    let elapsed = t0.elapsed().as_secs_f64();
    if sink.non_finite > 0 {
        tracing::warn!("{} captured values were not finite", sink.non_finite);
    }
    let (states, source, per_state) = match layout.as_ref().map(|l| &l.source) {
        Some(FeatureSource::Hidden { selection, n_embd }) => (
            Some(selection.states().to_vec()),
            "hidden",
            (selection.len(), *n_embd as usize),
        ),
        Some(FeatureSource::Logits { n_vocab }) => (None, "logits", (1, *n_vocab as usize)),
        None => (None, "none", (0, 0)),
    };
    let generated: usize = gen.candidates.iter().map(|c| c.tokens.len()).sum();
    let out = SampleOut {
        model: engine.info(),
        question: &args.question,
        prompt_tokens: gen.prompt_tokens,
        template: engine.describe_template(&args.sampling.template),
        states,
        feature_source: source,
        eos_rule: args.eos,
        n: opts.n,
        seed: opts.seed,
        temperature: opts.temperature,
        top_k: opts.top_k,
        top_p: opts.top_p,
        max_tokens: opts.max_tokens,
        elapsed_s: elapsed,
        generated_tokens: generated,
        tokens_per_s: generated as f64 / gen.timing.generate.as_secs_f64().max(1e-9),
        candidates: gen
            .candidates
            .iter()
            .map(|c| CandidateOut {
                index: c.index,
                seed: c.seed,
                text: &c.text,
                tokens: c.tokens.len(),
                mean_logprob: c.mean_logprob(),
                finish: c.finish.to_string(),
                captured_rows: sink.rows.get(c.index).copied().unwrap_or(0),
                captured_states: per_state.0,
                features_per_row: per_state.0 * per_state.1,
                swift_score: scorer.as_ref().map(|s| s.score(c.index)),
            })
            .collect(),
    };
    if args.json {
        return print_json(&out);
    }
    let info = engine.info();
    outln!(
        "model {} ({}, {} layers, hidden {}) | prompt {} tokens, template {} | {} candidates, {} tokens in {:.1} s ({:.0} tok/s)",
        info.path.file_name().map(|f| f.to_string_lossy()).unwrap_or_default(),
        info.architecture,
        info.n_layer,
        info.n_embd,
        out.prompt_tokens,
        out.template,
        out.n,
        generated,
        elapsed,
        out.tokens_per_s
    )?;
    match source {
        "hidden" => outln!(
            "capture: {} states ({}) x {} = {} floats per covered token, EOS {}",
            per_state.0,
            swift_bon::features::format_state_list(out.states.as_deref().unwrap_or_default()),
            per_state.1,
            per_state.0 * per_state.1,
            opts.eos
        )?,
        "logits" => outln!(
            "capture: full logits, {} floats per covered token",
            per_state.1
        )?,
        _ => outln!("capture: off")?,
    }
    outln!()?;
    let scored = out.candidates.iter().any(|c| c.swift_score.is_some());
    outln!(
        "{:>3} {:>6} {:>9} {:>6} {:>6}{}  text",
        "#",
        "tokens",
        "logprob",
        "finish",
        "rows",
        if scored { "     swift" } else { "" }
    )?;
    for c in &out.candidates {
        outln!(
            "{:>3} {:>6} {:>9.3} {:>6} {:>6}{}  {}",
            c.index,
            c.tokens,
            c.mean_logprob,
            c.finish,
            c.captured_rows,
            c.swift_score
                .map_or(String::new(), |s| format!(" {s:>9.3}")),
            one_line(c.text, 70)
        )?;
    }
    Ok(())
}

/// First `max` characters of `text` on one line.
pub fn one_line(text: &str, max: usize) -> String {
    let flat: String = text.split_whitespace().collect::<Vec<_>>().join(" ");
    if flat.chars().count() <= max {
        flat
    } else {
        let cut: String = flat.chars().take(max.saturating_sub(1)).collect();
        format!("{cut}…")
    }
}
