//! The one file with raw pointers: the llama.cpp model, vocabulary, context, batch and samplers
//! as owned through `llama_cpp_sys_2`, the eval callback, and the layer-input shim.
//!
//! Why the sys crate and not llama-cpp-2's wrappers: the layer-input capture backend needs the
//! raw `llama_context *` (`llama_set_embeddings_layer_inp` takes it), and llama-cpp-2 0.1.160
//! keeps both `llama_context *` and `llama_model *` crate-private in `repr(Rust)` structs, with
//! no accessor and no constructor from a raw pointer. Reading those fields by offset would be a
//! guess about a layout Rust does not promise. So the engine owns the model and the context
//! itself, making exactly the calls llama-cpp-2 0.1.160 makes (same default parameters, same
//! tokenizer flags, same buffer handling, same sampler construction), and results stay
//! bit-identical. Owning the context also lets us set `cb_eval` directly, which retires the
//! parameter-layout shim that used to write two fields of llama-cpp-2's parameter wrapper.
//! llama-cpp-2 remains for the process-wide backend initialisation and log routing.
//!
//! Eval-callback protocol (ggml_backend_sched): for every graph node the scheduler calls
//! `cb(t, ask = true, user_data)`; returning true marks the node wanted, which ends a sub-graph
//! there. It then computes up to that node and calls `cb(t, ask = false, user_data)` with the data
//! ready; the data must be copied during that call (buffers are reused). Returning false from the
//! data call stops the graph computation; we do that only after an error, which the engine
//! surfaces after `llama_decode` returns.
//!
//! Layer-input protocol (llama.cpp's `src/llama-ext.h`): `llama_set_embeddings_layer_inp(ctx,
//! il, true)` marks the input of block il as a graph output; after each decode llama.cpp copies
//! it (asynchronously, after the graph) into a host buffer of `n_embd * n_batch` floats that
//! `llama_get_embeddings_layer_inp` returns after synchronising. Architectures whose graph builder
//! does not record the layer input abort the process inside llama.cpp (`GGML_ASSERT`), so the
//! engine enables it only for an allow-list of architectures (see `engine/capture.rs`).

use std::ffi::{c_char, c_void, CStr, CString};
use std::marker::PhantomData;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::Path;
use std::ptr::NonNull;

use llama_cpp_sys_2 as sys;

use crate::capture::{CaptureState, TensorMeta};

extern "C" {
    // src/engine/layer_inp.cpp, compiled by build.rs against the vendored llama-ext.h.
    fn swift_bon_set_embeddings_layer_inp(ctx: *mut sys::llama_context, il: u32, value: bool);
    fn swift_bon_get_embeddings_layer_inp(ctx: *mut sys::llama_context, il: u32) -> *mut f32;
}

/// A loaded model (`llama_model *`), freed on drop.
#[derive(Debug)]
pub(crate) struct Model {
    ptr: NonNull<sys::llama_model>,
}

// SAFETY: as in llama-cpp-2 (`impl Send/Sync for LlamaModel`): the model is immutable after
// loading; every call below takes it as `const` except context creation, which llama-cpp-2
// also performs through a shared reference.
unsafe impl Send for Model {}
// SAFETY: see above.
unsafe impl Sync for Model {}

impl Drop for Model {
    fn drop(&mut self) {
        // SAFETY: `ptr` came from `llama_load_model_from_file` and is freed exactly once, here;
        // contexts borrow the model (`Context<'m>`), so none outlives it.
        unsafe { sys::llama_free_model(self.ptr.as_ptr()) }
    }
}

impl Model {
    /// `llama_load_model_from_file(path, llama_model_default_params())`, as
    /// `LlamaModel::load_from_file(.., &LlamaModelParams::default())` does. The backend must be
    /// initialised first. `None` when llama.cpp refuses the file or the path is not UTF-8.
    pub fn load(path: &Path) -> Option<Self> {
        let c_path = CString::new(path.to_str()?).ok()?;
        // SAFETY: plain-old-data defaults from llama.cpp.
        let params = unsafe { sys::llama_model_default_params() };
        // SAFETY: `c_path` is a valid NUL-terminated string for the duration of the call.
        let ptr = unsafe { sys::llama_load_model_from_file(c_path.as_ptr(), params) };
        NonNull::new(ptr).map(|ptr| Self { ptr })
    }

