//! A steerable generation: the prompt is decoded once, then each [`Session::step`] advances every
//! live candidate by one token in one batched decode; [`Session::stop`] ends a candidate early,
//! so later steps batch only the survivors.
//!
//! 1. [`Engine::start`] decodes the prompt as sequence 0 (capture off, logits only on its last
//!    token), copies it to sequences 1..N-1 (unified KV cache: metadata only) and samples every
//!    candidate's first token from the prompt's last logits.
//! 2. Each step puts one token per live candidate into one batch (every entry an output) and
//!    decodes it; the captured rows of that batch are the feature vectors of the tokens it fed.
//! 3. Covered tokens (see [`EosRule`]): every sampled token is fed once; its feature row comes
//!    from the step that feeds it. A candidate that sampled its end-of-generation token, or its
//!    last allowed token, is fed that token once more (without sampling) when features are
//!    requested and the rule covers it.
//!
//! Candidates never influence each other (own sampler and seed, own KV sequence; batched rows
//! equal one-at-a-time rows), so stopping one changes nothing about the others' tokens.

use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use serde::Serialize;

use super::context::{kv_per_sequence, CapturingContext, ContextShape, TapSpec};
use super::ffi::{Batch, Sampler};
use super::generate::{decode_err, default_threads, first_stop, make_sampler, MAX_BATCH};
use super::logits::LogitStats;
use super::{
    Candidate, Engine, EngineError, FinishReason, GenerateOptions, Generation, GenerationTiming,
};
use crate::capture::{BackendDecision, CaptureBackend, CapturePlan};
use crate::features::{EosRule, FeatureLayout, FeatureSink, FeatureSource};
use crate::prompt::PromptInput;

/// Something that happened to one candidate during a step.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum CandidateEvent {
    /// A token was sampled. `text` is the new text it completes: valid UTF-8 only, without
    /// anything from a stop string on, and holding back a tail that could still begin one, so
    /// that the concatenated deltas are exactly the text a client may show.
    Token {
        /// Candidate index.
        candidate: usize,
        /// Token id.
        token: i32,
        /// New text (may be empty).
        text: String,
    },
    /// The candidate's text is complete (its last covered row may still be fed next step), or it
    /// was stopped.
    Finished {
        /// Candidate index.
        candidate: usize,
        /// Why.
        reason: FinishReason,
    },
}

/// What one [`Session::step`] did.
#[derive(Debug, Clone, Default, Serialize)]
pub struct StepReport {
    /// Decode steps after the prompt so far.
    pub step: usize,
    /// Candidates fed in this step.
    pub live: usize,
    /// Tokens fed so far, all candidates.
    pub fed_tokens: usize,
    /// Tokens sampled and candidates finished, in candidate order.
    pub events: Vec<CandidateEvent>,
    /// Nothing is left to decode: call [`Session::finish`].
    pub done: bool,
}

struct Live {
    sampler: Sampler,
    /// Token to feed on the next step.
    pending: Option<i32>,
    /// Sample after feeding `pending`.
    sample_after: bool,
    fed: usize,
    /// Text so far as bytes (token pieces).
    text: Vec<u8>,
    /// Bytes of `text` already reported in [`CandidateEvent::Token`] deltas.
    emitted: usize,
}

/// A generation in progress. See the module docs.
pub struct Session<'e, 's, S: FeatureSink + ?Sized = dyn FeatureSink> {
    engine: &'e Engine,
    cc: CapturingContext<'e>,
    sink: &'s mut S,
    opts: GenerateOptions,
    layout: Option<FeatureLayout>,
    decision: BackendDecision,
    capture_hidden: bool,
    want_features: bool,
    np: usize,
    max_new: usize,
    cands: Vec<Candidate>,
    live: Vec<Live>,
    batch: Batch,
    rows: Vec<usize>,
    steps: usize,
    fed_tokens: usize,
    prefill: Duration,
    started: Instant,
    /// Events of the first sampling (in `start`), reported by the first step.
    pending_events: Vec<CandidateEvent>,
}

impl<S: FeatureSink + ?Sized> std::fmt::Debug for Session<'_, '_, S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Session")
            .field("n", &self.cands.len())
            .field("steps", &self.steps)
            .field("fed_tokens", &self.fed_tokens)
            .finish_non_exhaustive()
    }
}

