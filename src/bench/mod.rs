//! Benchmarks of inline SWIFT: what capturing hidden states and scoring them during decoding
//! costs, measured side by side with the alternatives (issue 7).
//!
//! - [`run_decode`]: for each N, every [`Variant`] (plain batched decode, capture of all
//!   states, of the last 4, capture + streaming scoring, N sequential generations, and the
//!   reference generate-then-re-encode two-pass scoring) is run `runs` times, interleaved, with
//!   the variant order rotated every run so that machine drift spreads over all variants. Every
//!   variant uses the same prompt, seeds and token limit, so they generate the same tokens
//!   (checked). Ratios are paired within a run before taking medians.
//! - [`headcost`]: the head alone (pure Rust): scoring time per token and per candidate, and
//!   training time on synthetic candidates.
//! - [`rss`]: one variant of `ask`-style inference in this process, reporting its peak RSS;
//!   the CLI runs it in a child process per variant so each peak is isolated.
//! - [`system`]: machine description and `/proc` readings.
//!
//! Benchmarks report; they never assert speed.

pub mod decode;
pub mod headcost;
pub mod rss;
pub mod system;

use serde::Serialize;

pub use decode::{run_variant, Measurement, RunSetup, Variant};

use crate::engine::{Engine, EngineError, GenerateOptions, ModelInfo};
use crate::features::{StateSpec, StateSpecError};
use crate::head::{HeadError, ModelIdentity, Normalization};
use crate::train::TrainError;

/// Version of the JSON report's shape.
pub const SCHEMA: &str = "swift-bon-bench/1";

