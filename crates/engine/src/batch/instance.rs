//! Records become instances: JSON parsing, CSV typing, file-list reading, and the
//! `instanceConfig` options (key field, included and excluded fields, instance type).

use base64::Engine as _;
use serde_json::{Map, Value};

use crate::batch::input::{InputFile, RawBody, RawRecord};
use crate::batch::{InputFormat, InstanceConfig, InstanceType};
use crate::storage::Location;

/// A record made into an instance, or the reason it cannot be one.
#[derive(Debug)]
pub(crate) enum Prepared {
    /// The instance for the model, and its key when `keyField` is set.
    Ready {
        /// What the model gets.
        instance: Value,
        /// The value of the key field.
        key: Option<Value>,
    },
    /// The record is not a valid instance.
    Rejected {
        /// The record as far as it could be read (the raw line when it is not JSON).
        instance: Value,
        /// The value of the key field, when it could be found.
        key: Option<Value>,
        /// Why, with the record's file and line.
        message: String,
    },
}

impl Prepared {
    /// The same outcome, a rejection's message passed through `place` (which names the
    /// record's file and line).
    fn placed(self, place: impl Fn(String) -> String) -> Self {
        match self {
            Prepared::Rejected {
                instance,
                key,
                message,
            } => Prepared::Rejected {
                instance,
                key,
                message: place(message),
            },
            ready => ready,
        }
    }
}

/// Makes a record into an instance.
pub(crate) fn prepare(
    record: RawRecord,
    format: InputFormat,
    config: &InstanceConfig,
    files: &[InputFile],
) -> Prepared {
    let unit = line_unit(format);
    let place = |message: String| -> String {
        match files.get(record.file) {
            Some(f) => format!("{} {unit} {}: {message}", f.name(), record.line),
            None => message,
        }
    };
    let reject = |instance: Value, key: Option<Value>, message: String| Prepared::Rejected {
        instance,
        key,
        message: place(message),
    };
    match (format, record.body) {
        (InputFormat::FileList, RawBody::Line(line)) => {
            let list = files.get(record.file);
            match read_listed_file(&line, list) {
                Ok(instance) => Prepared::Ready {
                    instance,
                    key: None,
                },
                Err(message) => reject(
                    Value::String(String::from_utf8_lossy(&line).trim().to_string()),
                    None,
                    message,
                ),
            }
        }
        (_, RawBody::Line(line)) => prepare_json(&line, config).placed(place),
        (_, RawBody::Row(row)) => {
            apply_config(Value::Object(row), &rows_config(config)).placed(place)
        }
        (_, RawBody::Csv { header, fields }) => {
            let mut values: Vec<Value> = Vec::with_capacity(fields.len());
            for (i, field) in fields.iter().enumerate() {
                match std::str::from_utf8(field) {
                    Ok(text) => values.push(csv_value(text)),
                    Err(_) => {
                        let raw: Vec<Value> = fields
                            .iter()
                            .map(|f| Value::String(String::from_utf8_lossy(f).into_owned()))
                            .collect();
                        return reject(
                            Value::Array(raw),
                            None,
                            format!("column {} is not valid UTF-8", i + 1),
                        );
                    }
                }
            }
            if values.len() != header.len() {
                return reject(
                    Value::Array(values),
                    None,
                    format!(
                        "the row has {} fields but the header names {}",
                        fields.len(),
                        header.len()
                    ),
                );
            }
            let row: Map<String, Value> = header.iter().cloned().zip(values).collect();
            apply_config(Value::Object(row), &rows_config(config)).placed(place)
        }
    }
}

/// What a record's number within its file is called in messages: `row` for Parquet,
/// `line` for the text formats.
pub(crate) fn line_unit(format: InputFormat) -> &'static str {
    match format {
        InputFormat::Parquet => "row",
        _ => "line",
    }
}

/// The instance config of table rows (CSV, Parquet): arrays unless the instance type asks
/// for objects.
fn rows_config(config: &InstanceConfig) -> InstanceConfig {
    InstanceConfig {
        instance_type: Some(config.instance_type.unwrap_or(InstanceType::Array)),
        ..config.clone()
    }
}

/// Makes a JSON document (a JSONL line) into an instance; a rejection's message does not
/// name the record's place.
pub(crate) fn prepare_json(text: &[u8], config: &InstanceConfig) -> Prepared {
    match serde_json::from_slice::<Value>(text) {
        Ok(value) => apply_config(value, config),
        Err(e) => Prepared::Rejected {
            instance: Value::String(String::from_utf8_lossy(text).into_owned()),
            key: None,
            message: format!("invalid JSON: {e}"),
        },
    }
}

/// A CSV field as JSON: an integer or a finite decimal number when it reads as one, null
/// when empty, a string otherwise.
pub(crate) fn csv_value(text: &str) -> Value {
    let t = text.trim();
    if t.is_empty() {
        return Value::Null;
    }
    if let Ok(i) = t.parse::<i64>() {
        return Value::from(i);
    }
    let numeric = t
        .bytes()
        .all(|b| b.is_ascii_digit() || matches!(b, b'+' | b'-' | b'.' | b'e' | b'E'));
    if numeric {
        if let Some(n) = t.parse::<f64>().ok().and_then(serde_json::Number::from_f64) {
            return Value::Number(n);
        }
    }
    Value::String(text.to_string())
}

