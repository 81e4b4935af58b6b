//! Best-of-N as one library type: sample N candidates in one batched decode, score them inline
//! with a SWIFT head, optionally prune weak ones early, and return the chosen answer with every
//! candidate's record.
//!
//! ```no_run
//! use swift_bon::bon::BestOfN;
//! use swift_bon::engine::Engine;
//! use swift_bon::head::Head;
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let engine = Engine::load("models/SmolLM2-135M-Instruct.Q8_0.gguf")?;
//! let head = Head::load("models/smollm2-135m-general")?;
//! let bon = BestOfN::new(engine).with_head(head)?;
//! let answer = bon.ask("What is 47 + 38?")?;
//! println!("{} ({:?})", answer.text, answer.answer);
//! # Ok(()) }
//! ```
//!
//! [`BestOfN::run`] takes a whole [`Request`] (a conversation, per-request sampling options,
//! selection and pruning) and reports [`Event`]s while it works, for callers that show progress
//! or stream text (the server streams the chosen candidate, or the sole survivor of pruning).

use std::fmt;
use std::str::FromStr;
use std::time::Instant;

use serde::Serialize;

use crate::engine::{
    CandidateEvent, Engine, EngineError, FeatureRequest, FinishReason, GenerateOptions, Session,
};
use crate::features::{FeatureLayout, FeatureSink, FeatureSource, SinkError, StateSpec};
use crate::head::{Head, HeadError, SoftVoteCalibration, StreamingScorer};
use crate::prompt::{ChatMessage, Example, TemplateChoice};
use crate::prune::{vote_decided, CandidateView, PrunePolicy, Pruner};
use crate::select::{self, sigmoid, Pool, Selector};
use crate::tasks::{AnswerKind, TaskSpec};

/// Errors of a Best-of-N run.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BonError {
    /// The engine failed (bad options, prompt too long, decode error, cancelled, ...).
    #[error(transparent)]
    Engine(#[from] EngineError),
    /// The head does not fit the model.
    #[error(transparent)]
    Head(#[from] HeadError),
    /// The selection needs a head and none was given.
    #[error("selection {0} needs a SWIFT head; give one, or choose majority or logprob")]
    NeedsHead(Selection),
    /// The request is not usable.
    #[error("invalid request: {0}")]
    InvalidRequest(String),
}

/// How the answer is chosen.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Selection {
    /// The default with a head: a soft vote over the head's score and the mean log-prob whose
    /// two sharpnesses were calibrated on the head's validation problems
    /// ([`crate::select::soft_vote_plus`], [`crate::head::SoftVoteCalibration`]). Where the
    /// scores barely differ it is the majority vote; where they stand apart, they decide. A
    /// head without a calibration falls back to `swift-vote`.
    Auto,
    /// Highest SWIFT score.
    Swift,
    /// Vote over extracted answers, each candidate weighted by sigmoid(SWIFT score).
    SwiftVote,
    /// Most frequent extracted answer (self-consistency); needs no head.
    Majority,
    /// Highest mean token log-probability; needs no head.
    Logprob,
}

impl Selection {
    /// Every selection's name.
    pub const NAMES: [&'static str; 5] = ["auto", "swift", "swift-vote", "majority", "logprob"];

    /// Whether it reads SWIFT scores.
    pub fn needs_head(self) -> bool {
        matches!(self, Self::Auto | Self::Swift | Self::SwiftVote)
    }

    /// The name on the command line and in JSON.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Auto => "auto",
            Self::Swift => "swift",
            Self::SwiftVote => "swift-vote",
            Self::Majority => "majority",
            Self::Logprob => "logprob",
        }
    }
}

impl fmt::Display for Selection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Selection {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "auto" => Ok(Self::Auto),
            "swift" => Ok(Self::Swift),
            "swift-vote" => Ok(Self::SwiftVote),
            "majority" => Ok(Self::Majority),
            "logprob" => Ok(Self::Logprob),
            other => Err(format!(
                "unknown selection {other:?} (expected one of {})",
                Self::NAMES.join(", ")
            )),
        }
    }
}

