//! The per-token arithmetic of a SWIFT head: dot products written to auto-vectorise, the stable
//! sigmoid, normalisation helpers, and the mapping of a head's states onto the segments of a
//! (possibly larger) incoming feature layout.
//!
//! Dot products accumulate in f32 across [`LANES`] independent lanes (so the compiler can keep
//! them in SIMD registers without reassociating a serial sum), one segment and one sum at a
//! time; the per-segment results are then added in f64. Computing segment by segment makes a token's
//! score independent of where its segments sit in memory: scoring stored rows of the head's own
//! layout and scoring rows of a larger layout give bit-identical results.

use crate::features::{FeatureLayout, FeatureSource};

use super::{Head, HeadError, Normalization};

/// Number of independent f32 accumulators in the dot-product loops.
pub(crate) const LANES: usize = 32;

/// Epsilon added to the mean square in `rms` normalisation.
pub const RMS_EPS: f64 = 1e-6;

/// Floor of the gate sum in the score's denominator: `R = Σ g·r / max(Σ g, SCORE_DENOM_FLOOR)`.
pub const SCORE_DENOM_FLOOR: f64 = 1e-8;

type F4 = [f32; 4];

#[inline(always)]
fn load4(s: &[f32]) -> F4 {
    [s[0], s[1], s[2], s[3]]
}

#[inline(always)]
fn fma4(acc: F4, a: F4, b: F4) -> F4 {
    [
        acc[0] + a[0] * b[0],
        acc[1] + a[1] * b[1],
        acc[2] + a[2] * b[2],
        acc[3] + a[3] * b[3],
    ]
}

#[inline(always)]
fn sub4(a: F4, b: F4) -> F4 {
    [a[0] - b[0], a[1] - b[1], a[2] - b[2], a[3] - b[3]]
}

/// `Σ w·(x - m)` when `CENTER`, else `Σ w·x`: one pass, [`LANES`] accumulators in groups of 4.
///
/// One sum per pass on purpose: loops that update several sums from shared operands were
/// vectorised badly (LLVM's SLP vectoriser packed the two weight rows together around a
/// broadcast of x, with spills), while this shape compiles to plain packed multiply-adds. Eight
/// independent 4-wide chains hide the latency of the additions (three times faster than four
/// chains on the development machine); a segment of x stays in L1 between passes.
#[inline]
fn dot<const CENTER: bool>(w: &[f32], x: &[f32], m: &[f32]) -> f32 {
    let n = x.len();
    assert!(w.len() == n && m.len() == n, "dot product length mismatch");
    let mut acc = [[0f32; 4]; LANES / 4];
    for ((xc, wc), mc) in x
        .chunks_exact(LANES)
        .zip(w.chunks_exact(LANES))
        .zip(m.chunks_exact(LANES))
    {
        for (k, a) in acc.iter_mut().enumerate() {
            let o = 4 * k;
            let xk = load4(&xc[o..o + 4]);
            let v = if CENTER {
                sub4(xk, load4(&mc[o..o + 4]))
            } else {
                xk
            };
            *a = fma4(*a, load4(&wc[o..o + 4]), v);
        }
    }
    let tail = n - n % LANES;
    for i in tail..n {
        let v = if CENTER { x[i] - m[i] } else { x[i] };
        let j = i - tail;
        acc[j / 4][j % 4] += w[i] * v;
    }
    let mut s = [0f32; 4];
    for (j, v) in s.iter_mut().enumerate() {
        *v = ((acc[0][j] + acc[1][j]) + (acc[2][j] + acc[3][j]))
            + ((acc[4][j] + acc[5][j]) + (acc[6][j] + acc[7][j]));
    }
    (s[0] + s[1]) + (s[2] + s[3])
}

/// Up to three sums over one segment: `Σ w0·v` (when `GATE`), `Σ w1·v`, `Σ x²` (when `SQ`),
/// with `v = x - m` when `CENTER` and `v = x` otherwise. Callers pass `w1` for `w0` when
/// `!GATE` and `x` for `m` when `!CENTER`. All slices have the length of `x`.
#[inline]
pub(crate) fn dots<const GATE: bool, const SQ: bool, const CENTER: bool>(
    w0: &[f32],
    w1: &[f32],
    m: &[f32],
    x: &[f32],
) -> [f32; 3] {
    let d0 = if GATE { dot::<CENTER>(w0, x, m) } else { 0.0 };
    let d1 = dot::<CENTER>(w1, x, m);
    let ss = if SQ { dot::<false>(x, x, x) } else { 0.0 };
    [d0, d1, ss]
}

