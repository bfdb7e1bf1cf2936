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
pub mod segment;
pub mod shapley;
pub mod xrai;

use prism_model::gradient::{grad_name, offset_name, raw_name, seed_name, GradientSpec};
use prism_model::{Model, Tensor, TensorData};
use prism_spec::{Attribution, Explanation, ExplanationSpec, Method};
use serde_json::Value;

pub use binding::{Binder, BoundInstance, Player};
pub use error::{AttributionError, Result};
pub use integrated::{IntegratedGradients, PathTensor};
pub use output::{OutputBinding, Selection};
pub use shapley::SampledShapley;
pub use xrai::Xrai;

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

    /// How many tensors each row holds.
    pub fn tensor_count(&self) -> usize {
        self.values.len()
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
#[derive(Clone, Copy)]
pub struct GradientInputs<'a> {
    /// Runs the model forward and backward.
    pub evaluate: &'a EvaluateGradients<'a>,
    /// How each model input moves along the path.
    pub roles: &'a [PathTensor],
    /// SmoothGrad's noise sigma per model input and element (empty or zeros: no noise).
    pub noise_sigma: &'a [Vec<f64>],
    /// For XRAI: the image input and its layout.
    pub image: Option<(usize, &'a blur::ImageAxes)>,
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
    /// Per output, the sum that the completeness gap compares with the output change, when
    /// it is not the sum of `values` (XRAI reports regions, completeness is IG's).
    pub path_sum: Option<Vec<f64>>,
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
    /// Model inputs attributed at an intermediate tensor (`encodedTensorName`).
    encoded: Vec<Encoded>,
    smooth_grad: Option<prism_spec::SmoothGradConfig>,
    /// XRAI: the one image input.
    xrai_image: Option<usize>,
}

/// An input (token or category ids) attributed at the float tensor it is encoded into.
#[derive(Debug, Clone)]
struct Encoded {
    /// The intermediate value (an embedding output).
    value: String,
    /// The model input it encodes.
    tensor: usize,
    /// The feature declaring it (for `encodedBaselines` and errors).
    feature: String,
}

/// The encoded values of one instance: at the instance, and their per-example shapes.
struct EncodedState {
    at_instance: Vec<Vec<f64>>,
    shapes: Vec<Vec<usize>>,
}

impl GradientPlan {
    fn new(binder: &Binder, method: &Method) -> Result<Self> {
        let at = format!("parameters.{}", method.name());
        let blur = method.blur_baseline_config().is_some();
        let mut roles = Vec::new();
        let mut encoded: Vec<Encoded> = Vec::new();
        for (t, name) in binder.tensor_names().into_iter().enumerate() {
            let features = binder.tensor_features(t);
            let declared: Vec<(&str, &str)> = features
                .iter()
                .filter_map(|(f, e)| e.map(|e| (*f, e)))
                .collect();
            if let Some(&(feature, value)) = declared.first() {
                if declared.len() != features.len() || declared.iter().any(|(_, e)| *e != value) {
                    return Err(AttributionError::metadata(
                        format!("metadata.inputs.{feature}.encodedTensorName"),
                        format!(
                            "every feature of model input '{name}' must name the same \
                             encodedTensorName"
                        ),
                    ));
                }
                if encoded.iter().any(|e| e.value == value) {
                    return Err(AttributionError::metadata(
                        format!("metadata.inputs.{feature}.encodedTensorName"),
                        format!("'{value}' already encodes another model input"),
                    ));
                }
                encoded.push(Encoded {
                    value: value.to_string(),
                    tensor: t,
                    feature: feature.to_string(),
                });
                roles.push(Role::Fixed);
                continue;
            }
            if !binder.tensor_is_float(t) {
                let feature = features.first().map_or(name, |(f, _)| *f);
                return Err(AttributionError::metadata(
                    format!("metadata.inputs.{feature}"),
                    format!(
                        "model input '{name}' takes integers (ids), which gradient methods \
                         cannot differentiate; set encodedTensorName to the float tensor they \
                         select (their embedding), or use sampledShapleyAttribution"
                    ),
                ));
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
        let xrai_image = match method {
            Method::Xrai(_) => {
                let images: Vec<usize> = (0..roles.len())
                    .filter(|&t| roles[t] != Role::Fixed && binder.tensor_is_image(t))
                    .collect();
                match images[..] {
                    [t] => Some(t),
                    _ => {
                        return Err(AttributionError::Parameters {
                            path: at,
                            message: format!(
                                "XRAI explains one image: the metadata needs exactly one float \
                                 input with modality image, it has {}",
                                images.len()
                            ),
                        })
                    }
                }
            }
            _ => None,
        };
        Ok(Self {
            roles,
            encoded,
            smooth_grad,
            xrai_image,
        })
    }

    /// XRAI's image input and its layout in `instance`.
    fn image(
        &self,
        binder: &Binder,
        instance: &BoundInstance,
    ) -> Result<Option<(usize, blur::ImageAxes)>> {
        let Some(t) = self.xrai_image else {
            return Ok(None);
        };
        let axes = blur::ImageAxes::infer(&instance.shapes[t]).ok_or_else(|| {
            AttributionError::instance(
                binder.tensor_names()[t],
                format!(
                    "XRAI needs an image of shape [H, W], [H, W, C] or [C, H, W], got {:?}",
                    instance.shapes[t]
                ),
            )
        })?;
        Ok(Some((t, axes)))
    }

    /// The roles with the image layouts of `instance`, then the encoded tensors (straight).
    fn path_tensors(&self, binder: &Binder, instance: &BoundInstance) -> Result<Vec<PathTensor>> {
        let encoded = self.encoded.iter().map(|_| Ok(PathTensor::Straight));
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
            .chain(encoded)
            .collect()
    }

    /// SmoothGrad's sigma per tensor and element of `instance` (extended with the encoded
    /// tensors, which take the sigma of the feature they encode).
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
        for (e_ix, e) in self.encoded.iter().enumerate() {
            if let Some(s) = smooth.sigma_for(&e.feature) {
                let t = self.roles.len() + e_ix;
                sigma[t].iter_mut().for_each(|v| *v = f64::from(s));
            }
        }
        sigma
    }

    /// `instance` and `baselines` extended with their encoded tensors, and `players` with
    /// the encoded positions of their ids (every element of an id's embedding row).
    fn extend(
        &self,
        binder: &Binder,
        state: &EncodedState,
        at_baselines: Vec<Vec<Vec<f64>>>,
        instance: &BoundInstance,
        baselines: &[BoundInstance],
        players: &[Player],
    ) -> Result<(BoundInstance, Vec<BoundInstance>, Vec<Player>)> {
        let n = self.roles.len();
        let mut per_id = Vec::with_capacity(self.encoded.len());
        for (e_ix, e) in self.encoded.iter().enumerate() {
            let ids = &instance.shapes[e.tensor];
            let shape = &state.shapes[e_ix];
            if shape.len() <= ids.len() || shape[..ids.len()] != ids[..] {
                return Err(AttributionError::metadata(
                    format!("metadata.inputs.{}.encodedTensorName", e.feature),
                    format!(
                        "'{}' has per-example shape {shape:?}, which does not extend the shape \
                         {ids:?} of model input '{}' (one embedding row per id)",
                        e.value,
                        binder.tensor_names()[e.tensor]
                    ),
                ));
            }
            per_id.push(shape[ids.len()..].iter().product::<usize>());
        }
        let x = instance.extended(state.at_instance.clone(), state.shapes.clone());
        // The path keeps the instance's ids and moves their encoding: so does its start.
        let bs = baselines
            .iter()
            .zip(at_baselines)
            .map(|(b, v)| {
                let mut b = b.extended(v, state.shapes.clone());
                for e in &self.encoded {
                    b.values[e.tensor].clone_from(&instance.values[e.tensor]);
                }
                b
            })
            .collect();
        let players = players
            .iter()
            .map(|p| {
                let mut positions = p.positions.clone();
                for &(t, i) in &p.positions {
                    if let Some(e_ix) = self.encoded.iter().position(|e| e.tensor == t) {
                        let d = per_id[e_ix];
                        positions.extend((i * d..(i + 1) * d).map(|j| (n + e_ix, j)));
                    }
                }
                Player { positions }
            })
            .collect();
        Ok((x, bs, players))
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
            Method::IntegratedGradients(ig) => Box::new(IntegratedGradients::configured(
                ig.step_count,
                ig.integration_rule,
                ig.smooth_grad_config.as_ref(),
                ig.blur_baseline_config.as_ref(),
            )),
            Method::Xrai(x) => Box::new(Xrai {
                ig: IntegratedGradients::configured(
                    x.step_count,
                    x.integration_rule,
                    x.smooth_grad_config.as_ref(),
                    x.blur_baseline_config.as_ref(),
                ),
            }),
            other => {
                return Err(AttributionError::Unsupported(format!(
                    "{} is not a feature attribution method; use sampledShapleyAttribution, \
                     integratedGradientsAttribution or xraiAttribution",
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
                .chain(g.encoded.iter().map(|e| offset_name(&e.value)))
                .collect(),
        })
    }

    /// The intermediate values that gradient methods steer (`encodedTensorName`s): the
    /// model for [`ExplainPlan::explain`] must be rewritten with
    /// `prism_model::gradient::lean_gradient_model_with_offsets(bytes, gradient_spec,
    /// encoded_values)`.
    pub fn encoded_values(&self) -> Vec<String> {
        self.gradient
            .as_ref()
            .map(|g| g.encoded.iter().map(|e| e.value.clone()).collect())
            .unwrap_or_default()
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
        self.explain_keeping(model, instance, None)
    }

    /// Explains one instance and predicts it: every output of `model`, as [`predict`]
    /// answers them, taken from the forward pass the explanation starts with rather than
    /// from a pass of its own. Only for a `model` whose outputs are the predictions: the
    /// whole model, not one rewritten for gradients or cut to the explained output.
    pub fn explain_and_predict(
        &self,
        model: &dyn Model,
        instance: &Value,
    ) -> Result<(Explanation, Value)> {
        let mut outputs = Vec::new();
        let explanation = self.explain_keeping(model, instance, Some(&mut outputs))?;
        let prediction = if outputs.len() == model.signature().outputs.len() {
            outputs_json(model, outputs)
        } else {
            // An output without the batch axis: predicted on its own.
            self.predict(model, instance)?
        };
        Ok((explanation, prediction))
    }

    /// [`ExplainPlan::explain`], keeping the instance's row of every output of the first
    /// forward pass in `instance_outputs` when given.
    fn explain_keeping(
        &self,
        model: &dyn Model,
        instance: &Value,
        instance_outputs: Option<&mut Vec<Tensor>>,
    ) -> Result<Explanation> {
        let bound = self.binder.bind(instance)?;
        let baselines = self.binder.baselines(&bound)?;
        // One call for the instance and its baselines: the full outputs pick what to explain.
        let mut first = Rows::new(&bound, 1 + baselines.len());
        first.push(&bound.values);
        for b in &baselines {
            first.push(&b.values);
        }
        let (full, per_row, out_shape) =
            self.run_full_with(model, &bound, &first, None, instance_outputs)?;
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
        // Ids attributed at their encoding walk that tensor instead: the instance, its
        // baselines and the players grow by the encoded tensors.
        let players = self.binder.players(&bound);
        let (bound, baselines, players, state) = match &self.gradient {
            Some(g) if !g.encoded.is_empty() => {
                let (state, at_baselines) = self.run_encoded(model, g, &bound, &first)?;
                let (x, bs, ps) = g.extend(
                    &self.binder,
                    &state,
                    at_baselines,
                    &bound,
                    &baselines,
                    &players,
                )?;
                (x, bs, ps, Some(state))
            }
            _ => (bound, baselines, players, None),
        };
        let state = state.as_ref();
        let evaluate = |rows: &Rows| -> Result<Outputs> {
            let (full, per_row, _) = self.run_full_with(model, &bound, rows, state, None)?;
            Ok(pick(&full, per_row))
        };
        let evaluate_gradients = |rows: &Rows, outputs: &[usize]| -> Result<Vec<Vec<f64>>> {
            let seeds: Vec<usize> = outputs.iter().map(|&o| selected[o]).collect();
            self.run_gradients(model, &bound, rows, &seeds, state)
        };
        let (roles, noise_sigma, image) = match &self.gradient {
            Some(g) => (
                g.path_tensors(&self.binder, &bound)?,
                g.noise_sigma(&self.binder, &bound),
                g.image(&self.binder, &bound)?,
            ),
            None => (Vec::new(), Vec::new(), None),
        };
        let row_values: usize = bound.values.iter().map(Vec::len).sum::<usize>().max(1);
        let max_rows = (self.max_batch_values / row_values).max(1);
        let k = baselines.len() as f64;
        let mut values = vec![vec![0f64; players.len()]; selected.len()];
        let mut baseline_output = vec![0f64; selected.len()];
        let mut var = vec![0f64; selected.len()];
        let mut path_sum = vec![0f64; selected.len()];
        // With encoded ids the path starts at the ids of the instance with the baseline's
        // encoding (which encodedBaselines may set): its output is the baseline output.
        let start_outputs = match state {
            Some(_) => {
                let mut rows = Rows::new(&bound, baselines.len());
                for b in &baselines {
                    rows.push(&b.values);
                }
                Some(evaluate(&rows)?)
            }
            None => None,
        };
        for (b_ix, baseline) in baselines.iter().enumerate() {
            let b_out = match &start_outputs {
                Some(outputs) => outputs.row(b_ix),
                None => firsts.row(b_ix + 1),
            };
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
                    image: image.as_ref().map(|(t, axes)| (*t, axes)),
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
                path_sum[o] += estimate
                    .path_sum
                    .as_ref()
                    .map_or_else(|| estimate.values[o].iter().sum(), |s| s[o])
                    / k;
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
                    relative((path_sum[o] - gap).abs(), gap.abs())
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
    ///
    /// A model rewritten with offsets for encoded values takes, per encoded value, the
    /// offset that moves it from its value at the instance to the row's (zeros when the
    /// rows do not hold the encoded tensors).
    fn model_inputs(
        &self,
        model: &dyn Model,
        bound: &BoundInstance,
        rows: &Rows,
        seeds: Option<&[usize]>,
        state: Option<&EncodedState>,
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
        let encoded = self
            .gradient
            .as_ref()
            .map_or(&[][..], |g| g.encoded.as_slice());
        signature
            .inputs
            .iter()
            .map(|info| {
                if let Some(e_ix) = encoded
                    .iter()
                    .position(|e| offset_name(&e.value) == info.name)
                {
                    return self.offset_tensor(info, rows, e_ix, names.len(), state);
                }
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

    /// The offset input of encoded value `e_ix`: per row, its tensor in `rows` (stored after
    /// the `n` model inputs) minus its value at the instance; zeros when `rows` holds only
    /// the model inputs.
    fn offset_tensor(
        &self,
        info: &prism_model::TensorInfo,
        rows: &Rows,
        e_ix: usize,
        n: usize,
        state: Option<&EncodedState>,
    ) -> Result<Tensor> {
        let dims = match state {
            Some(st) => st.shapes[e_ix].clone(),
            None => info
                .example_dims()
                .and_then(|d| d.into_iter().collect::<Option<Vec<usize>>>())
                .ok_or_else(|| {
                    AttributionError::Unsupported(format!(
                        "the encoded tensor behind '{}' must have a fixed shape (but the batch)",
                        info.name
                    ))
                })?,
        };
        let mut shape = vec![rows.len()];
        shape.extend(&dims);
        let data: Vec<f32> = match state {
            Some(st) if rows.tensor_count() > n + e_ix => {
                let at_x = &st.at_instance[e_ix];
                rows.tensor(n + e_ix)
                    .chunks(at_x.len().max(1))
                    .flat_map(|row| row.iter().zip(at_x).map(|(v, x)| (v - x) as f32))
                    .collect()
            }
            _ => vec![0.0; shape.iter().product()],
        };
        Ok(Tensor::f32(shape, data)?)
    }

    /// The encoded values at the instance (row 0 of `first`) and at each baseline (the
    /// other rows), or the feature's `encodedBaselines` where given.
    #[allow(clippy::type_complexity)]
    fn run_encoded(
        &self,
        model: &dyn Model,
        g: &GradientPlan,
        bound: &BoundInstance,
        first: &Rows,
    ) -> Result<(EncodedState, Vec<Vec<Vec<f64>>>)> {
        let inputs = self.model_inputs(model, bound, first, None, None)?;
        let mut outputs = model.forward(&inputs)?;
        let baselines = first.len() - 1;
        let mut state = EncodedState {
            at_instance: Vec::new(),
            shapes: Vec::new(),
        };
        let mut at_baselines = vec![Vec::new(); baselines];
        for e in &g.encoded {
            let raw = raw_name(&e.value);
            let ix = model.signature().output_index(&raw).ok_or_else(|| {
                AttributionError::Unsupported(format!(
                    "the model has no output '{raw}': encoded inputs need the model rewritten \
                     with offsets"
                ))
            })?;
            let shape = outputs[ix].shape.get(1..).unwrap_or_default().to_vec();
            let t = std::mem::replace(&mut outputs[ix].data, TensorData::F32(Vec::new()));
            let TensorData::F32(v) = t else {
                return Err(AttributionError::metadata(
                    format!("metadata.inputs.{}.encodedTensorName", e.feature),
                    format!("'{}' is not a float tensor", e.value),
                ));
            };
            let per_row = v.len() / first.len();
            let rows: Vec<Vec<f64>> = v
                .chunks(per_row.max(1))
                .map(|c| c.iter().map(|&x| f64::from(x)).collect())
                .collect();
            let given = self.binder.encoded_baselines(&e.feature);
            for (k, slot) in at_baselines.iter_mut().enumerate() {
                let value = match given {
                    [] => rows[k + 1].clone(),
                    _ => {
                        encoded_baseline(&given[k.min(given.len() - 1)], per_row).map_err(|m| {
                            AttributionError::metadata(
                                format!("metadata.inputs.{}.encodedBaselines", e.feature),
                                m,
                            )
                        })?
                    }
                };
                slot.push(value);
            }
            state.at_instance.push(rows[0].clone());
            state.shapes.push(shape);
        }
        Ok((state, at_baselines))
    }

    /// Runs a gradient model on `rows` seeded on `seeds`; per tensor of the path (model
    /// inputs, then encoded values), the gradients (empty for inputs not differentiated).
    fn run_gradients(
        &self,
        model: &dyn Model,
        bound: &BoundInstance,
        rows: &Rows,
        seeds: &[usize],
        state: Option<&EncodedState>,
    ) -> Result<Vec<Vec<f64>>> {
        let inputs = self.model_inputs(model, bound, rows, Some(seeds), state)?;
        let mut outputs = model.forward(&inputs)?;
        let signature = model.signature();
        let (roles, encoded) = self
            .gradient
            .as_ref()
            .map(|g| (g.roles.as_slice(), g.encoded.as_slice()))
            .unwrap_or((&[], &[]));
        let names = self.binder.tensor_names();
        let differentiated = names
            .iter()
            .zip(roles)
            .map(|(n, r)| (*r != Role::Fixed).then(|| n.to_string()))
            .chain(encoded.iter().map(|e| Some(offset_name(&e.value))));
        let mut grads = Vec::with_capacity(roles.len() + encoded.len());
        for wrt in differentiated {
            let Some(wrt) = wrt else {
                grads.push(Vec::new());
                continue;
            };
            let grad = grad_name(&wrt);
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
    /// Runs `model` on `rows` (which may hold encoded tensors): the explained output of
    /// every row, flat, with its length per row and its shape per example. With
    /// `first_rows`, also the first row of every output.
    fn run_full_with(
        &self,
        model: &dyn Model,
        bound: &BoundInstance,
        rows: &Rows,
        state: Option<&EncodedState>,
        first_rows: Option<&mut Vec<Tensor>>,
    ) -> Result<(Vec<f64>, usize, Vec<usize>)> {
        let missing = || AttributionError::Output {
            output: self.output.name.clone(),
            message: "the model did not return it".into(),
        };
        let tensor_ix = model
            .signature()
            .output_index(&self.output.tensor_name)
            .ok_or_else(missing)?;
        let inputs = self.model_inputs(model, bound, rows, None, state)?;
        let mut outputs = model.forward(&inputs)?;
        if tensor_ix >= outputs.len() {
            return Err(missing());
        }
        if let Some(first_rows) = first_rows {
            // Left empty when an output is not batch-first.
            *first_rows = outputs
                .iter()
                .map(|t| first_row(t, rows.len()))
                .collect::<Option<Vec<_>>>()
                .unwrap_or_default();
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
        predict(&self.binder, model, instance)
    }
}

/// Runs `model` on one instance bound by `binder`; every output as JSON, by name, shaped
/// per example.
pub fn predict(binder: &Binder, model: &dyn Model, instance: &Value) -> Result<Value> {
    let bound = binder.bind(instance)?;
    let mut rows = Rows::new(&bound, 1);
    rows.push(&bound.values);
    let inputs = binder.tensors_for(&bound.shapes, &rows)?;
    Ok(outputs_json(model, model.forward(&inputs)?))
}

/// A model's outputs for one example as JSON: by output name, shaped per example.
fn outputs_json(model: &dyn Model, outputs: Vec<Tensor>) -> Value {
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
    Value::Object(map)
}

/// The first of the `rows` rows of a tensor; `None` when its first axis is not the rows.
fn first_row(t: &Tensor, rows: usize) -> Option<Tensor> {
    if t.shape.first() != Some(&rows) {
        return None;
    }
    let per_row = t.len() / rows;
    let mut shape = t.shape.clone();
    shape[0] = 1;
    let data = match &t.data {
        TensorData::F32(v) => TensorData::F32(v[..per_row].to_vec()),
        TensorData::I64(v) => TensorData::I64(v[..per_row].to_vec()),
        TensorData::Str(v) => TensorData::Str(v[..per_row].to_vec()),
    };
    Tensor::new(shape, data).ok()
}

/// An `encodedBaselines` entry as `len` values: a number broadcasts, a (nested) list must
/// hold exactly `len` numbers.
fn encoded_baseline(v: &Value, len: usize) -> std::result::Result<Vec<f64>, String> {
    fn flatten(v: &Value, out: &mut Vec<f64>) -> std::result::Result<(), String> {
        match v {
            Value::Number(n) => out.push(n.as_f64().unwrap_or(f64::NAN)),
            Value::Array(a) => a.iter().try_for_each(|x| flatten(x, out))?,
            other => return Err(format!("expected numbers, got {other}")),
        }
        Ok(())
    }
    if let Some(x) = v.as_f64() {
        return Ok(vec![x; len]);
    }
    let mut out = Vec::with_capacity(len);
    flatten(v, &mut out)?;
    if out.len() != len {
        return Err(format!(
            "has {} values, the encoded tensor {len} per example",
            out.len()
        ));
    }
    Ok(out)
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
