//! Static facts about every named value of the forward graph: element type, shape (with the
//! batch axis symbolic) and, for constants, the value itself.
//!
//! They come from tract's inference analysis of the unmodified ONNX graph: tract parses the
//! ModelProto into an `InferenceModel` (one node per ONNX node, each output outlet keyed by
//! its ONNX value name), the graph inputs get the same facts [`crate::OnnxModel`] gives them
//! (declared element type and shape, unnamed dimensions replaced by symbols such as `N`), and
//! the analysis propagates types, shapes and constant values to every value; where the
//! graph also translates to tract's typed form, the typed facts (complete for every op)
//! take precedence. We do not rely on
//! the graph's `value_info`: exporters often leave it out, and tract's analysis covers every
//! op the runtime can execute anyway.

use std::collections::HashMap;
use std::sync::Arc;

use tract_onnx::pb;
use tract_onnx::prelude::*;
use tract_onnx::tract_hir::infer::{Factoid, InferenceFact, InferenceModelExt};

use crate::error::{ModelError, Result};

/// What the analysis knows about one value.
#[derive(Debug, Clone)]
pub(crate) struct ValueFact {
    pub(crate) datum_type: Option<DatumType>,
    pub(crate) shape: Option<Vec<TDim>>,
    pub(crate) konst: Option<Arc<Tensor>>,
}

/// Facts for every value name of a graph.
#[derive(Debug, Clone)]
pub(crate) struct Facts {
    values: HashMap<String, ValueFact>,
    /// Keeps the symbols' names (the batch `N`) resolvable after the model is dropped.
    _symbols: SymbolScope,
}

impl Facts {
    /// Runs tract's analysis on `proto` and records the facts of every named value.
    pub(crate) fn analyse(proto: &pb::ModelProto) -> Result<Self> {
        let prepare = |e: TractError| ModelError::Prepare(format!("{e:#}"));
        let graph = proto
            .graph
            .as_ref()
            .ok_or_else(|| ModelError::Corrupt("the ModelProto has no graph".into()))?;
        let signature = crate::onnx::signature_of(graph)?;
        let onnx = tract_onnx::onnx();
        let parsed = onnx.parse(proto, None).map_err(prepare)?;
        let mut model = parsed.model;
        for info in &signature.inputs {
            let Some(&outlet) = parsed.outlets_by_name.get(&info.name) else {
                continue;
            };
            let Some(dims) = &info.shape else { continue };
            let shape = crate::tract_backend::tract_shape(dims, &model.symbols);
            let declared = model.outlet_fact(outlet).map_err(prepare)?.clone();
            let fact = match declared.datum_type.concretize() {
                Some(dt) => InferenceFact::dt_shape(dt, shape),
                None => InferenceFact::shape(shape),
            };
            model.set_outlet_fact(outlet, fact).map_err(prepare)?;
        }
        model.analyse(false).map_err(prepare)?;
        let mut values = HashMap::new();
        for (name, outlet) in &parsed.outlets_by_name {
            let fact = model.outlet_fact(*outlet).map_err(prepare)?;
            values.insert(
                name.clone(),
                ValueFact {
                    datum_type: fact.datum_type.concretize(),
                    shape: fact.shape.concretize().map(|s| s.into_iter().collect()),
                    konst: fact.value.concretize(),
                },
            );
        }
        // Some ops (ConvTranspose, …) only get their output shapes when translated to
        // typed ops; the translation keeps each ONNX value name as its outlet's label.
        // Some of tract's translations panic instead of failing (recurrent ops on a symbolic
        // batch): the typed facts are only a complement, so a panic just skips them.
        let typed =
            std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| model.clone().into_typed()));
        if let Ok(Ok(typed)) = typed {
            for node in typed.nodes() {
                for (ix, output) in node.outputs.iter().enumerate() {
                    let Some(label) = typed.outlet_label(OutletId::new(node.id, ix)) else {
                        continue;
                    };
                    let f = &output.fact;
                    values.insert(
                        label.to_string(),
                        ValueFact {
                            datum_type: Some(f.datum_type),
                            shape: Some(f.shape.iter().cloned().collect()),
                            konst: f.konst.clone(),
                        },
                    );
                }
            }
        }
        Ok(Self {
            values,
            _symbols: model.symbols.clone(),
        })
    }

    /// The facts of `name`, if the graph has such a value.
    pub(crate) fn get(&self, name: &str) -> Option<&ValueFact> {
        self.values.get(name)
    }

    /// Whether the graph has a value called `name`.
    pub(crate) fn contains(&self, name: &str) -> bool {
        self.values.contains_key(name)
    }

    /// Whether `name` is known to hold floating point values.
    pub(crate) fn is_float(&self, name: &str) -> bool {
        self.get(name)
            .and_then(|f| f.datum_type)
            .is_some_and(|dt| dt.is_float())
    }

    /// Whether `name` holds floating point values or its type is unknown.
    pub(crate) fn may_be_float(&self, name: &str) -> bool {
        self.get(name)
            .is_none_or(|f| f.datum_type.is_none_or(|dt| dt.is_float()))
    }

    /// The element type of `name`.
    pub(crate) fn datum_type(&self, name: &str) -> Result<DatumType> {
        self.get(name)
            .and_then(|f| f.datum_type)
            .ok_or_else(|| missing(name, "element type"))
    }

    /// The full shape of `name` (symbolic dimensions allowed).
    pub(crate) fn shape(&self, name: &str) -> Result<&[TDim]> {
        self.get(name)
            .and_then(|f| f.shape.as_deref())
            .ok_or_else(|| missing(name, "shape"))
    }

    /// The rank of `name`.
    pub(crate) fn rank(&self, name: &str) -> Result<usize> {
        Ok(self.shape(name)?.len())
    }

    /// Dimension `axis` of `name` as a number; fails when it is symbolic.
    pub(crate) fn dim(&self, name: &str, axis: usize) -> Result<i64> {
        let shape = self.shape(name)?;
        let d = shape
            .get(axis)
            .ok_or_else(|| missing(name, &format!("axis {axis}")))?;
        d.to_i64().map_err(|_| {
            ModelError::Prepare(format!(
                "gradient pass: axis {axis} of '{name}' must have a fixed size, it is {d}"
            ))
        })
    }

    /// Dimensions `from..` of `name` as numbers (e.g. the spatial dimensions of an image).
    pub(crate) fn dims_from(&self, name: &str, from: usize) -> Result<Vec<i64>> {
        (from..self.rank(name)?)
            .map(|axis| self.dim(name, axis))
            .collect()
    }

    /// The value of a constant integer tensor (initializer, `Constant` output, or anything
    /// tract folded), flattened.
    pub(crate) fn const_i64s(&self, name: &str) -> Option<Vec<i64>> {
        let t = self.get(name)?.konst.as_ref()?;
        let t = t.cast_to::<i64>().ok()?;
        let view = t.to_plain_array_view::<i64>().ok()?;
        Some(view.iter().copied().collect())
    }

    /// The value of a constant float tensor, flattened, as `f64`.
    pub(crate) fn const_f64s(&self, name: &str) -> Option<Vec<f64>> {
        let t = self.get(name)?.konst.as_ref()?;
        let t = t.cast_to::<f64>().ok()?;
        let view = t.to_plain_array_view::<f64>().ok()?;
        Some(view.iter().copied().collect())
    }
}

fn missing(name: &str, what: &str) -> ModelError {
    ModelError::Prepare(format!(
        "gradient pass: tract's analysis did not find the {what} of '{name}'"
    ))
}
