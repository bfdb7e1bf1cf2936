//! The *try it* form: one field per feature, from the explanation metadata's inputs.
//!
//! | input | field | sent as |
//! |---|---|---|
//! | `indexFeatureMapping` names | one text field per name (decimal keyboard) | `{"name": number, …}` by name |
//! | `modality: image` | a file picker (PNG / JPEG) | `{"feature": {"b64": "…"}}` |
//! | `modality: text` | a text area of tokens | a list: tokens that read as numbers (token ids) are numbers |
//! | `modality: categorical` | a text field | a number when it reads as one, else a string |
//! | a scalar numeric feature | a text field (decimal keyboard) | a number |
//! | any other (a baseline that is a list) | a JSON text area | the JSON value |
//!
//! Fields start at the feature's first input baseline when it has one, so *Explain* works at
//! once (and shows the attributions of the baseline itself: zero).

use prism_spec::{Encoding, ExplanationMetadata, InputMetadata, Modality};
use serde::Serialize;
use serde_json::{Map, Value};

/// One form field.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub(crate) struct Field {
    /// The instance key the value goes under.
    pub(crate) feature: String,
    /// The visible label.
    pub(crate) label: String,
    /// `number`, `auto`, `image`, `tokens` or `json` (the script reads it).
    pub(crate) kind: &'static str,
    /// The starting value.
    pub(crate) value: Option<String>,
    /// The element id.
    pub(crate) id: String,
    /// A hint under the field.
    pub(crate) hint: Option<String>,
    /// The metadata input it belongs to, when that differs from the label.
    pub(crate) group: Option<String>,
}

/// The fields of a model's form, in metadata order.
pub(crate) fn fields(metadata: &ExplanationMetadata) -> Vec<Field> {
    let mut out = Vec::new();
    for (name, input) in metadata.inputs.iter() {
        let baseline = input.input_baselines.first();
        let mut push = |feature: &str, kind: &'static str, value: Option<String>, hint| {
            let id = format!("f-{}", out.len());
            // The metadata input a named feature belongs to, when there are several.
            let group = input.group_name.clone().or_else(|| {
                (feature != name && metadata.inputs.len() > 1).then(|| name.to_string())
            });
            out.push(Field {
                feature: feature.to_string(),
                label: feature.to_string(),
                kind,
                value,
                id,
                hint,
                group,
            });
        };
        if !input.index_feature_mapping.is_empty() {
            let names = &input.index_feature_mapping;
            for (i, feature) in names.iter().enumerate() {
                let value = baseline.and_then(|b| match b {
                    Value::Array(items) if items.len() == names.len() => scalar_text(&items[i]),
                    other => scalar_text(other),
                });
                push(feature, "number", value, None);
            }
            continue;
        }
        match input.modality {
            Modality::Image => push(
                name,
                "image",
                None,
                Some("A PNG or JPEG file, sent as {\"b64\": …} and resized to the model's input.".into()),
            ),
            Modality::Text => push(
                name,
                "tokens",
                None,
                Some("Tokens separated by spaces; tokens that are numbers (token ids) are sent as numbers.".into()),
            ),
            Modality::Categorical => push(name, "auto", baseline.and_then(scalar_text), None),
            _ if is_list(input) => push(
                name,
                "json",
                baseline.map(Value::to_string),
                Some("A JSON value shaped like the feature (a number or a nested list).".into()),
            ),
            _ => push(name, "number", baseline.and_then(scalar_text), None),
        }
    }
    out
}

/// A feature whose value is a list: its baseline is one, or its encoding holds several
/// values in one feature.
fn is_list(input: &InputMetadata) -> bool {
    input
        .input_baselines
        .first()
        .is_some_and(|b| matches!(b, Value::Array(_)))
        || matches!(
            input.encoding,
            Encoding::BagOfFeatures
                | Encoding::BagOfFeaturesSparse
                | Encoding::Indicator
                | Encoding::CombinedEmbedding
                | Encoding::ConcatEmbedding
        )
}

fn scalar_text(v: &Value) -> Option<String> {
    match v {
        Value::Number(n) => Some(n.to_string()),
        Value::String(s) => Some(s.clone()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

/// A starting instance for the JSON box: the fields' starting values by feature name
/// (images and tokens left out).
pub(crate) fn sample(fields: &[Field]) -> String {
    let mut out = Map::new();
    for f in fields {
        let value = match (f.kind, &f.value) {
            ("number", Some(v)) => v
                .parse::<f64>()
                .ok()
                .and_then(serde_json::Number::from_f64)
                .map(Value::Number),
            ("json", Some(v)) => serde_json::from_str(v).ok(),
            ("auto", Some(v)) => Some(Value::String(v.clone())),
            _ => None,
        };
        if let Some(v) = value {
            out.insert(f.feature.clone(), v);
        }
    }
    serde_json::to_string_pretty(&Value::Object(out)).unwrap_or_else(|_| "{}".into())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn metadata(v: Value) -> ExplanationMetadata {
        ExplanationMetadata::from_value(v).unwrap()
    }

    #[test]
    fn one_field_per_named_feature_with_its_baseline() {
        let md = metadata(json!({
            "inputs": {
                "features": {"indexFeatureMapping": ["a", "b <i>"], "inputBaselines": [[1.5, 2]]},
                "image": {"modality": "image"},
                "words": {"modality": "text"},
                "city": {"modality": "categorical", "inputBaselines": ["Paris"]},
                "vec": {"inputBaselines": [[0, 0]]},
                "age": {}
            },
            "outputs": {"p": {}}
        }));
        let f = fields(&md);
        let kinds: Vec<(&str, &str)> = f.iter().map(|f| (f.feature.as_str(), f.kind)).collect();
        assert_eq!(
            kinds,
            [
                ("a", "number"),
                ("b <i>", "number"),
                ("image", "image"),
                ("words", "tokens"),
                ("city", "auto"),
                ("vec", "json"),
                ("age", "number")
            ]
        );
        assert_eq!(f[0].value.as_deref(), Some("1.5"));
        assert_eq!(f[1].value.as_deref(), Some("2"));
        assert_eq!(f[1].group.as_deref(), Some("features"));
        assert_eq!(f[4].value.as_deref(), Some("Paris"));
        assert_eq!(f[5].value.as_deref(), Some("[0,0]"));
        let ids: std::collections::HashSet<_> = f.iter().map(|f| f.id.clone()).collect();
        assert_eq!(ids.len(), f.len());
        let sample: Value = serde_json::from_str(&sample(&f)).unwrap();
        assert_eq!(
            sample,
            json!({"a": 1.5, "b <i>": 2.0, "city": "Paris", "vec": [0, 0]})
        );
    }
}