/// How a question is asked and its answers read: what the head was trained with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PromptPolicy {
    /// Instruction placed before the question.
    pub instruction: Option<String>,
    /// Instructions for questions of one answer kind, replacing [`Self::instruction`] for them
    /// (a general head trained on families asked each their own way). See
    /// [`Self::instruction_for`].
    pub instruction_by_kind: std::collections::BTreeMap<AnswerKind, String>,
    /// Worked examples (the completion format for base models uses them).
    pub examples: Vec<Example>,
    /// How final answers are read from candidate text.
    pub answer_kind: AnswerKind,
    /// Read the answer kind from each question's form instead
    /// ([`AnswerKind::for_question`]): set for a head trained on several task families.
    pub answer_kind_from_question: bool,
    /// Template choice.
    pub template: TemplateChoice,
    /// The task family, when known (for reports).
    pub task: Option<String>,
}

impl Default for PromptPolicy {
    fn default() -> Self {
        Self::for_head(None, None)
    }
}

impl PromptPolicy {
    /// The instruction for a question of answer kind `kind`: its own, else the general one.
    pub fn instruction_for(&self, kind: AnswerKind) -> Option<&str> {
        self.instruction_by_kind
            .get(&kind)
            .or(self.instruction.as_ref())
            .map(String::as_str)
    }

    /// The policy a head implies: its instruction, and its training task's answer kind and
    /// worked examples; without a head, `task`'s (with its default parameters); else plain
    /// questions with numeric answers and the general worked examples
    /// ([`crate::tasks::worked_examples`]).
    pub fn for_head(head: Option<&Head>, task: Option<&TaskSpec>) -> Self {
        let head_task: Option<TaskSpec> = head
            .and_then(|h| h.spec().training.as_ref())
            .and_then(|t| t.task.as_deref())
            .and_then(|t| t.parse().ok());
        let spec = head_task.as_ref().or(task);
        let general = head.and_then(crate::heads::trained_task) == Some(crate::heads::GENERAL_TASK);
        Self {
            answer_kind_from_question: general && task.is_none(),
            instruction: head
                .and_then(|h| h.spec().instruction.clone())
                .or_else(|| spec.map(|t| t.instruction().to_string())),
            instruction_by_kind: head
                .map(|h| h.spec().instruction_by_kind.clone())
                .unwrap_or_default(),
            examples: spec.map_or_else(|| crate::tasks::worked_examples(None), TaskSpec::examples),
            answer_kind: spec.map_or(AnswerKind::Number, TaskSpec::answer_kind),
            template: TemplateChoice::Auto,
            task: spec.map(|t| t.name().to_string()),
        }
    }
}

/// Early stop of the whole question: when the finished candidates' vote can no longer be
/// overtaken by the candidates still sampling (each can add at most one vote, or a weight of at
/// most 1 with swift-vote), the others are stopped. It changes no answer of a vote selection.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum EarlyStop {
    /// Never.
    #[default]
    Off,
    /// When the vote is decided (majority and swift-vote selections only).
    Decided,
}

/// One question to answer.
#[derive(Debug, Clone)]
pub struct Request {
    /// The conversation; the last user message is the question.
    pub conversation: Vec<ChatMessage>,
    /// Sampling options (N, token limit, temperature, seed, stop strings, cancel flag...). The
    /// features to capture and the EOS rule are set from the head.
    pub options: GenerateOptions,
    /// How the answer is chosen.
    pub selection: Selection,
    /// Early pruning, if any.
    pub prune: Option<PrunePolicy>,
    /// Early stop of the whole question.
    pub early_stop: EarlyStop,
}

