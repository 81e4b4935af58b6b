//! What a per-token feature vector is made of, and the interface through which the engine hands
//! feature vectors to their consumers (the SWIFT scorer, the feature store, tests).
//!
//! States are numbered the way Hugging Face numbers `hidden_states`, so heads trained in Python
//! can be imported (see `../shared/design/SWIFT.md` §1):
//!
//! | state | meaning | llama.cpp graph tensor |
//! | --- | --- | --- |
//! | 0 | token-embedding input (scaled where the architecture scales it) | `embd` / `inp_scaled` |
//! | k, 1 <= k <= L-1 | output of block k-1 (residual stream) | `l_out-(k-1)` |
//! | L | output of the final norm | `result_norm` |
//!
//! The raw output of the last block (`l_out-(L-1)`) has no number: Hugging Face replaces it by the
//! final norm, and so do we. `all` is therefore L+1 states; `last:K` is the last K block outputs
//! *without* the final norm (states L-K .. L-1), as in the reference README.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

mod candidates;

pub use candidates::{CandidateFeatures, ConcatFeatures, InMemoryCandidates, SubsetFeatures};

/// Errors in a state selection.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum StateSpecError {
    /// The text could not be parsed.
    #[error("invalid layer spec {spec:?}: {reason} (expected `all`, `last:K`, or a list like `0,5,10-12`)")]
    Syntax {
        /// The text given.
        spec: String,
        /// What is wrong with it.
        reason: String,
    },
    /// A state index is beyond the model's last state.
    #[error("state {index} is out of range for a model with {n_layer} layers (valid states: 0..={n_layer})")]
    OutOfRange {
        /// The offending index.
        index: u32,
        /// Layers (blocks) of the model.
        n_layer: u32,
    },
    /// `last:K` asks for more block outputs than the model has.
    #[error("last:{k} asks for {k} block outputs but a model with {n_layer} layers has {avail} (states 1..={avail})")]
    TooMany {
        /// K.
        k: u32,
        /// Layers (blocks) of the model.
        n_layer: u32,
        /// Block outputs available (n_layer - 1).
        avail: u32,
    },
    /// The selection is empty.
    #[error("the layer spec selects no state")]
    Empty,
}

/// A layer selection as the user wrote it, before it is resolved against a model.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(into = "String", try_from = "String")]
pub enum StateSpec {
    /// Every state: 0..=L.
    All,
    /// The last K block outputs, without the final norm: L-K..=L-1.
    Last(u32),
    /// Explicit state indices (sorted, de-duplicated).
    List(Vec<u32>),
}

impl StateSpec {
    /// Resolve against a model with `n_layer` blocks into sorted state indices.
    pub fn resolve(&self, n_layer: u32) -> Result<StateSelection, StateSpecError> {
        let states: Vec<u32> = match self {
            StateSpec::All => (0..=n_layer).collect(),
            StateSpec::Last(k) => {
                let avail = n_layer.saturating_sub(1);
                if *k == 0 {
                    return Err(StateSpecError::Empty);
                }
                if *k > avail {
                    return Err(StateSpecError::TooMany {
                        k: *k,
                        n_layer,
                        avail,
                    });
                }
                (n_layer - k..n_layer).collect()
            }
            StateSpec::List(v) => {
                if let Some(&index) = v.iter().find(|&&i| i > n_layer) {
                    return Err(StateSpecError::OutOfRange { index, n_layer });
                }
                v.clone()
            }
        };
        if states.is_empty() {
            return Err(StateSpecError::Empty);
        }
        Ok(StateSelection { states, n_layer })
    }
}

