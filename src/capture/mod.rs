//! Capture of hidden states from the llama.cpp graph during decoding.
//!
//! [`CapturePlan`] maps the selected states (see [`crate::features`]) to graph tensor names;
//! [`CaptureState`] receives the tensors of one decode step from the eval callback and lays
//! their rows out per state (segment-major: all rows of one state are contiguous, so each tensor
//! lands with one copy). [`CaptureBackend`] names the ways features can be read, and
//! [`CaptureChoice`] what the user asked for. The unsafe code (the `extern "C"` eval callback,
//! the layer-input shim, the llama.cpp context) lives in `engine/ffi.rs`; this file is plain Rust
//! and is tested without a model.
//!
//! Row order: with a unified KV cache llama.cpp cuts a decode batch into ubatches that are
//! contiguous slices in batch order, so the rows of a tensor arrive in batch order, possibly in
//! several calls (one per ubatch). Rows are appended, never overwritten, and the totals are checked
//! after every decode, which also proves on the first decode that every requested tensor exists.
#![forbid(unsafe_code)]

use crate::features::{state_kind, StateKind, StateSelection};

/// Errors raised while capturing.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CaptureError {
    /// A requested tensor never reached the callback during a decode.
    #[error("state {state} (graph tensor {name}) was not produced by the model graph during decode; this architecture names its tensors differently or the state does not exist")]
    MissingTensor {
        /// State index.
        state: u32,
        /// Graph tensor name(s) looked for.
        name: String,
    },
    /// A tensor delivered a different number of rows than the batch has outputs.
    #[error("graph tensor {name} delivered {got} rows in one decode, expected {expected}")]
    RowCount {
        /// Tensor name.
        name: String,
        /// Rows expected (batch outputs).
        expected: usize,
        /// Rows delivered.
        got: usize,
    },
    /// A tensor had an unexpected type, width or memory layout.
    #[error("graph tensor {name} has an unsupported layout: {detail}")]
    Layout {
        /// Tensor name.
        name: String,
        /// What was found.
        detail: String,
    },
    /// A panic happened inside the eval callback (caught at the C boundary).
    #[error("internal error inside the eval callback: {0}")]
    Panic(String),
    /// The layer-input backend did not deliver a state it was asked for.
    #[error("the layer-input backend delivered no data for state {state}")]
    LayerInputMissing {
        /// State index.
        state: u32,
    },
}

/// How hidden states (or logits) are read out of llama.cpp during decoding.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum CaptureBackend {
    /// The eval callback: every wanted graph tensor is copied out while the graph runs. Works
    /// for every architecture; on a GPU each wanted tensor ends a sub-graph and forces a
    /// synchronisation.
    Callback,
    /// llama.cpp's layer-input outputs (`llama_set_embeddings_layer_inp`) plus the embeddings
    /// for the final norm: one graph per step, copied asynchronously after it, read in place.
    /// Only architectures whose graph records the layer input.
    LayerInput,
    /// The full-vocabulary logits (`llama_get_logits_ith`): no hidden states.
    Logits,
}

impl CaptureBackend {
    /// The name used on the command line and in JSON.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Callback => "callback",
            Self::LayerInput => "layer-input",
            Self::Logits => "logits",
        }
    }
}

impl std::fmt::Display for CaptureBackend {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Which hidden-state backend to use (`--capture`).
#[derive(
    Debug, Clone, Copy, Default, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "kebab-case")]
pub enum CaptureChoice {
    /// Layer input where the architecture supports it and it pays (by design on GPU builds, by
    /// measurement on CPU), the callback otherwise.
    #[default]
    Auto,
    /// Always the eval callback.
    Callback,
    /// The layer-input backend; falls back to the callback (with a warning) on an architecture
    /// that does not support it.
    LayerInput,
}

impl std::str::FromStr for CaptureChoice {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "auto" => Ok(Self::Auto),
            "callback" => Ok(Self::Callback),
            "layer-input" | "layer_input" => Ok(Self::LayerInput),
            _ => Err(format!(
                "unknown capture backend {s:?} (expected auto, callback or layer-input)"
            )),
        }
    }
}

impl std::fmt::Display for CaptureChoice {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Auto => "auto",
            Self::Callback => "callback",
            Self::LayerInput => "layer-input",
        })
    }
}

/// The backend a generation uses, and why.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct BackendDecision {
    /// The backend in use.
    pub backend: CaptureBackend,
    /// Why it was chosen (or why the requested one was not).
    pub reason: String,
    /// True when the request named another backend that could not be used.
    pub fell_back: bool,
}

