//! Converting a model file into another weight format with llama.cpp's own quantiser
//! (`llama_model_quantize` from `llama.h`, bound by llama-cpp-sys-2; llama-cpp-2 has no safe
//! wrapper for it), and checking the result. The orchestration (source verification, temporary
//! file, sidecar, atomic rename) is in [`crate::weights`]; this file is only the llama part.

use std::ffi::CString;
use std::path::Path;

use super::{backend, Engine, EngineError, GenerateOptions};
use crate::features::NullSink;
use crate::weights::{Converter, ConverterInfo, WeightFormat};

/// The text whose greedy continuation a converted model must start like the original.
const CHECK_PROMPT: &str = "The capital of France is";

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

impl Converter for LlamaConverter {
    fn convert(&self, src: &Path, dst: &Path, format: WeightFormat) -> Result<(), String> {
        let ftype = ftype(format).ok_or("the original format is not a conversion")?;
        backend().map_err(|e| e.to_string())?;
        let (inp, out) = (c_path(src)?, c_path(dst)?);
        // SAFETY: returns a plain struct by value; no pointers are retained.
        let mut params = unsafe { llama_cpp_sys_2::llama_model_quantize_default_params() };
        params.ftype = ftype;
        params.allow_requantize = true;
        params.nthread = self.threads.unwrap_or(0);
        // SAFETY: both paths are NUL-terminated strings that outlive the call; `params` is a
        // valid struct from llama.cpp's own defaults whose pointer fields (imatrix, overrides,
        // pruned layers) are still null. llama.cpp catches its C++ exceptions and returns
        // non-zero on failure.
        let rc =
            unsafe { llama_cpp_sys_2::llama_model_quantize(inp.as_ptr(), out.as_ptr(), &params) };
        if rc != 0 {
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
        let want = greedy_start(&orig).map_err(|e| e.to_string())?;
        let got = greedy_start(&conv).map_err(|e| e.to_string())?;
        if want.first() != got.first() {
            return Err(format!(
                "greedy continuation of {CHECK_PROMPT:?} starts {:?}, the original's {:?}",
                conv.detokenize(&got),
                orig.detokenize(&want)
            ));
        }
        let same = want.iter().zip(&got).take_while(|(x, y)| x == y).count();
        Ok(format!(
            "loads ({} layers, hidden {}), one decode of {} tokens with all {} states finite, greedy continuation of {CHECK_PROMPT:?} = {:?} ({same}/{} tokens as the original)",
            b.n_layer,
            b.n_embd,
            sc.tokens,
            sc.states,
            conv.detokenize(&got),
            want.len()
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