    fn vocab(&self) -> *const sys::llama_vocab {
        // SAFETY: valid model; the vocabulary lives as long as the model.
        unsafe { sys::llama_model_get_vocab(self.ptr.as_ptr()) }
    }

    /// A GGUF metadata string (`llama_model_meta_val_str`, 256-byte first try as in
    /// llama-cpp-2).
    pub fn meta_val_str(&self, key: &str) -> Option<String> {
        let key = CString::new(key).ok()?;
        let mut cap = 256usize;
        loop {
            let mut buf = vec![0u8; cap];
            // SAFETY: `buf` has `cap` writable bytes; `key` is NUL-terminated.
            let n = unsafe {
                sys::llama_model_meta_val_str(
                    self.ptr.as_ptr(),
                    key.as_ptr(),
                    buf.as_mut_ptr().cast::<c_char>(),
                    cap,
                )
            };
            let n = usize::try_from(n).ok()?;
            if n >= cap {
                cap = n + 1;
                continue;
            }
            buf.truncate(n);
            return String::from_utf8(buf).ok();
        }
    }

    pub fn n_layer(&self) -> u32 {
        // SAFETY: valid model.
        u32::try_from(unsafe { sys::llama_model_n_layer(self.ptr.as_ptr()) }).unwrap_or(0)
    }

    pub fn n_embd(&self) -> i32 {
        // SAFETY: valid model.
        unsafe { sys::llama_n_embd(self.ptr.as_ptr()) }
    }

    pub fn n_vocab(&self) -> i32 {
        // SAFETY: valid vocabulary of a valid model.
        unsafe { sys::llama_vocab_n_tokens(self.vocab()) }
    }

    pub fn n_ctx_train(&self) -> u32 {
        // SAFETY: valid model.
        u32::try_from(unsafe { sys::llama_n_ctx_train(self.ptr.as_ptr()) }).unwrap_or(0)
    }

    pub fn n_params(&self) -> u64 {
        // SAFETY: valid model.
        unsafe { sys::llama_model_n_params(self.ptr.as_ptr()) }
    }

    /// The GGUF's default chat template (`llama_model_chat_template(model, NULL)`).
    pub fn chat_template(&self) -> Option<CString> {
        // SAFETY: valid model; a null name asks for the default template.
        let p = unsafe { sys::llama_model_chat_template(self.ptr.as_ptr(), std::ptr::null()) };
        if p.is_null() {
            return None;
        }
        // SAFETY: non-null NUL-terminated string owned by the model; copied at once.
        Some(unsafe { CStr::from_ptr(p) }.to_owned())
    }

    /// `llama_tokenize` with llama-cpp-2's buffer handling (a first guess, then the exact size).
    pub fn tokenize(&self, text: &[u8], add_special: bool, parse_special: bool) -> Vec<i32> {
        let Ok(len) = i32::try_from(text.len()) else {
            return Vec::new();
        };
        let mut out: Vec<i32> =
            Vec::with_capacity((text.len() / 2 + usize::from(add_special)).max(8));
        for _ in 0..2 {
            let cap = i32::try_from(out.capacity()).unwrap_or(i32::MAX);
            // SAFETY: `out` has `cap` writable i32 slots of spare capacity (len is 0); `text`
            // is valid for `len` bytes.
            let n = unsafe {
                sys::llama_tokenize(
                    self.vocab(),
                    text.as_ptr().cast::<c_char>(),
                    len,
                    out.as_mut_ptr(),
                    cap,
                    add_special,
                    parse_special,
                )
            };
            if n >= 0 {
                // SAFETY: llama.cpp wrote `n <= cap` tokens.
                unsafe { out.set_len(n as usize) };
                return out;
            }
            if n == i32::MIN {
                break;
            }
            out.reserve_exact((-n) as usize);
        }
        Vec::new()
    }

