//! Finding SWIFT heads: the heads shipped inside the binary, the ones the user installed, and
//! explicit files.
//!
//! Lookup order: an explicit `--head` (a file, or the name of an installed or shipped head), then
//! the user's installed heads (see [`crate::locate::user_heads_dir`]), then the shipped ones. A
//! user head named like a shipped head replaces it.
#![forbid(unsafe_code)]

use std::fmt;
use std::path::{Path, PathBuf};

use crate::head::{head_paths, Head, HeadError, ModelIdentity};
use crate::tasks::TaskSpec;

/// A head embedded in the binary.
#[derive(Debug, Clone, Copy)]
pub struct ShippedHead {
    /// Its name (the file stem in `models/`).
    pub name: &'static str,
    yaml: &'static [u8],
    safetensors: &'static [u8],
}

impl ShippedHead {
    /// Parses and checks it.
    pub fn load(&self) -> Result<Head, HeadError> {
        Head::from_bytes(self.name, self.yaml, self.safetensors)
    }

    /// Size of its two files in bytes.
    pub fn size(&self) -> usize {
        self.yaml.len() + self.safetensors.len()
    }
}

macro_rules! shipped {
    ($name:literal) => {
        ShippedHead {
            name: $name,
            yaml: include_bytes!(concat!("../models/", $name, ".yaml")),
            safetensors: include_bytes!(concat!("../models/", $name, ".safetensors")),
        }
    };
}

/// The heads shipped with swift-bon (trained by `models/train-heads.sh`).
pub const SHIPPED: &[ShippedHead] = &[
    shipped!("smollm2-135m-arith"),
    shipped!("smollm2-135m-coinflip"),
    shipped!("smollm2-135m-general"),
];

/// Where a head came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HeadOrigin {
    /// A file given explicitly.
    File(PathBuf),
    /// Installed by the user (its `.yaml` file).
    User(PathBuf),
    /// Embedded in the binary.
    Shipped,
}

impl fmt::Display for HeadOrigin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::File(p) => write!(f, "file {}", p.display()),
            Self::User(p) => write!(f, "installed head {}", p.display()),
            Self::Shipped => f.write_str("shipped with swift-bon"),
        }
    }
}

/// A head and where it came from.
#[derive(Debug, Clone)]
pub struct FoundHead {
    /// Its name (file stem).
    pub name: String,
    /// Where it came from.
    pub origin: HeadOrigin,
    /// The head.
    pub head: Head,
}

impl FoundHead {
    /// The task family it was trained on (`arithmetic`, `coinflip`, ...), if recorded.
    pub fn task(&self) -> Option<&'static str> {
        trained_task(&self.head)
    }
}

/// How the training task of a head trained on several collections starts (`train --data A
/// --data B`): `general: TASK_A + TASK_B`.
pub const GENERAL_TASK_PREFIX: &str = "general: ";

/// The family name of a head trained on several task families.
pub const GENERAL_TASK: &str = "general";

/// The task family a head was trained on, if recorded: `general` for a head trained on several.
pub fn trained_task(head: &Head) -> Option<&'static str> {
    let task = head.spec().training.as_ref()?.task.as_deref()?;
    if task.starts_with(GENERAL_TASK_PREFIX) {
        return Some(GENERAL_TASK);
    }
    task.parse::<TaskSpec>().ok().map(|t| t.name())
}

/// Errors of the head catalog.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum HeadsError {
    /// The platform gives no data directory and `SWIFT_BON_HEADS` is not set.
    #[error(
        "no folder for installed heads: this user has no home directory; set {}",
        crate::locate::HEADS_DIR_ENV
    )]
    NoUserDir,
    /// A head file is invalid.
    #[error(transparent)]
    Head(#[from] HeadError),
    /// No head of that name.
    #[error("no head named {name:?}; {known}")]
    NotFound {
        /// Name asked for.
        name: String,
        /// What there is.
        known: String,
    },
    /// A shipped head cannot be removed.
    #[error("{0} is shipped inside the binary and cannot be removed (an installed head of the same name replaces it)")]
    Shipped(String),
    /// A bad head name.
    #[error("invalid head name {0:?}: use letters, digits, '-', '_' and '.'")]
    BadName(String),
    /// I/O.
    #[error("{path}: {source}")]
    Io {
        /// File.
        path: PathBuf,
        /// Error.
        source: std::io::Error,
    },
}

/// The heads available to this user: installed ones and shipped ones.
#[derive(Debug, Clone)]
pub struct HeadCatalog {
    user_dir: Option<PathBuf>,
}

impl HeadCatalog {
    /// The catalog with the user's heads in `user_dir`.
    pub fn new(user_dir: Option<PathBuf>) -> Self {
        Self { user_dir }
    }

    /// The catalog of this user (see [`crate::locate::user_heads_dir`]).
    pub fn for_user() -> Self {
        Self::new(crate::locate::user_heads_dir())
    }

    /// The folder of installed heads.
    pub fn user_dir(&self) -> Option<&Path> {
        self.user_dir.as_deref()
    }