/// What happens while a question is answered.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum Event {
    /// A decode step finished.
    Step {
        /// Steps so far.
        step: usize,
        /// Candidates fed in it.
        live: usize,
        /// Candidates still sampling.
        sampling: usize,
        /// Tokens fed so far.
        fed_tokens: usize,
    },
    /// New text of a candidate (see [`CandidateEvent::Token`]).
    Text {
        /// Candidate.
        candidate: usize,
        /// The delta.
        text: String,
    },
    /// A candidate's text is complete.
    Finished {
        /// Candidate.
        candidate: usize,
        /// Why.
        reason: FinishReason,
    },
    /// A candidate was pruned.
    Pruned {
        /// Candidate.
        candidate: usize,
        /// After this step.
        step: usize,
        /// Its running score then.
        score: f64,
    },
    /// The vote was decided: the candidates still sampling were stopped.
    EarlyStop {
        /// After this step.
        step: usize,
        /// Candidates stopped.
        stopped: usize,
    },
    /// The answer was chosen.
    Chosen {
        /// Candidate.
        candidate: usize,
    },
}

/// One candidate of an [`Answer`].
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CandidateReport {
    /// Index (sampling order).
    pub index: usize,
    /// Text (partial when pruned).
    pub text: String,
    /// Extracted final answer.
    pub answer: Option<String>,
    /// SWIFT score (running score when pruned); `None` without a head.
    pub swift_score: Option<f64>,
    /// Generated tokens.
    pub tokens: usize,
    /// Tokens fed to the model (its decode cost).
    pub decoded_tokens: usize,
    /// Mean token log-probability.
    pub mean_logprob: f64,
    /// Why it stopped.
    pub finish: FinishReason,
    /// Stopped early (by pruning or early stop): not eligible.
    pub pruned: bool,
    /// Whether it was chosen.
    pub chosen: bool,
    /// Generated token ids (for per-token log-probabilities; not in JSON).
    #[serde(skip)]
    pub token_ids: Vec<i32>,
    /// Log-probability of each generated token (not in JSON).
    #[serde(skip)]
    pub token_logprobs: Vec<f32>,
}

/// Wall-clock split of a run.
#[derive(Debug, Clone, Copy, Default, Serialize)]
pub struct AnswerTiming {
    /// Prompt preparation and decode (s).
    pub prefill_s: f64,
    /// Generation steps (s).
    pub generate_s: f64,
    /// Everything (s).
    pub total_s: f64,
    /// Decode steps.
    pub steps: usize,
}

/// The result of a Best-of-N run.
#[derive(Debug, Clone, Serialize)]
pub struct Answer {
    /// The chosen candidate's text.
    pub text: String,
    /// Its extracted final answer.
    pub answer: Option<String>,
    /// Its index.
    pub chosen: usize,
    /// How it was chosen.
    pub selection: Selection,
    /// Every candidate.
    pub candidates: Vec<CandidateReport>,
    /// Prompt tokens.
    pub prompt_tokens: usize,
    /// Tokens generated, all candidates.
    pub generated_tokens: usize,
    /// Tokens fed to the model after the prompt, all candidates (the decode work).
    pub decoded_tokens: usize,
    /// The pruning policy, if any.
    pub prune: Option<String>,
    /// Whether the vote was decided early.
    pub early_stopped: bool,
    /// Seed.
    pub seed: u64,
    /// Timing.
    pub timing: AnswerTiming,
}

impl Answer {
    /// Candidates that were pruned or stopped early.
    pub fn n_pruned(&self) -> usize {
        self.candidates.iter().filter(|c| c.pruned).count()
    }
}

/// Best-of-N with an engine, an optional SWIFT head, a prompt policy, a selection and a pruning
/// policy. See the module docs.
#[derive(Debug)]
pub struct BestOfN {
    engine: Engine,
    head: Option<Head>,
    policy: PromptPolicy,
    options: GenerateOptions,
    selection: Selection,
    prune: Option<PrunePolicy>,
    early_stop: EarlyStop,
}