    /// Appends the text of `tokens` to `out` (`llama_detokenize`), with llama-cpp-2's retry on a
    /// too-small buffer.
    pub fn detokenize_into(
        &self,
        tokens: &[i32],
        out: &mut Vec<u8>,
        remove_special: bool,
        unparse_special: bool,
    ) {
        let Ok(n_tokens) = i32::try_from(tokens.len()) else {
            return;
        };
        for _ in 0..2 {
            let spare = out.capacity() - out.len();
            let cap = i32::try_from(spare).unwrap_or(i32::MAX);
            // SAFETY: `cap` bytes of spare capacity start at `out.as_mut_ptr() + len`; `tokens`
            // is valid for `n_tokens` entries.
            let n = unsafe {
                sys::llama_detokenize(
                    self.vocab(),
                    tokens.as_ptr(),
                    n_tokens,
                    out.as_mut_ptr().add(out.len()).cast::<c_char>(),
                    cap,
                    remove_special,
                    unparse_special,
                )
            };
            if n >= 0 {
                // SAFETY: llama.cpp wrote `n <= cap` bytes after the current length.
                unsafe { out.set_len(out.len() + n as usize) };
                return;
            }
            out.reserve_exact((-n) as usize);
        }
    }

    pub fn is_eog(&self, token: i32) -> bool {
        // SAFETY: valid vocabulary; llama.cpp checks the id.
        unsafe { sys::llama_vocab_is_eog(self.vocab(), token) }
    }

    pub fn bos(&self) -> i32 {
        // SAFETY: valid vocabulary.
        unsafe { sys::llama_vocab_bos(self.vocab()) }
    }
}

/// `llama_chat_apply_template` with llama-cpp-2's buffer handling: twice the message bytes,
/// then the exact size. `Err(code)` for a negative return (unknown template).
pub(crate) fn apply_chat_template(
    template: &CStr,
    messages: &[(CString, CString)],
    add_assistant: bool,
) -> Result<Vec<u8>, i32> {
    let total: usize = messages
        .iter()
        .map(|(r, c)| r.as_bytes().len() + c.as_bytes().len())
        .sum();
    let chat: Vec<sys::llama_chat_message> = messages
        .iter()
        .map(|(role, content)| sys::llama_chat_message {
            role: role.as_ptr(),
            content: content.as_ptr(),
        })
        .collect();
    let mut buf = vec![0u8; total * 2];
    let call = |buf: &mut Vec<u8>| {
        // SAFETY: `chat` points at NUL-terminated strings that outlive the call; `buf` has
        // `buf.len()` writable bytes.
        unsafe {
            sys::llama_chat_apply_template(
                template.as_ptr(),
                chat.as_ptr(),
                chat.len(),
                add_assistant,
                buf.as_mut_ptr().cast::<c_char>(),
                i32::try_from(buf.len()).unwrap_or(i32::MAX),
            )
        }
    };
    let mut n = call(&mut buf);
    if n < 0 {
        return Err(n);
    }
    if n as usize > buf.len() {
        buf.resize(n as usize, 0);
        n = call(&mut buf);
        if n < 0 {
            return Err(n);
        }
    }
    buf.truncate(n as usize);
    Ok(buf)
}

/// Whether llama.cpp was built with a GPU backend it can offload to (Metal, CUDA, Vulkan, ...).
pub(crate) fn supports_gpu_offload() -> bool {
    // SAFETY: a pure query.
    unsafe { sys::llama_supports_gpu_offload() }
}

/// Parameters of a context, applied over `llama_context_default_params()` exactly as
/// llama-cpp-2's `with_*` setters did.
#[derive(Debug, Clone, Copy)]
pub(crate) struct ContextConfig {
    pub n_ctx: u32,
    pub n_batch: u32,
    pub n_ubatch: u32,
    pub n_seq: u32,
    pub n_threads: i32,
    pub embeddings: bool,
    /// One KV stream per sequence (`kv_unified = false`; `n_ctx` is then split evenly between
    /// them) instead of one cache shared by every sequence.
    pub kv_per_sequence: bool,
}

/// Owns the capture state handed to llama.cpp as `cb_eval_user_data`: a heap allocation whose
/// address never changes, freed after the context (see [`Context`]'s `Drop`).
#[derive(Debug)]
struct CaptureHandle {
    ptr: NonNull<CaptureState>,
}

impl CaptureHandle {
    fn new(state: CaptureState) -> Self {
        Self {
            ptr: NonNull::from(Box::leak(Box::new(state))),
        }
    }
}

impl Drop for CaptureHandle {
    fn drop(&mut self) {
        // SAFETY: `ptr` was created by `Box::leak` in `new` and is dropped exactly once, here,
        // after the context that pointed at it was freed (`Context::drop` frees the context
        // before its fields drop).
        drop(unsafe { Box::from_raw(self.ptr.as_ptr()) });
    }
}

