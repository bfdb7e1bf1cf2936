//! Output selection: which model outputs get an attribution (`topK`, `outputIndices`, argmax),
//! and how they are named (`outputIndex`, `outputDisplayName`, `outputName`).

use prism_model::{ElementType, Signature};
use prism_spec::ExplanationMetadata;
use serde_json::Value;

use crate::error::{AttributionError, Result};

/// The explained model output, resolved once at load time.
#[derive(Debug, Clone)]
pub struct OutputBinding {
    /// Index of the output tensor in the model signature.
    pub tensor: usize,
    /// The name reported as `outputName` (the metadata output key).
    pub name: String,
    /// The model output tensor's name.
    pub tensor_name: String,
    display_names: Option<Value>,
}

/// How attributions select outputs for one request.
#[derive(Debug, Clone, PartialEq)]
pub enum Selection {
    /// The output with the highest value (Vertex's default).
    Argmax,
    /// The `k` highest outputs, highest first; `None` = all of them.
    TopK(Option<usize>),
    /// Exactly these flat indices into the per-example output, in this order.
    Indices(Vec<Vec<usize>>),
}

impl Selection {
    /// From request parameters (`topK`, `outputIndices`), already validated by the spec.
    pub fn from_parameters(top_k: Option<i32>, output_indices: Option<&Value>) -> Result<Self> {
        if let Some(v) = output_indices {
            let items = v.as_array().ok_or_else(|| {
                AttributionError::parameters("parameters.outputIndices", "must be an array")
            })?;
            let mut out = Vec::with_capacity(items.len());
            for (i, item) in items.iter().enumerate() {
                let path = format!("parameters.outputIndices[{i}]");
                let ix = match item {
                    Value::Array(parts) => parts
                        .iter()
                        .map(|p| index(&path, p))
                        .collect::<Result<Vec<_>>>()?,
                    other => vec![index(&path, other)?],
                };
                out.push(ix);
            }
            if out.is_empty() {
                return Err(AttributionError::parameters(
                    "parameters.outputIndices",
                    "must name at least one output",
                ));
            }
            return Ok(Self::Indices(out));
        }
        Ok(match top_k {
            None => Self::Argmax,
            Some(-1) => Self::TopK(None),
            Some(k) if k >= 1 => Self::TopK(Some(k as usize)),
            Some(k) => {
                return Err(AttributionError::parameters(
                    "parameters.topK",
                    format!("must be -1 or at least 1, got {k}"),
                ))
            }
        })
    }
}

fn index(path: &str, v: &Value) -> Result<usize> {
    v.as_u64().map(|u| u as usize).ok_or_else(|| {
        AttributionError::parameters(path, format!("must be a non-negative integer, got {v}"))
    })
}

impl OutputBinding {
    /// Resolves the metadata's output against the model signature. Without metadata outputs,
    /// the first floating-point model output is explained.
    pub fn new(metadata: Option<&ExplanationMetadata>, signature: &Signature) -> Result<Self> {
        let first = metadata.and_then(|m| m.outputs.iter().next());
        let Some((key, out)) = first else {
            let tensor = signature
                .outputs
                .iter()
                .position(|o| o.elem_type.is_float())
                .ok_or_else(|| {
                    AttributionError::metadata(
                        "metadata.outputs",
                        "the model has no floating-point output to explain",
                    )
                })?;
            return Ok(Self {
                tensor,
                name: signature.outputs[tensor].name.clone(),
                tensor_name: signature.outputs[tensor].name.clone(),
                display_names: None,
            });
        };
        let tensor_name = out.output_tensor_name.as_deref().unwrap_or(key);
        let tensor = signature
            .output_index(tensor_name)
            .or_else(|| {
                tensor_name
                    .strip_suffix(":0")
                    .and_then(|t| signature.output_index(t))
            })
            .ok_or_else(|| {
                let outputs: Vec<String> = signature
                    .outputs
                    .iter()
                    .map(|o| format!("'{}'", o.name))
                    .collect();
                let field = if out.output_tensor_name.is_some() {
                    format!("metadata.outputs.{key}.outputTensorName")
                } else {
                    format!("metadata.outputs.{key}")
                };
                AttributionError::metadata(
                    field,
                    format!(
                        "no model output named '{tensor_name}'; the model's outputs are {}",
                        outputs.join(", ")
                    ),
                )
            })?;
        let elem = signature.outputs[tensor].elem_type;
        if !elem.is_float() && elem != ElementType::I64 && elem != ElementType::I32 {
            return Err(AttributionError::metadata(
                format!("metadata.outputs.{key}"),
                format!(
                    "output '{tensor_name}' holds {} values, which cannot be attributed",
                    elem.name()
                ),
            ));
        }
        Ok(Self {
            tensor,
            name: key.to_string(),
            tensor_name: signature.outputs[tensor].name.clone(),
            display_names: out.index_display_name_mapping.clone(),
        })
    }

