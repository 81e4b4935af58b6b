//! Errors of task construction and problem loading.

use std::path::PathBuf;

/// Why a task could not be built or its problems could not be read. Record errors name the file
/// and the 1-based line.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TaskError {
    /// The file could not be opened or read.
    #[error("cannot read {}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// A line is not valid UTF-8.
    #[error("{}:{line}: not valid UTF-8", path.display())]
    NotUtf8 {
        /// The file.
        path: PathBuf,
        /// 1-based line number.
        line: usize,
    },
    /// A line is not a JSON object.
    #[error("{}:{line}: invalid JSON: {message}", path.display())]
    InvalidJson {
        /// The file.
        path: PathBuf,
        /// 1-based line number.
        line: usize,
        /// What the JSON parser said (or that the value is not an object).
        message: String,
    },
    /// A required field is absent.
    #[error("{}:{line}: missing field `{field}`", path.display())]
    MissingField {
        /// The file.
        path: PathBuf,
        /// 1-based line number.
        line: usize,
        /// The field name.
        field: String,
    },
    /// A field has the wrong JSON type.
    #[error("{}:{line}: field `{field}` must be {expected}, found {found}", path.display())]
    WrongType {
        /// The file.
        path: PathBuf,
        /// 1-based line number.
        line: usize,
        /// The field name.
        field: String,
        /// The JSON type wanted.
        expected: &'static str,
        /// The JSON type found.
        found: &'static str,
    },
    /// A GSM8K answer has no `####` marker.
    #[error("{}:{line}: the answer has no `####` before the final number", path.display())]
    NoAnswerMarker {
        /// The file.
        path: PathBuf,
        /// 1-based line number.
        line: usize,
    },
    /// A record's reference answer cannot be read as an answer of the task's kind.
    #[error("{}:{line}: bad reference answer {answer:?}: {reason}", path.display())]
    BadReference {
        /// The file.
        path: PathBuf,
        /// 1-based line number.
        line: usize,
        /// The reference as written.
        answer: String,
        /// What is wrong with it.
        reason: String,
    },
    /// The selection (`offset`, `limit`) holds no problem.
    #[error("{}: no problems selected ({available} records, offset {offset})", path.display())]
    NoProblems {
        /// The file.
        path: PathBuf,
        /// Records in the file (non-blank lines).
        available: usize,
        /// The requested offset.
        offset: usize,
    },
    /// A task spec string could not be parsed.
    #[error("invalid task spec {spec:?}: {reason}")]
    Spec {
        /// The text given.
        spec: String,
        /// What is wrong with it.
        reason: String,
    },
    /// A task option is out of range or inconsistent.
    #[error("{task}: invalid option `{option}`: {reason}")]
    InvalidOption {
        /// The task name.
        task: &'static str,
        /// The option name.
        option: &'static str,
        /// What is wrong with it.
        reason: String,
    },
}
