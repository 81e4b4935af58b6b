//! Labelled candidates on disk: the per-candidate records (`candidates.jsonl`) and the feature
//! store that holds their per-token feature rows.
#![forbid(unsafe_code)]

pub mod record;

pub use record::{CandidateRecord, FinishReason};