/// Graph tensor names for a state. llama.cpp names differ across architectures; a state matches
/// whichever alias the graph uses.
fn aliases(kind: StateKind) -> Vec<Vec<u8>> {
    match kind {
        // `embd` in most architectures; gemma3 renames the scaled embedding `inp_scaled`.
        StateKind::Embedding => vec![b"embd".to_vec(), b"inp_scaled".to_vec()],
        StateKind::BlockOutput(il) => vec![format!("l_out-{il}").into_bytes()],
        // With embeddings enabled, llama.cpp renames the final norm `result_embd_pooled`.
        StateKind::FinalNorm => vec![b"result_norm".to_vec(), b"result_embd_pooled".to_vec()],
    }
}

/// Which graph tensors to capture and where each goes in the feature vector.
#[derive(Debug, Clone)]
pub struct CapturePlan {
    states: Vec<u32>,
    /// Segment of each captured block output, indexed by block (`l_out-<il>`); `u16::MAX` = not
    /// captured. Lets the hot name check parse the number instead of comparing strings.
    block_segment: Vec<u16>,
    /// Segment of the embedding state, if selected.
    embd_segment: Option<usize>,
    /// Segment of the final norm, if selected.
    norm_segment: Option<usize>,
    n_embd: usize,
}

impl CapturePlan {
    /// Plan the capture of `selection` for a model with hidden size `n_embd`.
    pub fn new(selection: &StateSelection, n_embd: usize) -> Self {
        let n_layer = selection.n_layer();
        let mut block_segment = vec![u16::MAX; n_layer as usize];
        let mut embd_segment = None;
        let mut norm_segment = None;
        for (seg, &s) in selection.states().iter().enumerate() {
            match state_kind(s, n_layer) {
                StateKind::Embedding => embd_segment = Some(seg),
                StateKind::BlockOutput(il) => block_segment[il as usize] = seg as u16,
                StateKind::FinalNorm => norm_segment = Some(seg),
            }
        }
        Self {
            states: selection.states().to_vec(),
            block_segment,
            embd_segment,
            norm_segment,
            n_embd,
        }
    }

    /// Number of segments (selected states).
    pub fn segments(&self) -> usize {
        self.states.len()
    }

    /// Floats per row.
    pub fn width(&self) -> usize {
        self.states.len() * self.n_embd
    }

    /// Hidden size.
    pub fn n_embd(&self) -> usize {
        self.n_embd
    }

    /// The segment a graph tensor feeds, if it is wanted. Called about a thousand times per
    /// decode step: no allocation.
    pub fn segment_of(&self, name: &[u8]) -> Option<usize> {
        if let Some(num) = name.strip_prefix(b"l_out-") {
            let il = parse_usize(num)?;
            let seg = *self.block_segment.get(il)?;
            return (seg != u16::MAX).then_some(seg as usize);
        }
        match name {
            b"embd" | b"inp_scaled" => self.embd_segment,
            b"result_norm" | b"result_embd_pooled" => self.norm_segment,
            _ => None,
        }
    }

    fn describe_segment(&self, seg: usize) -> (u32, String) {
        let s = self.states[seg];
        let n_layer = self.block_segment.len() as u32;
        let names = aliases(state_kind(s, n_layer))
            .into_iter()
            .map(|a| String::from_utf8_lossy(&a).into_owned())
            .collect::<Vec<_>>()
            .join(" or ");
        (s, names)
    }
}

fn parse_usize(digits: &[u8]) -> Option<usize> {
    if digits.is_empty() || digits.len() > 6 {
        return None;
    }
    let mut v = 0usize;
    for &d in digits {
        if !d.is_ascii_digit() {
            return None;
        }
        v = v * 10 + usize::from(d - b'0');
    }
    Some(v)
}

/// Shape and layout facts of a tensor handed to the callback.
#[derive(Debug, Clone, Copy)]
pub struct TensorMeta {
    /// Element type is f32.
    pub is_f32: bool,
    /// `ne[0]`: elements per row.
    pub ne0: i64,
    /// `ne[1]`: rows.
    pub ne1: i64,
    /// `ne[2] * ne[3]`: must be 1.
    pub ne23: i64,
    /// `nb[0]`: bytes between elements.
    pub nb0: usize,
    /// `nb[1]`: bytes between rows.
    pub nb1: usize,
}

/// Receives the captured tensors of one decode step and assembles per-row feature vectors.
#[derive(Debug)]
pub struct CaptureState {
    plan: CapturePlan,
    enabled: bool,
    expected_rows: usize,
    rows: Vec<f32>,
    received: Vec<usize>,
    error: Option<CaptureError>,
    /// Callback invocations with `ask == true` in the current decode (diagnostics).
    asks: usize,
}

impl CaptureState {
    /// A capture that starts disabled.
    pub fn new(plan: CapturePlan) -> Self {
        let segments = plan.segments();
        Self {
            plan,
            enabled: false,
            expected_rows: 0,
            rows: Vec::new(),
            received: vec![0; segments],
            error: None,
            asks: 0,
        }
    }

