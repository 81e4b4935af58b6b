//! Reading training data: problems and the validation split, projected and normalised rows
//! (streamed from the store, or cached in memory when they fit), standardisation statistics.

use std::collections::BTreeMap;

use crate::features::{CandidateFeatures, FeatureSource};
use crate::head::kernel::rms_normalize_in_place;
use crate::head::{NormStats, Normalization, Projection};
use crate::rng::Rng;

use super::TrainError;

/// One problem: its group id and its candidates' indices in the store, ascending.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Problem {
    pub group: u64,
    pub cands: Vec<usize>,
}

/// Groups candidates by problem, problems ordered by group id.
pub(crate) fn problems(data: &dyn CandidateFeatures) -> Vec<Problem> {
    let mut map: BTreeMap<u64, Vec<usize>> = BTreeMap::new();
    for i in 0..data.n_candidates() {
        map.entry(data.group(i)).or_default().push(i);
    }
    map.into_iter()
        .map(|(group, cands)| Problem { group, cands })
        .collect()
}

/// Seed stream of the validation split.
const SPLIT_STREAM: u64 = 0x0005_9117;

/// Splits problems into (train, validation), both in group order. `round(fraction x n)`
/// problems are held out, at least one and at most n - 1 when the fraction is positive and
/// there are two problems or more.
pub(crate) fn split(
    problems: Vec<Problem>,
    fraction: f64,
    seed: u64,
) -> (Vec<Problem>, Vec<Problem>) {
    let n = problems.len();
    let mut n_val = (fraction * n as f64).round() as usize;
    if fraction > 0.0 && n >= 2 {
        n_val = n_val.clamp(1, n - 1);
    } else {
        n_val = n_val.min(n.saturating_sub(1));
    }
    let mut order: Vec<usize> = (0..n).collect();
    Rng::derive(seed, SPLIT_STREAM).shuffle(&mut order);
    let mut is_val = vec![false; n];
    for &k in &order[..n_val] {
        is_val[k] = true;
    }
    let (mut train, mut val) = (Vec::new(), Vec::new());
    for (k, p) in problems.into_iter().enumerate() {
        if is_val[k] {
            val.push(p);
        } else {
            train.push(p);
        }
    }
    (train, val)
}

/// Turns stored rows into the head's normalised feature rows.
#[derive(Debug, Clone)]
pub(crate) struct Prep {
    proj: Projection,
    norm: Normalization,
    mean: Vec<f32>,
    inv_std: Vec<f32>,
}

impl Prep {
    pub fn new(proj: Projection, norm: Normalization, stats: Option<&NormStats>) -> Self {
        let (mean, inv_std) = match stats {
            Some(s) => (s.mean.clone(), s.std.iter().map(|&v| 1.0 / v).collect()),
            None => (Vec::new(), Vec::new()),
        };
        Self {
            proj,
            norm,
            mean,
            inv_std,
        }
    }

    /// Head feature width F.
    pub fn width(&self) -> usize {
        self.proj.out_width()
    }

    /// True when stored rows are used as they are.
    fn passthrough(&self) -> bool {
        self.proj.is_identity() && self.norm == Normalization::None
    }

    /// Appends the prepared rows of `raw` (whole stored rows) to `out`.
    fn extend(&self, raw: &[f32], out: &mut Vec<f32>) {
        let f = self.width();
        let start = out.len();
        let n = raw.len() / self.proj.in_width();
        out.resize(start + n * f, 0.0);
        let dst = &mut out[start..];
        for (row, d) in raw
            .chunks_exact(self.proj.in_width())
            .zip(dst.chunks_exact_mut(f))
        {
            self.proj.project_into(row, d);
        }
        match self.norm {
            Normalization::None => {}
            // Rows are whole multiples of the segment width, so segments line up.
            Normalization::Rms => rms_normalize_in_place(dst, self.proj.segment_width()),
            Normalization::Standardize => {
                for d in dst.chunks_exact_mut(f) {
                    for ((v, &m), &s) in d.iter_mut().zip(&self.mean).zip(&self.inv_std) {
                        *v = (*v - m) * s;
                    }
                }
            }
        }
    }
}

/// Reads candidates' stored rows, checking their length.
pub(crate) fn read_raw(
    data: &dyn CandidateFeatures,
    i: usize,
    buf: &mut Vec<f32>,
) -> Result<(), TrainError> {
    data.read_rows(i, buf).map_err(|source| TrainError::Read {
        candidate: i,
        source,
    })?;
    let want = data.n_tokens(i) * data.layout().width();
    if buf.len() != want {
        return Err(TrainError::Data {
            reason: format!(
                "candidate {i}: the store returned {} floats, expected {} ({} rows of width {})",
                buf.len(),
                want,
                data.n_tokens(i),
                data.layout().width()
            ),
        });
    }
    Ok(())
}

/// Prepared rows of each candidate, from memory or from the store.
pub(crate) struct RowReader<'a> {
    data: &'a dyn CandidateFeatures,
    prep: Prep,
    raw: Vec<f32>,
    out: Vec<f32>,
    cache: Option<Cache>,
}

/// All prepared rows, and each cached candidate's range in them.
struct Cache {
    buf: Vec<f32>,
    ranges: Vec<Option<(usize, usize)>>,
}

impl<'a> RowReader<'a> {
    pub fn streaming(data: &'a dyn CandidateFeatures, prep: Prep) -> Self {
        Self {
            data,
            prep,
            raw: Vec::new(),
            out: Vec::new(),
            cache: None,
        }
    }

