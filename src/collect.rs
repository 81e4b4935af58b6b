//! Collection: turn "a model and a task" into labelled candidates with their features on disk.
//!
//! For each problem, in order: render the task's prompt, generate N candidates with inline
//! capture into the feature store, label each candidate with the task's checker, append the N
//! records to `candidates.jsonl` (fsync), then commit the problem's feature rows (fsync). A
//! problem is complete once its rows are committed.
//!
//! Resuming after any interruption (including `kill -9`): the feature store recovers its
//! committed prefix; records of problems whose rows were not committed are cut from
//! `candidates.jsonl`; collection continues at the first problem not in the store. Nothing
//! finished is lost or duplicated. `manifest.yaml` records everything that determines the data;
//! a rerun with different settings into the same folder is refused (except a larger problem
//! count, which extends the collection: problem i depends only on the task seed and i).

use std::fs::{File, OpenOptions};
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use crate::dataset::store::{FeatureWriter, StoreError, StoreOptions};
use crate::dataset::CandidateRecord;
use crate::engine::{Engine, EngineError, GenerateOptions, TemplateChoice};
use crate::features::{EosRule, FeatureLayout};
use crate::head::ModelIdentity;
use crate::rng::Rng;
use crate::tasks::{Task, TaskError, TaskSpec};

/// Name of the records file in a collection folder.
pub const RECORDS_FILE: &str = "candidates.jsonl";
/// Name of the manifest in a collection folder.
pub const MANIFEST_FILE: &str = "manifest.yaml";
/// Manifest format version.
pub const MANIFEST_VERSION: u32 = 1;

/// Errors of a collection.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CollectError {
    /// The folder holds a collection made with other settings.
    #[error("{path} was made with other settings ({differences}); use another --out folder, or the same settings to resume")]
    ManifestMismatch {
        /// The manifest.
        path: PathBuf,
        /// What differs, `field: existing -> requested`.
        differences: String,
    },
    /// The manifest cannot be read.
    #[error("{path}: {detail}")]
    BadManifest {
        /// The manifest.
        path: PathBuf,
        /// What is wrong.
        detail: String,
    },
    /// `candidates.jsonl` is inconsistent with the feature store.
    #[error("{path} line {line}: {detail}")]
    BadRecords {
        /// The file.
        path: PathBuf,
        /// 1-based line.
        line: usize,
        /// What is wrong.
        detail: String,
    },
    /// Task error.
    #[error(transparent)]
    Task(#[from] TaskError),
    /// Engine error.
    #[error(transparent)]
    Engine(#[from] EngineError),
    /// Store error.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// Other I/O.
    #[error("cannot access {path}")]
    Io {
        /// File.
        path: PathBuf,
        /// Error.
        source: std::io::Error,
    },
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> CollectError + '_ {
    move |source| CollectError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// Sampling settings of a collection.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SamplingStamp {
    /// Candidates per problem.
    pub n: usize,
    /// Token limit.
    pub max_tokens: usize,
    /// Temperature.
    pub temperature: f32,
    /// Top-k.
    pub top_k: i32,
    /// Top-p.
    pub top_p: f32,
    /// Base seed: problem p's candidates use seeds derived from (seed, p).
    pub seed: u64,
}

/// Everything that determines a collection's content.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Manifest {
    /// Format version.
    pub format_version: u32,
    /// Model the candidates were sampled from.
    pub model: ModelIdentity,
    /// Its file name (informational).
    pub model_file: String,
    /// Task, as its spec.
    pub task: TaskSpec,
    /// Task spec in its short text form (informational).
    pub task_text: String,
    /// Instruction placed before each question.
    pub instruction: String,
    /// Chat template choice.
    pub template: TemplateChoice,
    /// Stop strings (the completion format's, for base models; empty for chat templates).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub stop: Vec<String>,
    /// Feature layout (states, width).
    pub features: FeatureLayout,
    /// Which tokens carry features.
    pub eos_rule: EosRule,
    /// Sampling.
    pub sampling: SamplingStamp,
    /// Per-token entropy and self-certainty are kept in the records.
    pub entropy: bool,
    /// swift-bon version that created the collection (informational).
    pub created_by: String,
}

