//! One measurement of one variant of Best-of-N generation: the same prompt, seeds and token
//! limit for every variant, so they generate the same tokens and differ only in what they do
//! around the decode.

use std::time::Instant;

use serde::{Deserialize, Serialize};

use super::BenchError;
use crate::capture::CaptureChoice;
use crate::engine::{Engine, FeatureRequest, GenerateOptions, Generation};
use crate::features::{FeatureLayout, NullSink, StateSpec};
use crate::head::{Head, StreamingScorer};

/// What a timed generation does besides decoding.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Variant {
    /// Plain batched generation, no capture.
    Plain,
    /// Capture of every state (L+1) through the eval callback, handed to a sink that ignores it.
    CaptureAll,
    /// Capture of the last 4 block outputs through the eval callback, handed to a sink that
    /// ignores it.
    CaptureLast4,
    /// Capture of the head's states through the eval callback and streaming SWIFT scoring with
    /// the head, inline.
    CaptureScore,
    /// [`Variant::CaptureAll`] through the layer-input backend.
    #[serde(rename = "capture_all_li")]
    CaptureAllLayerInput,
    /// [`Variant::CaptureLast4`] through the layer-input backend.
    #[serde(rename = "capture_last4_li")]
    CaptureLast4LayerInput,
    /// [`Variant::CaptureScore`] through the layer-input backend (scored in place).
    #[serde(rename = "capture_score_li")]
    CaptureScoreLayerInput,
    /// The same N candidates generated one after another (N generations of one candidate, each
    /// with its candidate's seed), no capture.
    Sequential,
    /// [`Variant::CaptureScore`] with early pruning by the running score (the configured
    /// policy), through the same loop as [`crate::bon::BestOfN`].
    CapturePrune,
    /// The reference two-pass approach: plain batched generation, then a teacher-forced
    /// re-encode of prompt + answer of every candidate to get its hidden states, then scoring.
    TwoPass,
}

impl Variant {
    /// The layer-input twin of a callback capture variant.
    pub fn layer_input_twin(self) -> Option<Self> {
        match self {
            Self::CaptureAll => Some(Self::CaptureAllLayerInput),
            Self::CaptureLast4 => Some(Self::CaptureLast4LayerInput),
            Self::CaptureScore => Some(Self::CaptureScoreLayerInput),
            _ => None,
        }
    }

    /// Stable name (the JSON key).
    pub fn name(self) -> &'static str {
        match self {
            Self::Plain => "plain",
            Self::CaptureAll => "capture_all",
            Self::CaptureLast4 => "capture_last4",
            Self::CaptureScore => "capture_score",
            Self::CaptureAllLayerInput => "capture_all_li",
            Self::CaptureLast4LayerInput => "capture_last4_li",
            Self::CaptureScoreLayerInput => "capture_score_li",
            Self::Sequential => "sequential",
            Self::CapturePrune => "capture_prune",
            Self::TwoPass => "two_pass",
        }
    }
}

impl std::fmt::Display for Variant {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// What one timed run of a variant produced.
#[derive(Debug, Clone)]
pub struct Measurement {
    /// The variant.
    pub variant: Variant,
    /// End-to-end wall time: context creation, prompt, generation, and for the scoring
    /// variants the scoring (and for `two_pass` the re-encodes).
    pub wall_s: f64,
    /// Time of the generation steps only (after the prompt), summed over generations.
    pub decode_s: f64,
    /// CPU seconds of the process (all threads) over the same span as `wall_s`; `NaN` where
    /// `/proc` is missing.
    pub cpu_s: f64,
    /// Time after generation: the re-encodes and scoring of `two_pass` (0 for the others).
    pub post_s: f64,
    /// Tokens sampled, over all candidates.
    pub generated_tokens: usize,
    /// Tokens fed to the model after the prompt (capture feeds each candidate's last token once
    /// more to cover it).
    pub fed_tokens: usize,
    /// Candidates that stopped at the token limit (the rest produced end-of-generation).
    pub length_finished: usize,
    /// The generated tokens of every candidate, to check that variants agree.
    pub tokens: Vec<Vec<i32>>,
    /// SWIFT scores, for the scoring variants.
    pub scores: Option<Vec<f64>>,
}

impl Measurement {
    /// Generated tokens per second of generation steps.
    pub fn tokens_per_s(&self) -> f64 {
        self.generated_tokens as f64 / self.decode_s.max(1e-9)
    }
}

/// Everything a run needs besides the variant.
#[derive(Debug)]
pub struct RunSetup<'a> {
    /// The model.
    pub engine: &'a Engine,
    /// Templated prompt text.
    pub prompt: &'a str,
    /// Its tokens (for the re-encodes of `two_pass`).
    pub prompt_ids: &'a [i32],
    /// Options of the batched generation (N, limit, sampling, seed); features are set per
    /// variant.
    pub opts: &'a GenerateOptions,
    /// The head the scoring variants use.
    pub head: &'a Head,
    /// The head's states.
    pub head_states: &'a StateSpec,
    /// The policy of [`Variant::CapturePrune`].
    pub prune: Option<&'a crate::prune::PrunePolicy>,
}

