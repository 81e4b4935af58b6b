//! Labelled candidates and their feature rows as training and evaluation read them: the
//! [`CandidateFeatures`] trait, an in-memory set, and views that combine several sets or pick
//! some candidates of one.

use super::{FeatureLayout, SinkError};

/// Read access to stored, labelled candidates and their feature rows, for training and
/// evaluation without loading everything into memory. Implemented by the feature store.
pub trait CandidateFeatures {
    /// Layout of the stored rows (may hold more states than a head uses).
    fn layout(&self) -> &FeatureLayout;
    /// Number of candidates.
    fn n_candidates(&self) -> usize;
    /// Problem (group) index of candidate `i`; candidates of one problem share it.
    fn group(&self, i: usize) -> u64;
    /// Correctness label of candidate `i`.
    fn label(&self, i: usize) -> bool;
    /// Stored rows of candidate `i`.
    fn n_tokens(&self, i: usize) -> usize;
    /// Reads the rows of candidate `i` as f32 into `out` (cleared first), row-major
    /// `n_tokens(i) x layout().width()`.
    fn read_rows(&self, i: usize, out: &mut Vec<f32>) -> Result<(), SinkError>;
}

/// Labelled candidates held in memory: for tests, benchmarks, and training a head from rows a
/// [`super::MemorySink`] collected.
#[derive(Debug, Clone)]
pub struct InMemoryCandidates {
    layout: FeatureLayout,
    groups: Vec<u64>,
    labels: Vec<bool>,
    rows: Vec<Vec<f32>>,
}

impl InMemoryCandidates {
    /// No candidates yet, rows of `layout`.
    pub fn new(layout: FeatureLayout) -> Self {
        Self {
            layout,
            groups: Vec::new(),
            labels: Vec::new(),
            rows: Vec::new(),
        }
    }

    /// Adds a candidate of problem `group`; `rows` is row-major, a multiple of the width long.
    pub fn push(&mut self, group: u64, label: bool, rows: Vec<f32>) -> Result<(), SinkError> {
        if rows.len() % self.layout.width() != 0 {
            return Err(format!(
                "{} floats are not a whole number of rows of width {}",
                rows.len(),
                self.layout.width()
            )
            .into());
        }
        self.groups.push(group);
        self.labels.push(label);
        self.rows.push(rows);
        Ok(())
    }
}

impl CandidateFeatures for InMemoryCandidates {
    fn layout(&self) -> &FeatureLayout {
        &self.layout
    }
    fn n_candidates(&self) -> usize {
        self.labels.len()
    }
    fn group(&self, i: usize) -> u64 {
        self.groups[i]
    }
    fn label(&self, i: usize) -> bool {
        self.labels[i]
    }
    fn n_tokens(&self, i: usize) -> usize {
        self.rows[i].len() / self.layout.width()
    }
    fn read_rows(&self, i: usize, out: &mut Vec<f32>) -> Result<(), SinkError> {
        out.clear();
        out.extend_from_slice(&self.rows[i]);
        Ok(())
    }
}

/// Several sets of labelled candidates read as one (training one head on several collections).
/// Candidate indices run through the parts in order; a candidate's group is its part's group
/// with the part number in the top 16 bits, so problems of different parts never merge.
pub struct ConcatFeatures<'a> {
    parts: Vec<&'a dyn CandidateFeatures>,
    /// First candidate index of each part, then the total.
    starts: Vec<usize>,
}

impl<'a> ConcatFeatures<'a> {
    /// Bits of a group id left for a part's own group.
    const GROUP_BITS: u32 = 48;

    /// The parts as one set. They must have the same layout and at most 2^16 parts, each with
    /// group ids below 2^48; the error names the first part that does not fit.
    pub fn new(parts: Vec<&'a dyn CandidateFeatures>) -> Result<Self, String> {
        let Some(first) = parts.first() else {
            return Err("no collection to read".into());
        };
        if parts.len() > 1 << (64 - Self::GROUP_BITS) {
            return Err(format!("{} collections (at most 65536)", parts.len()));
        }
        let mut starts = vec![0];
        for (k, p) in parts.iter().enumerate() {
            if p.layout() != first.layout() {
                return Err(format!(
                    "collection {} stores {:?}, collection 1 stores {:?}: a head reads one feature layout",
                    k + 1,
                    p.layout().source,
                    first.layout().source
                ));
            }
            if let Some(i) = (0..p.n_candidates()).find(|&i| p.group(i) >> Self::GROUP_BITS != 0) {
                return Err(format!(
                    "collection {}: problem {} is too large an index to combine",
                    k + 1,
                    p.group(i)
                ));
            }
            starts.push(starts[k] + p.n_candidates());
        }
        Ok(Self { parts, starts })
    }

