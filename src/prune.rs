//! Early pruning of Best-of-N candidates by their running SWIFT score, and early stop of a whole
//! question once its vote is decided.
//!
//! The streaming scorer knows each candidate's running score `R_t` (the gate-weighted mean of its
//! first t token rewards) at every step. A [`PrunePolicy`] looks at those scores at checkpoints
//! and names the candidates to stop; the engine then frees their KV cells, so later steps batch
//! only the survivors. The same [`Pruner`] runs online (in [`crate::bon::BestOfN`]) and offline
//! (`eval --prune`, replaying stored per-token scores), so a policy measured offline is the one
//! that runs.
//!
//! Schedule (all rules): nothing is pruned before step `warmup` (a candidate has then `warmup`
//! covered tokens); after that, a checkpoint every `every` steps. At least `min_keep` candidates
//! always survive (candidates that already finished count towards it), and a candidate that has
//! finished its text is never pruned.
//!
//! | rule | text form | at each checkpoint, prune the sampling candidates that … |
//! | --- | --- | --- |
//! | top fraction | `top:0.5` | are not among the best `ceil(keep x live)` of the live ones |
//! | margin | `margin:2` | score more than `margin` below the best candidate so far |
//! | calibrated (DeepConf-style) | `deepconf:0.5` | score below a per-question threshold: the `q`-quantile of every candidate's score at the warm-up checkpoint |
//! | rank halving (Speculative Rejection) | `halve:0.5` | are in the lowest `reject` fraction of the live ones, at checkpoints `warmup`, `2 x warmup`, `4 x warmup`, … |
//!
//! Options follow the rule, comma-separated: `top:0.5,warmup=32,every=16,min=2`.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::select::compare_scores;

/// What decides which candidates go.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(tag = "rule", rename_all = "snake_case")]
pub enum PruneRule {
    /// Keep the best `keep` fraction of the live candidates (rounded up).
    Top {
        /// Fraction kept, in (0, 1].
        keep: f64,
    },
    /// Drop candidates more than `margin` score units below the best score so far (live or
    /// finished).
    Margin {
        /// Score units.
        margin: f64,
    },
    /// Drop candidates below the `quantile` of all candidates' scores at the warm-up checkpoint
    /// (the threshold is fixed per question, as DeepConf's is from its warm-up traces).
    Calibrated {
        /// Quantile in [0, 1).
        quantile: f64,
    },
    /// At geometrically spaced checkpoints drop the lowest `reject` fraction of live candidates
    /// (rounded down), as Speculative Rejection does.
    Halve {
        /// Fraction rejected per checkpoint, in (0, 1).
        reject: f64,
    },
}

/// A pruning policy: a rule and its schedule.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct PrunePolicy {
    /// The rule.
    #[serde(flatten)]
    pub rule: PruneRule,
    /// Steps (covered tokens per candidate) before the first checkpoint.
    pub warmup: usize,
    /// Steps between checkpoints (ignored by [`PruneRule::Halve`], whose checkpoints double).
    pub every: usize,
    /// Candidates that always survive.
    pub min_keep: usize,
}

/// The policy `ask` uses unless told otherwise, chosen on a tuning collection and checked on
/// held-out ones (README, "Early pruning").
pub const DEFAULT_POLICY: &str = "deepconf:0.5,warmup=16,every=16,min=2";

/// Default warm-up, in tokens.
pub const DEFAULT_WARMUP: usize = 32;
/// Default checkpoint spacing, in tokens.
pub const DEFAULT_EVERY: usize = 16;
/// Default number of survivors.
pub const DEFAULT_MIN_KEEP: usize = 2;

impl PrunePolicy {
    /// `rule` with the default schedule.
    pub fn new(rule: PruneRule) -> Self {
        Self {
            rule,
            warmup: DEFAULT_WARMUP,
            every: DEFAULT_EVERY,
            min_keep: DEFAULT_MIN_KEEP,
        }
    }
    /// Warm-up.
    #[must_use]
    pub fn with_warmup(mut self, w: usize) -> Self {
        self.warmup = w;
        self
    }
    /// Checkpoint spacing.
    #[must_use]
    pub fn with_every(mut self, e: usize) -> Self {
        self.every = e;
        self
    }
    /// Survivors.
    #[must_use]
    pub fn with_min_keep(mut self, m: usize) -> Self {
        self.min_keep = m;
        self
    }

