//! Reading OpenAI chat-completion and completion requests: every field a client sends is checked
//! by name (the error names the field); unknown fields are ignored, as clients send many.
//!
//! Best-of-N fields: `best_of` (top level, as OpenAI's completions API had it, or inside the
//! `swift_bon` extension object) is the number of candidates sampled, `n` the number of choices
//! returned (best first). The extension object may also carry `select` (a
//! [`Selection`] name) and `prune` (a [`PrunePolicy`], or `off`).

use serde_json::{Map, Value};

use super::error::ApiError;
use crate::bon::Selection;
use crate::prompt::{ChatMessage, Role};
use crate::prune::PrunePolicy;

/// Which endpoint a request came to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Endpoint {
    /// `POST /v1/chat/completions`.
    Chat,
    /// `POST /v1/completions` (the prompt is asked as one user message).
    Completions,
}

/// Limits a request must stay within.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Body size in bytes.
    pub max_body: usize,
    /// Candidates per request.
    pub max_best_of: usize,
    /// Tokens per candidate.
    pub max_tokens: usize,
    /// Characters of all messages together.
    pub max_prompt_chars: usize,
    /// Messages.
    pub max_messages: usize,
    /// Stop strings.
    pub max_stop: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_body: 1 << 20,
            max_best_of: 32,
            max_tokens: 2048,
            max_prompt_chars: 64 * 1024,
            max_messages: 256,
            max_stop: 8,
        }
    }
}

/// Server defaults a request falls back to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Defaults {
    /// Candidates (the server's `--n`).
    pub best_of: usize,
    /// Tokens per candidate.
    pub max_tokens: usize,
}

/// A checked request.
#[derive(Debug, Clone, PartialEq)]
pub struct ApiRequest {
    /// The endpoint.
    pub endpoint: Endpoint,
    /// The model id asked for (`None`: the default).
    pub model: Option<String>,
    /// The conversation.
    pub conversation: Vec<ChatMessage>,
    /// Candidates sampled.
    pub best_of: usize,
    /// Choices returned, best first (at most `best_of`).
    pub n: usize,
    /// Tokens per candidate.
    pub max_tokens: usize,
    /// Temperature (`None`: the server's).
    pub temperature: Option<f32>,
    /// Top-p (`None`: the server's).
    pub top_p: Option<f32>,
    /// Seed (`None`: a fresh one).
    pub seed: Option<u64>,
    /// Stop strings.
    pub stop: Vec<String>,
    /// Server-sent events.
    pub stream: bool,
    /// A last chunk with `usage` (`stream_options.include_usage`).
    pub include_usage: bool,
    /// Per-token log-probabilities of the returned choices.
    pub logprobs: bool,
    /// Selection (`None`: the model id's).
    pub selection: Option<Selection>,
    /// Pruning (`None`: the server's; `Some(None)`: off).
    pub prune: Option<Option<PrunePolicy>>,
}

type Obj = Map<String, Value>;

fn present<'a>(obj: &'a Obj, name: &str) -> Option<&'a Value> {
    obj.get(name).filter(|v| !v.is_null())
}

fn type_name(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

fn uint(obj: &Obj, name: &str, min: u64, max: u64) -> Result<Option<u64>, ApiError> {
    let Some(v) = present(obj, name) else {
        return Ok(None);
    };
    let n = match v {
        Value::Number(n) => n.as_u64().or_else(|| {
            n.as_f64()
                .filter(|f| f.fract() == 0.0 && *f >= 0.0)
                .map(|f| f as u64)
        }),
        _ => None,
    };
    match n {
        Some(n) if (min..=max).contains(&n) => Ok(Some(n)),
        Some(n) => Err(ApiError::invalid_field(
            name,
            format!("{n} is out of range: expected {min} to {max}"),
        )),
        None => Err(ApiError::invalid_field(
            name,
            format!("expected a whole number, got {}", describe(v)),
        )),
    }
}

fn float(obj: &Obj, name: &str, min: f64, max: f64) -> Result<Option<f32>, ApiError> {
    let Some(v) = present(obj, name) else {
        return Ok(None);
    };
    match v.as_f64() {
        Some(f) if f.is_finite() && (min..=max).contains(&f) => Ok(Some(f as f32)),
        Some(f) => Err(ApiError::invalid_field(
            name,
            format!("{f} is out of range: expected {min} to {max}"),
        )),
        None => Err(ApiError::invalid_field(
            name,
            format!("expected a number, got {}", describe(v)),
        )),
    }
}

fn boolean(obj: &Obj, name: &str) -> Result<bool, ApiError> {
    match present(obj, name) {
        None => Ok(false),
        Some(Value::Bool(b)) => Ok(*b),
        Some(v) => Err(ApiError::invalid_field(
            name,
            format!("expected true or false, got {}", describe(v)),
        )),
    }
}

fn string<'a>(obj: &'a Obj, name: &str) -> Result<Option<&'a str>, ApiError> {
    match present(obj, name) {
        None => Ok(None),
        Some(Value::String(s)) => Ok(Some(s)),
        Some(v) => Err(ApiError::invalid_field(
            name,
            format!("expected a string, got {}", describe(v)),
        )),
    }
}

