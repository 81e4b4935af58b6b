//! Labelled candidates on disk: the per-candidate records (`candidates.jsonl`) and the feature
//! store that holds their per-token feature rows.

pub mod record;
pub mod store;

pub use record::{CandidateRecord, FinishReason};
pub use store::{FeatureStore, FeatureWriter, LabelledStore, Projection, StoreError, StoreOptions};
