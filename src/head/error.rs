//! Errors of the head: files, shapes, models, layouts, imports.

use std::path::{Path, PathBuf};

use crate::features::SinkError;

fn in_file(file: &Option<PathBuf>) -> String {
    match file {
        Some(p) => format!("{}: ", p.display()),
        None => String::new(),
    }
}

/// Everything that can go wrong with a head.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum HeadError {
    /// Reading or writing a file failed.
    #[error("cannot access {}", file.display())]
    Io {
        /// The file.
        file: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// The YAML metadata does not parse or lacks a field.
    #[error("{}: invalid head metadata", file.display())]
    Yaml {
        /// The file.
        file: PathBuf,
        /// The cause (names the missing or malformed field and its line).
        source: crate::yaml::Error,
    },
    /// The metadata parses but is inconsistent.
    #[error("{}: invalid head metadata: {reason}", file.display())]
    Metadata {
        /// The file.
        file: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// A head file of another format version.
    #[error("{}: head format version {found} is not supported (this build reads version {supported})", file.display())]
    Version {
        /// The file.
        file: PathBuf,
        /// Version in the file.
        found: u64,
        /// Version this build reads.
        supported: u32,
    },
    /// The safetensors file is corrupted or truncated.
    #[error("{}: not a valid safetensors file ({reason})", file.display())]
    Safetensors {
        /// The file.
        file: PathBuf,
        /// The parser's complaint.
        reason: String,
    },
    /// A required tensor is absent.
    #[error("{}: tensor {name:?} is missing", file.display())]
    MissingTensor {
        /// The file.
        file: PathBuf,
        /// The tensor.
        name: String,
    },
    /// A tensor that does not belong in a head of this kind.
    #[error("{}: unexpected tensor {name:?}", file.display())]
    UnexpectedTensor {
        /// The file.
        file: PathBuf,
        /// The tensor.
        name: String,
    },
    /// A tensor has the wrong element type.
    #[error("{}: tensor {name:?} has dtype {got}, expected F32", file.display())]
    TensorDtype {
        /// The file.
        file: PathBuf,
        /// The tensor.
        name: String,
        /// Its dtype.
        got: String,
    },
    /// A tensor has the wrong shape for the metadata.
    #[error("{}tensor {name:?} has shape {got:?}, expected {expected:?}", in_file(.file))]
    TensorShape {
        /// The file, if any.
        file: Option<PathBuf>,
        /// The tensor.
        name: String,
        /// Shape the metadata implies.
        expected: Vec<usize>,
        /// Shape found.
        got: Vec<usize>,
    },
    /// A NaN or infinity among the numbers.
    #[error("{}{name}[{index}] is {value}, not a finite number", in_file(.file))]
    NonFinite {
        /// The file, if any.
        file: Option<PathBuf>,
        /// The tensor.
        name: String,
        /// Flat index of the first bad value.
        index: usize,
        /// The value.
        value: f32,
    },
    /// Inconsistent head parts (shapes vs metadata, statistics vs normalisation).
    #[error("invalid head: {reason}")]
    Invalid {
        /// What is wrong.
        reason: String,
    },
    /// The head belongs to a model of another shape.
    #[error("the head was made for a different model: {details}")]
    ModelMismatch {
        /// Each differing field with expected and got.
        details: String,
    },
    /// Same shapes, different GGUF, in strict mode.
    #[error("the head was trained on another GGUF (fingerprint: head expects {expected}, model is {got}); states from another quantisation or runtime differ")]
    FingerprintMismatch {
        /// Fingerprint recorded in the head.
        expected: String,
        /// Fingerprint of the loaded model.
        got: String,
    },
    /// The incoming features cannot feed this head.
    #[error("features do not fit the head: {reason}")]
    LayoutMismatch {
        /// What does not fit.
        reason: String,
    },
    /// Reading a candidate's stored rows failed.
    #[error("reading the feature rows of candidate {candidate}")]
    Read {
        /// Candidate index.
        candidate: usize,
        /// The store's error.
        source: SinkError,
    },
    /// A PyTorch checkpoint could not be imported.
    #[error("{}: cannot import checkpoint: {reason}", file.display())]
    Checkpoint {
        /// The checkpoint.
        file: PathBuf,
        /// What is wrong.
        reason: String,
    },
}

impl HeadError {
    /// Names the tensors of answer kind `kind`'s own weights in an error raised while
    /// validating them (`yes-no.weight` rather than `weight`).
    pub(crate) fn in_tensors_of(self, kind: crate::tasks::AnswerKind) -> Self {
        let named = |name: String| format!("{}.{name}", kind.name());
        match self {
            HeadError::TensorShape {
                file,
                name,
                expected,
                got,
            } => HeadError::TensorShape {
                file,
                name: named(name),
                expected,
                got,
            },
            HeadError::NonFinite {
                file,
                name,
                index,
                value,
            } => HeadError::NonFinite {
                file,
                name: named(name),
                index,
                value,
            },
            HeadError::Invalid { reason } => HeadError::Invalid {
                reason: format!("the weights for {kind} questions: {reason}"),
            },
            other => other,
        }
    }

    /// Attaches `file` to an error raised while validating a head read from it.
    pub(crate) fn in_file(self, file: &Path) -> Self {
        match self {
            HeadError::Invalid { reason } => HeadError::Metadata {
                file: file.to_path_buf(),
                reason,
            },
            HeadError::TensorShape {
                file: None,
                name,
                expected,
                got,
            } => HeadError::TensorShape {
                file: Some(file.to_path_buf()),
                name,
                expected,
                got,
            },
            HeadError::NonFinite {
                file: None,
                name,
                index,
                value,
            } => HeadError::NonFinite {
                file: Some(file.to_path_buf()),
                name,
                index,
                value,
            },
            other => other,
        }
    }
}
