//! `swift-bon heads`: list, install and remove SWIFT heads.

use std::path::PathBuf;

use clap::{Args, Subcommand};
use serde::Serialize;
use swift_bon::heads::{HeadCatalog, HeadOrigin};

use super::common::{print_json, GlobalArgs};

#[derive(Debug, Args)]
pub struct HeadsArgs {
    #[command(subcommand)]
    pub action: HeadsAction,
}

#[derive(Debug, Subcommand)]
pub enum HeadsAction {
    /// List the heads `ask` and `serve` can use: installed ones first, then shipped ones.
    List {
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Install a trained head (NAME, NAME.yaml or NAME.safetensors) into the user's heads
    /// folder, checking it first.
    Install {
        /// The head files.
        path: PathBuf,
        /// Name to install it as (default: its file name).
        #[arg(long)]
        name: Option<String>,
    },
    /// Remove an installed head.
    Remove {
        /// Its name.
        name: String,
    },
}

#[derive(Serialize)]
struct Row {
    name: String,
    origin: &'static str,
    path: Option<String>,
    task: Option<&'static str>,
    architecture: String,
    n_layer: u32,
    n_embd: u32,
    fingerprint: String,
    parameters: usize,
}

pub fn run(global: &GlobalArgs, args: HeadsArgs) -> anyhow::Result<()> {
    let catalog = HeadCatalog::for_user();
    match args.action {
        HeadsAction::List { json } => {
            let rows: Vec<Row> = catalog
                .all()
                .into_iter()
                .map(|h| {
                    let m = &h.head.spec().model;
                    Row {
                        task: h.task(),
                        origin: match h.origin {
                            HeadOrigin::Shipped => "shipped",
                            HeadOrigin::User(_) => "installed",
                            HeadOrigin::File(_) => "file",
                        },
                        path: match &h.origin {
                            HeadOrigin::User(p) | HeadOrigin::File(p) => {
                                Some(p.display().to_string())
                            }
                            HeadOrigin::Shipped => None,
                        },
                        architecture: m.architecture.clone(),
                        n_layer: m.n_layer,
                        n_embd: m.n_embd,
                        fingerprint: m.fingerprint.clone(),
                        parameters: h.head.n_params(),
                        name: h.name,
                    }
                })
                .collect();
            if json {
                return print_json(&rows);
            }
            println!(
                "{:<28} {:<10} {:<11} {:<22} where",
                "name", "origin", "task", "model"
            );
            for r in &rows {
                println!(
                    "{:<28} {:<10} {:<11} {:<22} {}",
                    r.name,
                    r.origin,
                    r.task.unwrap_or("-"),
                    format!("{} {}x{}", r.architecture, r.n_layer, r.n_embd),
                    r.path.as_deref().unwrap_or("(in the binary)")
                );
            }
            if !global.quiet {
                eprintln!(
                    "installed heads live in {}",
                    catalog
                        .user_dir()
                        .map_or("(no folder: no home directory)".into(), |d| d
                            .display()
                            .to_string())
                );
            }
        }
        HeadsAction::Install { path, name } => {
            let (installed, replaced) = catalog.install(&path, name.as_deref())?;
            println!(
                "{} {}",
                if replaced { "replaced" } else { "installed" },
                installed.display()
            );
        }
        HeadsAction::Remove { name } => {
            for p in catalog.remove(&name)? {
                println!("removed {}", p.display());
            }
        }
    }
    Ok(())
}
