//! `swift-bon train`: a SWIFT head from one collection, or a general head from several.

use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::path::{Path, PathBuf};

use anyhow::Context as _;
use clap::Args;
use swift_bon::collect::Collection;
use swift_bon::dataset::CandidateRecord;
use swift_bon::dataset::LabelledStore;
use swift_bon::eval::{
    calibrate_soft_vote_by_kind, mean_and_standard_error, HeadScores, KindFits, SoftVoteFit,
};
use swift_bon::features::{CandidateFeatures, ConcatFeatures, StateSpec};
use swift_bon::head::Normalization;
use swift_bon::tasks::AnswerKind;
use swift_bon::train::{
    self, CvEvent, Fit, KeepBy, KindsFit, Loss, PosWeight, TrainEvent, TrainOptions,
};

use super::common::{progress_bar, GlobalArgs, UsageError};

#[derive(Debug, Args)]
pub struct TrainArgs {
    /// A collection folder made by `swift-bon collect`. Repeat it to train one head on several
    /// collections (task families) of the same model and states: a general head. Collections
    /// with answers of one kind share an instruction; kinds may differ (the head then asks
    /// each question with its kind's instruction).
    #[arg(long, required = true, num_args = 1)]
    pub data: Vec<PathBuf>,
    /// Output head (writes OUT.safetensors and OUT.yaml).
    #[arg(long)]
    pub out: PathBuf,
    /// Also install the trained head into the user's heads folder (see `swift-bon heads`), so
    /// `ask` and `serve` find it from any folder.
    #[arg(long)]
    pub install: bool,
    /// States the head reads (must have been collected): all, last:K, or a list.
    #[arg(long)]
    pub layers: Option<StateSpec>,
    /// One row (plain mean of token rewards) instead of gate + reward.
    #[arg(long)]
    pub no_gate: bool,
    /// Feature normalisation: none (the reference), rms (each state divided by its RMS),
    /// standardize (per-dimension mean/std from the training split, stored in the head). rms is
    /// the default: on the default model's arithmetic collection (last:4, validation split of
    /// 40 problems) it reached validation AUC 0.857 and loss 0.246, against 0.828 / 0.270 for
    /// raw features and 0.851 / 0.254 for standardize.
    #[arg(long, default_value = "rms")]
    pub norm: Normalization,
    /// Loss: pairwise (logistic loss on every correct-incorrect pair of a problem: the default,
    /// it ranked a problem's candidates best in 3-fold cross-validation on the default model's
    /// mixed collection, within-problem AUC 0.686 ± 0.017 against 0.647 ± 0.012 for ce and
    /// 0.662 ± 0.009 for listwise), ce (binary cross-entropy on the score, the reference) or
    /// listwise (softmax over a problem's candidates against its correct ones).
    #[arg(long, default_value = "pairwise")]
    pub loss: Loss,
    /// Maximum epochs (early stopping on validation loss keeps the best epoch).
    #[arg(long, default_value_t = 40)]
    pub epochs: u32,
    /// Early-stopping patience in epochs.
    #[arg(long, default_value_t = 3)]
    pub patience: u32,
    /// What early stopping keeps: the epoch with the lowest validation loss (the reference), or
    /// with the highest validation AUC within problems (how well each question's own candidates
    /// are ranked, which is what Best-of-N depends on).
    #[arg(long, default_value = "loss", value_name = "loss|within-auc")]
    pub keep_by: KeepBy,
    /// AdamW learning rate.
    #[arg(long, default_value_t = 1e-4)]
    pub lr: f64,
    /// AdamW weight decay.
    #[arg(long, default_value_t = 1e-5)]
    pub weight_decay: f64,
    /// Problems per mini-batch.
    #[arg(long, default_value_t = 2)]
    pub batch_problems: usize,
    /// Fraction of problems held out for validation.
    #[arg(long, default_value_t = 0.2)]
    pub val_fraction: f64,
    /// Weight correct candidates by incorrect/correct (class balancing).
    #[arg(long)]
    pub balance: bool,
    /// Seed (split, shuffling, initialisation).
    #[arg(long, default_value_t = 42)]
    pub seed: u64,
    /// Free-form notes stored in the head.
    #[arg(long)]
    pub notes: Option<String>,
    /// Run K-fold cross-validation over problems first and report each validation metric's
    /// mean and standard error over the folds (a steadier comparison of settings than one
    /// split). The saved head then trains on every problem for the folds' median kept epoch,
    /// and the soft vote of `auto` is calibrated on the out-of-fold scores.
    #[arg(long, value_name = "K")]
    pub folds: Option<usize>,
    /// Also write the soft vote's calibration grid to FILE (JSON): for overall and each answer
    /// kind, every grid point's (beta, logprob) sharpnesses and accuracy, each validation
    /// problem's accuracy at every point, and the choice (`scripts/rule-check.py` replays the
    /// choosing rule on it).
    #[arg(long, value_name = "FILE")]
    pub calibration_json: Option<PathBuf>,
    /// With collections of several answer kinds (a general head): train one set of weights per
    /// kind, each on that kind's collections alone (its own folds, epochs and early stopping),
    /// stored in one head. `ask` and `serve` score each question with its kind's weights, so
    /// yes/no questions do not pull on the weights that rank numbers.
    #[arg(long)]
    pub weights_by_kind: bool,
}

