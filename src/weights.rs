//! Weight formats of the known models: a fetched GGUF file converted once into another
//! quantisation (issue 16).
//!
//! llama.cpp's CPU backend batches some weight formats far better than others: Q8_0 and Q4_0 go
//! through batched matrix kernels (llamafile's sgemm, the repacked Q4_0 kernels), Q4_1 (the
//! default model's published file) does not. A Best-of-N engine always decodes N candidates in one
//! batch, so the format decides how much the batch gains. [`ensure_weights`] gives the path of a
//! known model in the requested [`WeightFormat`], converting the verified original through a
//! [`Converter`] (llama.cpp's own `llama_model_quantize`, in [`crate::engine::LlamaConverter`])
//! when no valid converted file exists.
//!
//! A converted file `STEM.Q8_0.gguf` sits beside the original with a sidecar
//! `STEM.Q8_0.gguf.conversion.json` ([`Sidecar`]) recording the source file and its sha256, the
//! format, the llama.cpp/ggml version that converted it, and the result's size and sha256: the
//! file is reproducible and `doctor` can say what it is. The conversion is atomic:
//! 1. the old sidecar (if any) is removed, so nothing is valid while a conversion runs, and so
//!    are temporary files left by a conversion that was killed;
//! 2. the source is verified in full (size and sha256): a corrupt source is refused;
//! 3. the converter writes a temporary `.STEM.Q8_0.gguf.XXXXXX.partial` in the same folder, which
//!    is checked (size range, loads, one decode, final states close to the original's);
//! 4. the result is renamed into place, then the sidecar is written atomically.
//!
//! A conversion that fails or is killed at any point leaves no sidecar that matches a file, so
//! nothing looks valid and the next use converts again; a file whose sidecar matches is reused.
#![forbid(unsafe_code)]

use std::fmt;
use std::fs::File;
use std::io;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::fetch::{self, FetchError, KnownModel};

/// Version of the sidecar's shape.
pub const SIDECAR_SCHEMA: &str = "swift-bon-conversion/1";

/// Suffix of the sidecar file name, appended to the converted file's name.
pub const SIDECAR_SUFFIX: &str = ".conversion.json";

/// The weight format of a known model's file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum WeightFormat {
    /// The published file as fetched (Q4_1 for SmolLM2-135M, Q4_K_M for Gemma-3-270M).
    Original,
    /// Every matrix requantised to 8-bit blocks (llama.cpp's `LLAMA_FTYPE_MOSTLY_Q8_0`).
    #[serde(rename = "q8_0")]
    Q8_0,
    /// 4-bit blocks with one scale (`LLAMA_FTYPE_MOSTLY_Q4_0`); llama.cpp keeps the output
    /// matrix in a finer type, as its own `llama-quantize` does.
    #[serde(rename = "q4_0")]
    Q4_0,
    /// 5-bit blocks with one scale (`LLAMA_FTYPE_MOSTLY_Q5_0`), batched by llamafile's sgemm
    /// like Q8_0 and Q4_0.
    #[serde(rename = "q5_0")]
    Q5_0,
}

impl WeightFormat {
    /// Every format, in the order of `--weights` help.
    pub const ALL: [WeightFormat; 4] = [Self::Original, Self::Q8_0, Self::Q5_0, Self::Q4_0];

    /// Command-line name.
    pub fn name(self) -> &'static str {
        match self {
            Self::Original => "original",
            Self::Q8_0 => "q8_0",
            Self::Q4_0 => "q4_0",
            Self::Q5_0 => "q5_0",
        }
    }

    /// The tag in a converted file's name (`None` for the original).
    pub fn file_tag(self) -> Option<&'static str> {
        match self {
            Self::Original => None,
            Self::Q8_0 => Some("Q8_0"),
            Self::Q4_0 => Some("Q4_0"),
            Self::Q5_0 => Some("Q5_0"),
        }
    }

    /// Approximate bytes per weight of the converted matrices (block scales included): used for
    /// the expected-size check of a conversion.
    fn bytes_per_weight(self) -> Option<f64> {
        match self {
            Self::Original => None,
            Self::Q8_0 => Some(34.0 / 32.0),
            Self::Q4_0 => Some(18.0 / 32.0),
            Self::Q5_0 => Some(22.0 / 32.0),
        }
    }
}

