//! Tasks: where problems come from, how the model is asked, and how a candidate's final answer
//! is found and judged.
//!
//! A [`Task`] yields [`Problem`]s (id, question, reference answer), builds the prompt (the
//! task's instruction, a blank line, the question), extracts the final answer from a candidate's
//! text and judges it against the reference. Tasks are built from a [`TaskSpec`], which records
//! exactly which task and options produced a data set:
//!
//! | task | problems | answer kind | default instruction asks for |
//! | --- | --- | --- | --- |
//! | [`arithmetic`] | generated from (seed, index) | number | "The answer is N" |
//! | [`coinflip`] | generated from (seed, index) | yes-no | Yes or No first |
//! | [`gsm8k`] | JSONL `question`/`answer`, number after `####` | number | `\boxed{}` |
//! | [`math`] | JSONL `problem`/`answer` (LaTeX) | math | `\boxed{}` |
//! | [`jsonl`] | JSONL `question`/`answer` | declared | `\boxed{}` (yes-no: Yes or No first) |
//!
//! # Extraction rule (the same for every task)
//!
//! [`AnswerKind::extract`] tries, in order, and uses the first rule that yields an answer of the
//! task's kind:
//! 1. **Boxed.** The content of the *last* `\boxed{...}` (nested braces allowed), `\boxed X`, or
//!    `\fbox{...}`; if it holds no answer of the kind, the one before it, and so on.
//! 2. **Answer phrase.** The text after the *last* "answer is", "answer:", "answer =",
//!    "answer would/will/should/must be" (any case, whole word "answer", markdown `**` allowed
//!    around it; not when followed by "not") or `####` followed by a number (a GSM8K answer
//!    line, not a markdown heading), up to the end of its sentence (a `.`, `!`, `?` or `;`
//!    followed by a space, outside `$...$`) or line; then earlier phrases.
//! 3. **Fallback by kind.**
//!    - number, math: the last number in the whole text;
//!    - yes-no: a reply whose first word is yes/no/true/false; else the last statement that
//!      carries a yes/no signal, among the sentences after the reply's last question (a
//!      restated question and its premises do not count; nor does the premise sentence "A coin
//!      is heads up."); a reply that opens with yes/no but whose first sentence also says
//!      the opposite ("Yes, it is tails up") has no answer;
//!    - choice: a reply that opens with a letter (`B`, `B)`, `(B)`, `B.`); else the last `(B)`
//!      or `B)` in the text;
//!    - exact: the last non-empty line.
//!
//! Within a boxed content or a phrase's sentence, each kind reads:
//! - **number**: the first number; if an operator or `=` follows it (`347 + 128 - 95 = 380`,
//!   `347 + 128 = 475, 475 - 95 = 380`), the number after the last `=` of the span; an
//!   expression without `=` (`5 + 3`) is no answer. A number is an optional sign, digits with optional `,` thousands groups, an
//!   optional decimal part, or a fraction of integers `a/b`; `\frac{a}{b}` of integers, `$`,
//!   `%`, units and trailing periods are tolerated. Values are exact rationals written
//!   canonically (`1,000` -> `1000`, `3.0` -> `3`, `3/4` and `0.75` -> `0.75`, `1/3` -> `1/3`).
//! - **yes-no**: `yes`/`true` or `no`/`false` opening the span, or standing alone in a clause
//!   ("..., so no"), and the coin words `heads` (yes)
//!   and `tails` (no), each flipped by a negation among the four words before it ("not heads
//!   up", "no longer heads up", "isn't tails up"). Disagreeing signals give no answer.
//! - **choice**: the first standalone capital letter A–E (`B`, `(B)`, `B)`, `option B`).
//! - **exact**: the text, trimmed, unquoted, lower-cased, single-spaced, without a final period.
//! - **math**: the boxed content, or the first `$...$` of the phrase's span (else its
//!   sentence), in the normal form of [`AnswerKind::normalize`]: no spacing commands, `\left`,
//!   `\right`, `$`, `%`, degrees, trailing period, `\text{}` units (unwrapped when the answer is
//!   only text), single-letter `x =` prefix; `\dfrac`/`\tfrac` as `\frac`, `\frac12` as
//!   `\frac{1}{2}`; plain numbers (integers with commas, decimals, `a/b`, `\frac{a}{b}`, mixed
//!   `1\frac{4}{5}`), alone or as tuple/interval elements, in the canonical number spelling.
//!   No symbolic algebra: `\frac{1}{\sqrt3}` and `\frac{\sqrt3}{3}` are different answers.
//!
//! Judging ([`AnswerKind::judge`]) normalises the answer and the reference the same way and
//! compares the strings. A candidate with no extractable answer is never correct.

