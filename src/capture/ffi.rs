//! The one place with raw pointers: llama.cpp's eval callback, and the shim that installs it.
//!
//! llama-cpp-2 0.1.160 has no setter for `cb_eval` / `cb_eval_user_data` (they were dropped in
//! 0.1.140) and keeps its `llama_context_params` field crate-private. `LlamaContextParams` is a
//! one-field wrapper of `llama_cpp_sys_2::llama_context_params`; we check at compile time that the
//! two have the same size and alignment, write the two fields through a pointer cast, and before
//! the parameters are used read several other fields back through the same cast and compare them
//! with the safe getters. Any disagreement is a typed error, never a silent misconfiguration.
//!
//! Protocol (ggml_backend_sched): for every graph node the scheduler calls
//! `cb(t, ask = true, user_data)`; returning true marks the node wanted, which ends a sub-graph
//! there. It then computes up to that node and calls `cb(t, ask = false, user_data)` with the data
//! ready; the data must be copied during that call (buffers are reused). Returning false from the
//! data call stops the graph computation; we do that only after an error, which the engine
//! surfaces after `llama_decode` returns.

use std::ffi::{c_void, CStr};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::ptr::NonNull;

use llama_cpp_2::context::params::LlamaContextParams;
use llama_cpp_sys_2::{ggml_backend_tensor_get, ggml_tensor, llama_context_params, GGML_TYPE_F32};

use super::{CaptureError, CaptureState, TensorMeta};

const _: () = {
    assert!(
        std::mem::size_of::<LlamaContextParams>() == std::mem::size_of::<llama_context_params>()
    );
    assert!(
        std::mem::align_of::<LlamaContextParams>() == std::mem::align_of::<llama_context_params>()
    );
};

/// Owns the capture state handed to llama.cpp as `cb_eval_user_data`.
///
/// The state lives in a heap allocation whose address never changes. The handle must outlive
/// every context the callback is installed in: the engine keeps both in one struct whose field
/// order drops the context first.
#[derive(Debug)]
pub(crate) struct CaptureHandle {
    ptr: NonNull<CaptureState>,
}

impl CaptureHandle {
    /// Moves the state to the heap.
    pub(crate) fn new(state: CaptureState) -> Self {
        let ptr = NonNull::from(Box::leak(Box::new(state)));
        Self { ptr }
    }

    /// The state. Taking `&mut self` means no reference to the state can be alive while the
    /// owner runs a decode through its own `&mut` method, which is the only time llama.cpp
    /// touches the state.
    pub(crate) fn state(&mut self) -> &mut CaptureState {
        // SAFETY: `ptr` comes from a leaked Box owned by this handle, so it is valid and aligned.
        // llama.cpp dereferences it only inside `llama_decode`, which runs synchronously on this
        // thread and never while the `&mut self` borrow returned here is alive (see above).
        unsafe { self.ptr.as_mut() }
    }

    /// Returns `params` with the eval callback and this handle's state installed.
    pub(crate) fn install(
        &self,
        params: LlamaContextParams,
    ) -> Result<LlamaContextParams, CaptureError> {
        set_eval_callback(params, Some(eval_callback), self.ptr.as_ptr().cast())
    }
}

impl Drop for CaptureHandle {
    fn drop(&mut self) {
        // SAFETY: `ptr` was created by `Box::leak` in `new` and is dropped exactly once, here.
        // Contexts that point at it have been dropped before (owner's field order).
        drop(unsafe { Box::from_raw(self.ptr.as_ptr()) });
    }
}