/// Within-problem AUC at or below this, with a pooled AUC at or above [`POOLED_HIGH`], means the
/// head learned which questions are hard rather than which candidate is right.
const WITHIN_NEAR_CHANCE: f64 = 0.55;
/// See [`WITHIN_NEAR_CHANCE`].
const POOLED_HIGH: f64 = 0.65;

pub fn run_train(global: &GlobalArgs, args: TrainArgs) -> anyhow::Result<()> {
    let mut cols = Vec::with_capacity(args.data.len());
    for path in &args.data {
        let col = Collection::open(path)
            .with_context(|| format!("{} is not a readable collection", path.display()))?;
        if col.records.is_empty() {
            return Err(
                UsageError(format!("{} holds no complete problem yet", path.display())).into(),
            );
        }
        cols.push(col);
    }
    let first = &cols[0].manifest;
    for (col, path) in cols.iter().zip(&args.data).skip(1) {
        let m = &col.manifest;
        let clash = |what: &str, a: &str, b: &str| -> anyhow::Error {
            UsageError(format!(
                "{} and {} differ in {what} ({a} vs {b}): one head is trained on one model with one prompt",
                args.data[0].display(),
                path.display()
            ))
            .into()
        };
        if m.model != first.model {
            return Err(clash("model", &first.model_file, &m.model_file));
        }
        if m.eos_rule != first.eos_rule {
            return Err(clash(
                "EOS rule",
                &first.eos_rule.to_string(),
                &m.eos_rule.to_string(),
            ));
        }
    }
    let (instruction, instruction_by_kind) = instructions_of(&cols, &args.data)?;
    let stores = cols
        .iter()
        .zip(&args.data)
        .map(|(col, path)| {
            LabelledStore::from_records(&col.store, &col.records)
                .with_context(|| format!("reading {}", path.display()))
        })
        .collect::<anyhow::Result<Vec<_>>>()?;
    let parts: Vec<&dyn CandidateFeatures> =
        stores.iter().map(|s| s as &dyn CandidateFeatures).collect();
    let data = ConcatFeatures::new(parts).map_err(UsageError)?;
    let task = if cols.len() == 1 {
        first.task_text.clone()
    } else {
        general_task_text(cols.iter().map(|c| c.manifest.task_text.as_str()))
    };
    let command = std::env::args().collect::<Vec<_>>().join(" ");
    let opts = TrainOptions::default()
        .with_loss(args.loss)
        .with_pos_weight(if args.balance {
            PosWeight::Auto
        } else {
            PosWeight::None
        })
        .with_lr(args.lr)
        .with_weight_decay(args.weight_decay)
        .with_max_epochs(args.epochs)
        .with_patience(args.patience)
        .with_keep_by(args.keep_by)
        .with_batch_problems(args.batch_problems)
        .with_val_fraction(args.val_fraction)
        .with_seed(args.seed)
        .with_gate(!args.no_gate)
        .with_norm(args.norm)
        .with_states(args.layers.clone())
        .with_eos(first.eos_rule)
        .with_instruction(Some(instruction))
        .with_instruction_by_kind(instruction_by_kind)
        .with_task(Some(task))
        .with_command(Some(command))
        .with_notes(args.notes.clone());
    let quiet = global.quiet;
    let n_max = first.sampling.n;
    let kinds: Vec<AnswerKind> = cols.iter().map(|c| c.manifest.task.answer_kind()).collect();
    let distinct: BTreeSet<AnswerKind> = kinds.iter().copied().collect();
    let settings = FitSettings {
        model: &first.model,
        opts: &opts,
        folds: args.folds,
        n_max,
        quiet,
    };
    // Problems trained on over every kind's weights, and for how many epochs (per kind).
    // With weights per kind, the metrics printed last are the main weights' (`whose`).
    let (fitted, problems, epochs, whose) = if args.weights_by_kind && distinct.len() > 1 {
        let k = fit_by_kind(&stores, &kinds, &settings)?;
        let split = k
            .by_kind
            .iter()
            .map(|(kind, f)| {
                format!(
                    "{kind} {} for {} epochs",
                    f.problems(),
                    f.outcome.summary.epochs.len()
                )
            })
            .collect::<Vec<_>>()
            .join(", ");
        let problems = k.problems();
        let whose = format!(" (the main weights, {} questions')", k.main);
        (
            k.merged,
            problems,
            format!(", each answer kind with its own weights: {split}"),
            whose,
        )
    } else {
        if args.weights_by_kind && !quiet {
            eprintln!("--weights-by-kind: every collection has {} answers, so the head has one set of weights", kinds[0].name());
        }
        let f = fit(&data, &settings)?;
        let (problems, epochs) = (f.problems(), f.outcome.summary.epochs.len());
        (f, problems, format!(" for {epochs} epochs"), String::new())
    };
    let Fit {
        mut outcome,
        held_out,
        cross_validated,
        ..
    } = fitted;
    let fits = calibrations(&cols, &held_out, cross_validated.is_some(), quiet)?;
    if let Some(path) = &args.calibration_json {
        write_calibration_json(path, &fits)?;
    }
    let (overall, by_kind) = (
        fits.overall.map(|f| f.calibration),
        fits.by_kind
            .into_iter()
            .map(|(k, f)| (k, f.calibration))
            .collect(),
    );
    if overall.is_none() && !quiet {
        eprintln!("no validation problems: the soft vote is not calibrated (auto selection falls back to swift-vote)");
    }
    outcome.head.set_soft_vote(overall);
    outcome.head.set_soft_vote_by_kind(by_kind);
    let (yaml, tensors) = outcome.head.save(&args.out)?;
    let name = tensors
        .file_name()
        .map(|f| f.to_string_lossy())
        .unwrap_or_default();
    let (pooled, within) = if let Some(mean) = &cross_validated {
        outln!(
            "head {} ({} parameters; {name}): trained on all {problems} problems{epochs}; cross-validated{whose}: val AUC {} (within problems {}), val Best-of-{n_max} accuracy {}",
            yaml.display(),
            outcome.head.n_params(),
            fmt_opt(mean.auc, 3),
            fmt_opt(mean.auc_per_problem, 3),
            fmt_opt(mean.bon_accuracy, 3),
        )?;
        (mean.auc, mean.auc_per_problem)
    } else {
        let best = outcome.summary.best();
        outln!(
            "head {} ({} parameters; {name}): best epoch {} of {}{whose}: val loss {}, val AUC {} (within problems {}), val Best-of-{n_max} accuracy {}",
            yaml.display(),
            outcome.head.n_params(),
            outcome.summary.best_epoch,
            outcome.summary.epochs.len(),
            fmt_opt(best.val_loss, 4),
            fmt_opt(best.val_auc, 3),
            fmt_opt(best.val_auc_per_problem, 3),
            fmt_opt(best.val_bon_accuracy, 3),
        )?;
        (best.val_auc, best.val_auc_per_problem)
    };
    if let Some(w) = ranking_warning(pooled, within) {
        eprintln!("{w}");
    }
    if args.install {
        let (installed, _) = swift_bon::heads::HeadCatalog::for_user().install(&args.out, None)?;
        outln!("installed {}", installed.display())?;
    }
    Ok(())
}

