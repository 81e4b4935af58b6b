//! `swift-bon bench`: the cost of inline SWIFT, measured side by side (see
//! `swift_bon::bench`), and the hidden `bench-child` that runs one variant of `ask`-style
//! inference in its own process to report its peak RSS.

use std::fmt::Write as _;
use std::path::Path;
use std::process::Command;

use anyhow::{bail, Context as _};
use clap::Args;
use serde::Serialize;
use swift_bon::bench::headcost::{time_head_scoring, time_training, HeadScoring, TrainingCost};
use swift_bon::bench::rss::{run_child, ChildReport, MemoryReport, RssVariant};
use swift_bon::bench::system::{load_average, peak_rss_kib, Machine};
use swift_bon::bench::{
    model_identity, run_decode, targets, DecodeConfig, DecodeEvent, DecodeReport, Summary, Target,
    Variant, SCHEMA,
};
use swift_bon::engine::{ChatMessage, Engine, GenerateOptions, ModelInfo, TemplateChoice};
use swift_bon::features::StateSpec;
use swift_bon::head::Normalization;

use super::common::{load_engine, print_json, GlobalArgs, ModelArgs};

/// A prompt that makes the model write long text, so candidates tend to run to the limit.
const DEFAULT_PROMPT: &str = "Write a very long, detailed story about a lighthouse keeper who \
    finds an old map in a bottle. Describe every day of his journey, every place and every \
    person he meets.";

#[derive(Debug, Args)]
pub struct BenchArgs {
    #[command(flatten)]
    pub model: ModelArgs,
    /// Candidate counts N to measure, comma-separated.
    #[arg(
        short = 'n',
        long = "n",
        value_delimiter = ',',
        default_value = "1,4,8,16"
    )]
    pub n: Vec<usize>,
    /// Token limit per candidate.
    #[arg(long, default_value_t = 128)]
    pub max_tokens: usize,
    /// Runs per variant (interleaved, variant order rotated per run).
    #[arg(long, default_value_t = 5)]
    pub runs: usize,
    /// Machine-readable output.
    #[arg(long)]
    pub json: bool,
    /// Also write the JSON report to this file (with the human table on stdout).
    #[arg(long)]
    pub save_json: Option<std::path::PathBuf>,
    /// Base seed; candidate c gets its own seed derived from it.
    #[arg(long, default_value_t = 42)]
    pub seed: u64,
    /// CPU threads (default: all cores).
    #[arg(long)]
    pub threads: Option<i32>,
    /// The user message.
    #[arg(long, default_value = DEFAULT_PROMPT)]
    pub prompt: String,
    /// Chat template: auto, a llama.cpp built-in name, or raw.
    #[arg(long, default_value = "auto")]
    pub template: TemplateChoice,
    /// States of the (random) head the scoring variants capture and score.
    #[arg(long, default_value = "all")]
    pub head_layers: StateSpec,
    /// N of the peak-memory comparison.
    #[arg(long, default_value_t = 16)]
    pub rss_n: usize,
    /// Child processes per way in the peak-memory comparison.
    #[arg(long, default_value_t = 1)]
    pub rss_runs: usize,
    /// Problems (8 candidates each) of the synthetic training set.
    #[arg(long, default_value_t = 32)]
    pub train_problems: usize,
    /// Covered tokens per synthetic candidate.
    #[arg(long, default_value_t = 64)]
    pub train_tokens: usize,
    /// Training epochs (early stopping off).
    #[arg(long, default_value_t = 10)]
    pub train_epochs: u32,
    /// Skip N sequential generations.
    #[arg(long)]
    pub no_sequential: bool,
    /// Skip generate-then-re-encode.
    #[arg(long)]
    pub no_two_pass: bool,
    /// Skip the peak-memory comparison.
    #[arg(long)]
    pub no_rss: bool,
    /// Skip the head-alone timings.
    #[arg(long)]
    pub no_head: bool,
    /// Skip the layer-input capture variants (run by default where the architecture supports
    /// the layer-input backend, side by side with the eval callback).
    #[arg(long)]
    pub no_layer_input: bool,
    /// Also measure capture + score with early pruning by this policy (e.g.
    /// top:0.5,warmup=32,every=16,min=2), side by side with unpruned scoring.
    #[arg(long, value_name = "POLICY")]
    pub prune: Option<swift_bon::prune::PrunePolicy>,
    /// A trained head for the scoring variants instead of a random one (pruning then follows
    /// real scores); its states replace --head-layers.
    #[arg(long)]
    pub head: Option<std::path::PathBuf>,
}

