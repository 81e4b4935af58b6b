//! Model tests of the engine and the capture, on the two small real GGUF models.

mod common;

use swift_bon::engine::{
    candidate_seed, ChatMessage, Engine, EngineError, FeatureRequest, GenerateOptions,
    PromptFormat, TemplateChoice,
};
use swift_bon::features::{EosRule, MemorySink, StateSpec};

fn prompt(engine: &Engine, q: &str) -> String {
    engine
        .render_prompt(&[ChatMessage::user(q)], &TemplateChoice::Auto)
        .unwrap()
}

fn opts(n: usize, spec: &str) -> GenerateOptions {
    GenerateOptions::new(n)
        .with_max_tokens(24)
        .with_seed(7)
        .with_features(FeatureRequest::Hidden(spec.parse().unwrap()))
}

#[test]
fn captured_rows_match_a_teacher_forced_reencode() {
    let _serial = common::serial();
    let engine = Engine::load(common::smollm2()).unwrap();
    let p = prompt(&engine, "What is 17 + 25?");
    let prompt_ids = engine.tokenize(&p).unwrap();
    let mut sink = MemorySink::new();
    let gen = engine.generate(&p, &opts(3, "all"), &mut sink).unwrap();
    let n_layer = engine.info().n_layer;
    let all = StateSpec::All.resolve(n_layer).unwrap();
    let n_embd = engine.info().n_embd as usize;
    // Several states: embedding, early, middle, late block outputs, final norm.
    let probe = [0u32, 1, 12, 29, 30];
    let sub = StateSpec::List(probe.to_vec()).resolve(n_layer).unwrap();
    let mut checked = 0;
    let mut worst = 0f32;
    for cand in &gen.candidates {
        assert_eq!(
            sink.n_tokens(cand.index),
            cand.tokens.len(),
            "every generated token is covered"
        );
        let mut seq = prompt_ids.clone();
        seq.extend(&cand.tokens);
        let re = engine
            .reencode(&seq, prompt_ids.len(), &sub, false, None)
            .unwrap();
        assert_eq!(re.rows.len(), cand.tokens.len() * re.width);
        for t in 0..cand.tokens.len() {
            let inline = sink.row(cand.index, t);
            let forced = &re.rows[t * re.width..(t + 1) * re.width];
            for (j, &s) in probe.iter().enumerate() {
                let seg_inline = &inline[s as usize * n_embd..(s as usize + 1) * n_embd];
                let seg_forced = &forced[j * n_embd..(j + 1) * n_embd];
                let d = common::max_rel_diff(seg_inline, seg_forced);
                worst = worst.max(d);
                assert!(
                    d < 1e-4,
                    "candidate {} token {t} state {s}: rel diff {d}",
                    cand.index
                );
            }
            checked += 1;
            // Negative control: the next token's forced row must differ, and rows are not zero.
            if t + 1 < cand.tokens.len() {
                let next = &re.rows[(t + 1) * re.width..(t + 2) * re.width];
                let seg = |r: &[f32], j: usize| r[j * n_embd..(j + 1) * n_embd].to_vec();
                assert!(
                    common::max_rel_diff(&seg(next, 2), &inline[12 * n_embd..13 * n_embd]) > 1e-3
                );
                assert!(seg(next, 0).iter().any(|&x| x != 0.0));
            }
        }
        assert_eq!(all.len(), 31);
    }
    eprintln!(
        "teacher-forced vs inline: worst relative difference {worst:e} over {checked} tokens"
    );
    assert!(checked > 10, "too few tokens compared ({checked})");
}

#[test]
fn captured_final_norm_equals_llama_embeddings() {
    let _serial = common::serial();
    let engine = Engine::load(common::smollm2()).unwrap();
    let ids = engine.tokenize(&prompt(&engine, "Name a colour.")).unwrap();
    let n_layer = engine.info().n_layer;
    let sel = StateSpec::List(vec![n_layer]).resolve(n_layer).unwrap();
    let re = engine.reencode(&ids, 0, &sel, true, None).unwrap();
    let emb = re.embeddings.unwrap();
    assert_eq!(emb.len(), re.rows.len());
    assert_eq!(
        re.rows, emb,
        "captured result_norm rows must equal llama_get_embeddings_ith exactly"
    );
    // And a different state is not equal to the embeddings (the check can fail).
    let other = StateSpec::List(vec![n_layer - 1]).resolve(n_layer).unwrap();
    let re2 = engine.reencode(&ids, 0, &other, false, None).unwrap();
    assert_ne!(re2.rows, emb);
}

