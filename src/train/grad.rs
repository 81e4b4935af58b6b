//! Scores, losses and hand-written gradients.
//!
//! For one candidate with tokens t (normalised features x_t):
//!
//! ```text
//! a_t = w0·x_t + b0,  r_t = w1·x_t + b1,  g_t = σ(a_t),  S = Σ g_t,  D = max(S, ε)
//! R   = Σ g_t r_t / D
//! ∂R/∂r_t = g_t / D
//! ∂R/∂a_t = σ'(a_t) (r_t − R) / D     when S ≥ ε  (∂R/∂g_t = (r_t D − Σ g r) / D²)
//!         = σ'(a_t) r_t / ε           when S < ε  (the denominator is the constant ε)
//! σ'(a)   = σ(a) σ(−a)                (no cancellation when σ(a) is close to 1)
//! ∂R/∂w0  = Σ_t ∂R/∂a_t x_t,  ∂R/∂b0 = Σ_t ∂R/∂a_t   (and likewise for w1, b1 with ∂R/∂r_t)
//! ```
//!
//! Without a gate R is the mean of r_t and ∂R/∂r_t = 1/T. A batch's loss depends on the
//! candidates only through their scores, so each candidate's ∂R/∂θ is computed in one pass over
//! its rows and the batch gradient is Σ_i ∂L/∂R_i · ∂R_i/∂θ: every candidate is read once.

use crate::head::{sigmoid, SCORE_DENOM_FLOOR};

use super::Loss;
use crate::head::kernel::{axpy2, dots};

/// Parameters as one flat vector: W (rows x F, row 0 the gate when gated), then b (rows).
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Params {
    pub gate: bool,
    pub f: usize,
    pub theta: Vec<f32>,
}

impl Params {
    /// (gate row or the reward row when not gated, reward row, gate bias, reward bias).
    fn parts(&self) -> (&[f32], &[f32], f64, f64) {
        let f = self.f;
        if self.gate {
            (
                &self.theta[..f],
                &self.theta[f..2 * f],
                f64::from(self.theta[2 * f]),
                f64::from(self.theta[2 * f + 1]),
            )
        } else {
            (
                &self.theta[..f],
                &self.theta[..f],
                0.0,
                f64::from(self.theta[f]),
            )
        }
    }
}

/// Per-token (a, r) of the candidate being scored, reused between candidates.
#[derive(Debug, Default)]
pub(crate) struct Scratch {
    ar: Vec<(f64, f64)>,
}

/// Score R of one candidate from its normalised rows (`T x F`), or `None` when it has no row.
/// With `grad`, also writes ∂R/∂θ into it (overwriting; same layout as `theta`).
pub(crate) fn score_candidate(
    p: &Params,
    rows: &[f32],
    scratch: &mut Scratch,
    grad: Option<&mut [f32]>,
) -> Option<f64> {
    let f = p.f;
    let n = rows.len() / f;
    if n == 0 {
        return None;
    }
    let (w0, w1, b0, b1) = p.parts();
    scratch.ar.clear();
    let score = if p.gate {
        let (mut sg, mut sgr) = (0.0f64, 0.0f64);
        for x in rows.chunks_exact(f) {
            let [d0, d1, _] = dots::<true, false, false>(w0, w1, x, x);
            let a = f64::from(d0) + b0;
            let r = f64::from(d1) + b1;
            let g = sigmoid(a);
            sg += g;
            sgr += g * r;
            scratch.ar.push((a, r));
        }
        let clamped = sg < SCORE_DENOM_FLOOR;
        let d = sg.max(SCORE_DENOM_FLOOR);
        let score = sgr / d;
        if let Some(grad) = grad {
            grad.fill(0.0);
            let (gw, gb) = grad.split_at_mut(2 * f);
            let (gw0, gw1) = gw.split_at_mut(f);
            let (mut gb0, mut gb1) = (0.0f64, 0.0f64);
            for (x, &(a, r)) in rows.chunks_exact(f).zip(&scratch.ar) {
                let g = sigmoid(a);
                let dsig = g * sigmoid(-a);
                let dr = g / d;
                let da = dsig * if clamped { r } else { r - score } / d;
                axpy2::<true>(gw0, gw1, x, da as f32, dr as f32);
                gb0 += da;
                gb1 += dr;
            }
            gb[0] = gb0 as f32;
            gb[1] = gb1 as f32;
        }
        score
    } else {
        let mut sr = 0.0f64;
        for x in rows.chunks_exact(f) {
            sr += f64::from(dots::<false, false, false>(w1, w1, x, x)[1]) + b1;
        }
        if let Some(grad) = grad {
            grad.fill(0.0);
            let (gw, gb) = grad.split_at_mut(f);
            let dr = (1.0 / n as f64) as f32;
            let mut unused: [f32; 0] = [];
            for x in rows.chunks_exact(f) {
                axpy2::<false>(&mut unused, gw, x, 0.0, dr);
            }
            gb[0] = 1.0;
        }
        sr / n as f64
    };
    Some(score)
}

