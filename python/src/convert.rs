//! Python values ⇄ `serde_json::Value`.
//!
//! Into JSON: `None`, `bool`, `int`, `float`, `str`, mappings with `str` keys, lists and
//! tuples, and anything with a `tolist()` method — numpy arrays and numpy scalars — through
//! what `tolist()` returns. Non-finite floats are refused (JSON has no NaN), with the place
//! of the value in the message.
//!
//! Out of JSON: dicts (in document order), lists, `int` for integral JSON numbers, `float`,
//! `str`, `bool`, `None`.

use pyo3::exceptions::PyTypeError;
use pyo3::prelude::*;
use pyo3::types::{PyBool, PyDict, PyFloat, PyInt, PyList, PyMapping, PyString, PyTuple};
use serde_json::{Map, Number, Value};

use crate::errors::{raise, Class};

/// Converts a Python value to JSON; `path` names it in errors (e.g. `instances[2]`), and
/// `class` is the exception raised for a value JSON cannot hold.
pub(crate) fn to_json(obj: &Bound<'_, PyAny>, path: &str, class: Class) -> PyResult<Value> {
    // Plain values convert without tracking where they are; anything else (numpy values,
    // other mappings, a value JSON cannot hold) takes the walk that names the place.
    if let Some(value) = plain(obj) {
        return Ok(value);
    }
    let mut at = path.to_string();
    walk(obj, &mut at, class)
}

/// `obj` as JSON when it holds only `None`, `bool`, `int`, finite `float`, `str`, lists,
/// tuples and `str`-keyed dicts; `None` otherwise.
fn plain(obj: &Bound<'_, PyAny>) -> Option<Value> {
    if obj.is_none() {
        return Some(Value::Null);
    }
    if let Ok(f) = obj.cast_exact::<PyFloat>() {
        return Number::from_f64(f.value()).map(Value::Number);
    }
    if let Ok(b) = obj.cast::<PyBool>() {
        return Some(Value::Bool(b.is_true()));
    }
    if let Ok(i) = obj.cast_exact::<PyInt>() {
        return i.extract::<i64>().ok().map(Value::from);
    }
    if let Ok(s) = obj.cast_exact::<PyString>() {
        return s.to_cow().ok().map(|s| Value::String(s.into_owned()));
    }
    if let Ok(list) = obj.cast_exact::<PyList>() {
        return list
            .iter()
            .map(|v| plain(&v))
            .collect::<Option<_>>()
            .map(Value::Array);
    }
    if let Ok(tuple) = obj.cast_exact::<PyTuple>() {
        return tuple
            .iter()
            .map(|v| plain(&v))
            .collect::<Option<_>>()
            .map(Value::Array);
    }
    if let Ok(dict) = obj.cast_exact::<PyDict>() {
        let mut out = Map::with_capacity(dict.len());
        for (k, v) in dict.iter() {
            let key = k.cast_exact::<PyString>().ok()?.to_cow().ok()?.into_owned();
            out.insert(key, plain(&v)?);
        }
        return Some(Value::Object(out));
    }
    None
}

fn walk(obj: &Bound<'_, PyAny>, at: &mut String, class: Class) -> PyResult<Value> {
    if obj.is_none() {
        return Ok(Value::Null);
    }
    // bool before int: Python's bool is an int.
    if let Ok(b) = obj.cast::<PyBool>() {
        return Ok(Value::Bool(b.is_true()));
    }
    if let Ok(i) = obj.cast::<PyInt>() {
        if let Ok(n) = i.extract::<i64>() {
            return Ok(Value::from(n));
        }
        if let Ok(n) = i.extract::<u64>() {
            return Ok(Value::from(n));
        }
        let f: f64 = i.extract()?;
        return number(f, at, class);
    }
    if let Ok(f) = obj.cast::<PyFloat>() {
        return number(f.value(), at, class);
    }
    if let Ok(s) = obj.cast::<PyString>() {
        return Ok(Value::String(s.to_cow()?.into_owned()));
    }
    if let Ok(list) = obj.cast::<PyList>() {
        return sequence(list.iter(), at, class);
    }
    if let Ok(tuple) = obj.cast::<PyTuple>() {
        return sequence(tuple.iter(), at, class);
    }
    if let Ok(dict) = obj.cast::<PyDict>() {
        return mapping(dict.iter(), at, class);
    }
    // numpy arrays and scalars (and anything array-like that can say what it holds).
    if obj.hasattr("tolist")? {
        let plain = obj.call_method0("tolist")?;
        if !plain.hasattr("tolist")? {
            return walk(&plain, at, class);
        }
    }
    if let Ok(m) = obj.cast::<PyMapping>() {
        let items = m.items()?;
        let pairs: Vec<(Bound<'_, PyAny>, Bound<'_, PyAny>)> = items
            .iter()
            .map(|item| item.extract())
            .collect::<PyResult<_>>()?;
        return mapping(pairs.into_iter(), at, class);
    }
    let type_name = obj.get_type().name()?.to_string();
    Err(raise(
        class,
        format!("{at}: a value of type {type_name} cannot be sent to the model"),
        Some(at.clone()),
        None,
    ))
}

fn number(f: f64, at: &str, class: Class) -> PyResult<Value> {
    Number::from_f64(f).map(Value::Number).ok_or_else(|| {
        raise(
            class,
            format!("{at}: {f} is not a finite number"),
            Some(at.to_string()),
            None,
        )
    })
}

fn sequence<'py>(
    items: impl Iterator<Item = Bound<'py, PyAny>>,
    at: &mut String,
    class: Class,
) -> PyResult<Value> {
    let mut out = Vec::new();
    let len = at.len();
    for (i, item) in items.enumerate() {
        at.push_str(&format!("[{i}]"));
        let v = walk(&item, at, class);
        at.truncate(len);
        out.push(v?);
    }
    Ok(Value::Array(out))
}

fn mapping<'py>(
    items: impl Iterator<Item = (Bound<'py, PyAny>, Bound<'py, PyAny>)>,
    at: &mut String,
    class: Class,
) -> PyResult<Value> {
    let mut out = Map::new();
    let len = at.len();
    for (k, v) in items {
        let key: String = k.extract().map_err(|_| {
            PyTypeError::new_err(format!("{at}: mapping keys must be strings, got {k}"))
        })?;
        if at.is_empty() {
            at.push_str(&key);
        } else {
            at.push('.');
            at.push_str(&key);
        }
        let value = walk(&v, at, class);
        at.truncate(len);
        out.insert(key, value?);
    }
    Ok(Value::Object(out))
}

/// Converts JSON to plain Python values.
pub(crate) fn to_py<'py>(py: Python<'py>, value: &Value) -> PyResult<Bound<'py, PyAny>> {
    Ok(match value {
        Value::Null => py.None().into_bound(py),
        Value::Bool(b) => PyBool::new(py, *b).to_owned().into_any(),
        Value::Number(n) => {
            if let Some(i) = n.as_i64() {
                i.into_pyobject(py)?.into_any()
            } else if let Some(u) = n.as_u64() {
                u.into_pyobject(py)?.into_any()
            } else {
                PyFloat::new(py, n.as_f64().unwrap_or(f64::NAN)).into_any()
            }
        }
        Value::String(s) => PyString::new(py, s).into_any(),
        Value::Array(items) => {
            let list = PyList::empty(py);
            for item in items {
                list.append(to_py(py, item)?)?;
            }
            list.into_any()
        }
        Value::Object(map) => {
            let dict = PyDict::new(py);
            for (k, v) in map {
                dict.set_item(k, to_py(py, v)?)?;
            }
            dict.into_any()
        }
    })
}
