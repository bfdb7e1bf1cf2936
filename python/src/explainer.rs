//! `Explainer`: a loaded model directory, and the module's functions.

use std::path::PathBuf;
use std::sync::Arc;

use prism_engine::{
    EngineError, Explainer, ExplanationParameters, ExplanationSpec, ExplanationSpecOverride,
    TensorInfo,
};
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyList};
use serde_json::{json, Value};

use crate::convert::{to_json, to_py};
use crate::errors::{spec_error, Class, Failure};

/// A model directory loaded and checked once, ready to explain and predict.
///
/// Immutable and thread-safe: `with_parameters` and `with_override` return new explainers
/// sharing the prepared model, and `explain`/`predict` release the GIL while they compute,
/// so several Python threads can use one explainer at once.
#[pyclass(name = "Explainer", module = "prism_xai._native", frozen)]
pub struct PyExplainer {
    inner: Arc<Explainer>,
}

impl PyExplainer {
    fn wrap(inner: Explainer) -> Self {
        Self {
            inner: Arc::new(inner),
        }
    }
}

#[pymethods]
impl PyExplainer {
    /// Loads a model directory (`model.onnx`, `explanation_metadata.json`, optional
    /// `explanation_spec.json`). With `spec` (a whole ExplanationSpec dict), its parameters
    /// replace the directory's, and its metadata too when it has any.
    #[staticmethod]
    #[pyo3(signature = (model_dir, spec=None))]
    fn load(py: Python<'_>, model_dir: PathBuf, spec: Option<&Bound<'_, PyAny>>) -> PyResult<Self> {
        let spec = spec
            .map(|s| {
                let value = to_json(s, "", Class::Spec)?;
                ExplanationSpec::from_value(value).map_err(|e| spec_error("spec", e))
            })
            .transpose()?;
        let explainer = py.detach(move || match spec {
            Some(spec) => Explainer::load_with_spec(&model_dir, &spec),
            None => Explainer::load(&model_dir),
        });
        Ok(Self::wrap(explainer.map_err(Failure::from)?))
    }

    /// The same model with other ExplanationParameters (a dict); the metadata is kept.
    fn with_parameters(&self, py: Python<'_>, parameters: &Bound<'_, PyAny>) -> PyResult<Self> {
        let value = to_json(parameters, "", Class::Spec)?;
        let parameters =
            ExplanationParameters::from_value(value).map_err(|e| spec_error("parameters", e))?;
        let inner = Arc::clone(&self.inner);
        let explainer = py.detach(move || inner.with_parameters(parameters));
        Ok(Self::wrap(explainer.map_err(Failure::from)?))
    }

    /// The same model with an ExplanationSpecOverride (a dict) merged into its spec, as a
    /// Vertex explain request's `explanationSpecOverride` is.
    fn with_override(&self, py: Python<'_>, override_: &Bound<'_, PyAny>) -> PyResult<Self> {
        let value = to_json(override_, "", Class::Spec)?;
        let o = ExplanationSpecOverride::from_value(value)
            .map_err(|e| spec_error("explanationSpecOverride", e))?;
        let inner = Arc::clone(&self.inner);
        let explainer = py.detach(move || inner.with_override(&o));
        Ok(Self::wrap(explainer.map_err(Failure::from)?))
    }

