//! Arguments and helpers shared by subcommands.

use std::path::{Path, PathBuf};

use anyhow::Context as _;
use clap::Args;
use swift_bon::engine::Engine;
use swift_bon::error_class::{self, ErrorClass};
use swift_bon::fetch::{self, KnownModel};
use swift_bon::weights::{self, WeightFormat};

/// Options every subcommand accepts.
#[derive(Debug, Clone, Args)]
pub struct GlobalArgs {
    /// More log output on stderr (-v: info, -vv: debug including llama.cpp).
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,
    /// Only errors on stderr; no progress bars.
    #[arg(short, long, global = true)]
    pub quiet: bool,
    /// Folder that known models are fetched into and looked for in (default: the user's cache
    /// folder, e.g. ~/.cache/swift-bon/models, and a checkout's models/ where a model already is).
    #[arg(long, global = true, env = fetch::MODELS_DIR_ENV)]
    pub models_dir: Option<PathBuf>,
}

impl GlobalArgs {
    /// Where models are looked for and fetched into.
    pub fn model_dirs(&self) -> swift_bon::locate::ModelDirs {
        swift_bon::locate::ModelDirs::resolve(self.models_dir.as_deref())
    }
}

/// Which model to load.
#[derive(Debug, Args, Clone)]
pub struct ModelArgs {
    /// A GGUF file, or the name of a known model (smollm2-135m, gemma3-270m). Default: the
    /// default model, fetched on first use.
    #[arg(long, short = 'm')]
    pub model: Option<String>,
    /// Weight format of a known model: original (the published file), q8_0, q5_0 or q4_0 (converted
    /// once from it with llama.cpp's quantiser and kept beside it). Default: q8_0
    /// (converted on first use).
    #[arg(long, value_name = "FORMAT")]
    pub weights: Option<WeightFormat>,
}

impl ModelArgs {
    /// Resolves to a file, fetching a known model when it is missing.
    pub fn resolve(&self, global: &GlobalArgs) -> anyhow::Result<PathBuf> {
        match self.known()? {
            Some(k) => self.resolve_known(
                global,
                k,
                self.weights.unwrap_or_else(|| weights::default_format(k)),
            ),
            None => {
                if self.weights.is_some_and(|w| w != WeightFormat::Original) {
                    return Err(UsageError(format!(
                        "--weights converts a known model ({}); {} is a file: convert it yourself or pass a known name",
                        fetch::KNOWN_MODELS
                            .iter()
                            .map(|m| m.name)
                            .collect::<Vec<_>>()
                            .join(", "),
                        self.model.as_deref().unwrap_or_default()
                    ))
                    .into());
                }
                Ok(PathBuf::from(self.model.as_deref().unwrap_or_default()))
            }
        }
    }

    /// The known model this resolves to (`None` for a file path).
    pub fn known(&self) -> anyhow::Result<Option<&'static KnownModel>> {
        Ok(match &self.model {
            None => Some(&fetch::KNOWN_MODELS[0]),
            Some(m) if looks_like_path(m) => None,
            Some(m) => Some(fetch::known_model(m)?),
        })
    }

    /// The path of known model `k` in `format`, fetching and converting on first use.
    pub fn resolve_known(
        &self,
        global: &GlobalArgs,
        k: &KnownModel,
        format: WeightFormat,
    ) -> anyhow::Result<PathBuf> {
        let quiet = global.quiet;
        let converter = swift_bon::engine::LlamaConverter::new();
        let mut log = |msg: &str| {
            if !quiet {
                eprintln!("{msg}");
            }
        };
        let dirs = global.model_dirs();
        if format == WeightFormat::Original {
            return Ok(dirs.ensure(k, &mut log)?);
        }
        // A conversion lives beside its original, wherever that was found.
        let dir = dirs
            .find(k)
            .and_then(|p| p.parent().map(Path::to_path_buf))
            .unwrap_or_else(|| dirs.fetch_into.clone());
        Ok(weights::ensure_weights(
            &dir, k, format, &converter, &mut log,
        )?)
    }

    /// Resolves and loads.
    pub fn load(&self, global: &GlobalArgs) -> anyhow::Result<Engine> {
        let path = self.resolve(global)?;
        load_engine(&path)
    }
}

fn looks_like_path(s: &str) -> bool {
    s.contains('/') || s.contains('\\') || s.ends_with(".gguf") || Path::new(s).exists()
}

/// Loads a model with a spinner-free message (loading takes well under a second for small
/// models).
pub fn load_engine(path: &Path) -> anyhow::Result<Engine> {
    tracing::info!("loading {}", path.display());
    // The header is walked in Rust before llama.cpp's parser sees the file; a missing file is
    // left to `Engine::load`, which says so.
    if path.is_file() {
        swift_bon::gguf::check_file(path)?;
    }
    Engine::load(path).with_context(|| format!("loading model {}", path.display()))
}