impl BestOfN {
    /// Best-of-N without a head (majority vote), default sampling (N = 8, 256 tokens).
    pub fn new(engine: Engine) -> Self {
        Self {
            engine,
            head: None,
            policy: PromptPolicy::default(),
            options: GenerateOptions::new(8).with_max_tokens(256),
            selection: Selection::Majority,
            prune: None,
            early_stop: EarlyStop::Off,
        }
    }

    /// Uses `head` (checked against the model: shapes must fit; a fingerprint mismatch is
    /// accepted, see [`BestOfN::with_head_checked`]); selects by SWIFT score and asks the way
    /// the head was trained.
    pub fn with_head(self, head: Head) -> Result<Self, BonError> {
        Ok(self.with_head_checked(head, false)?.0)
    }

    /// Drops the head: majority vote, and the default prompt policy (a server switching between
    /// heads and plain voting on one engine).
    #[must_use]
    pub fn without_head(mut self) -> Self {
        self.head = None;
        self.policy = PromptPolicy::default();
        self.selection = Selection::Majority;
        self
    }

    /// [`BestOfN::with_head`], refusing a fingerprint mismatch when `strict`, and returning the
    /// mismatch warning otherwise.
    pub fn with_head_checked(
        mut self,
        head: Head,
        strict: bool,
    ) -> Result<(Self, Option<String>), BonError> {
        let warning = head.check_model(&self.engine.info().identity(), strict)?;
        self.policy = PromptPolicy::for_head(Some(&head), None);
        self.selection = Selection::Auto;
        self.head = Some(head);
        Ok((self, warning))
    }

    /// Prompt policy (instruction, examples, answer kind, template).
    #[must_use]
    pub fn with_policy(mut self, policy: PromptPolicy) -> Self {
        self.policy = policy;
        self
    }

    /// Default sampling options of requests.
    #[must_use]
    pub fn with_options(mut self, options: GenerateOptions) -> Self {
        self.options = options;
        self
    }

    /// Default selection.
    #[must_use]
    pub fn with_selection(mut self, selection: Selection) -> Self {
        self.selection = selection;
        self
    }

    /// Default pruning policy.
    #[must_use]
    pub fn with_prune(mut self, prune: Option<PrunePolicy>) -> Self {
        self.prune = prune;
        self
    }

    /// Default early stop.
    #[must_use]
    pub fn with_early_stop(mut self, early_stop: EarlyStop) -> Self {
        self.early_stop = early_stop;
        self
    }

    /// The engine.
    pub fn engine(&self) -> &Engine {
        &self.engine
    }

    /// The head, if any.
    pub fn head(&self) -> Option<&Head> {
        self.head.as_ref()
    }

    /// The prompt policy.
    pub fn policy(&self) -> &PromptPolicy {
        &self.policy
    }

    /// Default sampling options.
    pub fn options(&self) -> &GenerateOptions {
        &self.options
    }

    /// A request for one question with this instance's defaults.
    pub fn request(&self, question: &str) -> Request {
        self.request_for(vec![ChatMessage::user(question)])
    }

    /// A request for a conversation with this instance's defaults.
    pub fn request_for(&self, conversation: Vec<ChatMessage>) -> Request {
        Request {
            conversation,
            options: self.options.clone(),
            selection: self.selection,
            prune: self.prune,
            early_stop: self.early_stop,
        }
    }

    /// Answers one question with the defaults.
    pub fn ask(&self, question: &str) -> Result<Answer, BonError> {
        self.run(&self.request(question), &mut |_| {})
    }

