//! Execution of general ONNX graphs on tract.

use std::sync::Arc;

use tract_onnx::pb;
use tract_onnx::prelude::*;

use crate::error::{ModelError, Result};
use crate::signature::{Dim, Signature};
use crate::tensor::{Tensor as PrismTensor, TensorData};

/// An optimised tract plan whose batch axis stays symbolic, so one plan serves every batch size.
pub(crate) struct TractGraph {
    plan: Arc<TypedRunnableModel>,
}

impl TractGraph {
    /// Prepares the graph; `keep` (indices into the signature's outputs) limits the plan to
    /// those outputs, so nodes only other outputs need are never run.
    pub(crate) fn new(
        proto: &pb::ModelProto,
        signature: &Signature,
        keep: Option<&[usize]>,
    ) -> Result<Self> {
        // tract panics on some graphs it cannot handle (recurrent ops on a symbolic batch,
        // negative pads): a bad model must be an error, never a crash.
        std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            Self::prepare(proto, signature, keep)
        }))
        .unwrap_or_else(|panic| {
            Err(ModelError::Prepare(format!(
                "tract failed: {}",
                panic_text(&panic)
            )))
        })
    }

    fn prepare(
        proto: &pb::ModelProto,
        signature: &Signature,
        keep: Option<&[usize]>,
    ) -> Result<Self> {
        let onnx = tract_onnx::onnx();
        if let Some(graph) = &proto.graph {
            reject_unknown_ops(&onnx, graph)?;
        }
        let mut model = onnx
            .model_for_proto_model(proto)
            .map_err(|e| ModelError::Prepare(format!("{e:#}")))?;
        for (ix, info) in signature.inputs.iter().enumerate() {
            let Some(dims) = &info.shape else { continue };
            let shape = tract_shape(dims, &model.symbols);
            let dt = datum_type(info.elem_type).ok_or_else(|| ModelError::BadInput {
                input: info.name.clone(),
                message: format!("element type {} is not supported", info.elem_type.name()),
            })?;
            let fact = InferenceFact::dt_shape(dt, shape);
            model
                .set_input_fact(ix, fact)
                .map_err(|e| ModelError::Prepare(format!("{e:#}")))?;
        }
        if let Some(keep) = keep {
            let outlets: Vec<OutletId> = keep
                .iter()
                .filter_map(|&i| model.outputs.get(i).copied())
                .collect();
            model
                .select_output_outlets(&outlets)
                .map_err(|e| ModelError::Prepare(format!("{e:#}")))?;
        }
        let plan = model
            .into_optimized()
            .and_then(|m| m.into_runnable())
            .map_err(|e| ModelError::Prepare(format!("{e:#}")))?;
        Ok(Self { plan })
    }

    pub(crate) fn run(&self, inputs: &[PrismTensor]) -> Result<Vec<PrismTensor>> {
        let values: TVec<TValue> = inputs
            .iter()
            .map(|t| to_tract(t).map(|t| t.into_tvalue()))
            .collect::<Result<_>>()?;
        let run = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| self.plan.run(values)))
            .map_err(|panic| {
                ModelError::Execution(format!("tract failed: {}", panic_text(&panic)))
            })?;
        let outputs = run.map_err(|e| ModelError::Execution(format!("{e:#}")))?;
        outputs
            .into_iter()
            .map(|v| from_tract(v.into_tensor()))
            .collect()
    }
}

/// Fails with the first node of `graph` whose operator tract does not know.
pub(crate) fn check_ops(graph: &pb::GraphProto) -> Result<()> {
    reject_unknown_ops(&tract_onnx::onnx(), graph)
}

/// Fails with the first node whose operator tract does not know, instead of tract's
/// later and vaguer analysis error.
fn reject_unknown_ops(onnx: &tract_onnx::Onnx, graph: &pb::GraphProto) -> Result<()> {
    for node in &graph.node {
        let known = onnx.op_register.0.contains_key(&node.op_type);
        if !known {
            return Err(ModelError::UnsupportedOp {
                op_type: node.op_type.clone(),
                domain: node.domain.clone(),
                node: node_label(node),
            });
        }
    }
    Ok(())
}

pub(crate) fn node_label(node: &pb::NodeProto) -> String {
    if !node.name.is_empty() {
        node.name.clone()
    } else {
        node.output.first().cloned().unwrap_or_default()
    }
}

fn datum_type(t: crate::ElementType) -> Option<DatumType> {
    use crate::ElementType as E;
    Some(match t {
        E::F32 => f32::datum_type(),
        E::F64 => f64::datum_type(),
        E::F16 => f16::datum_type(),
        E::I64 => i64::datum_type(),
        E::I32 => i32::datum_type(),
        E::U8 => u8::datum_type(),
        E::Bool => bool::datum_type(),
        E::String => String::datum_type(),
        E::Other(_) => return None,
    })
}

fn to_tract(t: &PrismTensor) -> Result<Tensor> {
    let r = match &t.data {
        TensorData::F32(v) => Tensor::from_shape(&t.shape, v),
        TensorData::I64(v) => Tensor::from_shape(&t.shape, v),
        TensorData::Str(v) => tract_ndarray::ArrayD::from_shape_vec(t.shape.clone(), v.clone())
            .map(Tensor::from)
            .map_err(|e| TractError::msg(e.to_string())),
    };
    r.map_err(|e| ModelError::Execution(format!("{e:#}")))
}

fn from_tract(t: Tensor) -> Result<PrismTensor> {
    let shape = t.shape().to_vec();
    let exec = |e: TractError| ModelError::Execution(format!("{e:#}"));
    let data = match t.datum_type() {
        DatumType::String => TensorData::Str(
            t.to_plain_array_view::<String>()
                .map_err(exec)?
                .iter()
                .cloned()
                .collect(),
        ),
        dt if dt.is_float() => {
            let t = t.cast_to::<f32>().map_err(exec)?;
            TensorData::F32(
                t.to_plain_array_view::<f32>()
                    .map_err(exec)?
                    .iter()
                    .copied()
                    .collect(),
            )
        }
        _ => {
            let t = t.cast_to::<i64>().map_err(exec)?;
            TensorData::I64(
                t.to_plain_array_view::<i64>()
                    .map_err(exec)?
                    .iter()
                    .copied()
                    .collect(),
            )
        }
    };
    Ok(PrismTensor { shape, data })
}

/// The message of a caught panic.
fn panic_text(panic: &Box<dyn std::any::Any + Send>) -> String {
    panic
        .downcast_ref::<String>()
        .cloned()
        .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
        .unwrap_or_else(|| "panic".into())
}

/// A signature shape as tract dimensions, symbolic sizes as symbols of `symbols`.
pub(crate) fn tract_shape(dims: &[Dim], symbols: &SymbolScope) -> TVec<TDim> {
    dims.iter()
        .map(|d| match d {
            Dim::Fixed(n) => TDim::from(*n),
            Dim::Symbolic(name) => symbols.sym(name).to_dim(),
        })
        .collect()
}