impl Engine {
    /// Starts a generation of `opts.n` candidates for `prompt` (a [`crate::prompt::Prompt`],
    /// whose format's stop strings are merged with `opts.stop`, or plain templated text),
    /// delivering the features of every covered token to `sink`. The prompt is decoded and the
    /// first tokens sampled before this returns.
    pub fn start<'e, 's, P: PromptInput + ?Sized, S: FeatureSink + ?Sized>(
        &'e self,
        prompt: &P,
        opts: &GenerateOptions,
        sink: &'s mut S,
    ) -> Result<Session<'e, 's, S>, EngineError> {
        opts.validate()?;
        let opts = opts
            .clone()
            .with_extra_stop(prompt.prompt_stop().iter().cloned());
        let layout = self.feature_layout(&opts.features)?;
        let prompt_ids = self.tokenize(prompt.prompt_text())?;
        let np = prompt_ids.len();
        if np == 0 {
            return Err(EngineError::EmptyPrompt);
        }
        let n = opts.n;
        let per_seq = opts.ctx_per_seq.unwrap_or(self.info.n_ctx_train).max(1) as usize;
        if np >= per_seq {
            return Err(EngineError::PromptTooLong {
                tokens: np,
                limit: per_seq,
            });
        }
        let max_new = opts.max_tokens.min(per_seq - np);
        if max_new < opts.max_tokens {
            tracing::warn!(
                "max tokens lowered from {} to {max_new}: the prompt has {np} tokens and the context holds {per_seq}",
                opts.max_tokens
            );
        }
        let n_batch = MAX_BATCH.max(n as u32);
        let n_ubatch = opts.n_ubatch.unwrap_or(n_batch).min(n_batch);
        let kv_per_sequence = kv_per_sequence(n, np, max_new);
        let cells = if kv_per_sequence {
            // Each stream holds the prompt and its own candidate; llama.cpp splits n_ctx evenly.
            n * (np + max_new + 1).div_ceil(256) * 256
        } else {
            (np + n * (max_new + 1)).div_ceil(256) * 256
        };
        let shape = ContextShape {
            n_ctx: u32::try_from(cells).map_err(|_| EngineError::InvalidOption {
                name: "max_tokens",
                value: opts.max_tokens.to_string(),
                reason: "context too large".into(),
            })?,
            n_batch,
            n_ubatch,
            n_seq: n as u32,
            n_threads: opts.n_threads.unwrap_or_else(default_threads),
            embeddings: false,
            kv_per_sequence,
        };
        let decision = self.capture_backend(opts.capture, &opts.features);
        if decision.fell_back {
            tracing::warn!("capture: {}", decision.reason);
        }
        let tap = match (&layout, decision.backend) {
            (
                Some(FeatureLayout {
                    source: FeatureSource::Hidden { selection, .. },
                }),
                CaptureBackend::LayerInput,
            ) => TapSpec::LayerInput(selection.clone()),
            (
                Some(FeatureLayout {
                    source: FeatureSource::Hidden { selection, n_embd },
                }),
                _,
            ) => TapSpec::Callback(CapturePlan::new(selection, *n_embd as usize)),
            _ => TapSpec::None,
        };
        let capture_hidden = !matches!(tap, TapSpec::None);
        let want_features = layout.is_some();
        let mut cc = CapturingContext::new(self, shape, tap)?;

        // 1. Prompt, capture off (no callback requests, no layer-input outputs).
        let t0 = Instant::now();
        let mut batch = Batch::new(n_batch as usize, 1);
        let mut last_row = 0i32;
        for (ci, chunk) in prompt_ids.chunks(n_batch as usize).enumerate() {
            batch.clear();
            let base = ci * n_batch as usize;
            for (j, &tok) in chunk.iter().enumerate() {
                let is_last = base + j + 1 == np;
                batch
                    .add(tok, (base + j) as i32, &[0], is_last)
                    .map_err(|e| decode_err(0, e))?;
            }
            cc.decode(&batch, None, 0)?;
            last_row = chunk.len() as i32 - 1;
        }
        for s in 1..n {
            cc.ctx_mut().seq_copy(0, s as i32);
        }
        let prefill = t0.elapsed();

        // 2. First tokens, sampled from the prompt's last logits.
        let started = Instant::now();
        let cands: Vec<Candidate> = (0..n)
            .map(|c| Candidate {
                index: c,
                seed: opts.seed_of(c),
                tokens: Vec::new(),
                text: String::new(),
                token_logprobs: Vec::new(),
                token_entropy: Vec::new(),
                token_self_certainty: Vec::new(),
                finish: FinishReason::Length,
                n_covered: 0,
                n_fed: 0,
            })
            .collect();
        let live: Vec<Live> = cands
            .iter()
            .map(|c| Live {
                sampler: make_sampler(&opts, c.seed),
                pending: None,
                sample_after: false,
                fed: 0,
                text: Vec::new(),
                emitted: 0,
            })
            .collect();
        if let Some(l) = &layout {
            sink.begin(l, n).map_err(EngineError::Sink)?;
        }
        let mut session = Session {
            engine: self,
            cc,
            sink,
            opts,
            layout,
            decision,
            capture_hidden,
            want_features,
            np,
            max_new,
            cands,
            live,
            batch,
            rows: Vec::with_capacity(n),
            steps: 0,
            fed_tokens: 0,
            prefill,
            started,
            pending_events: Vec::new(),
        };
        let mut events = Vec::new();
        let stats = LogitStats::new(session.cc.ctx().logits_ith(last_row));
        for c in 0..n {
            session.sample(c, last_row, &stats, &mut events);
        }
        session.pending_events = events;
        Ok(session)
    }
}

