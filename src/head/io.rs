//! Head files: `NAME.safetensors` (tensors `weight` [rows, F], `bias` [rows], and `norm.mean` /
//! `norm.std` [F] with `standardize`) next to `NAME.yaml` (everything else). A head with weights
//! of their own for some answer kinds (listed in the YAML's `weights_by_kind`) has the same
//! tensors again for each, prefixed by the kind's name: `yes-no.weight`, `yes-no.bias`, ...

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::{Path, PathBuf};

use safetensors::tensor::{Dtype, SafeTensors, TensorView};
use serde::{Deserialize, Serialize};

use crate::features::{format_state_list, EosRule, FeatureSource, StateSpec};
use crate::tasks::AnswerKind;

use super::{Head, HeadError, HeadSpec, ModelIdentity, NormStats, Normalization, TrainingInfo};

/// Version of the head file format written by this build (and the only one it reads).
pub const FORMAT_VERSION: u32 = 1;

const WEIGHT: &str = "weight";
const BIAS: &str = "bias";
const NORM_MEAN: &str = "norm.mean";
const NORM_STD: &str = "norm.std";

/// The two files of the head named by `path`: `models/foo`, `models/foo.yaml` and
/// `models/foo.safetensors` all name (`models/foo.yaml`, `models/foo.safetensors`).
pub fn head_paths(path: &Path) -> (PathBuf, PathBuf) {
    let base = match path.extension().and_then(|e| e.to_str()) {
        Some("yaml" | "yml" | "safetensors") => path.with_extension(""),
        _ => path.to_path_buf(),
    };
    let with = |ext: &str| {
        let mut s = base.clone().into_os_string();
        s.push(ext);
        PathBuf::from(s)
    };
    let yaml = match path.extension().and_then(|e| e.to_str()) {
        Some("yml") => path.to_path_buf(),
        _ => with(".yaml"),
    };
    (yaml, with(".safetensors"))
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(tag = "source", rename_all = "snake_case")]
enum FeaturesYaml {
    Hidden {
        /// States in SWIFT.md §1 numbering, written compactly (`26-29`, `0,5,10-12`).
        states: String,
        /// F = states x n_embd.
        width: u64,
    },
    Logits {
        /// F = n_vocab.
        width: u64,
    },
}

#[derive(Debug, Serialize, Deserialize)]
struct HeadYaml {
    format_version: u32,
    model: ModelIdentity,
    features: FeaturesYaml,
    normalization: Normalization,
    gate: bool,
    eos: EosRule,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    instruction: Option<String>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    instruction_by_kind: BTreeMap<AnswerKind, String>,
    /// The answer kinds with weights of their own (tensors prefixed `KIND.`).
    #[serde(default, skip_serializing_if = "BTreeSet::is_empty")]
    weights_by_kind: BTreeSet<AnswerKind>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    training: Option<TrainingInfo>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    notes: Option<String>,
}

#[derive(Deserialize)]
struct VersionOnly {
    format_version: u64,
}

/// The tensor name prefix of `kind`'s own weights.
fn kind_prefix(kind: AnswerKind) -> String {
    format!("{}.", kind.name())
}

fn f32_bytes(v: &[f32]) -> Vec<u8> {
    v.iter().flat_map(|x| x.to_le_bytes()).collect()
}