impl fmt::Display for WeightFormat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// The weight format a known model runs in when `--weights` is not given: Q8_0 for both known
/// models, converted once from the published file. llama.cpp has no batched CPU kernels for
/// the published formats (SmolLM2's Q4_1, Gemma-3's Q4_K_M); measured side by side on 2 cores
/// (BENCHMARKS.md, "Weight formats"), Q8_0 decodes a batch of 8 1.41x (SmolLM2) and 1.48x
/// (Gemma-3) faster. It is numerically the same model: final-state cosine 0.9993 and 0.9977 to
/// the original, the same greedy text, and on SmolLM2 the same held-out accuracy within noise.
pub fn default_format(_model: &KnownModel) -> WeightFormat {
    WeightFormat::Q8_0
}

/// An unknown weight format name.
#[derive(Debug, Clone, thiserror::Error)]
#[error("unknown weight format {0:?}; known: original, q8_0, q5_0, q4_0")]
pub struct WeightFormatError(pub String);

impl FromStr for WeightFormat {
    type Err = WeightFormatError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.to_ascii_lowercase().replace('-', "_").as_str() {
            "original" | "orig" => Ok(Self::Original),
            "q8_0" | "q8" => Ok(Self::Q8_0),
            "q4_0" => Ok(Self::Q4_0),
            "q5_0" => Ok(Self::Q5_0),
            _ => Err(WeightFormatError(s.to_string())),
        }
    }
}

/// What converted a file (recorded in the sidecar).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConverterInfo {
    /// The routine (e.g. `llama_model_quantize (allow_requantize)`).
    pub tool: String,
    /// llama-cpp-sys-2's version: it fixes the vendored llama.cpp.
    pub llama_cpp_sys_2: String,
    /// ggml version and commit as compiled.
    pub ggml: String,
    /// swift-bon's version and git commit.
    pub swift_bon: String,
}

/// Converts model files into another weight format and checks the result. The engine's
/// implementation is [`crate::engine::LlamaConverter`]; tests use fakes.
pub trait Converter {
    /// Writes `src` converted to `format` to `dst` (a temporary file that already exists and may
    /// be overwritten). `format` is never [`WeightFormat::Original`].
    fn convert(&self, src: &Path, dst: &Path, format: WeightFormat) -> Result<(), String>;
    /// Checks that `converted` is a working model equivalent to `original`: it loads, decodes
    /// once, and continues a fixed prompt like the original does. Returns a one-line summary.
    fn check(&self, original: &Path, converted: &Path) -> Result<String, String>;
    /// What this converter is.
    fn info(&self) -> ConverterInfo;
}

/// A file's size and sha256.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileFacts {
    /// File name (no folder).
    pub file: String,
    /// Size in bytes.
    pub size: u64,
    /// sha256, lowercase hex.
    pub sha256: String,
}

/// The record beside a converted file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Sidecar {
    /// [`SIDECAR_SCHEMA`].
    pub schema: String,
    /// Known model name (`smollm2-135m`).
    pub model: String,
    /// The format converted to.
    pub format: WeightFormat,
    /// The converted file.
    pub result: FileFacts,
    /// The file it was converted from.
    pub source: FileFacts,
    /// What converted it.
    pub converter: ConverterInfo,
    /// The converter's check of the result.
    pub check: String,
}

