//! How a question becomes prompt text: the model's chat template, a llama.cpp built-in one, the
//! completion format for base models (few-shot `Question:`/`Answer:` text with its stop string),
//! or raw text. The types are in [`crate::prompt`] (no llama.cpp there); this file renders them.

use std::ffi::CString;

use super::{ffi, Engine, EngineError};
use crate::prompt::{
    conversation_messages, render_completion, ChatMessage, Example, Prompt, PromptFormat,
    TemplateChoice,
};

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

    /// Stop strings that go with `choice`: [`crate::prompt::COMPLETION_STOP`] for the completion
    /// format.
    pub fn stop_strings(&self, choice: &TemplateChoice) -> Vec<String> {
        self.prompt_format(choice).stop_strings()
    }

    /// Everything a prompt needs in one call: resolves `template` for this model, builds the
    /// messages of `conversation` with the task's `instruction` (and, in the completion format,
    /// its worked `examples`), renders them, and returns the text with the format's stop strings.
    pub fn prepare_prompt(
        &self,
        instruction: Option<&str>,
        examples: &[Example],
        conversation: &[ChatMessage],
        template: &TemplateChoice,
    ) -> Result<Prompt, EngineError> {
        let format = self.prompt_format(template);
        let messages = conversation_messages(instruction, examples, conversation, format);
        let text = self.render_prompt(&messages, template)?;
        Ok(Prompt {
            text,
            stop: format.stop_strings(),
            format,
            template: self.describe_template(template),
        })
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
            TemplateChoice::Named(name) => CString::new(name.as_str())
                .map_err(|e| EngineError::Template(format!("template name {name:?}: {e}")))?,
            TemplateChoice::Auto => match self.model.chat_template() {
                Some(t) => t,
                None => return Ok(render_completion(messages)),
            },
        };
        let msgs = messages
            .iter()
            .map(|m| {
                Ok((
                    CString::new(m.role.as_str())?,
                    CString::new(m.content.as_str())?,
                ))
            })
            .collect::<Result<Vec<_>, std::ffi::NulError>>()
            .map_err(|e| EngineError::Template(format!("message: {e}")))?;
        let bytes = ffi::apply_chat_template(&tmpl, &msgs, true).map_err(|code| {
            EngineError::Template(format!("ffi error {code} (template {template})"))
        })?;
        String::from_utf8(bytes)
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
