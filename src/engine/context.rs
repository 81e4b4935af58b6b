//! A llama.cpp context together with the capture state its eval callback writes into.

use std::num::NonZeroU32;

use llama_cpp_2::context::params::{LlamaContextParams, LlamaPoolingType};
use llama_cpp_2::context::LlamaContext;
use llama_cpp_2::llama_batch::LlamaBatch;

use super::{backend, Engine, EngineError};
use crate::capture::ffi::CaptureHandle;
use crate::capture::{CapturePlan, CaptureState};

/// Size and threading of a context.
#[derive(Debug, Clone, Copy)]
pub(crate) struct ContextShape {
    pub n_ctx: u32,
    pub n_batch: u32,
    pub n_ubatch: u32,
    pub n_seq: u32,
    pub n_threads: i32,
    pub embeddings: bool,
}

/// Owns a context and its capture state. Field order matters: `ctx` is declared first so it is
/// dropped before the capture state its callback points at.
pub(crate) struct CapturingContext<'m> {
    ctx: LlamaContext<'m>,
    capture: Option<CaptureHandle>,
}

impl<'m> CapturingContext<'m> {
    pub fn new(
        engine: &'m Engine,
        shape: ContextShape,
        plan: Option<CapturePlan>,
    ) -> Result<Self, EngineError> {
        let mut params = LlamaContextParams::default()
            .with_n_ctx(NonZeroU32::new(shape.n_ctx))
            .with_n_batch(shape.n_batch)
            .with_n_ubatch(shape.n_ubatch)
            .with_n_seq_max(shape.n_seq)
            .with_kv_unified(true)
            .with_n_threads(shape.n_threads)
            .with_n_threads_batch(shape.n_threads)
            .with_embeddings(shape.embeddings);
        if shape.embeddings {
            params = params.with_pooling_type(LlamaPoolingType::None);
        }
        let capture = plan.map(|p| CaptureHandle::new(CaptureState::new(p)));
        if let Some(h) = &capture {
            params = h.install(params)?;
        }
        let ctx = engine
            .model()
            .new_context(backend()?, params)
            .map_err(|_| EngineError::Context {
                n_ctx: shape.n_ctx,
                n_seq: shape.n_seq,
            })?;
        Ok(Self { ctx, capture })
    }

    /// Decodes `batch`. With `capture_rows = Some(n)` the capture is armed for a batch with `n`
    /// output rows and verified afterwards; with `None` the callback asks for nothing, so the
    /// graph runs uninterrupted (prompt prefill).
    pub fn decode(
        &mut self,
        batch: &mut LlamaBatch,
        capture_rows: Option<usize>,
        step: usize,
    ) -> Result<(), EngineError> {
        if let Some(h) = self.capture.as_mut() {
            h.state().arm(capture_rows);
        }
        let result = self.ctx.decode(batch);
        // A capture error explains a stopped graph better than the decode status does.
        if let Some(h) = self.capture.as_mut() {
            h.state().finish()?;
        }
        result.map_err(|e| EngineError::Decode {
            step,
            detail: e.to_string(),
        })
    }

    /// Captured feature vector of batch row `r` of the last decode.
    pub fn captured_row(&mut self, r: usize) -> &[f32] {
        self.capture
            .as_mut()
            .expect("captured_row without a capture plan")
            .state()
            .row(r)
    }

    /// Callback `ask` calls during the last decode (0 without a capture plan).
    pub fn asks(&mut self) -> usize {
        self.capture.as_mut().map_or(0, |h| h.state().asks())
    }

    pub fn ctx(&self) -> &LlamaContext<'m> {
        &self.ctx
    }

    pub fn ctx_mut(&mut self) -> &mut LlamaContext<'m> {
        &mut self.ctx
    }
}
