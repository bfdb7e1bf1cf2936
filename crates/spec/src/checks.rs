//! Validation rules shared by several messages. Each names the field it checks.

use serde_json::Value;

use crate::path::JsonPath;
use crate::SpecError;

/// `value` must lie in `lo..=hi`.
pub(crate) fn count_in(value: i64, lo: i64, hi: i64, at: &JsonPath) -> Result<(), SpecError> {
    if value < lo || value > hi {
        return Err(SpecError::invalid(
            at.as_str(),
            format!("must be in {lo}..={hi}, got {value}"),
        ));
    }
    Ok(())
}

/// `value` must be at least `lo`.
pub(crate) fn at_least(value: i64, lo: i64, at: &JsonPath) -> Result<(), SpecError> {
    if value < lo {
        return Err(SpecError::invalid(
            at.as_str(),
            format!("must be >= {lo}, got {value}"),
        ));
    }
    Ok(())
}

/// `value` must be finite and `>= 0`.
pub(crate) fn non_negative(value: f64, at: &JsonPath) -> Result<(), SpecError> {
    if !value.is_finite() || value < 0.0 {
        return Err(SpecError::invalid(
            at.as_str(),
            format!("must be a finite number >= 0, got {value}"),
        ));
    }
    Ok(())
}

/// `value` must be finite and `> 0`.
pub(crate) fn positive(value: f64, at: &JsonPath) -> Result<(), SpecError> {
    if !value.is_finite() || value <= 0.0 {
        return Err(SpecError::invalid(
            at.as_str(),
            format!("must be a finite number > 0, got {value}"),
        ));
    }
    Ok(())
}

/// `value` must be finite.
pub(crate) fn finite(value: f64, at: &JsonPath) -> Result<(), SpecError> {
    if !value.is_finite() {
        return Err(SpecError::invalid(
            at.as_str(),
            format!("must be a finite number, got {value}"),
        ));
    }
    Ok(())
}

/// A name (feature, namespace) must not be empty.
pub(crate) fn non_empty_name(name: &str, at: &JsonPath) -> Result<(), SpecError> {
    if name.trim().is_empty() {
        return Err(SpecError::invalid(at.as_str(), "must not be empty"));
    }
    Ok(())
}

/// The names of a list must be unique (and not empty).
pub(crate) fn unique_names<'a>(
    names: impl IntoIterator<Item = &'a str>,
    at: &JsonPath,
) -> Result<(), SpecError> {
    let mut seen: std::collections::HashMap<&str, usize> = std::collections::HashMap::new();
    for (i, name) in names.into_iter().enumerate() {
        non_empty_name(name, &at.index(i))?;
        if let Some(first) = seen.get(name) {
            return Err(SpecError::invalid(
                at.index(i).as_str(),
                format!("duplicate name {}, already at index {first}", quote(name)),
            ));
        }
        seen.insert(name, i);
    }
    Ok(())
}

/// A string as a JSON literal, for messages.
pub(crate) fn quote(s: &str) -> String {
    Value::String(s.to_owned()).to_string()
}

/// A list of names for messages: `"a", "b", "c"` (shortened after 20).
pub(crate) fn name_list<'a>(names: impl IntoIterator<Item = &'a str>) -> String {
    let names: Vec<&str> = names.into_iter().collect();
    let mut shown: Vec<String> = names.iter().take(20).map(|n| quote(n)).collect();
    if names.len() > 20 {
        shown.push(format!("… ({} in all)", names.len()));
    }
    if shown.is_empty() {
        "none".to_owned()
    } else {
        shown.join(", ")
    }
}

/// The shape of a rectangular nested array whose leaves satisfy `leaf`; `Err` with the
/// path of the first element that breaks it.
pub(crate) fn ndarray_shape(
    value: &Value,
    leaf: &dyn Fn(&Value) -> bool,
    what: &str,
    at: &JsonPath,
) -> Result<Vec<usize>, SpecError> {
    match value {
        Value::Array(items) => {
            let mut inner: Option<Vec<usize>> = None;
            for (i, item) in items.iter().enumerate() {
                let shape = ndarray_shape(item, leaf, what, &at.index(i))?;
                match &inner {
                    None => inner = Some(shape),
                    Some(first) if *first != shape => {
                        return Err(SpecError::invalid(
                            at.index(i).as_str(),
                            format!(
                                "ragged array: this element has shape {shape:?}, element 0 has {first:?}"
                            ),
                        ))
                    }
                    Some(_) => {}
                }
            }
            let mut shape = vec![items.len()];
            shape.extend(inner.unwrap_or_default());
            Ok(shape)
        }
        other if leaf(other) => Ok(Vec::new()),
        other => Err(SpecError::invalid(
            at.as_str(),
            format!("expected {what}, got {}", crate::reader::describe(other)),
        )),
    }
}

/// True for a JSON number that is a non-negative integer.
pub(crate) fn is_index(v: &Value) -> bool {
    match v {
        Value::Number(n) => {
            n.as_u64().is_some()
                || n.as_f64()
                    .is_some_and(|f| f >= 0.0 && f.fract() == 0.0 && f < 4.0e9)
        }
        _ => false,
    }
}
