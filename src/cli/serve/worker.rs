//! The one thread that owns the engine: it loads the model, then answers queued jobs one at a
//! time (llama.cpp's threads spin, so two decodes at once on the same cores slow each other many
//! times over), never on the async runtime's threads.

use std::collections::HashMap;
use std::panic::AssertUnwindSafe;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::mpsc::{Receiver, RecvTimeoutError};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use swift_bon::bon::{Answer, BestOfN, BonError, Event, PromptPolicy, Selection};
use swift_bon::engine::{EngineError, GenerateOptions};
use swift_bon::heads::{FoundHead, HeadCatalog};
use swift_bon::prune::PrunePolicy;
use swift_bon::serve::{self, ApiError, ApiRequest, ModelEntry, TokenLogprob};
use swift_bon::tasks::TaskSpec;
use tokio::sync::mpsc::UnboundedSender;

/// State shared by the worker and the HTTP side.
#[derive(Debug, Default)]
pub struct Shared {
    /// The models, once loaded.
    pub models: OnceLock<Models>,
    /// Why loading failed.
    pub failed: OnceLock<String>,
    /// Jobs waiting in the queue.
    pub queued: AtomicUsize,
    /// Mean milliseconds per job (for Retry-After).
    pub mean_job_ms: AtomicUsize,
    /// Cancel flags of jobs not yet answered, by id.
    pub in_flight: Mutex<HashMap<u64, Arc<AtomicBool>>>,
    /// Set on shutdown: new requests are refused, the worker stops after its job.
    pub stopping: AtomicBool,
}

impl Shared {
    /// Sets every unanswered job's cancel flag.
    pub fn cancel_all(&self) -> usize {
        let map = self.in_flight.lock().unwrap_or_else(|e| e.into_inner());
        for f in map.values() {
            f.store(true, Ordering::Relaxed);
        }
        map.len()
    }
}

/// The model ids the server answers.
#[derive(Debug, Clone)]
pub struct Models {
    /// Entries, the default first.
    pub entries: Vec<ModelEntry>,
    /// The model's short name (`smollm2-135m`), accepted as the default id.
    pub short: String,
    /// The GGUF file.
    pub path: String,
}

impl Models {
    /// The entry for the id a client sent (none or empty, or the model's short name: the default).
    pub fn resolve(&self, id: Option<&str>) -> Result<usize, ApiError> {
        match id {
            None | Some("") => Ok(0),
            Some(m) if m == self.short => Ok(0),
            Some(m) => self.entries.iter().position(|e| e.id == m).ok_or_else(|| {
                ApiError::model_not_found(
                    m,
                    &self
                        .entries
                        .iter()
                        .map(|e| e.id.clone())
                        .collect::<Vec<_>>(),
                )
            }),
        }
    }
}

/// One request for the worker.
pub struct Job {
    /// Request number.
    pub id: u64,
    /// The checked request.
    pub request: ApiRequest,
    /// Index into [`Models::entries`].
    pub model: usize,
    /// Set when the client goes away.
    pub cancel: Arc<AtomicBool>,
    /// Where progress and the result go.
    pub tx: UnboundedSender<JobMsg>,
    /// When the request arrived.
    pub arrived: Instant,
}

/// What the worker reports about a job.
pub enum JobMsg {
    /// Generation started (after the queue).
    Started,
    /// A candidate's text or pruning (streaming only).
    Event(Event),
    /// The result.
    Done(Box<Result<JobResult, ApiError>>),
}

/// A finished job.
pub struct JobResult {
    /// The answer.
    pub answer: Answer,
    /// Token log-probabilities of every candidate, when asked for.
    pub logprobs: Option<Vec<Vec<TokenLogprob>>>,
    /// The head used.
    pub head: Option<String>,
    /// Seconds in the queue.
    pub queued_s: f64,
}

/// Resolves and loads the model (fetching a known one on first use).
pub type Loader = Box<dyn FnOnce() -> anyhow::Result<swift_bon::engine::Engine> + Send>;

/// What the worker is configured with.
pub struct WorkerConfig {
    /// Extra heads given with --head.
    pub heads: Vec<std::path::PathBuf>,
    /// Default sampling options.
    pub options: GenerateOptions,
    /// Template override.
    pub template: swift_bon::prompt::TemplateChoice,
    /// Default pruning (head models only).
    pub prune: Option<PrunePolicy>,
    /// Log each request on stderr.
    pub log: bool,
}

struct Slot {
    head: Option<FoundHead>,
    policy: PromptPolicy,
}

