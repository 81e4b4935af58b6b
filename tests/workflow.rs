//! The whole workflow from the command line, as a user runs it: collect -> train -> inspect ->
//! eval (table, JSON, plot) -> sample with the head; and import of a reference checkpoint.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn swift_bon(args: &[&str]) -> Output {
    let out = Command::new(env!("CARGO_BIN_EXE_swift-bon"))
        .args(args)
        .env(swift_bon::fetch::MODELS_DIR_ENV, common::models_dir())
        .output()
        .expect("run swift-bon");
    assert!(
        out.status.success(),
        "swift-bon {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// Collects `task` into `dir/name`: `n` candidates of at most 12 tokens, the last state only.
fn collect_small(dir: &Path, model: &Path, name: &str, task: &str, n: usize) -> PathBuf {
    let out = dir.join(name);
    let n = n.to_string();
    swift_bon(&[
        "collect",
        "--task",
        task,
        "-n",
        &n,
        "--max-tokens",
        "12",
        "--layers",
        "last:1",
        "--out",
        s(&out),
        "-q",
        "-m",
        s(model),
    ]);
    out
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

#[test]
fn collect_train_inspect_eval_and_sample_with_the_head() {
    let model = common::smollm2();
    let _serial = common::serial();
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let head = dir.path().join("head");
    let common_args = [
        "-n",
        "4",
        "--max-tokens",
        "24",
        "--layers",
        "last:4",
        "--entropy",
        "-q",
    ];
    let mut args = vec![
        "collect",
        "--task",
        "arithmetic",
        "--count",
        "6",
        "--seed",
        "9",
        "--out",
        s(&data),
        "-m",
        s(&model),
    ];
    args.extend(common_args);
    let out = swift_bon(&args);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("6 problems complete"), "{text}");

    let out = swift_bon(&[
        "train",
        "--data",
        s(&data),
        "--out",
        s(&head),
        "--epochs",
        "3",
        "--norm",
        "rms",
        "-q",
    ]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("val AUC") && text.contains("Best-of-4"),
        "{text}"
    );
    assert!(dir.path().join("head.safetensors").exists() && dir.path().join("head.yaml").exists());

    let out = swift_bon(&["inspect", s(&head)]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("parameters     4610"),
        "2 x 4 x 576 + 2 parameters expected: {text}"
    );
    assert!(text.contains("26-29") && text.contains("rms"), "{text}");

    let plot = dir.path().join("eval.svg");
    let out = swift_bon(&[
        "eval",
        "--data",
        s(&data),
        "--head",
        s(&head),
        "--json",
        "--plot",
        s(&plot),
        "-q",
    ]);
    let v: serde_json::Value =
        serde_json::from_slice(&out.stdout).expect("eval --json prints JSON");
    let names: Vec<&str> = v["selectors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x["name"].as_str().unwrap())
        .collect();
    for want in [
        "random",
        "oracle",
        "majority",
        "logprob",
        "self-certainty",
        "swift",
        "swift-vote",
    ] {
        assert!(
            names.contains(&want),
            "selector {want} missing from {names:?}"
        );
    }
    assert_eq!(v["counts"]["problems"], 6);
    let svg = std::fs::read_to_string(&plot).unwrap();
    assert!(svg.contains("<svg") && svg.contains("swift-vote"));
    let out = swift_bon(&[
        "eval",
        "--data",
        s(&data),
        "--head",
        s(&head),
        "--k",
        "1,2,4",
    ]);
    let table = String::from_utf8_lossy(&out.stdout);
    assert!(table.contains("oracle") && table.contains("AUC"), "{table}");

    let out = swift_bon(&[
        "sample",
        "What is 3 + 4?",
        "-n",
        "2",
        "--max-tokens",
        "16",
        "--head",
        s(&head),
        "--json",
        "-m",
        s(&model),
    ]);
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    for c in v["candidates"].as_array().unwrap() {
        assert!(c["swift_score"].as_f64().unwrap().is_finite(), "{c}");
        assert_eq!(c["captured_states"], 4);
    }
}

#[test]
fn a_head_for_another_model_is_refused() {
    let model = common::smollm2();
    let dir = tempfile::tempdir().unwrap();
    // A reference checkpoint for 2 states of SmolLM2 (2 x 576 features) imports...
    let ckpt = dir.path().join("ref.pt");
    let st = Command::new("python3")
        .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/make_torch_checkpoint.py"))
        .args(["--gated", "1152", s(&ckpt)])
        .output()
        .unwrap();
    assert!(
        st.status.success(),
        "{}",
        String::from_utf8_lossy(&st.stderr)
    );
    let head = dir.path().join("imported");
    let _serial = common::serial();
    swift_bon(&[
        "import-head",
        s(&ckpt),
        "--states",
        "29,30",
        "--out",
        s(&head),
        "-m",
        s(&model),
    ]);
    let out = swift_bon(&["inspect", s(&head), "--json"]);
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["parameters"], 2 * 1152 + 2);
    // ... with the wrong state count it is refused, naming expected and got ...
    let out = Command::new(env!("CARGO_BIN_EXE_swift-bon"))
        .args([
            "import-head",
            s(&ckpt),
            "--states",
            "last:4",
            "--out",
            s(&head),
            "-m",
            s(&model),
        ])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("1152") && err.contains("2304"), "{err}");
    // ... and the SmolLM2 head is refused on Gemma-3 (another architecture and shape).
    let gemma = common::gemma3();
    let out = Command::new(env!("CARGO_BIN_EXE_swift-bon"))
        .args([
            "sample",
            "hi",
            "-n",
            "1",
            "--head",
            s(&head),
            "-m",
            s(&gemma),
        ])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("llama") && err.contains("gemma3"), "{err}");
    assert!(!err.contains("panicked"), "{err}");
}

