//! [`SpecError`], the one error type of this crate.

use thiserror::Error;

/// Everything that can be wrong with an explanation document.
///
/// Every variant carries the dotted JSON `path` of the offending field, relative to the
/// document that was parsed (for example `parameters.sampledShapleyAttribution.pathCount`
/// or `metadata.inputs.age.encoding`; array elements are written `noiseSigma[2]`, and map
/// keys that are not plain identifiers are quoted: `inputs["petal length"]`), and a
/// human-readable `message`. `Display` renders `"{path}: {message}"` (just the message
/// when the path is empty, i.e. the whole document is at fault).
///
/// Parse errors name fields as the user spelled them (`path_count` stays `path_count`,
/// a legacy `domain` stays `domain`); callers that embed the document in a larger one add
/// the outer path with [`SpecError::with_prefix`].
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum SpecError {
    /// The text is not well-formed JSON.
    #[error("{}", render(.path, .message))]
    Syntax {
        /// Where the error is (empty: the document).
        path: String,
        /// What serde_json reported, with line and column.
        message: String,
    },
    /// A value has the wrong JSON type (a string where a number belongs, a fractional
    /// count, an integer out of range).
    #[error("{}", render(.path, .message))]
    Type {
        /// The field whose value has the wrong type.
        path: String,
        /// What was expected and what was found.
        message: String,
    },
    /// A required field is absent.
    #[error("{}", render(.path, .message))]
    Missing {
        /// The missing field.
        path: String,
        /// Which field is required, and why.
        message: String,
    },
    /// A field the message does not have (usually a typo such as `pathCont`).
    #[error("{}", render(.path, .message))]
    UnknownField {
        /// The unknown field itself.
        path: String,
        /// The unknown name and the names allowed there.
        message: String,
    },
    /// An enum value that is neither a known name (any case) nor a known proto number.
    #[error("{}", render(.path, .message))]
    UnknownEnumValue {
        /// The enum field.
        path: String,
        /// The value found and the values allowed.
        message: String,
    },
    /// A well-typed value that breaks a rule of the contract: a range, two fields that
    /// exclude each other, a name that does not exist, a method an override may not change.
    #[error("{}", render(.path, .message))]
    Invalid {
        /// The field at fault (or the object holding the conflicting fields).
        path: String,
        /// The rule that was broken, with the value found.
        message: String,
    },
}

fn render(path: &str, message: &str) -> String {
    if path.is_empty() {
        message.to_owned()
    } else {
        format!("{path}: {message}")
    }
}

impl SpecError {
    /// The dotted JSON path of the offending field (empty for the document itself).
    pub fn path(&self) -> &str {
        match self {
            SpecError::Syntax { path, .. }
            | SpecError::Type { path, .. }
            | SpecError::Missing { path, .. }
            | SpecError::UnknownField { path, .. }
            | SpecError::UnknownEnumValue { path, .. }
            | SpecError::Invalid { path, .. } => path,
        }
    }

    /// The message without the path.
    pub fn message(&self) -> &str {
        match self {
            SpecError::Syntax { message, .. }
            | SpecError::Type { message, .. }
            | SpecError::Missing { message, .. }
            | SpecError::UnknownField { message, .. }
            | SpecError::UnknownEnumValue { message, .. }
            | SpecError::Invalid { message, .. } => message,
        }
    }

    fn path_mut(&mut self) -> &mut String {
        match self {
            SpecError::Syntax { path, .. }
            | SpecError::Type { path, .. }
            | SpecError::Missing { path, .. }
            | SpecError::UnknownField { path, .. }
            | SpecError::UnknownEnumValue { path, .. }
            | SpecError::Invalid { path, .. } => path,
        }
    }

    /// Prepends `prefix` to the path, so that an error found in an embedded document names
    /// the field from the outer document's root:
    /// `err.with_prefix("explanationSpec")` turns `parameters.topK: …` into
    /// `explanationSpec.parameters.topK: …`. A trailing `.` on the prefix is optional.
    pub fn with_prefix(mut self, prefix: &str) -> Self {
        let prefix = prefix.strip_suffix('.').unwrap_or(prefix);
        let path = self.path_mut();
        *path = crate::path::join(prefix, path);
        self
    }

    pub(crate) fn syntax(path: impl Into<String>, message: impl Into<String>) -> Self {
        SpecError::Syntax {
            path: path.into(),
            message: message.into(),
        }
    }

    pub(crate) fn type_(path: impl Into<String>, message: impl Into<String>) -> Self {
        SpecError::Type {
            path: path.into(),
            message: message.into(),
        }
    }

    pub(crate) fn missing(path: impl Into<String>, message: impl Into<String>) -> Self {
        SpecError::Missing {
            path: path.into(),
            message: message.into(),
        }
    }

    pub(crate) fn unknown_field(path: impl Into<String>, message: impl Into<String>) -> Self {
        SpecError::UnknownField {
            path: path.into(),
            message: message.into(),
        }
    }

    pub(crate) fn unknown_enum(path: impl Into<String>, message: impl Into<String>) -> Self {
        SpecError::UnknownEnumValue {
            path: path.into(),
            message: message.into(),
        }
    }

    pub(crate) fn invalid(path: impl Into<String>, message: impl Into<String>) -> Self {
        SpecError::Invalid {
            path: path.into(),
            message: message.into(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_joins_path_and_message() {
        let e = SpecError::invalid(
            "parameters.sampledShapleyAttribution.pathCount",
            "must be in 1..=50, got 0",
        );
        assert_eq!(
            e.to_string(),
            "parameters.sampledShapleyAttribution.pathCount: must be in 1..=50, got 0"
        );
        let e = e.with_prefix("explanationSpec.");
        assert_eq!(
            e.to_string(),
            "explanationSpec.parameters.sampledShapleyAttribution.pathCount: must be in 1..=50, got 0"
        );
    }

    #[test]
    fn empty_path_shows_only_the_message() {
        let e = SpecError::syntax("", "invalid JSON");
        assert_eq!(e.to_string(), "invalid JSON");
        assert_eq!(
            e.with_prefix("metadata").to_string(),
            "metadata: invalid JSON"
        );
    }

    #[test]
    fn prefix_before_an_index_has_no_dot() {
        let e = SpecError::invalid("[0].sigma", "bad").with_prefix("noiseSigma");
        assert_eq!(e.path(), "noiseSigma[0].sigma");
    }
}
