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
use std::str::FromStr;

pub use crate::prompt::{prompt_messages, Example};
use crate::prompt::{ChatMessage, PromptFormat};
use serde::{Deserialize, Serialize};

pub use answer::AnswerKind;
pub use arithmetic::{ArithOp, ArithmeticSpec};
pub use coinflip::CoinflipSpec;
pub use error::TaskError;
pub use examples::worked_examples;
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

/// Draws tried when choosing worked examples (see [`pick_examples`]).
const EXAMPLE_DRAWS: usize = 64;

/// [`FEW_SHOT`] worked examples of different shapes: problems `0, 1, ...` of a task drawn with
/// [`EXAMPLE_SEED`] (`draw(i)`) are taken, among the first [`EXAMPLE_DRAWS`], when some feature
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