/// A general head over families asked their own way records one instruction per answer kind,
/// and `train` refuses two collections of one kind asked two ways.
#[test]
fn a_general_head_records_an_instruction_per_answer_kind() {
    let model = common::smollm2();
    let _serial = common::serial();
    let dir = tempfile::tempdir().unwrap();
    let collect = |name: &str, task: &str| collect_small(dir.path(), &model, name, task, 2);
    let arith = collect(
        "arith",
        r#"{"task":"arithmetic","count":4,"seed":3,"instruction":"Add them up."}"#,
    );
    let coin = collect("coin", r#"{"task":"coinflip","count":4,"seed":3}"#);
    let head = dir.path().join("general");
    let out = swift_bon(&[
        "train",
        "--data",
        s(&arith),
        "--data",
        s(&coin),
        "--out",
        s(&head),
        "--epochs",
        "2",
        "--loss",
        "ce",
        "--folds",
        "2",
        "--calibration-json",
        s(&dir.path().join("grid.json")),
        "-q",
    ]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("2-fold cross-validation") && text.contains("trained on all 8 problems"),
        "{text}"
    );
    // The calibration grid: every point of both axes, each problem scored out of fold, per
    // answer kind too, and the choice is the one the head records.
    let grid: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.path().join("grid.json")).unwrap())
            .unwrap();
    for part in [
        &grid["overall"],
        &grid["by_kind"]["number"],
        &grid["by_kind"]["yes-no"],
    ] {
        let points = part["grid"].as_array().unwrap();
        assert_eq!(points.len(), 9 * 7, "{part}");
        let rows = part["per_problem"].as_array().unwrap();
        assert!(!rows.is_empty(), "{part}");
        assert!(
            rows.iter().all(|r| r.as_array().unwrap().len() == 63),
            "{part}"
        );
    }
    assert_eq!(
        grid["overall"]["per_problem"].as_array().unwrap().len(),
        8,
        "every problem, out of fold"
    );
    let recorded: serde_yaml::Value =
        serde_yaml::from_str(&std::fs::read_to_string(dir.path().join("general.yaml")).unwrap())
            .unwrap();
    let beta = recorded["training"]["soft_vote"]["beta"].as_f64().unwrap();
    assert_eq!(grid["overall"]["chosen"]["beta"].as_f64(), Some(beta));
    let yaml = std::fs::read_to_string(dir.path().join("general.yaml")).unwrap();
    assert!(
        yaml.contains("folds: 2") && yaml.contains("val_problems: 0"),
        "{yaml}"
    );
    assert!(
        yaml.contains(
            "instruction_by_kind:\n  number: Add them up.\n  yes-no: Answer the question."
        ),
        "{yaml}"
    );
    let out = swift_bon(&["inspect", s(&head)]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("for yes-no") && text.contains("for number"),
        "{text}"
    );

    // Two arithmetic collections asked two ways: refused, naming both.
    let other = collect("arith2", r#"{"task":"arithmetic","count":4,"seed":3}"#);
    let out = Command::new(env!("CARGO_BIN_EXE_swift-bon"))
        .args([
            "train",
            "--data",
            s(&arith),
            "--data",
            s(&other),
            "--out",
            s(&dir.path().join("bad")),
            "--loss",
            "ce",
            "-q",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("arith2") && err.contains("number answers with different instructions"),
        "{err}"
    );
}

/// `train --weights-by-kind`: each answer kind's weights are trained on that kind's collections
/// alone (so they and their out-of-fold scores equal a head trained on those collections
/// alone), and `ask` scores a question with its kind's weights.
#[test]
fn a_general_head_with_weights_per_answer_kind() {
    let model = common::smollm2();
    let _serial = common::serial();
    let dir = tempfile::tempdir().unwrap();
    let collect = |name: &str, task: &str| collect_small(dir.path(), &model, name, task, 3);
    let arith = collect(
        "arith",
        r#"{"task":"arithmetic","count":6,"seed":5,"instruction":"Add them up."}"#,
    );
    let coin = collect("coin", r#"{"task":"coinflip","count":6,"seed":5}"#);
    let train = |name: &str, data: &[&Path], extra: &[&str]| -> (serde_json::Value, String) {
        let grid = dir.path().join(format!("{name}.json"));
        let mut args = vec!["train"];
        for d in data {
            args.extend(["--data", s(d)]);
        }
        let out = dir.path().join(name);
        args.extend([
            "--out",
            s(&out),
            "--epochs",
            "2",
            "--loss",
            "ce",
            "--folds",
            "2",
            "--calibration-json",
            s(&grid),
            "-q",
        ]);
        args.extend(extra);
        let out = swift_bon(&args);
        let grid = serde_json::from_str(&std::fs::read_to_string(grid).unwrap()).unwrap();
        (grid, String::from_utf8_lossy(&out.stdout).into_owned())
    };
    let (general, said) = train("general", &[&arith, &coin], &["--weights-by-kind"]);
    let (number, _) = train("number", &[&arith], &[]);
    let (yes_no, _) = train("yes-no", &[&coin], &[]);
    // The summary counts both kinds' problems and names whose metrics follow.
    assert!(
        said.contains("number questions:\n2-fold cross-validation")
            && said.contains("yes-no questions:\n2-fold cross-validation")
            && said.contains(
                "trained on all 12 problems, each answer kind with its own weights: number 6 for "
            )
            && said.contains("cross-validated (the main weights, number questions')"),
        "{said}"
    );
    // Each kind's problems were scored out of fold by that kind's own folds only.
    assert_eq!(
        general["by_kind"]["number"]["per_problem"],
        number["overall"]["per_problem"]
    );
    assert_eq!(
        general["by_kind"]["yes-no"]["per_problem"],
        yes_no["overall"]["per_problem"]
    );
    assert_ne!(
        number["overall"]["per_problem"],
        yes_no["overall"]["per_problem"]
    );

    let yaml = std::fs::read_to_string(dir.path().join("general.yaml")).unwrap();
    assert!(yaml.contains("weights_by_kind:\n- yes-no\n"), "{yaml}");
    let meta: serde_yaml::Value = serde_yaml::from_str(&yaml).unwrap();
    let t = &meta["training"];
    assert_eq!(
        t["problems"].as_u64(),
        Some(6),
        "main weights: the number problems"
    );
    assert_eq!(
        t["weights_by_kind"]["yes-no"]["problems"].as_u64(),
        Some(6),
        "{yaml}"
    );
    assert_eq!(
        t["weights_by_kind"]["yes-no"]["candidates"].as_u64(),
        Some(18),
        "{yaml}"
    );
    let out = swift_bon(&["inspect", s(&dir.path().join("general"))]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("2 weight sets") && text.contains("yes-no questions"),
        "{text}"
    );

    // `ask` scores a yes/no question with the yes/no weights: the same scores as the head
    // trained on CoinFlip alone gives the same candidates (same prompt, same seed).
    let question = "A coin is heads up. Ana flips the coin. Is the coin still heads up?";
    let ask = |head: &str| -> Vec<f64> {
        let out = swift_bon(&[
            "ask",
            question,
            "--head",
            s(&dir.path().join(head)),
            "-n",
            "3",
            "--max-tokens",
            "10",
            "--seed",
            "9",
            "--select",
            "swift",
            "--json",
            "-q",
            "-m",
            s(&model),
        ]);
        let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        v["candidates"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["swift_score"].as_f64().unwrap())
            .collect()
    };
    let routed = ask("general");
    assert_eq!(routed, ask("yes-no"));
    assert_eq!(routed.len(), 3);
}
