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
mod error;
pub mod output;
pub mod shapley;

use prism_model::{Model, TensorData};
use prism_spec::{Attribution, Explanation, ExplanationSpec, Method};
use serde_json::Value;

pub use binding::{Binder, BoundInstance, Player};
pub use error::{AttributionError, Result};
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
}

/// A method's estimate for one baseline.
#[derive(Debug, Clone, PartialEq)]
pub struct Estimate {
    /// `values[output][player]`.
    pub values: Vec<Vec<f64>>,
    /// Per output, the estimate's standard error (L2 norm over players); 0 for exact methods.
    pub std_error: Vec<f64>,
}

/// An attribution method.
pub trait Attributor: Send + Sync {
    /// Attributes the selected outputs of `problem` to its players.
    fn attribute(&self, problem: &Problem<'_>) -> Result<Estimate>;
}

/// A checked, ready-to-run explanation setup for one model and one spec.
pub struct ExplainPlan {
    binder: Binder,
    output: OutputBinding,
    selection: Selection,
    method: Box<dyn Attributor>,
    seed: u64,
    max_batch_values: usize,
}

impl std::fmt::Debug for ExplainPlan {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ExplainPlan")
            .field("binder", &self.binder)
            .field("output", &self.output)
            .field("selection", &self.selection)
            .field("seed", &self.seed)
            .finish()
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
        let method: Box<dyn Attributor> = match &params.method {
            Method::SampledShapley(s) => Box::new(SampledShapley {
                path_count: s.path_count as usize,
            }),
            other => {
                return Err(AttributionError::Unsupported(format!(
                    "{} is not implemented yet; use sampledShapleyAttribution",
                    other.name()
                )))
            }
        };
        Ok(Self {
            binder,
            output,
            selection,
            method,
            seed: params.seed.unwrap_or(DEFAULT_SEED),
            max_batch_values: DEFAULT_MAX_BATCH_VALUES,
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

    /// Explains one instance.
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
            };
            let estimate = self.method.attribute(&problem)?;
            for o in 0..selected.len() {
                for (acc, v) in values[o].iter_mut().zip(&estimate.values[o]) {
                    *acc += v / k;
                }
                baseline_output[o] += b_out[o] / k;
                var[o] += estimate.std_error[o].powi(2);
            }
        }
        let attributions = selected
            .iter()
            .enumerate()
            .map(|(o, &flat)| {
                let index = self.output.output_index(flat, &out_shape);
                let gap = (instance_output[o] - baseline_output[o]).abs();
                let std_error = var[o].sqrt() / k;
                Attribution {
                    baseline_output_value: baseline_output[o],
                    instance_output_value: instance_output[o],
                    feature_attributions: self.binder.unbind(&bound, &values[o]),
                    output_display_name: self.output.display_name(index.as_deref()),
                    output_index: index,
                    approximation_error: if std_error == 0.0 {
                        0.0
                    } else {
                        std_error / gap.max(1e-12)
                    },
                    output_name: self.output.name.clone(),
                }
            })
            .collect();
        Ok(Explanation {
            attributions,
            neighbors: Vec::new(),
        })
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
        let inputs = self.binder.tensors_for(&bound.shapes, rows)?;
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