impl<S: FeatureSink + ?Sized> Session<'_, '_, S> {
    /// Number of candidates (N).
    pub fn n_candidates(&self) -> usize {
        self.cands.len()
    }

    /// Candidate `c` so far: tokens, log-probs, covered rows. Its `text` is filled in by
    /// [`finish`](Self::finish); [`text_so_far`](Self::text_so_far) has the text now.
    pub fn candidate(&self, c: usize) -> &Candidate {
        &self.cands[c]
    }

    /// The feature sink (e.g. a streaming scorer, for running scores between steps).
    pub fn sink(&self) -> &S {
        self.sink
    }

    /// Whether candidate `c` is done: its text is complete and nothing is left to feed.
    pub fn is_complete(&self, c: usize) -> bool {
        !self.live[c].sample_after && self.live[c].pending.is_none()
    }

    /// Whether candidate `c` is still sampling new tokens (neither finished nor stopped).
    pub fn is_sampling(&self, c: usize) -> bool {
        self.live[c].sample_after
    }

    /// Candidates still sampling.
    pub fn n_sampling(&self) -> usize {
        self.live.iter().filter(|l| l.sample_after).count()
    }

    /// Decode steps after the prompt so far.
    pub fn steps(&self) -> usize {
        self.steps
    }

    /// Tokens fed so far (all candidates).
    pub fn fed_tokens(&self) -> usize {
        self.fed_tokens
    }

    /// Prompt length in tokens.
    pub fn prompt_tokens(&self) -> usize {
        self.np
    }

    /// The text of candidate `c` so far (lossy at an incomplete UTF-8 tail), cut before a stop
    /// string.
    pub fn text_so_far(&self, c: usize) -> String {
        let t = &self.live[c].text;
        let end = first_stop(t, &self.opts.stop).unwrap_or(t.len());
        String::from_utf8_lossy(&t[..end]).into_owned()
    }

    /// The options in force (the prompt's stop strings merged in).
    pub fn options(&self) -> &GenerateOptions {
        &self.opts
    }

    /// Layout of the features delivered to the sink, if any.
    pub fn layout(&self) -> Option<&FeatureLayout> {
        self.layout.as_ref()
    }

    /// The capture backend in use, and why.
    pub fn capture_backend(&self) -> &BackendDecision {
        &self.decision
    }

    /// Ends candidate `c` now with `reason` (normally [`FinishReason::Pruned`]): later steps no
    /// longer feed it, so they batch only the survivors, whose tokens and rows stay exactly those
    /// of the unpruned run (its KV cells are released with the session, see the comment inside).
    /// Returns false, changing nothing, when `c` is not
    /// sampling any more (its text is already complete, or it was stopped before).
    pub fn stop(&mut self, c: usize, reason: FinishReason) -> Result<bool, EngineError> {
        let Some(l) = self.live.get_mut(c) else {
            return Err(EngineError::InvalidOption {
                name: "candidate",
                value: c.to_string(),
                reason: format!("there are {} candidates", self.cands.len()),
            });
        };
        if !l.sample_after {
            return Ok(false);
        }
        l.pending = None;
        l.sample_after = false;
        self.cands[c].finish = reason;
        // Its KV cells are deliberately kept until the session ends. Freed cells are reused at
        // once by the survivors' next tokens (llama.cpp moves the cache head back to the first
        // free cell), which puts a survivor's keys out of position order and changes its
        // attention sums in the last bits: measured, a survivor then sampled other tokens
        // within three steps. Keeping them costs nothing a session could use (the context is
        // sized for all N up front) and keeps every survivor bit-identical to the unpruned run;
        // the saving, a smaller batch every later step, is unchanged.
        self.pending_events.push(CandidateEvent::Finished {
            candidate: c,
            reason,
        });
        Ok(true)
    }

