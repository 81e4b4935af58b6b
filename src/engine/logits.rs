//! Per-token statistics of the model's full-vocabulary distribution, computed from raw logits
//! (temperature 1, before any sampler truncation): the log-probability of the sampled token, the
//! entropy, and the self-certainty term KL(U || p) of Kang et al. (2025).
#![forbid(unsafe_code)]

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

impl LogitStats {
    /// Computes the statistics of `logits` in two passes (max, then sums), f64 accumulation in
    /// eight independent lanes so the loop vectorises.
    pub fn new(logits: &[f32]) -> Self {
        let n = logits.len();
        assert!(n > 0, "empty logits");
        let max = logits.iter().copied().fold(f32::NEG_INFINITY, f32::max);
        const LANES: usize = 8;
        let mut sum_e = [0f64; LANES];
        let mut sum_el = [0f64; LANES];
        let mut sum_l = [0f64; LANES];
        let chunks = logits.chunks_exact(LANES);
        let rest = chunks.remainder();
        for c in chunks {
            for k in 0..LANES {
                let d = c[k] - max;
                let e = f64::from(d.exp());
                sum_e[k] += e;
                sum_el[k] += e * f64::from(d);
                sum_l[k] += f64::from(d);
            }
        }
        for (k, &x) in rest.iter().enumerate() {
            let d = x - max;
            let e = f64::from(d.exp());
            sum_e[k] += e;
            sum_el[k] += e * f64::from(d);
            sum_l[k] += f64::from(d);
        }
        let s: f64 = sum_e.iter().sum();
        let se: f64 = sum_el.iter().sum();
        let sl: f64 = sum_l.iter().sum();
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
    fn uniform_has_max_entropy_and_zero_certainty() {
        let st = LogitStats::new(&[0.5; 16]);
        assert!((st.entropy - 16f64.ln()).abs() < 1e-9);
        assert!(st.self_certainty.abs() < 1e-9);
        let peaked = LogitStats::new(&[30.0, 0.0, 0.0, 0.0]);
        assert!(peaked.entropy < 1e-6 && peaked.self_certainty > 5.0);
    }
}