impl FromStr for StateSpec {
    type Err = StateSpecError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let spec = s.trim();
        let syntax = |reason: &str| StateSpecError::Syntax {
            spec: s.to_string(),
            reason: reason.to_string(),
        };
        if spec.eq_ignore_ascii_case("all") {
            return Ok(StateSpec::All);
        }
        if let Some(k) = spec.strip_prefix("last:") {
            let k: u32 = k
                .trim()
                .parse()
                .map_err(|_| syntax("K in last:K must be a whole number"))?;
            if k == 0 {
                return Err(StateSpecError::Empty);
            }
            return Ok(StateSpec::Last(k));
        }
        if spec.is_empty() {
            return Err(syntax("empty"));
        }
        let mut out = Vec::new();
        for part in spec.split(',') {
            let part = part.trim();
            let num = |t: &str| -> Result<u32, StateSpecError> {
                t.trim()
                    .parse::<u32>()
                    .map_err(|_| syntax(&format!("{t:?} is not a state index")))
            };
            if let Some((a, b)) = part.split_once('-') {
                let (a, b) = (num(a)?, num(b)?);
                if a > b {
                    return Err(syntax(&format!("range {part:?} runs backwards")));
                }
                out.extend(a..=b);
            } else {
                out.push(num(part)?);
            }
        }
        out.sort_unstable();
        out.dedup();
        Ok(StateSpec::List(out))
    }
}

impl fmt::Display for StateSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StateSpec::All => f.write_str("all"),
            StateSpec::Last(k) => write!(f, "last:{k}"),
            StateSpec::List(v) => f.write_str(&format_state_list(v)),
        }
    }
}

impl From<StateSpec> for String {
    fn from(s: StateSpec) -> String {
        s.to_string()
    }
}

impl TryFrom<String> for StateSpec {
    type Error = StateSpecError;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        s.parse()
    }
}

/// Writes sorted indices compactly, with runs as ranges: `0,5,10-12`.
pub fn format_state_list(states: &[u32]) -> String {
    let mut parts = Vec::new();
    let mut i = 0;
    while i < states.len() {
        let start = states[i];
        let mut end = start;
        while i + 1 < states.len() && states[i + 1] == end + 1 {
            i += 1;
            end = states[i];
        }
        parts.push(if end > start + 1 {
            format!("{start}-{end}")
        } else if end == start + 1 {
            format!("{start},{end}")
        } else {
            start.to_string()
        });
        i += 1;
    }
    parts.join(",")
}

/// A resolved, validated selection of states for a model with `n_layer` blocks.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StateSelection {
    states: Vec<u32>,
    n_layer: u32,
}

/// What a state is, in terms of the model graph.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StateKind {
    /// State 0: the token-embedding input.
    Embedding,
    /// Output of block `il` (0-based), i.e. state il+1.
    BlockOutput(u32),
    /// State L: the final norm.
    FinalNorm,
}

impl StateSelection {
    /// Sorted state indices.
    pub fn states(&self) -> &[u32] {
        &self.states
    }

    /// Blocks of the model this selection was resolved for.
    pub fn n_layer(&self) -> u32 {
        self.n_layer
    }

    /// Number of states.
    pub fn len(&self) -> usize {
        self.states.len()
    }

    /// Never true for a resolved selection; present for API completeness.
    pub fn is_empty(&self) -> bool {
        self.states.is_empty()
    }

    /// The kind of each selected state, in order.
    pub fn kinds(&self) -> impl Iterator<Item = StateKind> + '_ {
        self.states
            .iter()
            .map(move |&s| state_kind(s, self.n_layer))
    }
}

/// Kind of state `s` in a model of `n_layer` blocks (`s <= n_layer`).
pub fn state_kind(s: u32, n_layer: u32) -> StateKind {
    if s == 0 {
        StateKind::Embedding
    } else if s == n_layer {
        StateKind::FinalNorm
    } else {
        StateKind::BlockOutput(s - 1)
    }
}

/// Where per-token features come from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "source")]
pub enum FeatureSource {
    /// Hidden states of the selected states, concatenated in ascending order.
    Hidden {
        /// The states.
        selection: StateSelection,
        /// Hidden size of the model.
        n_embd: u32,
    },
    /// The raw full-vocabulary logits of each token (SWIFT.md §1, "logits mode").
    Logits {
        /// Vocabulary size.
        n_vocab: u32,
    },
}