/// Applies `instanceConfig` to an instance: takes out the key, keeps or drops fields, and
/// gives the instance the asked type. A rejection carries the instance as it was, and the
/// key when it was found (its message without the record's place).
pub(crate) fn apply_config(value: Value, config: &InstanceConfig) -> Prepared {
    let needs_object = config.key_field.is_some()
        || !config.included_fields.is_empty()
        || !config.excluded_fields.is_empty()
        || config.instance_type.is_some();
    if !needs_object {
        return Prepared::Ready {
            instance: value,
            key: None,
        };
    }
    let mut object = match value {
        Value::Object(o) => o,
        // An array already is what `instanceType: array` asks for, when nothing else applies.
        Value::Array(_)
            if config.instance_type == Some(InstanceType::Array)
                && config.key_field.is_none()
                && config.included_fields.is_empty()
                && config.excluded_fields.is_empty() =>
        {
            return Prepared::Ready {
                instance: value,
                key: None,
            };
        }
        other => {
            return Prepared::Rejected {
                instance: other,
                key: None,
                message: "instanceConfig (keyField, includedFields, excludedFields, instanceType) \
                 needs each instance to be a JSON object"
                    .into(),
            }
        }
    };
    let key = match &config.key_field {
        Some(field) => match object.shift_remove(field) {
            Some(k) => Some(k),
            None => {
                return Prepared::Rejected {
                    instance: Value::Object(object),
                    key: None,
                    message: format!("the key field \"{field}\" is missing"),
                }
            }
        },
        None => None,
    };
    for field in &config.excluded_fields {
        object.shift_remove(field);
    }
    if !config.included_fields.is_empty() {
        let mut kept = Map::with_capacity(config.included_fields.len());
        for field in &config.included_fields {
            match object.get(field) {
                Some(v) => {
                    kept.insert(field.clone(), v.clone());
                }
                None => {
                    return Prepared::Rejected {
                        instance: Value::Object(object),
                        key,
                        message: format!("the included field \"{field}\" is missing"),
                    }
                }
            }
        }
        object = kept;
    }
    let instance = match config.instance_type {
        Some(InstanceType::Array) => Value::Array(object.into_iter().map(|(_, v)| v).collect()),
        Some(InstanceType::Object) | None => Value::Object(object),
    };
    Prepared::Ready { instance, key }
}

/// A file-list line: the file or object it names (relative paths from the list's folder
/// or prefix), as `{"b64": "<base64 of its bytes>"}`.
fn read_listed_file(line: &[u8], list: Option<&InputFile>) -> Result<Value, String> {
    let text = std::str::from_utf8(line)
        .map_err(|_| "the path is not valid UTF-8".to_string())?
        .trim();
    let absolute = text.starts_with('/') || text.contains("://");
    let location = match list {
        Some(list) if !absolute => {
            // The list's own place: its URL for an object, its path for a local file.
            let base = Location::parse(&list.name()).map_err(|e| e.to_string())?;
            base.parent().join(text)
        }
        _ => Location::parse(text).map_err(|e| e.to_string())?,
    };
    let bytes = location.read().map_err(|e| format!("cannot read {e}"))?;
    let mut object = Map::new();
    object.insert(
        "b64".into(),
        Value::String(base64::engine::general_purpose::STANDARD.encode(bytes)),
    );
    Ok(Value::Object(object))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn config(v: Value) -> InstanceConfig {
        serde_json::from_value(v).unwrap()
    }

    fn ready(p: Prepared) -> (Value, Option<Value>) {
        match p {
            Prepared::Ready { instance, key } => (instance, key),
            Prepared::Rejected { message, .. } => panic!("{message}"),
        }
    }

    #[test]
    fn csv_fields_are_typed() {
        assert_eq!(csv_value("12"), json!(12));
        assert_eq!(csv_value("-1.5"), json!(-1.5));
        assert_eq!(csv_value("1e3"), json!(1000.0));
        assert_eq!(csv_value(""), Value::Null);
        assert_eq!(csv_value("NaN"), json!("NaN"));
        assert_eq!(csv_value("inf"), json!("inf"));
        assert_eq!(csv_value("red"), json!("red"));
        assert_eq!(csv_value("1-2"), json!("1-2"));
    }

    #[test]
    fn key_field_leaves_the_instance() {
        let c = config(json!({"keyField": "id"}));
        let (i, k) = ready(apply_config(json!({"id": 7, "a": 1, "b": 2}), &c));
        assert_eq!(i, json!({"a": 1, "b": 2}));
        assert_eq!(k, Some(json!(7)));
        let Prepared::Rejected { message, .. } = apply_config(json!({"a": 1}), &c) else {
            panic!("accepted without its key");
        };
        assert!(message.contains("\"id\""), "{message}");
    }

    #[test]
    fn included_fields_order_an_array_instance() {
        let c = config(json!({"instanceType": "array", "includedFields": ["b", "a"]}));
        let (i, k) = ready(apply_config(json!({"a": 1, "b": 2, "c": 3}), &c));
        assert_eq!(i, json!([2, 1]));
        assert_eq!(k, None);
        let c = config(json!({"excludedFields": ["c"]}));
        let (i, _) = ready(apply_config(json!({"a": 1, "b": 2, "c": 3}), &c));
        assert_eq!(i, json!({"a": 1, "b": 2}));
    }

    #[test]
    fn no_config_passes_any_instance() {
        let (i, k) = ready(apply_config(json!([1, 2]), &InstanceConfig::default()));
        assert_eq!((i, k), (json!([1, 2]), None));
        let c = config(json!({"keyField": "id"}));
        assert!(matches!(
            apply_config(json!([1, 2]), &c),
            Prepared::Rejected { .. }
        ));
    }
}
