//! The exception classes and the one mapping from [`EngineError`] to them.
//!
//! | engine error | Python class | `field_path` |
//! |---|---|---|
//! | a spec, metadata or parameters document is invalid | `InvalidSpecError` | the field, e.g. `sampledShapleyAttribution.pathCount` |
//! | the metadata does not fit the model | `InvalidSpecError` | e.g. `metadata.inputs.x.inputTensorName` |
//! | the parameters cannot be applied, the method does not fit the model | `InvalidSpecError` | e.g. `parameters.outputIndices[1]` |
//! | an instance does not fit the metadata or the model | `InvalidInstanceError` | the place in the instance, e.g. `vec[2]`, or the model input |
//! | the model cannot be read, loaded, differentiated or run | `ModelError` | `None` |
//!
//! Every instance has the attributes `field_path` (a `str`, or `None` when the engine names
//! no field) and `instance_index` (the position of the failing instance in the list given
//! to `explain`/`predict`, else `None`).

use prism_engine::{EngineError, SpecError};
use pyo3::exceptions::PyException;
use pyo3::prelude::*;

pyo3::create_exception!(
    prism_xai,
    PrismError,
    PyException,
    "Base class of every error Prism raises; `field_path` names the JSON field at fault."
);
pyo3::create_exception!(
    prism_xai,
    InvalidSpecError,
    PrismError,
    "An explanation spec, metadata or parameters document is invalid or does not fit the model."
);
pyo3::create_exception!(
    prism_xai,
    InvalidInstanceError,
    PrismError,
    "An instance does not fit the model's metadata or inputs."
);
pyo3::create_exception!(
    prism_xai,
    ModelError,
    PrismError,
    "The model cannot be read, loaded, differentiated or run."
);

/// An engine failure on its way to Python, with the position of the instance it concerns.
#[derive(Debug)]
pub(crate) struct Failure {
    error: EngineError,
    instance_index: Option<usize>,
}

impl Failure {
    /// The failure of the instance at `index` of a list.
    pub(crate) fn at(error: EngineError, index: usize) -> Self {
        Self {
            error,
            instance_index: Some(index),
        }
    }
}

impl From<EngineError> for Failure {
    fn from(error: EngineError) -> Self {
        Self {
            error,
            instance_index: None,
        }
    }
}

/// The class and field path an engine error is raised as.
fn classify(error: &EngineError) -> (Class, Option<String>) {
    use prism_engine::AttributionError as A;
    use prism_engine::ModelError as M;
    let path = |p: &str| (!p.is_empty()).then(|| p.to_string());
    match error {
        EngineError::Spec { source, .. } => (Class::Spec, path(source.path())),
        EngineError::Attribution(a) => match a {
            A::Metadata { path: p, .. } | A::Parameters { path: p, .. } => (Class::Spec, path(p)),
            A::Spec(e) => (Class::Spec, path(e.path())),
            A::Unsupported(_) => (Class::Spec, None),
            A::Instance { path: p, .. } => (Class::Instance, path(p)),
            A::Model(M::BadInput { input, .. }) => (Class::Instance, path(input)),
            _ => (Class::Model, None),
        },
        EngineError::Model(M::BadInput { input, .. }) => (Class::Instance, path(input)),
        EngineError::Model(_) | EngineError::Io { .. } => (Class::Model, None),
        _ => (Class::Base, None),
    }
}

/// Which exception class to raise.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Class {
    Base,
    Spec,
    Instance,
    Model,
}

/// Builds an exception of `class` with its `field_path` and `instance_index` attributes set.
pub(crate) fn raise(
    class: Class,
    message: String,
    field_path: Option<String>,
    instance_index: Option<usize>,
) -> PyErr {
    let err = match class {
        Class::Base => PyErr::new::<PrismError, _>(message),
        Class::Spec => PyErr::new::<InvalidSpecError, _>(message),
        Class::Instance => PyErr::new::<InvalidInstanceError, _>(message),
        Class::Model => PyErr::new::<ModelError, _>(message),
    };
    Python::attach(|py| {
        let value = err.value(py);
        // Setting attributes on a fresh exception object cannot fail short of memory
        // exhaustion; the exception is still worth raising without them.
        let _ = value.setattr("field_path", field_path);
        let _ = value.setattr("instance_index", instance_index);
    });
    err
}

impl From<Failure> for PyErr {
    fn from(f: Failure) -> Self {
        let (class, field_path) = classify(&f.error);
        let message = match f.instance_index {
            Some(i) => format!("instances[{i}]: {}", f.error),
            None => f.error.to_string(),
        };
        raise(class, message, field_path, f.instance_index)
    }
}

/// A spec document that failed to parse, named as `document` in the message.
pub(crate) fn spec_error(document: &str, e: SpecError) -> PyErr {
    let field_path = (!e.path().is_empty()).then(|| e.path().to_string());
    raise(Class::Spec, format!("{document}: {e}"), field_path, None)
}
