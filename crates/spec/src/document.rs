//! The entry points every top-level document type shares: parse and validate from JSON
//! text or a value, write camelCase JSON, and a validating `Deserialize`.

use serde_json::Value;

use crate::path::{At, Cx};
use crate::SpecError;

/// Parses `value` with `parse`, then validates with `validate`; validation errors name
/// fields as the user spelled them.
pub(crate) fn read<T>(
    value: &Value,
    parse: fn(&Value, &At, &mut Cx) -> Result<T, SpecError>,
    validate: fn(&T) -> Result<(), SpecError>,
) -> Result<T, SpecError> {
    let mut cx = Cx::default();
    let parsed = parse(value, &At::root(), &mut cx)?;
    validate(&parsed).map_err(|e| cx.spellings.rewrite(e))?;
    Ok(parsed)
}

/// Reads JSON text into a value, reporting syntax errors with line and column.
pub(crate) fn json_text(text: &str) -> Result<Value, SpecError> {
    serde_json::from_str(text).map_err(|e| SpecError::syntax("", format!("invalid JSON: {e}")))
}

/// Implements `from_json_str`, `from_value`, `to_json_value`, `to_json_string` and a
/// validating `Deserialize` for a document type with `parse` and `validate`.
macro_rules! document {
    ($ty:ident, $what:literal) => {
        impl $ty {
            #[doc = concat!("Parses and validates ", $what, " from JSON text (camelCase, snake_case or mixed).")]
            ///
            /// Errors name the offending field by its dotted path from the document root;
            /// use [`SpecError::with_prefix`](crate::SpecError::with_prefix) to root it
            /// in an enclosing document.
            pub fn from_json_str(text: &str) -> Result<Self, crate::SpecError> {
                Self::from_value(crate::document::json_text(text)?)
            }

            #[doc = concat!("Parses and validates ", $what, " from a JSON value.")]
            pub fn from_value(value: serde_json::Value) -> Result<Self, crate::SpecError> {
                crate::document::read(&value, Self::parse, Self::validate)
            }

            /// Writes the value as Vertex JSON: lowerCamelCase, unset fields omitted,
            /// enums by name.
            pub fn to_json_value(&self) -> serde_json::Value {
                // Serialising cannot fail: every map key is a string and every
                // serializer in this crate is infallible.
                serde_json::to_value(self).unwrap_or(serde_json::Value::Null)
            }

            /// [`Self::to_json_value`] as pretty-printed text.
            pub fn to_json_string(&self) -> String {
                serde_json::to_string_pretty(self).unwrap_or_default()
            }
        }

        impl<'de> serde::Deserialize<'de> for $ty {
            /// Deserialises through [`Self::from_value`], so the result is validated; the
            /// error message carries the field path.
            fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                let value = <serde_json::Value as serde::Deserialize>::deserialize(deserializer)?;
                Self::from_value(value).map_err(<D::Error as serde::de::Error>::custom)
            }
        }
    };
}

use crate::examples::{Examples, NearestNeighborSearchConfig};
use crate::metadata::ExplanationMetadata;
use crate::overrides::{ExamplesOverride, ExplanationSpecOverride};
use crate::parameters::ExplanationParameters;
use crate::spec::ExplanationSpec;

document!(ExplanationSpec, "an `ExplanationSpec`");
document!(ExplanationParameters, "`ExplanationParameters`");
document!(
    ExplanationMetadata,
    "`ExplanationMetadata` (Vertex or legacy explainable_ai_sdk file)"
);
document!(ExplanationSpecOverride, "an `ExplanationSpecOverride`");
document!(Examples, "an `Examples` method configuration");
document!(ExamplesOverride, "an `ExamplesOverride`");
document!(
    NearestNeighborSearchConfig,
    "a `nearestNeighborSearchConfig`"
);