/// Errors while converting.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConvertError {
    /// Fetching or verifying the original failed (a corrupt source is refused here).
    #[error(transparent)]
    Fetch(#[from] FetchError),
    /// The converter failed.
    #[error("converting {model} to {format} failed: {detail}; nothing was installed")]
    Convert {
        /// Model.
        model: String,
        /// Format.
        format: WeightFormat,
        /// The converter's message.
        detail: String,
    },
    /// The result's size is outside the expected range.
    #[error("converted {model} to {format}: {size} bytes, expected {min}..={max}; nothing was installed")]
    Size {
        /// Model.
        model: String,
        /// Format.
        format: WeightFormat,
        /// Size found.
        size: u64,
        /// Smallest expected.
        min: u64,
        /// Largest expected.
        max: u64,
    },
    /// The converted model failed its check.
    #[error("the converted {model} ({format}) failed its check: {detail}; nothing was installed")]
    Check {
        /// Model.
        model: String,
        /// Format.
        format: WeightFormat,
        /// What failed.
        detail: String,
    },
    /// A converted file does not match its sidecar.
    #[error("{path}: {detail}")]
    Invalid {
        /// File.
        path: PathBuf,
        /// What is wrong.
        detail: String,
    },
    /// Other I/O.
    #[error("{path}: {source}")]
    Io {
        /// File.
        path: PathBuf,
        /// The error.
        source: io::Error,
    },
}

fn io_err(path: &Path) -> impl FnOnce(io::Error) -> ConvertError + '_ {
    move |source| ConvertError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// Where `model` in `format` lives in `dir` (the original's path for [`WeightFormat::Original`]).
pub fn weights_path(dir: &Path, model: &KnownModel, format: WeightFormat) -> PathBuf {
    match format.file_tag() {
        None => fetch::model_path(dir, model),
        Some(tag) => dir.join(format!("{}.{tag}.gguf", model.stem)),
    }
}

/// The sidecar of a converted file.
pub fn sidecar_path(converted: &Path) -> PathBuf {
    let mut name = converted.file_name().unwrap_or_default().to_os_string();
    name.push(SIDECAR_SUFFIX);
    converted.with_file_name(name)
}

/// Reads the sidecar beside `converted`, if there is one.
pub fn read_sidecar(converted: &Path) -> Result<Option<Sidecar>, ConvertError> {
    let path = sidecar_path(converted);
    let text = match std::fs::read_to_string(&path) {
        Ok(t) => t,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(io_err(&path)(e)),
    };
    let sidecar: Sidecar = serde_json::from_str(&text).map_err(|e| ConvertError::Invalid {
        path: path.clone(),
        detail: format!("not a conversion record: {e}"),
    })?;
    if sidecar.schema != SIDECAR_SCHEMA {
        return Err(ConvertError::Invalid {
            path,
            detail: format!("schema {:?}, expected {SIDECAR_SCHEMA:?}", sidecar.schema),
        });
    }
    Ok(Some(sidecar))
}

/// Why a converted file is not usable as it is (the cheap check, without hashing).
fn stale_reason(path: &Path, model: &KnownModel, format: WeightFormat) -> Option<String> {
    let sidecar = match read_sidecar(path) {
        Ok(Some(s)) => s,
        Ok(None) => return Some("no conversion record".into()),
        Err(e) => return Some(e.to_string()),
    };
    let len = match std::fs::metadata(path) {
        Ok(m) if m.is_file() => m.len(),
        _ => return Some("the converted file is missing".into()),
    };
    let name = path.file_name().map(|n| n.to_string_lossy().into_owned());
    if sidecar.model != model.name
        || sidecar.format != format
        || Some(&sidecar.result.file) != name.as_ref()
    {
        return Some(format!(
            "the record describes {} {} ({})",
            sidecar.model, sidecar.format, sidecar.result.file
        ));
    }
    if sidecar.source.sha256 != model.sha256 || sidecar.source.file != model.file {
        return Some(format!(
            "converted from {} (sha256 {}), not from the pinned {}",
            sidecar.source.file, sidecar.source.sha256, model.file
        ));
    }
    if sidecar.result.size != len {
        return Some(format!(
            "{len} bytes, the record says {}",
            sidecar.result.size
        ));
    }
    None
}

/// The cheap check (no hashing) that a converted file is present and matches its record: the
/// record names this model, format, file and pinned source, and the size agrees.
pub fn looks_converted(dir: &Path, model: &KnownModel, format: WeightFormat) -> bool {
    format == WeightFormat::Original && fetch::looks_installed(dir, model)
        || format != WeightFormat::Original
            && stale_reason(&weights_path(dir, model, format), model, format).is_none()
}