    /// The group id that problem `group` of part `part` has in the combined set.
    pub fn combined_group(part: usize, group: u64) -> u64 {
        ((part as u64) << Self::GROUP_BITS) | group
    }

    /// The part a combined group id belongs to (the inverse of [`Self::combined_group`]).
    pub fn part_of(group: u64) -> usize {
        (group >> Self::GROUP_BITS) as usize
    }

    /// (part, index within the part) of candidate `i`.
    fn locate(&self, i: usize) -> (usize, usize) {
        let part = self.starts.partition_point(|&s| s <= i) - 1;
        (part, i - self.starts[part])
    }
}

impl CandidateFeatures for ConcatFeatures<'_> {
    fn layout(&self) -> &FeatureLayout {
        self.parts[0].layout()
    }
    fn n_candidates(&self) -> usize {
        self.starts[self.parts.len()]
    }
    fn group(&self, i: usize) -> u64 {
        let (p, j) = self.locate(i);
        Self::combined_group(p, self.parts[p].group(j))
    }
    fn label(&self, i: usize) -> bool {
        let (p, j) = self.locate(i);
        self.parts[p].label(j)
    }
    fn n_tokens(&self, i: usize) -> usize {
        let (p, j) = self.locate(i);
        self.parts[p].n_tokens(j)
    }
    fn read_rows(&self, i: usize, out: &mut Vec<f32>) -> Result<(), SinkError> {
        let (p, j) = self.locate(i);
        self.parts[p].read_rows(j, out)
    }
}

/// Some of another set's candidates, by index (e.g. the validation problems only).
pub struct SubsetFeatures<'a> {
    inner: &'a dyn CandidateFeatures,
    indices: Vec<usize>,
}

impl<'a> SubsetFeatures<'a> {
    /// Candidates `indices` of `inner`, in that order. Panics if an index is out of range.
    pub fn new(inner: &'a dyn CandidateFeatures, indices: Vec<usize>) -> Self {
        assert!(indices.iter().all(|&i| i < inner.n_candidates()));
        Self { inner, indices }
    }
}

impl CandidateFeatures for SubsetFeatures<'_> {
    fn layout(&self) -> &FeatureLayout {
        self.inner.layout()
    }
    fn n_candidates(&self) -> usize {
        self.indices.len()
    }
    fn group(&self, i: usize) -> u64 {
        self.inner.group(self.indices[i])
    }
    fn label(&self, i: usize) -> bool {
        self.inner.label(self.indices[i])
    }
    fn n_tokens(&self, i: usize) -> usize {
        self.inner.n_tokens(self.indices[i])
    }
    fn read_rows(&self, i: usize, out: &mut Vec<f32>) -> Result<(), SinkError> {
        self.inner.read_rows(self.indices[i], out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn part(n_embd: u32, groups: &[u64]) -> InMemoryCandidates {
        let mut m = InMemoryCandidates::new(FeatureLayout::logits(n_embd));
        for (k, &g) in groups.iter().enumerate() {
            let rows = vec![k as f32; n_embd as usize * (k + 1)];
            m.push(g, k % 2 == 0, rows).unwrap();
        }
        m
    }

    #[test]
    fn parts_read_as_one_and_their_problems_stay_apart() {
        let (a, b) = (part(2, &[0, 0, 1]), part(2, &[0, 5]));
        let c = ConcatFeatures::new(vec![&a, &b]).unwrap();
        assert_eq!(c.n_candidates(), 5);
        let groups: Vec<u64> = (0..5).map(|i| c.group(i)).collect();
        assert_eq!(groups[..3], [0, 0, 1]);
        assert_ne!(
            groups[3], groups[0],
            "problem 0 of part 2 is not problem 0 of part 1"
        );
        assert_eq!(groups[4] & 0xffff_ffff_ffff, 5);
        assert_eq!(ConcatFeatures::part_of(groups[4]), 1);
        assert_eq!(ConcatFeatures::part_of(groups[0]), 0);
        let labels: Vec<bool> = (0..5).map(|i| c.label(i)).collect();
        assert_eq!(labels, [true, false, true, true, false]);
        let mut buf = Vec::new();
        c.read_rows(4, &mut buf).unwrap();
        assert_eq!((c.n_tokens(4), buf), (2, vec![1.0; 4]));
        let other = part(3, &[0]);
        let err = ConcatFeatures::new(vec![&a, &other]).err().unwrap();
        assert!(err.contains("collection 2"), "{err}");
        assert!(ConcatFeatures::new(vec![]).is_err());
    }
}