    /// Answers `request`, reporting progress to `on_event`.
    pub fn run(
        &self,
        request: &Request,
        on_event: &mut dyn FnMut(&Event),
    ) -> Result<Answer, BonError> {
        let t0 = Instant::now();
        if request.selection.needs_head() && self.head.is_none() {
            return Err(BonError::NeedsHead(request.selection));
        }
        let Some(last) = request.conversation.last() else {
            return Err(BonError::InvalidRequest("the conversation is empty".into()));
        };
        if last.content.trim().is_empty() {
            return Err(BonError::InvalidRequest(
                "the question is empty (or only white space)".into(),
            ));
        }
        let kind = if self.policy.answer_kind_from_question {
            AnswerKind::for_question(&last.content)
        } else {
            self.policy.answer_kind
        };
        let prompt = self.engine.prepare_prompt(
            self.policy.instruction_for(kind),
            &self.policy.examples,
            &request.conversation,
            &self.policy.template,
        )?;
        // A general head may have weights of its own for this kind of question.
        let head = self.head.as_ref().map(|h| h.for_kind(kind));
        let head = head.as_deref();
        let mut opts = request.options.clone();
        match head {
            Some(h) => {
                opts = opts.with_features(head_features(h)).with_eos(h.spec().eos);
            }
            None => opts = opts.with_features(FeatureRequest::None),
        }
        let driven = drive(&self.engine, head, kind, &prompt, &opts, request, on_event)?;
        let prefill = driven.prefill + (t0.elapsed() - driven.elapsed);
        let (generation, scores, pruned, early_stopped) = (
            driven.generation,
            driven.scores,
            driven.pruned,
            driven.early_stopped,
        );
        let n = generation.candidates.len();
        let answers: Vec<Option<String>> = generation
            .candidates
            .iter()
            .map(|c| kind.extract(&c.text))
            .collect();
        let logprob: Vec<f64> = generation
            .candidates
            .iter()
            .map(|c| c.mean_logprob())
            .collect();
        let swift = scores.clone().unwrap_or_else(|| vec![f64::NAN; n]);
        let calibration = head.and_then(|h| h.soft_vote_for(kind));
        let chosen = choose(
            request.selection,
            &answers,
            &logprob,
            &swift,
            &pruned,
            calibration,
        )?;
        on_event(&Event::Chosen { candidate: chosen });
        let candidates: Vec<CandidateReport> = generation
            .candidates
            .iter()
            .enumerate()
            .map(|(i, c)| CandidateReport {
                index: i,
                text: c.text.clone(),
                answer: answers[i].clone(),
                swift_score: scores.as_ref().map(|s| s[i]),
                tokens: c.tokens.len(),
                decoded_tokens: c.n_fed,
                mean_logprob: logprob[i],
                finish: c.finish,
                pruned: pruned[i],
                chosen: i == chosen,
                token_ids: c.tokens.clone(),
                token_logprobs: c.token_logprobs.clone(),
            })
            .collect();
        Ok(Answer {
            text: generation.candidates[chosen].text.clone(),
            answer: answers[chosen].clone(),
            chosen,
            selection: request.selection,
            generated_tokens: candidates.iter().map(|c| c.tokens).sum(),
            decoded_tokens: generation.timing.fed_tokens,
            candidates,
            prompt_tokens: generation.prompt_tokens,
            prune: request
                .prune
                .filter(|_| self.head.is_some())
                .map(|p| p.to_string()),
            early_stopped,
            seed: opts.seed,
            timing: AnswerTiming {
                prefill_s: prefill.as_secs_f64(),
                generate_s: generation.timing.generate.as_secs_f64(),
                total_s: t0.elapsed().as_secs_f64(),
                steps: generation.timing.steps,
            },
        })
    }
}

/// What [`drive`] returns.
pub(crate) struct Driven {
    pub generation: crate::engine::Generation,
    pub scores: Option<Vec<f64>>,
    pub pruned: Vec<bool>,
    pub early_stopped: bool,
    pub prefill: std::time::Duration,
    pub elapsed: std::time::Duration,
}

