//! Labels attached to stored features: the [`CandidateFeatures`] view used by training and
//! evaluation.

use super::error::StoreError;
use super::reader::{FeatureStore, Projection};
use crate::dataset::record::CandidateRecord;
use crate::features::{CandidateFeatures, FeatureLayout, SinkError};

/// A feature store with a correctness label for every stored candidate, optionally projected
/// onto some of its states. Candidate `i` is the store's entry `i` (ordered by problem, then
/// candidate); its group is its problem index.
#[derive(Debug)]
pub struct LabelledStore<'a> {
    store: &'a FeatureStore,
    labels: Vec<bool>,
    projection: Option<Projection>,
}

impl<'a> LabelledStore<'a> {
    /// Labels from the candidate records (`correct`), matched by (problem_index, candidate).
    /// Every record must have stored features with exactly `n_covered` rows, and every stored
    /// candidate must have a record.
    pub fn from_records(
        store: &'a FeatureStore,
        records: &[CandidateRecord],
    ) -> Result<Self, StoreError> {
        let mut labels = vec![None; store.len()];
        for r in records {
            let i = place(store, &mut labels, r.problem_index, r.candidate, r.correct)?;
            let stored = store.entries()[i].n_rows;
            if stored != u64::from(r.n_covered) {
                return Err(StoreError::RowCountMismatch {
                    problem_index: r.problem_index,
                    candidate: r.candidate,
                    record: u64::from(r.n_covered),
                    stored,
                });
            }
        }
        Self::finish(store, labels)
    }

    /// Labels given as (problem_index, candidate, correct), matched like
    /// [`from_records`](Self::from_records) but without a row count to compare.
    pub fn from_labels(
        store: &'a FeatureStore,
        labels: &[(u64, u32, bool)],
    ) -> Result<Self, StoreError> {
        let mut slots = vec![None; store.len()];
        for &(problem_index, candidate, correct) in labels {
            place(store, &mut slots, problem_index, candidate, correct)?;
        }
        Self::finish(store, slots)
    }

    fn finish(store: &'a FeatureStore, labels: Vec<Option<bool>>) -> Result<Self, StoreError> {
        if let Some(i) = labels.iter().position(Option::is_none) {
            let e = store.entries()[i];
            return Err(StoreError::FeaturesWithoutLabel {
                problem_index: e.problem_index,
                candidate: e.candidate,
            });
        }
        Ok(Self {
            store,
            labels: labels.into_iter().map(|l| l.unwrap_or(false)).collect(),
            projection: None,
        })
    }

    /// Reads only the states of `projection`: `layout()` and `read_rows` then describe the
    /// projected rows.
    pub fn with_projection(mut self, projection: Projection) -> Result<Self, StoreError> {
        projection.check_source(self.store.layout())?;
        self.projection = Some(projection);
        Ok(self)
    }

    /// The underlying store.
    pub fn store(&self) -> &'a FeatureStore {
        self.store
    }

    /// The projection, if any.
    pub fn projection(&self) -> Option<&Projection> {
        self.projection.as_ref()
    }

    /// All labels, by candidate.
    pub fn labels(&self) -> &[bool] {
        &self.labels
    }
}

fn place(
    store: &FeatureStore,
    slots: &mut [Option<bool>],
    problem_index: u64,
    candidate: u32,
    correct: bool,
) -> Result<usize, StoreError> {
    let i = store
        .find(problem_index, candidate)
        .ok_or(StoreError::LabelWithoutFeatures {
            problem_index,
            candidate,
        })?;
    if slots[i].replace(correct).is_some() {
        return Err(StoreError::DuplicateLabel {
            problem_index,
            candidate,
        });
    }
    Ok(i)
}

impl CandidateFeatures for LabelledStore<'_> {
    fn layout(&self) -> &FeatureLayout {
        match &self.projection {
            Some(p) => p.layout(),
            None => self.store.layout(),
        }
    }

    fn n_candidates(&self) -> usize {
        self.labels.len()
    }

    fn group(&self, i: usize) -> u64 {
        self.store.entries()[i].problem_index
    }

    fn label(&self, i: usize) -> bool {
        self.labels[i]
    }

    fn n_tokens(&self, i: usize) -> usize {
        self.store.entries()[i].n_rows as usize
    }

    fn read_rows(&self, i: usize, out: &mut Vec<f32>) -> Result<(), SinkError> {
        match &self.projection {
            Some(p) => self.store.read_projected(i, p, out)?,
            None => self.store.read_rows(i, out)?,
        }
        Ok(())
    }
}
