//! Feature attributions for Prism: binding features to tensors, choosing outputs, and the
//! attribution methods.
//!
//! An [`ExplainPlan`] is built once per model and spec: it checks the metadata against the
//! model's signature ([`binding::Binder`], [`output::OutputBinding`]) and picks the method.
//! [`ExplainPlan::explain`] then turns one JSON instance into a Vertex [`Explanation`]: bind
//! the instance and its baselines, run the instance and baselines once to choose the outputs
//! (argmax, `topK` or `outputIndices`), let the method plan all its model evaluations in
//! large batches, average over baselines, and shape the attributions like the instance.
//!
//! ```no_run
//! use prism_attribution::ExplainPlan;
//! use prism_model::{Model, OnnxModel};
//! use prism_spec::ExplanationSpec;
//! let model = OnnxModel::load("testdata/models/peer_linear/model.onnx")?;
//! let spec = ExplanationSpec::from_json_str(r#"{"parameters": {"sampledShapleyAttribution": {"pathCount": 4}}}"#)?;
//! let plan = ExplainPlan::new(&spec, model.signature())?;
//! let explanation = plan.explain(&model, &serde_json::json!([30.0, 60.0, 30.0]))?;
//! println!("{}", serde_json::to_string(&explanation).unwrap());
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
#![deny(missing_docs)]

pub mod binding;
pub mod blur;
mod error;
pub mod integrated;
pub mod output;
pub mod shapley;

use prism_model::gradient::{grad_name, seed_name, GradientSpec};
use prism_model::{Model, Tensor, TensorData};
use prism_spec::{Attribution, Explanation, ExplanationSpec, Method};
use serde_json::Value;

pub use binding::{Binder, BoundInstance, Player};
pub use error::{AttributionError, Result};
pub use integrated::{IntegratedGradients, PathTensor};
pub use output::{OutputBinding, Selection};
pub use shapley::SampledShapley;

/// The seed used when a request gives none, so that the same request gives the same numbers.
pub const DEFAULT_SEED: u64 = 0;

/// Default cap on rows per model call: large enough to amortise per-call overhead, small
/// enough to bound memory for wide inputs.
pub const DEFAULT_MAX_BATCH_VALUES: usize = 1 << 22;

/// Model input rows, flat per model input (row-major), appended without a per-row allocation.
#[derive(Debug, Clone, Default)]
pub struct Rows {
    values: Vec<Vec<f64>>,
    len: usize,
}

impl Rows {
    /// An empty batch for `tensors` model inputs, with room for `rows` rows of `row_values`.
    pub fn new(instance: &BoundInstance, rows: usize) -> Self {
        Self {
            values: instance
                .values
                .iter()
                .map(|v| Vec::with_capacity(v.len() * rows))
                .collect(),
            len: 0,
        }
    }

    /// Appends one row (the values of every model input).
    pub fn push(&mut self, row: &[Vec<f64>]) {
        for (dst, src) in self.values.iter_mut().zip(row) {
            dst.extend_from_slice(src);
        }
        self.len += 1;
    }

    /// Number of rows.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether there are no rows.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Removes every row, keeping the memory.
    pub fn clear(&mut self) {
        self.values.iter_mut().for_each(Vec::clear);
        self.len = 0;
    }

    /// All rows' values of model input `t`, flat.
    pub fn tensor(&self, t: usize) -> &[f64] {
        &self.values[t]
    }
}

/// The selected outputs of a batch of rows, flat: row `r` is `values[r * width..(r + 1) * width]`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Outputs {
    /// The values.
    pub values: Vec<f64>,
    /// Selected outputs per row.
    pub width: usize,
}

impl Outputs {
    /// The selected outputs of row `r`.
    pub fn row(&self, r: usize) -> &[f64] {
        &self.values[r * self.width..(r + 1) * self.width]
    }
}

/// A batch of rows → per row, the selected outputs.
pub type Evaluate<'a> = dyn Fn(&Rows) -> Result<Outputs> + Sync + 'a;

/// A batch of rows and, per row, the selected output to differentiate → per model input,
/// the gradients of every row, flat (`[input][row * len + i]`; empty for an input that is
/// not differentiated).
pub type EvaluateGradients<'a> = dyn Fn(&Rows, &[usize]) -> Result<Vec<Vec<f64>>> + Sync + 'a;

