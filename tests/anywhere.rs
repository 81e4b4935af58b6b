//! The installed binary works from any folder: run from a fresh temporary folder with a fresh
//! home (cache and data folders), it finds the model in the user's cache, uses the head shipped
//! inside the binary, and installs heads into the user's data folder. Nothing is downloaded: the
//! cache is seeded with a link to the test model.

mod common;

use std::path::Path;
use std::process::{Command, Output};

struct Home {
    root: tempfile::TempDir,
}

impl Home {
    fn new() -> Self {
        let root = tempfile::tempdir().unwrap();
        for d in ["home", "cache", "data", "cwd"] {
            std::fs::create_dir_all(root.path().join(d)).unwrap();
        }
        Self { root }
    }

    fn path(&self, p: &str) -> std::path::PathBuf {
        self.root.path().join(p)
    }

    /// The user's model cache as the platform defines it under this home.
    fn cache_models(&self) -> std::path::PathBuf {
        self.path("cache/swift-bon/models")
    }

    fn seed_cache(&self, model: &Path) {
        std::fs::create_dir_all(self.cache_models()).unwrap();
        let link = self.cache_models().join(model.file_name().unwrap());
        #[cfg(unix)]
        std::os::unix::fs::symlink(model.canonicalize().unwrap(), link).unwrap();
        #[cfg(not(unix))]
        std::fs::copy(model, link).unwrap();
    }

    fn run(&self, args: &[&str]) -> Output {
        Command::new(env!("CARGO_BIN_EXE_swift-bon"))
            .args(args)
            .current_dir(self.path("cwd"))
            .env_remove(swift_bon::fetch::MODELS_DIR_ENV)
            .env_remove(swift_bon::locate::HEADS_DIR_ENV)
            .env("HOME", self.path("home"))
            .env("XDG_CACHE_HOME", self.path("cache"))
            .env("XDG_DATA_HOME", self.path("data"))
            // A failed lookup must not reach for the network: no pip.
            .env("PYTHON", "/nonexistent/python3")
            .output()
            .expect("run swift-bon")
    }
}

fn ok(out: &Output) -> String {
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(out.status.success(), "failed: {err}");
    err
}

#[test]
fn the_platform_folders_follow_the_xdg_variables() {
    let home = Home::new();
    let out = home.run(&["heads", "list"]);
    let err = ok(&out);
    let list = String::from_utf8_lossy(&out.stdout);
    assert!(
        list.contains("smollm2-135m-arith") && list.contains("shipped"),
        "{list}"
    );
    assert!(
        err.contains(&home.path("data/swift-bon/heads").display().to_string()),
        "{err}"
    );
    // With no model anywhere, the fetch goes to the cache folder (and fails here: no pip). Where
    // the checkout holds the model (CI), it is found there instead: see the last test.
    let checkout = Path::new(env!("CARGO_MANIFEST_DIR")).join("models");
    if swift_bon::fetch::looks_installed(&checkout, &swift_bon::fetch::SMOLLM2_135M) {
        return;
    }
    let out = home.run(&["fetch-model"]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains(&home.cache_models().display().to_string()),
        "fetches into the cache: {err}"
    );
    assert!(
        !home.path("cwd/models").exists(),
        "nothing written to ./models"
    );
}

#[test]
fn ask_answers_from_a_fresh_folder_with_the_shipped_head() {
    // The cache holds the published file only: the first ask converts it to the default
    // weight format, once, beside it.
    let model = common::smollm2_original();
    let home = Home::new();
    home.seed_cache(&model);
    let _serial = common::serial();
    let out = home.run(&[
        "ask",
        "What is 47 + 38?",
        "-n",
        "4",
        "--max-tokens",
        "40",
        "--json",
    ]);
    let err = ok(&out);
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let used = v["model"].as_str().unwrap();
    assert!(
        used.starts_with(&home.cache_models().display().to_string()),
        "model from the cache: {used}"
    );
    let converted = common::smollm2();
    assert_eq!(
        Path::new(used).file_name(),
        converted.file_name(),
        "the default weight format"
    );
    assert!(err.contains("converting"), "converted on first use: {err}");
    // No --task: the general head, trained on several task families.
    assert_eq!(v["head"], "smollm2-135m-general");
    assert_eq!(v["head_origin"], "shipped with swift-bon");
    assert!(
        err.contains("using head smollm2-135m-general (shipped with swift-bon; trained on general"),
        "{err}"
    );
    assert!(
        !home.path("cwd/models").exists(),
        "nothing written to ./models"
    );

    // A head the user installs is found first, from any folder.
    let src = home.path("trained");
    swift_bon::heads::SHIPPED[1]
        .load()
        .unwrap()
        .save(src.join("my-coins"))
        .unwrap();
    let out = home.run(&["heads", "install", src.join("my-coins").to_str().unwrap()]);
    ok(&out);
    let installed = home.path("data/swift-bon/heads/my-coins.yaml");
    assert!(installed.exists());
    let out = home.run(&[
        "ask",
        "A coin is heads up. Bo flips the coin. Is the coin still heads up?",
        "-n",
        "2",
        "--max-tokens",
        "24",
        "--json",
    ]);
    let err = ok(&out);
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["head"], "my-coins", "{err}");
    assert!(err.contains("installed head"), "{err}");
    let out = home.run(&["heads", "remove", "my-coins"]);
    ok(&out);
    assert!(!installed.exists());
}

#[test]
fn a_model_in_the_checkout_is_not_downloaded_again() {
    // Only meaningful where the test models live in this checkout's models/ (as in CI).
    let checkout = Path::new(env!("CARGO_MANIFEST_DIR")).join("models");
    let model = common::smollm2();
    if model.parent().map(|p| p.canonicalize().ok()) != Some(checkout.canonicalize().ok()) {
        eprintln!("skipped: the test model is not in {}", checkout.display());
        return;
    }
    let home = Home::new();
    let out = home.run(&["fetch-model"]);
    let err = ok(&out);
    let path = String::from_utf8_lossy(&out.stdout);
    assert!(
        path.trim().starts_with(&checkout.display().to_string()),
        "{path} / {err}"
    );
    assert!(!home.cache_models().exists(), "not fetched into the cache");
}
