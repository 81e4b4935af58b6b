//! The OpenAI-compatible surface of `swift-bon serve`, without the HTTP stack (which lives in the
//! binary): reading and checking requests ([`request`]), the error object ([`error`]), building
//! responses and chunks from a Best-of-N answer ([`response`]), and deciding what a stream sends
//! when ([`stream`]).
#![forbid(unsafe_code)]

pub mod error;
pub mod request;
pub mod response;
pub mod stream;

pub use error::ApiError;
pub use request::{parse, ApiRequest, Defaults, Endpoint, Limits};
pub use response::{ModelEntry, ServeTimings, Served, StreamMode, TokenLogprob};
pub use stream::LivePlanner;

/// The model id of a head for a model whose short name is `model`: the head's name when it
/// already starts with the model's name (the shipped `smollm2-135m-arith`), else
/// `MODEL-HEAD`.
pub fn head_model_id(model: &str, head: &str) -> String {
    if head.starts_with(model) {
        head.to_string()
    } else {
        format!("{model}-{head}")
    }
}

/// The model id of plain majority vote (no head) for model `model`.
pub fn majority_model_id(model: &str) -> String {
    format!("{model}-majority")
}

/// A short name for a model file: the known model's name (`smollm2-135m`) when it is one, else
/// the file stem in lowercase.
pub fn model_short_name(path: &std::path::Path) -> String {
    let file = path.file_name().map(|f| f.to_string_lossy().into_owned());
    if let Some(k) = crate::fetch::KNOWN_MODELS
        .iter()
        .find(|k| file.as_deref() == Some(k.file))
    {
        return k.name.to_string();
    }
    path.file_stem()
        .map(|s| s.to_string_lossy().to_ascii_lowercase())
        .unwrap_or_else(|| "model".into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn model_ids() {
        assert_eq!(
            model_short_name(std::path::Path::new("/x/SmolLM2-135M-Instruct.Q4_1.gguf")),
            "smollm2-135m"
        );
        assert_eq!(
            model_short_name(std::path::Path::new("My-Model.gguf")),
            "my-model"
        );
        assert_eq!(
            head_model_id("smollm2-135m", "smollm2-135m-arith"),
            "smollm2-135m-arith"
        );
        assert_eq!(head_model_id("smollm2-135m", "mine"), "smollm2-135m-mine");
        assert_eq!(majority_model_id("smollm2-135m"), "smollm2-135m-majority");
    }
}
