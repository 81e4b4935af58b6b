//! Library use of the engine: load a GGUF model, sample N candidates for one question with the
//! last four block outputs captured inline, and print each candidate with its captured rows.
//!
//! Run (from the repository root; the default model is fetched into `models/` on first use):
//!
//! ```sh
//! cargo run --release --example sample -- "What is 17 + 25?"
//! ```
//!
//! Expect eight lines, one per candidate: its token count, mean log-probability, finish reason,
//! the number of captured feature rows (one per generated token) and the start of its text.

use swift_bon::engine::{ChatMessage, Engine, FeatureRequest, GenerateOptions, TemplateChoice};
use swift_bon::features::{MemorySink, StateSpec};
use swift_bon::fetch;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let question = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "What is 17 + 25?".into());
    let path = fetch::ensure_model(&fetch::models_dir(), &fetch::SMOLLM2_135M, &mut |m| {
        eprintln!("{m}")
    })?;
    let engine = Engine::load(&path)?;
    let prompt = engine.render_prompt(&[ChatMessage::user(question)], &TemplateChoice::Auto)?;
    let options = GenerateOptions::new(8)
        .with_max_tokens(128)
        .with_seed(42)
        .with_features(FeatureRequest::Hidden(StateSpec::Last(4)));
    // MemorySink stores every feature row; a SWIFT scorer would keep running sums instead.
    let mut rows = MemorySink::new();
    let generation = engine.generate(&prompt, &options, &mut rows)?;
    println!("{} floats per token ({} states)", rows.width(), 4);
    for c in &generation.candidates {
        let text: String = c.text.split_whitespace().collect::<Vec<_>>().join(" ");
        println!(
            "#{} {:>3} tokens  logprob {:>7.3}  {:<6} rows {:>3}  {}",
            c.index,
            c.tokens.len(),
            c.mean_logprob(),
            c.finish.to_string(),
            rows.n_tokens(c.index),
            text.chars().take(60).collect::<String>()
        );
    }
    Ok(())
}
