//! The OpenAI error object: `{"error":{"message","type","param","code"}}` with its HTTP status.

use serde_json::{json, Value};

/// An error answered to a client.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    /// HTTP status.
    pub status: u16,
    /// What went wrong, for a person.
    pub message: String,
    /// OpenAI's error type (`invalid_request_error`, `rate_limit_error`, ...).
    pub kind: &'static str,
    /// A machine-readable code.
    pub code: &'static str,
    /// The request field at fault, if any.
    pub param: Option<String>,
    /// Seconds to wait before retrying (429 and 503).
    pub retry_after: Option<u64>,
}

impl ApiError {
    fn new(status: u16, kind: &'static str, code: &'static str, message: String) -> Self {
        Self {
            status,
            message,
            kind,
            code,
            param: None,
            retry_after: None,
        }
    }

    /// 400: a field has the wrong type or value.
    pub fn invalid_field(param: impl Into<String>, message: impl Into<String>) -> Self {
        let param = param.into();
        let mut e = Self::new(
            400,
            "invalid_request_error",
            "invalid_value",
            format!("{param}: {}", message.into()),
        );
        e.param = Some(param);
        e
    }

    /// 400: a required field is missing.
    pub fn missing_field(param: &str, what: &str) -> Self {
        let mut e = Self::new(
            400,
            "invalid_request_error",
            "missing_required_parameter",
            format!("{param} is required: {what}"),
        );
        e.param = Some(param.to_string());
        e
    }

    /// 400: the body is not JSON (or not an object).
    pub fn invalid_json(detail: impl std::fmt::Display) -> Self {
        Self::new(
            400,
            "invalid_request_error",
            "invalid_json",
            format!("the request body is not valid JSON: {detail}"),
        )
    }

    /// 400: the prompt does not fit the model's context.
    pub fn context_length(message: impl Into<String>) -> Self {
        let mut e = Self::new(
            400,
            "invalid_request_error",
            "context_length_exceeded",
            message.into(),
        );
        e.param = Some("messages".into());
        e
    }

    /// 401: the API key is missing or wrong.
    pub fn unauthorized(missing: bool) -> Self {
        Self::new(
            401,
            "invalid_request_error",
            "invalid_api_key",
            if missing {
                "this server needs an API key: send `Authorization: Bearer KEY`".into()
            } else {
                "the API key is wrong".into()
            },
        )
    }

    /// 403: the `Host` header names another host (DNS rebinding guard).
    pub fn forbidden_host(host: &str, allowed: &str) -> Self {
        Self::new(
            403,
            "invalid_request_error",
            "host_not_allowed",
            format!("Host {host:?} is not allowed: this server answers only {allowed} (add names with --allow-host)"),
        )
    }

    /// 404: an unknown model id.
    pub fn model_not_found(model: &str, known: &[String]) -> Self {
        let mut e = Self::new(
            404,
            "invalid_request_error",
            "model_not_found",
            format!(
                "the model {model:?} does not exist; this server has: {}",
                known.join(", ")
            ),
        );
        e.param = Some("model".into());
        e
    }

    /// 404: no such route.
    pub fn no_route(method: &str, path: &str) -> Self {
        Self::new(
            404,
            "invalid_request_error",
            "not_found",
            format!("no route {method} {path}; try GET /v1/models, POST /v1/chat/completions or POST /v1/completions"),
        )
    }

    /// 405: the route exists with another method.
    pub fn method_not_allowed(method: &str, path: &str) -> Self {
        Self::new(
            405,
            "invalid_request_error",
            "method_not_allowed",
            format!("{method} is not allowed on {path}"),
        )
    }

    /// 413: the body is larger than the limit.
    pub fn too_large(limit: usize) -> Self {
        Self::new(
            413,
            "invalid_request_error",
            "request_too_large",
            format!("the request body is larger than the server's limit of {limit} bytes"),
        )
    }

    /// 429: the queue is full.
    pub fn queue_full(queue: usize, retry_after: u64) -> Self {
        let mut e = Self::new(
            429,
            "rate_limit_error",
            "queue_full",
            format!("the server is busy: {queue} requests are already waiting; retry after {retry_after} s"),
        );
        e.retry_after = Some(retry_after);
        e
    }

    /// 503: the model is still loading.
    pub fn loading() -> Self {
        let mut e = Self::new(
            503,
            "unavailable_error",
            "model_loading",
            "Loading model".into(),
        );
        e.retry_after = Some(1);
        e
    }

    /// 503: the server is shutting down or its worker stopped.
    pub fn unavailable(message: impl Into<String>) -> Self {
        Self::new(503, "unavailable_error", "unavailable", message.into())
    }

    /// 500: an internal failure.
    pub fn internal(message: impl Into<String>) -> Self {
        Self::new(500, "server_error", "internal_error", message.into())
    }

    /// The JSON body.
    pub fn body(&self) -> Value {
        json!({
            "error": {
                "message": self.message,
                "type": self.kind,
                "param": self.param,
                "code": self.code,
            }
        })
    }
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}: {}", self.status, self.code, self.message)
    }
}

impl std::error::Error for ApiError {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn body_has_the_openai_shape() {
        let e = ApiError::invalid_field("temperature", "must be a number");
        let b = e.body();
        assert_eq!(b["error"]["message"], "temperature: must be a number");
        assert_eq!(b["error"]["type"], "invalid_request_error");
        assert_eq!(b["error"]["param"], "temperature");
        assert_eq!(b["error"]["code"], "invalid_value");
        assert_eq!(ApiError::queue_full(16, 3).retry_after, Some(3));
        assert_eq!(ApiError::loading().status, 503);
    }
}