/// Shape of the feature vector of one token.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FeatureLayout {
    /// The source.
    pub source: FeatureSource,
}

impl FeatureLayout {
    /// Hidden-state features.
    pub fn hidden(selection: StateSelection, n_embd: u32) -> Self {
        Self {
            source: FeatureSource::Hidden { selection, n_embd },
        }
    }

    /// Logit features.
    pub fn logits(n_vocab: u32) -> Self {
        Self {
            source: FeatureSource::Logits { n_vocab },
        }
    }

    /// Floats per token (F).
    pub fn width(&self) -> usize {
        match &self.source {
            FeatureSource::Hidden { selection, n_embd } => selection.len() * *n_embd as usize,
            FeatureSource::Logits { n_vocab } => *n_vocab as usize,
        }
    }

    /// Width of one segment (a state's hidden vector, or the whole logit row).
    pub fn segment_width(&self) -> usize {
        match &self.source {
            FeatureSource::Hidden { n_embd, .. } => *n_embd as usize,
            FeatureSource::Logits { n_vocab } => *n_vocab as usize,
        }
    }

    /// Number of segments (states; 1 for logits).
    pub fn segments(&self) -> usize {
        match &self.source {
            FeatureSource::Hidden { selection, .. } => selection.len(),
            FeatureSource::Logits { .. } => 1,
        }
    }
}

/// Which generated tokens carry features ("covered" tokens). One rule, used in collection,
/// training and inference alike (SWIFT.md §1).
///
/// Every sampled token is fed back to the model once, and its feature row is the one computed on
/// the step that feeds it. The end-of-generation token is fed once more after sampling by default
/// (`Include`, matching the reference, which scores the end-of-turn token); `Exclude` skips it. A
/// candidate stopped by the token limit has all its sampled tokens covered.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EosRule {
    /// Feed and cover the end-of-generation token.
    #[default]
    Include,
    /// Do not cover the end-of-generation token.
    Exclude,
}

impl FromStr for EosRule {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "include" => Ok(Self::Include),
            "exclude" => Ok(Self::Exclude),
            other => Err(format!(
                "unknown EOS rule {other:?} (expected include or exclude)"
            )),
        }
    }
}

impl fmt::Display for EosRule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Include => "include",
            Self::Exclude => "exclude",
        })
    }
}

/// A boxed error from a feature sink.
pub type SinkError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// Receives the feature vector of every covered token as generation proceeds.
///
/// The engine calls `begin` once, then `token` for each covered token in order of generation
/// (for each candidate, positions 0, 1, 2, ... without gaps), then `end`. `features` has
/// `layout.width()` floats: the selected states concatenated in ascending order. The slice is
/// only valid during the call; a sink that needs the data copies it.
pub trait FeatureSink {
    /// Called once before the first token.
    fn begin(&mut self, layout: &FeatureLayout, n_candidates: usize) -> Result<(), SinkError>;
    /// One covered token of `candidate`, the `position`-th covered token of that candidate.
    fn token(
        &mut self,
        candidate: usize,
        position: usize,
        features: &[f32],
    ) -> Result<(), SinkError>;
    /// The same as [`token`](Self::token), with the features given as one slice per selected
    /// state (ascending, `n_embd` floats each) as the engine holds them: hidden states arrive
    /// this way, read in place from llama.cpp's buffers. The default concatenates them and calls
    /// `token`; a sink that can work per segment (a scorer, a store) overrides it and saves the
    /// copy.
    fn token_segments(
        &mut self,
        candidate: usize,
        position: usize,
        segments: &[&[f32]],
    ) -> Result<(), SinkError> {
        let row = segments.concat();
        self.token(candidate, position, &row)
    }
    /// Called once after the last token.
    fn end(&mut self) -> Result<(), SinkError> {
        Ok(())
    }
}

