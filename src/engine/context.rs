//! A llama.cpp context together with the capture backend that reads features out of it.

use super::ffi::{Batch, Context, ContextConfig};
use super::{Engine, EngineError};
use crate::capture::{CaptureError, CapturePlan, CaptureState};
use crate::features::{state_kind, StateKind, StateSelection};

/// Size and threading of a context.
pub(crate) type ContextShape = ContextConfig;

/// What the context captures, and through which backend.
#[derive(Debug, Clone)]
pub(crate) enum TapSpec {
    /// Nothing (plain generation, or logits, which need no set-up).
    None,
    /// The eval callback with this plan.
    Callback(CapturePlan),
    /// Layer-input outputs (and the embeddings for the final norm) of these states.
    LayerInput(StateSelection),
}

/// Owns a context and its capture backend (the eval callback's state lives inside [`Context`],
/// which frees the llama.cpp context before it).
pub(crate) struct CapturingContext<'m> {
    ctx: Context<'m>,
    /// Layer-input backend: the selected states, and whether their outputs are switched on.
    layer_input: Option<(StateSelection, bool)>,
    n_embd: usize,
}

/// The hidden-state segments of one decode step, read in place: for each selected state (in
/// ascending order) the rows of every batch row, `rows x n_embd`, in batch order.
pub(crate) struct StepSegments<'a> {
    bases: Vec<&'a [f32]>,
    n_embd: usize,
}

impl<'a> StepSegments<'a> {
    /// Fills `out` with the segments of batch row `i` (no copy).
    pub fn row(&self, i: usize, out: &mut Vec<&'a [f32]>) {
        out.clear();
        let e = self.n_embd;
        out.extend(self.bases.iter().map(|b| &b[i * e..(i + 1) * e]));
    }

    /// Number of segments.
    pub fn len(&self) -> usize {
        self.bases.len()
    }
}

impl<'m> CapturingContext<'m> {
    pub fn new(engine: &'m Engine, shape: ContextShape, tap: TapSpec) -> Result<Self, EngineError> {
        let (capture, layer_input) = match tap {
            TapSpec::None => (None, None),
            TapSpec::Callback(plan) => (Some(CaptureState::new(plan)), None),
            TapSpec::LayerInput(sel) => (None, Some((sel, false))),
        };
        let ctx = Context::new(engine.model(), shape, capture).ok_or(EngineError::Context {
            n_ctx: shape.n_ctx,
            n_seq: shape.n_seq,
        })?;
        if layer_input.is_some() && !ctx.pooling_is_none() {
            return Err(EngineError::Backend(
                "the layer-input backend needs per-token embeddings, but this model's context pools them".into(),
            ));
        }
        Ok(Self {
            ctx,
            layer_input,
            n_embd: engine.info().n_embd as usize,
        })
    }

    /// Decodes `batch`. With `capture_rows = Some(n)` the capture is armed for a batch with `n`
    /// output rows and verified afterwards; with `None` nothing is captured, so the graph runs
    /// uninterrupted and no prompt row is copied (prompt prefill).
    pub fn decode(
        &mut self,
        batch: &Batch,
        capture_rows: Option<usize>,
        step: usize,
    ) -> Result<(), EngineError> {
        if let Some(st) = self.ctx.capture() {
            st.arm(capture_rows);
        }
        if let Some((sel, on)) = self.layer_input.as_mut() {
            let want = capture_rows.is_some();
            if *on != want {
                // Switching outputs re-reserves llama.cpp's graph once; the engine switches them
                // on after the prefill and leaves them on.
                let n_layer = sel.n_layer();
                let states = sel.states().to_vec();
                for s in states {
                    match state_kind(s, n_layer) {
                        StateKind::FinalNorm => self.ctx.set_embeddings(want),
                        _ => self.ctx.set_layer_input(s, want),
                    }
                }
                *on = want;
            }
        }
        let status = self.ctx.decode(batch);
        // A capture error explains a stopped graph better than the decode status does.
        if let Some(st) = self.ctx.capture() {
            st.finish()?;
        }
        if status != 0 {
            return Err(EngineError::Decode {
                step,
                detail: decode_status(status),
            });
        }
        Ok(())
    }

