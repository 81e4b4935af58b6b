//! The project's one door to YAML (head metadata, collection manifests): every other module
//! reads and writes YAML through these functions and this error, so the YAML library can be
//! swapped in one place.

use serde::de::DeserializeOwned;
use serde::Serialize;

/// A YAML text that does not parse into the expected shape (its message names the field and
/// the line), or a value that cannot be written.
#[derive(Debug)]
pub struct Error(serde_yaml::Error);

impl std::fmt::Display for Error {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.0.source()
    }
}

/// Parses `text` into a `T`.
pub fn from_str<T: DeserializeOwned>(text: &str) -> Result<T, Error> {
    serde_yaml::from_str(text).map_err(Error)
}

/// Writes `value` as YAML.
pub fn to_string<T: Serialize + ?Sized>(value: &T) -> Result<String, Error> {
    serde_yaml::to_string(value).map_err(Error)
}

#[cfg(test)]
mod tests {
    #[test]
    fn errors_name_the_line_and_values_round_trip() {
        let err = super::from_str::<std::collections::BTreeMap<String, u32>>("a: 1\nb: x\n")
            .unwrap_err()
            .to_string();
        assert!(err.contains("line 2"), "{err}");
        let v: std::collections::BTreeMap<String, u32> = [("a".into(), 1)].into();
        let text = super::to_string(&v).unwrap();
        assert_eq!(
            super::from_str::<std::collections::BTreeMap<String, u32>>(&text).unwrap(),
            v
        );
    }
}
