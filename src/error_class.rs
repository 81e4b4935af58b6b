//! Who can fix an error: the rule behind the command line's exit codes (README, "Commands"):
//! 2 = bad input (usage, options, files the user gave: models, heads, datasets, collections),
//! 3 = the model or runtime (llama.cpp, capture), 1 = anything else.
//!
//! Every error type of the crate is classified here by an exhaustive `match`, so a new variant
//! cannot be added without deciding its class. Errors that wrap another (`#[error(transparent)]`
//! variants, a feature consumer's error) take the class of what they wrap.
//!
//! Error messages follow one discipline: a variant either writes its cause into its own
//! message or returns it from `source()`, never both, so printing the chain (`a: b: c`) shows
//! every cause exactly once. [`chain_text`] renders such a chain.

use std::error::Error;
use std::io;

use crate::bench::BenchError;
use crate::bon::BonError;
use crate::capture::CaptureError;
use crate::collect::CollectError;
use crate::dataset::store::StoreError;
use crate::engine::EngineError;
use crate::eval::EvalError;
use crate::eval::PlotError;
use crate::features::StateSpecError;
use crate::fetch::FetchError;
use crate::gguf::{GgufError, GgufFileError};
use crate::head::HeadError;
use crate::prune::PruneParseError;
use crate::select::SelectError;
use crate::tasks::TaskError;
use crate::train::TrainError;

/// Who can fix an error.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum ErrorClass {
    /// The user's input: usage, an option, a file they gave (exit code 2).
    BadInput,
    /// The model or the runtime: llama.cpp, capture (exit code 3).
    Model,
    /// Anything else: the environment, I/O while writing, internal errors (exit code 1).
    Other,
}

impl ErrorClass {
    /// The process exit code of this class.
    pub fn exit_code(self) -> u8 {
        match self {
            Self::BadInput => 2,
            Self::Model => 3,
            Self::Other => 1,
        }
    }
}

/// An error that knows its [`ErrorClass`].
pub trait Classify {
    /// The class of this error.
    fn class(&self) -> ErrorClass;
}