/// Full verification of a converted file: the cheap check, then its sha256 against the record.
pub fn verify_converted(
    dir: &Path,
    model: &KnownModel,
    format: WeightFormat,
) -> Result<Sidecar, ConvertError> {
    let path = weights_path(dir, model, format);
    if let Some(detail) = stale_reason(&path, model, format) {
        return Err(ConvertError::Invalid { path, detail });
    }
    let sidecar = read_sidecar(&path)?.ok_or_else(|| ConvertError::Invalid {
        path: path.clone(),
        detail: "no conversion record".into(),
    })?;
    let got = sha256_file(&path)?;
    if got.sha256 != sidecar.result.sha256 {
        return Err(ConvertError::Invalid {
            path,
            detail: format!(
                "sha256 {}, the record says {}",
                got.sha256, sidecar.result.sha256
            ),
        });
    }
    Ok(sidecar)
}

/// What a model file is, for `doctor`: the original of a known model, a verified conversion, or
/// unknown. Hashes nothing but the sidecar's file (by size and record).
pub fn describe_file(path: &Path) -> String {
    let name = path.file_name().map(|n| n.to_string_lossy().into_owned());
    for m in fetch::KNOWN_MODELS {
        if name.as_deref() == Some(m.file) {
            return format!(
                "{}: the original published file ({} bytes, sha256 {} when intact)",
                m.name, m.size, m.sha256
            );
        }
    }
    match read_sidecar(path) {
        Ok(Some(s)) => {
            let fits = std::fs::metadata(path).is_ok_and(|md| md.len() == s.result.size)
                && name.as_deref() == Some(s.result.file.as_str());
            format!(
                "{} {}: converted from {} (sha256 {}) by {} (llama-cpp-sys-2 {}, ggml {}); result sha256 {}{}",
                s.model,
                s.format,
                s.source.file,
                s.source.sha256,
                s.converter.tool,
                s.converter.llama_cpp_sys_2,
                s.converter.ggml,
                s.result.sha256,
                if fits { "" } else { " (WARNING: the file does not match this record)" }
            )
        }
        Ok(None) => "not a known model file (no conversion record beside it)".into(),
        Err(e) => format!("unreadable conversion record: {e}"),
    }
}

/// Returns the path of `model` in `format` in `dir`: the original is fetched if missing; another
/// format is converted from it once and reused while its sidecar matches.
pub fn ensure_weights(
    dir: &Path,
    model: &KnownModel,
    format: WeightFormat,
    converter: &dyn Converter,
    log: &mut dyn FnMut(&str),
) -> Result<PathBuf, ConvertError> {
    if format == WeightFormat::Original {
        return Ok(fetch::ensure_model(dir, model, log)?);
    }
    let path = weights_path(dir, model, format);
    match stale_reason(&path, model, format) {
        None => return Ok(path),
        Some(reason) if path.exists() || sidecar_path(&path).exists() => log(&format!(
            "{} is not a valid conversion ({reason}); converting again",
            path.display()
        )),
        Some(_) => {}
    }
    fetch::ensure_model(dir, model, log)?;
    convert(dir, model, format, converter, log)
}