    /// Advances every live candidate by one token: one batched decode, the covered rows to the
    /// sink, then sampling. With nothing left to feed it decodes nothing and reports `done`.
    pub fn step(&mut self) -> Result<StepReport, EngineError> {
        if self
            .opts
            .cancel
            .as_ref()
            .is_some_and(|c| c.load(Ordering::Relaxed))
        {
            return Err(EngineError::Cancelled);
        }
        let mut events = std::mem::take(&mut self.pending_events);
        self.batch.clear();
        self.rows.clear();
        for (c, l) in self.live.iter_mut().enumerate() {
            if let Some(tok) = l.pending {
                self.batch
                    .add(tok, (self.np + l.fed) as i32, &[c as i32], true)
                    .map_err(|e| decode_err(self.steps + 1, e))?;
                l.fed += 1;
                self.rows.push(c);
            }
        }
        if self.rows.is_empty() {
            return Ok(StepReport {
                step: self.steps,
                live: 0,
                fed_tokens: self.fed_tokens,
                events,
                done: true,
            });
        }
        self.steps += 1;
        self.fed_tokens += self.rows.len();
        let n_rows = self.rows.len();
        self.cc.decode(
            &self.batch,
            self.capture_hidden.then_some(n_rows),
            self.steps,
        )?;
        if self.want_features {
            if self.capture_hidden {
                // Hidden states go to the sink as per-state segments read in place (callback
                // buffers or llama.cpp's layer-input buffers): a scorer computes its dot
                // products there, a store copies only what it keeps.
                let step = self.cc.segments(n_rows)?;
                let mut segs = Vec::with_capacity(step.len());
                for i in 0..n_rows {
                    let c = self.rows[i];
                    let pos = self.cands[c].n_covered;
                    step.row(i, &mut segs);
                    self.sink
                        .token_segments(c, pos, &segs)
                        .map_err(EngineError::Sink)?;
                    self.cands[c].n_covered += 1;
                }
            } else {
                for i in 0..n_rows {
                    let c = self.rows[i];
                    let pos = self.cands[c].n_covered;
                    self.sink
                        .token(c, pos, self.cc.ctx().logits_ith(i as i32))
                        .map_err(EngineError::Sink)?;
                    self.cands[c].n_covered += 1;
                }
            }
        }
        for i in 0..n_rows {
            let c = self.rows[i];
            self.live[c].pending = None;
            if !self.live[c].sample_after {
                continue;
            }
            let stats = LogitStats::new(self.cc.ctx().logits_ith(i as i32));
            self.sample(c, i as i32, &stats, &mut events);
        }
        Ok(StepReport {
            step: self.steps,
            live: n_rows,
            fed_tokens: self.fed_tokens,
            events,
            done: false,
        })
    }

    /// Ends the session: candidates still sampling are stopped as [`FinishReason::Pruned`],
    /// complete ones get their last covered token fed, the sink is closed, and every candidate's
    /// text is decoded (cut before a stop string).
    pub fn finish(mut self) -> Result<Generation, EngineError> {
        for c in 0..self.cands.len() {
            self.stop(c, FinishReason::Pruned)?;
        }
        while !self.step()?.done {}
        if self.layout.is_some() {
            self.sink.end().map_err(EngineError::Sink)?;
        }
        let engine = self.engine;
        for (c, l) in self.cands.iter_mut().zip(&self.live) {
            c.n_fed = l.fed;
        }
        for c in &mut self.cands {
            let body: &[i32] = match c.finish {
                FinishReason::Eos => &c.tokens[..c.tokens.len() - 1],
                FinishReason::Length | FinishReason::Stop | FinishReason::Pruned => &c.tokens,
            };
            c.text = engine.detokenize(body);
            if matches!(c.finish, FinishReason::Stop | FinishReason::Pruned) {
                if let Some(at) = first_stop(c.text.as_bytes(), &self.opts.stop) {
                    c.text.truncate(at);
                }
            }
        }
        Ok(Generation {
            candidates: self.cands,
            prompt_tokens: self.np,
            layout: self.layout,
            capture: self.decision,
            timing: GenerationTiming {
                prefill: self.prefill,
                generate: self.started.elapsed(),
                steps: self.steps,
                fed_tokens: self.fed_tokens,
            },
        })
    }