    /// Whether step `step` is a checkpoint.
    pub fn is_checkpoint(&self, step: usize) -> bool {
        if step < self.warmup.max(1) {
            return false;
        }
        match self.rule {
            PruneRule::Halve { .. } => {
                let w = self.warmup.max(1);
                step % w == 0 && (step / w).is_power_of_two()
            }
            _ => (step - self.warmup.max(1)) % self.every.max(1) == 0,
        }
    }
}

/// Errors in a policy's text form.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid prune policy {text:?}: {reason} (examples: top:0.5, margin:2, deepconf:0.5, halve:0.5, with options like ,warmup=32,every=16,min=2)")]
pub struct PruneParseError {
    /// What was given.
    pub text: String,
    /// What is wrong.
    pub reason: String,
}

impl FromStr for PrunePolicy {
    type Err = PruneParseError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let err = |reason: String| PruneParseError {
            text: s.to_string(),
            reason,
        };
        let mut parts = s.split(',').map(str::trim);
        let head = parts.next().unwrap_or_default();
        let (name, value) = head.split_once(':').unwrap_or((head, ""));
        let num = |v: &str, what: &str| -> Result<f64, PruneParseError> {
            let x: f64 = v
                .parse()
                .map_err(|_| err(format!("{what} must be a number, got {v:?}")))?;
            if x.is_finite() {
                Ok(x)
            } else {
                Err(err(format!("{what} must be finite")))
            }
        };
        let rule = match name {
            "top" => {
                let keep = num(value, "the kept fraction")?;
                if !(keep > 0.0 && keep <= 1.0) {
                    return Err(err(format!(
                        "the kept fraction must be in (0, 1], got {keep}"
                    )));
                }
                PruneRule::Top { keep }
            }
            "margin" => {
                let margin = num(value, "the margin")?;
                if margin < 0.0 {
                    return Err(err(format!("the margin must be >= 0, got {margin}")));
                }
                PruneRule::Margin { margin }
            }
            "deepconf" | "calibrated" => {
                let quantile = num(value, "the quantile")?;
                if !(0.0..1.0).contains(&quantile) {
                    return Err(err(format!(
                        "the quantile must be in [0, 1), got {quantile}"
                    )));
                }
                PruneRule::Calibrated { quantile }
            }
            "halve" | "rank" => {
                let reject = if value.is_empty() {
                    0.5
                } else {
                    num(value, "the rejected fraction")?
                };
                if !(reject > 0.0 && reject < 1.0) {
                    return Err(err(format!(
                        "the rejected fraction must be in (0, 1), got {reject}"
                    )));
                }
                PruneRule::Halve { reject }
            }
            other => {
                return Err(err(format!(
                    "unknown rule {other:?} (expected top, margin, deepconf or halve)"
                )))
            }
        };
        let mut p = PrunePolicy::new(rule);
        for opt in parts {
            let (k, v) = opt
                .split_once('=')
                .ok_or_else(|| err(format!("option {opt:?} is not key=value")))?;
            let n: usize = v
                .parse()
                .map_err(|_| err(format!("{k} must be a whole number, got {v:?}")))?;
            match k {
                "warmup" => p.warmup = n,
                "every" => {
                    if n == 0 {
                        return Err(err("every must be at least 1".into()));
                    }
                    p.every = n;
                }
                "min" | "min_keep" => {
                    if n == 0 {
                        return Err(err("min must be at least 1".into()));
                    }
                    p.min_keep = n;
                }
                other => return Err(err(format!("unknown option {other:?}"))),
            }
        }
        Ok(p)
    }
}

impl fmt::Display for PrunePolicy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.rule {
            PruneRule::Top { keep } => write!(f, "top:{keep}")?,
            PruneRule::Margin { margin } => write!(f, "margin:{margin}")?,
            PruneRule::Calibrated { quantile } => write!(f, "deepconf:{quantile}")?,
            PruneRule::Halve { reject } => write!(f, "halve:{reject}")?,
        }
        write!(f, ",warmup={}", self.warmup)?;
        if !matches!(self.rule, PruneRule::Halve { .. }) {
            write!(f, ",every={}", self.every)?;
        }
        write!(f, ",min={}", self.min_keep)
    }
}

/// The state of one candidate at a checkpoint.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct CandidateView {
    /// Running score (NaN or -inf before its first covered token).
    pub score: f64,
    /// Still sampling (prunable); false once its text is complete or it was stopped.
    pub sampling: bool,
    /// Already stopped by the pruner.
    pub pruned: bool,
}

/// Applies a policy to one question, keeping the per-question state (the calibrated threshold).
#[derive(Debug, Clone)]
pub struct Pruner {
    policy: PrunePolicy,
    threshold: Option<f64>,
}

