//! Collection on the real default model: resumable after crashes at any byte, refusal of
//! mismatched reruns, extension to more problems.

mod common;

use std::path::Path;
use std::process::Command;

use swift_bon::collect::{self, CollectConfig, CollectError, RECORDS_FILE};
use swift_bon::dataset::store::{FeatureStore, StoreOptions};
use swift_bon::engine::{Engine, FeatureRequest, GenerateOptions, TemplateChoice};
use swift_bon::rng::Rng;
use swift_bon::tasks::TaskSpec;

fn config(count: usize, n: usize) -> CollectConfig {
    CollectConfig {
        task: format!("arithmetic:count={count},seed=5")
            .parse::<TaskSpec>()
            .unwrap(),
        generate: GenerateOptions::new(n)
            .with_max_tokens(12)
            .with_seed(11)
            .with_features(FeatureRequest::Hidden("28,30".parse().unwrap())),
        template: TemplateChoice::Auto,
        entropy: true,
        store: StoreOptions::new().with_chunk_limit(1 << 20),
    }
}

/// Stored rows as (problem, candidate, f16 bit patterns).
type StoredRows = Vec<(u64, u32, Vec<u16>)>;

/// Everything a collection holds, as comparable values: the records file bytes and every stored
/// row (f16 bit patterns).
fn contents(dir: &Path) -> (Vec<u8>, StoredRows) {
    let records = std::fs::read(dir.join(RECORDS_FILE)).unwrap();
    let store = FeatureStore::open(dir).unwrap();
    let mut rows = Vec::new();
    let mut buf = Vec::new();
    for (i, e) in store.entries().iter().enumerate() {
        store.read_rows_f16(i, &mut buf).unwrap();
        rows.push((
            e.problem_index,
            e.candidate,
            buf.iter().map(|h| h.to_bits()).collect(),
        ));
    }
    (records, rows)
}

fn files_under(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            out.extend(files_under(&p));
        } else {
            out.push(p);
        }
    }
    out.sort();
    out
}

#[test]
fn resumes_after_truncation_at_random_bytes_to_identical_content() {
    let _serial = common::serial();
    let engine = Engine::load(common::smollm2()).unwrap();
    let reference = tempfile::tempdir().unwrap();
    let cfg = config(3, 3);
    let s = collect::collect(&engine, reference.path(), &cfg, &mut |_| {}).unwrap();
    assert_eq!(s.progress.done, 3);
    let want = contents(reference.path());
    let records = collect::read_records(&reference.path().join(RECORDS_FILE)).unwrap();
    assert_eq!(records.len(), 9);
    for r in &records {
        assert_eq!(r.n_covered, r.n_tokens, "every generated token is covered");
        assert_eq!(r.token_logprobs.len(), r.n_tokens as usize);
        assert!(r.token_self_certainty.is_some());
    }

    let mut rng = Rng::new(2024);
    for round in 0..4 {
        let dir = tempfile::tempdir().unwrap();
        collect::collect(&engine, dir.path(), &cfg, &mut |_| {}).unwrap();
        // Cut one or two of the data files at random byte offsets, as a crash might.
        let files: Vec<_> = files_under(dir.path())
            .into_iter()
            .filter(|p| !p.ends_with("manifest.yaml") && !p.ends_with("store.yaml"))
            .collect();
        for _ in 0..=(round % 2) {
            let f = &files[rng.below(files.len() as u64) as usize];
            let len = std::fs::metadata(f).unwrap().len();
            let cut = rng.below(len.max(1));
            std::fs::OpenOptions::new()
                .write(true)
                .open(f)
                .unwrap()
                .set_len(cut)
                .unwrap();
        }
        let s = collect::collect(&engine, dir.path(), &cfg, &mut |_| {}).unwrap();
        assert_eq!(s.progress.done, 3);
        assert_eq!(
            contents(dir.path()),
            want,
            "round {round}: resumed collection differs"
        );
    }
}

