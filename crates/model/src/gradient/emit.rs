//! Emitting the backward graph: fresh value names, constants, attribute helpers, and the
//! opset-dependent spelling of the few ops whose arguments moved from attributes to inputs
//! between opsets (ReduceSum, ReduceMean, Squeeze, Unsqueeze, Slice, Pad, ScatterElements).

use std::collections::HashSet;

use tract_onnx::pb;
use tract_onnx::prelude::*;

use super::facts::Facts;
use crate::error::{ModelError, Result};

/// Prefix of every value and node name the gradient pass creates.
pub(crate) const PREFIX: &str = "prism_grad";

/// Collects the nodes of the backward graph.
pub(crate) struct Emitter<'f> {
    /// Static facts about the forward graph.
    pub(crate) facts: &'f Facts,
    /// The model's default-domain opset version.
    pub(crate) opset: i64,
    nodes: Vec<pb::NodeProto>,
    taken: HashSet<String>,
    counter: usize,
}

impl<'f> Emitter<'f> {
    /// An emitter whose fresh names avoid every name in `taken`.
    pub(crate) fn new(facts: &'f Facts, opset: i64, taken: HashSet<String>) -> Self {
        Self {
            facts,
            opset,
            nodes: vec![],
            taken,
            counter: 0,
        }
    }

    /// The emitted nodes, in emission (hence topological) order.
    pub(crate) fn into_nodes(self) -> Vec<pb::NodeProto> {
        self.nodes
    }

    /// How many nodes were emitted so far.
    pub(crate) fn node_count(&self) -> usize {
        self.nodes.len()
    }

    /// The nodes emitted since the count was `from`.
    pub(crate) fn nodes_since(&self, from: usize) -> Vec<pb::NodeProto> {
        self.nodes[from..].to_vec()
    }

    /// A name no value or node of the graph uses yet.
    pub(crate) fn fresh(&mut self, hint: &str) -> String {
        loop {
            self.counter += 1;
            let name = format!("{PREFIX}/{}_{hint}", self.counter);
            if self.taken.insert(name.clone()) {
                return name;
            }
        }
    }

    /// Adds a node with explicit output names.
    pub(crate) fn push(
        &mut self,
        op: &str,
        inputs: &[&str],
        outputs: &[&str],
        attrs: Vec<pb::AttributeProto>,
    ) {
        let name = self.fresh(&format!("{op}_node"));
        self.nodes.push(pb::NodeProto {
            input: inputs.iter().map(|s| s.to_string()).collect(),
            output: outputs.iter().map(|s| s.to_string()).collect(),
            name,
            op_type: op.into(),
            attribute: attrs,
            ..Default::default()
        });
    }

    /// Adds a single-output node and returns its output name.
    pub(crate) fn op(
        &mut self,
        op: &str,
        inputs: &[&str],
        attrs: Vec<pb::AttributeProto>,
    ) -> String {
        let out = self.fresh(op);
        self.push(op, inputs, &[&out], attrs);
        out
    }

    /// Adds a node with `n` outputs and returns their names.
    pub(crate) fn op_n(
        &mut self,
        op: &str,
        inputs: &[&str],
        n: usize,
        attrs: Vec<pb::AttributeProto>,
    ) -> Vec<String> {
        let outs: Vec<String> = (0..n).map(|_| self.fresh(op)).collect();
        let refs: Vec<&str> = outs.iter().map(|s| s.as_str()).collect();
        self.push(op, inputs, &refs, attrs);
        outs
    }

    /// Shorthands for the element-wise binary ops.
    pub(crate) fn add(&mut self, a: &str, b: &str) -> String {
        self.op("Add", &[a, b], vec![])
    }
    pub(crate) fn sub(&mut self, a: &str, b: &str) -> String {
        self.op("Sub", &[a, b], vec![])
    }
    pub(crate) fn mul(&mut self, a: &str, b: &str) -> String {
        self.op("Mul", &[a, b], vec![])
    }
    pub(crate) fn div(&mut self, a: &str, b: &str) -> String {
        self.op("Div", &[a, b], vec![])
    }
    pub(crate) fn neg(&mut self, a: &str) -> String {
        self.op("Neg", &[a], vec![])
    }