    /// Installed heads (by name), and the files that could not be read.
    pub fn installed(&self) -> (Vec<FoundHead>, Vec<(PathBuf, HeadError)>) {
        let mut found = Vec::new();
        let mut bad = Vec::new();
        let Some(dir) = &self.user_dir else {
            return (found, bad);
        };
        let Ok(entries) = std::fs::read_dir(dir) else {
            return (found, bad);
        };
        let mut paths: Vec<PathBuf> = entries
            .filter_map(Result::ok)
            .map(|e| e.path())
            .filter(|p| p.extension().is_some_and(|e| e == "yaml"))
            .collect();
        paths.sort();
        for p in paths {
            match Head::load(&p) {
                Ok(head) => found.push(FoundHead {
                    name: stem(&p),
                    origin: HeadOrigin::User(p),
                    head,
                }),
                Err(e) => bad.push((p, e)),
            }
        }
        (found, bad)
    }

    /// Every head: installed ones first, then shipped ones not replaced by an installed head of
    /// the same name. Unreadable installed heads are skipped with a warning.
    pub fn all(&self) -> Vec<FoundHead> {
        let (mut all, bad) = self.installed();
        for (p, e) in bad {
            tracing::warn!("skipping installed head {}: {e}", p.display());
        }
        for s in SHIPPED {
            if all.iter().any(|h| h.name == s.name) {
                continue;
            }
            match s.load() {
                Ok(head) => all.push(FoundHead {
                    name: s.name.to_string(),
                    origin: HeadOrigin::Shipped,
                    head,
                }),
                // Tested in this module; a broken build would be caught there.
                Err(e) => tracing::warn!("shipped head {} is unreadable: {e}", s.name),
            }
        }
        all
    }

    /// Heads made for this model (same architecture, shape and fingerprint), in lookup order;
    /// with `task`, only those trained on that task family. Installed heads come before shipped
    /// ones; within each, heads trained on several families ([`GENERAL_TASK`]) come first: they
    /// are the default for a question of unknown family.
    pub fn for_model(&self, model: &ModelIdentity, task: Option<&str>) -> Vec<FoundHead> {
        let mut found: Vec<FoundHead> = self
            .all()
            .into_iter()
            .filter(|h| task.is_none_or(|t| h.task() == Some(t)))
            .filter(|h| h.head.check_model(model, true).is_ok())
            .collect();
        found.sort_by_key(|h| {
            (
                !matches!(h.origin, HeadOrigin::User(_) | HeadOrigin::File(_)),
                h.task() != Some(GENERAL_TASK),
            )
        });
        found
    }

    /// An explicit `--head`: a file (`NAME`, `NAME.yaml` or `NAME.safetensors`), else the name of
    /// an installed or shipped head.
    pub fn explicit(&self, spec: &Path) -> Result<FoundHead, HeadsError> {
        let (yaml, _) = head_paths(spec);
        let is_name = spec.components().count() == 1 && !yaml.exists();
        if is_name {
            let name = spec.to_string_lossy();
            if let Some(h) = self.all().into_iter().find(|h| h.name == name) {
                return Ok(h);
            }
            if spec.extension().is_none() {
                return Err(HeadsError::NotFound {
                    name: name.into_owned(),
                    known: format!(
                        "it is neither a head file nor an installed or shipped head (known: {})",
                        self.all()
                            .iter()
                            .map(|h| h.name.clone())
                            .collect::<Vec<_>>()
                            .join(", ")
                    ),
                });
            }
        }
        let head = Head::load(spec)?;
        Ok(FoundHead {
            name: stem(&yaml),
            origin: HeadOrigin::File(yaml),
            head,
        })
    }

    /// Installs the head named by `path` (checked first) as `name` (default: its file stem) into
    /// the user's folder; returns the installed `.yaml` path and whether it replaced one.
    pub fn install(&self, path: &Path, name: Option<&str>) -> Result<(PathBuf, bool), HeadsError> {
        let dir = self.user_dir.as_ref().ok_or(HeadsError::NoUserDir)?;
        let head = Head::load(path)?;
        let (yaml, _) = head_paths(path);
        let name = name.map_or_else(|| stem(&yaml), str::to_string);
        check_name(&name)?;
        std::fs::create_dir_all(dir).map_err(|source| HeadsError::Io {
            path: dir.clone(),
            source,
        })?;
        let dest = dir.join(&name);
        let replaced = head_paths(&dest).0.exists();
        let (y, _) = head.save(&dest)?;
        Ok((y, replaced))
    }

    /// Removes the installed head `name`; returns the files removed.
    pub fn remove(&self, name: &str) -> Result<Vec<PathBuf>, HeadsError> {
        check_name(name)?;
        let dir = self.user_dir.as_ref().ok_or(HeadsError::NoUserDir)?;
        let (yaml, st) = head_paths(&dir.join(name));
        if !yaml.exists() && !st.exists() {
            if SHIPPED.iter().any(|s| s.name == name) {
                return Err(HeadsError::Shipped(name.to_string()));
            }
            let (installed, _) = self.installed();
            return Err(HeadsError::NotFound {
                name: name.to_string(),
                known: format!(
                    "installed heads in {}: {}",
                    dir.display(),
                    if installed.is_empty() {
                        "none".to_string()
                    } else {
                        installed
                            .iter()
                            .map(|h| h.name.clone())
                            .collect::<Vec<_>>()
                            .join(", ")
                    }
                ),
            });
        }
        let mut removed = Vec::new();
        for p in [yaml, st] {
            match std::fs::remove_file(&p) {
                Ok(()) => removed.push(p),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(source) => return Err(HeadsError::Io { path: p, source }),
            }
        }
        Ok(removed)
    }
}

