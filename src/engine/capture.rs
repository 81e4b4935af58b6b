//! Which capture backend a generation uses: the eval callback (every architecture) or llama.cpp's
//! layer-input outputs (one graph per step; only architectures whose graph builder records the
//! layer input), chosen per architecture and verified once per loaded model.
//!
//! Mapping (the Hugging Face hidden-state tuple): state s < L is the input of block s (state 0
//! the token embeddings), state L the final norm, read from the embeddings
//! (`llama_set_embeddings`). Every selectable state is covered: `last:K` is states L-K..L-1, the
//! inputs of the last K blocks, so the raw output of the last block (`l_out-(L-1)`, which is not
//! a layer input) is never needed.

use std::time::Instant;

use super::ffi;
use super::generate::{CheckDecode, FeatureRequest};
use super::{Engine, EngineError};
use crate::capture::{BackendDecision, CaptureBackend, CaptureChoice, CapturePlan};
use crate::features::StateSpec;

/// `general.architecture` values whose graph builder in the vendored llama.cpp sets the layer
/// input of every block (`res->t_layer_inp[il]` in `src/models/<arch>.cpp`). Enabling layer
/// inputs on any other architecture (gemma3 and qwen2 among them) aborts the process inside
/// llama.cpp (`GGML_ASSERT`), so this list is the gate; a probe decode then verifies the rows.
pub const LAYER_INPUT_ARCHITECTURES: &[&str] = &["llama", "qwen3", "qwen3moe"];

/// On a CPU-only build, whether `auto` picks the layer-input backend where it is supported: no,
/// by measurement. `swift-bon bench` runs both backends side by side, paired per run; on the
/// development machine (2 cores, SmolLM2-135M Q4_1 and Q8_0, N = 1 and 8, 3 runs, nothing else
/// running) layer input ÷ callback decode throughput had medians 0.973–1.007, at or below 1 in
/// 11 of 12 cells (the callback 0–3% ahead); an earlier run on a loaded machine was a tie. Both
/// backends give bit-identical rows and scores, and `--capture layer-input` stays one flag away
/// (the tests run both). See BENCHMARKS.md, "Capture backends". On GPU builds `auto` picks
/// layer input where supported, by design: the callback forces a synchronisation per captured
/// tensor.
const CPU_AUTO_LAYER_INPUT: bool = false;

impl Engine {
    /// Whether this model's architecture is on the layer-input allow-list.
    pub fn supports_layer_input(&self) -> bool {
        LAYER_INPUT_ARCHITECTURES.contains(&self.info.architecture.as_str())
    }