    /// `Shape(x)`.
    pub(crate) fn shape(&mut self, x: &str) -> String {
        self.op("Shape", &[x], vec![])
    }

    /// `Reshape(x, Shape(like))`.
    pub(crate) fn reshape_like(&mut self, x: &str, like: &str) -> String {
        let s = self.shape(like);
        self.op("Reshape", &[x, &s], vec![])
    }

    /// A `Constant` node holding `tensor`.
    pub(crate) fn constant(&mut self, tensor: pb::TensorProto) -> String {
        let out = self.fresh("const");
        self.push("Constant", &[], &[&out], vec![attr_tensor("value", tensor)]);
        out
    }

    /// A 1-D int64 constant.
    pub(crate) fn const_i64(&mut self, values: &[i64]) -> String {
        self.const_i64_shaped(&[values.len() as i64], values)
    }

    /// An int64 constant of the given shape.
    pub(crate) fn const_i64_shaped(&mut self, dims: &[i64], values: &[i64]) -> String {
        self.constant(pb::TensorProto {
            dims: dims.to_vec(),
            data_type: pb::tensor_proto::DataType::Int64 as i32,
            int64_data: values.to_vec(),
            ..Default::default()
        })
    }

    /// A float constant of element type `dt` and the given shape.
    pub(crate) fn const_float(
        &mut self,
        dt: DatumType,
        dims: &[i64],
        values: &[f64],
    ) -> Result<String> {
        let tensor = float_tensor(dt, dims, values)?;
        Ok(self.constant(tensor))
    }

    /// A scalar constant with the element type of the value `like`.
    pub(crate) fn scalar_like(&mut self, like: &str, v: f64) -> Result<String> {
        let dt = self.facts.datum_type(like)?;
        self.const_float(dt, &[], &[v])
    }

    /// `x * 0`: zeros shaped like `x` (ConstantOfShape cannot be typed by tract on a
    /// symbolic shape).
    pub(crate) fn zeros_like(&mut self, x: &str) -> Result<String> {
        let zero = self.scalar_like(x, 0.0)?;
        Ok(self.mul(x, &zero))
    }

    /// `x * 0` for a value `x` the pass created, typed like the graph value `like`.
    pub(crate) fn zeros_like_of(&mut self, x: &str, like: &str) -> Result<String> {
        let zero = self.scalar_like(like, 0.0)?;
        Ok(self.mul(x, &zero))
    }

    /// `cond ? a : b` element-wise: `Where` from opset 9, before it
    /// `a·cond + b·¬cond` with the masks cast to the float type of the graph value `like`.
    pub(crate) fn select(&mut self, cond: &str, a: &str, b: &str, like: &str) -> Result<String> {
        if self.opset >= 9 {
            return Ok(self.op("Where", &[cond, a, b], vec![]));
        }
        let dt = self.facts.datum_type(like)?;
        let to = onnx_type(dt).ok_or_else(|| {
            ModelError::Prepare(format!("gradient pass: cannot differentiate {dt:?} values"))
        })?;
        let not = self.op("Not", &[cond], vec![]);
        let on = self.cast(cond, to);
        let off = self.cast(&not, to);
        let a = self.mul(a, &on);
        let b = self.mul(b, &off);
        Ok(self.add(&a, &b))
    }

    /// `Cast(x, to)` with an ONNX data type code.
    pub(crate) fn cast(&mut self, x: &str, to: i32) -> String {
        self.op("Cast", &[x], vec![attr_int("to", to as i64)])
    }

    /// The sum of several gradient contributions (the single one when there is one).
    pub(crate) fn sum(&mut self, mut terms: Vec<String>) -> String {
        if terms.len() == 1 {
            return terms.pop().unwrap_or_default();
        }
        let refs: Vec<&str> = terms.iter().map(|s| s.as_str()).collect();
        self.op("Sum", &refs, vec![])
    }

    fn axes_op(
        &mut self,
        op: &str,
        x: &str,
        axes: &[i64],
        since: i64,
        mut attrs: Vec<pb::AttributeProto>,
    ) -> String {
        if self.opset >= since {
            let a = self.const_i64(axes);
            self.op(op, &[x, &a], attrs)
        } else {
            attrs.push(attr_ints("axes", axes));
            self.op(op, &[x], attrs)
        }
    }