    /// The flat per-example indices to explain, given the instance's outputs.
    pub fn select(
        &self,
        selection: &Selection,
        outputs: &[f64],
        shape: &[usize],
    ) -> Result<Vec<usize>> {
        if outputs.is_empty() {
            return Err(AttributionError::Output {
                output: self.name.clone(),
                message: "the model returned no values".into(),
            });
        }
        let by_value_desc = || {
            let mut order: Vec<usize> = (0..outputs.len()).collect();
            order.sort_by(|&a, &b| outputs[b].total_cmp(&outputs[a]).then(a.cmp(&b)));
            order
        };
        Ok(match selection {
            Selection::Argmax => vec![by_value_desc()[0]],
            Selection::TopK(None) => by_value_desc(),
            Selection::TopK(Some(k)) => by_value_desc().into_iter().take(*k).collect(),
            Selection::Indices(list) => {
                let mut out = Vec::with_capacity(list.len());
                for (i, multi) in list.iter().enumerate() {
                    out.push(self.flat_index(multi, shape).ok_or_else(|| {
                        AttributionError::parameters(
                            format!("parameters.outputIndices[{i}]"),
                            format!(
                                "{multi:?} is out of range for output '{}' of shape {shape:?}",
                                self.name
                            ),
                        )
                    })?);
                }
                out
            }
        })
    }

    /// A multi-index into the per-example output → flat index. Trailing unit axes may be
    /// omitted (`[2]` addresses `[2, 0]` of a `[3, 1]` output) and a scalar output takes `[0]`.
    fn flat_index(&self, multi: &[usize], shape: &[usize]) -> Option<usize> {
        if shape.is_empty() {
            return (multi == [0]).then_some(0);
        }
        if multi.len() > shape.len() || multi.is_empty() {
            return None;
        }
        let mut flat = 0;
        for (axis, &dim) in shape.iter().enumerate() {
            let i = multi.get(axis).copied().unwrap_or(0);
            if i >= dim {
                return None;
            }
            flat = flat * dim + i;
        }
        Some(flat)
    }

    /// `outputIndex` for a flat index: the multi-index, or `None` for a scalar output.
    pub fn output_index(&self, flat: usize, shape: &[usize]) -> Option<Vec<i32>> {
        if shape.is_empty() {
            return None;
        }
        let mut rest = flat;
        let mut multi = vec![0i32; shape.len()];
        for axis in (0..shape.len()).rev() {
            multi[axis] = (rest % shape[axis]) as i32;
            rest /= shape[axis];
        }
        Some(multi)
    }

    /// `outputDisplayName` from `indexDisplayNameMapping`, if the metadata has one.
    pub fn display_name(&self, multi: Option<&[i32]>) -> Option<String> {
        let mut node = self.display_names.as_ref()?;
        for &i in multi.unwrap_or(&[]) {
            match node {
                Value::Array(items) => node = items.get(i as usize)?,
                _ => break,
            }
        }
        match node {
            Value::String(s) => Some(s.clone()),
            Value::Number(n) => Some(n.to_string()),
            _ => None,
        }
    }
}