/// A context (`llama_context *`) of a model, with the capture state its eval callback writes
/// into (if any). Like llama-cpp-2's `LlamaContext` it is `Send` but not `Sync`: reads such as
/// `llama_get_logits_ith` synchronise and mutate internal state.
pub(crate) struct Context<'m> {
    ptr: NonNull<sys::llama_context>,
    capture: Option<CaptureHandle>,
    n_vocab: usize,
    n_embd: usize,
    _model: PhantomData<&'m Model>,
    _not_sync: PhantomData<std::cell::Cell<()>>,
}

// SAFETY: the context is not bound to a thread (as llama-cpp-2's `LlamaContext: Send`); the
// capture state it points at moves with it and is only touched inside `llama_decode`.
unsafe impl Send for Context<'_> {}

impl Drop for Context<'_> {
    fn drop(&mut self) {
        // SAFETY: `ptr` came from `llama_new_context_with_model` and is freed once, here, before
        // `capture` (a field, dropped after this body) is freed.
        unsafe { sys::llama_free(self.ptr.as_ptr()) }
    }
}

impl<'m> Context<'m> {
    /// Creates a context; with `capture`, the eval callback is installed with that state.
    pub fn new(
        model: &'m Model,
        cfg: ContextConfig,
        capture: Option<CaptureState>,
    ) -> Option<Self> {
        // SAFETY: plain-old-data defaults from llama.cpp.
        let mut p = unsafe { sys::llama_context_default_params() };
        p.n_ctx = cfg.n_ctx;
        p.n_batch = cfg.n_batch;
        p.n_ubatch = cfg.n_ubatch;
        p.n_seq_max = cfg.n_seq;
        p.kv_unified = !cfg.kv_per_sequence;
        p.n_threads = cfg.n_threads;
        p.n_threads_batch = cfg.n_threads;
        p.embeddings = cfg.embeddings;
        if cfg.embeddings {
            p.pooling_type = sys::LLAMA_POOLING_TYPE_NONE;
        }
        let capture = capture.map(CaptureHandle::new);
        if let Some(h) = &capture {
            p.cb_eval = Some(eval_callback);
            p.cb_eval_user_data = h.ptr.as_ptr().cast::<c_void>();
        }
        // SAFETY: valid model and parameters. llama.cpp may adjust the model's n_ctx_train
        // here (llama-cpp-2 notes the same); contexts are created one at a time per engine.
        let ctx = unsafe { sys::llama_new_context_with_model(model.ptr.as_ptr(), p) };
        let ptr = NonNull::new(ctx)?;
        Some(Self {
            ptr,
            capture,
            n_vocab: usize::try_from(model.n_vocab()).unwrap_or(0),
            n_embd: usize::try_from(model.n_embd()).unwrap_or(0),
            _model: PhantomData,
            _not_sync: PhantomData,
        })
    }

    /// `llama_decode`; 0 on success.
    pub fn decode(&mut self, batch: &Batch) -> i32 {
        // SAFETY: valid context; the batch's arrays hold `n_tokens` initialised entries. The
        // eval callback's state is not borrowed anywhere while this runs (`&mut self`).
        unsafe { sys::llama_decode(self.ptr.as_ptr(), batch.raw) }
    }

    /// The capture state, between decodes.
    pub fn capture(&mut self) -> Option<&mut CaptureState> {
        // SAFETY: the handle's allocation is live while `self` is; llama.cpp touches it only
        // inside `llama_decode`, which cannot run while this `&mut self` borrow is alive.
        self.capture.as_mut().map(|h| unsafe { h.ptr.as_mut() })
    }

    /// The capture state, read-only.
    pub fn capture_ref(&self) -> Option<&CaptureState> {
        // SAFETY: as in `capture`; a shared borrow of `self` excludes `decode`.
        self.capture.as_ref().map(|h| unsafe { h.ptr.as_ref() })
    }

    /// Logits of batch row `i` of the last decode (panics like llama-cpp-2 on a row without
    /// logits).
    pub fn logits_ith(&self, i: i32) -> &[f32] {
        // SAFETY: valid context (see the type's note on synchronisation).
        let p = unsafe { sys::llama_get_logits_ith(self.ptr.as_ptr(), i) };
        assert!(!p.is_null(), "invalid logit index {i}");
        // SAFETY: llama.cpp returns a row of n_vocab floats that stays valid until the next
        // decode, which needs `&mut self`.
        unsafe { std::slice::from_raw_parts(p, self.n_vocab) }
    }