impl Pruner {
    /// A pruner for one question.
    pub fn new(policy: PrunePolicy) -> Self {
        Self {
            policy,
            threshold: None,
        }
    }

    /// The policy.
    pub fn policy(&self) -> &PrunePolicy {
        &self.policy
    }

    /// The candidates to stop after step `step`, in ascending order. `cands` holds every
    /// candidate of the question.
    pub fn checkpoint(&mut self, step: usize, cands: &[CandidateView]) -> Vec<usize> {
        if !self.policy.is_checkpoint(step) {
            return Vec::new();
        }
        let survivors = cands.iter().filter(|c| !c.pruned).count();
        let budget = survivors.saturating_sub(self.policy.min_keep);
        if budget == 0 {
            return Vec::new();
        }
        let score = |c: &CandidateView| {
            if c.score.is_nan() {
                f64::NEG_INFINITY
            } else {
                c.score
            }
        };
        // Live candidates, worst first (ties: the later candidate goes first, so the earliest
        // survives as in selection).
        let mut live: Vec<usize> = (0..cands.len()).filter(|&i| cands[i].sampling).collect();
        live.sort_by(|&a, &b| compare_scores(score(&cands[a]), score(&cands[b])).then(b.cmp(&a)));
        let mut out: Vec<usize> = match self.policy.rule {
            PruneRule::Top { keep } => {
                let kept = ((keep * live.len() as f64).ceil() as usize).max(1);
                live[..live.len().saturating_sub(kept)].to_vec()
            }
            PruneRule::Halve { reject } => {
                let n = (reject * live.len() as f64).floor() as usize;
                live[..n].to_vec()
            }
            PruneRule::Margin { margin } => {
                let best = cands
                    .iter()
                    .filter(|c| !c.pruned)
                    .map(score)
                    .fold(f64::NEG_INFINITY, f64::max);
                live.iter()
                    .copied()
                    .filter(|&i| score(&cands[i]) < best - margin)
                    .collect()
            }
            PruneRule::Calibrated { quantile } => {
                let t = *self.threshold.get_or_insert_with(|| {
                    let mut s: Vec<f64> = cands
                        .iter()
                        .filter(|c| !c.pruned)
                        .map(score)
                        .filter(|x| x.is_finite())
                        .collect();
                    quantile_of(&mut s, quantile)
                });
                live.iter()
                    .copied()
                    .filter(|&i| score(&cands[i]) < t)
                    .collect()
            }
        };
        // Worst first, so the budget keeps the better ones.
        out.truncate(budget);
        out.sort_unstable();
        out
    }
}

/// The `q`-quantile of `v` (linear interpolation; -inf for an empty slice).
fn quantile_of(v: &mut [f64], q: f64) -> f64 {
    if v.is_empty() {
        return f64::NEG_INFINITY;
    }
    v.sort_by(|a, b| a.total_cmp(b));
    let pos = q * (v.len() - 1) as f64;
    let lo = pos.floor() as usize;
    let hi = pos.ceil() as usize;
    v[lo] + (v[hi] - v[lo]) * (pos - lo as f64)
}

/// Whether a vote is already decided: the leading answer's weight exceeds the runner-up's by
/// more than the weight the `undecided` candidates could still add (each at most
/// `max_weight`: 1 for a count or a sigmoid weight). `weights` are the answers' vote weights
/// among the finished candidates, in any order.
pub fn vote_decided(weights: &[f64], undecided: usize, max_weight: f64) -> bool {
    let mut top = f64::NEG_INFINITY;
    let mut second = 0.0f64;
    for &w in weights {
        if w > top {
            second = second.max(top);
            top = w;
        } else {
            second = second.max(w);
        }
    }
    top.is_finite() && top - second > undecided as f64 * max_weight
}

#[cfg(test)]
mod tests {
    use super::*;

    fn view(scores: &[f64]) -> Vec<CandidateView> {
        scores
            .iter()
            .map(|&score| CandidateView {
                score,
                sampling: true,
                pruned: false,
            })
            .collect()
    }

