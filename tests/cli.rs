//! The command-line tool as a user runs it: bad input gives one line on stderr and a non-zero
//! exit, never a panic; good input gives the promised output.

mod common;

use std::process::{Command, Output};

fn swift_bon(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_swift-bon"))
        .args(args)
        .env(swift_bon::fetch::MODELS_DIR_ENV, common::models_dir())
        .output()
        .expect("run swift-bon")
}

/// Asserts a clean failure: non-zero exit, exactly one `error:` line mentioning `needle`.
fn assert_clean_error(out: &Output, needle: &str) {
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "expected failure, stderr: {stderr}");
    assert!(!stderr.contains("panicked"), "panic: {stderr}");
    let errors: Vec<&str> = stderr.lines().filter(|l| l.starts_with("error")).collect();
    assert_eq!(errors.len(), 1, "expected one error line, got: {stderr}");
    assert!(
        errors[0].contains(needle),
        "error line {:?} lacks {needle:?}",
        errors[0]
    );
}

#[test]
fn missing_model_file() {
    let out = swift_bon(&["sample", "hi", "--model", "/nonexistent/model.gguf"]);
    assert_clean_error(&out, "/nonexistent/model.gguf");
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn corrupt_model_files() {
    let dir = tempfile::tempdir().unwrap();
    let not_gguf = dir.path().join("not.gguf");
    std::fs::write(&not_gguf, b"this is not a model").unwrap();
    let out = swift_bon(&["sample", "hi", "--model", not_gguf.to_str().unwrap()]);
    assert_clean_error(&out, "not a GGUF");
    // A real header cut short: llama.cpp refuses it, and we say so in one line.
    let real = std::fs::read(common::smollm2()).unwrap();
    let truncated = dir.path().join("truncated.gguf");
    std::fs::write(&truncated, &real[..1 << 20]).unwrap();
    let _serial = common::serial();
    let out = swift_bon(&["sample", "hi", "--model", truncated.to_str().unwrap()]);
    assert_clean_error(&out, "could not load");
}

#[test]
fn zero_candidates_and_bad_layer_specs() {
    let model = common::smollm2();
    let m = model.to_str().unwrap();
    let _serial = common::serial();
    let out = swift_bon(&["sample", "hi", "-m", m, "-n", "0"]);
    assert_clean_error(&out, "n = 0");
    let out = swift_bon(&["sample", "hi", "-m", m, "--layers", "last:x"]);
    assert_clean_error(&out, "last:x");
    let out = swift_bon(&["sample", "hi", "-m", m, "--layers", "0,31"]);
    assert_clean_error(&out, "state 31 is out of range");
    assert_eq!(out.status.code(), Some(2));
    let out = swift_bon(&["fetch-model", "llama-70b"]);
    assert_clean_error(&out, "unknown model");
}

#[test]
fn prompt_longer_than_the_context() {
    let model = common::smollm2();
    let long = "word ".repeat(300);
    let _serial = common::serial();
    let out = swift_bon(&[
        "sample",
        &long,
        "-m",
        model.to_str().unwrap(),
        "--ctx-size",
        "64",
    ]);
    assert_clean_error(&out, "context holds 64");
}

#[test]
fn sample_json_reports_every_state_for_every_token() {
    let model = common::smollm2();
    let _serial = common::serial();
    let out = swift_bon(&[
        "sample",
        "What is 17 + 25?",
        "-n",
        "8",
        "--json",
        "--max-tokens",
        "48",
        "-m",
        model.to_str().unwrap(),
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("stdout is JSON");
    let cands = v["candidates"].as_array().unwrap();
    assert_eq!(cands.len(), 8);
    let texts: std::collections::HashSet<&str> =
        cands.iter().map(|c| c["text"].as_str().unwrap()).collect();
    assert!(
        texts.len() >= 6,
        "expected distinct candidates, got {texts:?}"
    );
    for c in cands {
        assert_eq!(c["captured_states"], 31);
        assert_eq!(c["features_per_row"], 31 * 576);
        assert_eq!(
            c["captured_rows"], c["tokens"],
            "every generated token is covered: {c}"
        );
    }
    assert_eq!(v["states"].as_array().unwrap().len(), 31);
}

#[test]
fn doctor_reports_the_model_and_passes_the_self_check() {
    let model = common::smollm2();
    let _serial = common::serial();
    let out = swift_bon(&["doctor", "--json", "-m", model.to_str().unwrap()]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["model"]["architecture"], "llama");
    assert_eq!(v["model"]["n_layer"], 30);
    assert_eq!(v["model"]["n_embd"], 576);
    assert_eq!(v["self_check"]["states"], 31);
    assert_eq!(v["versions"]["llama_cpp_sys_2"], "0.1.160");
}

#[test]
fn ask_without_a_head_says_so_and_offers_other_selectors() {
    let model = common::smollm2();
    let empty = tempfile::tempdir().unwrap();
    let _serial = common::serial();
    let out = Command::new(env!("CARGO_BIN_EXE_swift-bon"))
        .args([
            "ask",
            "What is 2 + 3?",
            "--task",
            "gsm8k",
            "-n",
            "2",
            "--max-tokens",
            "8",
            "-m",
            model.to_str().unwrap(),
        ])
        .env(swift_bon::fetch::MODELS_DIR_ENV, empty.path())
        // No installed heads; the shipped ones (arithmetic, coinflip) were not trained on gsm8k.
        .env(swift_bon::locate::HEADS_DIR_ENV, empty.path())
        .output()
        .unwrap();
    assert_clean_error(&out, "no SWIFT head trained on gsm8k");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("--select majority") && err.contains("--select logprob"),
        "{err}"
    );
    // Majority vote needs no head, and says which candidate it chose.
    let out = Command::new(env!("CARGO_BIN_EXE_swift-bon"))
        .args([
            "ask",
            "What is 2 + 3?",
            "-n",
            "4",
            "--max-tokens",
            "24",
            "--select",
            "majority",
            "--json",
            "-m",
            model.to_str().unwrap(),
        ])
        .env(swift_bon::fetch::MODELS_DIR_ENV, empty.path())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["selection"], "majority");
    assert_eq!(v["candidates"].as_array().unwrap().len(), 4);
    let chosen = v["chosen"].as_u64().unwrap() as usize;
    assert_eq!(v["candidates"][chosen]["chosen"], true);
    assert!(v["candidates"][0]["swift_score"].is_null());
}

#[test]
fn ask_with_the_shipped_head_scores_every_candidate() {
    let model = common::smollm2();
    let _serial = common::serial();
    // The head shipped in models/ for the default model is found without --head.
    let out = swift_bon(&[
        "ask",
        "What is 25 + 17?",
        "-n",
        "4",
        "--max-tokens",
        "48",
        "--json",
        "-m",
        model.to_str().unwrap(),
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(v["head"].as_str().unwrap().contains("smollm2-135m"), "{v}");
    let cands = v["candidates"].as_array().unwrap();
    let scores: Vec<f64> = cands
        .iter()
        .map(|c| c["swift_score"].as_f64().unwrap())
        .collect();
    let chosen = v["chosen"].as_u64().unwrap() as usize;
    // The highest score among the candidates with an answer (a candidate without one is chosen
    // only when none has one).
    let answered: Vec<usize> = (0..cands.len())
        .filter(|&i| !cands[i]["answer"].is_null())
        .collect();
    let pool = if answered.is_empty() {
        (0..cands.len()).collect()
    } else {
        answered
    };
    let best = pool
        .iter()
        .map(|&i| scores[i])
        .fold(f64::NEG_INFINITY, f64::max);
    assert_eq!(
        scores[chosen], best,
        "swift selection must pick the highest score among answered candidates: {scores:?}"
    );
    // The human form prints the chosen text on stdout and the table with --show-all.
    let out = swift_bon(&[
        "ask",
        "What is 25 + 17?",
        "-n",
        "4",
        "--max-tokens",
        "48",
        "--show-all",
        "-m",
        model.to_str().unwrap(),
    ]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.lines().any(|l| l.starts_with('>')),
        "chosen row marked: {text}"
    );
}

#[test]
fn ask_task_names_are_checked_before_anything_loads() {
    let out = swift_bon(&["ask", "Is the coin heads up?", "--task", "coins"]);
    assert_clean_error(&out, "unknown task \"coins\" for --task");
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn ask_task_picks_the_head_of_that_task_family() {
    let model = common::smollm2();
    let _serial = common::serial();
    let q = "A coin is heads up. Ana flips the coin. Bo does not flip the coin. Is the coin still heads up? Note that \"flip\" here means \"reverse\".";
    let out = swift_bon(&[
        "ask",
        q,
        "--task",
        "coinflip",
        "-n",
        "3",
        "--max-tokens",
        "40",
        "--json",
        "-m",
        model.to_str().unwrap(),
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(v["head"].as_str().unwrap().contains("coinflip"), "{v}");
    // Answers are read as yes/no, the coinflip head's answer kind.
    for c in v["candidates"].as_array().unwrap() {
        if let Some(a) = c["answer"].as_str() {
            assert!(a == "yes" || a == "no", "{c}");
        }
    }
}

#[test]
fn ask_on_a_base_model_uses_the_completion_format_and_stops() {
    let model = common::gemma3();
    let empty = tempfile::tempdir().unwrap();
    let _serial = common::serial();
    let out = Command::new(env!("CARGO_BIN_EXE_swift-bon"))
        .args([
            "ask",
            "What is 12 + 30?",
            "--task",
            "arithmetic",
            "--select",
            "majority",
            "-n",
            "4",
            "--max-tokens",
            "64",
            "--json",
            "-m",
            model.to_str().unwrap(),
        ])
        .env(swift_bon::fetch::MODELS_DIR_ENV, empty.path())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let cands = v["candidates"].as_array().unwrap();
    assert!(
        cands.iter().any(|c| c["finish"] == "stop"),
        "a base model following the worked examples reaches the next question: {v}"
    );
    for c in cands {
        assert!(!c["text"].as_str().unwrap().contains("\nQuestion:"), "{c}");
    }
}

#[test]
fn ask_with_pruning_decodes_fewer_tokens_and_marks_the_pruned() {
    let model = common::smollm2();
    let _serial = common::serial();
    let run = |prune: &str| {
        let out = swift_bon(&[
            "ask",
            "What is 36 + 49?",
            "-n",
            "8",
            "--max-tokens",
            "96",
            "--seed",
            "4",
            "--prune",
            prune,
            "--json",
            "-m",
            model.to_str().unwrap(),
        ]);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        serde_json::from_slice::<serde_json::Value>(&out.stdout).unwrap()
    };
    let full = run("off");
    let pruned = run("top:0.5,warmup=8,every=8,min=2");
    let decoded = |v: &serde_json::Value| v["decoded_tokens"].as_u64().unwrap();
    assert!(
        decoded(&pruned) < decoded(&full),
        "{} vs {}",
        decoded(&pruned),
        decoded(&full)
    );
    let cands = pruned["candidates"].as_array().unwrap();
    let n_pruned = cands.iter().filter(|c| c["pruned"] == true).count();
    assert!(n_pruned > 0);
    for c in cands.iter().filter(|c| c["pruned"] == true) {
        assert_eq!(c["finish"], "pruned");
        assert_eq!(c["chosen"], false);
    }
    assert!(pruned["prune"].as_str().unwrap().starts_with("top:0.5"));
    // --show-all marks them in the table.
    let out = swift_bon(&[
        "ask",
        "What is 36 + 49?",
        "-n",
        "8",
        "--max-tokens",
        "96",
        "--seed",
        "4",
        "--prune",
        "top:0.5,warmup=8,every=8,min=2",
        "--show-all",
        "-m",
        model.to_str().unwrap(),
    ]);
    assert!(out.status.success());
    let table = String::from_utf8_lossy(&out.stdout);
    assert!(table.contains("pruned"), "{table}");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("pruned"), "{err}");
}

#[test]
fn bad_prune_policies_and_empty_questions_are_refused() {
    for (args, needle) in [
        (vec!["ask", "q", "--prune", "top:2"], "top:2"),
        (vec!["ask", "q", "--prune", "sometimes"], "sometimes"),
        (vec!["ask", "   "], "empty"),
    ] {
        let out = swift_bon(&args);
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(needle), "{args:?}: {err}");
    }
}
