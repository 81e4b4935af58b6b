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

/// Asserts success (showing stderr if not) and parses stdout as JSON.
fn stdout_json(out: &Output) -> serde_json::Value {
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("stdout is JSON")
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
    // Its metadata runs past the cut: the header walk says so before llama.cpp sees the file.
    let out = swift_bon(&["sample", "hi", "--model", truncated.to_str().unwrap()]);
    assert_clean_error(&out, "truncated");
    assert_clean_error(&out, truncated.to_str().unwrap());
    assert_eq!(out.status.code(), Some(2));
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
    let v = stdout_json(&out);
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
    let v = stdout_json(&out);
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
        // No installed heads; the shipped ones (arithmetic, coinflip, general) were not trained on gsm8k.
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
    let v = stdout_json(&out);
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
        "--select",
        "swift",
        "-m",
        model.to_str().unwrap(),
    ]);
    let v = stdout_json(&out);
    assert!(v["head"].as_str().unwrap().contains("smollm2-135m"), "{v}");
    let cands = v["candidates"].as_array().unwrap();
    let scores: Vec<f64> = cands
        .iter()
        .map(|c| c["swift_score"].as_f64().unwrap())
        .collect();
    let chosen = v["chosen"].as_u64().unwrap() as usize;
    // The highest score among the candidates with an answer (a candidate without one is chosen
    // only when none has one).
    // (Pruned candidates are not eligible.)
    let eligible: Vec<usize> = (0..cands.len())
        .filter(|&i| cands[i]["pruned"] == false)
        .collect();
    let answered: Vec<usize> = eligible
        .iter()
        .copied()
        .filter(|&i| !cands[i]["answer"].is_null())
        .collect();
    let pool = if answered.is_empty() {
        eligible
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
    let v = stdout_json(&out);
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
            "128",
            "--json",
            "-m",
            model.to_str().unwrap(),
        ])
        .env(swift_bon::fetch::MODELS_DIR_ENV, empty.path())
        .output()
        .unwrap();
    let v = stdout_json(&out);
    let cands = v["candidates"].as_array().unwrap();
    assert!(
        cands.iter().any(|c| c["finish"] == "stop"),
        "a base model following the worked examples reaches the next question: {v}"
    );
    for c in cands {
        assert!(!c["text"].as_str().unwrap().contains("\nQuestion:"), "{c}");
    }
}

/// A base model asked a question of no task gets the worked examples of its answer kind, so its
/// candidates answer in their pattern ("The answer is") and stop at the next question, where a
/// bare `Question:`/`Answer:` prompt gave it nothing to follow.
#[test]
fn a_base_model_asked_without_a_task_follows_the_general_worked_examples() {
    let model = common::gemma3();
    let _serial = common::serial();
    let out = swift_bon(&[
        "ask",
        "Tom has 15 marbles and gives 6 to Ana. How many marbles does Tom have left?",
        "--select",
        "logprob",
        "-n",
        "4",
        "--max-tokens",
        "96",
        "--json",
        "-m",
        model.to_str().unwrap(),
    ]);
    let v = stdout_json(&out);
    let cands = v["candidates"].as_array().unwrap();
    let following = cands
        .iter()
        .filter(|c| c["finish"] == "stop" && c["text"].as_str().unwrap().contains("The answer is"))
        .count();
    assert!(following >= 2, "candidates follow the worked examples: {v}");
}

// ---- the bad-input matrix: exit code 2, and stderr names the file, line or value ----------------

