//! Prompt types, free of llama.cpp: chat messages, the template choice, the two prompt formats,
//! few-shot examples, and the completion format's text.
//!
//! The engine renders these into model text ([`crate::engine::Engine::prepare_prompt`], which
//! returns a [`Prompt`]: the text together with everything its format implies); tasks build
//! messages from them without importing the engine.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// Who speaks a chat message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Instructions for the assistant.
    System,
    /// The person asking.
    User,
    /// The model.
    Assistant,
}

impl Role {
    /// The name chat templates use.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::System => "system",
            Self::User => "user",
            Self::Assistant => "assistant",
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Role {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "system" | "developer" => Ok(Self::System),
            "user" => Ok(Self::User),
            "assistant" => Ok(Self::Assistant),
            other => Err(format!(
                "unknown role {other:?} (expected system, developer, user or assistant)"
            )),
        }
    }
}

impl PartialEq<&str> for Role {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == *other
    }
}

/// One chat message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChatMessage {
    /// Who speaks.
    pub role: Role,
    /// Text.
    pub content: String,
}

impl ChatMessage {
    /// A message.
    pub fn new(role: Role, content: impl Into<String>) -> Self {
        Self {
            role,
            content: content.into(),
        }
    }
    /// A user message.
    pub fn user(content: impl Into<String>) -> Self {
        Self::new(Role::User, content)
    }
    /// An assistant message.
    pub fn assistant(content: impl Into<String>) -> Self {
        Self::new(Role::Assistant, content)
    }
    /// A system message.
    pub fn system(content: impl Into<String>) -> Self {
        Self::new(Role::System, content)
    }
}

/// How the question is turned into the model's prompt text.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TemplateChoice {
    /// The GGUF's own chat template; if it has none, the model is taken for a base model and
    /// gets the [`TemplateChoice::Completion`] format.
    #[default]
    Auto,
    /// A llama.cpp built-in template by name (`chatml`, `gemma`, `llama3`, ...).
    Named(String),
    /// Plain-text question/answer format for base (not instruction-tuned) models: the system
    /// message, then `Question: …` / `Answer: …` pairs (few-shot examples), ending with
    /// `Answer:`. Generation stops at [`COMPLETION_STOP`].
    Completion,
    /// No template: the text is used as it is.
    Raw,
}

impl FromStr for TemplateChoice {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "auto" => Ok(Self::Auto),
            "raw" | "none" => Ok(Self::Raw),
            "completion" => Ok(Self::Completion),
            "" => Err("empty template name".into()),
            name => Ok(Self::Named(name.to_string())),
        }
    }
}

impl fmt::Display for TemplateChoice {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Auto => f.write_str("auto"),
            Self::Named(n) => f.write_str(n),
            Self::Completion => f.write_str("completion"),
            Self::Raw => f.write_str("raw"),
        }
    }
}

/// Where a [`TemplateChoice::Completion`] answer ends: the model starting the next question.
pub const COMPLETION_STOP: &str = "\nQuestion:";

/// Whether a prompt is a chat conversation or plain-text completion; decides whether tasks add
/// few-shot examples (see [`prompt_messages`]) and which stop strings apply.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PromptFormat {
    /// A chat template: instruction-tuned models, zero-shot.
    Chat,
    /// Completion text: base models, few-shot.
    Completion,
}

impl PromptFormat {
    /// Stop strings the format implies: [`COMPLETION_STOP`] for the completion format.
    pub fn stop_strings(self) -> Vec<String> {
        match self {
            Self::Completion => vec![COMPLETION_STOP.to_string()],
            Self::Chat => Vec::new(),
        }
    }
}

/// A worked example for few-shot prompts.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Example {
    /// The question, as a problem's question reads.
    pub question: String,
    /// A short worked answer ending the way the task's instruction asks.
    pub answer: String,
}

/// A prompt ready for generation: the rendered text and everything its format implies.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Prompt {
    /// Model text (special tokens are parsed when it is tokenised).
    pub text: String,
    /// Stop strings of the format; generation merges them with the caller's own.
    pub stop: Vec<String>,
    /// The format the template choice resolved to.
    pub format: PromptFormat,
    /// Which template rendered it, in words (for logs and `doctor`).
    pub template: String,
}

impl Prompt {
    /// Text used as it is, with no stop strings (what [`crate::engine::Engine::generate`] takes).
    pub fn raw(text: impl Into<String>) -> Self {
        Self {
            text: text.into(),
            stop: Vec::new(),
            format: PromptFormat::Chat,
            template: "none (raw text)".into(),
        }
    }
}

/// Anything generation accepts as a prompt: a [`Prompt`] (its stop strings apply), or plain
/// text (no stop strings beyond the options' own).
pub trait PromptInput {
    /// The model text.
    fn prompt_text(&self) -> &str;
    /// Stop strings the prompt's format implies.
    fn prompt_stop(&self) -> &[String] {
        &[]
    }
}

impl PromptInput for Prompt {
    fn prompt_text(&self) -> &str {
        &self.text
    }
    fn prompt_stop(&self) -> &[String] {
        &self.stop
    }
}

impl PromptInput for str {
    fn prompt_text(&self) -> &str {
        self
    }
}

impl PromptInput for String {
    fn prompt_text(&self) -> &str {
        self
    }
}

