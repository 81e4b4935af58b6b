//! Model tests of the steerable session and of Best-of-N with pruning (default model).

mod common;

use std::sync::atomic::AtomicBool;
use std::sync::Arc;

use swift_bon::bon::{BestOfN, EarlyStop, Event, Selection};
use swift_bon::capture::{CaptureBackend, CaptureChoice};
use swift_bon::engine::{
    CandidateEvent, ChatMessage, Engine, EngineError, FeatureRequest, FinishReason,
    GenerateOptions, TemplateChoice,
};
use swift_bon::features::{MemorySink, StateSpec};
use swift_bon::head::Head;
use swift_bon::prune::PrunePolicy;

fn shipped_head() -> Head {
    Head::load(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/models/smollm2-135m-arith"
    ))
    .unwrap()
}

#[test]
fn stopping_candidates_changes_nothing_for_the_survivors_with_the_callback() {
    survivors_are_unchanged_after_stop(CaptureChoice::Callback, CaptureBackend::Callback);
}

#[test]
fn stopping_candidates_changes_nothing_for_the_survivors_with_layer_input() {
    survivors_are_unchanged_after_stop(CaptureChoice::LayerInput, CaptureBackend::LayerInput);
}

/// Stops two of four candidates after five steps: the survivors' tokens, text, finish and
/// rows are bit-identical to the unpruned run's, through `backend`.
fn survivors_are_unchanged_after_stop(choice: CaptureChoice, backend: CaptureBackend) {
    let _serial = common::serial();
    let engine = Engine::load(common::smollm2()).unwrap();
    let p = engine
        .prepare_prompt(
            None,
            &[],
            &[ChatMessage::user("What is 38 + 47? Explain.")],
            &TemplateChoice::Auto,
        )
        .unwrap();
    let o = GenerateOptions::new(4)
        .with_max_tokens(40)
        .with_seed(11)
        .with_features(FeatureRequest::Hidden(StateSpec::Last(2)))
        .with_capture(choice);
    let mut full_rows = MemorySink::new();
    let full = engine.generate(&p, &o, &mut full_rows).unwrap();
    assert_eq!(full.capture.backend, backend, "{}", full.capture.reason);

    let mut rows = MemorySink::new();
    let mut s = engine.start(&p, &o, &mut rows).unwrap();
    assert_eq!(s.capture_backend().backend, backend);
    let mut deltas = vec![String::new(); 4];
    let mut finished = [None; 4];
    let mut steps = 0;
    loop {
        let r = s.step().unwrap();
        for e in &r.events {
            match e {
                CandidateEvent::Token {
                    candidate, text, ..
                } => deltas[*candidate].push_str(text),
                CandidateEvent::Finished { candidate, reason } => {
                    finished[*candidate] = Some(*reason)
                }
            }
        }
        if r.done {
            break;
        }
        steps += 1;
        if steps == 5 {
            assert!(s.stop(1, FinishReason::Pruned).unwrap());
            assert!(s.stop(3, FinishReason::Pruned).unwrap());
            assert!(
                !s.stop(3, FinishReason::Pruned).unwrap(),
                "stopping twice does nothing"
            );
            assert!(!s.is_sampling(1) && s.is_complete(1));
        }
        if steps > 5 {
            assert!(
                r.live <= 2,
                "stopped candidates are not fed: {} live",
                r.live
            );
        }
    }
    assert!(matches!(
        s.stop(9, FinishReason::Pruned),
        Err(EngineError::InvalidOption { .. })
    ));
    let g = s.finish().unwrap();
    for c in [0, 2] {
        assert_eq!(
            g.candidates[c].tokens, full.candidates[c].tokens,
            "candidate {c}"
        );
        assert_eq!(g.candidates[c].finish, full.candidates[c].finish);
        assert_eq!(g.candidates[c].text, full.candidates[c].text);
        assert_eq!(rows.rows(c), full_rows.rows(c), "rows of candidate {c}");
        // The streamed deltas are the text.
        assert_eq!(deltas[c], g.candidates[c].text, "deltas of candidate {c}");
        assert_eq!(finished[c], Some(full.candidates[c].finish));
    }
    for c in [1, 3] {
        let cand = &g.candidates[c];
        assert_eq!(cand.finish, FinishReason::Pruned);
        assert_eq!(finished[c], Some(FinishReason::Pruned));
        assert_eq!(
            cand.tokens[..],
            full.candidates[c].tokens[..cand.tokens.len()]
        );
        assert_eq!(cand.n_covered, 5, "five steps fed five tokens");
        assert_eq!(rows.rows(c), &full_rows.rows(c)[..rows.rows(c).len()]);
        assert!(
            full.candidates[c].text.starts_with(cand.text.trim_end()),
            "partial text kept"
        );
    }
    assert!(g.timing.fed_tokens < full.timing.fed_tokens);
}

