//! `swift-bon doctor`: versions, model facts, and a one-decode capture self-check.

use clap::Args;
use serde::Serialize;
use swift_bon::engine::{self, ModelInfo, SelfCheck};

use super::common::{print_json, GlobalArgs, ModelArgs};

#[derive(Debug, Args)]
pub struct DoctorArgs {
    #[command(flatten)]
    pub model: ModelArgs,
    /// Machine-readable output.
    #[arg(long)]
    pub json: bool,
}

#[derive(Serialize)]
struct DoctorOut<'a> {
    versions: engine::Versions,
    model: &'a ModelInfo,
    chat_template: String,
    /// What the file is: a known model's original, or converted from one (its record).
    weights: String,
    self_check: SelfCheck,
    capture_backend: swift_bon::capture::BackendDecision,
}

pub fn run(global: &GlobalArgs, args: DoctorArgs) -> anyhow::Result<()> {
    let versions = engine::versions();
    let engine = args.model.load(global)?;
    let check = engine.capture_self_check()?;
    let capture_backend = engine.capture_backend(
        Default::default(),
        &engine::FeatureRequest::Hidden(swift_bon::features::StateSpec::All),
    );
    let out = DoctorOut {
        versions,
        model: engine.info(),
        chat_template: engine.describe_template(&Default::default()),
        weights: swift_bon::weights::describe_file(&engine.info().path),
        self_check: check,
        capture_backend,
    };
    if args.json {
        return print_json(&out);
    }
    let v = &out.versions;
    let m = out.model;
    outln!("swift-bon        {} (git {})", v.swift_bon, v.git)?;
    outln!(
        "llama-cpp-sys-2  {} (vendored llama.cpp; ggml {})",
        v.llama_cpp_sys_2,
        v.ggml
    )?;
    outln!("model            {}", m.path.display())?;
    outln!("  name           {}", m.name.as_deref().unwrap_or("-"))?;
    outln!("  architecture   {}", m.architecture)?;
    outln!(
        "  layers         {} (states 0..={}: embedding, {} block outputs, final norm)",
        m.n_layer,
        m.n_layer,
        m.n_layer.saturating_sub(1)
    )?;
    outln!("  hidden size    {}", m.n_embd)?;
    outln!("  vocabulary     {}", m.n_vocab)?;
    outln!("  context        {}", m.n_ctx_train)?;
    outln!("  parameters     {}", m.n_params)?;
    outln!(
        "  file           {} bytes, fingerprint {}",
        m.file_size,
        m.fingerprint
    )?;
    outln!("  chat template  {}", out.chat_template)?;
    outln!("  weights        {}", out.weights)?;
    let c = &out.self_check;
    outln!(
        "capture check    ok: {} tokens x {} states ({} floats/token) in one decode, {} graph nodes offered, {:.1} ms",
        c.tokens,
        c.states,
        c.width,
        c.graph_nodes,
        c.elapsed.as_secs_f64() * 1e3
    )?;
    let rms: Vec<String> = c.state_rms.iter().map(|r| format!("{r:.3}")).collect();
    outln!("  state RMS      {}", rms.join(" "))?;
    outln!(
        "capture backend  {} (--capture auto): {}",
        out.capture_backend.backend,
        out.capture_backend.reason
    )?;
    Ok(())
}