impl Head {
    /// Writes `NAME.safetensors` and `NAME.yaml` for `path` (see [`head_paths`]), each
    /// atomically. Returns (yaml, safetensors) paths.
    pub fn save(&self, path: impl AsRef<Path>) -> Result<(PathBuf, PathBuf), HeadError> {
        let (yaml_path, st_path) = head_paths(path.as_ref());
        let f = self.width();
        let rows = self.rows();
        let mut tensors: Vec<(String, Vec<usize>, Vec<u8>)> = Vec::new();
        let mut push = |prefix: &str, weight: &[f32], bias: &[f32], stats: Option<&NormStats>| {
            tensors.push((
                format!("{prefix}{WEIGHT}"),
                vec![rows, f],
                f32_bytes(weight),
            ));
            tensors.push((format!("{prefix}{BIAS}"), vec![rows], f32_bytes(bias)));
            if let Some(st) = stats {
                tensors.push((format!("{prefix}{NORM_MEAN}"), vec![f], f32_bytes(&st.mean)));
                tensors.push((format!("{prefix}{NORM_STD}"), vec![f], f32_bytes(&st.std)));
            }
        };
        push("", &self.weight, &self.bias, self.stats.as_ref());
        let kinds: BTreeSet<AnswerKind> = self.kinds_with_own_weights().collect();
        for &kind in &kinds {
            if let Some((w, b, st)) = self.kind_tensors(kind) {
                push(&kind_prefix(kind), w, b, st);
            }
        }
        let views = tensors
            .iter()
            .map(|(name, shape, bytes)| {
                TensorView::new(Dtype::F32, shape.clone(), bytes).map(|v| (name.clone(), v))
            })
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| HeadError::Safetensors {
                file: st_path.clone(),
                reason: e.to_string(),
            })?;
        let info = HashMap::from([
            ("format".to_string(), "swift-bon-head".to_string()),
            ("format_version".to_string(), FORMAT_VERSION.to_string()),
        ]);
        let bytes =
            safetensors::serialize(views, Some(info)).map_err(|e| HeadError::Safetensors {
                file: st_path.clone(),
                reason: e.to_string(),
            })?;

        let features = match &self.spec.features {
            FeatureSource::Hidden { selection, .. } => FeaturesYaml::Hidden {
                states: format_state_list(selection.states()),
                width: f as u64,
            },
            FeatureSource::Logits { .. } => FeaturesYaml::Logits { width: f as u64 },
        };
        let meta = HeadYaml {
            format_version: FORMAT_VERSION,
            model: self.spec.model.clone(),
            features,
            normalization: self.spec.norm,
            gate: self.spec.gate,
            eos: self.spec.eos,
            instruction: self.spec.instruction.clone(),
            instruction_by_kind: self.spec.instruction_by_kind.clone(),
            weights_by_kind: kinds,
            training: self.spec.training.clone(),
            notes: self.spec.notes.clone(),
        };
        let text = crate::yaml::to_string(&meta).map_err(|source| HeadError::Yaml {
            file: yaml_path.clone(),
            source,
        })?;
        let weights_name = st_path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let text = format!("# swift-bon SWIFT head; weights in {weights_name}\n{text}");

        let io = |file: &Path| {
            let file = file.to_path_buf();
            move |source| HeadError::Io { file, source }
        };
        crate::fsutil::write_atomic(&st_path, &bytes).map_err(io(&st_path))?;
        crate::fsutil::write_atomic(&yaml_path, text.as_bytes()).map_err(io(&yaml_path))?;
        Ok((yaml_path, st_path))
    }

    /// Reads the head named by `path` (see [`head_paths`]) and verifies it: format version,
    /// metadata consistency, tensor names, dtypes and shapes against the metadata's F, and that
    /// every number is finite.
    pub fn load(path: impl AsRef<Path>) -> Result<Head, HeadError> {
        let (yaml_path, st_path) = head_paths(path.as_ref());
        let text = std::fs::read_to_string(&yaml_path).map_err(|source| HeadError::Io {
            file: yaml_path.clone(),
            source,
        })?;
        // The metadata is checked before the weights are read.
        let (spec, kinds) = parse_spec(&text, &yaml_path)?;
        let bytes = std::fs::read(&st_path).map_err(|source| HeadError::Io {
            file: st_path.clone(),
            source,
        })?;
        head_from_tensors(spec, &kinds, &bytes, &st_path)
    }

    /// Reads a head from the contents of its two files (a head embedded in the binary, or
    /// received over the wire) with every check of [`Head::load`]. `name` labels errors as if
    /// the files were `NAME.yaml` and `NAME.safetensors`.
    pub fn from_bytes(name: &str, yaml: &[u8], safetensors: &[u8]) -> Result<Head, HeadError> {
        let (yaml_path, st_path) = head_paths(Path::new(name));
        let text = std::str::from_utf8(yaml).map_err(|e| {
            HeadError::Invalid {
                reason: format!("metadata is not UTF-8: {e}"),
            }
            .in_file(&yaml_path)
        })?;
        let (spec, kinds) = parse_spec(text, &yaml_path)?;
        head_from_tensors(spec, &kinds, safetensors, &st_path)
    }
}

