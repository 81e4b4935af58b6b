//! GSM8K: grade-school word problems; the reference is the number after the last `####`.

use super::error::TaskError;
use super::number::span_number;
use super::source::{load_problems, FileSpec};
use super::Problem;

/// The instruction placed before each question unless the spec replaces it.
pub const DEFAULT_INSTRUCTION: &str =
    "Solve the problem step by step. Put the final answer, a single number, in \\boxed{}.";

/// The canonical number after the last `####` of a GSM8K answer (`#### 1,000` -> `1000`), or
/// `None` when there is no `####` or no number after it.
pub fn reference_number(answer: &str) -> Option<String> {
    let (_, tail) = answer.rsplit_once("####")?;
    span_number(tail)
}

/// Reads GSM8K-format problems (`{"question", "answer"}` a line) selected by `spec`. Ids are
/// `gsm8k-<file stem>-<record index>`.
pub fn load(spec: &FileSpec) -> Result<Vec<Problem>, TaskError> {
    load_problems(spec, "gsm8k", |record| {
        let question = record.string("question")?;
        let answer = record.string("answer")?;
        let Some((_, tail)) = answer.rsplit_once("####") else {
            return Err(TaskError::NoAnswerMarker {
                path: record.path.to_path_buf(),
                line: record.line,
            });
        };
        let reference = span_number(tail)
            .ok_or_else(|| record.bad_reference(tail.trim(), "no number after `####`"))?;
        Ok((question.to_string(), reference))
    })
}