/// Converts the (fetched) original of `model` into `format` in `dir`, replacing any previous
/// conversion. See the module documentation for the steps.
pub fn convert(
    dir: &Path,
    model: &KnownModel,
    format: WeightFormat,
    converter: &dyn Converter,
    log: &mut dyn FnMut(&str),
) -> Result<PathBuf, ConvertError> {
    let fail = |detail: String| ConvertError::Convert {
        model: model.name.into(),
        format,
        detail,
    };
    if format == WeightFormat::Original {
        return Err(fail("the original format is fetched, not converted".into()));
    }
    let dest = weights_path(dir, model, format);
    let record = sidecar_path(&dest);
    // Nothing is valid while the conversion runs, whatever happens to this process.
    match std::fs::remove_file(&record) {
        Ok(()) => {}
        Err(e) if e.kind() == io::ErrorKind::NotFound => {}
        Err(e) => return Err(io_err(&record)(e)),
    }
    remove_leftovers(dir, &dest, log);
    let source = fetch::model_path(dir, model);
    log(&format!(
        "converting {} to {format} (once; verifying the source first)",
        source.display()
    ));
    fetch::verify(&source, model)?;
    let tmp = crate::fsutil::new_file_builder()
        .prefix(&format!(
            ".{}.",
            dest.file_name().unwrap_or_default().to_string_lossy()
        ))
        .suffix(".partial")
        .tempfile_in(dir)
        .map_err(io_err(dir))?;
    let t0 = std::time::Instant::now();
    converter
        .convert(&source, tmp.path(), format)
        .map_err(fail)?;
    let result = sha256_file(tmp.path())?;
    let (min, max) = expected_size(model, format);
    if !(min..=max).contains(&result.size) {
        return Err(ConvertError::Size {
            model: model.name.into(),
            format,
            size: result.size,
            min,
            max,
        });
    }
    let check = converter
        .check(&source, tmp.path())
        .map_err(|detail| ConvertError::Check {
            model: model.name.into(),
            format,
            detail,
        })?;
    tmp.as_file().sync_all().map_err(io_err(tmp.path()))?;
    let sidecar = Sidecar {
        schema: SIDECAR_SCHEMA.into(),
        model: model.name.into(),
        format,
        result: FileFacts {
            file: dest
                .file_name()
                .unwrap_or_default()
                .to_string_lossy()
                .into_owned(),
            ..result
        },
        source: FileFacts {
            file: model.file.into(),
            size: model.size,
            sha256: model.sha256.into(),
        },
        converter: converter.info(),
        check,
    };
    tmp.persist(&dest).map_err(|e| ConvertError::Io {
        path: dest.clone(),
        source: e.error,
    })?;
    let text = serde_json::to_string_pretty(&sidecar).map_err(|e| ConvertError::Invalid {
        path: record.clone(),
        detail: e.to_string(),
    })?;
    crate::fsutil::write_atomic(&record, format!("{text}\n").as_bytes())
        .map_err(io_err(&record))?;
    log(&format!(
        "converted in {:.1} s: {} ({} bytes, sha256 {}); {}",
        t0.elapsed().as_secs_f64(),
        dest.display(),
        sidecar.result.size,
        sidecar.result.sha256,
        sidecar.check
    ));
    Ok(dest)
}

/// Removes temporary files of earlier conversions to `dest` that were killed before renaming.
fn remove_leftovers(dir: &Path, dest: &Path, log: &mut dyn FnMut(&str)) {
    let prefix = format!(
        ".{}.",
        dest.file_name().unwrap_or_default().to_string_lossy()
    );
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for e in entries.filter_map(Result::ok) {
        let name = e.file_name().to_string_lossy().into_owned();
        if name.starts_with(&prefix)
            && name.ends_with(".partial")
            && std::fs::remove_file(e.path()).is_ok()
        {
            log(&format!(
                "removed {name}, left by an interrupted conversion"
            ));
        }
    }
}

/// The size range a conversion of `model` to `format` must fall in: the original's size scaled
/// by the formats' bytes per weight, with a wide margin for the tensors llama.cpp keeps in another
/// type (norms in f32, the output matrix in a finer type). It catches empty, truncated or wildly
/// wrong results, not subtle ones (the converter's check does that).
pub fn expected_size(model: &KnownModel, format: WeightFormat) -> (u64, u64) {
    // Bytes per weight of the original file, from its published type.
    let original = match model.name {
        "gemma3-270m" => 0.6,
        _ => 20.0 / 32.0,
    };
    match format.bytes_per_weight() {
        None => (model.size, model.size),
        Some(b) => {
            let scaled = model.size as f64 * b / original;
            ((scaled * 0.6) as u64, (scaled * 1.5) as u64)
        }
    }
}

fn sha256_file(path: &Path) -> Result<FileFacts, ConvertError> {
    use io::Read as _;
    let mut f = File::open(path).map_err(io_err(path))?;
    let mut h = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    let mut size = 0u64;
    loop {
        let k = f.read(&mut buf).map_err(io_err(path))?;
        if k == 0 {
            break;
        }
        h.update(&buf[..k]);
        size += k as u64;
    }
    Ok(FileFacts {
        file: path
            .file_name()
            .unwrap_or_default()
            .to_string_lossy()
            .into_owned(),
        size,
        sha256: fetch::hex(&h.finalize()),
    })
}

