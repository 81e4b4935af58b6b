//! Model tests of the two capture backends: the eval callback and llama.cpp's layer-input
//! outputs give bit-identical rows and scores where the architecture supports the latter
//! (SmolLM2, llama), and Gemma-3 falls back to the callback and says so.

mod common;

use swift_bon::capture::{CaptureBackend, CaptureChoice};
use swift_bon::engine::{ChatMessage, Engine, FeatureRequest, GenerateOptions, TemplateChoice};
use swift_bon::features::{FeatureSink, MemorySink, StateSpec, TeeSink};
use swift_bon::head::{Head, StreamingScorer};

fn shipped_head() -> Head {
    Head::load(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/models/smollm2-135m-arith"
    ))
    .unwrap()
}

/// A head on `states` with fixed pseudo-random weights (RMS-normalised, gated), built from the
/// shipped head's metadata so that it fits the model.
fn head_on(states: &str, engine: &Engine) -> Head {
    let base = shipped_head();
    let mut spec = base.spec().clone();
    spec.features =
        swift_bon::head::hidden_source(&states.parse::<StateSpec>().unwrap(), &spec.model).unwrap();
    let f = spec.width();
    let mut x = 0x9e37_79b9_u32;
    let mut u = || {
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        (x as f32 / u32::MAX as f32 - 0.5) * 0.2
    };
    let weight = (0..2 * f).map(|_| u()).collect();
    let bias = vec![u(), u()];
    assert_eq!(spec.model.n_layer, engine.info().n_layer);
    Head::new(spec, weight, bias, None).unwrap()
}

struct Run {
    tokens: Vec<Vec<i32>>,
    rows: MemorySink,
    scores: Vec<f64>,
    backend: CaptureBackend,
    reason: String,
    fell_back: bool,
}

fn run(engine: &Engine, n: usize, spec: &str, head: &Head, choice: CaptureChoice) -> Run {
    let p = engine
        .render_prompt(
            &[ChatMessage::user("What is 38 + 47?")],
            &TemplateChoice::Auto,
        )
        .unwrap();
    let o = GenerateOptions::new(n)
        .with_max_tokens(16)
        .with_seed(5)
        .with_capture(choice)
        .with_features(FeatureRequest::Hidden(spec.parse().unwrap()));
    let mut rows = MemorySink::new();
    let mut scorer = StreamingScorer::new(head);
    let g = {
        let mut tee = TeeSink(&mut rows, &mut scorer);
        let g = engine.generate(&p, &o, &mut tee).unwrap();
        tee.end().unwrap();
        g
    };
    Run {
        tokens: g.candidates.iter().map(|c| c.tokens.clone()).collect(),
        rows,
        scores: scorer.scores(),
        backend: g.capture.backend,
        reason: g.capture.reason,
        fell_back: g.capture.fell_back,
    }
}

#[test]
fn layer_input_and_callback_agree_bit_for_bit_on_smollm2() {
    let _serial = common::serial();
    let engine = Engine::load(common::smollm2()).unwrap();
    assert!(engine.supports_layer_input());
    for (spec, head) in [
        ("all", shipped_head()),
        ("last:4", head_on("last:4", &engine)),
    ] {
        for n in [1usize, 8] {
            let cb = run(&engine, n, spec, &head, CaptureChoice::Callback);
            let li = run(&engine, n, spec, &head, CaptureChoice::LayerInput);
            assert_eq!(cb.backend, CaptureBackend::Callback);
            assert_eq!(li.backend, CaptureBackend::LayerInput, "{}", li.reason);
            assert!(!li.fell_back);
            assert_eq!(cb.tokens, li.tokens, "{spec} N={n}: tokens differ");
            let mut compared = 0;
            for c in 0..n {
                let (a, b) = (cb.rows.rows(c), li.rows.rows(c));
                assert_eq!(a.len(), b.len());
                assert!(
                    a.iter().zip(b).all(|(x, y)| x.to_bits() == y.to_bits()),
                    "{spec} N={n} candidate {c}: rows differ"
                );
                compared += a.len();
            }
            assert!(compared > 0);
            assert_eq!(
                cb.scores.iter().map(|s| s.to_bits()).collect::<Vec<_>>(),
                li.scores.iter().map(|s| s.to_bits()).collect::<Vec<_>>(),
                "{spec} N={n}: scores differ"
            );
            eprintln!(
                "{spec} N={n}: {compared} floats and {n} scores bit-identical ({})",
                li.reason
            );
        }
    }
    // Negative control: the comparison can fail. Rows of a neighbouring state, or of another
    // head, are not equal.
    let head = shipped_head();
    let li = run(&engine, 1, "all", &head, CaptureChoice::LayerInput);
    let e = engine.info().n_embd as usize;
    let row = li.rows.row(0, 0);
    assert_ne!(&row[5 * e..6 * e], &row[6 * e..7 * e]);
    let other = head_on("all", &engine);
    let li_other = run(&engine, 1, "all", &other, CaptureChoice::LayerInput);
    assert_ne!(li.scores[0].to_bits(), li_other.scores[0].to_bits());
}

#[test]
fn gemma3_falls_back_to_the_callback_and_says_so() {
    let _serial = common::serial();
    let engine = Engine::load(common::gemma3()).unwrap();
    assert!(!engine.supports_layer_input());
    let d = engine.capture_backend(
        CaptureChoice::LayerInput,
        &FeatureRequest::Hidden(StateSpec::Last(2)),
    );
    assert_eq!(d.backend, CaptureBackend::Callback);
    assert!(d.fell_back);
    assert!(d.reason.contains("gemma3"), "{}", d.reason);
    assert!(d.reason.contains("falling back"), "{}", d.reason);
    let auto = engine.capture_backend(CaptureChoice::Auto, &FeatureRequest::Hidden(StateSpec::All));
    assert_eq!(auto.backend, CaptureBackend::Callback);
    assert!(!auto.fell_back);
    // A generation asked for layer input still captures (through the callback) and reports it.
    let o = GenerateOptions::new(2)
        .with_max_tokens(6)
        .with_capture(CaptureChoice::LayerInput)
        .with_features(FeatureRequest::Hidden(StateSpec::Last(2)));
    let mut sink = MemorySink::new();
    let g = engine
        .generate("Question: 2 + 2?\nAnswer:", &o, &mut sink)
        .unwrap();
    assert_eq!(g.capture.backend, CaptureBackend::Callback);
    assert!(g.capture.fell_back);
    assert!(sink.n_tokens(0) > 0);
}

#[test]
fn auto_takes_the_callback_on_cpu_by_measurement_and_layer_input_on_request() {
    let _serial = common::serial();
    let engine = Engine::load(common::smollm2()).unwrap();
    let all = FeatureRequest::Hidden(StateSpec::All);
    let auto = engine.capture_backend(CaptureChoice::Auto, &all);
    if auto.reason.contains("GPU build") {
        eprintln!(
            "skipped: a GPU build picks layer input by design ({})",
            auto.reason
        );
        return;
    }
    assert_eq!(auto.backend, CaptureBackend::Callback, "{}", auto.reason);
    assert!(!auto.fell_back);
    assert!(auto.reason.contains("measured"), "{}", auto.reason);
    let li = engine.capture_backend(CaptureChoice::LayerInput, &all);
    assert_eq!(li.backend, CaptureBackend::LayerInput, "{}", li.reason);
    assert!(!li.fell_back);
}