#[derive(Debug, Args)]
pub struct BenchChildArgs {
    #[command(flatten)]
    pub model: ModelArgs,
    /// plain, streaming or storing.
    #[arg(long)]
    pub variant: RssVariant,
    #[arg(short = 'n', long = "n", default_value_t = 16)]
    pub n: usize,
    #[arg(long, default_value_t = 128)]
    pub max_tokens: usize,
    #[arg(long, default_value_t = 42)]
    pub seed: u64,
    #[arg(long)]
    pub threads: Option<i32>,
    #[arg(long, default_value = DEFAULT_PROMPT)]
    pub prompt: String,
    #[arg(long, default_value = "auto")]
    pub template: TemplateChoice,
    #[arg(long, default_value = "all")]
    pub head_layers: StateSpec,
}

#[derive(Serialize)]
struct ModelOut<'a> {
    path: &'a Path,
    architecture: &'a str,
    name: Option<&'a str>,
    n_layer: u32,
    n_embd: u32,
    n_vocab: u32,
    file_size: u64,
    fingerprint: &'a str,
}

impl<'a> ModelOut<'a> {
    fn of(i: &'a ModelInfo) -> Self {
        Self {
            path: &i.path,
            architecture: &i.architecture,
            name: i.name.as_deref(),
            n_layer: i.n_layer,
            n_embd: i.n_embd,
            n_vocab: i.n_vocab,
            file_size: i.file_size,
            fingerprint: &i.fingerprint,
        }
    }
}

#[derive(Serialize)]
struct HeadOut {
    note: &'static str,
    scoring: Vec<HeadScoring>,
    training: TrainingCost,
}

#[derive(Serialize)]
struct Report<'a> {
    schema: &'static str,
    command: String,
    version: String,
    machine: Machine,
    load_before: Option<[f64; 3]>,
    load_after: Option<[f64; 3]>,
    model: ModelOut<'a>,
    prompt_tokens: usize,
    template: String,
    config: &'a DecodeConfig,
    head_note: &'static str,
    decode: Vec<DecodeReport>,
    head: Option<HeadOut>,
    memory: Option<MemoryReport>,
    targets: Vec<Target>,
}

const HEAD_NOTE: &str = "the scoring variants use a random gated head (uniform in ±1/sqrt(F), \
    no normalisation) of the right shape for the model: right for timing, meaningless as a scorer";

fn render(engine: &Engine, prompt: &str, template: &TemplateChoice) -> anyhow::Result<String> {
    Ok(engine.render_prompt(&[ChatMessage::user(prompt)], template)?)
}