/// What every fit of one `train` run shares.
struct FitSettings<'a> {
    model: &'a swift_bon::head::ModelIdentity,
    opts: &'a TrainOptions,
    folds: Option<usize>,
    /// Candidates per problem (for the fold table's Best-of-N).
    n_max: usize,
    quiet: bool,
}

/// Trains one head on `data` ([`train::fit`]) with progress on stderr and, with folds, the
/// fold table on stdout.
fn fit(data: &dyn CandidateFeatures, set: &FitSettings<'_>) -> anyhow::Result<Fit> {
    let mut progress = TrainProgress::new(set.quiet);
    let fitted = train::fit(data, set.model, set.opts, set.folds, &mut |e| {
        progress.on_cv(&e)
    })?;
    progress.finish();
    if !fitted.folds.is_empty() {
        outln!("{}", render_folds(&fitted.folds, set.n_max))?;
    }
    Ok(fitted)
}

/// `--weights-by-kind` ([`train::fit_by_kind`]): each kind on its own collections, with
/// progress on stderr, and per kind its fold table on stdout and the ranking warning.
fn fit_by_kind(
    stores: &[LabelledStore],
    kinds: &[AnswerKind],
    set: &FitSettings<'_>,
) -> anyhow::Result<KindsFit> {
    let parts: Vec<(AnswerKind, &dyn CandidateFeatures)> = kinds
        .iter()
        .zip(stores)
        .map(|(&k, s)| (k, s as &dyn CandidateFeatures))
        .collect();
    let mut progress = TrainProgress::new(set.quiet);
    let mut current = None;
    let fitted = train::fit_by_kind(&parts, set.model, set.opts, set.folds, &mut |kind, e| {
        if current != Some(kind) {
            current = Some(kind);
            let n = kinds.iter().filter(|&&k| k == kind).count();
            progress.say(&format!("weights for {kind} questions: {n} collection(s)"));
        }
        progress.on_cv(&e)
    })?;
    progress.finish();
    for (kind, f) in &fitted.by_kind {
        outln!("{kind} questions:")?;
        if !f.folds.is_empty() {
            outln!("{}", render_folds(&f.folds, set.n_max))?;
        }
        let (pooled, within) = f.aucs();
        if let Some(w) = ranking_warning(pooled, within) {
            eprintln!("{kind} questions: {w}");
        }
    }
    if !set.quiet {
        eprintln!(
            "the head's main weights are the {} questions' (the most problems)",
            fitted.main
        );
    }
    Ok(fitted)
}