fn set_eval_callback(
    mut params: LlamaContextParams,
    cb: llama_cpp_sys_2::ggml_backend_sched_eval_callback,
    user_data: *mut c_void,
) -> Result<LlamaContextParams, CaptureError> {
    let raw: *mut llama_context_params = (&mut params as *mut LlamaContextParams).cast();
    // SAFETY: size and alignment are equal (checked at compile time above) and the wrapper has a
    // single field of this type; the read-back below verifies the field offsets agree before the
    // parameters are used.
    unsafe {
        (*raw).cb_eval = cb;
        (*raw).cb_eval_user_data = user_data;
    }
    // SAFETY: as above; a shared read of plain-old-data fields.
    let seen = unsafe { &*raw };
    let checks: [(&str, i64, i64); 7] = [
        (
            "n_ctx",
            i64::from(seen.n_ctx),
            params.n_ctx().map_or(0, |n| i64::from(n.get())),
        ),
        (
            "n_batch",
            i64::from(seen.n_batch),
            i64::from(params.n_batch()),
        ),
        (
            "n_ubatch",
            i64::from(seen.n_ubatch),
            i64::from(params.n_ubatch()),
        ),
        (
            "n_seq_max",
            i64::from(seen.n_seq_max),
            i64::from(params.n_seq_max()),
        ),
        (
            "n_threads",
            i64::from(seen.n_threads),
            i64::from(params.n_threads()),
        ),
        (
            "kv_unified",
            i64::from(seen.kv_unified),
            i64::from(params.kv_unified()),
        ),
        (
            "embeddings",
            i64::from(seen.embeddings),
            i64::from(params.embeddings()),
        ),
    ];
    for (field, through_cast, through_getter) in checks {
        if through_cast != through_getter {
            return Err(CaptureError::ParamsLayout(format!(
                "{field} reads {through_cast} through the cast but {through_getter} through the getter"
            )));
        }
    }
    if seen.cb_eval.is_none() != cb.is_none() || seen.cb_eval_user_data != user_data {
        return Err(CaptureError::ParamsLayout("cb_eval did not stick".into()));
    }
    Ok(params)
}

/// The eval callback. Never unwinds into C: a panic is caught, stored, and stops the graph.
unsafe extern "C" fn eval_callback(t: *mut ggml_tensor, ask: bool, user_data: *mut c_void) -> bool {
    let state_ptr = user_data.cast::<CaptureState>();
    if state_ptr.is_null() || t.is_null() {
        return false;
    }
    let outcome = catch_unwind(AssertUnwindSafe(|| {
        // SAFETY: `user_data` is the CaptureHandle's live allocation (installed by `install`, and
        // the handle outlives the context); llama.cpp calls us synchronously inside
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
            is_f32: tensor.type_ == GGML_TYPE_F32,
            ne0: tensor.ne[0],
            ne1: tensor.ne[1],
            ne23: tensor.ne[2] * tensor.ne[3],
            nb0: tensor.nb[0],
            nb1: tensor.nb[1],
        };
        let nb1 = tensor.nb[1];
        let mut read_row = |r: usize, dst: &mut [f32]| {
            // SAFETY: `receive` calls this only after checking that the tensor is f32,
            // contiguous, has `ne0 == dst.len()` and more than `r` rows, so the byte range
            // [r * nb1, r * nb1 + 4 * dst.len()) lies inside the tensor; `dst` is a valid,
            // exclusive destination of that many bytes. ggml_backend_tensor_get works for host
            // and device buffers.
            unsafe {
                ggml_backend_tensor_get(
                    t,
                    dst.as_mut_ptr().cast(),
                    r * nb1,
                    std::mem::size_of_val(dst),
                );
            }
        };
        state.receive(name, meta, &mut read_row)
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
    let (v, c) = unsafe {
        (
            llama_cpp_sys_2::ggml_version(),
            llama_cpp_sys_2::ggml_commit(),
        )
    };
    let read = |p: *const std::ffi::c_char| {
        if p.is_null() {
            "unknown".to_string()
        } else {
            // SAFETY: non-null static C string, see above.
            unsafe { CStr::from_ptr(p) }.to_string_lossy().into_owned()
        }
    };
    format!("{} ({})", read(v), read(c))
}