/// What gradient methods need beyond [`Problem`]'s forward evaluation.
pub struct GradientInputs<'a> {
    /// Runs the model forward and backward.
    pub evaluate: &'a EvaluateGradients<'a>,
    /// How each model input moves along the path.
    pub roles: &'a [PathTensor],
    /// SmoothGrad's noise sigma per model input and element (empty or zeros: no noise).
    pub noise_sigma: &'a [Vec<f64>],
}

/// Everything a method needs to attribute one instance against one baseline.
pub struct Problem<'a> {
    /// The instance's values.
    pub instance: &'a BoundInstance,
    /// The baseline's values (same shapes).
    pub baseline: &'a BoundInstance,
    /// The players to attribute to.
    pub players: &'a [Player],
    /// The selected outputs at the instance.
    pub instance_output: &'a [f64],
    /// The selected outputs at the baseline.
    pub baseline_output: &'a [f64],
    /// Runs the model on rows of values, returning the selected outputs per row.
    pub evaluate: &'a Evaluate<'a>,
    /// The most rows to pass to `evaluate` at once.
    pub max_rows: usize,
    /// Seed of the random stream (the request's seed).
    pub seed: u64,
    /// Stream number within the seed (the baseline's index), so baselines sample independently.
    pub stream: u64,
    /// Gradients, for the methods that need them.
    pub gradients: Option<GradientInputs<'a>>,
}

/// A method's estimate for one baseline.
#[derive(Debug, Clone, PartialEq)]
pub struct Estimate {
    /// `values[output][player]`.
    pub values: Vec<Vec<f64>>,
    /// Per output, the estimate's standard error (L2 norm over players); 0 for exact methods.
    pub std_error: Vec<f64>,
    /// Per output, the output at the start of the attribution path when that is not the
    /// baseline (Blur IG's blurred image).
    pub baseline_output: Option<Vec<f64>>,
}

/// An attribution method.
pub trait Attributor: Send + Sync {
    /// Attributes the selected outputs of `problem` to its players.
    fn attribute(&self, problem: &Problem<'_>) -> Result<Estimate>;

    /// Whether approximationError is the completeness gap (path methods) rather than the
    /// standard error of a sampled estimate.
    fn completeness_error(&self) -> bool {
        false
    }
}

/// A checked, ready-to-run explanation setup for one model and one spec.
pub struct ExplainPlan {
    binder: Binder,
    output: OutputBinding,
    selection: Selection,
    method: Box<dyn Attributor>,
    gradient: Option<GradientPlan>,
    seed: u64,
    max_batch_values: usize,
}

impl std::fmt::Debug for ExplainPlan {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ExplainPlan")
            .field("binder", &self.binder)
            .field("output", &self.output)
            .field("selection", &self.selection)
            .field("gradient", &self.gradient)
            .field("seed", &self.seed)
            .finish()
    }
}

/// How a model input moves along a gradient path, before its shape is known.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Role {
    Fixed,
    Straight,
    Blurred,
}

/// The gradient side of a plan for Integrated Gradients (and later XRAI).
#[derive(Debug, Clone)]
struct GradientPlan {
    /// Per model input.
    roles: Vec<Role>,
    smooth_grad: Option<prism_spec::SmoothGradConfig>,
}

