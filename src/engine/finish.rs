//! Why a candidate stopped: decided by the engine, recorded in collections.

use serde::{Deserialize, Serialize};

/// Why a candidate stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FinishReason {
    /// The model produced an end-of-generation token.
    Eos,
    /// The token limit was reached.
    Length,
    /// The text reached a stop string (see `GenerateOptions::stop`).
    Stop,
    /// The caller stopped it early ([`crate::engine::Session::stop`]), e.g. a pruning policy
    /// judged it weak; its text is partial.
    Pruned,
}

impl FinishReason {
    /// Whether the candidate ended by itself (not stopped by the caller).
    pub fn is_natural(self) -> bool {
        !matches!(self, Self::Pruned)
    }

    /// The name used in files and JSON.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Eos => "eos",
            Self::Length => "length",
            Self::Stop => "stop",
            Self::Pruned => "pruned",
        }
    }
}

impl std::fmt::Display for FinishReason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}
