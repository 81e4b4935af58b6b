//! Labelled candidates on disk: the per-candidate records (`candidates.jsonl`) and the feature
//! store that holds their per-token feature rows.
// `deny`, not `forbid`: the feature store memory-maps its chunk files in one audited function
// (`store/chunkio.rs`); everything else forbids `unsafe`.
#![deny(unsafe_code)]

pub mod record;
pub mod store;

pub use record::{CandidateRecord, FinishReason};
pub use store::{FeatureStore, FeatureWriter, LabelledStore, Projection, StoreError, StoreOptions};