/// Runs one generation through a session with inline scoring, pruning and early stop: the one
/// loop that [`BestOfN::run`] and the benchmark share. `opts` already carries the head's
/// features and EOS rule.
#[allow(clippy::needless_range_loop)]
pub(crate) fn drive(
    engine: &Engine,
    head: Option<&Head>,
    kind: AnswerKind,
    prompt: &crate::prompt::Prompt,
    opts: &GenerateOptions,
    request: &Request,
    on_event: &mut dyn FnMut(&Event),
) -> Result<Driven, BonError> {
    let t0 = Instant::now();
    let mut sink = ScoreSink(head.map(StreamingScorer::new));
    let mut session = engine.start(prompt, opts, &mut sink)?;
    let prefill = t0.elapsed();
    let n = session.n_candidates();
    // Pruning reads running SWIFT scores: without a head there is nothing to prune by.
    let mut pruner = request.prune.filter(|_| head.is_some()).map(Pruner::new);
    let mut pruned = vec![false; n];
    let mut early_stopped = false;
    let vote = matches!(
        request.selection,
        Selection::Majority | Selection::SwiftVote
    );
    loop {
        let report = session.step()?;
        for e in &report.events {
            on_event(&match e {
                CandidateEvent::Token {
                    candidate, text, ..
                } => Event::Text {
                    candidate: *candidate,
                    text: text.clone(),
                },
                CandidateEvent::Finished { candidate, reason } => Event::Finished {
                    candidate: *candidate,
                    reason: *reason,
                },
            });
        }
        if report.done {
            break;
        }
        on_event(&Event::Step {
            step: report.step,
            live: report.live,
            sampling: session.n_sampling(),
            fed_tokens: report.fed_tokens,
        });
        if let Some(p) = pruner.as_mut() {
            let views: Vec<CandidateView> = (0..n)
                .map(|c| CandidateView {
                    score: session.sink().score(c),
                    sampling: session.is_sampling(c),
                    pruned: pruned[c],
                })
                .collect();
            for c in p.checkpoint(report.step, &views) {
                if session.stop(c, FinishReason::Pruned)? {
                    pruned[c] = true;
                    on_event(&Event::Pruned {
                        candidate: c,
                        step: report.step,
                        score: views[c].score,
                    });
                }
            }
        }
        if vote && request.early_stop == EarlyStop::Decided && !early_stopped {
            let undecided = (0..n)
                .filter(|&c| !pruned[c] && !session.is_complete(c))
                .count();
            if undecided > 0 {
                let weights = vote_weights(kind, &session, &pruned, request.selection);
                if vote_decided(&weights, undecided, 1.0) {
                    let mut stopped = 0;
                    for c in 0..n {
                        if session.stop(c, FinishReason::Pruned)? {
                            pruned[c] = true;
                            stopped += 1;
                        }
                    }
                    if stopped > 0 {
                        early_stopped = true;
                        on_event(&Event::EarlyStop {
                            step: report.step,
                            stopped,
                        });
                    }
                }
            }
        }
    }
    let scores: Option<Vec<f64>> = session.sink().0.as_ref().map(StreamingScorer::scores);
    let generation = session.finish()?;
    Ok(Driven {
        generation,
        scores,
        pruned,
        early_stopped,
        prefill,
        elapsed: t0.elapsed(),
    })
}

/// Vote weight per answer among the complete, unpruned candidates.
#[allow(clippy::needless_range_loop)]
fn vote_weights(
    kind: AnswerKind,
    session: &Session<'_, '_, ScoreSink>,
    pruned: &[bool],
    selection: Selection,
) -> Vec<f64> {
    let mut by_answer: Vec<(String, f64)> = Vec::new();
    for c in 0..pruned.len() {
        if pruned[c] || !session.is_complete(c) {
            continue;
        }
        let Some(a) = kind.extract(&session.text_so_far(c)) else {
            continue;
        };
        let w = match selection {
            Selection::SwiftVote => sigmoid(session.sink().score(c)),
            _ => 1.0,
        };
        match by_answer.iter_mut().find(|(x, _)| *x == a) {
            Some((_, total)) => *total += w,
            None => by_answer.push((a, w)),
        }
    }
    by_answer.into_iter().map(|(_, w)| w).collect()
}

