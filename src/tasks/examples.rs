//! Worked examples for questions that no generated task drew: the few-shot part of a base
//! model's completion prompt when the question comes from a file, a user or a server client.
//! Without examples a base model given `Question: ...` / `Answer:` has no pattern to follow (no
//! "The answer is", no stop before the next question).
//!
//! They answer in the [`super::Worked::Line`] style: the computation in one line, then "The
//! answer is". Measured on Gemma-3-270M, examples that work a problem out in steps made it get
//! far fewer answers right (see [`super::Worked`]); the generated tasks can ask for steps with
//! `worked=steps`.

use super::{AnswerKind, ArithmeticSpec, CoinflipSpec, Example};

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
            assert_eq!(shots.len(), super::super::FEW_SHOT, "{kind:?}");
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