    /// Reads and prepares the rows of `cands` into memory (`total_floats` of them).
    pub fn cached(
        data: &'a dyn CandidateFeatures,
        prep: Prep,
        cands: &[usize],
        total_floats: usize,
    ) -> Result<Self, TrainError> {
        let mut buf = Vec::new();
        buf.try_reserve_exact(total_floats)
            .map_err(|e| TrainError::Data {
                reason: format!("cannot allocate the {total_floats}-float feature cache: {e}"),
            })?;
        let mut ranges = vec![None; data.n_candidates()];
        let mut raw = Vec::new();
        for &i in cands {
            read_raw(data, i, &mut raw)?;
            let start = buf.len();
            prep.extend(&raw, &mut buf);
            ranges[i] = Some((start, buf.len()));
        }
        Ok(Self {
            data,
            prep,
            raw: Vec::new(),
            out: Vec::new(),
            cache: Some(Cache { buf, ranges }),
        })
    }

    pub fn is_cached(&self) -> bool {
        self.cache.is_some()
    }

    /// Prepared rows of candidate `i` (`n_tokens(i) x F`).
    pub fn rows(&mut self, i: usize) -> Result<&[f32], TrainError> {
        if let Some(c) = &self.cache {
            if let Some((s, e)) = c.ranges[i] {
                return Ok(&c.buf[s..e]);
            }
        }
        read_raw(self.data, i, &mut self.raw)?;
        if self.prep.passthrough() {
            return Ok(&self.raw);
        }
        self.out.clear();
        self.prep.extend(&self.raw, &mut self.out);
        Ok(&self.out)
    }
}

/// Relative floor of standard deviations: `std >= STD_FLOOR_REL x median(std)` (and at least
/// [`STD_FLOOR_ABS`]), so that a dimension nearly constant on the training set cannot blow up
/// at inference.
pub const STD_FLOOR_REL: f64 = 1e-3;
/// Absolute floor of standard deviations.
pub const STD_FLOOR_ABS: f64 = 1e-6;

/// Per-dimension mean and standard deviation of the head's features (the states of `source`,
/// read from `data`) over the rows of `candidates`, in one streaming pass. Sums are f64 and
/// shifted by the first row, which keeps `E[x²] - E[x]²` accurate when means are large.
/// Standard deviations are floored (see [`STD_FLOOR_REL`]).
pub fn standardization_stats(
    data: &dyn CandidateFeatures,
    source: &FeatureSource,
    candidates: &[usize],
) -> Result<NormStats, TrainError> {
    let proj = Projection::new(source, data.layout())?;
    let f = proj.out_width();
    let mut shift: Option<Vec<f64>> = None;
    let mut s1 = vec![0.0f64; f];
    let mut s2 = vec![0.0f64; f];
    let mut n = 0u64;
    let mut raw = Vec::new();
    let mut row = vec![0.0f32; f];
    for &i in candidates {
        read_raw(data, i, &mut raw)?;
        for stored in raw.chunks_exact(proj.in_width()) {
            proj.project_into(stored, &mut row);
            let k = shift.get_or_insert_with(|| row.iter().map(|&v| f64::from(v)).collect());
            for (((a, b), &x), &c) in s1.iter_mut().zip(s2.iter_mut()).zip(&row).zip(k.iter()) {
                let d = f64::from(x) - c;
                *a += d;
                *b += d * d;
            }
            n += 1;
        }
    }
    let Some(k) = shift else {
        return Err(TrainError::Data {
            reason: "no feature rows to estimate standardisation statistics from".to_string(),
        });
    };
    let nf = n as f64;
    let mut mean = Vec::with_capacity(f);
    let mut std: Vec<f64> = Vec::with_capacity(f);
    for i in 0..f {
        let m = s1[i] / nf;
        mean.push((k[i] + m) as f32);
        std.push((s2[i] / nf - m * m).max(0.0).sqrt());
    }
    let mut sorted = std.clone();
    sorted.sort_by(f64::total_cmp);
    let median = sorted[sorted.len() / 2];
    let floor = (median * STD_FLOOR_REL).max(STD_FLOOR_ABS);
    let std = std.into_iter().map(|s| s.max(floor) as f32).collect();
    Ok(NormStats { mean, std })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn probs(n: u64) -> Vec<Problem> {
        (0..n)
            .map(|g| Problem {
                group: g,
                cands: vec![g as usize],
            })
            .collect()
    }

    #[test]
    fn split_is_by_problem_seeded_and_sized() {
        let (t, v) = split(probs(10), 0.2, 42);
        assert_eq!((t.len(), v.len()), (8, 2));
        let (t2, v2) = split(probs(10), 0.2, 42);
        assert_eq!((&t, &v), (&t2, &v2));
        let (_, v3) = split(probs(10), 0.2, 43);
        assert_ne!(v, v3);
        assert!(t.windows(2).all(|w| w[0].group < w[1].group));
        let (t, v) = split(probs(3), 0.01, 1);
        assert_eq!((t.len(), v.len()), (2, 1));
        let (t, v) = split(probs(3), 0.0, 1);
        assert_eq!((t.len(), v.len()), (3, 0));
        let (t, v) = split(probs(1), 0.5, 1);
        assert_eq!((t.len(), v.len()), (1, 0));
    }
}