fn describe(v: &Value) -> String {
    match v {
        Value::Number(n) => format!("the number {n}"),
        Value::String(s) if s.len() <= 40 => format!("the string {s:?}"),
        other => type_name(other).to_string(),
    }
}

/// Message content: a string, or an array of `{"type":"text","text":...}` parts.
fn content(v: Option<&Value>, at: &str) -> Result<String, ApiError> {
    match v {
        None | Some(Value::Null) => Ok(String::new()),
        Some(Value::String(s)) => Ok(s.clone()),
        Some(Value::Array(parts)) => {
            let mut text = String::new();
            for (j, p) in parts.iter().enumerate() {
                let at = format!("{at}[{j}]");
                let Some(obj) = p.as_object() else {
                    return Err(ApiError::invalid_field(
                        at,
                        format!("expected a content part object, got {}", describe(p)),
                    ));
                };
                match obj.get("type").and_then(Value::as_str) {
                    Some("text") => match obj.get("text") {
                        Some(Value::String(t)) => text.push_str(t),
                        other => {
                            return Err(ApiError::invalid_field(
                                format!("{at}.text"),
                                format!(
                                    "expected a string, got {}",
                                    other.map_or("nothing".into(), describe)
                                ),
                            ))
                        }
                    },
                    Some(t) => {
                        return Err(ApiError::invalid_field(
                            format!("{at}.type"),
                            format!("content parts of type {t:?} are not supported (text only)"),
                        ))
                    }
                    None => {
                        return Err(ApiError::missing_field(
                            &format!("{at}.type"),
                            "each content part has a type",
                        ))
                    }
                }
            }
            Ok(text)
        }
        Some(v) => Err(ApiError::invalid_field(
            at,
            format!(
                "expected a string or an array of text parts, got {}",
                describe(v)
            ),
        )),
    }
}

fn messages(obj: &Obj, limits: &Limits) -> Result<Vec<ChatMessage>, ApiError> {
    let Some(v) = present(obj, "messages") else {
        return Err(ApiError::missing_field(
            "messages",
            "a non-empty array of {role, content} objects",
        ));
    };
    let Value::Array(list) = v else {
        return Err(ApiError::invalid_field(
            "messages",
            format!(
                "expected an array of {{role, content}} objects, got {}",
                describe(v)
            ),
        ));
    };
    if list.is_empty() {
        return Err(ApiError::invalid_field(
            "messages",
            "is empty: give at least one user message",
        ));
    }
    if list.len() > limits.max_messages {
        return Err(ApiError::invalid_field(
            "messages",
            format!(
                "{} messages is more than the server's limit of {}",
                list.len(),
                limits.max_messages
            ),
        ));
    }
    let mut out = Vec::with_capacity(list.len());
    for (i, m) in list.iter().enumerate() {
        let at = format!("messages[{i}]");
        let Some(m) = m.as_object() else {
            return Err(ApiError::invalid_field(
                at,
                format!("expected a {{role, content}} object, got {}", describe(m)),
            ));
        };
        let role = match m.get("role") {
            Some(Value::String(r)) => r
                .parse::<Role>()
                .map_err(|e| ApiError::invalid_field(format!("{at}.role"), e))?,
            None | Some(Value::Null) => {
                return Err(ApiError::missing_field(
                    &format!("{at}.role"),
                    "one of system, developer, user or assistant",
                ))
            }
            Some(v) => {
                return Err(ApiError::invalid_field(
                    format!("{at}.role"),
                    format!("expected a string, got {}", describe(v)),
                ))
            }
        };
        let text = content(m.get("content"), &format!("{at}.content"))?;
        out.push(ChatMessage::new(role, text));
    }
    if !out.iter().any(|m| m.role == Role::User) {
        return Err(ApiError::invalid_field(
            "messages",
            "has no user message: the last user message is the question",
        ));
    }
    match out.last() {
        Some(last) if last.content.trim().is_empty() => Err(ApiError::invalid_field(
            format!("messages[{}].content", out.len() - 1),
            "the last message is empty",
        )),
        _ => Ok(out),
    }
}

