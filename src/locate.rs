//! Where swift-bon keeps its files, so that an installed binary works from any folder.
//!
//! - Known models are fetched once into the user's cache directory (`~/.cache/swift-bon/models`
//!   on Linux, `~/Library/Caches/swift-bon/models` on macOS, `%LOCALAPPDATA%\swift-bon\cache\models`
//!   on Windows). `SWIFT_BON_MODELS` or `--models-dir` replace that folder.
//! - A model already in the `models/` folder of a checkout (the one this binary was built from,
//!   or `./models`) is used where it is, so nobody downloads it twice.
//! - Heads the user installs live in the user's data directory (`~/.local/share/swift-bon/heads`
//!   on Linux); `SWIFT_BON_HEADS` replaces that folder.
#![forbid(unsafe_code)]

use std::path::{Path, PathBuf};

use crate::fetch::{self, KnownModel};

/// Environment variable naming the folder of the user's installed heads.
pub const HEADS_DIR_ENV: &str = "SWIFT_BON_HEADS";

/// The `models/` folder of the checkout this crate was built from (it may be gone at run time).
pub const CHECKOUT_MODELS_DIR: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/models");

fn project_dirs() -> Option<directories::ProjectDirs> {
    directories::ProjectDirs::from("", "", "swift-bon")
}

/// The user's cache folder for models, if the platform has one (no home directory: none).
pub fn cache_models_dir() -> Option<PathBuf> {
    project_dirs().map(|d| d.cache_dir().join("models"))
}

/// The folder of the user's installed heads: `$SWIFT_BON_HEADS`, else `heads` in the user's data
/// directory.
pub fn user_heads_dir() -> Option<PathBuf> {
    if let Some(d) = std::env::var_os(HEADS_DIR_ENV).filter(|d| !d.is_empty()) {
        return Some(PathBuf::from(d));
    }
    project_dirs().map(|d| d.data_dir().join("heads"))
}

/// Where models are looked for and fetched into.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ModelDirs {
    /// The folder known models are fetched into.
    pub fetch_into: PathBuf,
    /// Folders searched, in order, for a model already present (`fetch_into` first).
    pub search: Vec<PathBuf>,
}

impl ModelDirs {
    /// The folders for this process: `explicit` (from `--models-dir`), else `$SWIFT_BON_MODELS`,
    /// alone; otherwise the cache folder, then the checkout's `models/` and `./models` where they
    /// exist.
    pub fn resolve(explicit: Option<&Path>) -> Self {
        let env = std::env::var_os(fetch::MODELS_DIR_ENV)
            .filter(|d| !d.is_empty())
            .map(PathBuf::from);
        Self::from_parts(
            explicit.map(Path::to_path_buf).or(env),
            cache_models_dir(),
            &[PathBuf::from(CHECKOUT_MODELS_DIR), PathBuf::from("models")],
        )
    }

    /// [`ModelDirs::resolve`] from its inputs: an override, the cache folder, and fallbacks
    /// (searched only when they exist).
    pub fn from_parts(
        explicit: Option<PathBuf>,
        cache: Option<PathBuf>,
        fallbacks: &[PathBuf],
    ) -> Self {
        if let Some(dir) = explicit {
            return Self {
                search: vec![dir.clone()],
                fetch_into: dir,
            };
        }
        // Without a home directory, `./models` is the last resort (the old behaviour).
        let fetch_into = cache.unwrap_or_else(|| PathBuf::from("models"));
        let mut search = vec![fetch_into.clone()];
        for f in fallbacks {
            let same = search.iter().any(|s| {
                s == f || (s.canonicalize().ok()).is_some_and(|c| f.canonicalize().ok() == Some(c))
            });
            if !same && f.is_dir() {
                search.push(f.clone());
            }
        }
        Self { fetch_into, search }
    }

    /// The first folder holding an intact-looking copy of `model` (right size), if any.
    pub fn find(&self, model: &KnownModel) -> Option<PathBuf> {
        self.search
            .iter()
            .find(|d| fetch::looks_installed(d, model))
            .map(|d| fetch::model_path(d, model))
    }

    /// The path of `model`: where it already is, else fetched into [`ModelDirs::fetch_into`]
    /// (saying so through `log`).
    pub fn ensure(
        &self,
        model: &KnownModel,
        log: &mut dyn FnMut(&str),
    ) -> Result<PathBuf, fetch::FetchError> {
        match self.find(model) {
            Some(p) => Ok(p),
            None => fetch::ensure_model(&self.fetch_into, model, log),
        }
    }

    /// Folders searched, for messages.
    pub fn describe(&self) -> String {
        self.search
            .iter()
            .map(|d| d.display().to_string())
            .collect::<Vec<_>>()
            .join(", ")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_override_is_the_only_folder() {
        let d = ModelDirs::from_parts(
            Some("/x/models".into()),
            Some("/home/u/.cache/swift-bon/models".into()),
            &[PathBuf::from(".")],
        );
        assert_eq!(d.fetch_into, PathBuf::from("/x/models"));
        assert_eq!(d.search, vec![PathBuf::from("/x/models")]);
    }

    #[test]
    fn the_cache_comes_first_then_existing_checkouts() {
        let checkout = tempfile::tempdir().unwrap();
        let d = ModelDirs::from_parts(
            None,
            Some("/nonexistent/cache/models".into()),
            &[checkout.path().to_path_buf(), "/nonexistent/models".into()],
        );
        assert_eq!(d.fetch_into, PathBuf::from("/nonexistent/cache/models"));
        assert_eq!(
            d.search,
            vec![
                PathBuf::from("/nonexistent/cache/models"),
                checkout.path().to_path_buf()
            ]
        );
        // No home directory: ./models.
        let d = ModelDirs::from_parts(None, None, &[]);
        assert_eq!(d.fetch_into, PathBuf::from("models"));
    }

    #[test]
    fn a_model_in_a_checkout_is_found_without_fetching() {
        let cache = tempfile::tempdir().unwrap();
        let checkout = tempfile::tempdir().unwrap();
        let m = KnownModel {
            name: "tiny",
            description: "",
            file: "tiny.gguf",
            stem: "tiny",
            size: 4,
            sha256: "",
            parts: &[],
            checksum_package: None,
        };
        std::fs::write(checkout.path().join("tiny.gguf"), b"GGUF").unwrap();
        let d = ModelDirs::from_parts(
            None,
            Some(cache.path().join("models")),
            &[checkout.path().to_path_buf()],
        );
        let found = d.ensure(&m, &mut |_| panic!("must not fetch")).unwrap();
        assert_eq!(found, checkout.path().join("tiny.gguf"));
        // A copy in the cache wins.
        std::fs::create_dir_all(cache.path().join("models")).unwrap();
        std::fs::write(cache.path().join("models/tiny.gguf"), b"GGUF").unwrap();
        assert_eq!(d.find(&m).unwrap(), cache.path().join("models/tiny.gguf"));
    }

    #[test]
    fn platform_folders_are_under_the_xdg_variables() {
        // Only checks the shape: the folder names end as documented.
        if let Some(c) = cache_models_dir() {
            assert!(c.ends_with("models"), "{}", c.display());
            assert!(c.to_string_lossy().contains("swift-bon"), "{}", c.display());
        }
    }
}
