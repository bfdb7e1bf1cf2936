//! The model directory and the [`Explainer`].

use std::path::{Path, PathBuf};
use std::sync::Arc;

use prism_attribution::ExplainPlan;
use prism_model::{Backend, Model, OnnxModel, Signature};
use prism_spec::{
    Explanation, ExplanationMetadata, ExplanationParameters, ExplanationSpec,
    ExplanationSpecOverride,
};
use rayon::prelude::*;
use serde_json::Value;

use crate::error::EngineError;

/// The ONNX model file of a model directory.
pub const MODEL_FILE: &str = "model.onnx";
/// The explanation metadata file of a model directory.
pub const METADATA_FILE: &str = "explanation_metadata.json";
/// The optional parameters (or whole spec) file of a model directory.
pub const SPEC_FILE: &str = "explanation_spec.json";

/// The contents of a model directory, for callers that hold them in memory.
#[derive(Debug, Clone, Default)]
pub struct ModelFiles {
    /// `model.onnx` bytes.
    pub model: Vec<u8>,
    /// `explanation_metadata.json` text, if any.
    pub metadata: Option<String>,
    /// `explanation_spec.json` text, if any.
    pub spec: Option<String>,
}

/// How to load a model directory: [`Explainer::load_with_options`].
#[derive(Debug, Clone, Default)]
pub struct LoadOptions {
    /// The runtime for the model's general graphs (tract by default; ONNX Runtime needs the
    /// cargo feature `ort`). Tree ensembles always run on Prism's own evaluator.
    pub backend: Backend,
    /// A spec replacing the directory's files' (an upload request's `explanationSpec`): its
    /// parameters are used, and its metadata when it has any, otherwise the directory's
    /// metadata file.
    pub spec: Option<ExplanationSpec>,
}

/// A loaded model with its checked explanation spec.
pub struct Explainer {
    /// The model file, for the variants a spec change may need.
    bytes: Arc<[u8]>,
    /// The runtime the models were prepared on, for the variants a spec change may need.
    backend: Backend,
    /// The whole model, for predictions.
    model: OnnxModel,
    /// The same model computing only the explained output (the whole model when that is its
    /// only output), and its gradients for gradient methods: attribution methods run it
    /// thousands of times per instance.
    explain_model: OnnxModel,
    spec: ExplanationSpec,
    plan: ExplainPlan,
}

impl std::fmt::Debug for Explainer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Explainer")
            .field("backend", &self.backend)
            .field("model", &self.model)
            .finish()
    }
}

