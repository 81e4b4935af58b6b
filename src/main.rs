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
            // One line: the context chain joined, most general first. Many error types print
            // their source in their own message too; a cause already said is not repeated.
            let mut line = String::new();
            for cause in err.chain().map(|c| c.to_string()) {
                if line.contains(&cause) {
                    continue;
                }
                if !line.is_empty() {
                    line.push_str(": ");
                }
                line.push_str(&cause);
            }
            eprintln!("error: {line}");
            ExitCode::from(cli::exit_code(&err))
        }
    }
}