/// A sink that discards everything (generation without features).
#[derive(Debug, Default, Clone, Copy)]
pub struct NullSink;

impl FeatureSink for NullSink {
    fn begin(&mut self, _: &FeatureLayout, _: usize) -> Result<(), SinkError> {
        Ok(())
    }
    fn token(&mut self, _: usize, _: usize, _: &[f32]) -> Result<(), SinkError> {
        Ok(())
    }
    fn token_segments(&mut self, _: usize, _: usize, _: &[&[f32]]) -> Result<(), SinkError> {
        Ok(())
    }
}

/// Stores every feature row in memory, per candidate: the storing consumer.
#[derive(Debug, Default, Clone)]
pub struct MemorySink {
    width: usize,
    layout: Option<FeatureLayout>,
    rows: Vec<Vec<f32>>,
}

impl MemorySink {
    /// An empty sink.
    pub fn new() -> Self {
        Self::default()
    }

    /// The layout given at `begin`.
    pub fn layout(&self) -> Option<&FeatureLayout> {
        self.layout.as_ref()
    }

    /// Feature width F.
    pub fn width(&self) -> usize {
        self.width
    }

    /// Number of candidates.
    pub fn n_candidates(&self) -> usize {
        self.rows.len()
    }

    /// Covered tokens stored for `candidate`.
    pub fn n_tokens(&self, candidate: usize) -> usize {
        self.rows[candidate]
            .len()
            .checked_div(self.width)
            .unwrap_or(0)
    }

    /// All rows of `candidate`, row-major: `n_tokens(candidate) x width`.
    pub fn rows(&self, candidate: usize) -> &[f32] {
        &self.rows[candidate]
    }

    /// Row `position` of `candidate`.
    pub fn row(&self, candidate: usize, position: usize) -> &[f32] {
        &self.rows[candidate][position * self.width..(position + 1) * self.width]
    }

    /// Takes the per-candidate rows out of the sink.
    pub fn into_rows(self) -> Vec<Vec<f32>> {
        self.rows
    }
}

impl FeatureSink for MemorySink {
    fn begin(&mut self, layout: &FeatureLayout, n_candidates: usize) -> Result<(), SinkError> {
        self.width = layout.width();
        self.layout = Some(layout.clone());
        self.rows = vec![Vec::new(); n_candidates];
        Ok(())
    }

    fn token(
        &mut self,
        candidate: usize,
        position: usize,
        features: &[f32],
    ) -> Result<(), SinkError> {
        let have = self.n_tokens(candidate);
        if position != have || features.len() != self.width {
            return Err(format!(
                "memory sink: candidate {candidate} got row {position} of width {} but expected row {have} of width {}",
                features.len(),
                self.width
            )
            .into());
        }
        self.rows[candidate].extend_from_slice(features);
        Ok(())
    }

    fn token_segments(
        &mut self,
        candidate: usize,
        position: usize,
        segments: &[&[f32]],
    ) -> Result<(), SinkError> {
        let have = self.n_tokens(candidate);
        let width: usize = segments.iter().map(|s| s.len()).sum();
        if position != have || width != self.width {
            return Err(format!(
                "memory sink: candidate {candidate} got row {position} of width {width} but expected row {have} of width {}",
                self.width
            )
            .into());
        }
        let rows = &mut self.rows[candidate];
        for s in segments {
            rows.extend_from_slice(s);
        }
        Ok(())
    }
}

/// Forwards every call to two sinks (for example a scorer and a store).
pub struct TeeSink<'a, A: ?Sized, B: ?Sized>(pub &'a mut A, pub &'a mut B);