pub fn run(global: &GlobalArgs, args: BenchArgs) -> anyhow::Result<()> {
    let quiet = global.quiet;
    let say = |msg: &str| {
        if !quiet {
            eprintln!("{msg}");
        }
    };
    let load_before = load_average();
    let machine = Machine::detect();
    let path = args.model.resolve(global)?;
    let engine = load_engine(&path)?;
    engine.feature_layout(&swift_bon::engine::FeatureRequest::Hidden(
        args.head_layers.clone(),
    ))?;
    let prompt = render(&engine, &args.prompt, &args.template)?;
    let prompt_tokens = engine.tokenize(&prompt)?.len();
    let head = match &args.head {
        Some(p) => Some(super::common::load_head_for(p, &engine, false)?),
        None => None,
    };
    let head_states = match &head {
        Some(h) => match swift_bon::bon::head_features(h) {
            swift_bon::engine::FeatureRequest::Hidden(spec) => spec,
            _ => {
                return Err(super::common::UsageError(
                    "bench --head needs a hidden-state head, not a logits head".into(),
                )
                .into())
            }
        },
        None => args.head_layers.clone(),
    };
    let cfg = DecodeConfig {
        ns: args.n.clone(),
        max_tokens: args.max_tokens,
        runs: args.runs,
        seed: args.seed,
        temperature: 0.8,
        top_k: 40,
        top_p: 0.95,
        threads: args.threads,
        head_states,
        sequential: !args.no_sequential,
        two_pass: !args.no_two_pass,
        prune: args.prune,
        layer_input: !args.no_layer_input && engine.supports_layer_input(),
        head,
    };
    if let Some(l) = load_before {
        if l[0] > 0.5 {
            say(&format!(
                "warning: 1-minute load average is {:.2}: other work on this machine will add noise",
                l[0]
            ));
        }
    }
    let decode = run_decode(&engine, &prompt, &cfg, &mut |ev| match ev {
        DecodeEvent::WarmUp => say("warming up"),
        DecodeEvent::Measured { run, runs, n, m } => say(&format!(
            "run {run}/{runs} N={n:<2} {:<13} {:>7.1} tok/s  wall {:>6.2} s",
            m.variant.name(),
            m.tokens_per_s(),
            m.wall_s
        )),
    })
    .context("decode benchmarks")?;

    let memory = if args.no_rss {
        None
    } else {
        let mut children = Vec::new();
        for r in 0..args.rss_runs.max(1) {
            let mut order = RssVariant::ALL;
            let len = order.len();
            order.rotate_left(r % len);
            for v in order {
                let c = spawn_child(&path, &args, v)
                    .with_context(|| format!("peak-memory child ({v})"))?;
                say(&format!(
                    "rss N={} {:<9} peak {:>7.1} MiB (after load {:.1} MiB)",
                    args.rss_n,
                    v.name(),
                    c.peak_rss_kib as f64 / 1024.0,
                    c.peak_rss_after_load_kib as f64 / 1024.0
                ));
                children.push(c);
            }
        }
        Some(MemoryReport::from_children(
            args.rss_n,
            args.max_tokens,
            &args.head_layers,
            &children,
        ))
    };

    let head = if args.no_head {
        None
    } else {
        say("timing the head alone");
        let model = model_identity(engine.info());
        let mut scoring = Vec::new();
        for (states, norm) in [
            (StateSpec::All, Normalization::None),
            (StateSpec::Last(4), Normalization::None),
            (StateSpec::All, Normalization::Rms),
        ] {
            scoring.push(time_head_scoring(
                &model,
                &states,
                norm,
                args.max_tokens,
                args.seed,
            )?);
        }
        say("timing training on synthetic candidates");
        let training = time_training(
            &model,
            &StateSpec::Last(4),
            args.train_problems.max(2),
            args.train_tokens.max(1),
            args.train_epochs.max(1),
            args.seed,
        )?;
        Some(HeadOut {
            note: "random gated heads; rows are random floats; pure Rust, one thread",
            scoring,
            training,
        })
    };

    let targets = targets(&decode, memory.as_ref());
    let report = Report {
        schema: SCHEMA,
        command: command_line(),
        version: format!(
            "{} ({})",
            env!("CARGO_PKG_VERSION"),
            env!("SWIFT_BON_GIT_HASH")
        ),
        machine,
        load_before,
        load_after: load_average(),
        model: ModelOut::of(engine.info()),
        prompt_tokens,
        template: engine.describe_template(&args.template),
        config: &cfg,
        head_note: HEAD_NOTE,
        decode,
        head,
        memory,
        targets,
    };
    if let Some(p) = &args.save_json {
        let text = serde_json::to_string_pretty(&report)?;
        std::fs::write(p, text + "\n").with_context(|| format!("writing {}", p.display()))?;
    }
    if args.json {
        return print_json(&report);
    }
    print!("{}", table(&report));
    Ok(())
}