impl Manifest {
    /// Fields that differ between `self` (on disk) and `other` (requested), ignoring the problem
    /// count and informational fields.
    pub fn differences(&self, other: &Manifest) -> Vec<String> {
        let mut d = Vec::new();
        let mut cmp = |name: &str, a: String, b: String| {
            if a != b {
                d.push(format!("{name}: {a} -> {b}"));
            }
        };
        cmp(
            "model",
            self.model.fingerprint.clone(),
            other.model.fingerprint.clone(),
        );
        cmp(
            "task",
            task_without_count(&self.task),
            task_without_count(&other.task),
        );
        cmp(
            "instruction",
            self.instruction.clone(),
            other.instruction.clone(),
        );
        cmp(
            "template",
            self.template.to_string(),
            other.template.to_string(),
        );
        cmp(
            "stop",
            format!("{:?}", self.stop),
            format!("{:?}", other.stop),
        );
        cmp("features", yaml(&self.features), yaml(&other.features));
        cmp(
            "eos_rule",
            self.eos_rule.to_string(),
            other.eos_rule.to_string(),
        );
        cmp("sampling", yaml(&self.sampling), yaml(&other.sampling));
        cmp(
            "entropy",
            self.entropy.to_string(),
            other.entropy.to_string(),
        );
        d
    }
}

fn yaml<T: Serialize>(v: &T) -> String {
    crate::yaml::to_string(v)
        .unwrap_or_default()
        .trim()
        .replace('\n', "; ")
}

/// The task spec with its problem count removed, for comparing collections that only differ in
/// how many problems they hold.
fn task_without_count(t: &TaskSpec) -> String {
    let mut t = t.clone();
    match &mut t {
        TaskSpec::Arithmetic(a) => a.count = 0,
        TaskSpec::Coinflip(c) => c.count = 0,
        TaskSpec::Gsm8k(f) | TaskSpec::Math(f) => f.limit = None,
        TaskSpec::Jsonl(j) => j.limit = None,
        #[allow(unreachable_patterns)]
        _ => {}
    }
    serde_json::to_string(&t).unwrap_or_default()
}

/// Settings of a collection.
#[derive(Debug, Clone)]
pub struct CollectConfig {
    /// The task.
    pub task: TaskSpec,
    /// Generation options (N, sampling, features, EOS rule); the seed is the base seed.
    pub generate: GenerateOptions,
    /// Chat template.
    pub template: TemplateChoice,
    /// Keep per-token entropy and self-certainty in the records.
    pub entropy: bool,
    /// Feature store options.
    pub store: StoreOptions,
}

/// Progress after each problem.
#[derive(Debug, Clone, Copy, Default)]
pub struct CollectProgress {
    /// Problems in the collection.
    pub total: usize,
    /// Problems complete (including those found complete on resume).
    pub done: usize,
    /// Problems generated in this run.
    pub this_run: usize,
    /// Problems skipped in this run because generation failed.
    pub skipped: usize,
    /// Candidates labelled in this run.
    pub candidates: usize,
    /// Of which correct.
    pub correct: usize,
    /// Problems of this run with at least one correct candidate.
    pub any_correct: usize,
    /// Candidates without an extractable answer.
    pub no_answer: usize,
    /// Tokens generated in this run.
    pub tokens: usize,
    /// Wall time of this run.
    pub elapsed: Duration,
}

/// Outcome of [`collect`].
#[derive(Debug, Clone)]
pub struct CollectSummary {
    /// Final progress.
    pub progress: CollectProgress,
    /// Problems that were already complete when this run started.
    pub resumed_from: usize,
    /// Records cut from `candidates.jsonl` on resume (their rows were never committed).
    pub records_dropped: usize,
    /// Feature-store bytes.
    pub store_bytes: u64,
    /// Feature rows in the store.
    pub store_rows: u64,
    /// Problems whose feature rows saturated f16 (values beyond ±65504 were clamped).
    pub saturated_values: u64,
}