#[cfg(test)]
mod tests {
    use std::cell::Cell;

    use super::*;

    /// A tiny stand-in for a known model whose "original" is written by the test.
    fn tiny(dir: &Path, content: &[u8]) -> KnownModel {
        std::fs::write(dir.join("tiny.Q4_1.gguf"), content).unwrap();
        let sha = fetch::hex(&Sha256::digest(content));
        KnownModel {
            name: "tiny",
            description: "",
            file: "tiny.Q4_1.gguf",
            stem: "tiny",
            size: content.len() as u64,
            sha256: Box::leak(sha.into_boxed_str()),
            parts: &[],
            checksum_package: None,
        }
    }

    /// Writes the source reversed and resized as a real conversion would be; counts calls.
    struct Fake {
        calls: Cell<usize>,
        fail_check: bool,
        panic_after_write: bool,
        truncate: bool,
    }

    impl Fake {
        fn new() -> Self {
            Self {
                calls: Cell::new(0),
                fail_check: false,
                panic_after_write: false,
                truncate: false,
            }
        }
    }

    impl Converter for Fake {
        fn convert(&self, src: &Path, dst: &Path, f: WeightFormat) -> Result<(), String> {
            self.calls.set(self.calls.get() + 1);
            let mut b = std::fs::read(src).map_err(|e| e.to_string())?;
            b.reverse();
            let len = if self.truncate {
                10
            } else {
                (b.len() as f64 * f.bytes_per_weight().unwrap() * 32.0 / 20.0) as usize
            };
            b.resize(len, 7);
            std::fs::write(dst, b).map_err(|e| e.to_string())?;
            if self.panic_after_write {
                panic!("killed after writing");
            }
            Ok(())
        }
        fn check(&self, _o: &Path, _c: &Path) -> Result<String, String> {
            if self.fail_check {
                Err("decoded garbage".into())
            } else {
                Ok("fake check".into())
            }
        }
        fn info(&self) -> ConverterInfo {
            ConverterInfo {
                tool: "fake".into(),
                llama_cpp_sys_2: "0".into(),
                ggml: "0".into(),
                swift_bon: "0".into(),
            }
        }
    }