fn prompt(obj: &Obj) -> Result<String, ApiError> {
    match present(obj, "prompt") {
        None => Err(ApiError::missing_field("prompt", "the text to complete")),
        Some(Value::String(s)) => Ok(s.clone()),
        Some(Value::Array(a)) if a.len() == 1 && a[0].is_string() => {
            Ok(a[0].as_str().unwrap_or_default().to_string())
        }
        Some(Value::Array(a)) if a.iter().all(Value::is_string) => Err(ApiError::invalid_field(
            "prompt",
            format!(
                "{} prompts in one request: send one prompt per request",
                a.len()
            ),
        )),
        Some(v) => Err(ApiError::invalid_field(
            "prompt",
            format!("expected a string, got {}", describe(v)),
        )),
    }
}

fn stop(obj: &Obj, limits: &Limits) -> Result<Vec<String>, ApiError> {
    let list = match present(obj, "stop") {
        None => return Ok(Vec::new()),
        Some(Value::String(s)) => vec![s.clone()],
        Some(Value::Array(a)) => a
            .iter()
            .enumerate()
            .map(|(i, v)| match v {
                Value::String(s) => Ok(s.clone()),
                other => Err(ApiError::invalid_field(
                    format!("stop[{i}]"),
                    format!("expected a string, got {}", describe(other)),
                )),
            })
            .collect::<Result<Vec<_>, _>>()?,
        Some(v) => {
            return Err(ApiError::invalid_field(
                "stop",
                format!(
                    "expected a string or an array of strings, got {}",
                    describe(v)
                ),
            ))
        }
    };
    if list.len() > limits.max_stop {
        return Err(ApiError::invalid_field(
            "stop",
            format!(
                "{} stop strings is more than the limit of {}",
                list.len(),
                limits.max_stop
            ),
        ));
    }
    if list.iter().any(String::is_empty) {
        return Err(ApiError::invalid_field("stop", "a stop string is empty"));
    }
    Ok(list)
}