/// Runs (or resumes) a collection into `dir`.
pub fn collect(
    engine: &Engine,
    dir: &Path,
    config: &CollectConfig,
    progress: &mut dyn FnMut(&CollectProgress),
) -> Result<CollectSummary, CollectError> {
    let task = config.task.build()?;
    let format = engine.prompt_format(&config.template);
    let config = &CollectConfig {
        generate: config
            .generate
            .clone()
            .with_extra_stop(engine.stop_strings(&config.template)),
        ..config.clone()
    };
    let layout = engine
        .feature_layout(&config.generate.features)?
        .ok_or_else(|| EngineError::InvalidOption {
            name: "layers",
            value: "none".into(),
            reason: "collection needs features (hidden states or logits)".into(),
        })?;
    let manifest = Manifest {
        format_version: MANIFEST_VERSION,
        model: engine.info().identity(),
        model_file: engine
            .info()
            .path
            .file_name()
            .map(|f| f.to_string_lossy().into_owned())
            .unwrap_or_default(),
        task: config.task.clone(),
        task_text: config.task.to_string(),
        instruction: task.instruction().to_string(),
        template: config.template.clone(),
        stop: config.generate.stop.clone(),
        features: layout.clone(),
        eos_rule: config.generate.eos,
        sampling: SamplingStamp {
            n: config.generate.n,
            max_tokens: config.generate.max_tokens,
            temperature: config.generate.temperature,
            top_k: config.generate.top_k,
            top_p: config.generate.top_p,
            seed: config.generate.seed,
        },
        entropy: config.entropy,
        created_by: format!(
            "swift-bon {} ({})",
            env!("CARGO_PKG_VERSION"),
            env!("SWIFT_BON_GIT_HASH")
        ),
    };
    std::fs::create_dir_all(dir).map_err(io(dir))?;
    check_or_write_manifest(dir, &manifest)?;

    let writer = FeatureWriter::create_or_resume(dir, &layout, &config.store)?;
    let records_path = dir.join(RECORDS_FILE);
    let (mut writer, records_dropped) =
        reconcile_records(&records_path, writer, config.generate.n)?;
    let problems = task.problems();
    let resumed_from = writer.n_problems();
    let mut state = CollectProgress {
        total: problems.len(),
        done: resumed_from,
        ..Default::default()
    };
    let mut records_file = OpenOptions::new()
        .create(true)
        .append(true)
        .open(&records_path)
        .map_err(io(&records_path))?;
    let t0 = Instant::now();
    let mut saturated = 0u64;
    let start = writer.next_problem_index() as usize;
    progress(&state);
    for (p, problem) in problems.iter().enumerate().skip(start) {
        if config
            .generate
            .cancel
            .as_ref()
            .is_some_and(|c| c.load(std::sync::atomic::Ordering::Relaxed))
        {
            return Err(EngineError::Cancelled.into());
        }
        let prompt = engine.render_prompt(&task.messages(problem, format), &config.template)?;
        let opts = config
            .generate
            .clone()
            .with_seed(problem_seed(config.generate.seed, p as u64));
        let gen = match engine.generate(&prompt, &opts, &mut writer) {
            Ok(g) => g,
            Err(EngineError::PromptTooLong { tokens, limit }) => {
                tracing::warn!("problem {} ({}): prompt of {tokens} tokens exceeds the context of {limit}; skipped", p, problem.id);
                writer.discard_problem();
                state.skipped += 1;
                continue;
            }
            Err(e) => return Err(e.into()),
        };
        let mut lines = String::new();
        let mut any = false;
        for c in &gen.candidates {
            let verdict = task.check(problem, &c.text);
            any |= verdict.correct;
            state.correct += usize::from(verdict.correct);
            state.no_answer += usize::from(verdict.answer.is_none());
            state.tokens += c.tokens.len();
            let rec = CandidateRecord {
                problem_id: problem.id.clone(),
                problem_index: p as u64,
                candidate: c.index as u32,
                seed: c.seed,
                text: c.text.clone(),
                answer: verdict.answer,
                correct: verdict.correct,
                n_tokens: c.tokens.len() as u32,
                n_covered: c.n_covered as u32,
                finish: c.finish,
                mean_logprob: c.mean_logprob(),
                token_logprobs: c.token_logprobs.clone(),
                token_entropy: config.entropy.then(|| c.token_entropy.clone()),
                token_self_certainty: config.entropy.then(|| c.token_self_certainty.clone()),
            };
            let line = serde_json::to_string(&rec).map_err(|e| CollectError::BadRecords {
                path: records_path.clone(),
                line: 0,
                detail: format!("cannot serialise a record: {e}"),
            })?;
            lines.push_str(&line);
            lines.push('\n');
        }
        records_file
            .write_all(lines.as_bytes())
            .and_then(|()| records_file.sync_data())
            .map_err(io(&records_path))?;
        let info = writer.commit_problem(p as u64)?;
        saturated += info.saturated;
        state.candidates += gen.candidates.len();
        state.any_correct += usize::from(any);
        state.this_run += 1;
        state.done += 1;
        state.elapsed = t0.elapsed();
        progress(&state);
    }
    state.elapsed = t0.elapsed();
    let stats = writer.stats();
    Ok(CollectSummary {
        progress: state,
        resumed_from,
        records_dropped,
        store_bytes: stats.total_bytes,
        store_rows: stats.rows,
        saturated_values: saturated,
    })
}

