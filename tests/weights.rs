//! Converting the default model into another weight format with llama.cpp's quantiser, as a user
//! does (`fetch-model --weights`, first use through `--weights`): a conversion that succeeds is
//! recorded and reused, a corrupt source is refused, and a conversion killed half-way leaves no
//! file that looks valid.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use swift_bon::fetch::SMOLLM2_135M;
use swift_bon::weights::{self, WeightFormat};

fn swift_bon(dir: &Path, args: &[&str]) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_swift-bon"));
    c.args(args).env(swift_bon::fetch::MODELS_DIR_ENV, dir);
    c
}

fn run(dir: &Path, args: &[&str]) -> Output {
    swift_bon(dir, args).output().expect("run swift-bon")
}

/// A models folder holding the default model's original file (hard-linked when possible).
fn models_with_original(link: bool) -> (tempfile::TempDir, PathBuf) {
    let src = common::smollm2_original();
    let dir = tempfile::tempdir().unwrap();
    let dst = dir.path().join(SMOLLM2_135M.file);
    if !(link && std::fs::hard_link(&src, &dst).is_ok()) {
        std::fs::copy(&src, &dst).unwrap();
    }
    (dir, dst)
}

fn names(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    v.sort();
    v
}

#[test]
fn conversion_succeeds_is_recorded_and_reused() {
    let (dir, _) = models_with_original(true);
    let d = dir.path();
    let _serial = common::serial();
    let out = run(d, &["fetch-model", "--weights", "q8_0"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    let path = weights::weights_path(d, &SMOLLM2_135M, WeightFormat::Q8_0);
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        path.to_str().unwrap()
    );
    assert!(stderr.contains("converted in"), "{stderr}");
    let record = weights::verify_converted(d, &SMOLLM2_135M, WeightFormat::Q8_0).unwrap();
    assert_eq!(record.source.sha256, SMOLLM2_135M.sha256);
    assert!(
        record.check.contains("greedy continuation"),
        "{}",
        record.check
    );
    let (lo, hi) = weights::expected_size(&SMOLLM2_135M, WeightFormat::Q8_0);
    assert!((lo..=hi).contains(&record.result.size));
    let modified = std::fs::metadata(&path).unwrap().modified().unwrap();

    // First use through a model option: reused, not converted again.
    let out = run(d, &["doctor", "--weights", "q8_0"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stderr}");
    assert!(!stderr.contains("convert"), "{stderr}");
    assert!(
        stdout.contains("converted from SmolLM2-135M-Instruct.Q4_1.gguf"),
        "{stdout}"
    );
    let out = run(d, &["fetch-model", "--weights", "q8_0"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("matches its conversion record"), "{stderr}");
    assert_eq!(
        std::fs::metadata(&path).unwrap().modified().unwrap(),
        modified
    );
    assert_eq!(
        names(d),
        [
            "SmolLM2-135M-Instruct.Q4_1.gguf",
            "SmolLM2-135M-Instruct.Q8_0.gguf",
            "SmolLM2-135M-Instruct.Q8_0.gguf.conversion.json"
        ]
    );
    // --weights applies to known models only.
    let out = run(
        d,
        &["doctor", "-m", path.to_str().unwrap(), "--weights", "q4_0"],
    );
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("--weights converts a known model"));
}

#[test]
fn corrupt_source_is_refused() {
    let (dir, original) = models_with_original(false);
    let d = dir.path();
    // Same size, one byte of tensor data changed: only the sha256 can tell.
    let mut bytes = std::fs::read(&original).unwrap();
    let mid = bytes.len() / 2;
    bytes[mid] ^= 0x40;
    std::fs::write(&original, bytes).unwrap();
    let _serial = common::serial();
    let out = run(d, &["doctor", "--weights", "q4_0"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{stderr}");
    assert!(stderr.contains("sha256 mismatch"), "{stderr}");
    assert_eq!(names(d), ["SmolLM2-135M-Instruct.Q4_1.gguf"]);
}

#[test]
fn killed_conversion_leaves_no_valid_file() {
    let (dir, _) = models_with_original(true);
    let d = dir.path();
    let _serial = common::serial();
    let mut child = swift_bon(d, &["-q", "fetch-model", "--weights", "q4_0"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    // Kill it while llama.cpp is writing the temporary file.
    let t0 = Instant::now();
    let mut killed = false;
    while t0.elapsed() < Duration::from_secs(120) {
        let partial = names(d).iter().any(|n| n.ends_with(".partial"));
        if partial {
            std::thread::sleep(Duration::from_millis(50));
            child.kill().unwrap();
            killed = true;
            break;
        }
        if child.try_wait().unwrap().is_some() {
            break;
        }
        std::thread::sleep(Duration::from_millis(2));
    }
    child.wait().unwrap();
    assert!(killed, "the conversion finished before it could be killed");
    assert!(!weights::looks_converted(
        d,
        &SMOLLM2_135M,
        WeightFormat::Q4_0
    ));
    let left = names(d);
    assert!(
        left.iter()
            .all(|n| n == SMOLLM2_135M.file || (n.starts_with('.') && n.ends_with(".partial"))),
        "{left:?}"
    );
    // The next use converts again (and clears the leftover).
    let out = run(d, &["fetch-model", "--weights", "q4_0"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    weights::verify_converted(d, &SMOLLM2_135M, WeightFormat::Q4_0).unwrap();
    assert!(
        !names(d).iter().any(|n| n.ends_with(".partial")),
        "{:?}",
        names(d)
    );
}
