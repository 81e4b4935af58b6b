//! Converting a model file into another weight format with llama.cpp's own quantiser
//! (`llama_model_quantize` from `llama.h`, bound by llama-cpp-sys-2; llama-cpp-2 has no safe
//! wrapper for it), and checking the result. The orchestration (source verification, temporary
//! file, sidecar, atomic rename) is in [`crate::weights`]; this file is only the llama part, and
//! its one FFI call is `ffi::model_quantize`.

use std::ffi::CString;
use std::path::Path;

use super::{backend, ffi, Engine, EngineError, GenerateOptions};
use crate::features::{NullSink, StateSpec};
use crate::weights::{Converter, ConverterInfo, WeightFormat};

/// The text whose greedy continuation is recorded (and compared with the original's).
const CHECK_PROMPT: &str = "The capital of France is";

/// A text re-encoded by both models: their final-norm states must point the same way.
const CHECK_TEXT: &str = "Question: What is 47 + 38? Answer: 47 + 38 = 85. The answer is 85. \
    Alice has a coin showing heads. She flips it, then Bob does not flip it. Is it still heads? No.";

/// Smallest mean cosine similarity between the original's and the converted model's final-norm
/// states over [`CHECK_TEXT`]. A conversion into a working format measures 0.95-1.0 (see the
/// sidecar); a broken one (wrong tensors, garbage scales) is far below.
const MIN_COSINE: f64 = 0.85;

/// [`Converter`] through `llama_model_quantize` with `allow_requantize` (the known models'
/// files are already quantised: each matrix is dequantised to f32 and quantised again).
#[derive(Debug, Clone, Copy, Default)]
pub struct LlamaConverter {
    threads: Option<i32>,
}

impl LlamaConverter {
    /// A converter using all cores.
    pub fn new() -> Self {
        Self::default()
    }

    /// Threads of the quantiser (default: all cores).
    #[must_use]
    pub fn with_threads(mut self, threads: Option<i32>) -> Self {
        self.threads = threads;
        self
    }
}

fn ftype(format: WeightFormat) -> Option<llama_cpp_sys_2::llama_ftype> {
    match format {
        WeightFormat::Original => None,
        WeightFormat::Q8_0 => Some(llama_cpp_sys_2::LLAMA_FTYPE_MOSTLY_Q8_0),
        WeightFormat::Q4_0 => Some(llama_cpp_sys_2::LLAMA_FTYPE_MOSTLY_Q4_0),
        WeightFormat::Q5_0 => Some(llama_cpp_sys_2::LLAMA_FTYPE_MOSTLY_Q5_0),
    }
}

fn c_path(p: &Path) -> Result<CString, String> {
    let s = p
        .to_str()
        .ok_or_else(|| format!("{} is not valid UTF-8", p.display()))?;
    CString::new(s).map_err(|_| format!("{} contains a NUL byte", p.display()))
}

/// Greedy first tokens of [`CHECK_PROMPT`].
fn greedy_start(engine: &Engine) -> Result<Vec<i32>, EngineError> {
    let opts = GenerateOptions::new(1)
        .with_max_tokens(4)
        .with_temperature(0.0)
        .with_seed(0);
    let g = engine.generate(CHECK_PROMPT, &opts, &mut NullSink)?;
    Ok(g.candidates
        .into_iter()
        .next()
        .map(|c| c.tokens)
        .unwrap_or_default())
}