fn stem(yaml: &Path) -> String {
    yaml.file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default()
}

fn check_name(name: &str) -> Result<(), HeadsError> {
    let ok = !name.is_empty()
        && !name.starts_with('.')
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
    if ok {
        Ok(())
    } else {
        Err(HeadsError::BadName(name.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::head::test_util::random_head;
    use crate::head::Normalization;

    #[test]
    fn shipped_heads_load_and_name_their_task() {
        for s in SHIPPED {
            let h = s.load().unwrap();
            assert_eq!(h.spec().model.n_embd, 576, "{}", s.name);
            assert!(s.size() > 100_000);
        }
        let cat = HeadCatalog::new(None);
        let tasks: Vec<_> = cat.all().iter().map(FoundHead::task).collect();
        assert_eq!(
            tasks,
            vec![Some("arithmetic"), Some("coinflip"), Some("general")]
        );
        assert!(cat.all().iter().all(|h| h.origin == HeadOrigin::Shipped));
    }

    #[test]
    fn shipped_heads_fit_only_their_model() {
        let cat = HeadCatalog::new(None);
        let model = SHIPPED[0].load().unwrap().spec().model.clone();
        let found = cat.for_model(&model, None);
        assert_eq!(found.len(), 3);
        // Without a task, the general head first.
        assert_eq!(found[0].name, "smollm2-135m-general");
        assert_eq!(
            cat.for_model(&model, Some("coinflip"))[0].name,
            "smollm2-135m-coinflip"
        );
        assert!(cat.for_model(&model, Some("gsm8k")).is_empty());
        let mut other = model;
        other.fingerprint = "sha256-ends-v1:other".into();
        assert!(cat.for_model(&other, None).is_empty());
    }

    #[test]
    fn install_list_replace_and_remove() {
        let tmp = tempfile::tempdir().unwrap();
        let cat = HeadCatalog::new(Some(tmp.path().join("heads")));
        let src = tmp.path().join("trained/mine");
        random_head("0,2-4", true, Normalization::Rms, 3)
            .save(&src)
            .unwrap();
        let (y, replaced) = cat.install(&src, None).unwrap();
        assert!(!replaced);
        assert_eq!(y, tmp.path().join("heads/mine.yaml"));
        let (installed, bad) = cat.installed();
        assert!(bad.is_empty());
        assert_eq!(installed.len(), 1);
        assert_eq!(installed[0].name, "mine");
        // Installed first, shipped after.
        let all = cat.all();
        assert_eq!(all[0].name, "mine");
        assert_eq!(all.len(), 1 + SHIPPED.len());
        // A user head replaces a shipped head of the same name.
        let (_, replaced) = cat.install(&src, Some("smollm2-135m-arith")).unwrap();
        assert!(!replaced);
        let all = cat.all();
        let arith: Vec<_> = all
            .iter()
            .filter(|h| h.name == "smollm2-135m-arith")
            .collect();
        assert_eq!(arith.len(), 1);
        assert!(matches!(arith[0].origin, HeadOrigin::User(_)));
        // By name through --head.
        let h = cat.explicit(Path::new("mine")).unwrap();
        assert!(matches!(h.origin, HeadOrigin::User(_)));
        let h = cat.explicit(Path::new("smollm2-135m-coinflip")).unwrap();
        assert_eq!(h.origin, HeadOrigin::Shipped);
        let err = cat.explicit(Path::new("nope")).unwrap_err().to_string();
        assert!(err.contains("smollm2-135m-coinflip"), "{err}");
        // Remove.
        assert_eq!(cat.remove("mine").unwrap().len(), 2);
        assert!(matches!(
            cat.remove("mine"),
            Err(HeadsError::NotFound { .. })
        ));
        assert!(matches!(
            cat.remove("smollm2-135m-coinflip"),
            Err(HeadsError::Shipped(_))
        ));
        assert!(matches!(cat.remove("../x"), Err(HeadsError::BadName(_))));
    }

    #[test]
    fn a_broken_installed_head_is_reported_not_fatal() {
        let tmp = tempfile::tempdir().unwrap();
        std::fs::write(tmp.path().join("bad.yaml"), "format_version: 1\n").unwrap();
        let cat = HeadCatalog::new(Some(tmp.path().to_path_buf()));
        let (ok, bad) = cat.installed();
        assert!(ok.is_empty());
        assert_eq!(bad.len(), 1);
        assert_eq!(cat.all().len(), SHIPPED.len());
        // An invalid file is refused at install.
        assert!(cat.install(&tmp.path().join("bad"), Some("x")).is_err());
    }
}