/// Runs `variant` once.
pub fn run_variant(setup: &RunSetup<'_>, variant: Variant) -> Result<Measurement, BenchError> {
    let engine = setup.engine;
    let with = |f: FeatureRequest| setup.opts.clone().with_features(f);
    let backend = match variant {
        Variant::CaptureAllLayerInput
        | Variant::CaptureLast4LayerInput
        | Variant::CaptureScoreLayerInput => CaptureChoice::LayerInput,
        _ => CaptureChoice::Callback,
    };
    let o = |f: FeatureRequest| with(f).with_capture(backend);
    let cpu0 = super::system::process_cpu_s();
    let t0 = Instant::now();
    let mut post_s = 0.0;
    let (gens, scores) = match variant {
        Variant::Plain => (
            vec![engine.generate(setup.prompt, &with(FeatureRequest::None), &mut NullSink)?],
            None,
        ),
        Variant::CaptureAll | Variant::CaptureAllLayerInput => (
            vec![engine.generate(
                setup.prompt,
                &o(FeatureRequest::Hidden(StateSpec::All)),
                &mut NullSink,
            )?],
            None,
        ),
        Variant::CaptureLast4 | Variant::CaptureLast4LayerInput => (
            vec![engine.generate(
                setup.prompt,
                &o(FeatureRequest::Hidden(StateSpec::Last(4))),
                &mut NullSink,
            )?],
            None,
        ),
        Variant::CaptureScore | Variant::CaptureScoreLayerInput => {
            let mut scorer = StreamingScorer::new(setup.head);
            let g = engine.generate(
                setup.prompt,
                &o(FeatureRequest::Hidden(setup.head_states.clone())),
                &mut scorer,
            )?;
            (vec![g], Some(scorer.scores()))
        }
        Variant::CapturePrune => {
            let request = crate::bon::Request {
                conversation: Vec::new(),
                options: setup.opts.clone(),
                selection: crate::bon::Selection::Swift,
                prune: setup.prune.copied(),
                early_stop: crate::bon::EarlyStop::Off,
            };
            let opts = with(FeatureRequest::Hidden(setup.head_states.clone()))
                .with_eos(setup.head.spec().eos);
            let driven = crate::bon::drive(
                engine,
                Some(setup.head),
                crate::tasks::AnswerKind::Number,
                &crate::prompt::Prompt::raw(setup.prompt),
                &opts,
                &request,
                &mut |_| {},
            )
            .map_err(|e| match e {
                crate::bon::BonError::Engine(e) => BenchError::from(e),
                other => BenchError::Config {
                    name: "prune",
                    reason: other.to_string(),
                },
            })?;
            (vec![driven.generation], driven.scores)
        }
        Variant::Sequential => {
            let n = setup.opts.n;
            let mut gens = Vec::with_capacity(n);
            for c in 0..n {
                let one = GenerateOptions {
                    n: 1,
                    seeds: Some(vec![setup.opts.seed_of(c)]),
                    features: FeatureRequest::None,
                    ..setup.opts.clone()
                };
                gens.push(engine.generate(setup.prompt, &one, &mut NullSink)?);
            }
            (gens, None)
        }
        Variant::TwoPass => {
            let g = engine.generate(setup.prompt, &with(FeatureRequest::None), &mut NullSink)?;
            let t_post = Instant::now();
            let selection = setup.head_states.resolve(engine.info().n_layer)?;
            let layout = FeatureLayout::hidden(selection.clone(), engine.info().n_embd);
            let np = setup.prompt_ids.len();
            let mut scores = Vec::with_capacity(g.candidates.len());
            let mut ids = Vec::new();
            for c in &g.candidates {
                ids.clear();
                ids.extend_from_slice(setup.prompt_ids);
                ids.extend_from_slice(&c.tokens);
                let re = engine.reencode(&ids, np, &selection, false, None)?;
                scores.push(setup.head.score_rows(&re.rows, &layout)?.score);
            }
            post_s = t_post.elapsed().as_secs_f64();
            (vec![g], Some(scores))
        }
    };
    let wall_s = t0.elapsed().as_secs_f64();
    let cpu_s = match (cpu0, super::system::process_cpu_s()) {
        (Some(a), Some(b)) => b - a,
        _ => f64::NAN,
    };
    let mut m = summarize(variant, wall_s, &gens, scores);
    m.post_s = post_s;
    m.cpu_s = cpu_s;
    Ok(m)
}

fn summarize(
    variant: Variant,
    wall_s: f64,
    gens: &[Generation],
    scores: Option<Vec<f64>>,
) -> Measurement {
    let cands = gens.iter().flat_map(|g| g.candidates.iter());
    Measurement {
        variant,
        wall_s,
        decode_s: gens.iter().map(|g| g.timing.generate.as_secs_f64()).sum(),
        post_s: 0.0,
        cpu_s: f64::NAN,
        generated_tokens: cands.clone().map(|c| c.tokens.len()).sum(),
        fed_tokens: gens.iter().map(|g| g.timing.fed_tokens).sum(),
        length_finished: cands
            .clone()
            .filter(|c| c.finish == crate::dataset::FinishReason::Length)
            .count(),
        tokens: cands.map(|c| c.tokens.clone()).collect(),
        scores,
    }
}

#[cfg(test)]
mod tests {
    use super::Variant;

    #[test]
    fn the_json_name_of_every_variant_is_its_name() {
        for v in [
            Variant::Plain,
            Variant::CaptureAll,
            Variant::CaptureLast4,
            Variant::CaptureScore,
            Variant::CaptureAllLayerInput,
            Variant::CaptureLast4LayerInput,
            Variant::CaptureScoreLayerInput,
            Variant::Sequential,
            Variant::CapturePrune,
            Variant::TwoPass,
        ] {
            assert_eq!(serde_json::to_value(v).unwrap(), v.name(), "{v:?}");
        }
    }
}