/// The soft vote's calibration overall and, for several answer kinds, per kind: on the final
/// run's validation problems, or with folds on every problem scored out of fold. `held_out[i]`
/// is candidate `i`'s score by a head that did not train on it.
fn calibrations(
    cols: &[Collection],
    held_out: &[Option<f64>],
    out_of_fold: bool,
    quiet: bool,
) -> anyhow::Result<KindFits> {
    let (records, scores) = validation_set(cols, held_out);
    let kind_of = |g: u64| {
        cols[ConcatFeatures::part_of(g)]
            .manifest
            .task
            .answer_kind()
            .name()
    };
    let fits = calibrate_soft_vote_by_kind(&records, &scores, &kind_of)
        .context("calibrating the soft vote on the validation problems")?;
    let how = if out_of_fold { " out of fold" } else { "" };
    if let Some(fit) = &fits.overall {
        say_fit(quiet, how, fit);
    }
    for (kind, fit) in &fits.by_kind {
        say_fit(quiet, &format!("{how} for {kind} questions"), fit);
    }
    Ok(fits)
}

/// The records (problem index = its combined group) and scores of every problem whose
/// candidates were scored held out; `scored[i]` is candidate `i` of the combined set, which
/// is the stores' entries in collection order.
fn validation_set(
    cols: &[Collection],
    scored: &[Option<f64>],
) -> (Vec<CandidateRecord>, HeadScores) {
    let keys = cols.iter().enumerate().flat_map(|(part, col)| {
        col.store.entries().iter().map(move |e| {
            (
                ConcatFeatures::combined_group(part, e.problem_index),
                e.candidate,
            )
        })
    });
    let mut val: HashSet<u64> = HashSet::new();
    let mut scores = HeadScores::new("swift");
    for (key, s) in keys.zip(scored) {
        if let Some(s) = s {
            scores.scores.insert(key, *s);
            val.insert(key.0);
        }
    }
    let mut records = Vec::new();
    for (part, col) in cols.iter().enumerate() {
        for r in &col.records {
            let g = ConcatFeatures::combined_group(part, r.problem_index);
            if val.contains(&g) {
                let mut r = r.clone();
                r.problem_index = g;
                records.push(r);
            }
        }
    }
    (records, scores)
}