/// Picks among the eligible (unpruned) candidates; candidates with an extracted answer come
/// first, so a candidate without one is chosen only when no eligible candidate has one.
pub(crate) fn choose(
    selection: Selection,
    answers: &[Option<String>],
    logprob: &[f64],
    swift: &[f64],
    pruned: &[bool],
    soft_vote: Option<&SoftVoteCalibration>,
) -> Result<usize, BonError> {
    let cands: Vec<select::Candidate> = (0..answers.len())
        .map(|i| select::Candidate {
            answer: answers[i].clone(),
            correct: false,
            scores: vec![logprob[i], swift[i]],
        })
        .collect();
    let pool = Pool::new(&cands).map_err(|e| BonError::InvalidRequest(e.to_string()))?;
    // Pruned candidates are never chosen; the selectors themselves prefer answered candidates.
    let eligible: Vec<usize> = (0..answers.len()).filter(|&i| !pruned[i]).collect();
    // Score columns of the pool: mean log-prob, then SWIFT.
    let (lp_col, swift_col) = (0, 1);
    let selector = match selection {
        Selection::Auto => match soft_vote.filter(|c| c.problem().is_none()) {
            Some(c) => c.selector(swift_col, lp_col),
            None => Selector::WeightedVote { score: swift_col },
        },
        Selection::Swift => Selector::Argmax { score: swift_col },
        Selection::SwiftVote => Selector::WeightedVote { score: swift_col },
        Selection::Majority => Selector::Majority,
        Selection::Logprob => Selector::Argmax { score: lp_col },
    };
    // Only `Random` draws from the generator.
    let pick = selector.select(&pool, &eligible, &mut crate::rng::Rng::new(0));
    Ok(pick.or_else(|| eligible.first().copied()).unwrap_or(0))
}

/// What to capture for a head: exactly its states (or logits).
pub fn head_features(head: &Head) -> FeatureRequest {
    match &head.spec().features {
        FeatureSource::Hidden { selection, .. } => {
            FeatureRequest::Hidden(StateSpec::List(selection.states().to_vec()))
        }
        FeatureSource::Logits { .. } => FeatureRequest::Logits,
    }
}

/// The sink of a run: the streaming scorer when there is a head.
#[derive(Debug)]
pub(crate) struct ScoreSink(Option<StreamingScorer>);

impl ScoreSink {
    fn score(&self, c: usize) -> f64 {
        self.0.as_ref().map_or(f64::NAN, |s| s.score(c))
    }
}