pub mod answer;
pub mod arithmetic;
pub mod coinflip;
pub mod error;
pub mod examples;
pub mod gsm8k;
pub mod jsonl;
mod latex;
pub mod math;
mod number;
pub mod source;
pub mod spec;
mod yesno;

#[cfg(test)]
mod tests;

use std::fmt;

pub use crate::prompt::{prompt_messages, Example};
use crate::prompt::{ChatMessage, PromptFormat};
use serde::{Deserialize, Serialize};

pub use answer::AnswerKind;
pub use arithmetic::{ArithOp, ArithmeticSpec};
pub use coinflip::CoinflipSpec;
pub use error::TaskError;
pub use examples::{worked_examples, Worked};
pub use jsonl::JsonlSpec;
pub use source::FileSpec;
pub use spec::{BuiltTask, SpecDefaults, TaskSpec};

/// One problem of a task.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Problem {
    /// Deterministic identifier: `arith-<seed>-<i>`, `coin-<seed>-<i>`, or
    /// `<task>-<file stem>-<record index>` for files (e.g. `gsm8k-test-0`).
    pub id: String,
    /// The question as shown to the model (after the instruction).
    pub question: String,
    /// The reference answer: a canonical number for arithmetic and GSM8K, `yes`/`no` for
    /// CoinFlip, as written in the file otherwise. Compare with [`Task::judge`].
    pub reference: String,
}

/// Worked examples placed before the question in the completion format.
pub const FEW_SHOT: usize = 3;

/// The seed generated tasks draw their worked examples with. Collections use other seeds (a
/// collection with this seed would see its first problems among the examples).
pub const EXAMPLE_SEED: u64 = 0x005E_ED0F_5107;

/// The outcome of checking one candidate.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Verdict {
    /// The normalised final answer, `None` when the text states none.
    pub answer: Option<String>,
    /// Whether the answer matches the reference.
    pub correct: bool,
}

/// A source of problems with its prompt and answer checker.
pub trait Task: fmt::Debug + Send + Sync {
    /// The spec that produced this task (for manifests).
    fn spec(&self) -> &TaskSpec;

    /// How answers are parsed and compared.
    fn answer_kind(&self) -> AnswerKind;

    /// The instruction placed before every question.
    fn instruction(&self) -> &str;

    /// All problems, in order.
    fn problems(&self) -> &[Problem];

    /// The task's name.
    fn name(&self) -> &'static str {
        self.spec().name()
    }

    /// The user message for `problem`: the instruction, a blank line, the question. The chat
    /// template is the engine's business.
    fn prompt(&self, problem: &Problem) -> String {
        format!("{}\n\n{}", self.instruction(), problem.question)
    }

    /// The messages for `problem` in `format` (see [`prompt_messages`]).
    fn messages(&self, problem: &Problem, format: PromptFormat) -> Vec<ChatMessage> {
        prompt_messages(
            Some(self.instruction()),
            &self.spec().examples(),
            &problem.question,
            format,
        )
    }

    /// The normalised final answer of a candidate's text (see the module docs), if any.
    fn extract(&self, text: &str) -> Option<String> {
        self.answer_kind().extract(text)
    }

    /// Whether `answer` (normalised or not) matches `reference`.
    fn judge(&self, answer: &str, reference: &str) -> bool {
        self.answer_kind().judge(answer, reference)
    }

    /// Extracts and judges a candidate's text for `problem`.
    fn check(&self, problem: &Problem, text: &str) -> Verdict {
        let answer = self.extract(text);
        let correct = answer
            .as_deref()
            .is_some_and(|a| self.judge(a, &problem.reference));
        Verdict { answer, correct }
    }
}

/// An inclusive range of small counts (operands, digits, people).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IntRange {
    /// Smallest value.
    pub min: u32,
    /// Largest value.
    pub max: u32,
}

impl IntRange {
    /// `min..=max`.
    pub const fn new(min: u32, max: u32) -> Self {
        Self { min, max }
    }

    /// Checks `lo <= min <= max <= hi`.
    pub fn check(&self, lo: u32, hi: u32) -> Result<(), String> {
        if self.min > self.max {
            Err(format!("min {} is above max {}", self.min, self.max))
        } else if self.min < lo || self.max > hi {
            Err(format!("{self} is outside {lo}..{hi}"))
        } else {
            Ok(())
        }
    }
}
