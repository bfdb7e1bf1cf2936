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
    walk(obj, At::Root(path), class)
}

/// Where a value is (`instances[2].vec[1]`): kept as links to the enclosing places and
/// written out only for an error message. Writing it for every value cost a third of the
/// conversion of plain instances.
#[derive(Clone, Copy)]
enum At<'a> {
    Root(&'a str),
    Key(&'a At<'a>, &'a str),
    Index(&'a At<'a>, usize),
}

impl std::fmt::Display for At<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            At::Root(path) => f.write_str(path),
            At::Key(At::Root(""), key) => f.write_str(key),
            At::Key(parent, key) => write!(f, "{parent}.{key}"),
            At::Index(parent, i) => write!(f, "{parent}[{i}]"),
        }
    }
}

fn walk(obj: &Bound<'_, PyAny>, at: At<'_>, class: Class) -> PyResult<Value> {
    if obj.is_none() {
        return Ok(Value::Null);
    }
    // The commonest value first (the test is one pointer comparison).
    if let Ok(f) = obj.cast_exact::<PyFloat>() {
        return number(f.value(), at, class);
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
    let at = at.to_string();
    Err(raise(
        class,
        format!("{at}: a value of type {type_name} cannot be sent to the model"),
        Some(at),
        None,
    ))
}

fn number(f: f64, at: At<'_>, class: Class) -> PyResult<Value> {
    Number::from_f64(f).map(Value::Number).ok_or_else(|| {
        let at = at.to_string();
        raise(
            class,
            format!("{at}: {f} is not a finite number"),
            Some(at),
            None,
        )
    })
}

fn sequence<'py>(
    items: impl Iterator<Item = Bound<'py, PyAny>>,
    at: At<'_>,
    class: Class,
) -> PyResult<Value> {
    items
        .enumerate()
        .map(|(i, item)| walk(&item, At::Index(&at, i), class))
        .collect::<PyResult<_>>()
        .map(Value::Array)
}

fn mapping<'py>(
    items: impl Iterator<Item = (Bound<'py, PyAny>, Bound<'py, PyAny>)>,
    at: At<'_>,
    class: Class,
) -> PyResult<Value> {
    let mut out = Map::with_capacity(items.size_hint().0);
    for (k, v) in items {
        let key = match k.cast::<PyString>() {
            Ok(s) => s.to_cow()?.into_owned(),
            Err(_) => {
                return Err(PyTypeError::new_err(format!(
                    "{at}: mapping keys must be strings, got {k}"
                )))
            }
        };
        let value = walk(&v, At::Key(&at, &key), class)?;
        out.insert(key, value);
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