/// The calibration grids as JSON (see `TrainArgs::calibration_json`), written atomically.
fn write_calibration_json(path: &Path, fits: &KindFits) -> anyhow::Result<()> {
    let text = serde_json::to_string(fits)?;
    swift_bon::fsutil::write_atomic(path, format!("{text}\n").as_bytes())
        .with_context(|| format!("writing {}", path.display()))
}

/// Prints a calibration, the best the head does alone and the accuracy along each axis
/// (stderr).
fn say_fit(quiet: bool, what: &str, fit: &SoftVoteFit) {
    if quiet {
        return;
    }
    let c = &fit.calibration;
    let axis = |on_beta: bool| {
        fit.curve
            .iter()
            .filter(|p| {
                if on_beta {
                    p.logprob == 0.0
                } else {
                    p.beta == 0.0
                }
            })
            .map(|p| {
                let x = if on_beta { p.beta } else { p.logprob };
                format!("{x}:{:.3}", p.accuracy)
            })
            .collect::<Vec<_>>()
            .join(" ")
    };
    let alone = fit
        .best_without_logprob()
        .map(|p| format!("{:.3} at sharpness {}", p.accuracy, p.beta))
        .unwrap_or_default();
    let best = fit
        .best()
        .map(|p| format!("{:.3} at {}, {}", p.accuracy, p.beta, p.logprob))
        .unwrap_or_default();
    eprintln!(
        "soft vote calibrated{what} on {} validation problems (Best-of-{}): head sharpness {}, log-prob sharpness {} give {:.3} (majority {:.3}, argmax {:.3}, best point {best}, the head alone at best {alone}); head alone by sharpness: {}; log-prob alone by sharpness: {}",
        c.problems,
        c.k,
        c.beta,
        c.logprob,
        c.accuracy,
        c.majority,
        c.argmax,
        axis(true),
        axis(false),
    );
}

/// The training task recorded in a head trained on several collections.
/// The instruction a head records from its collections: one instruction when they all share
/// it; else one per answer kind (a general head whose families were each asked their own way:
/// `ask` and `serve` then ask every question with its kind's instruction), with the first
/// collection's as the one for other kinds. Two collections of one kind with different
/// instructions are refused: the head could not say which to use.
fn instructions_of(
    cols: &[Collection],
    paths: &[PathBuf],
) -> anyhow::Result<(String, BTreeMap<AnswerKind, String>)> {
    let first = &cols[0].manifest;
    let mut by_kind: BTreeMap<AnswerKind, (String, &PathBuf)> = BTreeMap::new();
    for (col, path) in cols.iter().zip(paths) {
        let m = &col.manifest;
        let kind = m.task.answer_kind();
        match by_kind.get(&kind) {
            Some((other, other_path)) if *other != m.instruction => {
                return Err(UsageError(format!(
                    "{} and {} ask questions with {kind} answers with different instructions ({other:?} vs {:?}): \
                     a head records one instruction per answer kind",
                    other_path.display(),
                    path.display(),
                    m.instruction
                ))
                .into())
            }
            Some(_) => {}
            None => {
                by_kind.insert(kind, (m.instruction.clone(), path));
            }
        }
    }
    let shared = cols
        .iter()
        .all(|c| c.manifest.instruction == first.instruction);
    let by_kind = if shared {
        BTreeMap::new()
    } else {
        by_kind.into_iter().map(|(k, (i, _))| (k, i)).collect()
    };
    Ok((first.instruction.clone(), by_kind))
}

fn general_task_text<'a>(tasks: impl Iterator<Item = &'a str>) -> String {
    format!(
        "{}{}",
        swift_bon::heads::GENERAL_TASK_PREFIX,
        tasks.collect::<Vec<_>>().join(" + ")
    )
}

/// The loud warning for a head that separates questions, not candidates (see
/// [`WITHIN_NEAR_CHANCE`]).
fn ranking_warning(pooled: Option<f64>, within: Option<f64>) -> Option<String> {
    let (pooled, within) = (pooled?, within?);
    (within <= WITHIN_NEAR_CHANCE && pooled >= POOLED_HIGH).then(|| {
        format!(
            "WARNING: this head does not rank a question's candidates. Its validation AUC is {pooled:.3} over all \
             candidates pooled but {within:.3} within problems (0.5 = chance): it learned which questions are hard, \
             not which answer is right, and Best-of-N will gain little or nothing from it. Try --loss listwise, \
             more problems, or a prompt whose candidates differ (see the README, \"Training a head\")."
        )
    })
}