/// Runs the worker: loads, then answers jobs until `shared.stopping` is set and the queue is
/// drained, or every sender is gone.
pub fn run(loader: Loader, config: WorkerConfig, shared: Arc<Shared>, rx: Receiver<Job>) {
    let (bon, slots) = match load(loader, &config, &shared) {
        Ok(x) => x,
        Err(e) => {
            let msg = format!("{e:#}");
            eprintln!("error: loading the model: {msg}");
            let _ = shared.failed.set(msg);
            return;
        }
    };
    let mut bon = Some(bon);
    let mut current = usize::MAX;
    let mut seed_counter: u64 = 0;
    loop {
        let job = match rx.recv_timeout(Duration::from_millis(100)) {
            Ok(job) => job,
            Err(RecvTimeoutError::Timeout) => {
                if shared.stopping.load(Ordering::Relaxed) {
                    break;
                }
                continue;
            }
            Err(RecvTimeoutError::Disconnected) => break,
        };
        shared.queued.fetch_sub(1, Ordering::Relaxed);
        let queued_s = job.arrived.elapsed().as_secs_f64();
        if job.cancel.load(Ordering::Relaxed) || job.tx.is_closed() {
            if config.log {
                eprintln!("request {}: client gone before it started", job.id);
            }
            continue;
        }
        let t0 = Instant::now();
        seed_counter += 1;
        // Reconfigure for the job's model id (head or plain vote) when it changes.
        if current != job.model {
            if let Some(b) = bon.take() {
                let slot = &slots[job.model];
                let b = match &slot.head {
                    Some(h) => match b.with_head_checked(h.head.clone(), false) {
                        Ok((b, _)) => b,
                        Err(e) => {
                            // Checked at load; unreachable in practice. The engine is gone with
                            // `b`: stop serving.
                            let _ = job.tx.send(JobMsg::Done(Box::new(Err(ApiError::internal(
                                format!("head {}: {e}", h.name),
                            )))));
                            let _ = shared.failed.set(e.to_string());
                            break;
                        }
                    },
                    None => b.without_head(),
                };
                bon = Some(b.with_policy(slot.policy.clone()));
                current = job.model;
            }
        }
        let Some(b) = bon.as_ref() else { break };
        if config.log {
            eprintln!(
                "request {}: started after {queued_s:.2}s in the queue",
                job.id
            );
        }
        let _ = job.tx.send(JobMsg::Started);
        let slot = &slots[job.model];
        let result = std::panic::catch_unwind(AssertUnwindSafe(|| {
            answer(b, slot, &config, &job, seed_counter)
        }))
        .unwrap_or_else(|p| {
            let what = p
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| p.downcast_ref::<&str>().map(|s| s.to_string()))
                .unwrap_or_default();
            Err(ApiError::internal(format!("the worker panicked: {what}")))
        });
        let result = result.map(|(answer, logprobs)| JobResult {
            answer,
            logprobs,
            head: slot.head.as_ref().map(|h| h.name.clone()),
            queued_s,
        });
        let secs = t0.elapsed().as_secs_f64();
        let prev = shared.mean_job_ms.load(Ordering::Relaxed) as f64;
        let mean = if prev == 0.0 {
            secs * 1000.0
        } else {
            0.8 * prev + 0.2 * secs * 1000.0
        };
        shared.mean_job_ms.store(mean as usize, Ordering::Relaxed);
        if config.log {
            match &result {
                Ok(r) => eprintln!(
                    "request {}: {} best_of={} n={} prompt={} generated={} decoded={} pruned={} chose={}{} queued={:.2}s run={:.2}s",
                    job.id,
                    slots_id(&shared, job.model),
                    r.answer.candidates.len(),
                    job.request.n,
                    r.answer.prompt_tokens,
                    r.answer.generated_tokens,
                    r.answer.decoded_tokens,
                    r.answer.n_pruned(),
                    r.answer.chosen,
                    r.answer.answer.as_ref().map_or(String::new(), |a| format!(" (answer {a})")),
                    queued_s,
                    secs,
                ),
                Err(e) => eprintln!("request {}: {e} after {secs:.2}s", job.id),
            }
        }
        let _ = job.tx.send(JobMsg::Done(Box::new(result)));
    }
}

fn slots_id(shared: &Shared, i: usize) -> String {
    shared
        .models
        .get()
        .and_then(|m| m.entries.get(i))
        .map_or_else(String::new, |e| e.id.clone())
}