    /// Files in `dir` other than the original.
    fn others(dir: &Path, model: &KnownModel) -> Vec<String> {
        let mut v: Vec<String> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|n| n != model.file)
            .collect();
        v.sort();
        v
    }

    fn source_bytes() -> Vec<u8> {
        (0..10_000u32).map(|i| (i * 7 % 251) as u8).collect()
    }

    #[test]
    fn names_and_paths() {
        for f in WeightFormat::ALL {
            assert_eq!(f.name().parse::<WeightFormat>().unwrap(), f);
        }
        assert_eq!("Q8_0".parse::<WeightFormat>().unwrap(), WeightFormat::Q8_0);
        assert!("q5_k".parse::<WeightFormat>().is_err());
        let dir = Path::new("/m");
        let m = &fetch::SMOLLM2_135M;
        assert_eq!(
            weights_path(dir, m, WeightFormat::Q8_0),
            Path::new("/m/SmolLM2-135M-Instruct.Q8_0.gguf")
        );
        assert_eq!(
            weights_path(dir, m, WeightFormat::Original),
            fetch::model_path(dir, m)
        );
        assert_eq!(
            sidecar_path(Path::new("/m/a.Q4_0.gguf")),
            Path::new("/m/a.Q4_0.gguf.conversion.json")
        );
        let (lo, hi) = expected_size(m, WeightFormat::Q8_0);
        assert!(lo < 147_000_000 && 147_000_000 < hi, "{lo}..{hi}");
    }

    #[test]
    fn conversion_is_recorded_and_reused() {
        let dir = tempfile::tempdir().unwrap();
        let model = tiny(dir.path(), &source_bytes());
        let fake = Fake::new();
        let f = WeightFormat::Q8_0;
        assert!(!looks_converted(dir.path(), &model, f));
        let path = ensure_weights(dir.path(), &model, f, &fake, &mut |_| {}).unwrap();
        assert_eq!(path, dir.path().join("tiny.Q8_0.gguf"));
        assert_eq!(
            others(dir.path(), &model),
            ["tiny.Q8_0.gguf", "tiny.Q8_0.gguf.conversion.json"]
        );
        let s = verify_converted(dir.path(), &model, f).unwrap();
        assert_eq!(s.source.sha256, model.sha256);
        assert_eq!(s.format, f);
        assert_eq!(s.check, "fake check");
        assert!(describe_file(&path).contains("converted from tiny.Q4_1.gguf"));
        // Reused: no second conversion.
        let calls = fake.calls.get();
        ensure_weights(dir.path(), &model, f, &fake, &mut |_| {}).unwrap();
        assert_eq!(fake.calls.get(), calls);
        // A tampered result fails full verification; a record for another source is stale and
        // converted again.
        let mut sc = read_sidecar(&path).unwrap().unwrap();
        sc.source.sha256 = "0".repeat(64);
        std::fs::write(sidecar_path(&path), serde_json::to_string(&sc).unwrap()).unwrap();
        assert!(!looks_converted(dir.path(), &model, f));
        ensure_weights(dir.path(), &model, f, &fake, &mut |_| {}).unwrap();
        assert_eq!(fake.calls.get(), calls + 1);
        let len = std::fs::metadata(&path).unwrap().len() as usize;
        std::fs::write(&path, vec![0u8; len]).unwrap();
        assert!(
            looks_converted(dir.path(), &model, f),
            "same size passes the cheap check"
        );
        assert!(matches!(
            verify_converted(dir.path(), &model, f),
            Err(ConvertError::Invalid { .. })
        ));
    }

    #[test]
    fn corrupt_source_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let model = tiny(dir.path(), &source_bytes());
        let mut bad = source_bytes();
        bad[5000] ^= 1;
        std::fs::write(dir.path().join(model.file), bad).unwrap();
        let fake = Fake::new();
        let err = convert(dir.path(), &model, WeightFormat::Q8_0, &fake, &mut |_| {}).unwrap_err();
        assert!(
            matches!(
                err,
                ConvertError::Fetch(FetchError::Verify { what: "sha256", .. })
            ),
            "{err}"
        );
        assert_eq!(fake.calls.get(), 0);
        assert!(others(dir.path(), &model).is_empty());
    }

    #[test]
    fn failed_or_interrupted_conversion_leaves_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let model = tiny(dir.path(), &source_bytes());
        let f = WeightFormat::Q8_0;
        // A check that fails after the file was written.
        let fake = Fake {
            fail_check: true,
            ..Fake::new()
        };
        let err = ensure_weights(dir.path(), &model, f, &fake, &mut |_| {}).unwrap_err();
        assert!(matches!(err, ConvertError::Check { .. }), "{err}");
        assert!(others(dir.path(), &model).is_empty());
        // A result of the wrong size.
        let fake = Fake {
            truncate: true,
            ..Fake::new()
        };
        let err = ensure_weights(dir.path(), &model, f, &fake, &mut |_| {}).unwrap_err();
        assert!(matches!(err, ConvertError::Size { .. }), "{err}");
        assert!(others(dir.path(), &model).is_empty());
        // A panic between writing and renaming (the temporary file is removed on unwind).
        let fake = Fake {
            panic_after_write: true,
            ..Fake::new()
        };
        let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            ensure_weights(dir.path(), &model, f, &fake, &mut |_| {})
        }));
        assert!(r.is_err());
        assert!(others(dir.path(), &model).is_empty());
        // A stale converted file without a record (a kill between the rename and the record)
        // is not valid and is replaced.
        std::fs::write(dir.path().join("tiny.Q8_0.gguf"), b"half").unwrap();
        assert!(!looks_converted(dir.path(), &model, f));
        let fake = Fake::new();
        ensure_weights(dir.path(), &model, f, &fake, &mut |_| {}).unwrap();
        assert_eq!(fake.calls.get(), 1);
        verify_converted(dir.path(), &model, f).unwrap();
    }
}
