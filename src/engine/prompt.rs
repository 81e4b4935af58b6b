//! How a question becomes prompt text: the model's chat template, a llama.cpp built-in one, the
//! completion format for base models (few-shot `Question:`/`Answer:` text with its stop string),
//! or raw text.

use llama_cpp_2::model::{LlamaChatMessage, LlamaChatTemplate};
use serde::{Deserialize, Serialize};

use super::{Engine, EngineError};

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

/// Where a [`TemplateChoice::Completion`] answer ends: the model starting the next question.
pub const COMPLETION_STOP: &str = "\nQuestion:";

/// Whether a prompt is a chat conversation or plain-text completion; decides whether tasks add
/// few-shot examples (see [`crate::tasks::prompt_messages`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PromptFormat {
    /// A chat template: instruction-tuned models, zero-shot.
    Chat,
    /// Completion text: base models, few-shot.
    Completion,
}

impl std::str::FromStr for TemplateChoice {
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

impl std::fmt::Display for TemplateChoice {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Auto => f.write_str("auto"),
            Self::Named(n) => f.write_str(n),
            Self::Completion => f.write_str("completion"),
            Self::Raw => f.write_str("raw"),
        }
    }
}

/// One chat message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChatMessage {
    /// `system`, `user` or `assistant`.
    pub role: String,
    /// Text.
    pub content: String,
}

impl ChatMessage {
    /// A user message.
    pub fn user(content: impl Into<String>) -> Self {
        Self {
            role: "user".into(),
            content: content.into(),
        }
    }

    /// An assistant message.
    pub fn assistant(content: impl Into<String>) -> Self {
        Self {
            role: "assistant".into(),
            content: content.into(),
        }
    }

    /// A system message.
    pub fn system(content: impl Into<String>) -> Self {
        Self {
            role: "system".into(),
            content: content.into(),
        }
    }
}

impl Engine {
    /// The format `choice` resolves to for this model (`Auto` without a chat template in the
    /// GGUF is a base model: completion).
    pub fn prompt_format(&self, choice: &TemplateChoice) -> PromptFormat {
        match choice {
            TemplateChoice::Completion => PromptFormat::Completion,
            TemplateChoice::Auto if !self.info.has_chat_template => PromptFormat::Completion,
            _ => PromptFormat::Chat,
        }
    }

    /// Stop strings that go with `choice`: [`COMPLETION_STOP`] for the completion format.
    pub fn stop_strings(&self, choice: &TemplateChoice) -> Vec<String> {
        match self.prompt_format(choice) {
            PromptFormat::Completion => vec![COMPLETION_STOP.to_string()],
            PromptFormat::Chat => Vec::new(),
        }
    }

    /// Renders chat messages into prompt text, ending with the assistant's turn opener.
    pub fn render_prompt(
        &self,
        messages: &[ChatMessage],
        template: &TemplateChoice,
    ) -> Result<String, EngineError> {
        let tmpl = match template {
            TemplateChoice::Raw => {
                let mut s = String::new();
                for m in messages {
                    s.push_str(&m.content);
                    s.push('\n');
                }
                return Ok(s);
            }
            TemplateChoice::Completion => return Ok(render_completion(messages)),
            TemplateChoice::Named(name) => LlamaChatTemplate::new(name)
                .map_err(|e| EngineError::Template(format!("template name {name:?}: {e}")))?,
            TemplateChoice::Auto => match self.model.chat_template(None) {
                Ok(t) => t,
                Err(_) => return Ok(render_completion(messages)),
            },
        };
        let msgs = messages
            .iter()
            .map(|m| LlamaChatMessage::new(m.role.clone(), m.content.clone()))
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| EngineError::Template(format!("message: {e}")))?;
        self.model
            .apply_chat_template(&tmpl, &msgs, true)
            .map_err(|e| EngineError::Template(format!("{e} (template {template})")))
    }

    /// Describes which template `choice` resolves to for this model.
    pub fn describe_template(&self, choice: &TemplateChoice) -> String {
        match choice {
            TemplateChoice::Auto if self.info.has_chat_template => "the model's own".into(),
            TemplateChoice::Auto => {
                "completion format (the model has no chat template: a base model)".into()
            }
            TemplateChoice::Named(n) => format!("built-in {n}"),
            TemplateChoice::Completion => "completion format".into(),
            TemplateChoice::Raw => "none (raw text)".into(),
        }
    }
}

/// The completion format: system messages as paragraphs, user turns as `Question: …`, assistant
/// turns as `Answer: …` followed by a blank line, and a final `Answer:` for the model to continue.
pub fn render_completion(messages: &[ChatMessage]) -> String {
    let mut s = String::new();
    for m in messages {
        match m.role.as_str() {
            "user" => {
                s.push_str("Question: ");
                s.push_str(m.content.trim());
                s.push('\n');
            }
            "assistant" => {
                s.push_str("Answer: ");
                s.push_str(m.content.trim());
                s.push_str("\n\n");
            }
            _ => {
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
    }

    #[test]
    fn template_names_round_trip() {
        for name in ["auto", "completion", "raw", "chatml", "gemma"] {
            let t: TemplateChoice = name.parse().unwrap();
            assert_eq!(t.to_string(), name);
        }
        assert!("".parse::<TemplateChoice>().is_err());
    }
}