    /// The backend a generation with `choice` and `features` uses on this model, and why.
    /// The first time it would pick the layer-input backend it runs a short probe decode that
    /// captures every state through both backends and requires bit-identical rows; a failed
    /// probe falls back to the callback.
    pub fn capture_backend(
        &self,
        choice: CaptureChoice,
        features: &FeatureRequest,
    ) -> BackendDecision {
        let decide = |backend, reason: String, fell_back| BackendDecision {
            backend,
            reason,
            fell_back,
        };
        match features {
            FeatureRequest::Logits => {
                return decide(CaptureBackend::Logits, "logits requested".into(), false)
            }
            FeatureRequest::None => {
                return decide(
                    CaptureBackend::Callback,
                    "no features requested: nothing is captured".into(),
                    false,
                )
            }
            FeatureRequest::Hidden(_) => {}
        }
        let arch = &self.info.architecture;
        let gpu = ffi::supports_gpu_offload();
        match choice {
            CaptureChoice::Callback => {
                return decide(CaptureBackend::Callback, "requested (--capture callback)".into(), false)
            }
            CaptureChoice::Auto if !self.supports_layer_input() => {
                return decide(
                    CaptureBackend::Callback,
                    format!(
                        "architecture {arch} does not record layer inputs in this llama.cpp (supported: {})",
                        LAYER_INPUT_ARCHITECTURES.join(", ")
                    ),
                    false,
                )
            }
            CaptureChoice::LayerInput if !self.supports_layer_input() => {
                return decide(
                    CaptureBackend::Callback,
                    format!(
                        "layer input requested, but architecture {arch} does not record layer inputs in this llama.cpp (supported: {}): falling back to the eval callback",
                        LAYER_INPUT_ARCHITECTURES.join(", ")
                    ),
                    true,
                )
            }
            CaptureChoice::Auto if !gpu && !CPU_AUTO_LAYER_INPUT => {
                return decide(
                    CaptureBackend::Callback,
                    "CPU build: on CPU the eval callback measured 0-3% faster than layer input (BENCHMARKS.md, Capture backends); --capture layer-input takes the other path".into(),
                    false,
                )
            }
            _ => {}
        }
        let why = match (choice, gpu) {
            (CaptureChoice::LayerInput, _) => "requested (--capture layer-input)".to_string(),
            (_, true) => format!(
                "GPU build and architecture {arch} records layer inputs: one graph per step instead of a synchronisation per captured tensor"
            ),
            (_, false) => format!(
                "architecture {arch} records layer inputs; on CPU it measured level with the eval callback (BENCHMARKS.md), and it is the GPU builds' path: one graph per step, rows read in place"
            ),
        };
        match self.layer_input_probe() {
            Ok(()) => decide(
                CaptureBackend::LayerInput,
                format!("{why}; probe decode bit-identical to the callback"),
                false,
            ),
            Err(e) => decide(
                CaptureBackend::Callback,
                format!("layer-input probe failed ({e}): falling back to the eval callback"),
                true,
            ),
        }
    }

    /// The cached outcome of the layer-input probe (run on first use).
    fn layer_input_probe(&self) -> Result<(), String> {
        self.layer_input_probe
            .get_or_init(|| {
                let t0 = Instant::now();
                let r = self
                    .run_layer_input_probe()
                    .map_err(|e| e.to_string())
                    .and_then(|r| r);
                tracing::debug!(
                    "layer-input probe on {}: {:?} in {:?}",
                    self.info.architecture,
                    r,
                    t0.elapsed()
                );
                r
            })
            .clone()
    }

    /// Decodes a short text once with every state captured by the eval callback and, in the
    /// same decode, through the layer inputs and the embeddings; compares them bit for bit.
    fn run_layer_input_probe(&self) -> Result<Result<(), String>, EngineError> {
        debug_assert!(
            self.supports_layer_input(),
            "probe on an unsupported architecture"
        );
        let n_layer = self.info.n_layer;
        let selection = StateSpec::All.resolve(n_layer)?;
        let n_embd = self.info.n_embd as usize;
        let plan = CapturePlan::new(&selection, n_embd);
        let CheckDecode { mut cc, batch, len } = self.check_decode(plan)?;
        if !cc.ctx().pooling_is_none() {
            return Ok(Err("the model's context pools embeddings".into()));
        }
        for il in 0..n_layer {
            cc.ctx_mut().set_layer_input(il, true);
        }
        cc.ctx_mut().set_embeddings(true);
        cc.decode(&batch, Some(len), 0)?;
        let st = cc.capture_state().expect("callback context");
        for (seg, &s) in selection.states().iter().enumerate() {
            let via_layer = if s == n_layer {
                cc.ctx().embeddings(len)
            } else {
                cc.ctx().layer_input(s, len)
            };
            let Some(via_layer) = via_layer else {
                return Ok(Err(format!("no layer-input data for state {s}")));
            };
            let via_callback = st.segment_rows(seg);
            if via_layer.len() != via_callback.len() {
                return Ok(Err(format!(
                    "state {s}: {} floats vs {}",
                    via_layer.len(),
                    via_callback.len()
                )));
            }
            if let Some(i) = via_layer
                .iter()
                .zip(via_callback)
                .position(|(a, b)| a.to_bits() != b.to_bits())
            {
                return Ok(Err(format!(
                    "state {s} differs from the callback's at token {} dimension {}",
                    i / n_embd,
                    i % n_embd
                )));
            }
        }
        Ok(Ok(()))
    }
}