#[test]
fn batched_equals_one_at_a_time() {
    let _serial = common::serial();
    let engine = Engine::load(common::smollm2()).unwrap();
    let p = prompt(&engine, "Give me a fun fact about the moon.");
    let seeds: Vec<u64> = (0..4).map(|c| candidate_seed(99, c)).collect();
    let base = opts(4, "0,15,30").with_seeds(seeds.clone());
    let mut batched = MemorySink::new();
    let gb = engine.generate(&p, &base, &mut batched).unwrap();
    for (c, &seed) in seeds.iter().enumerate() {
        let mut alone = MemorySink::new();
        let one = opts(1, "0,15,30").with_seeds(vec![seed]);
        let g1 = engine.generate(&p, &one, &mut alone).unwrap();
        assert_eq!(
            g1.candidates[0].tokens, gb.candidates[c].tokens,
            "candidate {c} tokens differ"
        );
        assert_eq!(g1.candidates[0].text, gb.candidates[c].text);
        let d = common::max_rel_diff(alone.rows(0), batched.rows(c));
        eprintln!("batched vs alone, candidate {c}: worst relative difference {d:e}");
        assert!(d < 1e-4, "candidate {c}: captured rows differ by {d}");
    }
}

#[test]
fn same_seed_same_outputs_and_rows() {
    let _serial = common::serial();
    let engine = Engine::load(common::smollm2()).unwrap();
    let p = prompt(&engine, "What is 6 times 7?");
    let o = opts(4, "last:4");
    let (mut a, mut b) = (MemorySink::new(), MemorySink::new());
    let ga = engine.generate(&p, &o, &mut a).unwrap();
    let gb = engine.generate(&p, &o, &mut b).unwrap();
    for c in 0..4 {
        assert_eq!(ga.candidates[c].tokens, gb.candidates[c].tokens);
        assert_eq!(
            ga.candidates[c].token_logprobs,
            gb.candidates[c].token_logprobs
        );
        assert_eq!(
            a.rows(c),
            b.rows(c),
            "rows of candidate {c} are not reproducible"
        );
    }
    let distinct: std::collections::HashSet<_> = ga.candidates.iter().map(|c| &c.tokens).collect();
    assert!(
        distinct.len() > 1,
        "candidates with different seeds should differ"
    );
    let gc = engine
        .generate(&p, &o.clone().with_seed(8), &mut MemorySink::new())
        .unwrap();
    assert_ne!(
        ga.candidates.iter().map(|c| &c.tokens).collect::<Vec<_>>(),
        gc.candidates.iter().map(|c| &c.tokens).collect::<Vec<_>>()
    );
}

#[test]
fn layer_selections_shape_the_rows() {
    let _serial = common::serial();
    let engine = Engine::load(common::smollm2()).unwrap();
    let p = prompt(&engine, "Say hi.");
    let n_embd = engine.info().n_embd as usize;
    let mut all = MemorySink::new();
    engine.generate(&p, &opts(2, "all"), &mut all).unwrap();
    assert_eq!(all.width(), 31 * n_embd);
    for (spec, states) in [
        ("last:4", vec![26u32, 27, 28, 29]),
        ("0,3,10-12", vec![0, 3, 10, 11, 12]),
    ] {
        let mut s = MemorySink::new();
        engine.generate(&p, &opts(2, spec), &mut s).unwrap();
        assert_eq!(s.width(), states.len() * n_embd, "{spec}");
        // Same seed, so the same tokens: the selected segments equal those of the `all` capture.
        for c in 0..2 {
            assert_eq!(s.n_tokens(c), all.n_tokens(c));
            for t in 0..s.n_tokens(c) {
                for (j, &st) in states.iter().enumerate() {
                    let sel = &s.row(c, t)[j * n_embd..(j + 1) * n_embd];
                    let full = &all.row(c, t)[st as usize * n_embd..(st as usize + 1) * n_embd];
                    assert_eq!(sel, full, "{spec}: candidate {c} token {t} state {st}");
                }
            }
        }
    }
    let err = engine
        .generate(&p, &opts(2, "0,31"), &mut MemorySink::new())
        .unwrap_err();
    assert!(matches!(err, EngineError::States(_)), "{err}");
    assert!(
        err.to_string().contains("31") && err.to_string().contains("0..=30"),
        "{err}"
    );
}

