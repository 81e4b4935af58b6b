//! MATH (MATH-500): competition problems with LaTeX answers.

use super::error::TaskError;
use super::latex::{boxed_contents, normalize_math};
use super::source::{load_problems, FileSpec};
use super::Problem;

/// The instruction placed before each question unless the spec replaces it.
pub const DEFAULT_INSTRUCTION: &str =
    "Solve the problem step by step. Put the final answer in \\boxed{}.";

/// Reads MATH-format problems selected by `spec`: the question from `problem` (or `question`),
/// the reference from `answer`, or, when a record has no `answer`, from the last `\boxed{}` of
/// its `solution`. The reference is kept as written. Ids are `math-<file stem>-<record index>`.
pub fn load(spec: &FileSpec) -> Result<Vec<Problem>, TaskError> {
    load_problems(spec, "math", |record| {
        let question = if !record.has("problem") && record.has("question") {
            record.string("question")?
        } else {
            record.string("problem")?
        };
        let reference = if !record.has("answer") && record.has("solution") {
            let solution = record.string("solution")?;
            boxed_contents(solution)
                .last()
                .map(|s| s.trim().to_string())
                .ok_or_else(|| {
                    record.bad_reference("", "no `answer` and no \\boxed{} in `solution`")
                })?
        } else {
            record.answer_text("answer")?.trim().to_string()
        };
        if normalize_math(&reference).is_none() {
            return Err(record.bad_reference(&reference, "empty after normalisation"));
        }
        Ok((question.to_string(), reference))
    })
}
