//! Peak memory of `ask`-style inference (one prompt, N candidates, a SWIFT score per candidate),
//! three ways: plain generation (no scoring), capture + streaming scoring, and capture into
//! memory (every feature row stored) then scoring the stored rows. [`run_child`] runs one way
//! in this process and reads its peak RSS; the CLI starts one child process per way so that
//! each peak is isolated from the others and from the parent.

use std::time::Instant;

use serde::{Deserialize, Serialize};

use super::{headcost::random_head, model_identity, BenchError, Summary};
use crate::engine::{Engine, FeatureRequest, GenerateOptions};
use crate::features::{MemorySink, NullSink, StateSpec};
use crate::head::{Normalization, StreamingScorer};

/// How the candidates are scored.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RssVariant {
    /// Plain generation, no capture, no scores.
    Plain,
    /// Capture + streaming scoring (nothing stored).
    Streaming,
    /// Capture into memory (`MemorySink`), then score the stored rows.
    Storing,
}

impl RssVariant {
    /// All three, in base order.
    pub const ALL: [RssVariant; 3] = [Self::Plain, Self::Streaming, Self::Storing];

    /// Stable name.
    pub fn name(self) -> &'static str {
        match self {
            Self::Plain => "plain",
            Self::Streaming => "streaming",
            Self::Storing => "storing",
        }
    }
}

impl std::str::FromStr for RssVariant {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .into_iter()
            .find(|v| v.name() == s)
            .ok_or_else(|| format!("unknown variant {s:?} (expected plain, streaming or storing)"))
    }
}

impl std::fmt::Display for RssVariant {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// What a child reports (one JSON object on stdout).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ChildReport {
    /// The way it ran.
    pub variant: RssVariant,
    /// Candidates.
    pub n: usize,
    /// Token limit.
    pub max_tokens: usize,
    /// Tokens generated.
    pub generated_tokens: usize,
    /// Feature rows stored (storing only).
    pub stored_floats: usize,
    /// Peak RSS after loading the model, before generating, KiB.
    pub peak_rss_after_load_kib: u64,
    /// Peak RSS of the whole process, KiB (`VmHWM`).
    pub peak_rss_kib: u64,
    /// Wall seconds of generation and scoring.
    pub wall_s: f64,
}

/// Runs one way of `ask`-style inference and reports the process's peak RSS.
pub fn run_child(
    engine: &Engine,
    prompt: &str,
    variant: RssVariant,
    opts: &GenerateOptions,
    head_states: &StateSpec,
    peak_rss_after_load_kib: u64,
) -> Result<ChildReport, BenchError> {
    let model = model_identity(engine.info());
    let head = random_head(&model, head_states, Normalization::None, opts.seed)?;
    let hidden = || {
        opts.clone()
            .with_features(FeatureRequest::Hidden(head_states.clone()))
    };
    let t0 = Instant::now();
    let (generated, stored, scores) = match variant {
        RssVariant::Plain => {
            let g = engine.generate(
                prompt,
                &opts.clone().with_features(FeatureRequest::None),
                &mut NullSink,
            )?;
            (
                g.candidates.iter().map(|c| c.tokens.len()).sum(),
                0,
                Vec::new(),
            )
        }
        RssVariant::Streaming => {
            let mut scorer = StreamingScorer::new(&head);
            let g = engine.generate(prompt, &hidden(), &mut scorer)?;
            (
                g.candidates.iter().map(|c| c.tokens.len()).sum(),
                0,
                scorer.scores(),
            )
        }
        RssVariant::Storing => {
            let mut store = MemorySink::new();
            let g = engine.generate(prompt, &hidden(), &mut store)?;
            let layout = g.layout.clone().unwrap_or_else(|| head.layout());
            let scores = (0..store.n_candidates())
                .map(|c| head.score_rows(store.rows(c), &layout).map(|s| s.score))
                .collect::<Result<Vec<_>, _>>()?;
            let stored = (0..store.n_candidates()).map(|c| store.rows(c).len()).sum();
            (
                g.candidates.iter().map(|c| c.tokens.len()).sum(),
                stored,
                scores,
            )
        }
    };
    std::hint::black_box(&scores);
    Ok(ChildReport {
        variant,
        n: opts.n,
        max_tokens: opts.max_tokens,
        generated_tokens: generated,
        stored_floats: stored,
        peak_rss_after_load_kib,
        peak_rss_kib: super::system::peak_rss_kib().unwrap_or(0),
        wall_s: t0.elapsed().as_secs_f64(),
    })
}