    /// The hidden-state segments of the last decode (`rows` batch rows), read in place from the
    /// callback's buffers or llama.cpp's layer-input and embedding buffers.
    pub fn segments(&self, rows: usize) -> Result<StepSegments<'_>, EngineError> {
        let n_embd = self.n_embd;
        if let Some((sel, _)) = &self.layer_input {
            let n_layer = sel.n_layer();
            let mut bases = Vec::with_capacity(sel.len());
            for &s in sel.states() {
                let b = match state_kind(s, n_layer) {
                    StateKind::FinalNorm => self.ctx.embeddings(rows),
                    _ => self.ctx.layer_input(s, rows),
                };
                bases.push(b.ok_or(CaptureError::LayerInputMissing { state: s })?);
            }
            return Ok(StepSegments { bases, n_embd });
        }
        let st = self
            .ctx
            .capture_ref()
            .expect("segments() on a context that captures nothing");
        let bases = (0..st.plan().segments())
            .map(|seg| &st.segment_rows(seg)[..rows * n_embd])
            .collect();
        Ok(StepSegments { bases, n_embd })
    }

    /// The callback's capture state (reference paths: re-encode, self-check).
    pub fn capture_state(&self) -> Option<&CaptureState> {
        self.ctx.capture_ref()
    }

    pub fn ctx(&self) -> &Context<'m> {
        &self.ctx
    }

    pub fn ctx_mut(&mut self) -> &mut Context<'m> {
        &mut self.ctx
    }
}

/// llama-cpp-2's wording of a `llama_decode` status.
fn decode_status(status: i32) -> String {
    match status {
        1 => "Decode Error 1: NoKvCacheSlot".into(),
        -1 => "Decode Error -1: n_tokens == 0".into(),
        s => format!("Decode Error {s}: unknown"),
    }
}

/// Whether `n` candidates of at most `max_new` tokens after a prompt of `np` tokens decode with
/// one KV stream per candidate rather than one cache they all share.
///
/// In a shared cache the candidates' cells interleave, and llama.cpp's CPU attention visits every
/// cell of the cache for every row, skipping the other candidates' cells one by one: a token costs
/// more the longer all candidates together have grown (BENCHMARKS.md, "Long candidates"). With one
/// stream each, a row visits only the prompt and its own candidate, over the same cells in the
/// same order, so the results do not change (README, "How it works"). The price is the prompt
/// copied into every stream,
/// so streams are used while they at most double the cells the shared cache would need: short
/// prompts, the Best-of-N case, not a long document with many short answers.
pub(crate) fn kv_per_sequence(n: usize, np: usize, max_new: usize) -> bool {
    let shared = np + n * (max_new + 1);
    let streams = n * (np + max_new + 1);
    n > 1 && streams <= 2 * shared
}

#[cfg(test)]
mod tests {
    use super::kv_per_sequence;

    #[test]
    fn candidates_get_streams_of_their_own_while_the_copied_prompt_is_cheap() {
        // Best-of-N on a question: 16 x (50 + 193) cells against 50 + 16 x 193.
        assert!(kv_per_sequence(16, 50, 192));
        assert!(kv_per_sequence(2, 3000, 10)); // 2 x 3011 = 6022 <= 2 x 3022
                                               // A long document with many short answers would copy it 16 times.
        assert!(!kv_per_sequence(16, 2000, 64));
        // The boundary: streams exactly double the shared cells (n = 4, np = 2, max_new = 0).
        assert!(kv_per_sequence(4, 2, 0)); // 4 x 3 = 12 <= 2 x 6
        assert!(!kv_per_sequence(4, 3, 0)); // 4 x 4 = 16 > 2 x 7
                                            // One candidate: nothing to share.
        assert!(!kv_per_sequence(1, 10, 10));
    }
}