impl GradientPlan {
    fn new(binder: &Binder, method: &Method) -> Result<Self> {
        let at = format!("parameters.{}", method.name());
        let blur = method.blur_baseline_config().is_some();
        let mut roles = Vec::new();
        for (t, name) in binder.tensor_names().into_iter().enumerate() {
            if !binder.tensor_is_float(t) {
                let features = binder.tensor_features(t);
                let (feature, encoded) = features.first().copied().unwrap_or((name, None));
                return Err(match encoded {
                    Some(_) => AttributionError::metadata(
                        format!("metadata.inputs.{feature}.encodedTensorName"),
                        "attributing ids through their embedding is not supported yet",
                    ),
                    None => AttributionError::metadata(
                        format!("metadata.inputs.{feature}"),
                        format!(
                            "model input '{name}' takes integers (ids), which gradient methods \
                             cannot differentiate; use sampledShapleyAttribution"
                        ),
                    ),
                });
            }
            roles.push(if blur && binder.tensor_is_image(t) {
                Role::Blurred
            } else {
                Role::Straight
            });
        }
        if blur && !roles.contains(&Role::Blurred) {
            return Err(AttributionError::Parameters {
                path: format!("{at}.blurBaselineConfig"),
                message: "Blur IG needs an image input (a metadata input with modality image)"
                    .into(),
            });
        }
        let smooth_grad = method.smooth_grad_config().cloned();
        if let Some(per_feature) = smooth_grad
            .as_ref()
            .and_then(|s| s.feature_noise_sigma.as_ref())
        {
            for (i, f) in per_feature.noise_sigma.iter().enumerate() {
                if !binder.has_feature(&f.name) {
                    return Err(AttributionError::Parameters {
                        path: format!(
                            "{at}.smoothGradConfig.featureNoiseSigma.noiseSigma[{i}].name"
                        ),
                        message: format!(
                            "no feature named '{}'; the metadata names {}",
                            f.name,
                            binder.feature_names().join(", ")
                        ),
                    });
                }
            }
        }
        Ok(Self { roles, smooth_grad })
    }

    /// The roles with the image layouts of `instance`.
    fn path_tensors(&self, binder: &Binder, instance: &BoundInstance) -> Result<Vec<PathTensor>> {
        self.roles
            .iter()
            .enumerate()
            .map(|(t, role)| match role {
                Role::Fixed => Ok(PathTensor::Fixed),
                Role::Straight => Ok(PathTensor::Straight),
                Role::Blurred => blur::ImageAxes::infer(&instance.shapes[t])
                    .map(PathTensor::Blurred)
                    .ok_or_else(|| {
                        let name = binder.tensor_names()[t];
                        AttributionError::instance(
                            name,
                            format!(
                                "Blur IG needs an image of shape [H, W], [H, W, C] or [C, H, W], \
                                 got {:?}",
                                instance.shapes[t]
                            ),
                        )
                    }),
            })
            .collect()
    }

    /// SmoothGrad's sigma per model input and element of `instance`.
    fn noise_sigma(&self, binder: &Binder, instance: &BoundInstance) -> Vec<Vec<f64>> {
        let mut sigma: Vec<Vec<f64>> = instance.values.iter().map(|v| vec![0.0; v.len()]).collect();
        let Some(smooth) = &self.smooth_grad else {
            return sigma;
        };
        for t in 0..self.roles.len() {
            if self.roles[t] == Role::Fixed {
                continue;
            }
            for (name, _) in binder.tensor_features(t) {
                if let Some(s) = smooth.sigma_for(name) {
                    for (tt, i) in binder.feature_positions(instance, name) {
                        sigma[tt][i] = f64::from(s);
                    }
                }
            }
        }
        sigma
    }
}

impl ExplainPlan {
    /// Checks `spec` against a model `signature` and prepares the method.
    pub fn new(spec: &ExplanationSpec, signature: &prism_model::Signature) -> Result<Self> {
        let metadata = spec.metadata.as_ref();
        let binder = Binder::new(metadata, signature)?;
        let output = OutputBinding::new(metadata, signature)?;
        let params = &spec.parameters;
        let selection = Selection::from_parameters(params.top_k, params.output_indices.as_ref())?;
        let gradient = if params.method.needs_gradients() {
            Some(GradientPlan::new(&binder, &params.method)?)
        } else {
            None
        };
        let method: Box<dyn Attributor> = match &params.method {
            Method::SampledShapley(s) => Box::new(SampledShapley {
                path_count: s.path_count as usize,
            }),
            Method::IntegratedGradients(ig) => Box::new(IntegratedGradients {
                step_count: ig.step_count as usize,
                rule: ig.integration_rule,
                noisy_samples: ig
                    .smooth_grad_config
                    .as_ref()
                    .map_or(1, |s| s.noisy_sample_count as usize),
                max_blur_sigma: ig
                    .blur_baseline_config
                    .as_ref()
                    .map(|b| f64::from(b.max_blur_sigma)),
            }),
            other => {
                return Err(AttributionError::Unsupported(format!(
                    "{} is not implemented yet; use sampledShapleyAttribution or \
                     integratedGradientsAttribution",
                    other.name()
                )))
            }
        };
        Ok(Self {
            binder,
            output,
            selection,
            method,
            gradient,
            seed: params.seed.unwrap_or(DEFAULT_SEED),
            max_batch_values: DEFAULT_MAX_BATCH_VALUES,
        })
    }