/// One way over all child runs.
#[derive(Debug, Clone, Serialize)]
pub struct RssVariantReport {
    /// The way.
    pub variant: RssVariant,
    /// Peak RSS, MiB.
    pub peak_rss_mib: Summary,
    /// Peak RSS right after loading the model, MiB.
    pub after_load_mib: Summary,
    /// Tokens generated (first run).
    pub generated_tokens: usize,
    /// Floats stored (first run; storing only).
    pub stored_floats: usize,
}

/// Peak memory of the three ways.
#[derive(Debug, Clone, Serialize)]
pub struct MemoryReport {
    /// Candidates.
    pub n: usize,
    /// Token limit.
    pub max_tokens: usize,
    /// States captured and scored.
    pub head_states: String,
    /// Per way.
    pub variants: Vec<RssVariantReport>,
    /// Median peak of streaming minus median peak of plain, MiB.
    pub streaming_minus_plain_mib: Option<f64>,
    /// Median peak of storing minus median peak of plain, MiB.
    pub storing_minus_plain_mib: Option<f64>,
}

impl MemoryReport {
    /// Summarises child reports (any order, any number of runs per way).
    pub fn from_children(
        n: usize,
        max_tokens: usize,
        head_states: &StateSpec,
        children: &[ChildReport],
    ) -> Self {
        let mib = |kib: u64| kib as f64 / 1024.0;
        let variants: Vec<RssVariantReport> = RssVariant::ALL
            .into_iter()
            .filter_map(|v| {
                let rs: Vec<&ChildReport> = children.iter().filter(|c| c.variant == v).collect();
                let first = rs.first()?;
                Some(RssVariantReport {
                    variant: v,
                    peak_rss_mib: Summary::of(rs.iter().map(|c| mib(c.peak_rss_kib)).collect()),
                    after_load_mib: Summary::of(
                        rs.iter().map(|c| mib(c.peak_rss_after_load_kib)).collect(),
                    ),
                    generated_tokens: first.generated_tokens,
                    stored_floats: first.stored_floats,
                })
            })
            .collect();
        let median = |v: RssVariant| {
            variants
                .iter()
                .find(|r| r.variant == v)
                .map(|r| r.peak_rss_mib.median)
        };
        let diff = |v| Some(median(v)? - median(RssVariant::Plain)?);
        Self {
            n,
            max_tokens,
            head_states: head_states.to_string(),
            streaming_minus_plain_mib: diff(RssVariant::Streaming),
            storing_minus_plain_mib: diff(RssVariant::Storing),
            variants,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_reports_subtract_plain() {
        for v in RssVariant::ALL {
            assert_eq!(v.name().parse::<RssVariant>().unwrap(), v);
        }
        assert!("x".parse::<RssVariant>().is_err());
        let child = |variant, peak: u64| ChildReport {
            variant,
            n: 16,
            max_tokens: 8,
            generated_tokens: 128,
            stored_floats: 0,
            peak_rss_after_load_kib: 100 * 1024,
            peak_rss_kib: peak * 1024,
            wall_s: 1.0,
        };
        let r = MemoryReport::from_children(
            16,
            8,
            &StateSpec::All,
            &[
                child(RssVariant::Plain, 200),
                child(RssVariant::Streaming, 210),
                child(RssVariant::Storing, 400),
            ],
        );
        assert_eq!(r.streaming_minus_plain_mib, Some(10.0));
        assert_eq!(r.storing_minus_plain_mib, Some(200.0));
    }
}
