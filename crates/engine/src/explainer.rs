//! The model directory and the [`Explainer`].

use std::path::{Path, PathBuf};
use std::sync::Arc;

use prism_attribution::{Binder, ExplainPlan};
use prism_model::{Backend, Model, OnnxModel, Signature};
use prism_spec::{
    ExamplesOverride, Explanation, ExplanationMetadata, ExplanationParameters, ExplanationSpec,
    ExplanationSpecOverride, InputMetadata, Method,
};
use rayon::prelude::*;
use serde_json::Value;

use crate::error::EngineError;
use crate::examples::ExampleSearch;

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
    mode: Mode,
    /// The model directory, where the example index lives (none for in-memory models).
    dir: Option<PathBuf>,
    /// Integer model inputs (ids) and the one float tensor their embedding `Gather`
    /// selects, found once at load: where gradient methods attribute ids whose metadata
    /// names no `encodedTensorName`.
    embeddings: Arc<Vec<(String, String)>>,
}

/// What `explain` does.
enum Mode {
    /// Feature attributions.
    Attribution(Box<ExplainPlan>),
    /// Example-based explanations, with the request's `examplesOverride` if any.
    Examples(Arc<ExampleSearch>, Option<ExamplesOverride>),
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
    /// Loads a model directory (and its example index, for example-based models), on tract.
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
        let files = read_files(dir.as_ref())?;
        Self::from_parts(&files, options, Some(dir.as_ref()))
    }

    /// Loads a model directory held in memory, on tract (example-based models then start
    /// without an index).
    pub fn from_files(files: &ModelFiles) -> Result<Self, EngineError> {
        Self::from_files_with_options(files, &LoadOptions::default())
    }

    /// Loads a model directory held in memory as `options` say.
    pub fn from_files_with_options(
        files: &ModelFiles,
        options: &LoadOptions,
    ) -> Result<Self, EngineError> {
        Self::from_parts(files, options, None)
    }

    fn from_parts(
        files: &ModelFiles,
        options: &LoadOptions,
        dir: Option<&Path>,
    ) -> Result<Self, EngineError> {
        let from_files = spec_from_files(files)?;
        let spec = match &options.spec {
            Some(spec) => ExplanationSpec {
                parameters: spec.parameters.clone(),
                metadata: spec.metadata.clone().or(from_files.metadata),
            },
            None => from_files,
        };
        Self::build(&files.model, spec, dir, options.backend)
    }

    fn build(
        model_bytes: &[u8],
        spec: ExplanationSpec,
        dir: Option<&Path>,
        backend: Backend,
    ) -> Result<Self, EngineError> {
        // The whole graph serves predictions; explanations run their own output-limited
        // graph, so the whole one is prepared on first use when that one differs.
        let model = OnnxModel::from_bytes_deferred(model_bytes, None, backend)?;
        let embeddings = Arc::new(embedding_lookups(model_bytes, model.signature())?);
        let (mode, explain_model) = match &spec.parameters.method {
            Method::Examples(settings) => {
                let search = ExampleSearch::new(model_bytes, &model, &spec, settings, dir)?;
                model.prepared()?;
                (Mode::Examples(Arc::new(search), None), model.clone())
            }
            _ => {
                let plan = plan_for(&spec, model.signature(), &embeddings)?;
                let explain_model = explain_model_for(model_bytes, &model, &plan, backend)?;
                (Mode::Attribution(Box::new(plan)), explain_model)
            }
        };
        Ok(Self {
            bytes: model_bytes.into(),
            backend,
            model,
            explain_model,
            spec,
            mode,
            dir: dir.map(Path::to_path_buf),
            embeddings,
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
        let mut out = self.with_spec(spec)?;
        if let Mode::Examples(search, _) = &out.mode {
            out.mode = Mode::Examples(Arc::clone(search), o.examples_override.clone());
        }
        Ok(out)
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
        let (mode, explain_model) = match (&self.mode, &spec.parameters.method) {
            // The index and embedding are shared; the override applies per request.
            (Mode::Examples(search, o), Method::Examples(_)) => (
                Mode::Examples(Arc::clone(search), o.clone()),
                self.explain_model.clone(),
            ),
            (Mode::Attribution(current), method) if method.is_attribution() => {
                let plan = plan_for(&spec, self.model.signature(), &self.embeddings)?;
                // The explained output cannot change; whether gradients are needed can.
                let same_model = plan.gradient_spec() == current.gradient_spec()
                    && plan.encoded_values() == current.encoded_values();
                let explain_model = if same_model {
                    self.explain_model.clone()
                } else {
                    explain_model_for(&self.bytes, &self.model, &plan, self.backend)?
                };
                (Mode::Attribution(Box::new(plan)), explain_model)
            }
            _ => return Self::build(&self.bytes, spec, self.dir.as_deref(), self.backend),
        };
        Ok(Self {
            bytes: Arc::clone(&self.bytes),
            backend: self.backend,
            model: self.model.clone(),
            explain_model,
            spec,
            mode,
            dir: self.dir.clone(),
            embeddings: Arc::clone(&self.embeddings),
        })
    }

    /// The example-based side of an examples model (`None` for attribution methods).
    pub fn examples(&self) -> Option<&ExampleSearch> {
        match &self.mode {
            Mode::Examples(search, _) => Some(search),
            Mode::Attribution(_) => None,
        }
    }

    /// The model directory this explainer was loaded from, if any.
    pub fn dir(&self) -> Option<&Path> {
        self.dir.as_deref()
    }

    /// How instances bind to the model's inputs.
    pub fn binder(&self) -> &Binder {
        match &self.mode {
            Mode::Attribution(plan) => plan.binder(),
            Mode::Examples(search, _) => search.binder(),
        }
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

    /// Explains one instance: attributions, or for example-based models the nearest
    /// examples.
    pub fn explain(&self, instance: &Value) -> Result<Explanation, EngineError> {
        match &self.mode {
            Mode::Attribution(plan) => Ok(plan.explain(&self.explain_model, instance)?),
            Mode::Examples(search, o) => Ok(Explanation {
                attributions: Vec::new(),
                neighbors: search.neighbors(instance, o.as_ref())?,
            }),
        }
    }

    /// Explains one instance and predicts it (every output, by name, as
    /// [`Explainer::predict`] answers). When the explanation runs the whole model (Sampled
    /// Shapley on a model with one output), its first forward pass gives the prediction;
    /// a model cut to the explained output or rewritten for gradients has other inputs or
    /// outputs, and the prediction takes a pass of its own.
    pub fn explain_and_predict(
        &self,
        instance: &Value,
    ) -> Result<(Explanation, Value), EngineError> {
        match &self.mode {
            Mode::Attribution(plan) if self.explain_model.signature() == self.model.signature() => {
                Ok(plan.explain_and_predict(&self.explain_model, instance)?)
            }
            _ => Ok((self.explain(instance)?, self.predict(instance)?)),
        }
    }

    /// Explains many instances in parallel; results keep the input order.
    pub fn explain_batch(&self, instances: &[Value]) -> Vec<Result<Explanation, EngineError>> {
        instances.par_iter().map(|i| self.explain(i)).collect()
    }

    /// Prepares everything the explainer may run, so that a graph the backend cannot run
    /// fails now rather than on the first prediction (see
    /// [`OnnxModel::from_bytes_deferred`]).
    pub fn prepared(&self) -> Result<(), EngineError> {
        Ok(self.model.prepared()?)
    }

    /// Runs the model on one instance; every output, by name.
    pub fn predict(&self, instance: &Value) -> Result<Value, EngineError> {
        Ok(prism_attribution::predict(
            self.binder(),
            &self.model,
            instance,
        )?)
    }

    /// Runs the whole model on tensors (in the order of [`Explainer::signature`]'s inputs,
    /// batch first); every output, in signature order.
    pub fn forward(
        &self,
        inputs: &[prism_model::Tensor],
    ) -> Result<Vec<prism_model::Tensor>, EngineError> {
        Ok(self.model.forward(inputs)?)
    }

    /// The instances whose binding gives the rows of `inputs` (tensors in signature order,
    /// batch first): one JSON instance per row, for callers that speak tensors.
    pub fn instances_from_tensors(
        &self,
        inputs: &[prism_model::Tensor],
    ) -> Result<Vec<Value>, EngineError> {
        let signature = self.model.signature();
        if inputs.len() != signature.inputs.len() {
            return Err(EngineError::Model(prism_model::ModelError::BadInput {
                input: String::new(),
                message: format!(
                    "the model takes {} inputs, {} were given",
                    signature.inputs.len(),
                    inputs.len()
                ),
            }));
        }
        let rows = inputs
            .first()
            .and_then(|t| t.shape.first())
            .copied()
            .unwrap_or(0);
        let mut per_tensor: Vec<(Vec<f64>, Vec<usize>)> = Vec::with_capacity(inputs.len());
        for (info, t) in signature.inputs.iter().zip(inputs) {
            let bad = |message: String| {
                EngineError::Model(prism_model::ModelError::BadInput {
                    input: info.name.clone(),
                    message,
                })
            };
            if t.shape.first() != Some(&rows) {
                return Err(bad(format!(
                    "every input needs the same batch size ({rows}), got shape {:?}",
                    t.shape
                )));
            }
            let values: Vec<f64> = match &t.data {
                prism_model::TensorData::F32(v) => v.iter().map(|&x| f64::from(x)).collect(),
                prism_model::TensorData::I64(v) => v.iter().map(|&x| x as f64).collect(),
                prism_model::TensorData::Str(_) => {
                    return Err(bad("string tensors cannot be bound to features".into()))
                }
            };
            per_tensor.push((values, t.shape[1..].to_vec()));
        }
        let shapes: Vec<Vec<usize>> = per_tensor.iter().map(|(_, s)| s.clone()).collect();
        Ok((0..rows)
            .map(|r| {
                let row: Vec<Vec<f64>> = per_tensor
                    .iter()
                    .map(|(v, shape)| {
                        let len: usize = shape.iter().product();
                        v[r * len..(r + 1) * len].to_vec()
                    })
                    .collect();
                self.binder().instance_from_values(&row, &shapes)
            })
            .collect())
    }

    /// Runs the model on many instances in parallel.
    pub fn predict_batch(&self, instances: &[Value]) -> Vec<Result<Value, EngineError>> {
        instances.par_iter().map(|i| self.predict(i)).collect()
    }
}

/// The model `plan` runs: limited to the explained output, with gradients when the method
/// needs them.
/// The integer (id) inputs of the model that feed exactly one embedding `Gather`, with that
/// Gather's output. Reads the graph only when the model has integer inputs.
fn embedding_lookups(
    model_bytes: &[u8],
    signature: &Signature,
) -> Result<Vec<(String, String)>, EngineError> {
    let mut found = Vec::new();
    for input in signature.inputs.iter().filter(|i| !i.elem_type.is_float()) {
        if let [embedding] =
            &prism_model::gradient::embedding_outputs_in(model_bytes, &input.name)?[..]
        {
            found.push((input.name.clone(), embedding.clone()));
        }
    }
    Ok(found)
}

/// The attribution plan of `spec`. Gradient methods cannot differentiate token or category
/// ids: a feature on an integer model input that names no `encodedTensorName` is attributed
/// at the float tensor its ids select (`embeddings`, from [`embedding_lookups`]); with no
/// such tensor, or several, the plan's error asks for the name. The spec the user sees is
/// left as written.
fn plan_for(
    spec: &ExplanationSpec,
    signature: &Signature,
    embeddings: &[(String, String)],
) -> Result<ExplainPlan, EngineError> {
    if !spec.parameters.method.needs_gradients() || embeddings.is_empty() {
        return Ok(ExplainPlan::new(spec, signature)?);
    }
    let mut metadata = spec.metadata.clone().unwrap_or_default();
    if metadata.inputs.is_empty() {
        // Without input metadata every model input is one feature named after it.
        for input in &signature.inputs {
            metadata
                .inputs
                .insert(input.name.clone(), InputMetadata::default());
        }
    }
    for (name, input) in metadata.inputs.iter_mut() {
        let tensor = input.input_tensor_name.as_deref().unwrap_or(name);
        if input.encoded_tensor_name.is_none() {
            if let Some((_, embedding)) = embeddings.iter().find(|(t, _)| t == tensor) {
                input.encoded_tensor_name = Some(embedding.clone());
            }
        }
    }
    let spec = ExplanationSpec {
        parameters: spec.parameters.clone(),
        metadata: Some(metadata),
    };
    Ok(ExplainPlan::new(&spec, signature)?)
}

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
        model.prepared()?;
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