/// `Σ x²` over a slice, lane-accumulated in f32.
#[inline]
pub(crate) fn sum_sq(x: &[f32]) -> f32 {
    dots::<false, true, false>(x, x, x, x)[2]
}

/// `g0 += c0·x` (when `GATE`) and `g1 += c1·x`: the backward pass of one token.
#[inline]
pub(crate) fn axpy2<const GATE: bool>(g0: &mut [f32], g1: &mut [f32], x: &[f32], c0: f32, c1: f32) {
    if GATE {
        for (g, &v) in g0.iter_mut().zip(x) {
            *g += c0 * v;
        }
    }
    for (g, &v) in g1.iter_mut().zip(x) {
        *g += c1 * v;
    }
}

/// Logistic sigmoid without overflow for any finite or infinite input.
#[inline]
pub fn sigmoid(a: f64) -> f64 {
    if a >= 0.0 {
        1.0 / (1.0 + (-a).exp())
    } else {
        let e = a.exp();
        e / (1.0 + e)
    }
}

/// `1 / sqrt(mean(x²) + RMS_EPS)` of a segment of `n` floats whose squares sum to `ss`.
#[inline]
pub(crate) fn inv_rms(ss: f32, n: usize) -> f64 {
    1.0 / (f64::from(ss) / n as f64 + RMS_EPS).sqrt()
}

/// Divides each segment of `seg` floats of `row` by its own RMS (`rms` normalisation).
pub(crate) fn rms_normalize_in_place(row: &mut [f32], seg: usize) {
    for s in row.chunks_exact_mut(seg) {
        let inv = inv_rms(sum_sq(s), seg) as f32;
        for v in s.iter_mut() {
            *v *= inv;
        }
    }
}

/// Where each of a head's states sits in an incoming feature layout.
///
/// A feature set collected with more states than a head uses (say `all`, for a head trained on
/// `last:4`) is scored by reading only the head's segments of each row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Projection {
    seg: usize,
    /// Offset in the incoming row of each head segment, in head order.
    offsets: Vec<usize>,
    in_width: usize,
    identity: bool,
}

impl Projection {
    /// Maps the segments of `head` (a head's feature source) onto `layout`. Fails, naming the
    /// missing states, when the layout lacks a state the head needs, or when the two describe
    /// different kinds of features or models.
    pub fn new(head: &FeatureSource, layout: &FeatureLayout) -> Result<Self, HeadError> {
        let mismatch = |reason: String| HeadError::LayoutMismatch { reason };
        match (head, &layout.source) {
            (
                FeatureSource::Hidden { selection, n_embd },
                FeatureSource::Hidden {
                    selection: have,
                    n_embd: have_embd,
                },
            ) => {
                if n_embd != have_embd {
                    return Err(mismatch(format!(
                        "the head expects hidden states of width n_embd = {n_embd}, the features have {have_embd}"
                    )));
                }
                if selection.n_layer() != have.n_layer() {
                    return Err(mismatch(format!(
                        "the head numbers states for a model with {} layers, the features come from one with {}",
                        selection.n_layer(),
                        have.n_layer()
                    )));
                }
                let seg = *n_embd as usize;
                let mut offsets = Vec::with_capacity(selection.len());
                let mut missing = Vec::new();
                for s in selection.states() {
                    match have.states().binary_search(s) {
                        Ok(k) => offsets.push(k * seg),
                        Err(_) => missing.push(*s),
                    }
                }
                if !missing.is_empty() {
                    return Err(mismatch(format!(
                        "the head uses states {} but the features hold only states {} (missing: {})",
                        crate::features::format_state_list(selection.states()),
                        crate::features::format_state_list(have.states()),
                        crate::features::format_state_list(&missing)
                    )));
                }
                let identity = selection.states() == have.states();
                Ok(Self {
                    seg,
                    offsets,
                    in_width: layout.width(),
                    identity,
                })
            }
            (FeatureSource::Logits { n_vocab }, FeatureSource::Logits { n_vocab: have }) => {
                if n_vocab != have {
                    return Err(mismatch(format!(
                        "the head expects logits over {n_vocab} tokens, the features have {have}"
                    )));
                }
                Ok(Self {
                    seg: *n_vocab as usize,
                    offsets: vec![0],
                    in_width: *have as usize,
                    identity: true,
                })
            }
            (FeatureSource::Hidden { .. }, FeatureSource::Logits { .. }) => Err(mismatch(
                "the head reads hidden states but the features are logits".to_string(),
            )),
            (FeatureSource::Logits { .. }, FeatureSource::Hidden { .. }) => Err(mismatch(
                "the head reads logits but the features are hidden states".to_string(),
            )),
        }
    }

