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
    // A known model's file in any weight format (the default model runs as `STEM.Q8_0.gguf`).
    let known = |k: &crate::fetch::KnownModel| {
        crate::weights::WeightFormat::ALL.iter().any(|&w| {
            let p = crate::weights::weights_path(std::path::Path::new(""), k, w);
            file.as_deref() == p.file_name().and_then(|f| f.to_str())
        })
    };
    if let Some(k) = crate::fetch::KNOWN_MODELS.iter().find(|k| known(k)) {
        return k.name.to_string();
    }
    path.file_stem()
        .map(|s| s.to_string_lossy().to_ascii_lowercase())
        .unwrap_or_else(|| "model".into())
}

/// Whether a request's `Host` header may be answered: `localhost` (and `*.localhost`), IP
/// addresses, and the extra names given; any port. A web page that rebinds its own domain name to
/// 127.0.0.1 still sends its domain as Host, so it is refused.
pub fn host_allowed(host: &str, extra: &[String]) -> bool {
    let host = host.trim();
    let name = if let Some(rest) = host.strip_prefix('[') {
        // [v6]:port
        return rest
            .split(']')
            .next()
            .is_some_and(|ip| ip.parse::<std::net::Ipv6Addr>().is_ok());
    } else {
        match host.rsplit_once(':') {
            Some((h, port)) if port.chars().all(|c| c.is_ascii_digit()) => h,
            _ => host,
        }
    };
    let name = name.trim_end_matches('.').to_ascii_lowercase();
    name.parse::<std::net::Ipv4Addr>().is_ok()
        || name == "localhost"
        || name.ends_with(".localhost")
        || extra.iter().any(|e| e.eq_ignore_ascii_case(&name))
}

/// Compares an API key in time independent of where it first differs.
pub fn same_secret(given: &str, key: &str) -> bool {
    let (a, b) = (given.as_bytes(), key.as_bytes());
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hosts() {
        for ok in [
            "127.0.0.1:8080",
            "localhost:8080",
            "LOCALHOST",
            "[::1]:80",
            "10.0.0.2",
            "app.localhost:1",
            "box.lan:8080",
        ] {
            assert!(host_allowed(ok, &["box.lan".into()]), "{ok}");
        }
        for bad in [
            "evil.example:8080",
            "evil.example",
            "127.0.0.1.evil.example",
            "[evil]:1",
            "localhost.evil.example",
        ] {
            assert!(!host_allowed(bad, &[]), "{bad}");
        }
    }

    #[test]
    fn secrets() {
        assert!(same_secret("abc", "abc"));
        assert!(!same_secret("abd", "abc"));
        assert!(!same_secret("ab", "abc"));
    }

    #[test]
    fn model_ids() {
        assert_eq!(
            model_short_name(std::path::Path::new("/x/SmolLM2-135M-Instruct.Q4_1.gguf")),
            "smollm2-135m"
        );
        assert_eq!(
            model_short_name(std::path::Path::new("/x/SmolLM2-135M-Instruct.Q8_0.gguf")),
            "smollm2-135m"
        );
        assert_eq!(
            model_short_name(std::path::Path::new("gemma-3-270m.Q4_0.gguf")),
            "gemma3-270m"
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