/// The class of `err` when it is one of this crate's error types (looked through
/// [`Box<dyn Error>`](crate::features::SinkError) wrappers), `None` otherwise.
pub fn classify(err: &(dyn Error + 'static)) -> Option<ErrorClass> {
    macro_rules! try_types {
        ($($t:ty),*) => {$(
            if let Some(e) = err.downcast_ref::<$t>() {
                return Some(e.class());
            }
        )*};
    }
    try_types!(
        EngineError,
        CaptureError,
        StateSpecError,
        GgufFileError,
        GgufError,
        TaskError,
        HeadError,
        StoreError,
        CollectError,
        TrainError,
        EvalError,
        SelectError,
        PlotError,
        FetchError,
        BenchError,
        BonError,
        PruneParseError
    );
    None
}

/// The class of the first classified error in `err`'s chain (itself, then its sources).
pub fn classify_chain(err: &(dyn Error + 'static)) -> Option<ErrorClass> {
    let mut cur: Option<&(dyn Error + 'static)> = Some(err);
    while let Some(e) = cur {
        if let Some(c) = classify(e) {
            return Some(c);
        }
        cur = e.source();
    }
    None
}

/// `err` and its sources joined by `": "`: the whole story of an error in one line.
pub fn chain_text(err: &(dyn Error + 'static)) -> String {
    let mut out = err.to_string();
    let mut cur = err.source();
    while let Some(e) = cur {
        out.push_str(": ");
        out.push_str(&e.to_string());
        cur = e.source();
    }
    out
}

/// Reading a file the user named failed because of the file (missing, unreadable, malformed):
/// bad input. Other I/O failures (disk full, interrupted) are not the user's input.
fn io_class(e: &io::Error) -> ErrorClass {
    use io::ErrorKind as K;
    match e.kind() {
        K::NotFound
        | K::PermissionDenied
        | K::InvalidData
        | K::InvalidInput
        | K::UnexpectedEof
        | K::IsADirectory
        | K::NotADirectory
        | K::AlreadyExists => ErrorClass::BadInput,
        _ => ErrorClass::Other,
    }
}

fn boxed_class(e: &(dyn Error + Send + Sync + 'static)) -> ErrorClass {
    classify_chain(e).unwrap_or(ErrorClass::Other)
}

impl Classify for EngineError {
    fn class(&self) -> ErrorClass {
        use EngineError as E;
        match self {
            E::InvalidOption { .. }
            | E::ModelNotFound(_)
            | E::NotGguf { .. }
            | E::PromptTooLong { .. }
            | E::EmptyPrompt => ErrorClass::BadInput,
            E::States(e) => e.class(),
            E::Load { .. }
            | E::Backend(_)
            | E::Context { .. }
            | E::Template(_)
            | E::Decode { .. } => ErrorClass::Model,
            E::Capture(e) => e.class(),
            E::Sink(e) => boxed_class(e.as_ref()),
            E::Cancelled => ErrorClass::Other,
            E::Io { source, .. } => io_class(source),
        }
    }
}

impl Classify for CaptureError {
    fn class(&self) -> ErrorClass {
        match self {
            CaptureError::MissingTensor { .. }
            | CaptureError::RowCount { .. }
            | CaptureError::Layout { .. }
            | CaptureError::Panic(_)
            | CaptureError::LayerInputMissing { .. } => ErrorClass::Model,
        }
    }
}

impl Classify for StateSpecError {
    fn class(&self) -> ErrorClass {
        match self {
            StateSpecError::Syntax { .. }
            | StateSpecError::OutOfRange { .. }
            | StateSpecError::TooMany { .. }
            | StateSpecError::Empty => ErrorClass::BadInput,
        }
    }
}

impl Classify for GgufError {
    fn class(&self) -> ErrorClass {
        ErrorClass::BadInput
    }
}

impl Classify for GgufFileError {
    fn class(&self) -> ErrorClass {
        ErrorClass::BadInput
    }
}

impl Classify for TaskError {
    fn class(&self) -> ErrorClass {
        use TaskError as E;
        match self {
            E::Io { source, .. } => io_class(source),
            E::NotUtf8 { .. }
            | E::InvalidJson { .. }
            | E::MissingField { .. }
            | E::WrongType { .. }
            | E::NoAnswerMarker { .. }
            | E::BadReference { .. }
            | E::NoProblems { .. }
            | E::Spec { .. }
            | E::InvalidOption { .. } => ErrorClass::BadInput,
        }
    }
}

impl Classify for HeadError {
    fn class(&self) -> ErrorClass {
        use HeadError as E;
        match self {
            E::Io { source, .. } => io_class(source),
            E::Yaml { .. }
            | E::Metadata { .. }
            | E::Version { .. }
            | E::Safetensors { .. }
            | E::MissingTensor { .. }
            | E::UnexpectedTensor { .. }
            | E::TensorDtype { .. }
            | E::TensorShape { .. }
            | E::NonFinite { .. }
            | E::Invalid { .. }
            | E::ModelMismatch { .. }
            | E::FingerprintMismatch { .. }
            | E::LayoutMismatch { .. }
            | E::Checkpoint { .. } => ErrorClass::BadInput,
            E::Read { source, .. } => boxed_class(source.as_ref()),
        }
    }
}

impl Classify for StoreError {
    fn class(&self) -> ErrorClass {
        use StoreError as E;
        match self {
            E::Io { source, .. } => io_class(source),
            // A collection on disk that is not what it should be.
            E::NotAStore { .. }
            | E::Orphaned { .. }
            | E::BadManifest { .. }
            | E::UnsupportedVersion { .. }
            | E::LayoutMismatch { .. }
            | E::ChunkLimitMismatch { .. }
            | E::BadChunkHeader { .. }
            | E::BadIndexHeader { .. }
            | E::CorruptIndex { .. }
            | E::MissingData { .. }
            | E::ChecksumMismatch { .. }
            | E::LabelWithoutFeatures { .. }
            | E::FeaturesWithoutLabel { .. }
            | E::DuplicateLabel { .. }
            | E::RowCountMismatch { .. }
            | E::BadProjection { .. } => ErrorClass::BadInput,
            // The model produced NaN or infinite states.
            E::NonFinite { .. } => ErrorClass::Model,
            // Misuse of the writing protocol: a bug, not the user's input.
            E::AlreadyStored { .. }
            | E::OutOfOrder { .. }
            | E::NothingPending
            | E::NotEnded
            | E::CandidateOutOfRange { .. }
            | E::PositionGap { .. }
            | E::WidthMismatch { .. }
            | E::Rejected { .. }
            | E::Poisoned { .. }
            | E::EntryOutOfRange { .. } => ErrorClass::Other,
        }
    }
}

impl Classify for CollectError {
    fn class(&self) -> ErrorClass {
        use CollectError as E;
        match self {
            E::ManifestMismatch { .. } | E::BadManifest { .. } | E::BadRecords { .. } => {
                ErrorClass::BadInput
            }
            E::Task(e) => e.class(),
            E::Engine(e) => e.class(),
            E::Store(e) => e.class(),
            E::Io { source, .. } => io_class(source),
        }
    }
}

impl Classify for TrainError {
    fn class(&self) -> ErrorClass {
        use TrainError as E;
        match self {
            E::InvalidOption { .. } | E::Data { .. } => ErrorClass::BadInput,
            E::Head(e) => e.class(),
            E::Read { source, .. } => boxed_class(source.as_ref()),
            E::Diverged { .. } => ErrorClass::Other,
        }
    }
}

impl Classify for EvalError {
    fn class(&self) -> ErrorClass {
        use EvalError as E;
        match self {
            E::NoProblems
            | E::EmptyProblem { .. }
            | E::DuplicateProblem { .. }
            | E::DuplicateCandidate { .. }
            | E::CandidateCount { .. }
            | E::UnknownCandidate { .. }
            | E::ScoreName { .. }
            | E::ScoreColumnCount { .. }
            | E::UnknownScoreColumn { .. }
            | E::DuplicateSelector { .. }
            | E::NoSelectors
            | E::ZeroK
            | E::Draws { .. } => ErrorClass::BadInput,
            E::Pool(e) => e.class(),
        }
    }
}

impl Classify for SelectError {
    fn class(&self) -> ErrorClass {
        // Scores and answers that do not line up with the candidates: inconsistent input files.
        match self {
            SelectError::ScoreCount { .. }
            | SelectError::AnswerCount { .. }
            | SelectError::ColumnLength { .. } => ErrorClass::BadInput,
        }
    }
}

impl Classify for PlotError {
    fn class(&self) -> ErrorClass {
        match self {
            PlotError::Format { .. } | PlotError::Font { .. } | PlotError::Empty => {
                ErrorClass::BadInput
            }
            PlotError::NoFont { .. } | PlotError::Draw { .. } => ErrorClass::Other,
        }
    }
}

impl Classify for FetchError {
    fn class(&self) -> ErrorClass {
        use FetchError as E;
        match self {
            E::Unknown { .. } => ErrorClass::BadInput,
            // The environment: pip, the package index, the disk.
            E::PipMissing { .. }
            | E::PipFailed { .. }
            | E::Wheel { .. }
            | E::Verify { .. }
            | E::Io { .. } => ErrorClass::Other,
        }
    }
}

impl Classify for BenchError {
    fn class(&self) -> ErrorClass {
        use BenchError as E;
        match self {
            E::Engine(e) => e.class(),
            E::Head(e) => e.class(),
            E::States(e) => e.class(),
            E::Train(e) => e.class(),
            E::Config { .. } => ErrorClass::BadInput,
        }
    }
}

impl Classify for BonError {
    fn class(&self) -> ErrorClass {
        match self {
            BonError::Engine(e) => e.class(),
            BonError::Head(e) => e.class(),
            BonError::NeedsHead(_) | BonError::InvalidRequest(_) => ErrorClass::BadInput,
        }
    }
}

impl Classify for PruneParseError {
    fn class(&self) -> ErrorClass {
        ErrorClass::BadInput
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;

    fn not_found() -> io::Error {
        io::Error::new(io::ErrorKind::NotFound, "No such file or directory")
    }
    fn disk_full() -> io::Error {
        io::Error::new(io::ErrorKind::StorageFull, "No space left on device")
    }
    fn p() -> PathBuf {
        PathBuf::from("dir/file")
    }
    fn boxed(e: impl Error + Send + Sync + 'static) -> crate::features::SinkError {
        Box::new(e)
    }

    /// One or more errors of every type, with the class the documented rule gives them.
    fn cases() -> Vec<(Box<dyn Error + Send + Sync>, ErrorClass)> {
        use ErrorClass::{BadInput as In, Model as M, Other as O};
        let yaml = crate::yaml::from_str::<u32>("[").unwrap_err();
        let store_nan = || StoreError::NonFinite {
            candidate: 0,
            position: 1,
            column: 2,
            value: f32::NAN,
        };
        vec![
            (Box::new(EngineError::ModelNotFound(p())), In),
            (
                Box::new(EngineError::NotGguf {
                    path: p(),
                    detail: "x".into(),
                }),
                In,
            ),
            (Box::new(EngineError::EmptyPrompt), In),
            (Box::new(EngineError::Load { path: p() }), M),
            (
                Box::new(EngineError::Decode {
                    step: 0,
                    detail: "x".into(),
                }),
                M,
            ),
            (Box::new(EngineError::Cancelled), O),
            (
                Box::new(EngineError::Io {
                    path: p(),
                    source: not_found(),
                }),
                In,
            ),
            (
                Box::new(EngineError::Io {
                    path: p(),
                    source: disk_full(),
                }),
                O,
            ),
            // A feature consumer's error keeps its source, and its class.
            (Box::new(EngineError::Sink(boxed(store_nan()))), M),
            (
                Box::new(EngineError::Sink(boxed(io::Error::other("custom sink")))),
                O,
            ),
            (Box::new(EngineError::States(StateSpecError::Empty)), In),
            (
                Box::new(EngineError::Capture(CaptureError::Panic("x".into()))),
                M,
            ),
            (
                Box::new(CaptureError::MissingTensor {
                    state: 3,
                    name: "l_out-2".into(),
                }),
                M,
            ),
            (Box::new(StateSpecError::Empty), In),
            (
                Box::new(GgufFileError {
                    path: p(),
                    error: GgufError {
                        offset: 24,
                        reason: "x".into(),
                    },
                }),
                In,
            ),
            (
                Box::new(TaskError::Io {
                    path: p(),
                    source: not_found(),
                }),
                In,
            ),
            (
                Box::new(TaskError::Spec {
                    spec: "x".into(),
                    reason: "y".into(),
                }),
                In,
            ),
            // A missing or corrupt head file is bad input (it used to exit 1).
            (
                Box::new(HeadError::Io {
                    file: p(),
                    source: not_found(),
                }),
                In,
            ),
            (
                Box::new(HeadError::Yaml {
                    file: p(),
                    source: yaml,
                }),
                In,
            ),
            (
                Box::new(HeadError::Safetensors {
                    file: p(),
                    reason: "x".into(),
                }),
                In,
            ),
            (
                Box::new(HeadError::Read {
                    candidate: 1,
                    source: boxed(StoreError::Io {
                        path: p(),
                        source: disk_full(),
                    }),
                }),
                O,
            ),
            (
                Box::new(StoreError::Io {
                    path: p(),
                    source: not_found(),
                }),
                In,
            ),
            (
                Box::new(StoreError::CorruptIndex {
                    path: p(),
                    entry: 1,
                    offset: 2,
                    reason: "x".into(),
                }),
                In,
            ),
            (Box::new(store_nan()), M),
            (Box::new(StoreError::NothingPending), O),
            (
                Box::new(CollectError::Io {
                    path: p(),
                    source: disk_full(),
                }),
                O,
            ),
            (
                Box::new(CollectError::Engine(EngineError::ModelNotFound(p()))),
                In,
            ),
            (
                Box::new(CollectError::Store(StoreError::NotAStore { path: p() })),
                In,
            ),
            (Box::new(TrainError::Data { reason: "x".into() }), In),
            (
                Box::new(TrainError::Read {
                    candidate: 0,
                    source: boxed(StoreError::ChecksumMismatch {
                        path: p(),
                        entry: 0,
                        problem_index: 0,
                        start: 0,
                        end: 1,
                    }),
                }),
                In,
            ),
            (Box::new(EvalError::ZeroK), In),
            (
                Box::new(FetchError::Io {
                    path: p(),
                    source: disk_full(),
                }),
                O,
            ),
            (
                Box::new(FetchError::PipMissing {
                    command: "pip".into(),
                    error: not_found(),
                }),
                O,
            ),
            (
                Box::new(BenchError::Head(HeadError::Invalid { reason: "x".into() })),
                In,
            ),
            (Box::new(BonError::InvalidRequest("x".into())), In),
            (
                Box::new(BonError::Engine(EngineError::Decode {
                    step: 1,
                    detail: "x".into(),
                })),
                M,
            ),
            (
                Box::new(PruneParseError {
                    text: "top:2".into(),
                    reason: "x".into(),
                }),
                In,
            ),
        ]
    }

    #[test]
    fn every_error_type_has_the_documented_exit_code() {
        for (err, class) in cases() {
            let err: &(dyn Error + 'static) = err.as_ref();
            assert_eq!(classify_chain(err), Some(class), "{}", chain_text(err));
            assert_eq!(
                classify_chain(err).unwrap().exit_code(),
                match class {
                    ErrorClass::BadInput => 2,
                    ErrorClass::Model => 3,
                    ErrorClass::Other => 1,
                }
            );
        }
    }

    #[test]
    fn a_cause_is_in_the_message_or_the_source_never_both() {
        for (err, _) in cases() {
            let err: &(dyn Error + 'static) = err.as_ref();
            if let Some(src) = err.source() {
                let own = err.to_string();
                let cause = src.to_string();
                assert!(
                    !own.contains(&cause),
                    "{own:?} repeats its source {cause:?}"
                );
                // The chain shows the cause exactly once.
                assert_eq!(
                    chain_text(err).matches(&cause).count(),
                    1,
                    "{}",
                    chain_text(err)
                );
            }
        }
        // The feature consumer's error is kept as the source (it used to be dropped).
        let e = EngineError::Sink(boxed(io::Error::other("the sink's own words")));
        assert_eq!(e.source().unwrap().to_string(), "the sink's own words");
    }
}
