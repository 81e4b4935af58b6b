//! Typed errors of the feature store.

use std::io;
use std::path::PathBuf;

use crate::features::{FeatureLayout, FeatureSource};

/// Errors of the feature store: opening, validating, writing and reading.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// An I/O operation on a file of the store failed.
    #[error("cannot access {}", path.display())]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// The underlying error.
        source: io::Error,
    },
    /// The directory holds no feature store.
    #[error("{} is not a feature store (no manifest file)", path.display())]
    NotAStore {
        /// The manifest path that is missing.
        path: PathBuf,
    },
    /// Chunk or index files exist but the manifest does not: refusing to overwrite them.
    #[error("{} holds feature files but no manifest; refusing to create a store over them", path.display())]
    Orphaned {
        /// The store directory.
        path: PathBuf,
    },
    /// The manifest cannot be parsed or is inconsistent.
    #[error("{}: invalid manifest: {reason}", path.display())]
    BadManifest {
        /// The manifest.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// The store was written in a format version this build does not read.
    #[error("{}: format version {got} is not supported (this build reads version {expected})", path.display())]
    UnsupportedVersion {
        /// The file.
        path: PathBuf,
        /// The version this build reads.
        expected: u32,
        /// The version found.
        got: u32,
    },
    /// The store holds features of another layout than requested.
    #[error("{}: feature layout mismatch: expected {e}, the store has {g}", path.display(), e = describe_layout(expected), g = describe_layout(got))]
    LayoutMismatch {
        /// The manifest, or the store directory for a sink call.
        path: PathBuf,
        /// The layout requested.
        expected: Box<FeatureLayout>,
        /// The layout found.
        got: Box<FeatureLayout>,
    },
    /// The store was created with another chunk size limit than requested.
    #[error("{}: chunk size limit mismatch: expected {expected} bytes, the store uses {got}", path.display())]
    ChunkLimitMismatch {
        /// The manifest.
        path: PathBuf,
        /// The limit requested.
        expected: u64,
        /// The limit of the store.
        got: u64,
    },
    /// A chunk file's header is invalid or disagrees with the manifest.
    #[error("{}: bad chunk header: {reason}", path.display())]
    BadChunkHeader {
        /// The chunk file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// The index file's header is invalid.
    #[error("{}: bad index header: {reason}", path.display())]
    BadIndexHeader {
        /// The index file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// An index entry is damaged in a way a crash cannot explain (see the module docs).
    #[error("{}: index entry {entry} (byte offset {offset}) is corrupt: {reason}", path.display())]
    CorruptIndex {
        /// The index file.
        path: PathBuf,
        /// 0-based entry (problem record) number.
        entry: u64,
        /// Byte offset of the entry in the index file.
        offset: u64,
        /// What is wrong.
        reason: String,
    },
    /// An index entry refers to chunk bytes that do not exist, and it is not part of the tail
    /// that recovery may drop.
    #[error("{}: index entry {entry} (problem {problem_index}) needs {needed} bytes but the chunk file has {len}", path.display())]
    MissingData {
        /// The chunk file.
        path: PathBuf,
        /// 0-based entry number.
        entry: u64,
        /// The problem of the entry.
        problem_index: u64,
        /// Bytes the entry needs the chunk to have.
        needed: u64,
        /// Bytes the chunk has.
        len: u64,
    },
    /// A problem's bytes do not match the checksum recorded in the index.
    #[error("{}: data checksum mismatch for problem {problem_index} (index entry {entry}, bytes {start}..{end})", path.display())]
    ChecksumMismatch {
        /// The chunk file.
        path: PathBuf,
        /// 0-based entry number.
        entry: u64,
        /// The problem.
        problem_index: u64,
        /// First byte of the problem's region.
        start: u64,
        /// One past the last byte of the problem's region.
        end: u64,
    },
    /// `commit_problem` for a problem index that is already stored.
    #[error("problem {problem_index} is already stored; a problem is committed once")]
    AlreadyStored {
        /// The problem.
        problem_index: u64,
    },
    /// `commit_problem` for a problem index below the last stored one.
    #[error("problem {problem_index} cannot be committed after problem {last}: problem indices must increase")]
    OutOfOrder {
        /// The problem.
        problem_index: u64,
        /// The last stored problem.
        last: u64,
    },
    /// A sink call or commit without a problem begun with `begin`.
    #[error("no problem is pending: call `begin` first")]
    NothingPending,
    /// `commit_problem` before the sink's `end`.
    #[error("the pending problem has not ended: the engine calls `end` after the last token")]
    NotEnded,
    /// A candidate number beyond those announced at `begin`.
    #[error("candidate {candidate} is out of range: the problem has {n_candidates} candidates")]
    CandidateOutOfRange {
        /// The candidate.
        candidate: usize,
        /// Candidates announced at `begin`.
        n_candidates: usize,
    },
    /// Rows of a candidate must arrive in order without gaps.
    #[error("candidate {candidate}: got row {position} but expected row {expected}")]
    PositionGap {
        /// The candidate.
        candidate: usize,
        /// The position given.
        position: usize,
        /// The position expected.
        expected: usize,
    },
    /// A row with the wrong number of floats.
    #[error("feature row has {got} floats, the layout has {expected}")]
    WidthMismatch {
        /// Floats per row of the layout.
        expected: usize,
        /// Floats given.
        got: usize,
    },
    /// NaN or infinity in a feature row; the pending problem is rejected.
    #[error(
        "candidate {candidate} row {position} column {column}: non-finite feature value {value}"
    )]
    NonFinite {
        /// The candidate.
        candidate: usize,
        /// The row.
        position: usize,
        /// The column within the row.
        column: usize,
        /// The value.
        value: f32,
    },
    /// The pending problem was rejected by an earlier error and cannot be committed.
    #[error("the pending problem was rejected ({reason}); call `begin` again")]
    Rejected {
        /// The earlier error.
        reason: String,
    },
    /// A commit failed half-way; the writer must be reopened, which recovers the store.
    #[error("an earlier commit failed ({reason}); reopen the store to recover")]
    Poisoned {
        /// The earlier error.
        reason: String,
    },
    /// A labelled candidate has no stored features.
    #[error("problem {problem_index} candidate {candidate} has a label but no stored features")]
    LabelWithoutFeatures {
        /// The problem.
        problem_index: u64,
        /// The candidate.
        candidate: u32,
    },
    /// Stored features of a candidate have no label.
    #[error("problem {problem_index} candidate {candidate} has stored features but no label")]
    FeaturesWithoutLabel {
        /// The problem.
        problem_index: u64,
        /// The candidate.
        candidate: u32,
    },
    /// Two labels for one candidate.
    #[error("problem {problem_index} candidate {candidate} is labelled twice")]
    DuplicateLabel {
        /// The problem.
        problem_index: u64,
        /// The candidate.
        candidate: u32,
    },
    /// A record's `n_covered` disagrees with the stored rows.
    #[error("problem {problem_index} candidate {candidate}: the record says {record} covered tokens but the store has {stored} rows")]
    RowCountMismatch {
        /// The problem.
        problem_index: u64,
        /// The candidate.
        candidate: u32,
        /// `n_covered` of the record.
        record: u64,
        /// Stored rows.
        stored: u64,
    },
    /// An invalid column projection.
    #[error("invalid projection: {reason}")]
    BadProjection {
        /// What is wrong.
        reason: String,
    },
    /// A candidate (entry) number beyond the store's.
    #[error("entry {index} is out of range: the store has {len} entries")]
    EntryOutOfRange {
        /// The entry asked for.
        index: usize,
        /// Entries in the store.
        len: usize,
    },
}

impl StoreError {
    pub(crate) fn io(path: impl Into<PathBuf>) -> impl FnOnce(io::Error) -> StoreError {
        let path = path.into();
        move |source| StoreError::Io { path, source }
    }
}

/// A one-line description of a layout for messages: the source, its states and the width.
pub fn describe_layout(layout: &FeatureLayout) -> String {
    match &layout.source {
        FeatureSource::Hidden { selection, n_embd } => format!(
            "hidden states {} of a {}-layer model x {} (F = {})",
            crate::features::format_state_list(selection.states()),
            selection.n_layer(),
            n_embd,
            layout.width()
        ),
        FeatureSource::Logits { n_vocab } => {
            format!("logits of a {n_vocab}-token vocabulary (F = {n_vocab})")
        }
    }
}