    /// Samples candidate `c` from batch row `row`, records the token and decides what it feeds
    /// next.
    fn sample(&mut self, c: usize, row: i32, stats: &LogitStats, events: &mut Vec<CandidateEvent>) {
        let tok = self.live[c].sampler.sample(self.cc.ctx(), row);
        let logit = self.cc.ctx().logits_ith(row)[tok as usize];
        let engine = self.engine;
        let opts = &self.opts;
        let cand = &mut self.cands[c];
        let live = &mut self.live[c];
        cand.tokens.push(tok);
        cand.token_logprobs.push(stats.logprob(logit) as f32);
        cand.token_entropy.push(stats.entropy as f32);
        cand.token_self_certainty.push(stats.self_certainty as f32);
        let eog = engine.is_eog(tok);
        let piece_from = live.text.len();
        if !eog {
            engine.piece_into(tok, &mut live.text);
        }
        let stop_at = if eog || opts.stop.is_empty() {
            None
        } else {
            // Only a string ending inside the new piece can be new.
            let longest = opts.stop.iter().map(String::len).max().unwrap_or(0);
            let from = piece_from.saturating_sub(longest);
            first_stop(&live.text[from..], &opts.stop).map(|at| from + at)
        };
        let finish = if eog {
            Some(FinishReason::Eos)
        } else if stop_at.is_some() {
            Some(FinishReason::Stop)
        } else if cand.tokens.len() >= self.max_new {
            Some(FinishReason::Length)
        } else {
            None
        };
        match finish {
            Some(reason) => {
                cand.finish = reason;
                let feed = match reason {
                    FinishReason::Length => self.want_features,
                    _ => self.want_features && opts.eos == EosRule::Include,
                };
                live.pending = feed.then_some(tok);
                live.sample_after = false;
            }
            None => {
                live.pending = Some(tok);
                live.sample_after = true;
            }
        }
        // The text delta a client may show now.
        let end = match (finish, stop_at) {
            (Some(_), Some(at)) => at,
            (Some(_), None) => live.text.len(),
            (None, _) => {
                let hold = stop_prefix_len(&live.text, &opts.stop);
                utf8_end(&live.text[..live.text.len() - hold])
            }
        };
        let delta = if end > live.emitted {
            let d = String::from_utf8_lossy(&live.text[live.emitted..end]).into_owned();
            live.emitted = end;
            d
        } else {
            String::new()
        };
        events.push(CandidateEvent::Token {
            candidate: c,
            token: tok,
            text: delta,
        });
        if let Some(reason) = finish {
            events.push(CandidateEvent::Finished {
                candidate: c,
                reason,
            });
        }
    }
}

/// Length of the longest tail of `text` that is a proper prefix of one of `stops` (text that
/// may still turn into a stop string, so it is not shown yet).
fn stop_prefix_len(text: &[u8], stops: &[String]) -> usize {
    let mut hold = 0;
    for s in stops {
        let s = s.as_bytes();
        for k in (hold + 1..s.len()).rev() {
            if k <= text.len() && text.ends_with(&s[..k]) {
                hold = k;
                break;
            }
        }
    }
    hold
}

/// End of the longest prefix of `bytes` that is complete UTF-8 (an incomplete multi-byte
/// character at the end waits for the next token).
fn utf8_end(bytes: &[u8]) -> usize {
    match std::str::from_utf8(bytes) {
        Ok(_) => bytes.len(),
        Err(e) if e.error_len().is_none() => e.valid_up_to(),
        // Invalid bytes in the middle: show them (lossily) rather than stall the stream.
        Err(_) => bytes.len(),
    }
}

#[cfg(test)]
mod tests {
    use super::{stop_prefix_len, utf8_end};

    #[test]
    fn a_possible_stop_string_start_is_held_back() {
        let stops = vec!["\nQuestion:".to_string()];
        assert_eq!(stop_prefix_len(b"7.\nQue", &stops), 4);
        assert_eq!(stop_prefix_len(b"7.\n", &stops), 1);
        assert_eq!(stop_prefix_len(b"7.", &stops), 0);
        assert_eq!(stop_prefix_len(b"", &stops), 0);
        assert_eq!(stop_prefix_len(b"abc", &[]), 0);
    }

    #[test]
    fn incomplete_utf8_waits() {
        let e = "é".as_bytes();
        assert_eq!(utf8_end(b"ab"), 2);
        assert_eq!(utf8_end(&[b'a', e[0]]), 1);
        assert_eq!(utf8_end(&[b'a', e[0], e[1]]), 3);
    }
}