#[test]
fn the_cancel_flag_stops_a_session() {
    let _serial = common::serial();
    let engine = Engine::load(common::smollm2()).unwrap();
    let flag = Arc::new(AtomicBool::new(false));
    let o = GenerateOptions::new(2)
        .with_max_tokens(30)
        .with_cancel(flag.clone());
    let mut sink = MemorySink::new();
    let mut s = engine.start("Hello", &o, &mut sink).unwrap();
    s.step().unwrap();
    flag.store(true, std::sync::atomic::Ordering::Relaxed);
    assert!(matches!(s.step(), Err(EngineError::Cancelled)));
}

#[test]
fn best_of_n_prunes_and_reports_every_candidate() {
    let _serial = common::serial();
    let engine = Engine::load(common::smollm2()).unwrap();
    let bon = BestOfN::new(engine).with_head(shipped_head()).unwrap();
    let mut req = bon.request("What is 58 + 27?");
    req.options = req.options.with_n(8).with_max_tokens(96).with_seed(5);
    let plain = bon.run(&req, &mut |_| {}).unwrap();
    assert_eq!(plain.n_pruned(), 0);
    assert!(plain.candidates.iter().all(|c| c.swift_score.is_some()));

    req.prune = Some(
        "top:0.5,warmup=8,every=8,min=2"
            .parse::<PrunePolicy>()
            .unwrap(),
    );
    let mut events = Vec::new();
    let pruned = bon.run(&req, &mut |e| events.push(e.clone())).unwrap();
    let n_pruned = pruned.n_pruned();
    assert!(n_pruned > 0, "something is pruned");
    assert!(
        pruned.decoded_tokens < plain.decoded_tokens,
        "{} vs {}",
        pruned.decoded_tokens,
        plain.decoded_tokens
    );
    assert!(
        !pruned.candidates[pruned.chosen].pruned,
        "a pruned candidate is never chosen"
    );
    let pruned_events = events
        .iter()
        .filter(|e| matches!(e, Event::Pruned { .. }))
        .count();
    assert_eq!(pruned_events, n_pruned);
    assert!(
        matches!(events.last(), Some(Event::Chosen { candidate }) if *candidate == pruned.chosen)
    );
    for (a, b) in pruned.candidates.iter().zip(&plain.candidates) {
        if a.pruned {
            assert_eq!(a.finish, FinishReason::Pruned);
            assert!(a.tokens <= b.tokens);
        } else {
            // Survivors are untouched, score included.
            assert_eq!(a.text, b.text);
            assert_eq!(a.swift_score, b.swift_score);
        }
    }
    // Early stop with majority vote cannot change the majority answer.
    let mut vote = bon.request("What is 10 + 10?");
    vote.options = vote.options.with_n(8).with_max_tokens(96).with_seed(3);
    vote.selection = Selection::Majority;
    let full = bon.run(&vote, &mut |_| {}).unwrap();
    vote.early_stop = EarlyStop::Decided;
    let early = bon.run(&vote, &mut |_| {}).unwrap();
    assert_eq!(early.answer, full.answer);
    assert!(early.decoded_tokens <= full.decoded_tokens);
}
