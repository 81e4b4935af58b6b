//! Per-token statistics of the model's full-vocabulary distribution, computed from raw logits
//! (temperature 1, before any sampler truncation): the log-probability of the sampled token, the
//! entropy, and the self-certainty term KL(U || p) of Kang et al. (2025).
//!
//! This runs once per candidate per decoded token over the whole vocabulary (262k entries for
//! Gemma 3), so it is written to vectorise: a branch-free polynomial `exp` on f32 lanes, with the
//! lane sums folded into f64 every block so rounding stays far below what any caller can see.

/// Statistics of one distribution, enough to look up any token's log-probability.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LogitStats {
    /// log Σ exp(l_i).
    pub log_sum_exp: f64,
    /// Entropy in nats: −Σ p_i log p_i.
    pub entropy: f64,
    /// KL(uniform || p) = −log V − mean_i log p_i, in nats (self-certainty; larger = more certain).
    pub self_certainty: f64,
}

/// f32 lanes per step; 16 lets the compiler use two or four vector registers per sum.
const LANES: usize = 16;
/// Elements per f32 partial sum before it is folded into f64 (256 per lane).
const BLOCK: usize = LANES * 256;

/// `exp(x)` for `x ≤ 0` (the caller subtracts the maximum), relative error below 2e-7 on
/// [-87, 0]; inputs below −87 give ≈ 1.6e-38 (smaller than any term that can matter next to
/// the maximum's 1). Branch-free so that loops over it vectorise: range reduction
/// x = n·ln2 + r with |r| ≤ ln2/2, a degree-6 polynomial for e^r, and 2^n built in the exponent
/// bits.
#[inline(always)]
fn exp_nonpos(x: f32) -> f32 {
    const LOG2E: f32 = std::f32::consts::LOG2_E;
    // ln 2 split so that n·LN2_HI is exact for |n| < 2^9.
    const LN2_HI: f32 = 0.693_145_75;
    const LN2_LO: f32 = 1.428_606_8e-6;
    // 1.5·2^23: adding it rounds to the nearest integer, which lands in the low mantissa bits.
    const SHIFTER: f32 = 12_582_912.0;
    let x = x.max(-87.0);
    // Plain multiply-adds: `mul_add` without a hardware FMA target is a library call.
    let t = x * LOG2E + SHIFTER;
    let n = t - SHIFTER;
    let r = (x - n * LN2_HI) - n * LN2_LO;
    // Taylor coefficients 1/k!, Horner form; at |r| ≤ 0.347 the truncation error is < 1.5e-7.
    let p = 1.0 / 720.0;
    let p = p * r + 1.0 / 120.0;
    let p = p * r + 1.0 / 24.0;
    let p = p * r + 1.0 / 6.0;
    let p = p * r + 0.5;
    let p = p * r + 1.0;
    let p = p * r + 1.0;
    // n sits in the low bits of t's mantissa as a two's-complement offset from SHIFTER's.
    let ni = t.to_bits().wrapping_sub(SHIFTER.to_bits()) as i32;
    let scale = f32::from_bits((ni.wrapping_add(127) as u32) << 23);
    p * scale
}

impl LogitStats {
    /// Computes the statistics of `logits` in two passes: the maximum, then the three sums
    /// Σe^d, Σe^d·d and Σd over d = l − max.
    pub fn new(logits: &[f32]) -> Self {
        let n = logits.len();
        assert!(n > 0, "empty logits");
        let max = max_of(logits);
        let (mut s, mut se, mut sl) = (0f64, 0f64, 0f64);
        for block in logits.chunks(BLOCK) {
            let (bs, bse, bsl) = block_sums(block, max);
            s += bs;
            se += bse;
            sl += bsl;
        }
        let ln_s = s.ln();
        // With d_i = l_i − max: log p_i = d_i − ln S.
        let entropy = ln_s - se / s;
        let mean_log_p = sl / n as f64 - ln_s;
        Self {
            log_sum_exp: f64::from(max) + ln_s,
            entropy,
            self_certainty: -(n as f64).ln() - mean_log_p,
        }
    }

    /// Log-probability of a token with logit `l`.
    pub fn logprob(&self, l: f32) -> f64 {
        f64::from(l) - self.log_sum_exp
    }
}

fn max_of(xs: &[f32]) -> f32 {
    let mut m = [f32::NEG_INFINITY; LANES];
    let chunks = xs.chunks_exact(LANES);
    let rest = chunks.remainder();
    for c in chunks {
        for k in 0..LANES {
            m[k] = m[k].max(c[k]);
        }
    }
    for &x in rest {
        m[0] = m[0].max(x);
    }
    m.iter().copied().fold(f32::NEG_INFINITY, f32::max)
}

