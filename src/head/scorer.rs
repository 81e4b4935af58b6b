//! Inline scoring: a [`FeatureSink`] that keeps three numbers per candidate.

use crate::features::{FeatureLayout, FeatureSink, SinkError};

use super::kernel::{Kernel, Projection, SCORE_DENOM_FLOOR};
use super::{Head, HeadError};

/// Final (or running) score of one candidate.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct CandidateScore {
    /// `Σ g·r / max(Σ g, 1e-8)`; `f64::NEG_INFINITY` when no token was covered.
    pub score: f64,
    /// Covered tokens scored.
    pub tokens: u64,
    /// `Σ g` (the token count without a gate).
    pub gate_sum: f64,
    /// True when no token was covered: the score is the lowest possible and the candidate
    /// should be reported.
    pub empty: bool,
}

/// Running sums of one candidate.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Accumulator {
    sum_g: f64,
    sum_gr: f64,
    tokens: u64,
}

impl Accumulator {
    #[inline]
    pub(crate) fn add(&mut self, g: f64, r: f64) {
        self.sum_g += g;
        self.sum_gr += g * r;
        self.tokens += 1;
    }

    #[inline]
    pub(crate) fn score(&self) -> f64 {
        if self.tokens == 0 {
            f64::NEG_INFINITY
        } else {
            self.sum_gr / self.sum_g.max(SCORE_DENOM_FLOOR)
        }
    }

    pub(crate) fn result(&self) -> CandidateScore {
        CandidateScore {
            score: self.score(),
            tokens: self.tokens,
            gate_sum: self.sum_g,
            empty: self.tokens == 0,
        }
    }
}

/// Scores candidates while they are generated.
///
/// Per covered token it computes the two dot products over the head's segments of the incoming
/// row (the engine's layout may hold more states than the head uses) and updates the candidate's
/// `Σ g`, `Σ g·r` and token count; nothing else is stored. Running scores are available at any
/// time through [`score`](Self::score), for example for early pruning.
#[derive(Debug, Clone)]
pub struct StreamingScorer {
    kernel: Kernel,
    head_source: crate::features::FeatureSource,
    proj: Option<Projection>,
    cands: Vec<Accumulator>,
}

impl StreamingScorer {
    /// A scorer for `head`. It learns the incoming layout at [`FeatureSink::begin`].
    pub fn new(head: &Head) -> Self {
        Self {
            kernel: Kernel::new(head),
            head_source: head.spec().features.clone(),
            proj: None,
            cands: Vec::new(),
        }
    }

    /// Prepares for `n_candidates` candidates with rows of `layout`, forgetting earlier sums.
    /// Fails (naming the missing states) when `layout` cannot feed the head. Calling this before
    /// generation validates the layout early; `begin` does the same.
    pub fn reset(&mut self, layout: &FeatureLayout, n_candidates: usize) -> Result<(), HeadError> {
        self.proj = Some(Projection::new(&self.head_source, layout)?);
        self.cands = vec![Accumulator::default(); n_candidates];
        Ok(())
    }

    /// Number of candidates.
    pub fn n_candidates(&self) -> usize {
        self.cands.len()
    }

    /// Running score of `candidate` (`NEG_INFINITY` before its first covered token).
    pub fn score(&self, candidate: usize) -> f64 {
        self.cands[candidate].score()
    }

    /// Covered tokens of `candidate` scored so far.
    pub fn tokens(&self, candidate: usize) -> u64 {
        self.cands[candidate].tokens
    }

    /// Running scores of all candidates.
    pub fn scores(&self) -> Vec<f64> {
        self.cands.iter().map(Accumulator::score).collect()
    }

    /// Scores, token counts and empty flags of all candidates.
    pub fn results(&self) -> Vec<CandidateScore> {
        self.cands.iter().map(Accumulator::result).collect()
    }

    /// Adds one covered token of `candidate`, given as a row of the layout passed to
    /// [`reset`](Self::reset) / `begin`.
    #[inline]
    pub fn add_token(&mut self, candidate: usize, features: &[f32]) -> Result<(), HeadError> {
        let proj = self.projection()?;
        if features.len() != proj.in_width() {
            return Err(HeadError::LayoutMismatch {
                reason: format!(
                    "a feature row has {} floats, the layout says {}",
                    features.len(),
                    proj.in_width()
                ),
            });
        }
        self.check_candidate(candidate)?;
        let (g, r) = self.kernel.token(proj, features);
        self.cands[candidate].add(g, r);
        Ok(())
    }

    /// [`add_token`](Self::add_token) with the row given as one slice per state of the layout
    /// (read in place from the engine's buffers): the same arithmetic, segment by segment, so
    /// the result is bit-identical to scoring the concatenated row.
    #[inline]
    pub fn add_token_segments(
        &mut self,
        candidate: usize,
        segments: &[&[f32]],
    ) -> Result<(), HeadError> {
        let proj = self.projection()?;
        let seg = proj.segment_width();
        if segments.len() * seg != proj.in_width() || segments.iter().any(|s| s.len() != seg) {
            return Err(HeadError::LayoutMismatch {
                reason: format!(
                    "a feature row has {} segments of {:?} floats, the layout says {} floats",
                    segments.len(),
                    segments.first().map(|s| s.len()),
                    proj.in_width()
                ),
            });
        }
        self.check_candidate(candidate)?;
        let (g, r) = self.kernel.token_segments(proj, segments);
        self.cands[candidate].add(g, r);
        Ok(())
    }

