//! Reading problems from JSON Lines files: one JSON object a line, blank lines ignored.

use std::fs::File;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::error::TaskError;
use super::Problem;

/// Which records of a JSONL file to use.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileSpec {
    /// The JSONL file (any path).
    pub path: PathBuf,
    /// Records to skip first (records are the non-blank lines, counted from 0).
    #[serde(default)]
    pub offset: usize,
    /// At most this many records after `offset`; all when `None`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limit: Option<usize>,
    /// Skip (and log) records that cannot be read instead of failing; they keep their position,
    /// so problem ids do not shift.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub skip_invalid: bool,
    /// Replaces the task's default instruction.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub instruction: Option<String>,
}

impl FileSpec {
    /// All records of `path`, strict, default instruction.
    pub fn new(path: impl Into<PathBuf>) -> Self {
        Self {
            path: path.into(),
            offset: 0,
            limit: None,
            skip_invalid: false,
            instruction: None,
        }
    }

    /// Skips the first `offset` records.
    #[must_use]
    pub fn with_offset(mut self, offset: usize) -> Self {
        self.offset = offset;
        self
    }

    /// Uses at most `limit` records.
    #[must_use]
    pub fn with_limit(mut self, limit: usize) -> Self {
        self.limit = Some(limit);
        self
    }
}

/// One JSON object of a JSONL file and where it was.
#[derive(Debug)]
pub(crate) struct Record<'a> {
    /// The file.
    pub path: &'a Path,
    /// 1-based line number.
    pub line: usize,
    /// The object.
    pub fields: Map<String, Value>,
}

fn json_type(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

impl Record<'_> {
    fn missing(&self, field: &str) -> TaskError {
        TaskError::MissingField {
            path: self.path.to_path_buf(),
            line: self.line,
            field: field.to_string(),
        }
    }

    /// Whether the object has `field` (with any value but null).
    pub fn has(&self, field: &str) -> bool {
        self.fields.get(field).is_some_and(|v| !v.is_null())
    }

    /// A required string field.
    pub fn string(&self, field: &str) -> Result<&str, TaskError> {
        match self.fields.get(field) {
            None | Some(Value::Null) => Err(self.missing(field)),
            Some(Value::String(s)) => Ok(s),
            Some(other) => Err(TaskError::WrongType {
                path: self.path.to_path_buf(),
                line: self.line,
                field: field.to_string(),
                expected: "a string",
                found: json_type(other),
            }),
        }
    }

    /// A required answer field: a string, a number or a boolean (as `yes`/`no`), as text.
    pub fn answer_text(&self, field: &str) -> Result<String, TaskError> {
        match self.fields.get(field) {
            None | Some(Value::Null) => Err(self.missing(field)),
            Some(Value::String(s)) => Ok(s.clone()),
            Some(Value::Number(n)) => Ok(n.to_string()),
            Some(Value::Bool(b)) => Ok(if *b { "yes" } else { "no" }.to_string()),
            Some(other) => Err(TaskError::WrongType {
                path: self.path.to_path_buf(),
                line: self.line,
                field: field.to_string(),
                expected: "a string, number or boolean",
                found: json_type(other),
            }),
        }
    }

    /// A reference that cannot be used.
    pub fn bad_reference(&self, answer: &str, reason: impl Into<String>) -> TaskError {
        TaskError::BadReference {
            path: self.path.to_path_buf(),
            line: self.line,
            answer: answer.to_string(),
            reason: reason.into(),
        }
    }
}

/// A file-name stem usable inside problem ids: `test` for `.../gsm8k/test.jsonl`.
pub(crate) fn id_stem(path: &Path) -> String {
    let stem = path
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default();
    let stem: String = stem
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' {
                c
            } else {
                '_'
            }
        })
        .collect();
    if stem.is_empty() {
        "file".to_string()
    } else {
        stem
    }
}

/// Reads the records selected by `spec` and turns each into a problem with `convert`. Problem
/// ids are `<prefix>-<file stem>-<record index>`. A record that fails (bad JSON or `convert`
/// error) aborts the load unless `spec.skip_invalid`, in which case it is logged and skipped.
pub(crate) fn load_problems<F>(
    spec: &FileSpec,
    prefix: &str,
    mut convert: F,
) -> Result<Vec<Problem>, TaskError>
where
    F: FnMut(&Record<'_>) -> Result<(String, String), TaskError>,
{
    let path = spec.path.as_path();
    let io_err = |source| TaskError::Io {
        path: path.to_path_buf(),
        source,
    };
    let file = File::open(path).map_err(io_err)?;
    let mut reader = BufReader::new(file);
    let stem = id_stem(path);
    let mut problems = Vec::new();
    let mut buf = Vec::new();
    let (mut line_no, mut index, mut skipped) = (0usize, 0usize, 0usize);
    let end = spec.limit.map(|l| spec.offset.saturating_add(l));
    loop {
        if end.is_some_and(|e| index >= e) {
            break;
        }
        buf.clear();
        if reader.read_until(b'\n', &mut buf).map_err(io_err)? == 0 {
            break;
        }
        line_no += 1;
        let mut bytes = buf.as_slice();
        if line_no == 1 {
            bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
        }
        if bytes.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        let this = index;
        index += 1;
        if this < spec.offset {
            continue;
        }
        let parsed = parse_record(path, line_no, bytes).and_then(|record| {
            let (question, reference) = convert(&record)?;
            Ok(Problem {
                id: format!("{prefix}-{stem}-{this}"),
                question,
                reference,
            })
        });
        match parsed {
            Ok(p) => problems.push(p),
            Err(e) if spec.skip_invalid => {
                tracing::warn!("skipping record: {e}");
                skipped += 1;
            }
            Err(e) => return Err(e),
        }
    }
    if skipped > 0 {
        tracing::warn!(
            "{}: skipped {skipped} invalid records, kept {}",
            path.display(),
            problems.len()
        );
    }
    if problems.is_empty() {
        return Err(TaskError::NoProblems {
            path: path.to_path_buf(),
            available: index,
            offset: spec.offset,
        });
    }
    Ok(problems)
}

fn parse_record<'a>(path: &'a Path, line: usize, bytes: &[u8]) -> Result<Record<'a>, TaskError> {
    let text = std::str::from_utf8(bytes).map_err(|_| TaskError::NotUtf8 {
        path: path.to_path_buf(),
        line,
    })?;
    let invalid = |message: String| TaskError::InvalidJson {
        path: path.to_path_buf(),
        line,
        message,
    };
    match serde_json::from_str::<Value>(text.trim()) {
        Ok(Value::Object(fields)) => Ok(Record { path, line, fields }),
        Ok(other) => Err(invalid(format!(
            "expected an object, found {}",
            json_type(&other)
        ))),
        Err(e) => Err(invalid(e.to_string())),
    }
}