/// Asserts exit code 2 and one error line naming every one of `needles`.
fn assert_bad_input(out: &Output, needles: &[&str]) {
    for n in needles {
        assert_clean_error(out, n);
    }
    assert_eq!(
        out.status.code(),
        Some(2),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn a_gguf_header_with_impossible_counts_is_refused_before_llama_reads_it() {
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("huge.gguf");
    let mut b = b"GGUF".to_vec();
    b.extend(3u32.to_le_bytes());
    b.extend(0u64.to_le_bytes());
    b.extend((1u64 << 60).to_le_bytes()); // 2^60 metadata entries in a 24-byte file
    std::fs::write(&bad, &b).unwrap();
    let out = swift_bon(&["sample", "hi", "--model", bad.to_str().unwrap()]);
    assert_bad_input(
        &out,
        &[bad.to_str().unwrap(), "at byte 24", "1152921504606846976"],
    );
    let mut v1 = b.clone();
    v1[4] = 1;
    std::fs::write(&bad, &v1).unwrap();
    let out = swift_bon(&["doctor", "--model", bad.to_str().unwrap()]);
    assert_bad_input(&out, &["version 1"]);
}

#[test]
fn ask_refuses_an_empty_question_before_loading_a_model() {
    for q in ["", "  \n\t"] {
        let out = swift_bon(&["ask", q, "--model", "/nonexistent/model.gguf"]);
        assert_bad_input(&out, &["question is empty"]);
    }
}

/// A small head (F = 12) with `notes` as its notes.
fn write_head(dir: &std::path::Path, notes: &str) -> std::path::PathBuf {
    use swift_bon::head::{Head, HeadSpec, ModelIdentity, Normalization};
    let model = ModelIdentity {
        architecture: "llama".into(),
        n_layer: 2,
        n_embd: 4,
        n_vocab: 32,
        fingerprint: "sha256-ends-v1:00".into(),
    };
    let features =
        swift_bon::head::hidden_source(&swift_bon::features::StateSpec::All, &model).unwrap();
    let spec = HeadSpec {
        model,
        features,
        norm: Normalization::Rms,
        gate: true,
        eos: swift_bon::features::EosRule::Include,
        instruction: None,
        instruction_by_kind: Default::default(),
        training: None,
        notes: Some(notes.to_string()),
    };
    let head = Head::new(spec, vec![0.25; 24], vec![0.5, -0.5], None).unwrap();
    let path = dir.join("h");
    head.save(&path).unwrap();
    path
}

#[test]
fn a_closed_stdout_ends_every_printing_command_quietly() {
    // The head's notes are larger than a pipe's buffer, so the writer meets the closed pipe
    // whatever the timing (this used to panic with "failed printing to stdout", exit 101).
    let dir = tempfile::tempdir().unwrap();
    let head = write_head(dir.path(), &"long notes ".repeat(20_000));
    let head = head.to_str().unwrap();
    for args in [vec!["inspect", head], vec!["inspect", head, "--json"]] {
        let mut child = Command::new(env!("CARGO_BIN_EXE_swift-bon"))
            .args(&args)
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        drop(child.stdout.take()); // the reader goes away, as `| head -c 100` does
        let out = child.wait_with_output().unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(0), "{args:?}: {stderr}");
        assert!(stderr.is_empty(), "{args:?}: {stderr}");
    }
}

#[test]
fn collect_count_merges_into_a_json_task_spec() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("q.jsonl");
    let rows: String = (0..100)
        .map(|i| {
            format!(
                "{{\"question\": \"What is {i} + 1?\", \"answer\": \"{}\"}}\n",
                i + 1
            )
        })
        .collect();
    std::fs::write(&data, rows).unwrap();
    let spec = serde_json::json!({"task": "jsonl", "path": data, "answer": "number"}).to_string();
    let out_dir = dir.path().join("out");
    let out = swift_bon(&[
        "collect",
        "--task",
        &spec,
        "--count",
        "60",
        "--out",
        out_dir.to_str().unwrap(),
        "--model",
        "/nonexistent/model.gguf",
    ]);
    // The spec and its 60 problems are accepted (this used to fail as "invalid task spec"
    // because `,limit=60` was appended to the JSON); the missing model is the first problem.
    assert_bad_input(&out, &["/nonexistent/model.gguf"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!stderr.contains("invalid task spec"), "{stderr}");
    // A bad row of the file is named by file and line.
    std::fs::write(
        &data,
        "{\"question\": \"a\", \"answer\": \"1\"}\n{\"question\": 5}\n",
    )
    .unwrap();
    let out = swift_bon(&[
        "collect",
        "--task",
        &spec,
        "--out",
        out_dir.to_str().unwrap(),
        "--model",
        "/nonexistent/model.gguf",
    ]);
    assert_bad_input(&out, &[&format!("{}:2", data.display())]);
}

#[test]
fn missing_or_corrupt_head_files_are_bad_input() {
    let dir = tempfile::tempdir().unwrap();
    let head = write_head(dir.path(), "n");
    let yaml = head.with_extension("yaml");
    let st = head.with_extension("safetensors");
    let h = head.to_str().unwrap();

    let out = swift_bon(&["inspect", dir.path().join("nothing").to_str().unwrap()]);
    assert_bad_input(&out, &["nothing.yaml"]);

    let good_yaml = std::fs::read_to_string(&yaml).unwrap();
    std::fs::write(&yaml, good_yaml.replace("gate: true", "gate: [true")).unwrap();
    let out = swift_bon(&["inspect", h]);
    assert_bad_input(&out, &[yaml.to_str().unwrap(), "line"]);
    std::fs::write(&yaml, &good_yaml).unwrap();

    let good_st = std::fs::read(&st).unwrap();
    std::fs::write(&st, &good_st[..good_st.len() - 3]).unwrap();
    let out = swift_bon(&["inspect", h]);
    assert_bad_input(&out, &[st.to_str().unwrap()]);

    // A NaN weight is named by tensor, index and value.
    let mut nan = good_st.clone();
    let n = u64::from_le_bytes(nan[..8].try_into().unwrap()) as usize;
    let header: serde_json::Value = serde_json::from_slice(&nan[8..8 + n]).unwrap();
    let start = header["weight"]["data_offsets"][0].as_u64().unwrap() as usize;
    let at = 8 + n + start + 4 * 3; // weight[3]
    nan[at..at + 4].copy_from_slice(&f32::NAN.to_le_bytes());
    std::fs::write(&st, &nan).unwrap();
    let out = swift_bon(&["inspect", h]);
    assert_bad_input(&out, &[st.to_str().unwrap(), "weight[3]", "NaN"]);
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

#[test]
fn the_general_head_reads_yes_no_answers_from_a_yes_no_question() {
    let model = common::smollm2();
    let empty = tempfile::tempdir().unwrap();
    let _serial = common::serial();
    let ask = |q: &str| {
        let out = Command::new(env!("CARGO_BIN_EXE_swift-bon"))
            .args([
                "ask",
                q,
                "-n",
                "8",
                "--max-tokens",
                "32",
                "--json",
                "--seed",
                "5",
            ])
            .args(["-m", model.to_str().unwrap()])
            .env(swift_bon::fetch::MODELS_DIR_ENV, common::models_dir())
            // No installed heads: the shipped general head is the default.
            .env(swift_bon::locate::HEADS_DIR_ENV, empty.path())
            .output()
            .unwrap();
        let v = stdout_json(&out);
        assert_eq!(v["head"], "smollm2-135m-general", "{v}");
        assert_eq!(v["selection"], "auto", "{v}");
        v["candidates"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|c| c["answer"].as_str().map(str::to_string))
            .collect::<Vec<_>>()
    };
    let coin = ask("A coin is heads up. Ana flips the coin. Ben does not flip the coin. Is the coin still heads up?");
    assert!(!coin.is_empty(), "no candidate answered");
    assert!(
        coin.iter().all(|a| a == "yes" || a == "no"),
        "yes/no answers: {coin:?}"
    );
    let sum = ask("What is 30 + 12?");
    assert!(
        sum.iter().all(|a| a.parse::<f64>().is_ok()),
        "numbers: {sum:?}"
    );
}
