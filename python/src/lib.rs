//! `prism_xai._native`: Prism's engine for Python.
//!
//! This module is the thin native layer under the pure-Python package `prism_xai`: it loads
//! a model directory into an [`prism_engine::Explainer`], explains and predicts lists of
//! instances (plain Python values or numpy arrays) with the GIL released, and raises one of
//! four exception classes ([`errors`]) carrying the JSON field path the engine reports.
//! Everything user-facing (configs, `Explanation` objects, plots, the metadata builder)
//! lives in the Python modules beside it; this layer holds no explanation logic.
//!
//! Documents cross the boundary as Python dicts of plain values (converted to and from
//! `serde_json::Value` by [`convert`]), the same JSON the CLI and the server read and write.
#![deny(missing_docs)]

use pyo3::prelude::*;

mod convert;
mod errors;
mod explainer;

pub use errors::{InvalidInstanceError, InvalidSpecError, ModelError, PrismError};
pub use explainer::PyExplainer;

/// The native module.
#[pymodule]
fn _native(m: &Bound<'_, PyModule>) -> PyResult<()> {
    let py = m.py();
    m.add("PrismError", py.get_type::<PrismError>())?;
    m.add("InvalidSpecError", py.get_type::<InvalidSpecError>())?;
    m.add(
        "InvalidInstanceError",
        py.get_type::<InvalidInstanceError>(),
    )?;
    m.add("ModelError", py.get_type::<ModelError>())?;
    m.add_class::<PyExplainer>()?;
    m.add_function(wrap_pyfunction!(explainer::infer_metadata, m)?)?;
    m.add_function(wrap_pyfunction!(explainer::validate_spec, m)?)?;
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    Ok(())
}
