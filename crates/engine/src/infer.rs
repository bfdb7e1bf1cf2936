//! `prism metadata infer`: a starting `explanation_metadata.json` read off an ONNX graph.

use prism_model::{Dim, ElementType, Model, OnnxModel, TensorInfo};
use serde_json::{json, Map, Value};

use crate::error::EngineError;

/// Infers Vertex explanation metadata from a model: one input entry per model input (its
/// tensor name and a modality guess) and one output (the first floating-point output).
pub fn infer_metadata(model_path: &std::path::Path) -> Result<Value, EngineError> {
    let model = OnnxModel::load(model_path)?;
    let sig = model.signature();
    let mut inputs = Map::new();
    for input in &sig.inputs {
        let mut entry = Map::new();
        entry.insert("inputTensorName".into(), json!(input.name));
        entry.insert("encoding".into(), json!("IDENTITY"));
        entry.insert("modality".into(), json!(guess_modality(input)));
        inputs.insert(input.name.clone(), Value::Object(entry));
    }
    let output = sig
        .outputs
        .iter()
        .find(|o| o.elem_type.is_float())
        .or_else(|| sig.outputs.first());
    let mut outputs = Map::new();
    if let Some(o) = output {
        outputs.insert(o.name.clone(), json!({ "outputTensorName": o.name }));
    }
    Ok(json!({ "inputs": inputs, "outputs": outputs }))
}

/// Images are float tensors of rank 4 with a 1/3/4-sized channel axis (NCHW or NHWC) and
/// spatial sides of at least 8; integer sequences are token ids (text); other integer inputs
/// are categorical; everything else is numeric.
fn guess_modality(input: &TensorInfo) -> &'static str {
    let dims: Vec<Option<usize>> = input
        .shape
        .as_ref()
        .map(|s| {
            s.iter()
                .map(|d| match d {
                    Dim::Fixed(n) => Some(*n),
                    Dim::Symbolic(_) => None,
                })
                .collect()
        })
        .unwrap_or_default();
    let is_channel = |d: Option<usize>| matches!(d, Some(1 | 3 | 4));
    let is_side = |d: Option<usize>| d.is_none_or(|n| n >= 8);
    match input.elem_type {
        t if t.is_float() => {
            if dims.len() == 4
                && ((is_channel(dims[1]) && is_side(dims[2]) && is_side(dims[3]))
                    || (is_channel(dims[3]) && is_side(dims[1]) && is_side(dims[2])))
            {
                "image"
            } else {
                "numeric"
            }
        }
        ElementType::I64 | ElementType::I32 if dims.len() == 2 && dims[1].is_none() => "text",
        ElementType::String => "text",
        _ => "categorical",
    }
}