    /// For gradient methods, what the model must differentiate: [`ExplainPlan::explain`]
    /// then needs the model rewritten by `prism_model::gradient::add_gradients` with it.
    /// `None` for methods that only run the model forward.
    pub fn gradient_spec(&self) -> Option<GradientSpec> {
        let g = self.gradient.as_ref()?;
        let names = self.binder.tensor_names();
        Some(GradientSpec {
            output: self.output.tensor_name.clone(),
            wrt: g
                .roles
                .iter()
                .zip(names)
                .filter(|(r, _)| **r != Role::Fixed)
                .map(|(_, n)| n.to_string())
                .collect(),
        })
    }

    /// Sets the cap on values (rows × values per row) passed to the model at once.
    pub fn with_max_batch_values(mut self, values: usize) -> Self {
        self.max_batch_values = values.max(1);
        self
    }

    /// The feature binding.
    pub fn binder(&self) -> &Binder {
        &self.binder
    }

    /// The explained output.
    pub fn output(&self) -> &OutputBinding {
        &self.output
    }

    /// Explains one instance. For gradient methods, `model` must be the model rewritten
    /// with [`ExplainPlan::gradient_spec`].
    pub fn explain(&self, model: &dyn Model, instance: &Value) -> Result<Explanation> {
        let bound = self.binder.bind(instance)?;
        let baselines = self.binder.baselines(&bound)?;
        // One call for the instance and its baselines: the full outputs pick what to explain.
        let mut first = Rows::new(&bound, 1 + baselines.len());
        first.push(&bound.values);
        for b in &baselines {
            first.push(&b.values);
        }
        let (full, per_row, out_shape) = self.run_full(model, &bound, &first)?;
        let selected = self
            .output
            .select(&self.selection, &full[..per_row], &out_shape)?;
        let pick = |full: &[f64], per_row: usize| -> Outputs {
            let rows = full.len() / per_row.max(1);
            let mut values = Vec::with_capacity(rows * selected.len());
            for r in 0..rows {
                values.extend(selected.iter().map(|&i| full[r * per_row + i]));
            }
            Outputs {
                values,
                width: selected.len(),
            }
        };
        let firsts = pick(&full, per_row);
        let instance_output = firsts.row(0).to_vec();
        let evaluate = |rows: &Rows| -> Result<Outputs> {
            let (full, per_row, _) = self.run_full(model, &bound, rows)?;
            Ok(pick(&full, per_row))
        };
        let evaluate_gradients = |rows: &Rows, outputs: &[usize]| -> Result<Vec<Vec<f64>>> {
            let seeds: Vec<usize> = outputs.iter().map(|&o| selected[o]).collect();
            self.run_gradients(model, &bound, rows, &seeds)
        };
        let (roles, noise_sigma) = match &self.gradient {
            Some(g) => (
                g.path_tensors(&self.binder, &bound)?,
                g.noise_sigma(&self.binder, &bound),
            ),
            None => (Vec::new(), Vec::new()),
        };
        let players = self.binder.players(&bound);
        let row_values: usize = bound.values.iter().map(Vec::len).sum::<usize>().max(1);
        let max_rows = (self.max_batch_values / row_values).max(1);
        let k = baselines.len() as f64;
        let mut values = vec![vec![0f64; players.len()]; selected.len()];
        let mut baseline_output = vec![0f64; selected.len()];
        let mut var = vec![0f64; selected.len()];
        for (b_ix, baseline) in baselines.iter().enumerate() {
            let b_out = firsts.row(b_ix + 1);
            let problem = Problem {
                instance: &bound,
                baseline,
                players: &players,
                instance_output: &instance_output,
                baseline_output: b_out,
                evaluate: &evaluate,
                max_rows,
                seed: self.seed,
                stream: b_ix as u64,
                gradients: self.gradient.as_ref().map(|_| GradientInputs {
                    evaluate: &evaluate_gradients,
                    roles: &roles,
                    noise_sigma: &noise_sigma,
                }),
            };
            let estimate = self.method.attribute(&problem)?;
            let start_output = estimate.baseline_output.as_deref().unwrap_or(b_out);
            for o in 0..selected.len() {
                for (acc, v) in values[o].iter_mut().zip(&estimate.values[o]) {
                    *acc += v / k;
                }
                baseline_output[o] += start_output[o] / k;
                var[o] += estimate.std_error[o].powi(2);
            }
        }
        let completeness = self.method.completeness_error();
        let attributions = selected
            .iter()
            .enumerate()
            .map(|(o, &flat)| {
                let index = self.output.output_index(flat, &out_shape);
                let gap = instance_output[o] - baseline_output[o];
                let error = if completeness {
                    let sum: f64 = values[o].iter().sum();
                    relative((sum - gap).abs(), gap.abs())
                } else {
                    relative(var[o].sqrt() / k, gap.abs())
                };
                Attribution {
                    baseline_output_value: baseline_output[o],
                    instance_output_value: instance_output[o],
                    feature_attributions: self.binder.unbind(&bound, &values[o]),
                    output_display_name: self.output.display_name(index.as_deref()),
                    output_index: index,
                    approximation_error: error,
                    output_name: self.output.name.clone(),
                }
            })
            .collect();
        Ok(Explanation {
            attributions,
            neighbors: Vec::new(),
        })
    }

