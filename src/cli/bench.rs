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
    model_identity, run_decode_models, targets, BenchModel, DecodeConfig, DecodeEvent,
    DecodeReport, Summary, Target, Variant, SCHEMA,
};
use swift_bon::engine::{ChatMessage, Engine, GenerateOptions, ModelInfo, TemplateChoice};
use swift_bon::features::StateSpec;
use swift_bon::head::Normalization;
use swift_bon::weights::WeightFormat;

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
    /// Benchmark the known model in each of these weight formats side by side in one run
    /// (e.g. `original,q8_0,q4_0`; converted on first use). The first is the reference of the
    /// format comparison and the model of the memory and head sections.
    #[arg(long, value_delimiter = ',', value_name = "FORMATS")]
    pub compare_weights: Vec<WeightFormat>,
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
    /// Weight format of `model` when it is a known model.
    weights: Option<WeightFormat>,
    prompt_tokens: usize,
    template: String,
    config: &'a DecodeConfig,
    head_note: &'static str,
    decode: Vec<DecodeReport>,
    head: Option<HeadOut>,
    memory: Option<MemoryReport>,
    targets: Vec<Target>,
    /// With `--compare-weights`: the other formats, measured in the same runs.
    compared: Vec<ComparedOut<'a>>,
    /// With `--compare-weights`: every format against the first, at each N.
    formats: Vec<FormatRow>,
}

#[derive(Serialize)]
struct ComparedOut<'a> {
    weights: WeightFormat,
    model: ModelOut<'a>,
    decode: Vec<DecodeReport>,
    targets: Vec<Target>,
}

/// One weight format at one N, against the first format of the same runs.
#[derive(Serialize)]
struct FormatRow {
    n: usize,
    weights: WeightFormat,
    file_size: u64,
    plain_tokens_per_s: Summary,
    capture_score_tokens_per_s: Option<Summary>,
    /// Per-run plain tok/s ÷ the first format's plain tok/s of the same run.
    plain_vs_first: Summary,
    /// Per-run capture + score tok/s ÷ the first format's of the same run.
    capture_score_vs_first: Option<Summary>,
    batch_vs_sequential: Option<Summary>,
}

fn variant(d: &DecodeReport, v: Variant) -> Option<&swift_bon::bench::VariantReport> {
    d.variants.iter().find(|x| x.variant == v)
}

fn paired(a: &Summary, b: &Summary) -> Summary {
    Summary::of(a.values.iter().zip(&b.values).map(|(x, y)| x / y).collect())
}

fn format_rows(sets: &[(WeightFormat, u64, &[DecodeReport])]) -> Vec<FormatRow> {
    let Some((_, _, first)) = sets.first() else {
        return Vec::new();
    };
    let mut rows = Vec::new();
    for (i, d0) in first.iter().enumerate() {
        for (w, size, reports) in sets {
            let Some(d) = reports.get(i) else { continue };
            let (Some(p), Some(p0)) = (variant(d, Variant::Plain), variant(d0, Variant::Plain))
            else {
                continue;
            };
            let cs = variant(d, Variant::CaptureScore);
            let cs0 = variant(d0, Variant::CaptureScore);
            rows.push(FormatRow {
                n: d.n,
                weights: *w,
                file_size: *size,
                plain_tokens_per_s: p.tokens_per_s.clone(),
                capture_score_tokens_per_s: cs.map(|c| c.tokens_per_s.clone()),
                plain_vs_first: paired(&p.tokens_per_s, &p0.tokens_per_s),
                capture_score_vs_first: cs
                    .zip(cs0)
                    .map(|(c, c0)| paired(&c.tokens_per_s, &c0.tokens_per_s)),
                batch_vs_sequential: d.batch_vs_sequential.as_ref().map(|c| c.speedup.clone()),
            });
        }
    }
    rows
}