/// Σe^d, Σe^d·d, Σd over one block, accumulated in f32 lanes.
fn block_sums(block: &[f32], max: f32) -> (f64, f64, f64) {
    let mut s = [0f32; LANES];
    let mut se = [0f32; LANES];
    let mut sl = [0f32; LANES];
    let chunks = block.chunks_exact(LANES);
    let rest = chunks.remainder();
    for c in chunks {
        for k in 0..LANES {
            let d = c[k] - max;
            let e = exp_nonpos(d);
            s[k] += e;
            // e is ~0 wherever d is huge and negative; the clamp keeps 0·(−∞) out.
            se[k] += e * d.max(-87.0);
            sl[k] += d;
        }
    }
    for (k, &x) in rest.iter().enumerate() {
        let d = x - max;
        let e = exp_nonpos(d);
        s[k] += e;
        se[k] += e * d.max(-87.0);
        sl[k] += d;
    }
    let sum = |a: &[f32; LANES]| a.iter().map(|&v| f64::from(v)).sum::<f64>();
    (sum(&s), sum(&se), sum(&sl))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn naive(logits: &[f32]) -> (Vec<f64>, f64, f64) {
        let m = logits.iter().copied().fold(f32::NEG_INFINITY, f32::max) as f64;
        let z: f64 = logits.iter().map(|&l| (l as f64 - m).exp()).sum();
        let lp: Vec<f64> = logits.iter().map(|&l| l as f64 - m - z.ln()).collect();
        let h = -lp.iter().map(|&x| x.exp() * x).sum::<f64>();
        let v = logits.len() as f64;
        let kl = lp
            .iter()
            .map(|&x| (1.0 / v) * ((1.0 / v).ln() - x))
            .sum::<f64>();
        (lp, h, kl)
    }

    #[test]
    fn matches_naive_formulas() {
        let mut r = crate::rng::Rng::new(3);
        for n in [1usize, 2, 7, 8, 9, 100, 1001] {
            let logits: Vec<f32> = (0..n).map(|_| r.next_f32() * 20.0 - 10.0).collect();
            let st = LogitStats::new(&logits);
            let (lp, h, kl) = naive(&logits);
            for (i, &l) in logits.iter().enumerate() {
                assert!((st.logprob(l) - lp[i]).abs() < 1e-5, "n={n} i={i}");
            }
            assert!(
                (st.entropy - h).abs() < 1e-5,
                "n={n}: {} vs {h}",
                st.entropy
            );
            assert!(
                (st.self_certainty - kl).abs() < 1e-5,
                "n={n}: {} vs {kl}",
                st.self_certainty
            );
        }
    }

    #[test]
    fn fast_exp_is_accurate_on_the_whole_range() {
        let mut worst = 0f64;
        let mut x = -87.0f32;
        while x <= 0.0 {
            let got = f64::from(exp_nonpos(x));
            let want = f64::from(x).exp();
            worst = worst.max((got - want).abs() / want);
            x += 0.001_3;
        }
        for x in [0.0f32, -1e-30, -0.346, -0.347, -0.3466, -86.999] {
            let want = f64::from(x).exp();
            worst = worst.max((f64::from(exp_nonpos(x)) - want).abs() / want);
        }
        assert!(worst < 3e-7, "worst relative error {worst}");
        assert!(exp_nonpos(-1000.0) < 2e-38 && exp_nonpos(f32::NEG_INFINITY) < 2e-38);
        assert_eq!(exp_nonpos(0.0), 1.0);
    }

    #[test]
    fn vocabulary_sized_logits_match_f64_reference() {
        // Gemma 3 has 262,144 entries: many blocks, a long tail of tiny probabilities.
        let mut r = crate::rng::Rng::new(11);
        for (n, spread) in [(262_144usize, 30.0f32), (49_152, 8.0), (4_097, 60.0)] {
            let logits: Vec<f32> = (0..n).map(|_| r.next_f32() * spread - 5.0).collect();
            let st = LogitStats::new(&logits);
            let (lp, h, kl) = naive(&logits);
            for i in [0, n / 3, n - 1] {
                assert!((st.logprob(logits[i]) - lp[i]).abs() < 1e-5, "n={n} i={i}");
            }
            assert!(
                (st.entropy - h).abs() < 1e-5,
                "n={n}: {} vs {h}",
                st.entropy
            );
            assert!(
                (st.self_certainty - kl).abs() < 1e-4,
                "n={n}: {} vs {kl}",
                st.self_certainty
            );
        }
    }

    #[test]
    fn masked_tokens_do_not_poison_the_sums() {
        let mut logits = vec![0.0f32; 100];
        logits[3] = f32::NEG_INFINITY;
        logits[7] = 2.0;
        let st = LogitStats::new(&logits);
        assert!(
            st.log_sum_exp.is_finite() && st.entropy.is_finite(),
            "{st:?}"
        );
        let finite: Vec<f32> = logits.iter().copied().filter(|l| l.is_finite()).collect();
        let reference = LogitStats::new(&finite);
        assert!((st.log_sum_exp - reference.log_sum_exp).abs() < 1e-6);
        assert!((st.entropy - reference.entropy).abs() < 1e-6);
        // A zero-probability token makes KL(U || p) infinite; that is the truthful value.
        assert_eq!(st.self_certainty, f64::INFINITY);
    }

    #[test]
    fn uniform_has_max_entropy_and_zero_certainty() {
        let st = LogitStats::new(&[0.5; 16]);
        assert!((st.entropy - 16f64.ln()).abs() < 1e-9);
        assert!(st.self_certainty.abs() < 1e-9);
        let peaked = LogitStats::new(&[30.0, 0.0, 0.0, 0.0]);
        assert!(peaked.entropy < 1e-6 && peaked.self_certainty > 5.0);
    }
}