/// `log(1 + e^x)` without overflow.
fn softplus(x: f64) -> f64 {
    x.max(0.0) + (-x.abs()).exp().ln_1p()
}

/// Binary cross-entropy with logits (label weighted by `pos_weight` when positive): loss and
/// its derivative in the logit.
pub(crate) fn bce_with_logits(z: f64, label: bool, pos_weight: f64) -> (f64, f64) {
    if label {
        // pos_weight · softplus(−z);  d/dz = pos_weight (σ(z) − 1) = −pos_weight σ(−z)
        (pos_weight * softplus(-z), -pos_weight * sigmoid(-z))
    } else {
        // softplus(z);  d/dz = σ(z)
        (softplus(z), sigmoid(z))
    }
}

/// Loss terms of a set of candidates: returns (sum of terms, number of terms) and, in `dl`,
/// ∂(sum of terms)/∂R_i for each candidate. Candidates with `None` scores (no covered token)
/// take part in no term. `problem` groups candidates for the pairwise loss.
pub(crate) fn loss_terms(
    loss: Loss,
    pos_weight: f64,
    scores: &[Option<f64>],
    labels: &[bool],
    problem: &[usize],
    dl: &mut Vec<f64>,
) -> (f64, usize) {
    dl.clear();
    dl.resize(scores.len(), 0.0);
    let mut sum = 0.0;
    let mut terms = 0usize;
    match loss {
        Loss::Ce => {
            for (i, s) in scores.iter().enumerate() {
                if let Some(z) = *s {
                    let (l, d) = bce_with_logits(z, labels[i], pos_weight);
                    sum += l;
                    dl[i] = d;
                    terms += 1;
                }
            }
        }
        Loss::Pairwise => {
            for i in 0..scores.len() {
                let Some(si) = scores[i].filter(|_| labels[i]) else {
                    continue;
                };
                for j in 0..scores.len() {
                    if labels[j] || problem[j] != problem[i] {
                        continue;
                    }
                    let Some(sj) = scores[j] else { continue };
                    // softplus(−(R_i − R_j)); d/d(R_i − R_j) = −σ(−(R_i − R_j))
                    let diff = si - sj;
                    sum += softplus(-diff);
                    let d = -sigmoid(-diff);
                    dl[i] += d;
                    dl[j] -= d;
                    terms += 1;
                }
            }
        }
    }
    (sum, terms)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rng::Rng;

    /// The loss of a batch in plain f64, straight from the definitions.
    #[allow(clippy::too_many_arguments)]
    fn reference_loss(
        p: &[f64],
        gate: bool,
        f: usize,
        cands: &[Vec<f32>],
        labels: &[bool],
        problem: &[usize],
        loss: Loss,
        pw: f64,
    ) -> f64 {
        let score = |rows: &Vec<f32>| -> Option<f64> {
            let n = rows.len() / f;
            if n == 0 {
                return None;
            }
            let lin = |row: &[f32], k: usize| -> f64 {
                (0..f)
                    .map(|i| p[k * f + i] * f64::from(row[i]))
                    .sum::<f64>()
                    + p[if gate { 2 } else { 1 } * f + k]
            };
            if gate {
                let (mut sg, mut sgr) = (0.0, 0.0);
                for row in rows.chunks(f) {
                    let g = 1.0 / (1.0 + (-lin(row, 0)).exp());
                    sg += g;
                    sgr += g * lin(row, 1);
                }
                Some(sgr / f64::max(sg, 1e-8))
            } else {
                Some(rows.chunks(f).map(|row| lin(row, 0)).sum::<f64>() / n as f64)
            }
        };
        let s: Vec<Option<f64>> = cands.iter().map(score).collect();
        let mut total = 0.0;
        let mut terms = 0;
        match loss {
            Loss::Ce => {
                for (i, z) in s.iter().enumerate() {
                    if let Some(z) = z {
                        let y = if labels[i] { 1.0 } else { 0.0 };
                        let sig = 1.0 / (1.0 + (-z).exp());
                        total += -(pw * y * sig.ln() + (1.0 - y) * (1.0 - sig).ln());
                        terms += 1;
                    }
                }
            }
            Loss::Pairwise => {
                for i in 0..s.len() {
                    for j in 0..s.len() {
                        if labels[i] && !labels[j] && problem[i] == problem[j] {
                            if let (Some(a), Some(b)) = (s[i], s[j]) {
                                total += (1.0 + (-(a - b)).exp()).ln();
                                terms += 1;
                            }
                        }
                    }
                }
            }
        }
        total / terms as f64
    }

    /// Mean-loss gradient through the production path.
    fn analytic(
        params: &Params,
        cands: &[Vec<f32>],
        labels: &[bool],
        problem: &[usize],
        loss: Loss,
        pw: f64,
    ) -> Vec<f64> {
        let mut scratch = Scratch::default();
        let mut cg = vec![vec![0.0f32; params.theta.len()]; cands.len()];
        let scores: Vec<Option<f64>> = cands
            .iter()
            .zip(cg.iter_mut())
            .map(|(rows, g)| score_candidate(params, rows, &mut scratch, Some(g)))
            .collect();
        let mut dl = Vec::new();
        let (_, terms) = loss_terms(loss, pw, &scores, labels, problem, &mut dl);
        let mut total = vec![0.0f64; params.theta.len()];
        for (k, g) in cg.iter().enumerate() {
            if scores[k].is_none() {
                continue;
            }
            for (t, &v) in total.iter_mut().zip(g) {
                *t += dl[k] / terms as f64 * f64::from(v);
            }
        }
        total
    }

    fn check_gradients(gate: bool, gate_bias: f32, loss: Loss, pw: f64, seed: u64) {
        let f = 6; // 2 states x 3
        let mut rng = Rng::new(seed);
        let rows_param = if gate { 2 } else { 1 };
        let mut theta: Vec<f32> = (0..rows_param * (f + 1))
            .map(|_| rng.next_f32() - 0.5)
            .collect();
        if gate {
            theta[2 * f] = gate_bias;
        }
        let params = Params { gate, f, theta };
        let lens = [3usize, 1, 5, 0, 4, 2];
        let cands: Vec<Vec<f32>> = lens
            .iter()
            .map(|&n| (0..n * f).map(|_| (rng.next_f32() - 0.5) * 2.0).collect())
            .collect();
        let labels = [true, false, false, true, true, false];
        let problem = [0, 0, 0, 0, 1, 1];
        let ana = analytic(&params, &cands, &labels, &problem, loss, pw);
        let p64: Vec<f64> = params.theta.iter().map(|&v| f64::from(v)).collect();
        let base = reference_loss(&p64, gate, f, &cands, &labels, &problem, loss, pw);
        assert!(base.is_finite());
        let mut worst = 0.0f64;
        for k in 0..p64.len() {
            let h = 1e-6;
            let mut plus = p64.clone();
            plus[k] += h;
            let mut minus = p64.clone();
            minus[k] -= h;
            let fd = (reference_loss(&plus, gate, f, &cands, &labels, &problem, loss, pw)
                - reference_loss(&minus, gate, f, &cands, &labels, &problem, loss, pw))
                / (2.0 * h);
            let err = (ana[k] - fd).abs() / fd.abs().max(1e-3);
            worst = worst.max(err);
            assert!(
                err < 1e-4,
                "gate={gate} bias={gate_bias} {loss:?} param {k}: analytic {} vs finite difference {fd}",
                ana[k]
            );
        }
        assert!(
            ana.iter().any(|g| g.abs() > 1e-3),
            "gradient is trivially zero"
        );
        let _ = worst;
    }

    #[test]
    fn gradients_match_finite_differences() {
        for (gate, loss, pw) in [
            (true, Loss::Ce, 1.0),
            (true, Loss::Ce, 2.5),
            (true, Loss::Pairwise, 1.0),
            (false, Loss::Ce, 1.0),
            (false, Loss::Pairwise, 1.0),
        ] {
            for seed in 0..3 {
                check_gradients(gate, 0.3, loss, pw, seed);
            }
        }
    }

    #[test]
    fn gradients_match_when_the_gate_sum_is_below_its_floor() {
        // Gate bias -22 and |w0·x| < 1.5: every g_t < 1.3e-9, so with at most 5 tokens
        // Σg < 1e-8 and R = Σ g·r / 1e-8.
        for loss in [Loss::Ce, Loss::Pairwise] {
            check_gradients(true, -22.0, loss, 1.0, 9);
        }
    }

    #[test]
    fn bce_is_stable_for_large_logits() {
        let (l, d) = bce_with_logits(800.0, true, 1.0);
        assert_eq!(l, 0.0);
        assert_eq!(d, 0.0);
        let (l, d) = bce_with_logits(-800.0, true, 2.0);
        assert!((l - 1600.0).abs() < 1e-9);
        assert!((d + 2.0).abs() < 1e-12);
        let (l, d) = bce_with_logits(0.0, false, 1.0);
        assert!((l - std::f64::consts::LN_2).abs() < 1e-15);
        assert_eq!(d, 0.5);
    }
}