    /// Floats per segment.
    pub fn segment_width(&self) -> usize {
        self.seg
    }

    /// Number of head segments.
    pub fn segments(&self) -> usize {
        self.offsets.len()
    }

    /// Width of an incoming row.
    pub fn in_width(&self) -> usize {
        self.in_width
    }

    /// Width of a projected row (the head's F).
    pub fn out_width(&self) -> usize {
        self.seg * self.offsets.len()
    }

    /// True when incoming rows already have exactly the head's layout.
    pub fn is_identity(&self) -> bool {
        self.identity
    }

    /// Index of head segment `k` among the incoming row's segments.
    #[inline]
    pub fn segment_index(&self, k: usize) -> usize {
        self.offsets[k] / self.seg
    }

    /// Head segment `k` of an incoming row.
    #[inline]
    pub fn segment<'a>(&self, row: &'a [f32], k: usize) -> &'a [f32] {
        let o = self.offsets[k];
        &row[o..o + self.seg]
    }

    /// Copies the head's segments of `row` (in head order) into `out` (`out_width()` floats).
    pub fn project_into(&self, row: &[f32], out: &mut [f32]) {
        for (k, dst) in out.chunks_exact_mut(self.seg).enumerate() {
            dst.copy_from_slice(self.segment(row, k));
        }
    }
}

/// A head prepared for scoring: weights laid out per row, standardisation folded in.
///
/// With `standardize`, `w·((x - m) / s)` is computed as `(w / s)·(x - m)`: centring stays in
/// the loop (folding the mean into the bias would subtract two large numbers in f32).
#[derive(Debug, Clone)]
pub(crate) struct Kernel {
    gate: bool,
    norm: Normalization,
    seg: usize,
    n_seg: usize,
    /// Gate row (empty without a gate).
    w0: Vec<f32>,
    /// Reward row.
    w1: Vec<f32>,
    /// Per-dimension mean (standardize only).
    mean: Vec<f32>,
    b0: f64,
    b1: f64,
}

/// Partial sums of one token: gate logit and reward before the bias.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct TokenSums {
    a: f64,
    r: f64,
}

impl Kernel {
    pub(crate) fn new(head: &Head) -> Self {
        let f = head.width();
        let (seg, n_seg) = head.segment_shape();
        let w = head.weight();
        let (mut w0, mut w1) = if head.gate() {
            (w[..f].to_vec(), w[f..2 * f].to_vec())
        } else {
            (Vec::new(), w[..f].to_vec())
        };
        let (b0, b1) = if head.gate() {
            (f64::from(head.bias()[0]), f64::from(head.bias()[1]))
        } else {
            (0.0, f64::from(head.bias()[0]))
        };
        let mut mean = Vec::new();
        if let (Normalization::Standardize, Some(stats)) = (head.normalization(), head.norm_stats())
        {
            for (i, &s) in stats.std.iter().enumerate() {
                let inv = 1.0 / s;
                if head.gate() {
                    w0[i] *= inv;
                }
                w1[i] *= inv;
            }
            mean = stats.mean.clone();
        }
        Self {
            gate: head.gate(),
            norm: head.normalization(),
            seg,
            n_seg,
            w0,
            w1,
            mean,
            b0,
            b1,
        }
    }

    /// Adds head segment `k` (`x` holds its raw, unnormalised floats) to a token's sums.
    #[inline]
    pub(crate) fn add_segment(&self, k: usize, x: &[f32], acc: &mut TokenSums) {
        let range = k * self.seg..(k + 1) * self.seg;
        let w1 = &self.w1[range.clone()];
        if self.gate {
            let w0 = &self.w0[range.clone()];
            match self.norm {
                Normalization::None => {
                    let [d0, d1, _] = dots::<true, false, false>(w0, w1, x, x);
                    acc.a += f64::from(d0);
                    acc.r += f64::from(d1);
                }
                Normalization::Rms => {
                    let [d0, d1, ss] = dots::<true, true, false>(w0, w1, x, x);
                    let inv = inv_rms(ss, self.seg);
                    acc.a += f64::from(d0) * inv;
                    acc.r += f64::from(d1) * inv;
                }
                Normalization::Standardize => {
                    let [d0, d1, _] = dots::<true, false, true>(w0, w1, &self.mean[range], x);
                    acc.a += f64::from(d0);
                    acc.r += f64::from(d1);
                }
            }
        } else {
            match self.norm {
                Normalization::None => {
                    acc.r += f64::from(dots::<false, false, false>(w1, w1, x, x)[1]);
                }
                Normalization::Rms => {
                    let [_, d1, ss] = dots::<false, true, false>(w1, w1, x, x);
                    acc.r += f64::from(d1) * inv_rms(ss, self.seg);
                }
                Normalization::Standardize => {
                    acc.r += f64::from(dots::<false, false, true>(w1, w1, &self.mean[range], x)[1]);
                }
            }
        }
    }