impl<A: FeatureSink + ?Sized, B: FeatureSink + ?Sized> FeatureSink for TeeSink<'_, A, B> {
    fn begin(&mut self, layout: &FeatureLayout, n: usize) -> Result<(), SinkError> {
        self.0.begin(layout, n)?;
        self.1.begin(layout, n)
    }
    fn token(&mut self, c: usize, p: usize, f: &[f32]) -> Result<(), SinkError> {
        self.0.token(c, p, f)?;
        self.1.token(c, p, f)
    }
    fn token_segments(&mut self, c: usize, p: usize, s: &[&[f32]]) -> Result<(), SinkError> {
        self.0.token_segments(c, p, s)?;
        self.1.token_segments(c, p, s)
    }
    fn end(&mut self) -> Result<(), SinkError> {
        self.0.end()?;
        self.1.end()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_resolves_specs() {
        assert_eq!("all".parse::<StateSpec>().unwrap(), StateSpec::All);
        assert_eq!("last:4".parse::<StateSpec>().unwrap(), StateSpec::Last(4));
        assert_eq!(
            "12, 3,5-7,5".parse::<StateSpec>().unwrap(),
            StateSpec::List(vec![3, 5, 6, 7, 12])
        );
        let all = StateSpec::All.resolve(30).unwrap();
        assert_eq!(all.len(), 31);
        assert_eq!(all.kinds().next(), Some(StateKind::Embedding));
        assert_eq!(all.kinds().last(), Some(StateKind::FinalNorm));
        let last4 = StateSpec::Last(4).resolve(30).unwrap();
        assert_eq!(last4.states(), &[26, 27, 28, 29]);
        assert_eq!(
            last4.kinds().collect::<Vec<_>>(),
            (25..29).map(StateKind::BlockOutput).collect::<Vec<_>>()
        );
    }

    #[test]
    fn rejects_bad_specs() {
        for bad in ["", "last:", "last:x", "1,,2", "5-3", "a", "-1", "last:0"] {
            assert!(
                bad.parse::<StateSpec>().is_err(),
                "{bad:?} should not parse"
            );
        }
        let err = StateSpec::List(vec![3, 31]).resolve(30).unwrap_err();
        assert_eq!(
            err,
            StateSpecError::OutOfRange {
                index: 31,
                n_layer: 30
            }
        );
        assert!(err.to_string().contains("0..=30"));
        assert!(matches!(
            StateSpec::Last(30).resolve(30),
            Err(StateSpecError::TooMany { .. })
        ));
    }

    #[test]
    fn display_round_trips() {
        for s in ["all", "last:4", "0,5,10-12", "3,4"] {
            let spec: StateSpec = s.parse().unwrap();
            assert_eq!(spec.to_string(), s);
            assert_eq!(spec.to_string().parse::<StateSpec>().unwrap(), spec);
        }
    }

    #[test]
    fn in_memory_candidates_hold_whole_rows() {
        let mut c = InMemoryCandidates::new(FeatureLayout::logits(2));
        c.push(7, true, vec![1.0, 2.0, 3.0, 4.0]).unwrap();
        assert!(c.push(7, false, vec![1.0, 2.0, 3.0]).is_err());
        assert_eq!(
            (c.n_candidates(), c.n_tokens(0), c.group(0), c.label(0)),
            (1, 2, 7, true)
        );
        let mut out = vec![9.0];
        c.read_rows(0, &mut out).unwrap();
        assert_eq!(out, [1.0, 2.0, 3.0, 4.0]);
    }

    #[test]
    fn memory_sink_checks_order_and_width() {
        let layout = FeatureLayout::logits(3);
        let mut sink = MemorySink::new();
        sink.begin(&layout, 2).unwrap();
        sink.token(1, 0, &[1.0, 2.0, 3.0]).unwrap();
        assert!(sink.token(1, 2, &[1.0, 2.0, 3.0]).is_err());
        assert!(sink.token(0, 0, &[1.0]).is_err());
        assert_eq!(sink.n_tokens(1), 1);
        assert_eq!(sink.row(1, 0), &[1.0, 2.0, 3.0]);
    }
}
