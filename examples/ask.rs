//! The main job in library code: Best-of-N with inline SWIFT scoring and early pruning.
//! Loads the default model (fetched on first use) and the shipped arithmetic head, samples eight
//! candidates in one batched decode, prunes the weak ones by their running score, and prints
//! every candidate and the chosen answer.
//!
//! Run (from the repository root; the default model is fetched into `models/` on first use):
//!
//! ```sh
//! cargo run --release --example ask -- "What is 47 + 38?"
//! ```
//!
//! Expect one line per candidate (`>` marks the chosen one; `pruned` the ones stopped early,
//! with their partial text), then the chosen text and the tokens decoded.

use swift_bon::bon::BestOfN;
use swift_bon::engine::Engine;
use swift_bon::head::Head;
use swift_bon::{fetch, prune::PrunePolicy};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let question = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "What is 47 + 38?".into());
    let dir = fetch::models_dir();
    // The published file is fetched once and converted once to the default weight format
    // (Q8_0), which the shipped heads were trained on.
    let known = &fetch::SMOLLM2_135M;
    let model = swift_bon::weights::ensure_weights(
        &dir,
        known,
        swift_bon::weights::default_format(known),
        &swift_bon::engine::LlamaConverter::new(),
        &mut |m| eprintln!("{m}"),
    )?;
    let head = Head::load(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("models/smollm2-135m-arith"),
    )?;
    let bon = BestOfN::new(Engine::load(&model)?)
        .with_head(head)?
        .with_prune(Some(
            "top:0.5,warmup=16,every=16,min=2".parse::<PrunePolicy>()?,
        ));
    let answer = bon.ask(&question)?;
    for c in &answer.candidates {
        let mark = if c.chosen {
            ">"
        } else if c.pruned {
            "pruned"
        } else {
            ""
        };
        let text: String = c.text.split_whitespace().collect::<Vec<_>>().join(" ");
        println!(
            "{mark:>6} #{} score {:>7.3}  {}",
            c.index,
            c.swift_score.unwrap_or(f64::NAN),
            text.chars().take(60).collect::<String>()
        );
    }
    println!(
        "\n{}\n({} tokens decoded, {:.1} s)",
        answer.text.trim(),
        answer.decoded_tokens,
        answer.timing.total_s
    );
    Ok(())
}
