//! `swift-bon`: local Best-of-N reasoning with SWIFT heads.
//!
//! Results go to stdout (tables, or JSON with `--json`); logs and progress go to stderr.

mod cli;

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let args = cli::Cli::parse();
    cli::init_logging(args.global.verbose, args.global.quiet);
    match cli::run(args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            // One line: the context chain joined, most general first.
            let chain: Vec<String> = err.chain().map(ToString::to_string).collect();
            eprintln!("error: {}", chain.join(": "));
            ExitCode::from(cli::exit_code(&err))
        }
    }
}