/// Parses and checks a request body against the limits, filling in the server's defaults.
pub fn parse(
    endpoint: Endpoint,
    body: &[u8],
    limits: &Limits,
    defaults: &Defaults,
) -> Result<ApiRequest, ApiError> {
    if body.len() > limits.max_body {
        return Err(ApiError::too_large(limits.max_body));
    }
    let value: Value = serde_json::from_slice(body).map_err(ApiError::invalid_json)?;
    let Value::Object(obj) = value else {
        return Err(ApiError::invalid_json(format!(
            "expected an object, got {}",
            type_name(&value)
        )));
    };
    let model = string(&obj, "model")?.map(str::to_string);
    let conversation = match endpoint {
        Endpoint::Chat => messages(&obj, limits)?,
        Endpoint::Completions => {
            let p = prompt(&obj)?;
            if p.trim().is_empty() {
                return Err(ApiError::invalid_field("prompt", "is empty"));
            }
            vec![ChatMessage::user(p)]
        }
    };
    let chars: usize = conversation.iter().map(|m| m.content.chars().count()).sum();
    if chars > limits.max_prompt_chars {
        return Err(ApiError::context_length(format!(
            "the prompt has {chars} characters; the server's limit is {}",
            limits.max_prompt_chars
        )));
    }

    let empty = Obj::new();
    let ext = match present(&obj, "swift_bon") {
        None => &empty,
        Some(Value::Object(e)) => e,
        Some(v) => {
            return Err(ApiError::invalid_field(
                "swift_bon",
                format!("expected an object, got {}", describe(v)),
            ))
        }
    };
    let max_n = limits.max_best_of as u64;
    let n = uint(&obj, "n", 1, max_n)?.unwrap_or(1) as usize;
    let best_of = match uint(&obj, "best_of", 1, max_n)? {
        Some(b) => Some(b as usize),
        None => uint(ext, "best_of", 1, max_n)
            .map_err(|mut e| {
                e.param = Some("swift_bon.best_of".into());
                e.message = format!("swift_bon.{}", e.message);
                e
            })?
            .map(|b| b as usize),
    };
    let best_of = match best_of {
        Some(b) if n > b => {
            return Err(ApiError::invalid_field(
                "n",
                format!("n = {n} choices cannot be returned from best_of = {b} candidates: n must not exceed best_of"),
            ))
        }
        Some(b) => b,
        None => defaults.best_of.max(n),
    };
    let max_tokens_field = if present(&obj, "max_completion_tokens").is_some() {
        "max_completion_tokens"
    } else {
        "max_tokens"
    };
    let max_tokens = match present(&obj, max_tokens_field) {
        Some(Value::Number(v)) if v.as_u64().is_some_and(|t| t as usize > limits.max_tokens) => {
            return Err(ApiError::invalid_field(
                max_tokens_field,
                format!(
                    "{v} is more than the server's limit of {} tokens per candidate",
                    limits.max_tokens
                ),
            ))
        }
        _ => uint(&obj, max_tokens_field, 1, limits.max_tokens as u64)?
            .map_or(defaults.max_tokens.min(limits.max_tokens), |t| t as usize),
    };
    let temperature = float(&obj, "temperature", 0.0, 2.0)?;
    let top_p = float(&obj, "top_p", 0.0, 1.0)?;
    if top_p == Some(0.0) {
        return Err(ApiError::invalid_field(
            "top_p",
            "0 keeps no token: expected more than 0 and at most 1",
        ));
    }
    let seed = match present(&obj, "seed") {
        None => None,
        // OpenAI's seed is any integer; negative ones map onto u64.
        Some(Value::Number(v)) if v.is_i64() || v.is_u64() => Some(
            v.as_u64()
                .unwrap_or_else(|| v.as_i64().unwrap_or_default() as u64),
        ),
        Some(v) => {
            return Err(ApiError::invalid_field(
                "seed",
                format!("expected a whole number, got {}", describe(v)),
            ))
        }
    };
    let stop = stop(&obj, limits)?;
    let stream = boolean(&obj, "stream")?;
    let include_usage = match present(&obj, "stream_options") {
        None => false,
        Some(Value::Object(o)) => boolean(o, "include_usage").map_err(|mut e| {
            e.param = Some("stream_options.include_usage".into());
            e.message = format!("stream_options.{}", e.message);
            e
        })?,
        Some(v) => {
            return Err(ApiError::invalid_field(
                "stream_options",
                format!("expected an object, got {}", describe(v)),
            ))
        }
    };
    // Chat sends `logprobs: true`; the completions API sent `logprobs: K` (top K).
    let logprobs = match present(&obj, "logprobs") {
        None => false,
        Some(Value::Bool(b)) => *b,
        Some(Value::Number(_)) if endpoint == Endpoint::Completions => {
            uint(&obj, "logprobs", 0, 20)?;
            true
        }
        Some(v) => {
            return Err(ApiError::invalid_field(
                "logprobs",
                format!("expected true or false, got {}", describe(v)),
            ))
        }
    };
    uint(&obj, "top_logprobs", 0, 20)?;
    let selection = match string(ext, "select").map_err(ext_param("select"))? {
        None => None,
        Some(s) => Some(
            s.parse::<Selection>()
                .map_err(|e| ApiError::invalid_field("swift_bon.select", e))?,
        ),
    };
    let prune = match string(ext, "prune").map_err(ext_param("prune"))? {
        None => None,
        Some("off" | "none") => Some(None),
        Some(s) => Some(Some(s.parse::<PrunePolicy>().map_err(|e| {
            ApiError::invalid_field("swift_bon.prune", e.to_string())
        })?)),
    };
    Ok(ApiRequest {
        endpoint,
        model,
        conversation,
        best_of,
        n,
        max_tokens,
        temperature,
        top_p,
        seed,
        stop,
        stream,
        include_usage,
        logprobs,
        selection,
        prune,
    })
}