fn spawn_child(model: &Path, args: &BenchArgs, v: RssVariant) -> anyhow::Result<ChildReport> {
    let exe = std::env::current_exe().context("locating this executable")?;
    let mut cmd = Command::new(exe);
    cmd.arg("-q")
        .arg("bench-child")
        .arg("--model")
        .arg(model)
        .args(["--variant", v.name()])
        .args(["--n", &args.rss_n.to_string()])
        .args(["--max-tokens", &args.max_tokens.to_string()])
        .args(["--seed", &args.seed.to_string()])
        .args(["--prompt", &args.prompt])
        .args(["--template", &args.template.to_string()])
        .args(["--head-layers", &args.head_layers.to_string()]);
    if let Some(t) = args.threads {
        cmd.args(["--threads", &t.to_string()]);
    }
    let out = cmd.output().context("starting the child process")?;
    if !out.status.success() {
        bail!(
            "the child failed ({}): {}",
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    serde_json::from_slice(&out.stdout).context("reading the child's report")
}

pub fn run_child_cmd(global: &GlobalArgs, args: BenchChildArgs) -> anyhow::Result<()> {
    let path = args.model.resolve(global)?;
    let engine = load_engine(&path)?;
    let after_load = peak_rss_kib().unwrap_or(0);
    let prompt = render(&engine, &args.prompt, &args.template)?;
    let mut opts = GenerateOptions::new(args.n)
        .with_max_tokens(args.max_tokens)
        .with_temperature(0.8)
        .with_top_k(40)
        .with_top_p(0.95)
        .with_seed(args.seed);
    if let Some(t) = args.threads {
        opts = opts.with_threads(t);
    }
    let report = run_child(
        &engine,
        &prompt,
        args.variant,
        &opts,
        &args.head_layers,
        after_load,
    )?;
    print_json(&report)
}

/// The command line as typed (arguments with spaces quoted).
fn command_line() -> String {
    std::env::args()
        .enumerate()
        .map(|(i, a)| {
            let a = if i == 0 {
                Path::new(&a)
                    .file_name()
                    .map_or(a.clone(), |f| f.to_string_lossy().into_owned())
            } else {
                a
            };
            if a.is_empty() || a.contains(char::is_whitespace) || a.contains('"') {
                format!("'{}'", a.replace('\'', r"'\''"))
            } else {
                a
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}

fn mmm(s: &Summary, prec: usize) -> String {
    format!("{:.p$} [{:.p$}–{:.p$}]", s.median, s.min, s.max, p = prec)
}

fn pct(s: &Summary) -> String {
    let o = |r: f64| (1.0 - r) * 100.0;
    // Overhead is 1 - ratio: the largest overhead comes from the smallest ratio.
    format!("{:+.1}% [{:+.1}…{:+.1}]", o(s.median), o(s.max), o(s.min))
}

/// CPU-time overhead from a ratio of CPU seconds (variant / plain).
fn cpu_pct(s: &Summary) -> String {
    let o = |r: f64| (r - 1.0) * 100.0;
    format!("{:+.1}% [{:+.1}…{:+.1}]", o(s.median), o(s.min), o(s.max))
}

/// The human report: Markdown tables (readable in a terminal, pasteable into BENCHMARKS.md).
fn table(r: &Report<'_>) -> String {
    let mut s = String::new();
    let m = &r.machine;
    let load = |l: Option<[f64; 3]>| {
        l.map_or("?".into(), |l| {
            format!("{:.2} / {:.2} / {:.2}", l[0], l[1], l[2])
        })
    };
    let _ = writeln!(s, "# swift-bon bench\n");
    let _ = writeln!(s, "- command: `{}`", r.command);
    let _ = writeln!(s, "- version: {}", r.version);
    let _ = writeln!(
        s,
        "- machine: {}, {} logical CPUs ({} cores), {:.1} GiB RAM, {} (kernel {})",
        m.cpu_model.as_deref().unwrap_or("unknown CPU"),
        m.logical_cpus,
        m.physical_cores.map_or("?".into(), |c| c.to_string()),
        m.mem_total_mib.unwrap_or(f64::NAN) / 1024.0,
        m.os,
        m.kernel.as_deref().unwrap_or("?")
    );
    let _ = writeln!(
        s,
        "- load average (1/5/15 min): {} before, {} after",
        load(r.load_before),
        load(r.load_after)
    );
    let _ = writeln!(
        s,
        "- model: {} ({}, {} layers, n_embd {}, vocab {})",
        r.model
            .path
            .file_name()
            .map_or("?".into(), |f| f.to_string_lossy()),
        r.model.architecture,
        r.model.n_layer,
        r.model.n_embd,
        r.model.n_vocab
    );
    let c = r.config;
    let _ = writeln!(
        s,
        "- prompt: {} tokens ({} template); max {} tokens per candidate; temperature {}, top-k {}, top-p {}, seed {}; threads {}",
        r.prompt_tokens,
        r.template,
        c.max_tokens,
        c.temperature,
        c.top_k,
        c.top_p,
        c.seed,
        c.threads.map_or("all".into(), |t| t.to_string())
    );
    let _ = writeln!(
        s,
        "- {} runs per variant, interleaved, variant order rotated every run; values are median [min–max]",
        c.runs
    );
    let _ = writeln!(
        s,
        "- scoring head: states `{}`; {}\n",
        c.head_states, r.head_note
    );

    let _ = writeln!(
        s,
        "## Decode throughput (generated tokens/s of the generation steps)\n"
    );
    let _ = writeln!(
        s,
        "Overhead = 1 − (variant tok/s ÷ plain tok/s of the same run), median [range]. Capture variants feed each candidate's last token once more to cover it (fed tokens).\n"
    );
    let _ = writeln!(
        s,
        "| N | variant | tok/s | overhead vs plain | wall s | CPU s | CPU overhead | generated / fed tokens |"
    );
    let _ = writeln!(s, "| ---: | --- | --- | --- | --- | --- | --- | --- |");
    for d in &r.decode {
        for v in d.variants.iter().filter(|v| {
            matches!(
                v.variant,
                Variant::Plain
                    | Variant::CaptureAll
                    | Variant::CaptureLast4
                    | Variant::CaptureScore
                    | Variant::CaptureAllLayerInput
                    | Variant::CaptureLast4LayerInput
                    | Variant::CaptureScoreLayerInput
            )
        }) {
            let (overhead, cpu_overhead) = if v.variant == Variant::Plain {
                ("—".to_string(), "—".to_string())
            } else {
                (pct(&v.ratio_to_plain), cpu_pct(&v.cpu_ratio_to_plain))
            };
            let _ = writeln!(
                s,
                "| {} | {} | {} | {} | {} | {} | {} | {} / {} |",
                d.n,
                v.variant.name(),
                mmm(&v.tokens_per_s, 1),
                overhead,
                mmm(&v.wall_s, 2),
                mmm(&v.cpu_s, 2),
                cpu_overhead,
                v.generated_tokens,
                v.fed_tokens
            );
        }
    }
    let _ = writeln!(s);
    for d in &r.decode {
        let _ = writeln!(
            s,
            "- N = {}: {} tokens generated, {}/{} candidates reached the limit, identical tokens across all variants and runs: {}",
            d.n,
            d.generated_tokens,
            d.length_finished,
            d.n,
            if d.tokens_match { "yes" } else { "NO" }
        );
    }

    if r.decode
        .iter()
        .any(|d| !d.layer_input_vs_callback.is_empty())
    {
        let _ = writeln!(
            s,
            "\n## Capture backends: layer input vs eval callback (paired per run, median [range])\n"
        );
        let _ = writeln!(
            s,
            "`capture_*` variants use the eval callback, `capture_*_li` the layer-input outputs. Ratio above 1: layer input is faster.\n"
        );
        let _ = writeln!(
            s,
            "| N | capture | decode tok/s ratio (li ÷ callback) | wall speed-up | CPU-time speed-up | scores bit-identical |"
        );
        let _ = writeln!(s, "| ---: | --- | --- | --- | --- | --- |");
        for d in &r.decode {
            for c in &d.layer_input_vs_callback {
                let _ = writeln!(
                    s,
                    "| {} | {} | {}x | {}x | {}x | {} |",
                    d.n,
                    c.variant.name(),
                    mmm(&c.tps_ratio, 3),
                    mmm(&c.wall_speedup, 3),
                    mmm(&c.cpu_speedup, 3),
                    match c.scores_identical {
                        Some(true) => "yes",
                        Some(false) => "NO",
                        None => "—",
                    }
                );
            }
        }
    }
    if r.decode.iter().any(|d| d.batch_vs_sequential.is_some()) {
        let _ = writeln!(
            s,
            "\n## N candidates in one batch vs one after another (end-to-end wall s, no capture)\n"
        );
        let _ = writeln!(
            s,
            "| N | one batch | sequential | speed-up | CPU-time speed-up | decode tok/s, batch | decode tok/s, sequential |"
        );
        let _ = writeln!(s, "| ---: | --- | --- | --- | --- | --- | --- |");
        for d in &r.decode {
            if let Some(c) = &d.batch_vs_sequential {
                let tps = |v: Variant| {
                    d.variants
                        .iter()
                        .find(|x| x.variant == v)
                        .map_or("?".into(), |x| mmm(&x.tokens_per_s, 1))
                };
                let _ = writeln!(
                    s,
                    "| {} | {} | {} | {}x | {}x | {} | {} |",
                    d.n,
                    mmm(&c.wall_s, 2),
                    mmm(&c.baseline_wall_s, 2),
                    mmm(&c.speedup, 2),
                    mmm(&c.cpu_speedup, 2),
                    tps(Variant::Plain),
                    tps(Variant::Sequential)
                );
            }
        }
    }
    if r.decode.iter().any(|d| d.inline_vs_two_pass.is_some()) {
        let _ = writeln!(s, "\n## Inline scoring vs generate-then-re-encode (end-to-end wall s, same N candidates)\n");
        let _ = writeln!(
            s,
            "| N | inline (capture + streaming score) | two-pass (generate, re-encode each, score) | of which re-encode + score | speed-up | CPU-time speed-up | max score diff |"
        );
        let _ = writeln!(s, "| ---: | --- | --- | --- | --- | --- | --- |");
        for d in &r.decode {
            if let Some(c) = &d.inline_vs_two_pass {
                let post = d
                    .variants
                    .iter()
                    .find(|x| x.variant == Variant::TwoPass)
                    .map_or("?".into(), |x| mmm(&x.post_s, 2));
                let _ = writeln!(
                    s,
                    "| {} | {} | {} | {} | {}x | {}x | {:.1e} |",
                    d.n,
                    mmm(&c.wall_s, 2),
                    mmm(&c.baseline_wall_s, 2),
                    post,
                    mmm(&c.speedup, 2),
                    mmm(&c.cpu_speedup, 2),
                    d.max_score_rel_diff.unwrap_or(f64::NAN)
                );
            }
        }
    }
    if r.decode.iter().any(|d| d.pruned_vs_unpruned.is_some()) {
        let _ = writeln!(
            s,
            "\n## Early pruning vs scoring every candidate to the end (end-to-end wall s, same N candidates, policy {})\n",
            r.config.prune.map(|p| p.to_string()).unwrap_or_default()
        );
        let _ = writeln!(
            s,
            "| N | pruned | unpruned | wall-time speed-up | CPU-time speed-up | tokens fed, pruned / unpruned |"
        );
        let _ = writeln!(s, "| ---: | --- | --- | --- | --- | --- |");
        for d in &r.decode {
            if let Some(c) = &d.pruned_vs_unpruned {
                let fed = |v: Variant| {
                    d.variants
                        .iter()
                        .find(|x| x.variant == v)
                        .map_or(0, |x| x.fed_tokens)
                };
                let _ = writeln!(
                    s,
                    "| {} | {} | {} | {}x | {}x | {} / {} ({:.0}%) |",
                    d.n,
                    mmm(&c.wall_s, 2),
                    mmm(&c.baseline_wall_s, 2),
                    mmm(&c.speedup, 2),
                    mmm(&c.cpu_speedup, 2),
                    fed(Variant::CapturePrune),
                    fed(Variant::CaptureScore),
                    100.0 * fed(Variant::CapturePrune) as f64
                        / fed(Variant::CaptureScore).max(1) as f64
                );
            }
        }
    }
    if let Some(h) = &r.head {
        let _ = writeln!(s, "\n## The head alone ({})\n", h.note);
        let _ = writeln!(
            s,
            "| states | norm | F | parameters | ns per token | µs per candidate ({} tokens) |",
            h.scoring.first().map_or(0, |x| x.tokens_per_candidate)
        );
        let _ = writeln!(s, "| --- | --- | ---: | ---: | --- | --- |");
        for x in &h.scoring {
            let _ = writeln!(
                s,
                "| {} | {} | {} | {} | {} | {} |",
                x.states,
                x.norm,
                x.width,
                x.params,
                mmm(&x.ns_per_token, 0),
                mmm(&x.us_per_candidate, 1)
            );
        }
        let t = &h.training;
        let _ = writeln!(
            s,
            "\nTraining (`train::train`, defaults, early stopping off): {} problems x 8 = {} synthetic candidates x {} tokens = {} rows of F = {} (states {}, {:.0} MiB f32), {} epochs: {:.2} s ({:.3} s per epoch), validation AUC {:.3}.",
            t.problems,
            t.candidates,
            t.tokens_per_candidate,
            t.rows,
            t.width,
            t.states,
            t.data_mib,
            t.epochs,
            t.seconds,
            t.seconds_per_epoch,
            t.val_auc.unwrap_or(f64::NAN)
        );
    }
    if let Some(mem) = &r.memory {
        let _ = writeln!(
            s,
            "\n## Peak RSS of ask-style inference, N = {}, {} tokens, states `{}` (one child process per way)\n",
            mem.n, mem.max_tokens, mem.head_states
        );
        let _ = writeln!(
            s,
            "| way | peak RSS MiB | after model load MiB | vs plain MiB | stored floats |"
        );
        let _ = writeln!(s, "| --- | --- | --- | --- | ---: |");
        let plain = mem
            .variants
            .iter()
            .find(|v| v.variant == RssVariant::Plain)
            .map(|v| v.peak_rss_mib.median);
        for v in &mem.variants {
            let d = plain.map_or("?".into(), |p| format!("{:+.1}", v.peak_rss_mib.median - p));
            let _ = writeln!(
                s,
                "| {} | {} | {} | {} | {} |",
                v.variant,
                mmm(&v.peak_rss_mib, 1),
                mmm(&v.after_load_mib, 1),
                d,
                v.stored_floats
            );
        }
    }
    if !r.targets.is_empty() {
        let _ = writeln!(s, "\n## Targets\n");
        let _ = writeln!(s, "| goal | measured | threshold | met |");
        let _ = writeln!(s, "| --- | ---: | ---: | --- |");
        for t in &r.targets {
            let _ = writeln!(
                s,
                "| {} | {:.2} | {:.2} | {} |",
                t.goal,
                t.measured,
                t.threshold,
                if t.met { "yes" } else { "NO" }
            );
        }
    }
    s
}
