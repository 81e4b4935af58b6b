//! `swift-bon inspect` and `swift-bon import-head`: reading and converting head files.

use std::path::PathBuf;

use anyhow::Context as _;
use clap::Args;
use swift_bon::features::{format_state_list, FeatureSource, StateSpec};
use swift_bon::head::{self, Head, ImportOptions};

use super::common::{GlobalArgs, ModelArgs};

#[derive(Debug, Args)]
pub struct InspectArgs {
    /// A head (NAME, NAME.yaml or NAME.safetensors).
    pub head: PathBuf,
    /// Print the metadata as JSON.
    #[arg(long)]
    pub json: bool,
}

pub fn run_inspect(_global: &GlobalArgs, args: InspectArgs) -> anyhow::Result<()> {
    let head = Head::load(&args.head)?;
    let spec = head.spec();
    if args.json {
        // The metadata file as JSON, plus the derived sizes.
        let (yaml_path, _) = head::head_paths(&args.head);
        let text = std::fs::read_to_string(&yaml_path)?;
        let meta: serde_json::Value = swift_bon::yaml::from_str(&text)?;
        return super::common::print_json(&serde_json::json!({
            "parameters": head.n_params(),
            "width": head.width(),
            "metadata": meta,
        }));
    }
    let m = &spec.model;
    outln!("head           {}", args.head.display())?;
    let kinds: Vec<String> = head
        .kinds_with_own_weights()
        .map(|k| k.to_string())
        .collect();
    let sets = if kinds.is_empty() {
        String::new()
    } else {
        format!(
            "; {} weight sets: the main one, and one of their own for {} questions",
            kinds.len() + 1,
            kinds.join(", ")
        )
    };
    outln!(
        "parameters     {} ({} x {} + {}{sets})",
        head.n_params(),
        head.rows(),
        head.width(),
        head.rows()
    )?;
    outln!(
        "model          {} ({} layers, hidden {}, vocabulary {}), fingerprint {}",
        m.architecture,
        m.n_layer,
        m.n_embd,
        m.n_vocab,
        m.fingerprint
    )?;
    match &spec.features {
        FeatureSource::Hidden { selection, .. } => outln!(
            "features       hidden states {} ({} states)",
            format_state_list(selection.states()),
            selection.len()
        )?,
        FeatureSource::Logits { n_vocab } => outln!("features       logits ({n_vocab})")?,
    }
    outln!("normalisation  {}", spec.norm)?;
    outln!("gate           {}", if spec.gate { "on" } else { "off" })?;
    outln!("EOS rule       {}", spec.eos)?;
    if let Some(i) = &spec.instruction {
        outln!("instruction    {i}")?;
    }
    for (kind, i) in &spec.instruction_by_kind {
        outln!("  for {kind:<10} {i}")?;
    }
    if let Some(t) = &spec.training {
        let yaml = swift_bon::yaml::to_string(t)?;
        outln!("training")?;
        for line in yaml.lines() {
            outln!("  {line}")?;
        }
    }
    if let Some(n) = &spec.notes {
        outln!("notes          {n}")?;
    }
    Ok(())
}

#[derive(Debug, Args)]
pub struct ImportArgs {
    /// A reference PyTorch checkpoint (a torch.save state_dict: fused_layer.* or reward_layer.*).
    pub checkpoint: PathBuf,
    /// The model the head was trained for (its GGUF): identity and hidden size come from it.
    #[command(flatten)]
    pub model: ModelArgs,
    /// The states the head reads, in Hugging Face numbering (0 = embeddings, L = final norm):
    /// all, last:K, or a list. The checkpoint's width must equal states x hidden size.
    #[arg(long)]
    pub states: StateSpec,
    /// Output head (writes OUT.safetensors and OUT.yaml).
    #[arg(long)]
    pub out: PathBuf,
    /// Prompt instruction the head was trained with, recorded in the head.
    #[arg(long)]
    pub instruction: Option<String>,
}

pub fn run_import(global: &GlobalArgs, args: ImportArgs) -> anyhow::Result<()> {
    let engine = args.model.load(global)?;
    let identity = engine.info().identity();
    let source = head::hidden_source(&args.states, &identity)?;
    let opts = ImportOptions {
        instruction: args.instruction.clone(),
        ..ImportOptions::default()
    };
    let head = head::import_torch_checkpoint(&args.checkpoint, identity, source, &opts)
        .with_context(|| format!("importing {}", args.checkpoint.display()))?;
    let (yaml, _) = head.save(&args.out)?;
    outln!("{} ({} parameters)", yaml.display(), head.n_params())?;
    Ok(())
}