    /// The plan.
    pub fn plan(&self) -> &CapturePlan {
        &self.plan
    }

    /// Prepare for a decode whose batch has `rows` output rows, with capture on, or switch
    /// capture off (`None`) so the graph runs without interruptions (prompt prefill).
    pub fn arm(&mut self, rows: Option<usize>) {
        self.error = None;
        self.asks = 0;
        self.received.iter_mut().for_each(|r| *r = 0);
        match rows {
            Some(n) => {
                self.enabled = true;
                self.expected_rows = n;
                self.rows.clear();
                self.rows.resize(n * self.plan.width(), 0.0);
            }
            None => {
                self.enabled = false;
                self.expected_rows = 0;
            }
        }
    }

    /// Callback, ask phase: is this tensor wanted?
    pub fn wants(&mut self, name: &[u8]) -> bool {
        self.asks += 1;
        self.enabled && self.error.is_none() && self.plan.segment_of(name).is_some()
    }

    /// Callback, data phase: `read_all(dst)` copies the whole tensor (`dst.len()` floats, its
    /// rows in order) into `dst`, which is where those rows belong: one copy per tensor.
    /// Returns false to ask llama.cpp to stop computing the graph (after an error).
    pub fn receive(
        &mut self,
        name: &[u8],
        meta: TensorMeta,
        read_all: &mut dyn FnMut(&mut [f32]),
    ) -> bool {
        if !self.enabled || self.error.is_some() {
            return self.error.is_none();
        }
        let Some(seg) = self.plan.segment_of(name) else {
            return true;
        };
        let n_embd = self.plan.n_embd;
        let name_str = || String::from_utf8_lossy(name).into_owned();
        if !meta.is_f32 {
            self.error = Some(CaptureError::Layout {
                name: name_str(),
                detail: "element type is not f32".into(),
            });
            return false;
        }
        if meta.ne0 != n_embd as i64 || meta.ne23 != 1 || meta.ne1 < 0 {
            self.error = Some(CaptureError::Layout {
                name: name_str(),
                detail: format!(
                    "shape [{}, {}, x{}] but expected [{n_embd}, rows]",
                    meta.ne0, meta.ne1, meta.ne23
                ),
            });
            return false;
        }
        if meta.nb0 != 4 || meta.nb1 != 4 * n_embd {
            self.error = Some(CaptureError::Layout {
                name: name_str(),
                detail: format!(
                    "not contiguous (nb0 {}, nb1 {}, expected 4 and {})",
                    meta.nb0,
                    meta.nb1,
                    4 * n_embd
                ),
            });
            return false;
        }
        let n = meta.ne1 as usize;
        let start = self.received[seg];
        if start + n > self.expected_rows {
            self.error = Some(CaptureError::RowCount {
                name: name_str(),
                expected: self.expected_rows,
                got: start + n,
            });
            return false;
        }
        let off = (seg * self.expected_rows + start) * n_embd;
        read_all(&mut self.rows[off..off + n * n_embd]);
        self.received[seg] = start + n;
        true
    }

    /// Records a panic caught at the C boundary.
    pub fn record_panic(&mut self, what: String) {
        if self.error.is_none() {
            self.error = Some(CaptureError::Panic(what));
        }
    }

    /// After a decode: every segment must have delivered exactly the expected rows.
    pub fn finish(&mut self) -> Result<(), CaptureError> {
        if let Some(e) = self.error.take() {
            return Err(e);
        }
        if !self.enabled {
            return Ok(());
        }
        for (seg, &got) in self.received.iter().enumerate() {
            if got == 0 {
                let (state, name) = self.plan.describe_segment(seg);
                return Err(CaptureError::MissingTensor { state, name });
            }
            if got != self.expected_rows {
                let (_, name) = self.plan.describe_segment(seg);
                return Err(CaptureError::RowCount {
                    name,
                    expected: self.expected_rows,
                    got,
                });
            }
        }
        Ok(())
    }

    /// All captured rows of segment `seg` (`rows x n_embd`, batch order) after a successful
    /// `finish`.
    pub fn segment_rows(&self, seg: usize) -> &[f32] {
        let n = self.expected_rows * self.plan.n_embd;
        &self.rows[seg * n..(seg + 1) * n]
    }

    /// Segment `seg` of batch row `r`.
    pub fn segment(&self, seg: usize, r: usize) -> &[f32] {
        let e = self.plan.n_embd;
        &self.segment_rows(seg)[r * e..(r + 1) * e]
    }

    /// Appends the feature vector of batch row `r` (the segments concatenated) to `out`.
    pub fn row_into(&self, r: usize, out: &mut Vec<f32>) {
        for seg in 0..self.plan.segments() {
            out.extend_from_slice(self.segment(seg, r));
        }
    }

