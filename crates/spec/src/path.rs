//! Dotted JSON paths for error messages, and the record of how the user spelled them.
//!
//! Parsing accepts several spellings of one field (`pathCount`, `path_count`, legacy
//! `domain` for `featureValueDomain`). Errors found while reading a value name the field
//! as written. Validation runs later on the typed value and only knows canonical
//! (lowerCamelCase) names, so the parser records every spelling that differs from the
//! canonical one in [`Spellings`], and the canonical paths of validation errors are
//! rewritten back to what the user wrote.

use crate::SpecError;

/// Joins two path fragments: `a` + `b` → `a.b`, `a` + `[0]` → `a[0]`.
pub(crate) fn join(prefix: &str, path: &str) -> String {
    if prefix.is_empty() {
        path.to_owned()
    } else if path.is_empty() {
        prefix.to_owned()
    } else if path.starts_with('[') {
        format!("{prefix}{path}")
    } else {
        format!("{prefix}.{path}")
    }
}

/// True for map keys that can be written bare in a dotted path.
fn is_plain(name: &str) -> bool {
    !name.is_empty()
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-' || c == ':' || c == '/')
}

/// A dotted JSON path under construction.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct JsonPath(String);

impl JsonPath {
    /// The document root (the empty path).
    pub(crate) fn root() -> Self {
        JsonPath(String::new())
    }

    /// A path starting at `s` (used for roots such as `explanationSpecOverride`).
    pub(crate) fn from_str(s: &str) -> Self {
        JsonPath(s.to_owned())
    }

    /// The path of a message field (names are plain identifiers).
    pub(crate) fn key(&self, key: &str) -> Self {
        JsonPath(join(&self.0, key))
    }

    /// The path of a user-chosen map key (a feature or output name), quoted when needed.
    pub(crate) fn name(&self, name: &str) -> Self {
        if is_plain(name) {
            JsonPath(join(&self.0, name))
        } else {
            let quoted = serde_json::Value::String(name.to_owned()).to_string();
            JsonPath(format!("{}[{quoted}]", self.0))
        }
    }

    /// The path of an array element.
    pub(crate) fn index(&self, i: usize) -> Self {
        JsonPath(format!("{}[{i}]", self.0))
    }

    /// The path as a string.
    pub(crate) fn as_str(&self) -> &str {
        &self.0
    }

    /// The path of a key as the user wrote it (quoted unless a plain identifier), for
    /// errors about keys that are not fields.
    fn key_path(&self, key: &str) -> String {
        if !key.is_empty() && key.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
            self.key(key).0
        } else {
            self.name(key).0
        }
    }
}

/// Where a parser is: the canonical path and the path as the user wrote it.
#[derive(Debug, Clone, Default)]
pub(crate) struct At {
    canonical: JsonPath,
    written: JsonPath,
}

impl At {
    /// The document root.
    pub(crate) fn root() -> Self {
        At::default()
    }

    /// The path as written, for errors found while parsing.
    pub(crate) fn written(&self) -> &str {
        self.written.as_str()
    }

    /// The written path of a child key, for errors about that key (unknown, missing).
    pub(crate) fn child_written(&self, key: &str) -> String {
        self.written.key_path(key)
    }

    /// A message field, found under the key `written` (one spelling of `canonical`).
    pub(crate) fn field(&self, canonical: &str, written: &str, cx: &mut Cx) -> At {
        let at = At {
            canonical: self.canonical.key(canonical),
            written: self.written.key(written),
        };
        if at.canonical != at.written {
            cx.spellings.record(&at.canonical, &at.written);
        }
        at
    }

    /// A map entry under a user-chosen key.
    pub(crate) fn name(&self, name: &str) -> At {
        At {
            canonical: self.canonical.name(name),
            written: self.written.name(name),
        }
    }

    /// An array element.
    pub(crate) fn index(&self, i: usize) -> At {
        At {
            canonical: self.canonical.index(i),
            written: self.written.index(i),
        }
    }
}

/// Parser state shared by one parse: the spellings seen so far.
#[derive(Debug, Default)]
pub(crate) struct Cx {
    pub(crate) spellings: Spellings,
}

/// Canonical path → written path, for every field spelled differently from its
/// canonical name.
#[derive(Debug, Default)]
pub(crate) struct Spellings(Vec<(String, String)>);

impl Spellings {
    fn record(&mut self, canonical: &JsonPath, written: &JsonPath) {
        self.0
            .push((canonical.as_str().to_owned(), written.as_str().to_owned()));
    }

    /// Rewrites the canonical path of a validation error to the spelling the user wrote.
    pub(crate) fn rewrite(&self, err: SpecError) -> SpecError {
        let path = err.path();
        let best = self
            .0
            .iter()
            .filter(|(canonical, _)| {
                path.strip_prefix(canonical.as_str())
                    .is_some_and(|rest| rest.is_empty() || rest.starts_with(['.', '[']))
            })
            .max_by_key(|(canonical, _)| canonical.len());
        match best {
            None => err,
            Some((canonical, written)) => {
                let new_path = format!("{written}{}", &path[canonical.len()..]);
                replace_path(err, new_path)
            }
        }
    }
}

fn replace_path(err: SpecError, new_path: String) -> SpecError {
    match err {
        SpecError::Syntax { message, .. } => SpecError::syntax(new_path, message),
        SpecError::Type { message, .. } => SpecError::type_(new_path, message),
        SpecError::Missing { message, .. } => SpecError::missing(new_path, message),
        SpecError::UnknownField { message, .. } => SpecError::unknown_field(new_path, message),
        SpecError::UnknownEnumValue { message, .. } => SpecError::unknown_enum(new_path, message),
        SpecError::Invalid { message, .. } => SpecError::invalid(new_path, message),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_quoted_only_when_needed() {
        let p = JsonPath::root().key("metadata").key("inputs");
        assert_eq!(p.name("age").as_str(), "metadata.inputs.age");
        assert_eq!(
            p.name("petal length").as_str(),
            "metadata.inputs[\"petal length\"]"
        );
        assert_eq!(
            p.name("x:0").key("encoding").as_str(),
            "metadata.inputs.x:0.encoding"
        );
        assert_eq!(p.index(3).as_str(), "metadata.inputs[3]");
    }

    #[test]
    fn rewrite_uses_the_longest_recorded_prefix() {
        let mut cx = Cx::default();
        let root = At::root();
        let inputs = root.field("inputs", "inputs", &mut cx).name("x");
        let domain = inputs.field("featureValueDomain", "domain", &mut cx);
        let _min = domain.field("minValue", "min", &mut cx);
        let err = SpecError::invalid("inputs.x.featureValueDomain.minValue", "bad");
        assert_eq!(cx.spellings.rewrite(err).path(), "inputs.x.domain.min");
        let err = SpecError::invalid("inputs.x.featureValueDomain", "bad");
        assert_eq!(cx.spellings.rewrite(err).path(), "inputs.x.domain");
        let err = SpecError::invalid("inputs.x.featureValueDomainX", "bad");
        assert_eq!(
            cx.spellings.rewrite(err).path(),
            "inputs.x.featureValueDomainX"
        );
    }
}