fn load(
    loader: Loader,
    config: &WorkerConfig,
    shared: &Shared,
) -> anyhow::Result<(BestOfN, Vec<Slot>)> {
    let engine = loader()?;
    let identity = engine.info().identity();
    let short = serve::model_short_name(&engine.info().path);
    let catalog = HeadCatalog::for_user();
    let mut heads: Vec<FoundHead> = Vec::new();
    for p in &config.heads {
        let h = catalog
            .explicit(p)
            .map_err(|e| anyhow::anyhow!("--head {}: {e}", p.display()))?;
        if let Some(w) = h
            .head
            .check_model(&identity, false)
            .map_err(|e| anyhow::anyhow!("--head {}: {e}", p.display()))?
        {
            tracing::warn!("{w}");
        }
        heads.push(h);
    }
    for h in catalog.for_model(&identity, None) {
        if !heads.iter().any(|x| x.name == h.name) {
            heads.push(h);
        }
    }
    let mut entries = Vec::new();
    let mut slots = Vec::new();
    for h in heads {
        let mut policy = PromptPolicy::for_head(Some(&h.head), None);
        policy.template = config.template.clone();
        entries.push(ModelEntry {
            id: serve::head_model_id(&short, &h.name),
            head: Some(h.name.clone()),
            task: h.task().map(str::to_string),
            head_origin: Some(h.origin.to_string()),
            selector: Selection::Swift,
        });
        slots.push(Slot {
            head: Some(h),
            policy,
        });
    }
    // Plain majority vote: numeric answers by default.
    let mut policy = PromptPolicy::for_head(None, None::<&TaskSpec>);
    policy.template = config.template.clone();
    entries.push(ModelEntry {
        id: serve::majority_model_id(&short),
        head: None,
        task: None,
        head_origin: None,
        selector: Selection::Majority,
    });
    slots.push(Slot { head: None, policy });
    let path = engine.info().path.display().to_string();
    let bon = BestOfN::new(engine)
        .with_options(config.options.clone())
        .with_prune(config.prune);
    let _ = shared.models.set(Models {
        entries,
        short,
        path,
    });
    Ok((bon, slots))
}

fn bon_error(e: BonError) -> ApiError {
    match e {
        BonError::Engine(EngineError::PromptTooLong { tokens, limit }) => ApiError::context_length(
            format!("the prompt has {tokens} tokens but the model's context holds {limit}; shorten the messages"),
        ),
        BonError::Engine(EngineError::Cancelled) => {
            ApiError::unavailable("cancelled: the client went away or the server is shutting down")
        }
        BonError::Engine(e @ (EngineError::InvalidOption { .. } | EngineError::EmptyPrompt)) => {
            ApiError::invalid_field("messages", e.to_string())
        }
        BonError::InvalidRequest(m) => ApiError::invalid_field("messages", m),
        BonError::NeedsHead(s) => ApiError::invalid_field(
            "swift_bon.select",
            format!("{s} needs a SWIFT head; this model id has none: choose majority or logprob, or a head's model id"),
        ),
        other => ApiError::internal(other.to_string()),
    }
}

type Answered = (Answer, Option<Vec<Vec<TokenLogprob>>>);

fn answer(
    bon: &BestOfN,
    slot: &Slot,
    config: &WorkerConfig,
    job: &Job,
    seed_counter: u64,
) -> Result<Answered, ApiError> {
    let r = &job.request;
    let mut request = bon.request_for(r.conversation.clone());
    let default_selection = if slot.head.is_some() {
        Selection::Swift
    } else {
        Selection::Majority
    };
    request.selection = r.selection.unwrap_or(default_selection);
    let prune = match (r.prune, slot.head.is_some()) {
        (Some(Some(_)), false) => {
            return Err(ApiError::invalid_field(
                "swift_bon.prune",
                "pruning reads SWIFT scores; this model id has no head",
            ))
        }
        (Some(p), true) => p,
        (None, true) => config.prune,
        (_, false) => None,
    };
    // Pruning never leaves fewer candidates than the choices asked for.
    request.prune = prune.map(|p| p.with_min_keep(p.min_keep.max(r.n)));
    let mut o = request
        .options
        .clone()
        .with_n(r.best_of)
        .with_max_tokens(r.max_tokens);
    if let Some(t) = r.temperature {
        o = o.with_temperature(t);
    }
    if let Some(p) = r.top_p {
        o = o.with_top_p(p);
    }
    // Without a seed, a fresh one: the server's --seed and the request count.
    let seed = r.seed.unwrap_or_else(|| {
        swift_bon::engine::candidate_seed(config.options.seed, seed_counter as usize)
    });
    o = o
        .with_seed(seed)
        .with_extra_stop(r.stop.iter().cloned())
        .with_cancel(job.cancel.clone());
    request.options = o;
    let stream = r.stream;
    let tx = &job.tx;
    let cancel = &job.cancel;
    let answer = bon
        .run(&request, &mut |e| {
            match e {
                // The client is gone: stop within this decode step.
                Event::Step { .. } if tx.is_closed() => {
                    cancel.store(true, Ordering::Relaxed);
                }
                Event::Text { .. } | Event::Pruned { .. } if stream => {
                    let _ = tx.send(JobMsg::Event(e.clone()));
                }
                _ => {}
            }
        })
        .map_err(bon_error)?;
    let logprobs = r.logprobs.then(|| {
        answer
            .candidates
            .iter()
            .map(|c| {
                c.token_ids
                    .iter()
                    .zip(&c.token_logprobs)
                    .map(|(&t, &lp)| {
                        let token = bon.engine().detokenize(&[t]);
                        TokenLogprob {
                            bytes: token.as_bytes().to_vec(),
                            token,
                            logprob: lp,
                        }
                    })
                    .collect()
            })
            .collect()
    });
    Ok((answer, logprobs))
}