/// Sets up `tracing` on stderr. llama.cpp's own log is routed through it: its errors always,
/// its warnings from -v, everything from -vv.
pub fn init_logging(verbose: u8, quiet: bool) {
    use tracing_subscriber::EnvFilter;
    let default = match (quiet, verbose) {
        (true, _) => "error",
        // llama-cpp-2 logs llama.cpp's messages under the target `llama-cpp-2` (hyphens); its
        // warnings (e.g. gemma3's "using full-size SWA cache" on every context) are shown from -v.
        (false, 0) => "warn,llama-cpp-2=error",
        (false, 1) => "info,llama-cpp-2=warn",
        (false, _) => "debug",
    };
    let filter =
        EnvFilter::try_from_env("SWIFT_BON_LOG").unwrap_or_else(|_| EnvFilter::new(default));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_target(false)
        .without_time()
        .try_init();
}

/// Exit codes: 2 bad input (usage, options, files), 3 model or runtime errors, 1 anything else;
/// the class of the first error in the chain that has one (see `swift_bon::error_class`).
pub fn exit_code(err: &anyhow::Error) -> u8 {
    for cause in err.chain() {
        if cause.downcast_ref::<UsageError>().is_some() {
            return ErrorClass::BadInput.exit_code();
        }
        if let Some(class) = error_class::classify(cause) {
            return class.exit_code();
        }
    }
    ErrorClass::Other.exit_code()
}

/// A usage error raised by the CLI itself.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct UsageError(pub String);

/// A progress bar on stderr, hidden when stderr is not a terminal or with --quiet.
pub fn progress_bar(len: u64, quiet: bool, template: &str) -> indicatif::ProgressBar {
    use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
    let bar = ProgressBar::with_draw_target(Some(len), ProgressDrawTarget::stderr());
    if quiet {
        bar.set_draw_target(ProgressDrawTarget::hidden());
    }
    bar.set_style(
        ProgressStyle::with_template(template)
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("=> "),
    );
    bar
}

/// Writes to stdout, returning the error a closed pipe gives instead of panicking as `print!`
/// does. Used through the `out!` / `outln!` macros.
pub fn write_stdout(args: std::fmt::Arguments<'_>, newline: bool) -> std::io::Result<()> {
    use std::io::Write as _;
    let mut out = std::io::stdout().lock();
    out.write_fmt(args)?;
    if newline {
        out.write_all(b"\n")?;
    }
    out.flush()
}

/// True when the error comes from writing to a closed stdout (a reader such as `head` stopped
/// early): the program then ends quietly and successfully, as ripgrep does.
pub fn is_broken_pipe(err: &anyhow::Error) -> bool {
    err.chain().any(|c| {
        c.downcast_ref::<std::io::Error>()
            .is_some_and(|e| e.kind() == std::io::ErrorKind::BrokenPipe)
    })
}

/// Prints JSON to stdout.
pub fn print_json<T: serde::Serialize>(value: &T) -> anyhow::Result<()> {
    let s = serde_json::to_string_pretty(value)?;
    outln!("{s}")?;
    Ok(())
}

/// Checks a head against the loaded model: a shape mismatch is refused, a fingerprint mismatch
/// is a warning (an error with `strict`).
pub fn check_head_for(
    head: swift_bon::head::Head,
    name: &str,
    engine: &Engine,
    strict: bool,
) -> anyhow::Result<swift_bon::head::Head> {
    if let Some(warning) = head
        .check_model(&engine.info().identity(), strict)
        .with_context(|| {
            format!(
                "head {name} does not fit model {}",
                engine.info().path.display()
            )
        })?
    {
        tracing::warn!("{warning}");
    }
    Ok(head)
}

/// Loads a head and checks it against the loaded model: a shape mismatch is refused, a
/// fingerprint mismatch is a warning (an error with `strict`).
pub fn load_head_for(
    path: &Path,
    engine: &Engine,
    strict: bool,
) -> anyhow::Result<swift_bon::head::Head> {
    let head = swift_bon::head::Head::load(path)
        .with_context(|| format!("loading head {}", path.display()))?;
    if let Some(warning) = head
        .check_model(&engine.info().identity(), strict)
        .with_context(|| {
            format!(
                "head {} does not fit model {}",
                path.display(),
                engine.info().path.display()
            )
        })?
    {
        tracing::warn!("{warning}");
    }
    Ok(head)
}

/// What to capture for a head: exactly its states (or logits).
pub fn head_features(head: &swift_bon::head::Head) -> swift_bon::engine::FeatureRequest {
    use swift_bon::features::{FeatureSource, StateSpec};
    match &head.spec().features {
        FeatureSource::Hidden { selection, .. } => {
            swift_bon::engine::FeatureRequest::Hidden(StateSpec::List(selection.states().to_vec()))
        }
        FeatureSource::Logits { .. } => swift_bon::engine::FeatureRequest::Logits,
    }
}
