//! Embeds version facts for `swift-bon doctor` and head metadata: the git commit of this checkout
//! and the version of the pinned llama-cpp-sys-2 (which fixes the vendored llama.cpp). It never
//! fails: a missing fact becomes "unknown".
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

    println!("cargo:rerun-if-changed=Cargo.lock");
    println!("cargo:rerun-if-changed=.git/HEAD");
    println!("cargo:rerun-if-changed=.git/refs/heads");
}