#[test]
fn small_ubatch_still_demultiplexes() {
    let _serial = common::serial();
    let engine = Engine::load(common::smollm2()).unwrap();
    let p = prompt(&engine, "Count to five.");
    let o = opts(4, "1,20,30");
    let (mut big, mut small) = (MemorySink::new(), MemorySink::new());
    let gb = engine.generate(&p, &o, &mut big).unwrap();
    let gs = engine
        .generate(&p, &o.clone().with_n_ubatch(2), &mut small)
        .unwrap();
    for c in 0..4 {
        assert_eq!(
            gb.candidates[c].tokens, gs.candidates[c].tokens,
            "candidate {c}"
        );
        let d = common::max_rel_diff(small.rows(c), big.rows(c));
        eprintln!("n_ubatch 2 vs default, candidate {c}: worst relative difference {d:e}");
        assert!(
            d < 1e-4,
            "candidate {c}: rows differ by {d} with n_ubatch 2"
        );
    }
}

#[test]
fn eos_rule_decides_whether_the_last_token_is_covered() {
    let _serial = common::serial();
    let engine = Engine::load(common::smollm2()).unwrap();
    let p = prompt(&engine, "Reply with one word: yes or no?");
    let o = opts(4, "last:2").with_max_tokens(64);
    let (mut inc, mut exc) = (MemorySink::new(), MemorySink::new());
    let gi = engine.generate(&p, &o, &mut inc).unwrap();
    let ge = engine
        .generate(&p, &o.clone().with_eos(EosRule::Exclude), &mut exc)
        .unwrap();
    let mut saw_eos = false;
    for c in 0..4 {
        let cand = &gi.candidates[c];
        assert_eq!(cand.tokens, ge.candidates[c].tokens);
        assert_eq!(inc.n_tokens(c), cand.tokens.len());
        match cand.finish {
            swift_bon::dataset::FinishReason::Eos => {
                saw_eos = true;
                assert!(engine.is_eog(*cand.tokens.last().unwrap()));
                assert_eq!(exc.n_tokens(c), cand.tokens.len() - 1);
                // The rows before the end token are the same under both rules.
                assert_eq!(&inc.rows(c)[..exc.rows(c).len()], exc.rows(c));
            }
            swift_bon::dataset::FinishReason::Length => {
                assert_eq!(exc.n_tokens(c), cand.tokens.len())
            }
            swift_bon::dataset::FinishReason::Stop => panic!("no stop strings were given"),
            swift_bon::dataset::FinishReason::Pruned => panic!("nothing was stopped"),
        }
    }
    assert!(saw_eos, "no candidate finished within 64 tokens");
}

#[test]
fn logits_mode_delivers_vocabulary_rows() {
    let _serial = common::serial();
    let engine = Engine::load(common::smollm2()).unwrap();
    let p = prompt(&engine, "What is 2 + 2?");
    let o = GenerateOptions::new(2)
        .with_max_tokens(8)
        .with_features(FeatureRequest::Logits);
    let mut s = MemorySink::new();
    let g = engine.generate(&p, &o, &mut s).unwrap();
    assert_eq!(s.width(), engine.info().n_vocab as usize);
    for c in &g.candidates {
        assert_eq!(s.n_tokens(c.index), c.tokens.len());
    }
}

#[test]
fn bad_options_are_typed_errors() {
    let _serial = common::serial();
    let engine = Engine::load(common::smollm2()).unwrap();
    let p = prompt(&engine, "Hi");
    let e = engine
        .generate(&p, &GenerateOptions::new(0), &mut MemorySink::new())
        .unwrap_err();
    assert!(
        matches!(e, EngineError::InvalidOption { name: "n", .. }),
        "{e}"
    );
    let long = "word ".repeat(400);
    let e = engine
        .generate(
            &long,
            &GenerateOptions::new(2).with_ctx_per_seq(128),
            &mut MemorySink::new(),
        )
        .unwrap_err();
    assert!(
        matches!(e, EngineError::PromptTooLong { limit: 128, .. }),
        "{e}"
    );
    let e = engine
        .generate(
            &p,
            &GenerateOptions::new(2).with_top_p(0.0),
            &mut MemorySink::new(),
        )
        .unwrap_err();
    assert!(
        matches!(e, EngineError::InvalidOption { name: "top_p", .. }),
        "{e}"
    );
}