    /// `llama_get_embeddings_ith` (the final norm with pooling none).
    pub fn embeddings_ith(&self, i: i32) -> Option<&[f32]> {
        // SAFETY: valid context.
        let p = unsafe { sys::llama_get_embeddings_ith(self.ptr.as_ptr(), i) };
        // SAFETY: non-null rows hold n_embd floats (pooling none, checked by callers through
        // `pooling_is_none`), valid until the next decode.
        (!p.is_null()).then(|| unsafe { std::slice::from_raw_parts(p, self.n_embd) })
    }

    /// The embeddings of the first `rows` outputs of the last decode (`llama_get_embeddings`).
    pub fn embeddings(&self, rows: usize) -> Option<&[f32]> {
        // SAFETY: valid context.
        let p = unsafe { sys::llama_get_embeddings(self.ptr.as_ptr()) };
        // SAFETY: the buffer holds n_outputs * n_embd floats; callers ask for at most the
        // outputs of the last decode (every row of a generation step is an output).
        (!p.is_null()).then(|| unsafe { std::slice::from_raw_parts(p, rows * self.n_embd) })
    }

    /// Whether the context pools nothing (so embeddings are per token, `n_embd` wide).
    pub fn pooling_is_none(&self) -> bool {
        // SAFETY: valid context.
        unsafe { sys::llama_pooling_type(self.ptr.as_ptr()) == sys::LLAMA_POOLING_TYPE_NONE }
    }

    /// `llama_set_embeddings`.
    pub fn set_embeddings(&mut self, on: bool) {
        // SAFETY: valid context.
        unsafe { sys::llama_set_embeddings(self.ptr.as_ptr(), on) }
    }

    /// Marks (or unmarks) the input of block `il` as an output. Only call it for architectures
    /// whose graph records layer inputs: llama.cpp aborts the process otherwise (at the next
    /// decode). `il <= n_layer` is asserted by llama.cpp; the engine passes `il < n_layer`.
    pub fn set_layer_input(&mut self, il: u32, on: bool) {
        // SAFETY: valid context; see the architecture precondition above.
        unsafe { swift_bon_set_embeddings_layer_inp(self.ptr.as_ptr(), il, on) }
    }

    /// The input of block `il` for the first `rows` tokens of the last decode. The caller must
    /// have enabled `il` before that decode, which succeeded (llama.cpp asserts the buffer).
    pub fn layer_input(&self, il: u32, rows: usize) -> Option<&[f32]> {
        // SAFETY: valid context; precondition above. llama.cpp synchronises before returning.
        let p = unsafe { swift_bon_get_embeddings_layer_inp(self.ptr.as_ptr(), il) };
        // SAFETY: the buffer holds n_embd * n_batch floats and the last decode had `rows <=
        // n_batch` tokens; valid until the next decode (`&mut self`).
        (!p.is_null()).then(|| unsafe { std::slice::from_raw_parts(p, rows * self.n_embd) })
    }

    fn memory(&self) -> sys::llama_memory_t {
        // SAFETY: valid context.
        unsafe { sys::llama_get_memory(self.ptr.as_ptr()) }
    }

    /// `llama_memory_seq_cp(mem, src, dst, -1, -1)`.
    pub fn seq_copy(&mut self, src: i32, dst: i32) {
        // SAFETY: valid memory of a valid context.
        unsafe { sys::llama_memory_seq_cp(self.memory(), src, dst, -1, -1) }
    }
}

/// A `llama_batch` from `llama_batch_init(n, 0, n_seq_max)`, filled like llama-cpp-2's
/// `LlamaBatch::add`.
pub(crate) struct Batch {
    raw: sys::llama_batch,
    allocated: usize,
    n_seq_max: usize,
}

impl Drop for Batch {
    fn drop(&mut self) {
        // SAFETY: allocated by `llama_batch_init` in `new`, freed once.
        unsafe { sys::llama_batch_free(self.raw) }
    }
}