    /// Gate weight `g` (1 without a gate) and reward `r` of a finished token.
    #[inline]
    pub(crate) fn finish(&self, acc: TokenSums) -> (f64, f64) {
        let g = if self.gate {
            sigmoid(acc.a + self.b0)
        } else {
            1.0
        };
        (g, acc.r + self.b1)
    }

    /// Gate weight and reward of one token given as an incoming row.
    #[inline]
    pub(crate) fn token(&self, proj: &Projection, row: &[f32]) -> (f64, f64) {
        let mut acc = TokenSums::default();
        for k in 0..self.n_seg {
            self.add_segment(k, proj.segment(row, k), &mut acc);
        }
        self.finish(acc)
    }

    /// Gate weight and reward of one token given as the incoming row's segments (one slice per
    /// incoming state): the same per-segment arithmetic as [`token`](Self::token).
    #[inline]
    pub(crate) fn token_segments(&self, proj: &Projection, segments: &[&[f32]]) -> (f64, f64) {
        let mut acc = TokenSums::default();
        for k in 0..self.n_seg {
            self.add_segment(k, segments[proj.segment_index(k)], &mut acc);
        }
        self.finish(acc)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dots_match_naive_sums_for_all_lengths() {
        let mut rng = crate::rng::Rng::new(3);
        for n in [0usize, 1, 5, 17, 31, 32, 33, 64, 100, 577] {
            let v = |rng: &mut crate::rng::Rng| -> Vec<f32> {
                (0..n).map(|_| rng.next_f32() * 2.0 - 1.0).collect()
            };
            let (w0, w1, m, x) = (v(&mut rng), v(&mut rng), v(&mut rng), v(&mut rng));
            let naive = |c: bool| {
                let mut s = [0f64; 3];
                for i in 0..n {
                    let d = f64::from(x[i]) - if c { f64::from(m[i]) } else { 0.0 };
                    s[0] += f64::from(w0[i]) * d;
                    s[1] += f64::from(w1[i]) * d;
                    s[2] += f64::from(x[i]) * f64::from(x[i]);
                }
                s
            };
            let got = dots::<true, true, false>(&w0, &w1, &x, &x);
            let want = naive(false);
            for j in 0..3 {
                assert!((f64::from(got[j]) - want[j]).abs() < 1e-5, "n={n} j={j}");
            }
            let got = dots::<true, false, true>(&w0, &w1, &m, &x);
            let want = naive(true);
            for j in 0..2 {
                assert!((f64::from(got[j]) - want[j]).abs() < 1e-5, "n={n} j={j}");
            }
            let got = dots::<false, false, false>(&w1, &w1, &x, &x);
            assert!((f64::from(got[1]) - naive(false)[1]).abs() < 1e-5);
        }
    }

    #[test]
    fn sigmoid_is_stable_and_symmetric() {
        assert_eq!(sigmoid(0.0), 0.5);
        assert_eq!(sigmoid(1000.0), 1.0);
        assert_eq!(sigmoid(-1000.0), 0.0);
        assert!(sigmoid(-745.0) > 0.0);
        assert_eq!(sigmoid(f64::INFINITY), 1.0);
        assert_eq!(sigmoid(f64::NEG_INFINITY), 0.0);
        for a in [-30.0, -3.0, -0.1, 0.7, 12.0] {
            assert!((sigmoid(a) + sigmoid(-a) - 1.0).abs() < 1e-15);
        }
    }

    #[test]
    fn rms_normalisation_gives_unit_rms_per_segment() {
        let mut row = vec![1.0f32, 2.0, 3.0, 4.0, 100.0, -100.0, 100.0, -100.0];
        rms_normalize_in_place(&mut row, 4);
        for s in row.chunks(4) {
            let ms: f64 = s.iter().map(|&v| f64::from(v) * f64::from(v)).sum::<f64>() / 4.0;
            assert!((ms - 1.0).abs() < 1e-5, "{ms}");
        }
        assert!((row[4] - 1.0).abs() < 1e-6);
    }
}