    #[test]
    fn policies_parse_print_and_refuse_nonsense() {
        assert!(DEFAULT_POLICY.parse::<PrunePolicy>().is_ok());
        let p: PrunePolicy = "top:0.5,warmup=8,every=4,min=3".parse().unwrap();
        assert_eq!(p.rule, PruneRule::Top { keep: 0.5 });
        assert_eq!((p.warmup, p.every, p.min_keep), (8, 4, 3));
        assert_eq!(p.to_string().parse::<PrunePolicy>().unwrap(), p);
        for good in ["margin:2", "deepconf:0.5", "halve:0.5", "halve", "top:1"] {
            let p: PrunePolicy = good.parse().unwrap();
            assert_eq!(p.to_string().parse::<PrunePolicy>().unwrap(), p, "{good}");
        }
        for bad in [
            "top:0",
            "top:2",
            "top:x",
            "margin:-1",
            "deepconf:1",
            "halve:1",
            "nope:1",
            "top:0.5,every=0",
            "top:0.5,min=0",
            "top:0.5,warmup",
            "top:0.5,speed=3",
            "margin:inf",
        ] {
            let e = bad.parse::<PrunePolicy>().unwrap_err();
            assert!(e.to_string().contains(bad), "{bad}: {e}");
        }
    }

    #[test]
    fn checkpoints_follow_the_schedule() {
        let p = PrunePolicy::new(PruneRule::Top { keep: 0.5 })
            .with_warmup(8)
            .with_every(4);
        let at: Vec<usize> = (0..30).filter(|&s| p.is_checkpoint(s)).collect();
        assert_eq!(at, vec![8, 12, 16, 20, 24, 28]);
        let h = PrunePolicy::new(PruneRule::Halve { reject: 0.5 }).with_warmup(8);
        let at: Vec<usize> = (0..100).filter(|&s| h.is_checkpoint(s)).collect();
        assert_eq!(at, vec![8, 16, 32, 64]);
    }

    #[test]
    fn top_keeps_the_best_fraction_and_min_keep() {
        let p = PrunePolicy::new(PruneRule::Top { keep: 0.5 })
            .with_warmup(1)
            .with_min_keep(1);
        let mut pr = Pruner::new(p);
        assert_eq!(pr.checkpoint(1, &view(&[0.0, 3.0, -1.0, 2.0])), vec![0, 2]);
        // Not a checkpoint before the warm-up.
        let mut pr = Pruner::new(p.with_warmup(5));
        assert!(pr.checkpoint(1, &view(&[0.0, 3.0])).is_empty());
        // min_keep counts finished candidates and caps the cut, dropping the worst first.
        let mut v = view(&[0.0, 3.0, -1.0, 2.0]);
        v[1].sampling = false;
        let mut pr = Pruner::new(p.with_min_keep(3));
        assert_eq!(pr.checkpoint(1, &v), vec![2]);
    }

    #[test]
    fn margin_compares_with_the_best_so_far_including_finished() {
        let p = PrunePolicy::new(PruneRule::Margin { margin: 1.0 })
            .with_warmup(1)
            .with_min_keep(1);
        let mut v = view(&[0.5, 3.0, 2.5, f64::NEG_INFINITY]);
        v[1].sampling = false; // finished, best
        assert_eq!(Pruner::new(p).checkpoint(1, &v), vec![0, 3]);
    }

    #[test]
    fn calibrated_threshold_is_fixed_at_the_first_checkpoint() {
        let p = PrunePolicy::new(PruneRule::Calibrated { quantile: 0.5 })
            .with_warmup(2)
            .with_every(2)
            .with_min_keep(1);
        let mut pr = Pruner::new(p);
        // Median of 1, 2, 3, 4 = 2.5: candidates 0 and 1 go.
        assert_eq!(pr.checkpoint(2, &view(&[1.0, 2.0, 3.0, 4.0])), vec![0, 1]);
        // Later, the same threshold: 3 has fallen below it.
        let mut v = view(&[1.0, 2.0, 2.0, 4.0]);
        v[0].pruned = true;
        v[0].sampling = false;
        v[1].pruned = true;
        v[1].sampling = false;
        assert_eq!(pr.checkpoint(4, &v), vec![2]);
    }

    #[test]
    fn halve_rejects_the_lowest_fraction() {
        let p = PrunePolicy::new(PruneRule::Halve { reject: 0.5 })
            .with_warmup(4)
            .with_min_keep(1);
        let mut pr = Pruner::new(p);
        assert_eq!(
            pr.checkpoint(4, &view(&[4.0, 1.0, 3.0, 2.0, 0.0])),
            vec![1, 4]
        );
        assert!(pr.checkpoint(6, &view(&[4.0, 1.0])).is_empty());
    }

    #[test]
    fn a_vote_is_decided_only_when_it_cannot_be_overtaken() {
        assert!(vote_decided(&[3.0, 1.0], 1, 1.0));
        assert!(!vote_decided(&[3.0, 1.0], 2, 1.0));
        assert!(!vote_decided(&[], 0, 1.0));
        assert!(vote_decided(&[1.0], 0, 1.0));
        assert!(!vote_decided(&[2.0, 2.0], 0, 1.0));
    }
}