impl Batch {
    pub fn new(n_tokens: usize, n_seq_max: usize) -> Self {
        let n = i32::try_from(n_tokens.max(1)).expect("batch size fits in i32");
        let s = i32::try_from(n_seq_max.max(1)).expect("sequence count fits in i32");
        // SAFETY: allocates arrays of `n` entries (`s` sequence ids each).
        let raw = unsafe { sys::llama_batch_init(n, 0, s) };
        Self {
            raw,
            allocated: n as usize,
            n_seq_max: s as usize,
        }
    }

    pub fn clear(&mut self) {
        self.raw.n_tokens = 0;
    }

    pub fn len(&self) -> usize {
        self.raw.n_tokens as usize
    }

    /// Appends one token; `Err` when the batch is full or has too many sequence ids.
    pub fn add(
        &mut self,
        token: i32,
        pos: i32,
        seq_ids: &[i32],
        logits: bool,
    ) -> Result<(), String> {
        let i = self.len();
        if i >= self.allocated {
            return Err(format!("batch full ({} tokens)", self.allocated));
        }
        if seq_ids.len() > self.n_seq_max {
            return Err(format!(
                "a token with {} sequence ids, the batch holds {}",
                seq_ids.len(),
                self.n_seq_max
            ));
        }
        // SAFETY: `i < allocated`, so every array has slot `i`; `seq_id[i]` has `n_seq_max`
        // slots and `seq_ids.len() <= n_seq_max`.
        unsafe {
            *self.raw.token.add(i) = token;
            *self.raw.pos.add(i) = pos;
            *self.raw.n_seq_id.add(i) = seq_ids.len() as i32;
            let dst = *self.raw.seq_id.add(i);
            for (k, &s) in seq_ids.iter().enumerate() {
                *dst.add(k) = s;
            }
            *self.raw.logits.add(i) = i8::from(logits);
        }
        self.raw.n_tokens += 1;
        Ok(())
    }
}

/// A sampler (`llama_sampler *`), freed on drop.
pub(crate) struct Sampler {
    ptr: NonNull<sys::llama_sampler>,
}

// SAFETY: a sampler is plain state owned by one candidate (llama-cpp-2's `LlamaSampler` is Send).
unsafe impl Send for Sampler {}

impl Drop for Sampler {
    fn drop(&mut self) {
        // SAFETY: created by one of the constructors below, freed once (a chain frees the
        // samplers it owns).
        unsafe { sys::llama_sampler_free(self.ptr.as_ptr()) }
    }
}

impl Sampler {
    fn from_raw(p: *mut sys::llama_sampler) -> Self {
        Self {
            ptr: NonNull::new(p).expect("llama.cpp failed to create a sampler"),
        }
    }

    /// `llama_sampler_init_greedy()`.
    pub fn greedy() -> Self {
        // SAFETY: constructor without preconditions.
        Self::from_raw(unsafe { sys::llama_sampler_init_greedy() })
    }

    /// `chain_simple([top_k?, top_p?, temp, dist(seed)])` as llama-cpp-2 builds it: a chain with
    /// `no_perf = false` that takes ownership of its links.
    pub fn chain(top_k: Option<i32>, top_p: Option<f32>, temp: f32, seed: u32) -> Self {
        // SAFETY: constructors without preconditions; `llama_sampler_chain_add` takes ownership
        // of each link, so only the chain is freed (in `Drop`).
        unsafe {
            let chain = Self::from_raw(sys::llama_sampler_chain_init(
                sys::llama_sampler_chain_params { no_perf: false },
            ));
            let mut links = Vec::with_capacity(4);
            if let Some(k) = top_k {
                links.push(sys::llama_sampler_init_top_k(k));
            }
            if let Some(p) = top_p {
                links.push(sys::llama_sampler_init_top_p(p, 1));
            }
            links.push(sys::llama_sampler_init_temp(temp));
            links.push(sys::llama_sampler_init_dist(seed));
            for l in links {
                assert!(!l.is_null(), "llama.cpp failed to create a sampler");
                sys::llama_sampler_chain_add(chain.ptr.as_ptr(), l);
            }
            chain
        }
    }

    /// `llama_sampler_sample(smpl, ctx, idx)`: samples from row `idx` and accepts the token.
    pub fn sample(&mut self, ctx: &Context<'_>, idx: i32) -> i32 {
        // SAFETY: valid sampler and context; row `idx` has logits (llama.cpp checks).
        unsafe { sys::llama_sampler_sample(self.ptr.as_ptr(), ctx.ptr.as_ptr(), idx) }
    }
}