    /// The layout's projection (set by begin/reset).
    fn projection(&self) -> Result<&Projection, HeadError> {
        self.proj.as_ref().ok_or_else(|| HeadError::LayoutMismatch {
            reason: "the scorer received a token before begin/reset".to_string(),
        })
    }

    fn check_candidate(&self, candidate: usize) -> Result<(), HeadError> {
        let n = self.cands.len();
        if candidate < n {
            Ok(())
        } else {
            Err(HeadError::LayoutMismatch {
                reason: format!("candidate {candidate} is out of range ({n} candidates)"),
            })
        }
    }

    fn check_position(&self, candidate: usize, position: usize) -> Result<(), SinkError> {
        if let Some(acc) = self.cands.get(candidate) {
            if acc.tokens != position as u64 {
                return Err(format!(
                    "scorer: candidate {candidate} got token position {position} after {} tokens",
                    acc.tokens
                )
                .into());
            }
        }
        Ok(())
    }
}

impl FeatureSink for StreamingScorer {
    fn begin(&mut self, layout: &FeatureLayout, n_candidates: usize) -> Result<(), SinkError> {
        Ok(self.reset(layout, n_candidates)?)
    }

    fn token(
        &mut self,
        candidate: usize,
        position: usize,
        features: &[f32],
    ) -> Result<(), SinkError> {
        self.check_position(candidate, position)?;
        Ok(self.add_token(candidate, features)?)
    }

    fn token_segments(
        &mut self,
        candidate: usize,
        position: usize,
        segments: &[&[f32]],
    ) -> Result<(), SinkError> {
        self.check_position(candidate, position)?;
        Ok(self.add_token_segments(candidate, segments)?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::features::{MemorySink, StateSpec, TeeSink};
    use crate::head::test_util::random_head;
    use crate::head::Normalization;

    #[test]
    fn streaming_equals_batch_scores_on_stored_rows() {
        for norm in [
            Normalization::None,
            Normalization::Rms,
            Normalization::Standardize,
        ] {
            for gate in [true, false] {
                let head = random_head("last:2", gate, norm, 21);
                // The engine collects all 5 states; the head uses states 2 and 3.
                let layout = FeatureLayout::hidden(StateSpec::All.resolve(4).unwrap(), 4);
                let mut scorer = StreamingScorer::new(&head);
                let mut store = MemorySink::new();
                let n = 4;
                let mut rng = crate::rng::Rng::new(99);
                {
                    let mut tee = TeeSink(&mut scorer, &mut store);
                    tee.begin(&layout, n).unwrap();
                    // Interleaved candidates of different lengths; candidate 3 covers nothing.
                    let lens = [5usize, 1, 12, 0];
                    for step in 0..12 {
                        for (c, &len) in lens.iter().enumerate() {
                            if step < len {
                                let row: Vec<f32> = (0..layout.width())
                                    .map(|_| (rng.next_f32() - 0.4) * 30.0)
                                    .collect();
                                tee.token(c, step, &row).unwrap();
                            }
                        }
                    }
                    tee.end().unwrap();
                }
                let streamed = scorer.results();
                assert_eq!(streamed.len(), n);
                for (c, s) in streamed.iter().enumerate() {
                    let batch = head.score_rows(store.rows(c), &layout).unwrap();
                    assert_eq!(s.tokens, batch.tokens);
                    assert_eq!(s.empty, batch.empty);
                    if batch.empty {
                        assert_eq!(s.score, f64::NEG_INFINITY);
                        continue;
                    }
                    let rel = (s.score - batch.score).abs() / batch.score.abs().max(1e-300);
                    assert!(rel <= 1e-9, "{norm} gate={gate} c={c}: {rel}");
                }
                assert!(streamed[3].empty);
                assert_eq!(scorer.scores()[3], f64::NEG_INFINITY);
            }
        }
    }

    #[test]
    fn running_score_is_available_after_each_token() {
        let head = random_head("1", false, Normalization::None, 2);
        let layout = head.layout();
        let mut scorer = StreamingScorer::new(&head);
        scorer.begin(&layout, 1).unwrap();
        assert_eq!(scorer.score(0), f64::NEG_INFINITY);
        let rows = [[1.0f32, 2.0, 3.0, 4.0], [-1.0, 0.5, 0.0, 2.0]];
        let mut seen = Vec::new();
        for (p, row) in rows.iter().enumerate() {
            scorer.token(0, p, row).unwrap();
            seen.push(scorer.score(0));
        }
        let r = |row: &[f32]| head.score_rows(row, &layout).unwrap().score;
        assert!((seen[0] - r(&rows[0])).abs() < 1e-12);
        assert!((seen[1] - (r(&rows[0]) + r(&rows[1])) / 2.0).abs() < 1e-9);
        assert_eq!(scorer.tokens(0), 2);
    }

    #[test]
    fn scorer_rejects_layouts_and_rows_that_do_not_fit() {
        let head = random_head("2-3", true, Normalization::None, 2);
        let mut scorer = StreamingScorer::new(&head);
        let small = FeatureLayout::hidden(StateSpec::List(vec![3]).resolve(4).unwrap(), 4);
        let err = scorer.begin(&small, 2).unwrap_err().to_string();
        assert!(err.contains("missing: 2"), "{err}");
        assert!(scorer.token(0, 0, &[0.0; 4]).is_err());
        scorer.begin(&head.layout(), 2).unwrap();
        assert!(scorer.token(0, 0, &[0.0; 7]).is_err());
        assert!(scorer.token(5, 0, &[0.0; 8]).is_err());
        assert!(
            scorer.token(0, 1, &[0.0; 8]).is_err(),
            "positions must not skip"
        );
        scorer.token(0, 0, &[0.0; 8]).unwrap();
    }
}
