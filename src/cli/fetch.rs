//! `swift-bon fetch-model`.

use clap::Args;
use swift_bon::fetch;

use super::common::GlobalArgs;

#[derive(Debug, Args)]
pub struct FetchArgs {
    /// Model to fetch: smollm2-135m (default) or gemma3-270m.
    #[arg(default_value = "smollm2-135m")]
    pub name: String,
    /// Download and verify again even if the file is present.
    #[arg(long)]
    pub force: bool,
}

pub fn run(global: &GlobalArgs, args: FetchArgs) -> anyhow::Result<()> {
    let model = fetch::known_model(&args.name)?;
    // A copy already present (in the cache or a checkout) is verified where it is.
    let dirs = global.model_dirs();
    let found = dirs
        .find(model)
        .and_then(|p| p.parent().map(|d| d.to_path_buf()));
    let dir = &found.unwrap_or(dirs.fetch_into);
    let quiet = global.quiet;
    let mut log = |m: &str| {
        if !quiet {
            eprintln!("{m}");
        }
    };
    let path = fetch::model_path(dir, model);
    if !args.force && fetch::looks_installed(dir, model) {
        fetch::verify(&path, model)?;
        log(&format!("{} is present and verified", path.display()));
    } else {
        fetch::fetch(dir, model, &mut log)?;
    }
    println!("{}", path.display());
    Ok(())
}