    /// `ReduceSum(x, axes, keepdims)`.
    pub(crate) fn reduce_sum(&mut self, x: &str, axes: &[i64], keepdims: bool) -> String {
        self.axes_op(
            "ReduceSum",
            x,
            axes,
            13,
            vec![attr_int("keepdims", keepdims as i64)],
        )
    }

    /// `ReduceMean(x, axes, keepdims)`.
    pub(crate) fn reduce_mean(&mut self, x: &str, axes: &[i64], keepdims: bool) -> String {
        self.axes_op(
            "ReduceMean",
            x,
            axes,
            18,
            vec![attr_int("keepdims", keepdims as i64)],
        )
    }

    /// `Unsqueeze(x, axes)`.
    pub(crate) fn unsqueeze(&mut self, x: &str, axes: &[i64]) -> String {
        self.axes_op("Unsqueeze", x, axes, 13, vec![])
    }

    /// `Slice(x, starts, ends, axes, steps)`; `steps` must be all ones before opset 10.
    pub(crate) fn slice(
        &mut self,
        x: &str,
        starts: &[i64],
        ends: &[i64],
        axes: &[i64],
        steps: Option<&[i64]>,
    ) -> String {
        if self.opset >= 10 {
            let s = self.const_i64(starts);
            let e = self.const_i64(ends);
            let a = self.const_i64(axes);
            match steps {
                Some(steps) => {
                    let st = self.const_i64(steps);
                    self.op("Slice", &[x, &s, &e, &a, &st], vec![])
                }
                None => self.op("Slice", &[x, &s, &e, &a], vec![]),
            }
        } else {
            self.op(
                "Slice",
                &[x],
                vec![
                    attr_ints("starts", starts),
                    attr_ints("ends", ends),
                    attr_ints("axes", axes),
                ],
            )
        }
    }

    /// Zero padding: `pads` is `[begin_0, …, begin_r, end_0, …, end_r]` over every axis.
    pub(crate) fn pad_zeros(&mut self, x: &str, pads: &[i64]) -> String {
        if self.opset >= 11 {
            let p = self.const_i64(pads);
            self.op("Pad", &[x, &p], vec![])
        } else {
            self.op("Pad", &[x], vec![attr_ints("pads", pads)])
        }
    }

    /// Scatters `updates` into `data` along `axis` at `indices` (ScatterElements semantics),
    /// adding where indices repeat. Indices known to be unique use a plain scatter, which
    /// ONNX Runtime accepts before opset 16 too.
    pub(crate) fn scatter_add(
        &mut self,
        data: &str,
        indices: &str,
        updates: &str,
        axis: i64,
        unique: bool,
    ) -> Result<String> {
        let mut attrs = vec![attr_int("axis", axis)];
        if !unique {
            if self.opset < 16 {
                return Err(ModelError::Prepare(format!(
                    "gradient pass: summing scattered gradients needs ScatterElements with \
                     reduction (opset 16), the model uses opset {}",
                    self.opset
                )));
            }
            attrs.push(attr_string("reduction", "add"));
        }
        let op = if self.opset >= 11 {
            "ScatterElements"
        } else {
            "Scatter"
        };
        Ok(self.op(op, &[data, indices, updates], attrs))
    }

    /// Sums the gradient `g` (of shape `g_shape`, the broadcast result) back to the shape of
    /// `target`, undoing numpy-style broadcasting: ReduceSum over the leading axes `target`
    /// lacks and over the axes where `target` has size 1, then Reshape to `Shape(target)`.
    pub(crate) fn sum_to(&mut self, g: &str, g_shape: &[TDim], target: &str) -> Result<String> {
        let t_shape = self.facts.shape(target)?.to_vec();
        let reduced = self.sum_to_shape(g, g_shape, &t_shape)?;
        if t_shape.len() == g_shape.len() {
            return Ok(reduced);
        }
        Ok(self.reshape_like(&reduced, target))
    }