/// Errors of a benchmark.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BenchError {
    /// The engine failed.
    #[error(transparent)]
    Engine(#[from] EngineError),
    /// The head failed.
    #[error(transparent)]
    Head(#[from] HeadError),
    /// A layer specification does not fit the model.
    #[error(transparent)]
    States(#[from] StateSpecError),
    /// Training failed.
    #[error(transparent)]
    Train(#[from] TrainError),
    /// A configuration value is out of range.
    #[error("invalid benchmark option {name}: {reason}")]
    Config {
        /// Option.
        name: &'static str,
        /// What is wrong.
        reason: String,
    },
}

/// Median, minimum and maximum of repeated measurements, with the values themselves.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Summary {
    /// Median (mean of the middle two for an even count).
    pub median: f64,
    /// Smallest value.
    pub min: f64,
    /// Largest value.
    pub max: f64,
    /// Every value, in run order.
    pub values: Vec<f64>,
}

impl Summary {
    /// Summarises `values` (NaN everywhere when empty).
    pub fn of(values: Vec<f64>) -> Self {
        let mut sorted = values.clone();
        sorted.sort_by(f64::total_cmp);
        let n = sorted.len();
        let median = match n {
            0 => f64::NAN,
            _ if n % 2 == 1 => sorted[n / 2],
            _ => (sorted[n / 2 - 1] + sorted[n / 2]) / 2.0,
        };
        Self {
            median,
            min: sorted.first().copied().unwrap_or(f64::NAN),
            max: sorted.last().copied().unwrap_or(f64::NAN),
            values,
        }
    }
}

/// The model's identity as a head records it.
pub fn model_identity(info: &ModelInfo) -> ModelIdentity {
    ModelIdentity {
        architecture: info.architecture.clone(),
        n_layer: info.n_layer,
        n_embd: info.n_embd,
        n_vocab: info.n_vocab,
        fingerprint: info.fingerprint.clone(),
    }
}

/// What to run in [`run_decode`].
#[derive(Debug, Clone, Serialize)]
pub struct DecodeConfig {
    /// Candidate counts.
    pub ns: Vec<usize>,
    /// Token limit per candidate.
    pub max_tokens: usize,
    /// Runs per variant.
    pub runs: usize,
    /// Base seed.
    pub seed: u64,
    /// Sampling temperature.
    pub temperature: f32,
    /// Top-k.
    pub top_k: i32,
    /// Top-p.
    pub top_p: f32,
    /// CPU threads (`None`: all cores).
    pub threads: Option<i32>,
    /// States of the random head used by the scoring variants.
    pub head_states: StateSpec,
    /// Include the sequential variant (for N > 1).
    pub sequential: bool,
    /// Include the two-pass variant.
    pub two_pass: bool,
    /// Include capture + score + early pruning with this policy.
    pub prune: Option<crate::prune::PrunePolicy>,
    /// Also measure the capture variants through the layer-input backend (only for models
    /// whose architecture supports it), side by side with the eval callback.
    pub layer_input: bool,
    /// The head of the scoring variants (default: a random head on `head_states`); its states
    /// must be `head_states`.
    #[serde(skip)]
    pub head: Option<crate::head::Head>,
}

impl DecodeConfig {
    /// Options of the batched generation of `n` candidates.
    pub fn options(&self, n: usize) -> GenerateOptions {
        let mut o = GenerateOptions::new(n)
            .with_max_tokens(self.max_tokens)
            .with_temperature(self.temperature)
            .with_top_k(self.top_k)
            .with_top_p(self.top_p)
            .with_seed(self.seed);
        if let Some(t) = self.threads {
            o = o.with_threads(t);
        }
        o
    }

    /// Variants measured at `n`, in their base order (rotated per run).
    pub fn variants(&self, n: usize) -> Vec<Variant> {
        let mut v = vec![
            Variant::Plain,
            Variant::CaptureAll,
            Variant::CaptureLast4,
            Variant::CaptureScore,
        ];
        if self.layer_input {
            v.extend([
                Variant::CaptureAllLayerInput,
                Variant::CaptureLast4LayerInput,
                Variant::CaptureScoreLayerInput,
            ]);
        }
        if self.sequential && n > 1 {
            v.push(Variant::Sequential);
        }
        if self.two_pass {
            v.push(Variant::TwoPass);
        }
        if self.prune.is_some() && n > 1 {
            v.push(Variant::CapturePrune);
        }
        v
    }

    fn validate(&self) -> Result<(), BenchError> {
        let bad = |name, reason: &str| {
            Err(BenchError::Config {
                name,
                reason: reason.to_string(),
            })
        };
        if self.ns.is_empty() || self.ns.contains(&0) {
            return bad("n", "give one or more candidate counts, each at least 1");
        }
        if self.runs == 0 {
            return bad("runs", "must be at least 1");
        }
        if self.max_tokens == 0 {
            return bad("max_tokens", "must be at least 1");
        }
        Ok(())
    }
}

/// One variant at one N over all runs.
#[derive(Debug, Clone, Serialize)]
pub struct VariantReport {
    /// The variant.
    pub variant: Variant,
    /// Generated tokens per second of generation steps (summed over the N generations for
    /// `sequential`; the generation pass only for `two_pass`).
    pub tokens_per_s: Summary,
    /// Per-run `tokens_per_s / plain tokens_per_s` of the same run.
    pub ratio_to_plain: Summary,
    /// Per-run `cpu_s / plain cpu_s` of the same run (end to end): the cost in CPU time, which
    /// other processes on the machine disturb far less than wall time when one thread decodes.
    pub cpu_ratio_to_plain: Summary,
    /// End-to-end wall seconds (context, prompt, generation, scoring / re-encoding).
    pub wall_s: Summary,
    /// CPU seconds of the process over the same span as `wall_s` (all threads; includes
    /// llama.cpp's worker threads spinning while they wait).
    pub cpu_s: Summary,
    /// Seconds after generation (the re-encodes and scoring of `two_pass`; 0 otherwise).
    pub post_s: Summary,
    /// Tokens generated (first run).
    pub generated_tokens: usize,
    /// Tokens fed after the prompt (first run).
    pub fed_tokens: usize,
}

/// A speed-up of one end-to-end way over another at the same N, paired per run.
#[derive(Debug, Clone, Serialize)]
pub struct Comparison {
    /// Wall seconds of the faster-intended way.
    pub wall_s: Summary,
    /// Wall seconds of the baseline.
    pub baseline_wall_s: Summary,
    /// Per-run `baseline / wall`.
    pub speedup: Summary,
    /// Per-run `baseline CPU s / CPU s`.
    pub cpu_speedup: Summary,
}

/// Everything measured at one N.
#[derive(Debug, Clone, Serialize)]
pub struct DecodeReport {
    /// Candidates.
    pub n: usize,
    /// Tokens generated by every variant (plain, first run).
    pub generated_tokens: usize,
    /// Candidates that reached the token limit (the others produced end-of-generation).
    pub length_finished: usize,
    /// Whether every variant in every run generated exactly the tokens of the first plain run.
    pub tokens_match: bool,
    /// Per variant.
    pub variants: Vec<VariantReport>,
    /// One batch of N (`plain`) against N generations one after another (`sequential`).
    pub batch_vs_sequential: Option<Comparison>,
    /// Inline scoring (`capture_score`) against generate-then-re-encode (`two_pass`).
    pub inline_vs_two_pass: Option<Comparison>,
    /// Scoring with early pruning (`capture_prune`) against scoring every candidate to the end
    /// (`capture_score`): the wall time pruning saves.
    pub pruned_vs_unpruned: Option<Comparison>,
    /// Largest `|inline - two_pass| / (1 + |two_pass|)` over the SWIFT scores of all candidates
    /// and runs: inline capture and the re-encode must agree.
    pub max_score_rel_diff: Option<f64>,
    /// Layer-input backend against the eval callback, per capture variant (empty when the
    /// layer-input variants were not run).
    pub layer_input_vs_callback: Vec<BackendComparison>,
}

/// One capture variant through the layer-input backend against the same through the eval
/// callback, paired run by run.
#[derive(Debug, Clone, Serialize)]
pub struct BackendComparison {
    /// The callback variant (`capture_all`, `capture_last4`, `capture_score`).
    pub variant: Variant,
    /// Decode tokens/s of layer input ÷ callback (above 1: layer input is faster).
    pub tps_ratio: Summary,
    /// Wall time of the callback ÷ layer input.
    pub wall_speedup: Summary,
    /// CPU time of the callback ÷ layer input.
    pub cpu_speedup: Summary,
    /// For the scoring variant: the SWIFT scores of the two backends are bit-identical in every
    /// run.
    pub scores_identical: Option<bool>,
}

/// Progress of [`run_decode`].
#[derive(Debug, Clone, Copy)]
pub enum DecodeEvent<'a> {
    /// Warm-up generations are running.
    WarmUp,
    /// A variant finished one run.
    Measured {
        /// Index of the model in [`run_decode_models`] (0 for [`run_decode`]).
        model: usize,
        /// Run, from 1.
        run: usize,
        /// Runs in all.
        runs: usize,
        /// N.
        n: usize,
        /// The measurement.
        m: &'a Measurement,
    },
}

/// Runs the decode benchmarks (see the module documentation).
pub fn run_decode(
    engine: &Engine,
    prompt: &str,
    cfg: &DecodeConfig,
    progress: &mut dyn FnMut(DecodeEvent<'_>),
) -> Result<Vec<DecodeReport>, BenchError> {
    let mut all = run_decode_models(&[BenchModel { engine, prompt }], cfg, progress)?;
    Ok(all.pop().unwrap_or_default())
}

/// One model of [`run_decode_models`] with its rendered prompt.
#[derive(Debug, Clone, Copy)]
pub struct BenchModel<'a> {
    /// The loaded model.
    pub engine: &'a Engine,
    /// Its prompt text (each model renders the same message with its own template).
    pub prompt: &'a str,
}

/// [`run_decode`] for several models side by side (e.g. one model in several weight formats):
/// within each run and N, the models take turns (their order rotated every run) and each runs
/// its variants (rotated too), so machine drift spreads over models as well as variants.
/// Returns one report list per model, in the order given.
pub fn run_decode_models(
    models: &[BenchModel<'_>],
    cfg: &DecodeConfig,
    progress: &mut dyn FnMut(DecodeEvent<'_>),
) -> Result<Vec<Vec<DecodeReport>>, BenchError> {
    cfg.validate()?;
    if models.is_empty() {
        return Err(BenchError::Config {
            name: "models",
            reason: "give at least one model".into(),
        });
    }
    struct Prepared<'a> {
        engine: &'a Engine,
        prompt: &'a str,
        prompt_ids: Vec<i32>,
        head: crate::head::Head,
    }
    let prepared = models
        .iter()
        .map(|m| {
            let model = model_identity(m.engine.info());
            Ok(Prepared {
                engine: m.engine,
                prompt: m.prompt,
                prompt_ids: m.engine.tokenize(m.prompt)?,
                head: match &cfg.head {
                    Some(h) => h.clone(),
                    None => headcost::random_head(
                        &model,
                        &cfg.head_states,
                        Normalization::None,
                        cfg.seed,
                    )?,
                },
            })
        })
        .collect::<Result<Vec<_>, BenchError>>()?;

    // Warm-up: page the models in, let the CPU settle; untimed.
    progress(DecodeEvent::WarmUp);
    let n_max = cfg.ns.iter().copied().max().unwrap_or(1);
    let warm = cfg.options(n_max).with_max_tokens(cfg.max_tokens.min(16));
    let mut warm_variants = vec![Variant::Plain, Variant::CaptureScore];
    if cfg.layer_input {
        // Also runs the one-time layer-input probe outside the timed runs.
        warm_variants.push(Variant::CaptureScoreLayerInput);
    }
    for p in &prepared {
        for &v in &warm_variants {
            let setup = RunSetup {
                engine: p.engine,
                prompt: p.prompt,
                prompt_ids: &p.prompt_ids,
                opts: &warm,
                head: &p.head,
                head_states: &cfg.head_states,
                prune: cfg.prune.as_ref(),
            };
            run_variant(&setup, v)?;
        }
    }

    // all[model][i][run] = measurements of ns[i] in that run, in base variant order.
    let mut all: Vec<Vec<Vec<Vec<Measurement>>>> =
        vec![vec![Vec::new(); cfg.ns.len()]; prepared.len()];
    for run in 0..cfg.runs {
        for (i, &n) in cfg.ns.iter().enumerate() {
            let opts = cfg.options(n);
            let mut model_order: Vec<usize> = (0..prepared.len()).collect();
            model_order.rotate_left(run % prepared.len());
            for &k in &model_order {
                let p = &prepared[k];
                let setup = RunSetup {
                    engine: p.engine,
                    prompt: p.prompt,
                    prompt_ids: &p.prompt_ids,
                    opts: &opts,
                    head: &p.head,
                    head_states: &cfg.head_states,
                    prune: cfg.prune.as_ref(),
                };
                let base = cfg.variants(n);
                let mut order = base.clone();
                order.rotate_left(run % base.len());
                let mut got = Vec::with_capacity(base.len());
                for &v in &order {
                    let m = run_variant(&setup, v)?;
                    progress(DecodeEvent::Measured {
                        model: k,
                        run: run + 1,
                        runs: cfg.runs,
                        n,
                        m: &m,
                    });
                    got.push(m);
                }
                got.sort_by_key(|m| base.iter().position(|&b| b == m.variant));
                all[k][i].push(got);
            }
        }
    }
    Ok(all
        .iter()
        .map(|per_n| {
            cfg.ns
                .iter()
                .zip(per_n)
                .map(|(&n, runs)| report_n(n, &cfg.variants(n), runs))
                .collect()
        })
        .collect())
}

fn report_n(n: usize, variants: &[Variant], runs: &[Vec<Measurement>]) -> DecodeReport {
    let get = |run: &Vec<Measurement>, v: Variant| run.iter().find(|m| m.variant == v).cloned();
    let series =
        |v: Variant| -> Vec<Measurement> { runs.iter().filter_map(|r| get(r, v)).collect() };
    let plain = series(Variant::Plain);
    let reference = &plain[0];
    // Pruning cuts candidates short but never changes a token: a pruned run's candidates are
    // prefixes of the reference's.
    let tokens_match = runs.iter().flatten().all(|m| {
        if m.variant == Variant::CapturePrune {
            m.tokens.len() == reference.tokens.len()
                && m.tokens
                    .iter()
                    .zip(&reference.tokens)
                    .all(|(a, b)| b.starts_with(a))
        } else {
            m.tokens == reference.tokens
        }
    });
    let reports = variants
        .iter()
        .map(|&v| {
            let s = series(v);
            VariantReport {
                variant: v,
                tokens_per_s: Summary::of(s.iter().map(Measurement::tokens_per_s).collect()),
                ratio_to_plain: Summary::of(
                    s.iter()
                        .zip(&plain)
                        .map(|(m, p)| m.tokens_per_s() / p.tokens_per_s())
                        .collect(),
                ),
                cpu_ratio_to_plain: Summary::of(
                    s.iter()
                        .zip(&plain)
                        .map(|(m, p)| m.cpu_s / p.cpu_s)
                        .collect(),
                ),
                wall_s: Summary::of(s.iter().map(|m| m.wall_s).collect()),
                post_s: Summary::of(s.iter().map(|m| m.post_s).collect()),
                cpu_s: Summary::of(s.iter().map(|m| m.cpu_s).collect()),
                generated_tokens: s[0].generated_tokens,
                fed_tokens: s[0].fed_tokens,
            }
        })
        .collect();
    let compare = |fast: Variant, slow: Variant| -> Option<Comparison> {
        let (f, s) = (series(fast), series(slow));
        if f.is_empty() || s.is_empty() {
            return None;
        }
        Some(Comparison {
            wall_s: Summary::of(f.iter().map(|m| m.wall_s).collect()),
            baseline_wall_s: Summary::of(s.iter().map(|m| m.wall_s).collect()),
            speedup: Summary::of(f.iter().zip(&s).map(|(a, b)| b.wall_s / a.wall_s).collect()),
            cpu_speedup: Summary::of(f.iter().zip(&s).map(|(a, b)| b.cpu_s / a.cpu_s).collect()),
        })
    };
    let max_score_rel_diff = {
        let pairs: Vec<(f64, f64)> = series(Variant::CaptureScore)
            .iter()
            .zip(&series(Variant::TwoPass))
            .flat_map(|(a, b)| {
                let (a, b) = (
                    a.scores.clone().unwrap_or_default(),
                    b.scores.clone().unwrap_or_default(),
                );
                a.into_iter().zip(b).collect::<Vec<_>>()
            })
            .collect();
        (!pairs.is_empty()).then(|| {
            pairs
                .iter()
                .map(|(a, b)| (a - b).abs() / (1.0 + b.abs()))
                .fold(0.0, f64::max)
        })
    };
    let layer_input_vs_callback = [
        Variant::CaptureAll,
        Variant::CaptureLast4,
        Variant::CaptureScore,
    ]
    .into_iter()
    .filter_map(|cb| {
        let li = cb.layer_input_twin()?;
        let (a, b) = (series(li), series(cb));
        if a.is_empty() || b.is_empty() {
            return None;
        }
        let pair = |f: &dyn Fn(&Measurement, &Measurement) -> f64| {
            Summary::of(a.iter().zip(&b).map(|(x, y)| f(x, y)).collect())
        };
        Some(BackendComparison {
            variant: cb,
            tps_ratio: pair(&|x, y| x.tokens_per_s() / y.tokens_per_s()),
            wall_speedup: pair(&|x, y| y.wall_s / x.wall_s),
            cpu_speedup: pair(&|x, y| y.cpu_s / x.cpu_s),
            scores_identical: (cb == Variant::CaptureScore).then(|| {
                a.iter().zip(&b).all(|(x, y)| {
                    let bits = |m: &Measurement| {
                        m.scores
                            .iter()
                            .flatten()
                            .map(|s| s.to_bits())
                            .collect::<Vec<_>>()
                    };
                    bits(x) == bits(y)
                })
            }),
        })
    })
    .collect();
    DecodeReport {
        layer_input_vs_callback,
        n,
        generated_tokens: reference.generated_tokens,
        length_finished: reference.length_finished,
        tokens_match,
        variants: reports,
        batch_vs_sequential: compare(Variant::Plain, Variant::Sequential),
        inline_vs_two_pass: compare(Variant::CaptureScore, Variant::TwoPass),
        pruned_vs_unpruned: compare(Variant::CapturePrune, Variant::CaptureScore),
        max_score_rel_diff,
    }
}

/// A performance goal and whether the run met it.
#[derive(Debug, Clone, Serialize)]
pub struct Target {
    /// Stable identifier.
    pub id: String,
    /// The goal in words.
    pub goal: String,
    /// The measured value.
    pub measured: f64,
    /// The threshold.
    pub threshold: f64,
    /// Whether the measured value meets the threshold.
    pub met: bool,
}

/// The targets, evaluated on the measured reports.
pub fn targets(decode: &[DecodeReport], memory: Option<&rss::MemoryReport>) -> Vec<Target> {
    let mut out = Vec::new();
    for d in decode {
        if let Some(v) = d
            .variants
            .iter()
            .find(|v| v.variant == Variant::CaptureScore)
        {
            let overhead = (1.0 - v.ratio_to_plain.median) * 100.0;
            out.push(Target {
                id: format!("capture_score_overhead_pct_n{}", d.n),
                goal: format!(
                    "N = {}: capture + streaming scoring costs at most 3% of plain decode throughput (median paired ratio)",
                    d.n
                ),
                measured: overhead,
                threshold: 3.0,
                met: overhead <= 3.0,
            });
        }
    }
    if let Some(c) = decode
        .iter()
        .find(|d| d.n == 8)
        .and_then(|d| d.batch_vs_sequential.as_ref())
    {
        out.push(Target {
            id: "batch_vs_sequential_speedup_n8".into(),
            goal: "N = 8 in one batch at least 2.5x faster than 8 sequential generations".into(),
            measured: c.speedup.median,
            threshold: 2.5,
            met: c.speedup.median >= 2.5,
        });
    }
    for d in decode {
        if let Some(c) = &d.inline_vs_two_pass {
            out.push(Target {
                id: format!("inline_vs_two_pass_speedup_n{}", d.n),
                goal: format!(
                    "N = {}: inline scoring at least 1.5x faster end to end than generate-then-re-encode",
                    d.n
                ),
                measured: c.speedup.median,
                threshold: 1.5,
                met: c.speedup.median >= 1.5,
            });
        }
    }
    if let Some(m) = memory {
        if let Some(extra) = m.streaming_minus_plain_mib {
            out.push(Target {
                id: format!("rss_streaming_minus_plain_mib_n{}", m.n),
                goal: format!(
                    "N = {}: peak RSS with streaming scoring within 64 MB of plain generation",
                    m.n
                ),
                measured: extra,
                threshold: 64.0 * 1e6 / (1 << 20) as f64,
                met: extra <= 64.0 * 1e6 / (1 << 20) as f64,
            });
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn summary_median_min_max() {
        let s = Summary::of(vec![3.0, 1.0, 2.0]);
        assert_eq!((s.median, s.min, s.max), (2.0, 1.0, 3.0));
        assert_eq!(s.values, vec![3.0, 1.0, 2.0]);
        assert_eq!(Summary::of(vec![4.0, 1.0, 2.0, 3.0]).median, 2.5);
        assert!(Summary::of(vec![]).median.is_nan());
    }

    fn cfg() -> DecodeConfig {
        DecodeConfig {
            ns: vec![1, 8],
            max_tokens: 4,
            runs: 1,
            seed: 1,
            temperature: 0.8,
            top_k: 40,
            top_p: 0.95,
            threads: None,
            head_states: StateSpec::All,
            sequential: true,
            two_pass: true,
            prune: None,
            layer_input: false,
            head: None,
        }
    }

    #[test]
    fn sequential_only_for_more_than_one_candidate() {
        let c = cfg();
        assert!(!c.variants(1).contains(&Variant::Sequential));
        assert!(c.variants(8).contains(&Variant::Sequential));
        assert!(c.validate().is_ok());
        let bad = DecodeConfig {
            ns: vec![0],
            ..cfg()
        };
        assert!(bad.validate().is_err());
    }

    fn m(v: Variant, wall: f64, decode: f64, scores: Option<Vec<f64>>) -> Measurement {
        Measurement {
            variant: v,
            wall_s: wall,
            decode_s: decode,
            post_s: 0.0,
            cpu_s: wall,
            generated_tokens: 100,
            fed_tokens: 100,
            length_finished: 1,
            tokens: vec![vec![1, 2, 3]],
            scores,
        }
    }

    #[test]
    fn reports_pair_ratios_within_runs() {
        let vs = [
            Variant::Plain,
            Variant::CaptureScore,
            Variant::Sequential,
            Variant::TwoPass,
        ];
        let runs = vec![
            vec![
                m(vs[0], 1.0, 1.0, None),
                m(vs[1], 1.1, 1.1, Some(vec![0.5])),
                m(vs[2], 3.0, 2.5, None),
                m(vs[3], 2.0, 1.0, Some(vec![0.5001])),
            ],
            vec![
                m(vs[0], 2.0, 2.0, None),
                m(vs[1], 2.0, 2.0, Some(vec![0.5])),
                m(vs[2], 5.0, 4.0, None),
                m(vs[3], 3.0, 2.0, Some(vec![0.5])),
            ],
        ];
        let r = report_n(4, &vs, &runs);
        assert!(r.tokens_match);
        let score = &r.variants[1];
        assert_eq!(score.ratio_to_plain.values.len(), 2);
        assert!((score.ratio_to_plain.values[0] - 1.0 / 1.1).abs() < 1e-12);
        assert!((score.ratio_to_plain.values[1] - 1.0).abs() < 1e-12);
        let seq = r.batch_vs_sequential.clone().unwrap();
        assert_eq!(seq.speedup.values, vec![3.0, 2.5]);
        let two = r.inline_vs_two_pass.clone().unwrap();
        assert!((two.speedup.values[0] - 2.0 / 1.1).abs() < 1e-12);
        assert!(r.max_score_rel_diff.unwrap() < 1e-4);
        let t = targets(&[r], None);
        assert!(t.iter().any(|t| t.id == "capture_score_overhead_pct_n4"));
    }
}