#[test]
fn mismatched_reruns_are_refused_and_a_larger_count_extends() {
    let _serial = common::serial();
    let engine = Engine::load(common::smollm2()).unwrap();
    let dir = tempfile::tempdir().unwrap();
    collect::collect(&engine, dir.path(), &config(2, 2), &mut |_| {}).unwrap();
    let err = collect::collect(&engine, dir.path(), &config(2, 3), &mut |_| {}).unwrap_err();
    assert!(
        matches!(err, CollectError::ManifestMismatch { .. }),
        "{err}"
    );
    assert!(err.to_string().contains("sampling"), "{err}");
    let mut other = config(2, 2);
    other.generate = other
        .generate
        .with_features(FeatureRequest::Hidden("last:2".parse().unwrap()));
    let err = collect::collect(&engine, dir.path(), &other, &mut |_| {}).unwrap_err();
    assert!(err.to_string().contains("features"), "{err}");
    // Same settings, more problems: the first two are kept, two more are generated.
    let s = collect::collect(&engine, dir.path(), &config(4, 2), &mut |_| {}).unwrap();
    assert_eq!(
        (s.resumed_from, s.progress.this_run, s.progress.done),
        (2, 2, 4)
    );
    let fresh = tempfile::tempdir().unwrap();
    collect::collect(&engine, fresh.path(), &config(4, 2), &mut |_| {}).unwrap();
    assert_eq!(contents(dir.path()), contents(fresh.path()));
}

#[test]
fn kill_dash_nine_mid_run_then_resume_from_the_command_line() {
    let model = common::smollm2();
    let _serial = common::serial();
    let bin = env!("CARGO_BIN_EXE_swift-bon");
    let args = |out: &Path| {
        vec![
            "collect".to_string(),
            "--task".into(),
            "arithmetic".into(),
            "--count".into(),
            "4".into(),
            "-n".into(),
            "3".into(),
            "--max-tokens".into(),
            "16".into(),
            "--layers".into(),
            "last:2".into(),
            "--seed".into(),
            "3".into(),
            "-q".into(),
            "--model".into(),
            model.to_str().unwrap().into(),
            "--out".into(),
            out.to_str().unwrap().into(),
        ]
    };
    let reference = tempfile::tempdir().unwrap();
    let st = Command::new(bin)
        .args(args(reference.path()))
        .status()
        .unwrap();
    assert!(st.success());
    let want = contents(reference.path());

    let dir = tempfile::tempdir().unwrap();
    let mut killed = 0;
    for delay_ms in [700u64, 1500, 2500] {
        let mut child = Command::new(bin).args(args(dir.path())).spawn().unwrap();
        std::thread::sleep(std::time::Duration::from_millis(delay_ms));
        if child.try_wait().unwrap().is_none() {
            child.kill().unwrap(); // SIGKILL
            killed += 1;
        }
        child.wait().unwrap();
    }
    let st = Command::new(bin).args(args(dir.path())).status().unwrap();
    assert!(st.success());
    assert_eq!(
        contents(dir.path()),
        want,
        "after {killed} kills the collection differs"
    );
}

#[test]
fn a_base_model_collects_in_the_completion_format_and_records_its_stop_string() {
    let _serial = common::serial();
    let engine = Engine::load(common::gemma3()).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = config(2, 3);
    cfg.generate = cfg
        .generate
        .with_max_tokens(128)
        .with_features(FeatureRequest::Hidden("last:1".parse().unwrap()));
    collect::collect(&engine, dir.path(), &cfg, &mut |_| {}).unwrap();
    let manifest = collect::read_manifest(dir.path()).unwrap();
    assert_eq!(manifest.stop, vec!["\nQuestion:".to_string()]);
    let records = collect::read_records(&dir.path().join(RECORDS_FILE)).unwrap();
    assert_eq!(records.len(), 6);
    // Following the worked examples, candidates answer in a line and reach the next question.
    let stopped = records
        .iter()
        .filter(|r| r.finish == swift_bon::dataset::FinishReason::Stop)
        .count();
    assert!(stopped >= 4, "{stopped} of 6 stopped: {records:?}");
    for r in &records {
        assert!(!r.text.contains("Question:"), "{:?}", r.text);
        if r.finish == swift_bon::dataset::FinishReason::Stop {
            assert!(r.answer.is_some(), "{:?}", r.text);
        }
    }
    // A rerun with other stop strings is a different collection.
    let mut other = cfg.clone();
    other.generate = other.generate.with_stop(vec!["###".to_string()]);
    let err = collect::collect(&engine, dir.path(), &other, &mut |_| {}).unwrap_err();
    assert!(err.to_string().contains("stop"), "{err}");
}
