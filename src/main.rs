//! `swift-bon`: local Best-of-N reasoning with SWIFT heads.
//!
//! Results go to stdout (tables, or JSON with `--json`); logs and progress go to stderr.

mod cli;

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    quiet_on_closed_stdout();
    let args = cli::Cli::parse();
    cli::init_logging(args.global.verbose, args.global.quiet);
    match cli::run(args) {
        Ok(()) => ExitCode::SUCCESS,
        // A reader that stopped early (`| head`) is not an error, as with ripgrep.
        Err(err) if cli::is_broken_pipe(&err) => ExitCode::SUCCESS,
        Err(err) => {
            // One line: the chain joined, most general first. Every error type either shows its
            // cause in its own message or returns it as `source()`, never both, so each cause
            // appears exactly once.
            let line: Vec<String> = err.chain().map(|c| c.to_string()).collect();
            eprintln!("error: {}", line.join(": "));
            ExitCode::from(cli::exit_code(&err))
        }
    }
}

/// Output goes through `out!`/`outln!`, which return a closed pipe as an error. This catches
/// what still uses `print!` (which panics on it): such a panic ends the program quietly and
/// successfully instead of printing a backtrace.
fn quiet_on_closed_stdout() {
    let default = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        let payload = info.payload();
        let msg = payload
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| payload.downcast_ref::<String>().cloned())
            .unwrap_or_default();
        if msg.starts_with("failed printing to stdout") && msg.contains("Broken pipe") {
            std::process::exit(0);
        }
        default(info)
    }));
}