/// The issue-16 targets of a format against the first: N = 8 plain throughput at least 1.5x.
fn format_targets(rows: &[FormatRow], first: WeightFormat) -> Vec<Target> {
    rows.iter()
        .filter(|r| r.n == 8 && r.weights != first)
        .map(|r| Target {
            id: format!("plain_n8_vs_{first}_{}", r.weights),
            goal: format!(
                "{}: N = 8 plain throughput at least 1.5x that of {first} (paired per run)",
                r.weights
            ),
            measured: r.plain_vs_first.median,
            threshold: 1.5,
            met: r.plain_vs_first.median >= 1.5,
        })
        .collect()
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
    // (format, path) of every model measured; the first is the main one.
    let known = args.model.known()?;
    let mut paths: Vec<(Option<WeightFormat>, std::path::PathBuf)> = Vec::new();
    if args.compare_weights.is_empty() {
        paths.push((
            known.map(|k| {
                args.model
                    .weights
                    .unwrap_or_else(|| swift_bon::weights::default_format(k))
            }),
            args.model.resolve(global)?,
        ));
    } else {
        let k = known.ok_or_else(|| {
            super::common::UsageError(
                "--compare-weights needs a known model (-m smollm2-135m or gemma3-270m)".into(),
            )
        })?;
        for &w in &args.compare_weights {
            paths.push((Some(w), args.model.resolve_known(global, k, w)?));
        }
    }
    let engines = paths
        .iter()
        .map(|(_, p)| load_engine(p))
        .collect::<anyhow::Result<Vec<_>>>()?;
    let prompts = engines
        .iter()
        .map(|e| {
            e.feature_layout(&swift_bon::engine::FeatureRequest::Hidden(
                args.head_layers.clone(),
            ))?;
            render(e, &args.prompt, &args.template)
        })
        .collect::<anyhow::Result<Vec<_>>>()?;
    let path = paths[0].1.clone();
    let engine = &engines[0];
    let prompt = prompts[0].clone();
    let prompt_tokens = engine.tokenize(&prompt)?.len();
    let head = match &args.head {
        Some(p) => Some(super::common::load_head_for(p, engine, false)?),
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
        layer_input: !args.no_layer_input && engines.iter().all(|e| e.supports_layer_input()),
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
    let bench_models: Vec<BenchModel<'_>> = engines
        .iter()
        .zip(&prompts)
        .map(|(engine, prompt)| BenchModel { engine, prompt })
        .collect();
    let label = |k: usize| {
        paths[k]
            .0
            .filter(|_| paths.len() > 1)
            .map_or(String::new(), |w| format!("{:<9}", w.name()))
    };
    let mut decodes = run_decode_models(&bench_models, &cfg, &mut |ev| match ev {
        DecodeEvent::WarmUp => say("warming up"),
        DecodeEvent::Measured {
            model,
            run,
            runs,
            n,
            m,
        } => say(&format!(
            "run {run}/{runs} N={n:<2} {}{:<13} {:>7.1} tok/s  wall {:>6.2} s",
            label(model),
            m.variant.name(),
            m.tokens_per_s(),
            m.wall_s
        )),
    })
    .context("decode benchmarks")?
    .into_iter();
    let decode = decodes.next().unwrap_or_default();
    let others: Vec<Vec<DecodeReport>> = decodes.collect();

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

    let mut targets = targets(&decode, memory.as_ref());
    let mut formats = Vec::new();
    let mut compared = Vec::new();
    if let Some(first) = paths[0].0.filter(|_| paths.len() > 1) {
        let mut sets: Vec<(WeightFormat, u64, &[DecodeReport])> =
            vec![(first, engine.info().file_size, &decode)];
        for (k, d) in others.iter().enumerate() {
            if let Some(w) = paths[k + 1].0 {
                sets.push((w, engines[k + 1].info().file_size, d));
            }
        }
        formats = format_rows(&sets);
        let label = |w: WeightFormat, ts: Vec<Target>| {
            ts.into_iter().map(move |t| Target {
                id: format!("{w}_{}", t.id),
                goal: format!("{w}: {}", t.goal),
                ..t
            })
        };
        targets = label(first, targets).collect();
        for (k, d) in others.into_iter().enumerate() {
            let w = paths[k + 1].0.unwrap_or(WeightFormat::Original);
            let ts = swift_bon::bench::targets(&d, None);
            targets.extend(label(w, ts.clone()));
            compared.push(ComparedOut {
                weights: w,
                model: ModelOut::of(engines[k + 1].info()),
                targets: ts,
                decode: d,
            });
        }
        targets.extend(format_targets(&formats, first));
    }
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
        weights: paths[0].0,
        prompt_tokens,
        template: engine.describe_template(&args.template),
        config: &cfg,
        head_note: HEAD_NOTE,
        decode,
        head,
        memory,
        targets,
        compared,
        formats,
    };
    if let Some(p) = &args.save_json {
        let text = serde_json::to_string_pretty(&report)?;
        std::fs::write(p, text + "\n").with_context(|| format!("writing {}", p.display()))?;
    }
    if args.json {
        return print_json(&report);
    }
    out!("{}", table(&report))?;
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

/// The decode, batch-vs-sequential and inline-vs-two-pass tables of one model.
fn decode_tables(s: &mut String, decode: &[DecodeReport], title: &str) {
    let _ = writeln!(
        s,
        "## Decode throughput{title} (generated tokens/s of the generation steps)\n"
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
    for d in decode {
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
    for d in decode {
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

    if decode.iter().any(|d| !d.layer_input_vs_callback.is_empty()) {
        let _ = writeln!(
            s,
            "\n## Capture backends{title}: layer input vs eval callback (paired per run, median [range])\n"
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
        for d in decode {
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
    if decode.iter().any(|d| d.batch_vs_sequential.is_some()) {
        let _ = writeln!(
            s,
            "\n## N candidates in one batch vs one after another{title} (end-to-end wall s, no capture)\n"
        );
        let _ = writeln!(
            s,
            "| N | one batch | sequential | speed-up | CPU-time speed-up | decode tok/s, batch | decode tok/s, sequential |"
        );
        let _ = writeln!(s, "| ---: | --- | --- | --- | --- | --- | --- |");
        for d in decode {
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
    if decode.iter().any(|d| d.inline_vs_two_pass.is_some()) {
        let _ = writeln!(s, "\n## Inline scoring vs generate-then-re-encode{title} (end-to-end wall s, same N candidates)\n");
        let _ = writeln!(
            s,
            "| N | inline (capture + streaming score) | two-pass (generate, re-encode each, score) | of which re-encode + score | speed-up | CPU-time speed-up | max score diff |"
        );
        let _ = writeln!(s, "| ---: | --- | --- | --- | --- | --- | --- |");
        for d in decode {
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
}

/// Every weight format side by side, against the first (ratios paired within each run).
fn format_table(s: &mut String, rows: &[FormatRow]) {
    let first = rows.first().map_or("?".into(), |r| r.weights.to_string());
    let _ = writeln!(
        s,
        "## Weight formats side by side (measured in the same runs; ratios paired per run against {first})\n"
    );
    let _ = writeln!(
        s,
        "| N | weights | file MB | plain tok/s | vs {first} | capture + score tok/s | vs {first} | batch ÷ sequential |"
    );
    let _ = writeln!(s, "| ---: | --- | ---: | --- | --- | --- | --- | --- |");
    for r in rows {
        let _ = writeln!(
            s,
            "| {} | {} | {:.1} | {} | {}x | {} | {} | {} |",
            r.n,
            r.weights,
            r.file_size as f64 / 1e6,
            mmm(&r.plain_tokens_per_s, 1),
            mmm(&r.plain_vs_first, 2),
            r.capture_score_tokens_per_s
                .as_ref()
                .map_or("—".into(), |x| mmm(x, 1)),
            r.capture_score_vs_first
                .as_ref()
                .map_or("—".into(), |x| format!("{}x", mmm(x, 2))),
            r.batch_vs_sequential
                .as_ref()
                .map_or("—".into(), |x| format!("{}x", mmm(x, 2))),
        );
    }
    let _ = writeln!(s);
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

    let main_title = r
        .weights
        .filter(|_| !r.compared.is_empty())
        .map_or(String::new(), |w| format!(", {w}"));
    if !r.formats.is_empty() {
        format_table(&mut s, &r.formats);
    }
    decode_tables(&mut s, &r.decode, &main_title);
    for c in &r.compared {
        let _ = writeln!(s);
        decode_tables(&mut s, &c.decode, &format!(", {}", c.weights));
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

#[cfg(test)]
mod tests {
    use super::*;
    use swift_bon::bench::VariantReport;

    fn report(n: usize, plain: Vec<f64>) -> DecodeReport {
        let s = Summary::of(plain);
        DecodeReport {
            n,
            generated_tokens: 0,
            length_finished: 0,
            tokens_match: true,
            variants: vec![VariantReport {
                variant: Variant::Plain,
                tokens_per_s: s.clone(),
                ratio_to_plain: s.clone(),
                cpu_ratio_to_plain: s.clone(),
                wall_s: s.clone(),
                cpu_s: s.clone(),
                post_s: s,
                generated_tokens: 0,
                fed_tokens: 0,
            }],
            batch_vs_sequential: None,
            inline_vs_two_pass: None,
            pruned_vs_unpruned: None,
            max_score_rel_diff: None,
            layer_input_vs_callback: Vec::new(),
        }
    }

    #[test]
    fn formats_are_paired_per_run_against_the_first() {
        let a = [report(8, vec![100.0, 200.0, 150.0])];
        let b = [report(8, vec![160.0, 300.0, 300.0])];
        let rows = format_rows(&[
            (WeightFormat::Original, 1, &a[..]),
            (WeightFormat::Q8_0, 2, &b[..]),
        ]);
        assert_eq!(rows.len(), 2);
        assert_eq!(rows[0].plain_vs_first.values, vec![1.0, 1.0, 1.0]);
        // Per-run ratios 1.6, 1.5, 2.0: median 1.6, not the ratio of medians (200 / 150).
        assert_eq!(rows[1].plain_vs_first.values, vec![1.6, 1.5, 2.0]);
        assert_eq!(rows[1].plain_vs_first.median, 1.6);
        let t = format_targets(&rows, WeightFormat::Original);
        assert_eq!(t.len(), 1);
        assert!(t[0].met && t[0].id == "plain_n8_vs_original_q8_0");
    }
}