    /// ReduceSum (keeping dimensions) of `g` over the axes that broadcasting a tensor of
    /// shape `t_shape` to `g_shape` created or stretched. The result has `g`'s rank.
    pub(crate) fn sum_to_shape(
        &mut self,
        g: &str,
        g_shape: &[TDim],
        t_shape: &[TDim],
    ) -> Result<String> {
        if t_shape.len() > g_shape.len() {
            return Err(ModelError::Prepare(format!(
                "gradient pass: a shape of rank {} cannot broadcast to rank {}",
                t_shape.len(),
                g_shape.len()
            )));
        }
        let lead = g_shape.len() - t_shape.len();
        let mut axes: Vec<i64> = (0..lead as i64).collect();
        for (i, d) in t_shape.iter().enumerate() {
            if d.is_one() && !g_shape[lead + i].is_one() {
                axes.push((lead + i) as i64);
            }
        }
        if axes.is_empty() {
            return Ok(g.to_string());
        }
        Ok(self.reduce_sum(g, &axes, true))
    }
}

/// A float tensor proto of element type `dt`.
pub(crate) fn float_tensor(dt: DatumType, dims: &[i64], values: &[f64]) -> Result<pb::TensorProto> {
    use pb::tensor_proto::DataType as D;
    let (data_type, raw_data): (D, Vec<u8>) = if dt == f32::datum_type() {
        (
            D::Float,
            values
                .iter()
                .flat_map(|v| (*v as f32).to_le_bytes())
                .collect(),
        )
    } else if dt == f64::datum_type() {
        (
            D::Double,
            values.iter().flat_map(|v| v.to_le_bytes()).collect(),
        )
    } else if dt == f16::datum_type() {
        (
            D::Float16,
            values
                .iter()
                .flat_map(|v| f16::from_f64(*v).to_le_bytes())
                .collect(),
        )
    } else {
        return Err(ModelError::Prepare(format!(
            "gradient pass: cannot differentiate through {dt:?} values"
        )));
    };
    Ok(pb::TensorProto {
        dims: dims.to_vec(),
        data_type: data_type as i32,
        raw_data,
        ..Default::default()
    })
}

/// The ONNX data type code of a tract datum type (the types the pass meets).
pub(crate) fn onnx_type(dt: DatumType) -> Option<i32> {
    use pb::tensor_proto::DataType as D;
    let code = if dt == f32::datum_type() {
        D::Float
    } else if dt == f64::datum_type() {
        D::Double
    } else if dt == f16::datum_type() {
        D::Float16
    } else if dt == i64::datum_type() || dt == TDim::datum_type() {
        D::Int64
    } else if dt == i32::datum_type() {
        D::Int32
    } else if dt == bool::datum_type() {
        D::Bool
    } else if dt == u8::datum_type() {
        D::Uint8
    } else {
        return None;
    };
    Some(code as i32)
}

fn attr(name: &str, ty: pb::attribute_proto::AttributeType) -> pb::AttributeProto {
    pb::AttributeProto {
        name: name.into(),
        r#type: ty as i32,
        ..Default::default()
    }
}

/// An INT attribute.
pub(crate) fn attr_int(name: &str, v: i64) -> pb::AttributeProto {
    pb::AttributeProto {
        i: v,
        ..attr(name, pb::attribute_proto::AttributeType::Int)
    }
}

/// A FLOAT attribute.
pub(crate) fn attr_float(name: &str, v: f32) -> pb::AttributeProto {
    pb::AttributeProto {
        f: v,
        ..attr(name, pb::attribute_proto::AttributeType::Float)
    }
}

/// An INTS attribute.
pub(crate) fn attr_ints(name: &str, v: &[i64]) -> pb::AttributeProto {
    pb::AttributeProto {
        ints: v.to_vec(),
        ..attr(name, pb::attribute_proto::AttributeType::Ints)
    }
}

/// A STRING attribute.
pub(crate) fn attr_string(name: &str, v: &str) -> pb::AttributeProto {
    pb::AttributeProto {
        s: v.as_bytes().to_vec(),
        ..attr(name, pb::attribute_proto::AttributeType::String)
    }
}

/// A TENSOR attribute.
pub(crate) fn attr_tensor(name: &str, t: pb::TensorProto) -> pb::AttributeProto {
    pb::AttributeProto {
        t: Some(t),
        ..attr(name, pb::attribute_proto::AttributeType::Tensor)
    }
}