/// Base seed of problem `p`'s candidates.
pub fn problem_seed(seed: u64, p: u64) -> u64 {
    Rng::derive(seed ^ 0x5EED_C011_EC70_0000, p).next_u64()
}

fn check_or_write_manifest(dir: &Path, manifest: &Manifest) -> Result<(), CollectError> {
    let path = dir.join(MANIFEST_FILE);
    if path.exists() {
        let text = std::fs::read_to_string(&path).map_err(io(&path))?;
        let old: Manifest =
            crate::yaml::from_str(&text).map_err(|e| CollectError::BadManifest {
                path: path.clone(),
                detail: e.to_string(),
            })?;
        if old.format_version != MANIFEST_VERSION {
            return Err(CollectError::BadManifest {
                path,
                detail: format!(
                    "format version {} (this build reads {MANIFEST_VERSION})",
                    old.format_version
                ),
            });
        }
        let diff = old.differences(manifest);
        if !diff.is_empty() {
            return Err(CollectError::ManifestMismatch {
                path,
                differences: diff.join("; "),
            });
        }
        if old == *manifest {
            return Ok(());
        }
    }
    let text = crate::yaml::to_string(manifest).map_err(|e| CollectError::BadManifest {
        path: path.clone(),
        detail: e.to_string(),
    })?;
    crate::fsutil::write_atomic(&path, text.as_bytes()).map_err(io(&path))
}

/// Reads a manifest.
pub fn read_manifest(dir: &Path) -> Result<Manifest, CollectError> {
    let path = dir.join(MANIFEST_FILE);
    let text = std::fs::read_to_string(&path).map_err(io(&path))?;
    crate::yaml::from_str(&text).map_err(|e| CollectError::BadManifest {
        path,
        detail: e.to_string(),
    })
}