impl FeatureSink for ScoreSink {
    fn begin(&mut self, layout: &FeatureLayout, n: usize) -> Result<(), SinkError> {
        match self.0.as_mut() {
            Some(s) => s.begin(layout, n),
            None => Ok(()),
        }
    }
    fn token(&mut self, c: usize, pos: usize, features: &[f32]) -> Result<(), SinkError> {
        match self.0.as_mut() {
            Some(s) => s.token(c, pos, features),
            None => Ok(()),
        }
    }
    fn token_segments(&mut self, c: usize, pos: usize, segs: &[&[f32]]) -> Result<(), SinkError> {
        match self.0.as_mut() {
            Some(s) => s.token_segments(c, pos, segs),
            None => Ok(()),
        }
    }
    fn end(&mut self) -> Result<(), SinkError> {
        match self.0.as_mut() {
            Some(s) => s.end(),
            None => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn a(s: &str) -> Option<String> {
        Some(s.to_string())
    }

    #[test]
    fn pruned_candidates_are_never_chosen() {
        let answers = [a("1"), a("2"), a("3")];
        let swift = [5.0, 1.0, 0.0];
        let lp = [0.0, -1.0, -2.0];
        assert_eq!(
            choose(Selection::Swift, &answers, &lp, &swift, &[false; 3], None).unwrap(),
            0
        );
        assert_eq!(
            choose(
                Selection::Swift,
                &answers,
                &lp,
                &swift,
                &[true, false, false],
                None
            )
            .unwrap(),
            1
        );
        assert_eq!(
            choose(
                Selection::Logprob,
                &answers,
                &lp,
                &swift,
                &[true, false, false],
                None
            )
            .unwrap(),
            1
        );
    }

    #[test]
    fn auto_follows_the_heads_calibration_log_prob_included() {
        // Two candidates say "1" with a poor log-prob, one says "2" with a far better one; the
        // head's scores are flat.
        let answers = [a("1"), a("1"), a("2")];
        let swift = [0.0, 0.0, 0.0];
        let lp = [-2.0, -2.0, -0.1];
        let cal = |beta: f64, logprob: f64| SoftVoteCalibration {
            beta,
            logprob,
            k: 8,
            problems: 10,
            accuracy: 0.5,
            majority: 0.4,
            argmax: 0.4,
        };
        let auto = |c: &SoftVoteCalibration| {
            choose(Selection::Auto, &answers, &lp, &swift, &[false; 3], Some(c)).unwrap()
        };
        assert_eq!(auto(&cal(0.5, 0.0)), 0, "the head alone: majority");
        // exp(4 (-2 + 0.1)) twice against 1 for "2".
        assert_eq!(
            auto(&cal(0.5, 4.0)),
            2,
            "the log-prob outvotes the majority"
        );
        // A calibration no loaded head can carry (hand-made) is not used: swift-vote, no panic.
        assert_eq!(auto(&cal(-1.0, 0.0)), 0);
        assert_eq!(auto(&cal(0.5, f64::NAN)), 0);
    }

    #[test]
    fn a_candidate_without_an_answer_loses_to_one_with_an_answer() {
        let answers = [None, a("2"), None];
        let swift = [9.0, -3.0, 8.0];
        let lp = [0.0, -5.0, -0.1];
        for sel in [
            Selection::Swift,
            Selection::Logprob,
            Selection::SwiftVote,
            Selection::Majority,
        ] {
            assert_eq!(
                choose(sel, &answers, &lp, &swift, &[false; 3], None).unwrap(),
                1,
                "{sel}"
            );
        }
        // Nobody answered: the score decides among everyone.
        let none = [None, None, None];
        assert_eq!(
            choose(Selection::Swift, &none, &lp, &swift, &[false; 3], None).unwrap(),
            0
        );
    }

    #[test]
    fn a_policy_asks_each_answer_kind_its_own_way() {
        let mut spec = crate::head::test_util::spec("0", true, crate::head::Normalization::Rms);
        spec.instruction = Some("Solve it.".into());
        spec.instruction_by_kind =
            std::collections::BTreeMap::from([(AnswerKind::YesNo, "Yes or no.".to_string())]);
        let f = spec.width();
        let head = Head::new(spec, vec![0.0; 2 * f], vec![0.0; 2], None).unwrap();
        let policy = PromptPolicy::for_head(Some(&head), None);
        assert_eq!(
            policy.instruction_for(AnswerKind::YesNo),
            Some("Yes or no.")
        );
        assert_eq!(
            policy.instruction_for(AnswerKind::Number),
            Some("Solve it.")
        );
        // Without a head or task: no instruction, and the general worked examples.
        let plain = PromptPolicy::default();
        assert_eq!(plain.instruction_for(AnswerKind::YesNo), None);
        assert_eq!(plain.examples, crate::tasks::worked_examples(None));
    }

    #[test]
    fn selections_parse() {
        for n in Selection::NAMES {
            assert_eq!(n.parse::<Selection>().unwrap().to_string(), n);
        }
        assert!("best"
            .parse::<Selection>()
            .unwrap_err()
            .contains("swift-vote"));
    }
}
