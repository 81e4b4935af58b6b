//! Any JSONL file of questions and answers, with a declared answer type.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use super::answer::AnswerKind;
use super::error::TaskError;
use super::source::{load_problems, FileSpec};
use super::Problem;

/// A generic JSONL task.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JsonlSpec {
    /// The JSONL file (any path).
    pub path: PathBuf,
    /// How answers are parsed and compared.
    pub answer: AnswerKind,
    /// Field holding the question.
    #[serde(default = "default_question_field")]
    pub question_field: String,
    /// Field holding the reference answer (a string, number, or boolean meaning yes/no).
    #[serde(default = "default_answer_field")]
    pub answer_field: String,
    /// Records to skip first.
    #[serde(default)]
    pub offset: usize,
    /// At most this many records after `offset`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limit: Option<usize>,
    /// Skip (and log) unreadable records instead of failing.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub skip_invalid: bool,
    /// Replaces the default instruction for the answer type.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub instruction: Option<String>,
}

fn default_question_field() -> String {
    "question".to_string()
}

fn default_answer_field() -> String {
    "answer".to_string()
}

impl JsonlSpec {
    /// All records of `path`, fields `question` and `answer`.
    pub fn new(path: impl Into<PathBuf>, answer: AnswerKind) -> Self {
        Self {
            path: path.into(),
            answer,
            question_field: default_question_field(),
            answer_field: default_answer_field(),
            offset: 0,
            limit: None,
            skip_invalid: false,
            instruction: None,
        }
    }

    fn file_spec(&self) -> FileSpec {
        FileSpec {
            path: self.path.clone(),
            offset: self.offset,
            limit: self.limit,
            skip_invalid: self.skip_invalid,
            instruction: None,
        }
    }
}

/// The default instruction for an answer type.
pub fn default_instruction(kind: AnswerKind) -> &'static str {
    match kind {
        AnswerKind::Number => {
            "Solve the problem step by step. Put the final answer, a single number, in \\boxed{}."
        }
        AnswerKind::YesNo => "Answer the question. Start your reply with Yes or No.",
        AnswerKind::Choice => {
            "Answer the multiple-choice question. Put the letter of the correct option in \\boxed{}."
        }
        AnswerKind::Exact | AnswerKind::Math => {
            "Solve the problem step by step. Put the final answer in \\boxed{}."
        }
    }
}

/// Reads the problems selected by `spec`. The reference is kept as written (booleans become
/// `yes`/`no`) and must be an answer of the declared type. Ids are
/// `jsonl-<file stem>-<record index>`.
pub fn load(spec: &JsonlSpec) -> Result<Vec<Problem>, TaskError> {
    load_problems(&spec.file_spec(), "jsonl", |record| {
        let question = record.string(&spec.question_field)?;
        let reference = record.answer_text(&spec.answer_field)?.trim().to_string();
        if spec.answer.normalize(&reference).is_none() {
            return Err(record.bad_reference(&reference, format!("not a {} answer", spec.answer)));
        }
        Ok((question.to_string(), reference))
    })
}