/// The chat messages for one question, the same way for collection, evaluation and `ask`:
/// - [`PromptFormat::Chat`]: one user message, the instruction, a blank line, the question
///   (zero-shot);
/// - [`PromptFormat::Completion`] (base models): the instruction as a system paragraph, then the
///   worked examples as question/answer turns, then the question.
pub fn prompt_messages(
    instruction: Option<&str>,
    examples: &[Example],
    question: &str,
    format: PromptFormat,
) -> Vec<ChatMessage> {
    conversation_messages(
        instruction,
        examples,
        &[ChatMessage::user(question)],
        format,
    )
}

/// [`prompt_messages`] for a whole conversation (a server's `messages`): in the chat format the
/// instruction goes before the text of the last user message (as for a single question); in the
/// completion format it becomes the first system paragraph, then the worked examples, then the
/// conversation's turns.
pub fn conversation_messages(
    instruction: Option<&str>,
    examples: &[Example],
    conversation: &[ChatMessage],
    format: PromptFormat,
) -> Vec<ChatMessage> {
    match format {
        PromptFormat::Chat => {
            let mut m = conversation.to_vec();
            if let Some(i) = instruction {
                if let Some(last) = m.iter_mut().rev().find(|m| m.role == Role::User) {
                    last.content = format!("{i}\n\n{}", last.content);
                }
            }
            m
        }
        PromptFormat::Completion => {
            let mut m = Vec::with_capacity(1 + 2 * examples.len() + conversation.len());
            if let Some(i) = instruction {
                m.push(ChatMessage::system(i));
            }
            for e in examples {
                m.push(ChatMessage::user(&e.question));
                m.push(ChatMessage::assistant(&e.answer));
            }
            m.extend_from_slice(conversation);
            m
        }
    }
}

/// The completion format: system messages as paragraphs, user turns as `Question: …`, assistant
/// turns as `Answer: …` followed by a blank line, and a final `Answer:` for the model to continue.
pub fn render_completion(messages: &[ChatMessage]) -> String {
    let mut s = String::new();
    for m in messages {
        match m.role {
            Role::User => {
                s.push_str("Question: ");
                s.push_str(m.content.trim());
                s.push('\n');
            }
            Role::Assistant => {
                s.push_str("Answer: ");
                s.push_str(m.content.trim());
                s.push_str("\n\n");
            }
            Role::System => {
                s.push_str(m.content.trim());
                s.push_str("\n\n");
            }
        }
    }
    s.push_str("Answer:");
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn completion_format_lays_out_few_shot_turns() {
        let msgs = [
            ChatMessage::system("Solve it."),
            ChatMessage::user("What is 1 + 1?"),
            ChatMessage::assistant("1 + 1 = 2. The answer is 2."),
            ChatMessage::user(" What is 2 + 5?\n"),
        ];
        assert_eq!(
            render_completion(&msgs),
            "Solve it.\n\nQuestion: What is 1 + 1?\nAnswer: 1 + 1 = 2. The answer is 2.\n\n\
             Question: What is 2 + 5?\nAnswer:"
        );
        // The stop string is what a model continuing the pattern writes after its answer.
        let next = "Question: What is 2 + 5?\nAnswer: 7.\n\nQuestion:";
        assert!(next.contains(COMPLETION_STOP));
        assert_eq!(
            PromptFormat::Completion.stop_strings(),
            vec![COMPLETION_STOP]
        );
        assert!(PromptFormat::Chat.stop_strings().is_empty());
    }

    #[test]
    fn template_names_round_trip() {
        for name in ["auto", "completion", "raw", "chatml", "gemma"] {
            let t: TemplateChoice = name.parse().unwrap();
            assert_eq!(t.to_string(), name);
        }
        assert!("".parse::<TemplateChoice>().is_err());
    }

    #[test]
    fn roles_parse_and_refuse_unknown_names() {
        assert_eq!("user".parse::<Role>(), Ok(Role::User));
        assert_eq!("developer".parse::<Role>(), Ok(Role::System));
        let err = "tool".parse::<Role>().unwrap_err();
        assert!(err.contains("\"tool\""), "{err}");
        let m: ChatMessage = serde_json::from_str(r#"{"role":"assistant","content":"x"}"#).unwrap();
        assert_eq!(m, ChatMessage::assistant("x"));
        assert!(serde_json::from_str::<ChatMessage>(r#"{"role":"robot","content":"x"}"#).is_err());
    }

    #[test]
    fn the_instruction_goes_before_the_last_user_turn_in_chat() {
        let conv = [
            ChatMessage::system("Be brief."),
            ChatMessage::user("Hi"),
            ChatMessage::assistant("Hello"),
            ChatMessage::user("What is 2 + 2?"),
        ];
        let m = conversation_messages(Some("Solve it."), &[], &conv, PromptFormat::Chat);
        assert_eq!(m[3].content, "Solve it.\n\nWhat is 2 + 2?");
        assert_eq!(m[1].content, "Hi");
        // A single question is the same as prompt_messages.
        assert_eq!(
            prompt_messages(Some("I"), &[], "Q", PromptFormat::Chat),
            vec![ChatMessage::user("I\n\nQ")]
        );
        let shots = [Example {
            question: "1+1?".into(),
            answer: "2".into(),
        }];
        let c = conversation_messages(Some("I"), &shots, &conv[3..], PromptFormat::Completion);
        assert_eq!(c.len(), 4);
        assert_eq!(c[0], ChatMessage::system("I"));
        assert_eq!(c[3], ChatMessage::user("What is 2 + 2?"));
    }
}