/// Mean and minimum cosine similarity of the final-norm states of [`CHECK_TEXT`] (teacher
/// forced, every position) between two models of the same shape.
fn final_state_cosine(a: &Engine, b: &Engine) -> Result<(f64, f64), EngineError> {
    let tokens = a.tokenize(CHECK_TEXT)?;
    let last = a.info().n_layer;
    let sel = StateSpec::List(vec![last]).resolve(last)?;
    let (ra, rb) = (
        a.reencode(&tokens, 0, &sel, false, None)?,
        b.reencode(&tokens, 0, &sel, false, None)?,
    );
    let w = ra.width.max(1);
    let cos: Vec<f64> = ra
        .rows
        .chunks_exact(w)
        .zip(rb.rows.chunks_exact(w))
        .map(|(x, y)| {
            let dot: f64 = x
                .iter()
                .zip(y)
                .map(|(p, q)| f64::from(*p) * f64::from(*q))
                .sum();
            let nx: f64 = x.iter().map(|p| f64::from(*p).powi(2)).sum::<f64>().sqrt();
            let ny: f64 = y.iter().map(|q| f64::from(*q).powi(2)).sum::<f64>().sqrt();
            dot / (nx * ny).max(f64::MIN_POSITIVE)
        })
        .collect();
    let mean = cos.iter().sum::<f64>() / cos.len().max(1) as f64;
    Ok((mean, cos.iter().copied().fold(f64::INFINITY, f64::min)))
}

impl Converter for LlamaConverter {
    fn convert(&self, src: &Path, dst: &Path, format: WeightFormat) -> Result<(), String> {
        let ftype = ftype(format).ok_or("the original format is not a conversion")?;
        backend().map_err(|e| e.to_string())?;
        let (inp, out) = (c_path(src)?, c_path(dst)?);
        if let Err(rc) = ffi::model_quantize(&inp, &out, ftype, self.threads.unwrap_or(0)) {
            return Err(format!(
                "llama_model_quantize returned {rc} (run with -vv for llama.cpp's log)"
            ));
        }
        Ok(())
    }

    fn check(&self, original: &Path, converted: &Path) -> Result<String, String> {
        let conv = Engine::load(converted).map_err(|e| e.to_string())?;
        let orig = Engine::load(original).map_err(|e| e.to_string())?;
        let (a, b) = (orig.info(), conv.info());
        if (a.architecture.as_str(), a.n_layer, a.n_embd, a.n_vocab)
            != (b.architecture.as_str(), b.n_layer, b.n_embd, b.n_vocab)
        {
            return Err(format!(
                "shape changed: {} {}x{} vocab {} became {} {}x{} vocab {}",
                a.architecture,
                a.n_layer,
                a.n_embd,
                a.n_vocab,
                b.architecture,
                b.n_layer,
                b.n_embd,
                b.n_vocab
            ));
        }
        let sc = conv.capture_self_check().map_err(|e| e.to_string())?;
        let (mean_cos, min_cos) = final_state_cosine(&orig, &conv).map_err(|e| e.to_string())?;
        if mean_cos.is_nan() || mean_cos < MIN_COSINE {
            return Err(format!(
                "its final states over a check text point elsewhere than the original's (mean cosine {mean_cos:.3}, minimum {min_cos:.3}, required mean {MIN_COSINE})"
            ));
        }
        let want = greedy_start(&orig).map_err(|e| e.to_string())?;
        let got = greedy_start(&conv).map_err(|e| e.to_string())?;
        let same = want.iter().zip(&got).take_while(|(x, y)| x == y).count();
        Ok(format!(
            "loads ({} layers, hidden {}), one decode of {} tokens with all {} states finite; final-state cosine to the original {mean_cos:.4} (min {min_cos:.4}); greedy continuation of {CHECK_PROMPT:?} = {:?} ({same}/{} tokens as the original's {:?})",
            b.n_layer,
            b.n_embd,
            sc.tokens,
            sc.states,
            conv.detokenize(&got),
            want.len(),
            orig.detokenize(&want)
        ))
    }

    fn info(&self) -> ConverterInfo {
        let v = super::versions();
        ConverterInfo {
            tool: "llama_model_quantize (allow_requantize)".into(),
            llama_cpp_sys_2: v.llama_cpp_sys_2.into(),
            ggml: v.ggml,
            swift_bon: format!("{} ({})", v.swift_bon, v.git),
        }
    }
}
