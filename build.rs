//! Embeds version facts for `swift-bon doctor` and head metadata: the git commit of this checkout
//! and the version of the pinned llama-cpp-sys-2 (which fixes the vendored llama.cpp). A missing
//! version fact becomes "unknown".
//!
//! It also compiles `src/engine/layer_inp.cpp`, a two-function `extern "C"` shim over llama.cpp's
//! C++-linkage layer-input API (`src/llama-ext.h`), against the headers vendored in the pinned
//! llama-cpp-sys-2. This is the one way this script can fail: when those headers cannot be found
//! or no longer declare the functions, the build stops with a message saying where it looked.
use std::path::{Path, PathBuf};
use std::process::Command;

fn main() {
    let git = Command::new("git")
        .args(["rev-parse", "--short=12", "HEAD"])
        .output()
        .ok()
        .filter(|o| o.status.success())
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "unknown".into());
    println!("cargo:rustc-env=SWIFT_BON_GIT_HASH={git}");

    let sys_version = std::fs::read_to_string("Cargo.lock")
        .ok()
        .and_then(|lock| {
            let mut lines = lock.lines();
            while let Some(line) = lines.next() {
                if line.trim() == "name = \"llama-cpp-sys-2\"" {
                    let v = lines.next()?.trim().strip_prefix("version = \"")?;
                    return Some(v.trim_end_matches('"').to_string());
                }
            }
            None
        })
        .unwrap_or_else(|| "unknown".into());
    println!("cargo:rustc-env=SWIFT_BON_LLAMA_SYS_VERSION={sys_version}");

    build_layer_input_shim(&sys_version);

    println!("cargo:rerun-if-changed=Cargo.lock");
    println!("cargo:rerun-if-changed=.git/HEAD");
    println!("cargo:rerun-if-changed=.git/refs/heads");
}

/// Where the vendored llama.cpp of the pinned sys crate lives: `SWIFT_BON_LLAMA_CPP_DIR` if set,
/// else `<CARGO_HOME>/registry/src/*/llama-cpp-sys-2-<version>/llama.cpp`, else a `vendor/`
/// directory next to this crate (`cargo vendor`).
fn find_llama_cpp(sys_version: &str) -> Result<PathBuf, String> {
    println!("cargo:rerun-if-env-changed=SWIFT_BON_LLAMA_CPP_DIR");
    if let Some(dir) = std::env::var_os("SWIFT_BON_LLAMA_CPP_DIR") {
        return Ok(PathBuf::from(dir));
    }
    let crate_dir = format!("llama-cpp-sys-2-{sys_version}");
    let mut tried = Vec::new();
    let cargo_home = std::env::var_os("CARGO_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cargo")));
    if let Some(home) = cargo_home {
        let src = home.join("registry").join("src");
        if let Ok(entries) = std::fs::read_dir(&src) {
            let mut found: Vec<PathBuf> = entries
                .filter_map(Result::ok)
                .map(|e| e.path().join(&crate_dir).join("llama.cpp"))
                .filter(|p| p.is_dir())
                .collect();
            found.sort();
            if let Some(p) = found.into_iter().next() {
                return Ok(p);
            }
        }
        tried.push(src.join("*").join(&crate_dir).join("llama.cpp"));
    }
    let vendored = Path::new("vendor")
        .join("llama-cpp-sys-2")
        .join("llama.cpp");
    if vendored.is_dir() {
        return Ok(vendored);
    }
    tried.push(vendored);
    Err(format!(
        "could not find the llama.cpp sources of llama-cpp-sys-2 {sys_version} (looked in {}); set SWIFT_BON_LLAMA_CPP_DIR to the sys crate's llama.cpp directory",
        tried
            .iter()
            .map(|p| p.display().to_string())
            .collect::<Vec<_>>()
            .join(", ")
    ))
}

fn build_layer_input_shim(sys_version: &str) {
    println!("cargo:rerun-if-changed=src/engine/layer_inp.cpp");
    let root = find_llama_cpp(sys_version).unwrap_or_else(|e| panic!("{e}"));
    let header = root.join("src").join("llama-ext.h");
    let text = std::fs::read_to_string(&header).unwrap_or_else(|e| {
        panic!(
            "llama.cpp's staging header {} is not readable ({e}); the layer-input capture shim needs it (did llama-cpp-sys-2 move it?)",
            header.display()
        )
    });
    for f in [
        "llama_set_embeddings_layer_inp",
        "llama_get_embeddings_layer_inp",
    ] {
        if !text.contains(f) {
            panic!(
                "{} no longer declares {f}; the layer-input capture shim (src/engine/layer_inp.cpp) must be updated for this llama.cpp",
                header.display()
            );
        }
    }
    cc::Build::new()
        .cpp(true)
        .std("c++17")
        .file("src/engine/layer_inp.cpp")
        .include(root.join("include"))
        .include(root.join("ggml").join("include"))
        .include(root.join("src"))
        .warnings(false)
        .compile("swift_bon_layer_inp");
}