/// The eval callback. Never unwinds into C: a panic is caught, stored, and stops the graph.
unsafe extern "C" fn eval_callback(
    t: *mut sys::ggml_tensor,
    ask: bool,
    user_data: *mut c_void,
) -> bool {
    let state_ptr = user_data.cast::<CaptureState>();
    if state_ptr.is_null() || t.is_null() {
        return false;
    }
    let outcome = catch_unwind(AssertUnwindSafe(|| {
        // SAFETY: `user_data` is the CaptureHandle's live allocation (installed in
        // `Context::new`, freed after the context); llama.cpp calls us synchronously inside
        // `llama_decode`, when no Rust reference to the state exists.
        let state = unsafe { &mut *state_ptr };
        // SAFETY: llama.cpp passes a valid tensor for the duration of the call.
        let tensor = unsafe { &*t };
        // SAFETY: ggml tensor names are NUL-terminated within their 64-byte array.
        let name = unsafe { CStr::from_ptr(tensor.name.as_ptr()) }.to_bytes();
        if ask {
            return state.wants(name);
        }
        let meta = TensorMeta {
            is_f32: tensor.type_ == sys::GGML_TYPE_F32,
            ne0: tensor.ne[0],
            ne1: tensor.ne[1],
            ne23: tensor.ne[2] * tensor.ne[3],
            nb0: tensor.nb[0],
            nb1: tensor.nb[1],
        };
        let mut read_all = |dst: &mut [f32]| {
            // SAFETY: `receive` calls this only after checking that the tensor is f32,
            // contiguous and holds exactly `dst.len()` floats (ne0 * ne1), so the byte range
            // [0, 4 * dst.len()) lies inside it; `dst` is a valid, exclusive destination. One
            // call per tensor: on a device buffer, one device-to-host copy.
            unsafe {
                sys::ggml_backend_tensor_get(
                    t,
                    dst.as_mut_ptr().cast(),
                    0,
                    std::mem::size_of_val(dst),
                );
            }
        };
        state.receive(name, meta, &mut read_all)
    }));
    match outcome {
        Ok(keep_going) => keep_going,
        Err(payload) => {
            let what = payload
                .downcast_ref::<&str>()
                .map(|s| (*s).to_string())
                .or_else(|| payload.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "panic".into());
            // SAFETY: same pointer and the same reasoning as above; the closure's borrow ended.
            let _ = catch_unwind(AssertUnwindSafe(|| unsafe {
                (*state_ptr).record_panic(what)
            }));
            false
        }
    }
}

/// ggml's version and commit as compiled (`ggml_version()` / `ggml_commit()`).
pub(crate) fn ggml_version() -> String {
    // SAFETY: both functions return pointers to static NUL-terminated strings (or null).
    let (v, c) = unsafe { (sys::ggml_version(), sys::ggml_commit()) };
    let read = |p: *const c_char| {
        if p.is_null() {
            "unknown".to_string()
        } else {
            // SAFETY: non-null static C string, see above.
            unsafe { CStr::from_ptr(p) }.to_string_lossy().into_owned()
        }
    };
    format!("{} ({})", read(v), read(c))
}

/// Converts the GGUF file `src` into `dst` in weight format `ftype` with llama.cpp's quantiser
/// (`allow_requantize`: the known models' files are already quantised), on `nthread` threads
/// (0: all cores). The error is llama.cpp's non-zero return code.
pub(crate) fn model_quantize(
    src: &CStr,
    dst: &CStr,
    ftype: sys::llama_ftype,
    nthread: i32,
) -> Result<(), u32> {
    // SAFETY: returns a plain struct by value; no pointers are retained.
    let mut params = unsafe { sys::llama_model_quantize_default_params() };
    params.ftype = ftype;
    params.allow_requantize = true;
    params.nthread = nthread;
    // SAFETY: both paths are NUL-terminated strings that outlive the call; `params` is a valid
    // struct from llama.cpp's own defaults whose pointer fields (imatrix, overrides, pruned
    // layers) are still null. llama.cpp catches its C++ exceptions and returns non-zero on
    // failure.
    let rc = unsafe { sys::llama_model_quantize(src.as_ptr(), dst.as_ptr(), &params) };
    if rc == 0 {
        Ok(())
    } else {
        Err(rc)
    }
}
