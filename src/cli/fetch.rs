//! `swift-bon fetch-model`.

use clap::Args;
use swift_bon::engine::LlamaConverter;
use swift_bon::fetch;
use swift_bon::weights::{self, WeightFormat};

use super::common::GlobalArgs;

#[derive(Debug, Args)]
pub struct FetchArgs {
    /// Model to fetch: smollm2-135m (default) or gemma3-270m.
    #[arg(default_value = "smollm2-135m")]
    pub name: String,
    /// Weight format: original (the published file), q8_0, q5_0 or q4_0 (converted once from the
    /// verified original with llama.cpp's quantiser, kept beside it with a conversion record).
    /// Several, comma-separated, are fetched/converted in turn. Default: the model's default
    /// format (q8_0, converted from the published file).
    #[arg(long, value_delimiter = ',', value_name = "FORMAT")]
    pub weights: Vec<WeightFormat>,
    /// Download (and convert) again even if the file is present.
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
    let formats = if args.weights.is_empty() {
        vec![weights::default_format(model)]
    } else {
        args.weights.clone()
    };
    let path = fetch::model_path(dir, model);
    if args.force {
        fetch::fetch(dir, model, &mut log)?;
    } else if fetch::looks_installed(dir, model) {
        fetch::verify(&path, model)?;
        log(&format!("{} is present and verified", path.display()));
    } else {
        fetch::fetch(dir, model, &mut log)?;
    }
    let converter = LlamaConverter::new();
    for format in formats {
        let out = weights::weights_path(dir, model, format);
        if format != WeightFormat::Original {
            if !args.force && weights::looks_converted(dir, model, format) {
                match weights::verify_converted(dir, model, format) {
                    Ok(_) => log(&format!(
                        "{} is present and matches its conversion record",
                        out.display()
                    )),
                    Err(e) => {
                        log(&format!("{e}; converting again"));
                        weights::convert(dir, model, format, &converter, &mut log)?;
                    }
                }
            } else {
                weights::convert(dir, model, format, &converter, &mut log)?;
            }
        }
        outln!("{}", out.display())?;
    }
    Ok(())
}