    /// The model inputs for `rows`, in the order of `model`'s signature. A model rewritten
    /// for gradients also takes the seed: one-hot on `seeds[row]` (a flat index into the
    /// explained output), or zeros without `seeds`.
    fn model_inputs(
        &self,
        model: &dyn Model,
        bound: &BoundInstance,
        rows: &Rows,
        seeds: Option<&[usize]>,
    ) -> Result<Vec<Tensor>> {
        let mut tensors: Vec<Option<Tensor>> = self
            .binder
            .tensors_for(&bound.shapes, rows)?
            .into_iter()
            .map(Some)
            .collect();
        let signature = model.signature();
        if signature.inputs.len() == tensors.len() && seeds.is_none() {
            return Ok(tensors.into_iter().flatten().collect());
        }
        let names = self.binder.tensor_names();
        let seed = seed_name(&self.output.tensor_name);
        signature
            .inputs
            .iter()
            .map(|info| {
                if info.name == seed {
                    let dims = info
                        .example_dims()
                        .and_then(|d| d.into_iter().collect::<Option<Vec<usize>>>())
                        .ok_or_else(|| AttributionError::Output {
                            output: self.output.name.clone(),
                            message: "gradient methods need its shape to be fixed (but the \
                                      batch)"
                                .into(),
                        })?;
                    let per_row: usize = dims.iter().product();
                    let mut data = vec![0f32; per_row * rows.len()];
                    for (r, &s) in seeds.unwrap_or(&[]).iter().enumerate() {
                        data[r * per_row + s] = 1.0;
                    }
                    let mut shape = vec![rows.len()];
                    shape.extend(dims);
                    return Ok(Tensor::f32(shape, data)?);
                }
                names
                    .iter()
                    .position(|n| *n == info.name)
                    .and_then(|ix| tensors[ix].take())
                    .ok_or_else(|| {
                        AttributionError::Unsupported(format!(
                            "the model takes an input '{}' that the plan does not know",
                            info.name
                        ))
                    })
            })
            .collect()
    }

    /// Runs a gradient model on `rows` seeded on `seeds`; per model input, the gradients
    /// (empty for inputs not differentiated).
    fn run_gradients(
        &self,
        model: &dyn Model,
        bound: &BoundInstance,
        rows: &Rows,
        seeds: &[usize],
    ) -> Result<Vec<Vec<f64>>> {
        let inputs = self.model_inputs(model, bound, rows, Some(seeds))?;
        let mut outputs = model.forward(&inputs)?;
        let signature = model.signature();
        let roles = self
            .gradient
            .as_ref()
            .map(|g| g.roles.as_slice())
            .unwrap_or(&[]);
        let mut grads = Vec::with_capacity(roles.len());
        for (name, role) in self.binder.tensor_names().into_iter().zip(roles) {
            if *role == Role::Fixed {
                grads.push(Vec::new());
                continue;
            }
            let grad = grad_name(name);
            let ix = signature.output_index(&grad).ok_or_else(|| {
                AttributionError::Unsupported(format!(
                    "the model has no gradient output '{grad}': gradient methods need the \
                     model rewritten for gradients"
                ))
            })?;
            let values: Vec<f64> =
                match &std::mem::replace(&mut outputs[ix].data, TensorData::F32(Vec::new())) {
                    TensorData::F32(v) => v.iter().map(|&x| f64::from(x)).collect(),
                    _ => {
                        return Err(AttributionError::Output {
                            output: grad,
                            message: "is not a float tensor".into(),
                        })
                    }
                };
            if let Some(bad) = values.iter().find(|x| !x.is_finite()) {
                return Err(AttributionError::Output {
                    output: grad,
                    message: format!("the gradient has a non-finite value ({bad})"),
                });
            }
            grads.push(values);
        }
        Ok(grads)
    }