fn ext_param(name: &'static str) -> impl Fn(ApiError) -> ApiError {
    move |mut e| {
        e.param = Some(format!("swift_bon.{name}"));
        e.message = format!("swift_bon.{}", e.message);
        e
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const D: Defaults = Defaults {
        best_of: 8,
        max_tokens: 256,
    };

    fn chat(body: &str) -> Result<ApiRequest, ApiError> {
        parse(Endpoint::Chat, body.as_bytes(), &Limits::default(), &D)
    }

    fn err(body: &str) -> ApiError {
        chat(body).unwrap_err()
    }

    #[test]
    fn a_typical_request_reads_every_field() {
        let r = chat(
            r#"{"model":"smollm2-135m-arith","messages":[{"role":"system","content":"Be brief."},{"role":"user","content":"What is 2+3?"}],
               "max_tokens":32,"temperature":0.5,"top_p":0.9,"seed":7,"stop":["\n\n"],"stream":true,
               "stream_options":{"include_usage":true},"n":2,"best_of":4,"logprobs":true,"frequency_penalty":0,"user":"x"}"#,
        )
        .unwrap();
        assert_eq!(r.model.as_deref(), Some("smollm2-135m-arith"));
        assert_eq!(r.conversation.len(), 2);
        assert_eq!((r.n, r.best_of, r.max_tokens), (2, 4, 32));
        assert_eq!(
            (r.temperature, r.top_p, r.seed),
            (Some(0.5), Some(0.9), Some(7))
        );
        assert_eq!(r.stop, vec!["\n\n".to_string()]);
        assert!(r.stream && r.include_usage && r.logprobs);
    }

    #[test]
    fn defaults_and_extension_fields() {
        let r = chat(r#"{"messages":[{"role":"user","content":"hi"}]}"#).unwrap();
        assert_eq!((r.n, r.best_of, r.max_tokens), (1, 8, 256));
        assert_eq!(r.model, None);
        let r = chat(
            r#"{"messages":[{"role":"user","content":[{"type":"text","text":"h"},{"type":"text","text":"i"}]}],
               "max_completion_tokens":9,"swift_bon":{"best_of":3,"select":"majority","prune":"top:0.5,min=1"}}"#,
        )
        .unwrap();
        assert_eq!(r.conversation[0].content, "hi");
        assert_eq!((r.best_of, r.max_tokens), (3, 9));
        assert_eq!(r.selection, Some(Selection::Majority));
        assert_eq!(r.prune.unwrap().unwrap().min_keep, 1);
        // n above the server's N raises the candidates when best_of is not given.
        assert_eq!(
            chat(r#"{"messages":[{"role":"user","content":"hi"}],"n":12}"#)
                .unwrap()
                .best_of,
            12
        );
        let r =
            chat(r#"{"messages":[{"role":"user","content":"hi"}],"swift_bon":{"prune":"off"}}"#)
                .unwrap();
        assert_eq!(r.prune, Some(None));
    }

    #[test]
    fn bad_inputs_name_the_field() {
        let cases: &[(&str, &str, &str)] = &[
            ("{not json", "invalid_json", "not valid JSON"),
            ("[1,2]", "invalid_json", "expected an object"),
            (
                r#"{"model":"m"}"#,
                "missing_required_parameter",
                "messages is required",
            ),
            (r#"{"messages":[]}"#, "invalid_value", "messages: is empty"),
            (
                r#"{"messages":"hi"}"#,
                "invalid_value",
                "messages: expected an array",
            ),
            (
                r#"{"messages":[{"role":"robot","content":"hi"}]}"#,
                "invalid_value",
                "messages[0].role: unknown role \"robot\"",
            ),
            (
                r#"{"messages":[{"content":"hi"}]}"#,
                "missing_required_parameter",
                "messages[0].role is required",
            ),
            (
                r#"{"messages":[{"role":"user","content":5}]}"#,
                "invalid_value",
                "messages[0].content: expected a string",
            ),
            (
                r#"{"messages":[{"role":"user","content":"  "}]}"#,
                "invalid_value",
                "the last message is empty",
            ),
            (
                r#"{"messages":[{"role":"system","content":"x"}]}"#,
                "invalid_value",
                "no user message",
            ),
            (
                r#"{"messages":[{"role":"user","content":[{"type":"image_url"}]}]}"#,
                "invalid_value",
                "image_url",
            ),
            (
                r#"{"messages":[{"role":"user","content":"hi"}],"max_tokens":"ten"}"#,
                "invalid_value",
                "max_tokens: expected a whole number, got the string \"ten\"",
            ),
            (
                r#"{"messages":[{"role":"user","content":"hi"}],"max_tokens":0}"#,
                "invalid_value",
                "max_tokens: 0 is out of range",
            ),
            (
                r#"{"messages":[{"role":"user","content":"hi"}],"max_tokens":1000000}"#,
                "invalid_value",
                "more than the server's limit of 2048",
            ),
            (
                r#"{"messages":[{"role":"user","content":"hi"}],"max_tokens":2.5}"#,
                "invalid_value",
                "max_tokens: expected a whole number",
            ),
            (
                r#"{"messages":[{"role":"user","content":"hi"}],"temperature":"hot"}"#,
                "invalid_value",
                "temperature: expected a number",
            ),
            (
                r#"{"messages":[{"role":"user","content":"hi"}],"temperature":3}"#,
                "invalid_value",
                "temperature: 3 is out of range",
            ),
            (
                r#"{"messages":[{"role":"user","content":"hi"}],"top_p":0}"#,
                "invalid_value",
                "top_p",
            ),
            (
                r#"{"messages":[{"role":"user","content":"hi"}],"stream":"yes"}"#,
                "invalid_value",
                "stream: expected true or false",
            ),
            (
                r#"{"messages":[{"role":"user","content":"hi"}],"stop":[1]}"#,
                "invalid_value",
                "stop[0]: expected a string",
            ),
            (
                r#"{"messages":[{"role":"user","content":"hi"}],"n":3,"best_of":2}"#,
                "invalid_value",
                "n must not exceed best_of",
            ),
            (
                r#"{"messages":[{"role":"user","content":"hi"}],"best_of":1000}"#,
                "invalid_value",
                "best_of: 1000 is out of range",
            ),
            (
                r#"{"messages":[{"role":"user","content":"hi"}],"model":5}"#,
                "invalid_value",
                "model: expected a string",
            ),
            (
                r#"{"messages":[{"role":"user","content":"hi"}],"seed":"x"}"#,
                "invalid_value",
                "seed",
            ),
            (
                r#"{"messages":[{"role":"user","content":"hi"}],"swift_bon":{"select":"best"}}"#,
                "invalid_value",
                "swift_bon.select: unknown selection",
            ),
            (
                r#"{"messages":[{"role":"user","content":"hi"}],"swift_bon":{"prune":"top:2"}}"#,
                "invalid_value",
                "swift_bon.prune",
            ),
        ];
        for (body, code, needle) in cases {
            let e = err(body);
            assert_eq!(e.status, 400, "{body}: {e}");
            assert_eq!(e.code, *code, "{body}: {e}");
            assert!(
                e.message.contains(needle),
                "{body}: {:?} lacks {needle:?}",
                e.message
            );
        }
    }

    #[test]
    fn size_limits() {
        let limits = Limits {
            max_body: 100,
            max_prompt_chars: 10,
            ..Limits::default()
        };
        let long = format!(
            r#"{{"messages":[{{"role":"user","content":"{}"}}]}}"#,
            "x".repeat(200)
        );
        let e = parse(Endpoint::Chat, long.as_bytes(), &limits, &D).unwrap_err();
        assert_eq!(e.status, 413);
        let limits = Limits {
            max_prompt_chars: 10,
            ..Limits::default()
        };
        let e = parse(Endpoint::Chat, long.as_bytes(), &limits, &D).unwrap_err();
        assert_eq!((e.status, e.code), (400, "context_length_exceeded"));
    }

    #[test]
    fn completions_take_one_prompt() {
        let p = |b: &str| parse(Endpoint::Completions, b.as_bytes(), &Limits::default(), &D);
        let r = p(r#"{"prompt":"What is 2+3?","logprobs":2,"best_of":3,"n":2}"#).unwrap();
        assert_eq!(r.conversation, vec![ChatMessage::user("What is 2+3?")]);
        assert!(r.logprobs);
        assert_eq!(
            p(r#"{"prompt":["only one"]}"#).unwrap().conversation[0].content,
            "only one"
        );
        assert!(p(r#"{"prompt":["a","b"]}"#)
            .unwrap_err()
            .message
            .contains("one prompt per request"));
        assert!(p(r#"{"prompt":[1,2,3]}"#)
            .unwrap_err()
            .message
            .contains("prompt: expected a string"));
        assert_eq!(p(r#"{}"#).unwrap_err().code, "missing_required_parameter");
    }
}