    /// Rows expected in the current decode.
    pub fn expected_rows(&self) -> usize {
        self.expected_rows
    }

    /// `ask` calls seen in the last decode.
    pub fn asks(&self) -> usize {
        self.asks
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::features::StateSpec;

    fn meta(rows: i64, n_embd: i64) -> TensorMeta {
        TensorMeta {
            is_f32: true,
            ne0: n_embd,
            ne1: rows,
            ne23: 1,
            nb0: 4,
            nb1: 4 * n_embd as usize,
        }
    }

    #[test]
    fn names_map_to_segments() {
        let sel = StateSpec::List(vec![0, 2, 5]).resolve(5).unwrap();
        let plan = CapturePlan::new(&sel, 3);
        assert_eq!(plan.segment_of(b"embd"), Some(0));
        assert_eq!(plan.segment_of(b"inp_scaled"), Some(0));
        assert_eq!(plan.segment_of(b"l_out-1"), Some(1));
        assert_eq!(plan.segment_of(b"l_out-0"), None);
        assert_eq!(
            plan.segment_of(b"l_out-4"),
            None,
            "last block output has no state number"
        );
        assert_eq!(plan.segment_of(b"l_out-99"), None);
        assert_eq!(plan.segment_of(b"l_out-1x"), None);
        assert_eq!(plan.segment_of(b"result_norm"), Some(2));
        assert_eq!(plan.segment_of(b"result_output"), None);
    }

    #[test]
    fn rows_from_several_ubatches_are_appended_in_order() {
        let sel = StateSpec::List(vec![1, 2]).resolve(3).unwrap();
        let mut st = CaptureState::new(CapturePlan::new(&sel, 2));
        st.arm(Some(3));
        // Segment 1 (l_out-1) arrives first, in two ubatches of 2 and 1 rows.
        let fill = |base: f32| {
            move |dst: &mut [f32]| {
                for (r, row) in dst.chunks_exact_mut(2).enumerate() {
                    row[0] = base + r as f32;
                    row[1] = -(base + r as f32);
                }
            }
        };
        assert!(st.wants(b"l_out-1"));
        assert!(st.receive(b"l_out-1", meta(2, 2), &mut fill(10.0)));
        assert!(st.receive(b"l_out-0", meta(2, 2), &mut fill(0.0)));
        assert!(st.receive(b"l_out-1", meta(1, 2), &mut fill(12.0)));
        assert!(st.receive(b"l_out-0", meta(1, 2), &mut fill(2.0)));
        st.finish().unwrap();
        let row = |r: usize| {
            let mut v = Vec::new();
            st.row_into(r, &mut v);
            v
        };
        assert_eq!(row(0), &[0.0, -0.0, 10.0, -10.0]);
        assert_eq!(row(1), &[1.0, -1.0, 11.0, -11.0]);
        assert_eq!(row(2), &[2.0, -2.0, 12.0, -12.0]);
        assert_eq!(st.segment_rows(1), &[10.0, -10.0, 11.0, -11.0, 12.0, -12.0]);
    }

    #[test]
    fn missing_and_extra_rows_are_errors() {
        let sel = StateSpec::List(vec![0, 1]).resolve(3).unwrap();
        let mut st = CaptureState::new(CapturePlan::new(&sel, 2));
        st.arm(Some(2));
        let mut noop = |_: &mut [f32]| {};
        assert!(st.receive(b"embd", meta(2, 2), &mut noop));
        let err = st.finish().unwrap_err();
        assert!(
            matches!(err, CaptureError::MissingTensor { state: 1, .. }),
            "{err}"
        );

        st.arm(Some(2));
        assert!(st.receive(b"embd", meta(2, 2), &mut noop));
        assert!(!st.receive(b"embd", meta(1, 2), &mut noop));
        assert!(matches!(
            st.finish(),
            Err(CaptureError::RowCount { got: 3, .. })
        ));

        st.arm(Some(2));
        assert!(!st.receive(b"embd", meta(2, 3), &mut noop));
        assert!(matches!(st.finish(), Err(CaptureError::Layout { .. })));
        let mut bad = meta(2, 2);
        bad.nb1 = 64;
        st.arm(Some(2));
        assert!(!st.receive(b"embd", bad, &mut noop));
        assert!(matches!(st.finish(), Err(CaptureError::Layout { .. })));
    }

    #[test]
    fn disabled_capture_wants_nothing() {
        let sel = StateSpec::All.resolve(2).unwrap();
        let mut st = CaptureState::new(CapturePlan::new(&sel, 2));
        st.arm(None);
        assert!(!st.wants(b"embd"));
        assert!(st.finish().is_ok());
    }
}