/// Parses and validates head metadata (`yaml_path` labels errors): the spec and the answer
/// kinds with weights of their own.
fn parse_spec(text: &str, yaml_path: &Path) -> Result<(HeadSpec, BTreeSet<AnswerKind>), HeadError> {
    let yaml_err = |source| HeadError::Yaml {
        file: yaml_path.to_path_buf(),
        source,
    };
    let version: VersionOnly = crate::yaml::from_str(text).map_err(yaml_err)?;
    if version.format_version != u64::from(FORMAT_VERSION) {
        return Err(HeadError::Version {
            file: yaml_path.to_path_buf(),
            found: version.format_version,
            supported: FORMAT_VERSION,
        });
    }
    let mut meta: HeadYaml = crate::yaml::from_str(text).map_err(yaml_err)?;
    let kinds = std::mem::take(&mut meta.weights_by_kind);
    let spec = spec_from_yaml(meta).map_err(|e| e.in_file(yaml_path))?;
    spec.validate().map_err(|e| e.in_file(yaml_path))?;
    Ok((spec, kinds))
}

/// Checks the tensors of a safetensors file against `spec` (and the weights of their own of
/// `kinds`) and builds the head (`st_path` labels errors).
fn head_from_tensors(
    spec: HeadSpec,
    kinds: &BTreeSet<AnswerKind>,
    bytes: &[u8],
    st_path: &Path,
) -> Result<Head, HeadError> {
    let st_path = st_path.to_path_buf();
    let tensors = SafeTensors::deserialize(bytes).map_err(|e| HeadError::Safetensors {
        file: st_path.clone(),
        reason: e.to_string(),
    })?;
    let f = spec.width();
    let rows = spec.rows();
    let group = |prefix: &str| {
        let mut names = vec![
            (format!("{prefix}{WEIGHT}"), vec![rows, f]),
            (format!("{prefix}{BIAS}"), vec![rows]),
        ];
        if spec.norm == Normalization::Standardize {
            names.push((format!("{prefix}{NORM_MEAN}"), vec![f]));
            names.push((format!("{prefix}{NORM_STD}"), vec![f]));
        }
        names
    };
    let expected: Vec<(String, Vec<usize>)> = std::iter::once(String::new())
        .chain(kinds.iter().map(|&k| kind_prefix(k)))
        .flat_map(|p| group(&p))
        .collect();
    let mut names: Vec<&str> = tensors.names();
    names.sort_unstable();
    if let Some(extra) = names
        .iter()
        .find(|n| !expected.iter().any(|(e, _)| e == *n))
    {
        return Err(HeadError::UnexpectedTensor {
            file: st_path,
            name: extra.to_string(),
        });
    }
    let read = |name: &str, shape: &[usize]| -> Result<Vec<f32>, HeadError> {
        let view = tensors.tensor(name).map_err(|_| HeadError::MissingTensor {
            file: st_path.clone(),
            name: name.to_string(),
        })?;
        if view.dtype() != Dtype::F32 {
            return Err(HeadError::TensorDtype {
                file: st_path.clone(),
                name: name.to_string(),
                got: format!("{:?}", view.dtype()),
            });
        }
        if view.shape() != shape {
            return Err(HeadError::TensorShape {
                file: Some(st_path.clone()),
                name: name.to_string(),
                expected: shape.to_vec(),
                got: view.shape().to_vec(),
            });
        }
        Ok(view
            .data()
            .chunks_exact(4)
            .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
            .collect())
    };
    // One set of weights (the tensors under `prefix`), with every check of `Head::new`.
    let weights = |prefix: &str| -> Result<Head, HeadError> {
        let mut values = Vec::new();
        for (name, shape) in group(prefix) {
            values.push(read(&name, &shape)?);
        }
        let mut values = values.into_iter();
        let weight = values.next().unwrap_or_default();
        let bias = values.next().unwrap_or_default();
        let stats = match (values.next(), values.next()) {
            (Some(mean), Some(std)) => Some(NormStats { mean, std }),
            _ => None,
        };
        Head::new(spec.clone(), weight, bias, stats)
    };
    let mut head = weights("").map_err(|e| e.in_file(&st_path))?;
    for &kind in kinds {
        let own =
            weights(&kind_prefix(kind)).map_err(|e| e.in_tensors_of(kind).in_file(&st_path))?;
        head = head.with_kind_weights(kind, &own)?;
    }
    Ok(head)
}