/// The parameters used when a model directory has no `explanation_spec.json`.
fn default_parameters() -> ExplanationParameters {
    // A fixed, valid document: parsing it cannot fail.
    ExplanationParameters::from_json_str(r#"{"sampledShapleyAttribution": {"pathCount": 10}}"#)
        .expect("the built-in default parameters are valid")
}

impl Explainer {
    /// Loads a model directory (on tract).
    pub fn load(dir: impl AsRef<Path>) -> Result<Self, EngineError> {
        Self::load_with_options(dir, &LoadOptions::default())
    }

    /// Loads a model directory with a spec that replaces its files' (an upload request's
    /// `explanationSpec`): its parameters are used, and its metadata when it has any,
    /// otherwise the directory's metadata file.
    pub fn load_with_spec(
        dir: impl AsRef<Path>,
        spec: &ExplanationSpec,
    ) -> Result<Self, EngineError> {
        Self::load_with_options(
            dir,
            &LoadOptions {
                spec: Some(spec.clone()),
                ..LoadOptions::default()
            },
        )
    }

    /// Loads a model directory as `options` say: on which backend, under which spec.
    pub fn load_with_options(
        dir: impl AsRef<Path>,
        options: &LoadOptions,
    ) -> Result<Self, EngineError> {
        Self::from_files_with_options(&read_files(dir.as_ref())?, options)
    }

    /// Loads a model directory held in memory (on tract).
    pub fn from_files(files: &ModelFiles) -> Result<Self, EngineError> {
        Self::from_files_with_options(files, &LoadOptions::default())
    }

    /// Loads a model directory held in memory as `options` say.
    pub fn from_files_with_options(
        files: &ModelFiles,
        options: &LoadOptions,
    ) -> Result<Self, EngineError> {
        let from_files = spec_from_files(files)?;
        let spec = match &options.spec {
            Some(spec) => ExplanationSpec {
                parameters: spec.parameters.clone(),
                metadata: spec.metadata.clone().or(from_files.metadata),
            },
            None => from_files,
        };
        Self::build(&files.model, spec, options.backend)
    }

    fn build(
        model_bytes: &[u8],
        spec: ExplanationSpec,
        backend: Backend,
    ) -> Result<Self, EngineError> {
        let model = OnnxModel::from_bytes_with(model_bytes, None, backend)?;
        let plan = ExplainPlan::new(&spec, model.signature())?;
        let explain_model = explain_model_for(model_bytes, &model, &plan, backend)?;
        Ok(Self {
            bytes: model_bytes.into(),
            backend,
            model,
            explain_model,
            spec,
            plan,
        })
    }

    /// The same model with a request's spec override applied (the method cannot change).
    /// Cheap: the prepared model is shared.
    pub fn with_override(&self, o: &ExplanationSpecOverride) -> Result<Self, EngineError> {
        let spec = self
            .spec
            .apply_override(o)
            .map_err(|source| EngineError::Spec {
                file: "request".into(),
                source,
            })?;
        self.with_spec(spec)
    }

    /// The same model with other parameters (the metadata is kept).
    pub fn with_parameters(&self, parameters: ExplanationParameters) -> Result<Self, EngineError> {
        self.with_spec(ExplanationSpec {
            parameters,
            metadata: self.spec.metadata.clone(),
        })
    }

    /// The same prepared models under another spec with the same metadata outputs, so the
    /// output-limited model still computes the explained output.
    fn with_spec(&self, spec: ExplanationSpec) -> Result<Self, EngineError> {
        let plan = ExplainPlan::new(&spec, self.model.signature())?;
        // The explained output cannot change; whether gradients are needed can.
        let same_model = plan.gradient_spec() == self.plan.gradient_spec()
            && plan.encoded_values() == self.plan.encoded_values();
        let explain_model = if same_model {
            self.explain_model.clone()
        } else {
            explain_model_for(&self.bytes, &self.model, &plan, self.backend)?
        };
        Ok(Self {
            bytes: Arc::clone(&self.bytes),
            backend: self.backend,
            model: self.model.clone(),
            explain_model,
            spec,
            plan,
        })
    }

    /// The model's signature.
    pub fn signature(&self) -> &Signature {
        self.model.signature()
    }

    /// The backend the model runs on (tree ensembles run on Prism's evaluator whatever it is).
    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// The explanation spec in force.
    pub fn spec(&self) -> &ExplanationSpec {
        &self.spec
    }

    /// Explains one instance.
    pub fn explain(&self, instance: &Value) -> Result<Explanation, EngineError> {
        Ok(self.plan.explain(&self.explain_model, instance)?)
    }

    /// Explains many instances in parallel; results keep the input order.
    pub fn explain_batch(&self, instances: &[Value]) -> Vec<Result<Explanation, EngineError>> {
        instances.par_iter().map(|i| self.explain(i)).collect()
    }

    /// Runs the model on one instance; every output, by name.
    pub fn predict(&self, instance: &Value) -> Result<Value, EngineError> {
        Ok(self.plan.predict(&self.model, instance)?)
    }

    /// Runs the model on many instances in parallel.
    pub fn predict_batch(&self, instances: &[Value]) -> Vec<Result<Value, EngineError>> {
        instances.par_iter().map(|i| self.predict(i)).collect()
    }
}

/// The model `plan` runs: limited to the explained output, with gradients when the method
/// needs them.
fn explain_model_for(
    bytes: &[u8],
    model: &OnnxModel,
    plan: &ExplainPlan,
    backend: Backend,
) -> Result<OnnxModel, EngineError> {
    if let Some(spec) = plan.gradient_spec() {
        return Ok(prism_model::gradient::lean_gradient_model_with(
            bytes,
            &spec,
            &plan.encoded_values(),
            backend,
        )?);
    }
    if model.signature().outputs.len() == 1 {
        return Ok(model.clone());
    }
    Ok(OnnxModel::from_bytes_with(
        bytes,
        Some(&[plan.output().tensor_name.as_str()]),
        backend,
    )?)
}

/// `explanation_spec.json` holds either ExplanationParameters or a whole ExplanationSpec.
fn parse_spec_file(text: &str) -> Result<ExplanationSpec, prism_spec::SpecError> {
    let is_spec = serde_json::from_str::<Value>(text)
        .map(|v| v.get("parameters").is_some())
        .unwrap_or(false);
    if is_spec {
        ExplanationSpec::from_json_str(text)
    } else {
        Ok(ExplanationSpec {
            parameters: ExplanationParameters::from_json_str(text)?,
            metadata: None,
        })
    }
}

/// Reads the files of a model directory (`model.onnx` required, the others optional).
fn read_files(dir: &Path) -> Result<ModelFiles, EngineError> {
    let read = |name: &str| -> Result<Option<String>, EngineError> {
        let path: PathBuf = dir.join(name);
        match std::fs::read_to_string(&path) {
            Ok(s) => Ok(Some(s)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(source) => Err(EngineError::Io {
                path: path.display().to_string(),
                source,
            }),
        }
    };
    let model_path = dir.join(MODEL_FILE);
    let model = std::fs::read(&model_path).map_err(|source| EngineError::Io {
        path: model_path.display().to_string(),
        source,
    })?;
    Ok(ModelFiles {
        model,
        metadata: read(METADATA_FILE)?,
        spec: read(SPEC_FILE)?,
    })
}

/// The spec a model directory's files describe (default parameters when it has no spec file).
fn spec_from_files(files: &ModelFiles) -> Result<ExplanationSpec, EngineError> {
    let spec_error = |file: &str| {
        let file = file.to_string();
        move |source| EngineError::Spec { file, source }
    };
    let metadata = files
        .metadata
        .as_deref()
        .map(ExplanationMetadata::from_json_str)
        .transpose()
        .map_err(spec_error(METADATA_FILE))?;
    let mut spec = match files.spec.as_deref() {
        Some(text) => parse_spec_file(text).map_err(spec_error(SPEC_FILE))?,
        None => ExplanationSpec {
            parameters: default_parameters(),
            metadata: None,
        },
    };
    if metadata.is_some() {
        spec.metadata = metadata;
    }
    Ok(spec)
}