    /// Runs the model once on `rows` and returns the explained output tensor flattened, its
    /// values per row, and its per-example shape. The output is found by name, so `model`
    /// may be the full model or one limited to the explained output.
    fn run_full(
        &self,
        model: &dyn Model,
        bound: &BoundInstance,
        rows: &Rows,
    ) -> Result<(Vec<f64>, usize, Vec<usize>)> {
        let missing = || AttributionError::Output {
            output: self.output.name.clone(),
            message: "the model did not return it".into(),
        };
        let tensor_ix = model
            .signature()
            .output_index(&self.output.tensor_name)
            .ok_or_else(missing)?;
        let inputs = self.model_inputs(model, bound, rows, None)?;
        let mut outputs = model.forward(&inputs)?;
        if tensor_ix >= outputs.len() {
            return Err(missing());
        }
        let t = outputs.swap_remove(tensor_ix);
        let per_row = t.len().checked_div(rows.len()).unwrap_or(0);
        let shape = t.shape.get(1..).map(<[usize]>::to_vec).unwrap_or_default();
        let flat: Vec<f64> = match &t.data {
            TensorData::F32(v) => v.iter().map(|&x| f64::from(x)).collect(),
            TensorData::I64(v) => v.iter().map(|&x| x as f64).collect(),
            TensorData::Str(_) => {
                return Err(AttributionError::Output {
                    output: self.output.name.clone(),
                    message: "holds strings, which cannot be attributed".into(),
                })
            }
        };
        if let Some(bad) = flat.iter().find(|x| !x.is_finite()) {
            return Err(AttributionError::Output {
                output: self.output.name.clone(),
                message: format!("the model produced a non-finite value ({bad})"),
            });
        }
        Ok((flat, per_row, shape))
    }

    /// Runs the model on one instance and returns every output as JSON (for `predict`).
    pub fn predict(&self, model: &dyn Model, instance: &Value) -> Result<Value> {
        let bound = self.binder.bind(instance)?;
        let mut rows = Rows::new(&bound, 1);
        rows.push(&bound.values);
        let inputs = self.binder.tensors_for(&bound.shapes, &rows)?;
        let outputs = model.forward(&inputs)?;
        let mut map = serde_json::Map::new();
        for (info, t) in model.signature().outputs.iter().zip(outputs) {
            let shape = t.shape.get(1..).map(<[usize]>::to_vec).unwrap_or_default();
            let values: Vec<Value> = match t.data {
                TensorData::F32(v) => v.into_iter().map(|x| serde_json::json!(x)).collect(),
                TensorData::I64(v) => v.into_iter().map(Value::from).collect(),
                TensorData::Str(v) => v.into_iter().map(Value::from).collect(),
            };
            map.insert(info.name.clone(), nest_values(&values, &shape));
        }
        Ok(Value::Object(map))
    }
}

/// `error / scale`, 0 when both are 0 (a null model, or an exact estimate).
fn relative(error: f64, scale: f64) -> f64 {
    if error == 0.0 {
        0.0
    } else {
        error / scale.max(1e-12)
    }
}

fn nest_values(flat: &[Value], shape: &[usize]) -> Value {
    match shape.split_first() {
        None => flat.first().cloned().unwrap_or(Value::Null),
        Some((&n, rest)) => {
            let inner: usize = rest.iter().product();
            Value::Array(
                (0..n)
                    .map(|i| nest_values(&flat[i * inner..(i + 1) * inner], rest))
                    .collect(),
            )
        }
    }
}