fn spec_from_yaml(meta: HeadYaml) -> Result<HeadSpec, HeadError> {
    let invalid = |reason: String| HeadError::Invalid { reason };
    let (features, width) = match meta.features {
        FeaturesYaml::Hidden { states, width } => {
            let spec: StateSpec = states
                .parse()
                .map_err(|e: crate::features::StateSpecError| invalid(e.to_string()))?;
            let selection = spec
                .resolve(meta.model.n_layer)
                .map_err(|e| invalid(e.to_string()))?;
            (
                FeatureSource::Hidden {
                    selection,
                    n_embd: meta.model.n_embd,
                },
                width,
            )
        }
        FeaturesYaml::Logits { width } => (
            FeatureSource::Logits {
                n_vocab: meta.model.n_vocab,
            },
            width,
        ),
    };
    let spec = HeadSpec {
        model: meta.model,
        features,
        norm: meta.normalization,
        gate: meta.gate,
        eos: meta.eos,
        instruction: meta.instruction,
        instruction_by_kind: meta.instruction_by_kind,
        training: meta.training,
        notes: meta.notes,
    };
    if let Some(t) = &spec.training {
        let calibrations = t
            .soft_vote
            .iter()
            .map(|c| ("training.soft_vote".to_string(), c))
            .chain(
                t.soft_vote_by_kind
                    .iter()
                    .map(|(k, c)| (format!("training.soft_vote_by_kind.{k}"), c)),
            );
        for (field, c) in calibrations {
            if let Some(why) = c.problem() {
                return Err(invalid(format!("{field}: {why}")));
            }
        }
    }
    if spec.width() as u64 != width {
        return Err(invalid(format!(
            "features.width is {width} but the states and model give F = {}",
            spec.width()
        )));
    }
    Ok(spec)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::head::test_util::random_head;

    fn saved(norm: Normalization, gate: bool) -> (tempfile::TempDir, Head, PathBuf, PathBuf) {
        let dir = tempfile::tempdir().unwrap();
        let mut head = random_head("0,2-4", gate, norm, 4);
        head.spec.instruction = Some("Put the final answer in \\boxed{}.".to_string());
        head.spec.notes = Some("test head".to_string());
        head.spec.training = Some(TrainingInfo {
            task: Some("arith".to_string()),
            problems: 10,
            loss: "ce".to_string(),
            date: "2026-01-01T00:00:00Z".to_string(),
            ..TrainingInfo::default()
        });
        let (y, s) = head.save(dir.path().join("models/h")).unwrap();
        (dir, head, y, s)
    }

    #[test]
    fn paths_accept_any_of_the_three_forms() {
        for p in ["m/foo", "m/foo.yaml", "m/foo.safetensors"] {
            let (y, s) = head_paths(Path::new(p));
            assert_eq!(y, PathBuf::from("m/foo.yaml"));
            assert_eq!(s, PathBuf::from("m/foo.safetensors"));
        }
        let (y, s) = head_paths(Path::new("m/foo.v2"));
        assert_eq!(y, PathBuf::from("m/foo.v2.yaml"));
        assert_eq!(s, PathBuf::from("m/foo.v2.safetensors"));
    }

    #[test]
    fn round_trip_preserves_everything() {
        for norm in [
            Normalization::None,
            Normalization::Rms,
            Normalization::Standardize,
        ] {
            for gate in [true, false] {
                let (_d, head, y, s) = saved(norm, gate);
                for p in [&y, &s, &y.with_extension("")] {
                    let back = Head::load(p).unwrap();
                    assert_eq!(back, head);
                }
                let text = std::fs::read_to_string(&y).unwrap();
                assert!(text.contains("states: 0,2-4"), "{text}");
                assert!(text.contains("format_version: 1"));
            }
        }
    }

    #[test]
    fn instructions_per_answer_kind_round_trip_and_unknown_kinds_are_refused() {
        let (_d, head, y, _s) = saved(Normalization::Rms, true);
        let mut spec = head.spec().clone();
        spec.instruction = Some("Solve it.".into());
        spec.instruction_by_kind = BTreeMap::from([
            (AnswerKind::Number, "Solve it.".to_string()),
            (AnswerKind::YesNo, "Say yes or no.".to_string()),
        ]);
        let head = Head::new(
            spec,
            head.weight().to_vec(),
            head.bias().to_vec(),
            head.norm_stats().cloned(),
        )
        .unwrap();
        head.save(&y).unwrap();
        let text = std::fs::read_to_string(&y).unwrap();
        assert!(
            text.contains("instruction_by_kind:\n  number: Solve it.\n  yes-no: Say yes or no."),
            "{text}"
        );
        let back = Head::load(&y).unwrap();
        assert_eq!(back, head);
        assert_eq!(
            back.spec().instruction_for(AnswerKind::YesNo),
            Some("Say yes or no.")
        );
        assert_eq!(
            back.spec().instruction_for(AnswerKind::Math),
            Some("Solve it.")
        );
        edit_yaml(&y, "  yes-no:", "  maybe:");
        let err = format!("{:#}", anyhow::Error::from(Head::load(&y).unwrap_err()));
        assert!(
            err.contains(&y.display().to_string()) && err.contains("maybe"),
            "{err}"
        );
    }

    /// A head with weights of their own for yes/no questions: each kind scores with its own
    /// weights (the main ones for every other kind), the file round-trips, and a missing,
    /// misshapen or non-finite kind tensor is refused by its name.
    #[test]
    fn weights_per_answer_kind_round_trip_and_are_checked_by_name() {
        for norm in [Normalization::Rms, Normalization::Standardize] {
            let dir = tempfile::tempdir().unwrap();
            let main = random_head("0,2-4", true, norm, 4);
            let yes_no = random_head("0,2-4", true, norm, 5);
            let head = main
                .clone()
                .with_kind_weights(AnswerKind::YesNo, &yes_no)
                .unwrap();
            assert_eq!(head.n_params(), 2 * main.n_params());
            assert_eq!(
                head.kinds_with_own_weights().collect::<Vec<_>>(),
                vec![AnswerKind::YesNo]
            );
            let layout = main.layout();
            let rows: Vec<f32> = (0..3 * layout.width())
                .map(|i| (i as f32 * 0.37).sin())
                .collect();
            let score = |h: &Head| h.score_rows(&rows, &layout).unwrap().score;
            assert_eq!(score(&head.for_kind(AnswerKind::YesNo)), score(&yes_no));
            assert_eq!(score(&head.for_kind(AnswerKind::Number)), score(&main));
            assert_ne!(score(&yes_no), score(&main));

            let (y, st) = head.save(dir.path().join("g")).unwrap();
            let text = std::fs::read_to_string(&y).unwrap();
            assert!(text.contains("weights_by_kind:\n- yes-no\n"), "{text}");
            let back = Head::load(&y).unwrap();
            assert_eq!(back, head);
            assert_eq!(score(&back.for_kind(AnswerKind::YesNo)), score(&yes_no));

            // The YAML lists a kind whose tensors are not there.
            edit_yaml(&y, "- yes-no\n", "- yes-no\n- number\n");
            let err = Head::load(&y).unwrap_err().to_string();
            assert!(err.contains("\"number.weight\" is missing"), "{err}");
            // The tensors are there but the YAML does not list them.
            edit_yaml(&y, "weights_by_kind:\n- yes-no\n- number\n", "");
            let err = Head::load(&y).unwrap_err().to_string();
            assert!(err.contains("unexpected tensor \"yes-no."), "{err}");
            head.save(&y).unwrap();

            // A non-finite value in the kind's weights is named with its kind.
            let bad = {
                let mut w = yes_no.weight().to_vec();
                w[3] = f32::NAN;
                Head::new(
                    yes_no.spec().clone(),
                    w,
                    yes_no.bias().to_vec(),
                    yes_no.norm_stats().cloned(),
                )
            };
            assert!(bad.is_err(), "Head::new checks finiteness itself");
            let bytes = std::fs::read(&st).unwrap();
            let tensors = SafeTensors::deserialize(&bytes).unwrap();
            let mut owned: Vec<(String, Vec<usize>, Vec<u8>)> = tensors
                .tensors()
                .into_iter()
                .map(|(n, v)| (n, v.shape().to_vec(), v.data().to_vec()))
                .collect();
            for (name, _, data) in owned.iter_mut() {
                if name == "yes-no.weight" {
                    data[12..16].copy_from_slice(&f32::NAN.to_le_bytes());
                }
            }
            let views: Vec<(String, TensorView<'_>)> = owned
                .iter()
                .map(|(n, shape, d)| {
                    (
                        n.clone(),
                        TensorView::new(Dtype::F32, shape.clone(), d).unwrap(),
                    )
                })
                .collect();
            std::fs::write(&st, safetensors::serialize(views, None).unwrap()).unwrap();
            let err = Head::load(&y).unwrap_err().to_string();
            assert!(err.contains("yes-no.weight[3] is NaN"), "{err}");
        }
    }

    #[test]
    fn weights_for_a_kind_must_read_the_same_features() {
        let main = random_head("0,2-4", true, Normalization::Rms, 4);
        for (other, what) in [
            (
                random_head("0,2-3", true, Normalization::Rms, 5),
                "features",
            ),
            (random_head("0,2-4", false, Normalization::Rms, 5), "gate"),
            (
                random_head("0,2-4", true, Normalization::None, 5),
                "normalisation",
            ),
        ] {
            let err = main
                .clone()
                .with_kind_weights(AnswerKind::YesNo, &other)
                .unwrap_err()
                .to_string();
            assert!(
                err.contains("yes-no questions") && err.contains(what),
                "{what}: {err}"
            );
        }
    }

    fn edit_yaml(y: &Path, from: &str, to: &str) {
        let text = std::fs::read_to_string(y).unwrap();
        assert!(text.contains(from), "{text}");
        std::fs::write(y, text.replacen(from, to, 1)).unwrap();
    }

    #[test]
    fn a_soft_vote_calibration_round_trips_and_bad_sharpnesses_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let (_d, mut head, _y, _s) = saved(Normalization::Rms, true);
        let calibration = |beta: f64, logprob: f64| crate::head::SoftVoteCalibration {
            beta,
            logprob,
            k: 8,
            problems: 40,
            accuracy: 0.5,
            majority: 0.4,
            argmax: 0.45,
        };
        head.set_soft_vote(Some(calibration(0.25, 2.0)));
        head.set_soft_vote_by_kind(std::collections::BTreeMap::from([(
            "yes-no".to_string(),
            calibration(0.0, 0.0),
        )]));
        let (y, _s) = head.save(dir.path().join("h")).unwrap();
        let back = Head::load(&y).unwrap();
        assert_eq!(back.spec(), head.spec());
        let yes_no = back.soft_vote_for(crate::tasks::AnswerKind::YesNo).unwrap();
        assert_eq!((yes_no.beta, yes_no.logprob), (0.0, 0.0));
        let number = back
            .soft_vote_for(crate::tasks::AnswerKind::Number)
            .unwrap();
        assert_eq!((number.beta, number.logprob), (0.25, 2.0));
        // A zero log-prob sharpness is not written (heads from before it read the same).
        let text = std::fs::read_to_string(&y).unwrap();
        assert_eq!(text.matches("logprob:").count(), 1, "{text}");
        for (from, to, field) in [
            (
                "logprob: 2.0",
                "logprob: -1.0",
                "training.soft_vote: logprob is -1",
            ),
            (
                "logprob: 2.0",
                "logprob: .inf",
                "training.soft_vote: logprob is inf",
            ),
            (
                "beta: 0.25",
                "beta: .nan",
                "training.soft_vote: beta is NaN",
            ),
            (
                "beta: 0.0",
                "beta: -0.5",
                "training.soft_vote_by_kind.yes-no: beta is -0.5",
            ),
        ] {
            let (y, _s) = head.save(dir.path().join("bad")).unwrap();
            edit_yaml(&y, from, to);
            let err = crate::error_class::chain_text(&Head::load(&y).unwrap_err());
            assert!(err.contains(field), "{from} -> {to}: {err}");
        }
    }

    #[test]
    fn rejects_wrong_version_and_missing_fields() {
        let (_d, _h, y, _s) = saved(Normalization::None, true);
        edit_yaml(&y, "format_version: 1", "format_version: 2");
        let err = Head::load(&y).unwrap_err();
        assert!(matches!(err, HeadError::Version { found: 2, .. }), "{err}");

        let (_d, _h, y, _s) = saved(Normalization::None, true);
        edit_yaml(&y, "gate: true\n", "");
        // The YAML parser's words are the error's source, shown after it in the chain.
        let err = crate::error_class::chain_text(&Head::load(&y).unwrap_err());
        assert!(err.contains("gate") && err.contains("h.yaml"), "{err}");

        let (_d, _h, y, _s) = saved(Normalization::None, true);
        edit_yaml(&y, "format_version: 1\n", "");
        let err = crate::error_class::chain_text(&Head::load(&y).unwrap_err());
        assert!(err.contains("format_version"), "{err}");

        let (_d, _h, y, _s) = saved(Normalization::None, true);
        edit_yaml(&y, "states: 0,2-4", "states: 0,2-9");
        let err = Head::load(&y).unwrap_err().to_string();
        assert!(err.contains("out of range"), "{err}");
    }

    #[test]
    fn rejects_shape_mismatch_between_yaml_and_tensors() {
        let (_d, _h, y, _s) = saved(Normalization::None, true);
        // Another state list of the same length keeps F: still loads.
        edit_yaml(&y, "states: 0,2-4", "states: 1-4");
        Head::load(&y).unwrap();
        // Fewer states: F changes, the metadata width no longer agrees.
        edit_yaml(&y, "states: 1-4", "states: 1-3");
        let err = Head::load(&y).unwrap_err().to_string();
        assert!(err.contains("features.width is 16"), "{err}");
        edit_yaml(&y, "width: 16", "width: 12");
        let err = Head::load(&y).unwrap_err();
        assert!(
            matches!(&err, HeadError::TensorShape { expected, got, .. } if expected == &vec![2, 12] && got == &vec![2, 16]),
            "{err}"
        );
        // A gated file read as no-gate.
        let (_d, _h, y, _s) = saved(Normalization::None, true);
        edit_yaml(&y, "gate: true", "gate: false");
        assert!(matches!(
            Head::load(&y).unwrap_err(),
            HeadError::TensorShape { .. }
        ));
        // Standardize without statistics in the file.
        let (_d, _h, y, _s) = saved(Normalization::None, true);
        edit_yaml(&y, "normalization: none", "normalization: standardize");
        let err = Head::load(&y).unwrap_err();
        assert!(
            matches!(&err, HeadError::MissingTensor { name, .. } if name == "norm.mean"),
            "{err}"
        );
        // Statistics in a file that does not standardise.
        let (_d, _h, y, _s) = saved(Normalization::Standardize, true);
        edit_yaml(&y, "normalization: standardize", "normalization: rms");
        assert!(matches!(
            Head::load(&y).unwrap_err(),
            HeadError::UnexpectedTensor { .. }
        ));
    }

    #[test]
    fn rejects_corrupted_truncated_and_non_finite_tensors() {
        let (_d, head, y, s) = saved(Normalization::None, true);
        let good = std::fs::read(&s).unwrap();
        std::fs::write(&s, &good[..good.len() - 7]).unwrap();
        let err = Head::load(&y).unwrap_err();
        assert!(matches!(err, HeadError::Safetensors { .. }), "{err}");
        assert!(err.to_string().contains("h.safetensors"));
        std::fs::write(&s, b"garbage").unwrap();
        assert!(matches!(
            Head::load(&y).unwrap_err(),
            HeadError::Safetensors { .. }
        ));
        std::fs::remove_file(&s).unwrap();
        assert!(matches!(Head::load(&y).unwrap_err(), HeadError::Io { .. }));

        // A NaN written through the safetensors serializer.
        let mut w = head.weight().to_vec();
        w[5] = f32::NAN;
        let wb = f32_bytes(&w);
        let bb = f32_bytes(head.bias());
        let views = vec![
            (
                "weight".to_string(),
                TensorView::new(Dtype::F32, vec![2, 16], &wb).unwrap(),
            ),
            (
                "bias".to_string(),
                TensorView::new(Dtype::F32, vec![2], &bb).unwrap(),
            ),
        ];
        std::fs::write(&s, safetensors::serialize(views, None).unwrap()).unwrap();
        let err = Head::load(&y).unwrap_err().to_string();
        assert!(err.contains("weight[5] is NaN"), "{err}");

        // Wrong dtype.
        let half: Vec<u8> = vec![0; 2 * 16 * 2];
        let views = vec![
            (
                "weight".to_string(),
                TensorView::new(Dtype::F16, vec![2, 16], &half).unwrap(),
            ),
            (
                "bias".to_string(),
                TensorView::new(Dtype::F32, vec![2], &bb).unwrap(),
            ),
        ];
        std::fs::write(&s, safetensors::serialize(views, None).unwrap()).unwrap();
        assert!(matches!(
            Head::load(&y).unwrap_err(),
            HeadError::TensorDtype { .. }
        ));
    }

    #[test]
    fn a_loaded_head_refuses_another_model() {
        let (_d, _h, y, _s) = saved(Normalization::Rms, true);
        let head = Head::load(&y).unwrap();
        let mut other = crate::head::test_util::identity();
        other.n_layer = 30;
        other.n_embd = 576;
        let err = head.check_model(&other, false).unwrap_err().to_string();
        assert!(
            err.contains("n_layer: head expects 4, model has 30"),
            "{err}"
        );
        assert!(
            err.contains("n_embd: head expects 4, model has 576"),
            "{err}"
        );
    }
}