/// Training progress on stderr: a bar per run, the plan of each run and, when
/// `verbose_epochs`, a line per epoch.
struct TrainProgress {
    quiet: bool,
    verbose_epochs: bool,
    bar: indicatif::ProgressBar,
}

impl TrainProgress {
    fn new(quiet: bool) -> Self {
        Self {
            quiet,
            verbose_epochs: true,
            bar: progress_bar(0, quiet, "{bar:30} epoch {msg} [{elapsed_precise}]"),
        }
    }

    fn say(&self, line: &str) {
        if !self.quiet {
            self.bar.suspend(|| eprintln!("{line}"));
        }
    }

    fn on(&mut self, e: &TrainEvent<'_>) {
        match e {
            TrainEvent::Started(plan) => {
                self.bar.set_position(0);
                self.say(&format!(
                    "training on {} problems ({} candidates), validating on {} problems ({} candidates){}",
                    plan.train_problems,
                    plan.train_candidates,
                    plan.val_problems,
                    plan.val_candidates,
                    if plan.dropped_problems > 0 {
                        format!("; {} problems without both classes left out", plan.dropped_problems)
                    } else {
                        String::new()
                    }
                ));
            }
            TrainEvent::Batch {
                epoch,
                batch,
                batches,
            } => {
                self.bar.set_length(*batches as u64);
                self.bar.set_position(*batch as u64);
                self.bar.set_message(epoch.to_string());
            }
            TrainEvent::Epoch(r) => {
                if self.verbose_epochs {
                    self.say(&format!(
                        "epoch {:>2}: train loss {:.4}  val loss {}  val AUC {} (within problems {})  val BoN {}{}  ({:.1} s)",
                        r.epoch,
                        r.train_loss,
                        fmt_opt(r.val_loss, 4),
                        fmt_opt(r.val_auc, 3),
                        fmt_opt(r.val_auc_per_problem, 3),
                        fmt_opt(r.val_bon_accuracy, 3),
                        if r.improved { "  *" } else { "" },
                        r.seconds
                    ));
                }
            }
        }
    }

    /// A cross-validation event: fold and final-run headers, epochs only for the final run.
    fn on_cv(&mut self, e: &CvEvent<'_>) {
        match e {
            CvEvent::Fold { fold, folds } => {
                self.verbose_epochs = false;
                self.say(&format!("cross-validation fold {}/{folds}", fold + 1));
            }
            CvEvent::Final { epochs } => {
                self.verbose_epochs = true;
                self.say(&format!(
                    "final head: every problem, {epochs} epochs (the folds' median kept epoch)"
                ));
            }
            CvEvent::Train(e) => self.on(e),
        }
    }

    fn finish(&self) {
        self.bar.finish_and_clear();
    }
}

/// Mean and standard error over folds of each validation metric of the kept epochs.
fn render_folds(folds: &[train::EpochReport], n: usize) -> String {
    let metric = |name: &str, get: &dyn Fn(&train::EpochReport) -> Option<f64>| {
        let v: Vec<f64> = folds.iter().filter_map(get).collect();
        match mean_and_standard_error(&v) {
            None => format!("| {name} | - | - | 0 |"),
            Some((mean, se)) => format!("| {name} | {mean:.3} | {se:.3} | {} |", v.len()),
        }
    };
    [
        format!(
            "{}-fold cross-validation over problems (kept epoch of each fold)",
            folds.len()
        ),
        String::new(),
        "| validation metric | mean | standard error | folds |".into(),
        "| --- | ---: | ---: | ---: |".into(),
        metric("AUC within problems", &|r| r.val_auc_per_problem),
        metric("AUC pooled", &|r| r.val_auc),
        metric(&format!("Best-of-{n} accuracy"), &|r| r.val_bon_accuracy),
        metric("loss", &|r| r.val_loss),
    ]
    .join("\n")
}

fn fmt_opt(v: Option<f64>, digits: usize) -> String {
    v.map_or_else(|| "-".into(), |x| format!("{x:.digits$}"))
}