/// Makes `candidates.jsonl` and the feature store agree, and returns the writer to continue
/// with and the number of records cut.
///
/// Both are appended in problem order, records first. The records file is read up to its first
/// unreadable or torn line; the store's committed problems are matched against it in order, and
/// each must have exactly its N records (candidates 0..N-1). The store keeps the longest prefix
/// of problems so matched (normally all of them: records are synced before rows are committed,
/// so only a damaged records file loses more); records past that prefix are cut.
fn reconcile_records(
    path: &Path,
    writer: FeatureWriter,
    n: usize,
) -> Result<(FeatureWriter, usize), CollectError> {
    let mut parsed: Vec<(u64, u32, u64)> = Vec::new(); // (problem, candidate, end byte)
    let mut file_len = 0u64;
    match File::open(path) {
        Ok(file) => {
            file_len = file.metadata().map_err(io(path))?.len();
            let mut reader = BufReader::new(file);
            let mut line = String::new();
            let mut offset = 0u64;
            loop {
                line.clear();
                let read = reader.read_line(&mut line).map_err(io(path))?;
                if read == 0 || !line.ends_with('\n') {
                    break;
                }
                let Ok(r) = serde_json::from_str::<CandidateRecord>(line.trim_end()) else {
                    break;
                };
                offset += read as u64;
                parsed.push((r.problem_index, r.candidate, offset));
            }
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(io(path)(e)),
    }
    let mut keep_problems = 0usize;
    let mut keep_bytes = 0u64;
    let mut at = 0usize;
    for p in writer.problem_indices() {
        let group = &parsed[at.min(parsed.len())..];
        let complete = group.len() >= n
            && group[..n]
                .iter()
                .enumerate()
                .all(|(c, &(pi, ci, _))| pi == p && ci as usize == c)
            && group.get(n).is_none_or(|&(pi, _, _)| pi != p);
        if !complete {
            break;
        }
        keep_problems += 1;
        at += n;
        keep_bytes = group[n - 1].2;
    }
    let cut_records = parsed.len() - at;
    let stored = writer.n_problems();
    let writer = if keep_problems < stored {
        tracing::warn!(
            "{} lacks the records of {} committed problems; their features are removed and they will be generated again",
            path.display(),
            stored - keep_problems
        );
        writer.truncate_problems(keep_problems)?
    } else {
        writer
    };
    if keep_bytes < file_len {
        let f = OpenOptions::new()
            .write(true)
            .open(path)
            .map_err(io(path))?;
        f.set_len(keep_bytes).map_err(io(path))?;
        f.sync_all().map_err(io(path))?;
        tracing::info!(
            "cut {} bytes of records of unfinished problems from {}",
            file_len - keep_bytes,
            path.display()
        );
    }
    Ok((writer, cut_records))
}

/// Reads every record of a collection, with line numbers in errors. A last line without its
/// newline is the torn tail of an interrupted (or still running) collection and is left out.
pub fn read_records(path: &Path) -> Result<Vec<CandidateRecord>, CollectError> {
    let text = std::fs::read_to_string(path).map_err(io(path))?;
    let complete = match text.rfind('\n') {
        Some(end) => &text[..=end],
        None => "",
    };
    if complete.len() < text.len() {
        tracing::warn!("{}: an unfinished last line was left out", path.display());
    }
    let mut out = Vec::new();
    for (i, line) in complete.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let rec: CandidateRecord =
            serde_json::from_str(line).map_err(|e| CollectError::BadRecords {
                path: path.into(),
                line: i + 1,
                detail: e.to_string(),
            })?;
        out.push(rec);
    }
    Ok(out)
}

/// A collection folder opened for reading: manifest, records and feature store.
pub struct Collection {
    /// What produced it.
    pub manifest: Manifest,
    /// Records of the problems whose features are committed.
    pub records: Vec<CandidateRecord>,
    /// The feature store.
    pub store: crate::dataset::FeatureStore,
}

impl Collection {
    /// Opens `dir`. The store is opened first: records are synced before their problem's rows
    /// are committed, so every problem in this snapshot of the store has its records, even while
    /// a collection runs. Records of problems not in the store (an interrupted run) are left out.
    pub fn open(dir: &Path) -> Result<Self, CollectError> {
        let manifest = read_manifest(dir)?;
        let store = crate::dataset::FeatureStore::open(dir)?;
        let records = read_records(&dir.join(RECORDS_FILE))?;
        let stored: std::collections::HashSet<u64> = store.problem_indices().collect();
        let before = records.len();
        let records: Vec<_> = records
            .into_iter()
            .filter(|r| stored.contains(&r.problem_index))
            .collect();
        if records.len() < before {
            tracing::warn!(
                "{} records of an unfinished problem left out",
                before - records.len()
            );
        }
        Ok(Self {
            manifest,
            records,
            store,
        })
    }
}

/// Loads the task of a collection (to re-judge or re-prompt).
pub fn task_of(manifest: &Manifest) -> Result<Box<dyn Task>, CollectError> {
    Ok(manifest.task.build()?)
}