#[test]
fn gemma3_without_chat_template_samples_with_capture() {
    let _serial = common::serial();
    let engine = Engine::load(common::gemma3()).unwrap();
    let info = engine.info().clone();
    assert_eq!(info.architecture, "gemma3");
    assert_eq!(info.n_layer, 18);
    assert_eq!(info.n_embd, 640);
    assert!(!info.has_chat_template);
    let p = prompt(&engine, "What is 3 + 4?");
    // No chat template in the GGUF: a base model, so the completion format.
    assert_eq!(p, "Question: What is 3 + 4?\nAnswer:");
    assert_eq!(
        engine.prompt_format(&TemplateChoice::Auto),
        PromptFormat::Completion
    );
    let mut s = MemorySink::new();
    let g = engine.generate(&p, &opts(3, "all"), &mut s).unwrap();
    assert_eq!(s.width(), 19 * 640);
    for c in &g.candidates {
        assert_eq!(s.n_tokens(c.index), c.tokens.len());
        assert!(s.rows(c.index).iter().all(|x| x.is_finite()));
    }
    // The embedding input (gemma3 names it inp_scaled) is captured and scaled by sqrt(n_embd).
    let check = engine.capture_self_check().unwrap();
    assert_eq!(check.states, 19);
    assert!(check.state_rms[0] > 0.0);
}

#[test]
fn stop_strings_end_candidates_like_an_end_token() {
    // A base model continuing a few-shot pattern writes the next "Question:" after its answer.
    let _serial = common::serial();
    let engine = Engine::load(common::gemma3()).unwrap();
    let task: swift_bon::tasks::TaskSpec = "arithmetic:count=1,seed=5".parse().unwrap();
    let messages = swift_bon::tasks::prompt_messages(
        Some(task.instruction()),
        &task.examples(),
        "What is 12 + 30?",
        PromptFormat::Completion,
    );
    let p = engine
        .render_prompt(&messages, &TemplateChoice::Completion)
        .unwrap();
    let stop = engine.stop_strings(&TemplateChoice::Completion);
    assert_eq!(stop, vec!["\nQuestion:".to_string()]);
    let o = opts(6, "last:2")
        .with_max_tokens(96)
        .with_stop(stop.clone());
    let (mut inc, mut exc) = (MemorySink::new(), MemorySink::new());
    let g = engine.generate(&p, &o, &mut inc).unwrap();
    let ge = engine
        .generate(&p, &o.clone().with_eos(EosRule::Exclude), &mut exc)
        .unwrap();
    let mut stopped = 0;
    for (c, cand) in g.candidates.iter().enumerate() {
        assert_eq!(cand.tokens, ge.candidates[c].tokens);
        assert!(!cand.text.contains(&stop[0]), "{:?}", cand.text);
        assert_eq!(inc.n_tokens(c), cand.tokens.len());
        if cand.finish == swift_bon::dataset::FinishReason::Stop {
            stopped += 1;
            let full = engine.detokenize(&cand.tokens);
            assert!(
                full.ends_with(&stop[0]) || full.contains(&stop[0]),
                "{full:?}"
            );
            assert!(full.starts_with(&cand.text));
            // Generation ended at the token that completed the string: nothing after it.
            let without_last = engine.detokenize(&cand.tokens[..cand.tokens.len() - 1]);
            assert!(!without_last.contains(&stop[0]), "{without_last:?}");
            assert_eq!(exc.n_tokens(c), cand.tokens.len() - 1);
        }
    }
    assert!(
        stopped >= 3,
        "only {stopped} of 6 candidates reached the stop string"
    );
    // Without stop strings the same seeds run on past it.
    let mut s = MemorySink::new();
    let free = engine
        .generate(&p, &o.clone().with_stop(Vec::new()), &mut s)
        .unwrap();
    assert!(free.candidates.iter().any(|c| c.text.contains(&stop[0])));
}