    /// Explains each instance (in parallel, without the GIL); one Vertex Explanation dict
    /// per instance, in order. Raises for the first instance that fails.
    fn explain<'py>(
        &self,
        py: Python<'py>,
        instances: &Bound<'py, PyAny>,
    ) -> PyResult<Bound<'py, PyList>> {
        let values = instance_values(instances)?;
        let inner = Arc::clone(&self.inner);
        let results = py.detach(move || inner.explain_batch(&values));
        let out = PyList::empty(py);
        for (i, r) in results.into_iter().enumerate() {
            let explanation = r.map_err(|e| Failure::at(e, i))?;
            out.append(to_py(py, &explanation.to_json_value())?)?;
        }
        Ok(out)
    }

    /// Runs the model on each instance (in parallel, without the GIL); one dict of every
    /// model output by name per instance.
    fn predict<'py>(
        &self,
        py: Python<'py>,
        instances: &Bound<'py, PyAny>,
    ) -> PyResult<Bound<'py, PyList>> {
        let values = instance_values(instances)?;
        let inner = Arc::clone(&self.inner);
        let results = py.detach(move || inner.predict_batch(&values));
        let out = PyList::empty(py);
        for (i, r) in results.into_iter().enumerate() {
            let prediction = r.map_err(|e| Failure::at(e, i))?;
            out.append(to_py(py, &prediction)?)?;
        }
        Ok(out)
    }

    /// The ExplanationSpec in force (parameters and metadata), as camelCase Vertex JSON.
    fn spec<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        to_py(py, &self.inner.spec().to_json_value())
    }

    /// The model's inputs and outputs: `{"inputs": [...], "outputs": [...]}`, each entry
    /// `{"name", "dtype", "shape"}` with symbolic dimensions as strings.
    fn signature<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let sig = self.inner.signature();
        let tensors =
            |list: &[TensorInfo]| -> Vec<Value> { list.iter().map(tensor_info).collect() };
        let value = json!({"inputs": tensors(&sig.inputs), "outputs": tensors(&sig.outputs)});
        Ok(to_py(py, &value)?.cast_into::<PyDict>()?)
    }

    fn __repr__(&self) -> String {
        let sig = self.inner.signature();
        let names = |list: &[TensorInfo]| {
            list.iter()
                .map(|t| format!("{}{}", t.name, t.shape_string()))
                .collect::<Vec<_>>()
                .join(", ")
        };
        format!(
            "Explainer(inputs=[{}], outputs=[{}])",
            names(&sig.inputs),
            names(&sig.outputs)
        )
    }
}

fn tensor_info(t: &TensorInfo) -> Value {
    let shape = t.shape.as_ref().map(|dims| {
        dims.iter()
            .map(|d| match d {
                prism_engine::Dim::Fixed(n) => json!(n),
                prism_engine::Dim::Symbolic(s) => json!(s),
            })
            .collect::<Vec<_>>()
    });
    json!({"name": t.name, "dtype": t.elem_type.name(), "shape": shape})
}

/// The instances of a list (or any iterable) as JSON values.
fn instance_values(instances: &Bound<'_, PyAny>) -> PyResult<Vec<Value>> {
    instances
        .try_iter()?
        .enumerate()
        .map(|(i, item)| to_json(&item?, &format!("instances[{i}]"), Class::Instance))
        .collect()
}

/// A starting explanation metadata dict read off an ONNX graph: one input per model input
/// (tensor name, modality guess) and the first floating-point output.
#[pyfunction]
pub(crate) fn infer_metadata<'py>(
    py: Python<'py>,
    model_path: PathBuf,
) -> PyResult<Bound<'py, PyAny>> {
    let value = py
        .detach(move || prism_engine::infer_metadata(&model_path))
        .map_err(|e: EngineError| Failure::from(e))?;
    to_py(py, &value)
}

/// Parses and validates an ExplanationSpec dict (`{"parameters": ..., "metadata": ...}`,
/// Vertex or legacy metadata), raising `InvalidSpecError` with the field path; returns the
/// spec as camelCase Vertex JSON.
#[pyfunction]
pub(crate) fn validate_spec<'py>(
    py: Python<'py>,
    spec: &Bound<'py, PyAny>,
) -> PyResult<Bound<'py, PyAny>> {
    let value = to_json(spec, "", Class::Spec)?;
    let spec = ExplanationSpec::from_value(value).map_err(|e| spec_error("spec", e))?;
    to_py(py, &spec.to_json_value())
}
