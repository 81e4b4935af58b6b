//! Worked examples for questions that no generated task drew: the few-shot part of a base
//! model's completion prompt when the question comes from a file, a user or a server client.
//! Without examples a base model given `Question: ...` / `Answer:` has no pattern to follow (no
//! "The answer is", no stop before the next question).
//!
//! They answer in the [`Worked::Line`] style: the computation in one line, then "The answer
//! is". Measured on Gemma-3-270M, examples that work a problem out in steps made it get far
//! fewer answers right (see [`Worked`]); the generated tasks can ask for steps with
//! `worked=steps`. Also here: the [`Worked`] style itself, and how the generated tasks choose
//! their examples.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use super::{AnswerKind, ArithmeticSpec, CoinflipSpec, Example, FEW_SHOT};

/// How a generated task's worked examples answer (the completion format's few-shot part).
///
/// Measured on Gemma-3-270M (base, Q8_0; README "Results"): with `steps` its candidates carry
/// signal a head can read (within-problem AUC 0.70 against 0.48), but it gets far fewer right
/// (arithmetic pass@1 0.04 against 0.08), so Best-of-N with `line` and majority vote still
/// picks more right answers. `line` is the default; a larger base model that can follow steps
/// may do better with `steps`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Worked {
    /// The answer in one line, then "The answer is": `47 + 38 = 85. The answer is 85.`;
    /// CoinFlip: `Yes. The coin was flipped 2 times, an even number, so it is heads up. ...`.
    #[default]
    Line,
    /// The problem worked out in steps before "The answer is": a sum by place value or through
    /// the ten, a CoinFlip problem person by person.
    Steps,
}

impl Worked {
    /// Whether this is the default (`line`), which specs leave out.
    pub fn is_line(&self) -> bool {
        *self == Self::Line
    }

    /// Name in specs: `line` or `steps`.
    pub fn name(self) -> &'static str {
        match self {
            Self::Line => "line",
            Self::Steps => "steps",
        }
    }
}

impl fmt::Display for Worked {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Worked {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_ascii_lowercase().as_str() {
            "line" => Ok(Self::Line),
            "steps" => Ok(Self::Steps),
            other => Err(format!(
                "unknown worked style {other:?} (expected line or steps)"
            )),
        }
    }
}

/// Draws tried when choosing worked examples (see [`pick_examples`]).
const EXAMPLE_DRAWS: usize = 64;

/// [`FEW_SHOT`] worked examples of different shapes: problems `0, 1, ...` of a task drawn with
/// [`super::EXAMPLE_SEED`] (`draw(i)`) are taken, among the first [`EXAMPLE_DRAWS`], when some feature
/// of their `shape` has a value not seen yet; then, if too few were new, the rest in order. So
/// the examples show e.g. a sum and a difference, a one-digit and a two-digit number, not
/// three sums alike.
pub(crate) fn pick_examples<T, K: PartialEq>(
    draw: impl Fn(usize) -> T,
    shape: impl Fn(&T) -> Vec<K>,
) -> Vec<T> {
    let mut picked: Vec<(usize, T)> = Vec::new();
    let mut seen: Vec<Vec<K>> = Vec::new();
    for i in 0..EXAMPLE_DRAWS {
        if picked.len() == FEW_SHOT {
            break;
        }
        let x = draw(i);
        let features = shape(&x);
        let new = features
            .iter()
            .enumerate()
            .any(|(j, k)| seen.get(j).is_none_or(|s| !s.contains(k)));
        if new {
            for (j, k) in features.into_iter().enumerate() {
                if seen.len() <= j {
                    seen.push(Vec::new());
                }
                if !seen[j].contains(&k) {
                    seen[j].push(k);
                }
            }
            picked.push((i, x));
        }
    }
    let mut i = 0;
    while picked.len() < FEW_SHOT && i < EXAMPLE_DRAWS {
        if !picked.iter().any(|(j, _)| *j == i) {
            picked.push((i, draw(i)));
        }
        i += 1;
    }
    picked.sort_by_key(|(i, _)| *i);
    picked.into_iter().map(|(_, x)| x).collect()
}

/// A word problem with addition and subtraction.
fn word_problem_add_sub() -> Example {
    Example {
        question: "Mia has 12 apples. She buys 7 more and then gives 5 to Leo. How many apples \
                   does Mia have now?"
            .into(),
        answer: "12 + 7 - 5 = 14. The answer is 14.".into(),
    }
}

/// A word problem with a product and a difference.
fn word_problem_mul_sub() -> Example {
    Example {
        question: "A box holds 6 rows of 4 eggs. 9 of the eggs break. How many eggs are not \
                   broken?"
            .into(),
        answer: "6 × 4 - 9 = 24 - 9 = 15. The answer is 15.".into(),
    }
}

/// The first worked example of a generated task with its default parameters.
fn first(mut shots: Vec<Example>) -> Option<Example> {
    (!shots.is_empty()).then(|| shots.swap_remove(0))
}

/// Worked examples for a question of answer kind `kind`, or of any kind when `None` (a general
/// head's prompt, or a base model asked without a task):
/// - numbers: two word problems and a sum;
/// - yes/no: CoinFlip problems;
/// - `None`: a word problem, a sum and a CoinFlip problem;
/// - math, choice, exact: none (zero-shot), since no worked example here fits every such
///   question.
pub fn worked_examples(kind: Option<AnswerKind>) -> Vec<Example> {
    let arithmetic = || first(super::arithmetic::examples(&ArithmeticSpec::default()));
    match kind {
        Some(AnswerKind::Number) => [
            Some(word_problem_add_sub()),
            arithmetic(),
            Some(word_problem_mul_sub()),
        ]
        .into_iter()
        .flatten()
        .collect(),
        Some(AnswerKind::YesNo) => super::coinflip::examples(&CoinflipSpec::default()),
        Some(AnswerKind::Math | AnswerKind::Choice | AnswerKind::Exact) => Vec::new(),
        None => [
            Some(word_problem_add_sub()),
            arithmetic(),
            first(super::coinflip::examples(&CoinflipSpec::default())),
        ]
        .into_iter()
        .flatten()
        .collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every example's answer is what the checker of its kind reads from it, and ends with the
    /// answer phrase after some working.
    #[test]
    fn every_example_reasons_and_reads_back() {
        let references = |q: &str| -> &'static str {
            match q {
                q if q.starts_with("Mia has") => "14",
                q if q.starts_with("A box holds") => "15",
                _ => "",
            }
        };
        for kind in [None, Some(AnswerKind::Number), Some(AnswerKind::YesNo)] {
            let shots = worked_examples(kind);
            assert_eq!(shots.len(), FEW_SHOT, "{kind:?}");
            for e in &shots {
                assert!(e.answer.contains("The answer is") || e.answer.contains("the answer is"));
                assert!(e.answer.matches(". ").count() >= 1, "{e:?}");
                let kind_here = AnswerKind::for_question(&e.question);
                let answer = kind_here.extract(&e.answer);
                assert!(answer.is_some(), "{e:?}");
                let r = references(&e.question);
                if !r.is_empty() {
                    assert_eq!(answer.as_deref(), Some(r), "{e:?}");
                }
            }
        }
        assert!(worked_examples(Some(AnswerKind::Math)).is_empty());
    }
}
