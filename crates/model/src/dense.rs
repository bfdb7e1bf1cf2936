//! Prism's own evaluator for small dense networks (multi-layer perceptrons).
//!
//! Explaining one tabular instance runs the model on a few hundred rows at a time. On such
//! a graph (the breast-cancer MLP is 30 → 32 → 16 → 1) tract spends most of its time
//! packing operands, handling border tiles and slicing, not multiplying: profiled, 20% of
//! its forward pass is the matrix kernel, and the pass is ~3.8x ONNX Runtime's per row.
//! Graphs made only of the operations below, on rank-2 float values `[batch, columns]`, run
//! here instead:
//! - `MatMul` and `Gemm` against a constant weight, pre-packed at load into panels of 16
//!   columns, with a following bias `Add` and activation fused into the product;
//! - `Add`, `Sub`, `Mul`, `Div` of two values or of a value and a constant row, with
//!   broadcasting of one column or one row;
//! - `Relu`, `LeakyRelu`, `Sigmoid`, `Tanh`, `Identity`, `Softmax` and `Concat` on the last
//!   axis, `ArgMax` on the last axis (int64).
//!
//! Only the nodes the kept outputs need are planned; any other operation, a constant that
//! is a graph input, or a shape outside rank 2 leaves the whole graph to the backend.
#![allow(unsafe_code)]

use std::borrow::Cow;
use std::collections::{HashMap, HashSet};

use tract_onnx::pb;

use crate::error::{ModelError, Result};
use crate::fold::{constants, Constant};
use crate::signature::{Dim, Signature};
use crate::tensor::{ElementType, Tensor};

/// Columns per weight panel: one AVX-512 register, two AVX2 registers.
const LANES: usize = 16;
/// Rows computed together, so each loaded weight row serves four rows of the input.
const ROWS: usize = 4;

/// A planned dense graph.
pub(crate) struct DenseGraph {
    /// For each signature input: its slot and column count.
    inputs: Vec<(usize, usize)>,
    steps: Vec<Step>,
    /// For each kept output: its slot, whether it is returned as `[batch]`, its columns.
    outputs: Vec<(usize, bool, usize)>,
    slots: usize,
}

#[derive(Clone, Copy, Debug, PartialEq)]
enum Act {
    None,
    Relu,
    LeakyRelu(f32),
    Sigmoid,
    Tanh,
}

#[derive(Clone, Copy, Debug, PartialEq)]
enum BinOp {
    Add,
    Sub,
    Mul,
    Div,
}

/// One side of an element-wise operation.
enum Operand {
    /// A value of `cols` columns (1: broadcast along the row).
    Value { slot: usize, cols: usize },
    /// A constant row of one value or one per column, the same for every row.
    Row(Vec<f32>),
}

enum Step {
    /// `out = act(x @ weight + bias)`.
    Dense {
        x: usize,
        weight: Panels,
        /// One per column, padded with zeros to whole panels.
        bias: Vec<f32>,
        act: Act,
        out: usize,
    },
    Map {
        x: usize,
        act: Act,
        out: usize,
    },
    Binary {
        op: BinOp,
        a: Operand,
        b: Operand,
        cols: usize,
        out: usize,
    },
    Softmax {
        x: usize,
        cols: usize,
        out: usize,
    },
    Concat {
        xs: Vec<(usize, usize)>,
        out: usize,
    },
    ArgMax {
        x: usize,
        cols: usize,
        out: usize,
    },
}

/// What planning knows about a graph value.
#[derive(Clone, Copy)]
enum Known<'a> {
    /// A float value `[batch, cols]` in `slot`.
    Float {
        slot: usize,
        cols: usize,
    },
    /// An int64 value (from ArgMax); only a graph output may read it.
    Int {
        slot: usize,
        flat: bool,
    },
    Const(&'a Constant),
}

impl DenseGraph {
    /// Plans `graph` for the outputs `keep` (indices into `full.outputs`; all when `None`),
    /// or `None` when some node it needs is outside what this evaluator runs.
    pub(crate) fn plan(
        graph: &pb::GraphProto,
        full: &Signature,
        keep: Option<&[usize]>,
    ) -> Option<Self> {
        let output_names: Vec<&str> = match keep {
            Some(keep) => keep
                .iter()
                .map(|&i| full.outputs.get(i).map(|o| o.name.as_str()))
                .collect::<Option<_>>()?,
            None => full.outputs.iter().map(|o| o.name.as_str()).collect(),
        };
        let nodes = needed_nodes(graph, &output_names);
        // How many times each value is read (a graph output counts as a read), so a product
        // only absorbs the bias or activation that is its one reader.
        let mut reads: HashMap<&str, usize> = HashMap::new();
        for node in &nodes {
            for input in &node.input {
                *reads.entry(input.as_str()).or_default() += 1;
            }
        }
        for name in &output_names {
            *reads.entry(name).or_default() += 1;
        }
        let consts = constants(graph);
        let mut planner = Planner {
            known: HashMap::new(),
            steps: Vec::new(),
            slots: 0,
            dense_of_slot: HashMap::new(),
        };
        let mut inputs = Vec::new();
        for info in &full.inputs {
            let cols = match (info.elem_type, info.shape.as_deref()) {
                (ElementType::F32, Some([_, Dim::Fixed(cols)])) if *cols > 0 => *cols,
                _ => return None,
            };
            let slot = planner.new_slot();
            planner
                .known
                .insert(info.name.as_str(), Known::Float { slot, cols });
            inputs.push((slot, cols));
        }
        for (name, c) in &consts {
            planner.known.entry(name).or_insert(Known::Const(c));
        }
        for node in nodes {
            planner.node(node, &reads)?;
        }
        let mut outputs = Vec::new();
        for (i, name) in output_names.iter().enumerate() {
            let info = match keep {
                Some(keep) => &full.outputs[keep[i]],
                None => &full.outputs[i],
            };
            let declared = info.shape.as_deref();
            let output = match planner.known.get(name)? {
                Known::Float { slot, cols } if info.elem_type == ElementType::F32 => match declared
                {
                    None => (*slot, false, *cols),
                    Some([_, Dim::Fixed(c)]) if c != cols => return None,
                    Some([_, _]) => (*slot, false, *cols),
                    _ => return None,
                },
                Known::Int { slot, flat } if info.elem_type == ElementType::I64 => {
                    match (declared, flat) {
                        (None, _) | (Some([_]), true) | (Some([_, _]), false) => (*slot, *flat, 1),
                        _ => return None,
                    }
                }
                _ => return None,
            };
            outputs.push(output);
        }
        Some(Self {
            inputs,
            steps: planner.steps,
            outputs,
            slots: planner.slots,
        })
    }

    /// Runs the plan; the inputs were checked against the signature.
    pub(crate) fn run(&self, inputs: &[Tensor]) -> Result<Vec<Tensor>> {
        let batch = inputs.first().and_then(|t| t.shape.first()).copied();
        let n = batch.unwrap_or(0);
        let mut floats: Vec<Option<Cow<[f32]>>> = vec![None; self.slots];
        let mut ints: Vec<Option<Vec<i64>>> = vec![None; self.slots];
        for (tensor, &(slot, cols)) in inputs.iter().zip(&self.inputs) {
            let data = tensor.as_f32().ok_or_else(|| {
                ModelError::Execution("the dense evaluator needs float inputs".into())
            })?;
            if data.len() != n * cols {
                return Err(ModelError::Execution(format!(
                    "an input of {} values does not hold {n} rows of {cols}",
                    data.len()
                )));
            }
            floats[slot] = Some(Cow::Borrowed(data));
        }
        let missing = || ModelError::Execution("the dense plan read an unset value".into());
        for step in &self.steps {
            match step {
                Step::Dense {
                    x,
                    weight,
                    bias,
                    act,
                    out,
                } => {
                    let x = floats[*x].as_deref().ok_or_else(missing)?;
                    let mut y = spare(n * weight.m);
                    dense(x, n, weight, bias, *act, &mut y);
                    floats[*out] = Some(Cow::Owned(y));
                }
                Step::Map { x, act, out } => {
                    let mut y = spare(0);
                    y.extend_from_slice(floats[*x].as_deref().ok_or_else(missing)?);
                    for v in &mut y {
                        *v = act.apply(*v);
                    }
                    floats[*out] = Some(Cow::Owned(y));
                }
                Step::Binary {
                    op,
                    a,
                    b,
                    cols,
                    out,
                } => {
                    let a = operand(&floats, a).ok_or_else(missing)?;
                    let b = operand(&floats, b).ok_or_else(missing)?;
                    let mut y = spare(0);
                    for r in 0..n {
                        for c in 0..*cols {
                            y.push(op.apply(a.at(r, c), b.at(r, c)));
                        }
                    }
                    floats[*out] = Some(Cow::Owned(y));
                }
                Step::Softmax { x, cols, out } => {
                    let mut y = spare(0);
                    y.extend_from_slice(floats[*x].as_deref().ok_or_else(missing)?);
                    for row in y.chunks_exact_mut(*cols) {
                        let max = row.iter().copied().fold(f32::NEG_INFINITY, f32::max);
                        let mut sum = 0.0;
                        for v in row.iter_mut() {
                            *v = (*v - max).exp();
                            sum += *v;
                        }
                        for v in row.iter_mut() {
                            *v /= sum;
                        }
                    }
                    floats[*out] = Some(Cow::Owned(y));
                }
                Step::Concat { xs, out } => {
                    let total: usize = xs.iter().map(|(_, c)| c).sum();
                    let mut y = spare(0);
                    y.reserve(n * total);
                    let parts = xs
                        .iter()
                        .map(|(slot, cols)| Some((floats[*slot].as_deref()?, *cols)))
                        .collect::<Option<Vec<_>>>()
                        .ok_or_else(missing)?;
                    for r in 0..n {
                        for (data, cols) in &parts {
                            y.extend_from_slice(&data[r * cols..(r + 1) * cols]);
                        }
                    }
                    floats[*out] = Some(Cow::Owned(y));
                }
                Step::ArgMax { x, cols, out } => {
                    let x = floats[*x].as_deref().ok_or_else(missing)?;
                    let y = x
                        .chunks_exact(*cols)
                        .map(|row| {
                            // The first of equal maxima, as ONNX's default select_last_index=0.
                            let mut best = 0;
                            for (i, v) in row.iter().enumerate() {
                                if *v > row[best] {
                                    best = i;
                                }
                            }
                            best as i64
                        })
                        .collect();
                    ints[*out] = Some(y);
                }
            }
        }
        let outputs = self
            .outputs
            .iter()
            .enumerate()
            .map(|(i, &(slot, flat, cols))| {
                if let Some(values) = &ints[slot] {
                    let shape = if flat { vec![n] } else { vec![n, 1] };
                    return Tensor::i64(shape, values.clone());
                }
                // The last output read from a slot takes its buffer; earlier ones copy it.
                let again = self.outputs[i + 1..].iter().any(|o| o.0 == slot);
                let values = match floats[slot].take() {
                    Some(Cow::Owned(v)) if !again => v,
                    Some(values) => {
                        let copy = values.to_vec();
                        floats[slot] = Some(values);
                        copy
                    }
                    None => return Err(missing()),
                };
                Tensor::f32(vec![n, cols], values)
            })
            .collect();
        // Intermediate buffers go back to this thread's spares for the next forward pass:
        // explaining runs thousands of passes of the same sizes, and freeing and allocating
        // them each time made the allocator hand memory back to the kernel and fault it in
        // again. The `prism` binary's allocator settings avoid that too, but a host that
        // keeps glibc's defaults (the Python module) does not: there, 50,000 MLP
        // explanations take 1.06 s with the spares and 1.8 s (1.1 s of it system time)
        // without.
        SPARES.with(|spares| {
            let mut spares = spares.borrow_mut();
            for values in floats.into_iter().flatten() {
                if let Cow::Owned(v) = values {
                    if spares.len() < MAX_SPARES && v.capacity() <= MAX_SPARE_LEN {
                        spares.push(v);
                    }
                }
            }
        });
        outputs
    }
}

/// Buffers kept per thread between forward passes (see the end of [`DenseGraph::run`]),
/// and the largest kept (1 MiB): at most 16 MiB per thread stays allocated.
const MAX_SPARES: usize = 16;
const MAX_SPARE_LEN: usize = 1 << 18;

thread_local! {
    static SPARES: std::cell::RefCell<Vec<Vec<f32>>> = const { std::cell::RefCell::new(Vec::new()) };
}

/// A buffer of `len` zeros, reusing a spare one when this thread has it.
fn spare(len: usize) -> Vec<f32> {
    let mut v = SPARES
        .with(|spares| spares.borrow_mut().pop())
        .unwrap_or_default();
    v.clear();
    v.resize(len, 0.0);
    v
}

/// The nodes the named outputs depend on, in graph order.
fn needed_nodes<'a>(graph: &'a pb::GraphProto, outputs: &[&str]) -> Vec<&'a pb::NodeProto> {
    let mut wanted: HashSet<&str> = outputs.iter().copied().collect();
    let mut keep = vec![false; graph.node.len()];
    for (i, node) in graph.node.iter().enumerate().rev() {
        if node.output.iter().any(|o| wanted.contains(o.as_str())) {
            keep[i] = true;
            wanted.extend(node.input.iter().map(String::as_str));
        }
    }
    graph
        .node
        .iter()
        .zip(keep)
        .filter_map(|(node, k)| k.then_some(node))
        .collect()
}

struct Planner<'a> {
    known: HashMap<&'a str, Known<'a>>,
    steps: Vec<Step>,
    slots: usize,
    /// The Dense step that writes a slot, for fusing a bias or an activation into it.
    dense_of_slot: HashMap<usize, usize>,
}

impl<'a> Planner<'a> {
    fn new_slot(&mut self) -> usize {
        self.slots += 1;
        self.slots - 1
    }

    fn float(&self, name: &str) -> Option<(usize, usize)> {
        match self.known.get(name)? {
            Known::Float { slot, cols } => Some((*slot, *cols)),
            _ => None,
        }
    }

    /// The Dense step writing `name`, when `name` is read once and nothing was fused yet
    /// of the kind `free` allows.
    fn fusable(
        &self,
        name: &str,
        reads: &HashMap<&str, usize>,
        free: impl Fn(&Step) -> bool,
    ) -> Option<usize> {
        let (slot, _) = self.float(name)?;
        let step = *self.dense_of_slot.get(&slot)?;
        (reads.get(name) == Some(&1) && free(&self.steps[step])).then_some(step)
    }

    fn node(&mut self, node: &'a pb::NodeProto, reads: &HashMap<&str, usize>) -> Option<()> {
        if !(node.domain.is_empty() || node.domain == "ai.onnx") || node.output.len() != 1 {
            return None;
        }
        let out = node.output[0].as_str();
        let input = |i: usize| node.input.get(i).map(String::as_str);
        let known = match node.op_type.as_str() {
            "MatMul" => {
                let (x, k) = self.float(input(0)?)?;
                let w = self.constant(input(1)?)?;
                let [rows, m] = dims2(w)?;
                if rows != k {
                    return None;
                }
                self.dense(x, &w.values, k, m, None)
            }
            "Gemm" => {
                let (x, k) = self.float(input(0)?)?;
                let alpha = float_attr(node, "alpha").unwrap_or(1.0);
                let beta = float_attr(node, "beta").unwrap_or(1.0);
                if int_attr(node, "transA").unwrap_or(0) != 0 {
                    return None;
                }
                let b = self.constant(input(1)?)?;
                let [r, c] = dims2(b)?;
                let (w, m) = if int_attr(node, "transB").unwrap_or(0) != 0 {
                    // B is [m, k]: transpose it to [k, m].
                    let mut w = vec![0.0; r * c];
                    for i in 0..r {
                        for j in 0..c {
                            w[j * r + i] = b.values[i * c + j];
                        }
                    }
                    (w, r)
                } else {
                    (b.values.clone(), c)
                };
                if w.len() / m.max(1) != k {
                    return None;
                }
                let w: Vec<f32> = w.iter().map(|v| v * alpha).collect();
                let bias = match input(2).filter(|s| !s.is_empty()) {
                    Some(name) => {
                        let row = row_of(self.constant(name)?, m)?;
                        Some(row.iter().map(|v| v * beta).collect())
                    }
                    None => None,
                };
                self.dense(x, &w, k, m, bias)
            }
            op @ ("Add" | "Sub" | "Mul" | "Div") => {
                let op = match op {
                    "Add" => BinOp::Add,
                    "Sub" => BinOp::Sub,
                    "Mul" => BinOp::Mul,
                    _ => BinOp::Div,
                };
                let (a, b) = (input(0)?, input(1)?);
                if op == BinOp::Add {
                    // A bias: fold it into the product that is its one reader's input.
                    for (value, bias) in [(a, b), (b, a)] {
                        if let (Some(step), Some(c)) = (
                            self.fusable(value, reads, |s| {
                                matches!(s, Step::Dense { act: Act::None, .. })
                            }),
                            self.constant(bias),
                        ) {
                            if let Step::Dense {
                                weight,
                                bias: fused,
                                out,
                                ..
                            } = &mut self.steps[step]
                            {
                                if let Some(row) = row_of(c, weight.m) {
                                    for (f, v) in fused.iter_mut().zip(row) {
                                        *f += v;
                                    }
                                    let out = *out;
                                    self.known.insert(
                                        node.output[0].as_str(),
                                        Known::Float {
                                            slot: out,
                                            cols: weight.m,
                                        },
                                    );
                                    return Some(());
                                }
                            }
                        }
                    }
                }
                let a = self.operand(a)?;
                let b = self.operand(b)?;
                let cols = match (&a, &b) {
                    (Operand::Value { cols: x, .. }, Operand::Value { cols: y, .. }) => {
                        if x == y || *y == 1 {
                            *x
                        } else if *x == 1 {
                            *y
                        } else {
                            return None;
                        }
                    }
                    (Operand::Value { cols, .. }, Operand::Row(row))
                    | (Operand::Row(row), Operand::Value { cols, .. }) => {
                        if row.len() == *cols || row.len() == 1 {
                            *cols
                        } else if *cols == 1 {
                            row.len()
                        } else {
                            return None;
                        }
                    }
                    (Operand::Row(_), Operand::Row(_)) => return None,
                };
                let slot = self.new_slot();
                self.steps.push(Step::Binary {
                    op,
                    a,
                    b,
                    cols,
                    out: slot,
                });
                Known::Float { slot, cols }
            }
            op @ ("Relu" | "LeakyRelu" | "Sigmoid" | "Tanh") => {
                let act = match op {
                    "Relu" => Act::Relu,
                    "LeakyRelu" => Act::LeakyRelu(float_attr(node, "alpha").unwrap_or(0.01)),
                    "Sigmoid" => Act::Sigmoid,
                    _ => Act::Tanh,
                };
                let name = input(0)?;
                let (x, cols) = self.float(name)?;
                let free = |s: &Step| matches!(s, Step::Dense { act: Act::None, .. });
                if let Some(step) = self.fusable(name, reads, free) {
                    if let Step::Dense { act: fused, .. } = &mut self.steps[step] {
                        *fused = act;
                    }
                    Known::Float { slot: x, cols }
                } else {
                    let slot = self.new_slot();
                    self.steps.push(Step::Map { x, act, out: slot });
                    Known::Float { slot, cols }
                }
            }
            "Identity" => {
                let known = *self.known.get(input(0)?)?;
                if let Known::Float { slot, .. } = known {
                    // Two names for one slot: fusing into it through one would change the other.
                    self.dense_of_slot.remove(&slot);
                }
                known
            }
            "Softmax" => {
                let axis = int_attr(node, "axis").unwrap_or(-1);
                let (x, cols) = self.float(input(0)?)?;
                if axis != 1 && axis != -1 {
                    return None;
                }
                let slot = self.new_slot();
                self.steps.push(Step::Softmax { x, cols, out: slot });
                Known::Float { slot, cols }
            }
            "Concat" => {
                let axis = int_attr(node, "axis")?;
                if axis != 1 && axis != -1 {
                    return None;
                }
                let xs = node
                    .input
                    .iter()
                    .map(|name| self.float(name))
                    .collect::<Option<Vec<_>>>()?;
                let cols = xs.iter().map(|(_, c)| c).sum();
                let slot = self.new_slot();
                self.steps.push(Step::Concat { xs, out: slot });
                Known::Float { slot, cols }
            }
            "ArgMax" => {
                let axis = int_attr(node, "axis").unwrap_or(0);
                let keepdims = int_attr(node, "keepdims").unwrap_or(1);
                if (axis != 1 && axis != -1)
                    || int_attr(node, "select_last_index").unwrap_or(0) != 0
                {
                    return None;
                }
                let (x, cols) = self.float(input(0)?)?;
                let slot = self.new_slot();
                self.steps.push(Step::ArgMax { x, cols, out: slot });
                Known::Int {
                    slot,
                    flat: keepdims == 0,
                }
            }
            _ => return None,
        };
        self.known.insert(out, known);
        Some(())
    }

    fn constant(&self, name: &str) -> Option<&'a Constant> {
        match self.known.get(name)? {
            Known::Const(c) => Some(c),
            _ => None,
        }
    }

    fn operand(&self, name: &str) -> Option<Operand> {
        match self.known.get(name)? {
            Known::Float { slot, cols } => Some(Operand::Value {
                slot: *slot,
                cols: *cols,
            }),
            Known::Const(c) => {
                // A scalar, a row `[c]` / `[1, c]`: the same for every row of the batch.
                let row_like = matches!(c.dims.as_slice(), [] | [_] | [1, _]);
                row_like.then(|| Operand::Row(c.values.clone()))
            }
            Known::Int { .. } => None,
        }
    }

    /// Adds `act(x @ w + bias)` for a `[k, m]` weight.
    fn dense(
        &mut self,
        x: usize,
        w: &[f32],
        k: usize,
        m: usize,
        bias: Option<Vec<f32>>,
    ) -> Known<'a> {
        let weight = Panels::new(w, k, m);
        let mut padded = vec![0.0; weight.panels() * LANES];
        if let Some(bias) = bias {
            padded[..m].copy_from_slice(&bias);
        }
        let slot = self.new_slot();
        self.dense_of_slot.insert(slot, self.steps.len());
        self.steps.push(Step::Dense {
            x,
            weight,
            bias: padded,
            act: Act::None,
            out: slot,
        });
        Known::Float { slot, cols: m }
    }
}

/// The dimensions of a 2-D constant with no empty side.
fn dims2(c: &Constant) -> Option<[usize; 2]> {
    match c.dims.as_slice() {
        &[r, k] if r > 0 && k > 0 => Some([r as usize, k as usize]),
        _ => None,
    }
}

/// A constant as one value per column of `m` (a scalar is repeated), if it broadcasts so.
fn row_of(c: &Constant, m: usize) -> Option<Vec<f32>> {
    let shape_ok = match c.dims.as_slice() {
        [] => true,
        [d] | [1, d] => *d == 1 || *d as usize == m,
        _ => false,
    };
    match c.values.len() {
        1 if shape_ok => Some(vec![c.values[0]; m]),
        len if shape_ok && len == m => Some(c.values.clone()),
        _ => None,
    }
}

fn float_attr(node: &pb::NodeProto, name: &str) -> Option<f32> {
    node.attribute.iter().find(|a| a.name == name).map(|a| a.f)
}

fn int_attr(node: &pb::NodeProto, name: &str) -> Option<i64> {
    node.attribute.iter().find(|a| a.name == name).map(|a| a.i)
}

/// An operand resolved at run time.
enum Resolved<'s> {
    Value(&'s [f32], usize),
    Row(&'s [f32]),
}

impl Resolved<'_> {
    #[inline]
    fn at(&self, r: usize, c: usize) -> f32 {
        match self {
            Resolved::Value(data, 1) => data[r],
            Resolved::Value(data, cols) => data[r * cols + c],
            Resolved::Row([v]) => *v,
            Resolved::Row(row) => row[c],
        }
    }
}

fn operand<'s>(floats: &'s [Option<Cow<[f32]>>], o: &'s Operand) -> Option<Resolved<'s>> {
    Some(match o {
        Operand::Value { slot, cols } => Resolved::Value(floats[*slot].as_deref()?, *cols),
        Operand::Row(row) => Resolved::Row(row),
    })
}

impl BinOp {
    #[inline]
    fn apply(self, a: f32, b: f32) -> f32 {
        match self {
            BinOp::Add => a + b,
            BinOp::Sub => a - b,
            BinOp::Mul => a * b,
            BinOp::Div => a / b,
        }
    }
}

impl Act {
    #[inline]
    fn apply(self, v: f32) -> f32 {
        match self {
            Act::None => v,
            Act::Relu => v.max(0.0),
            Act::LeakyRelu(alpha) => {
                if v < 0.0 {
                    v * alpha
                } else {
                    v
                }
            }
            Act::Sigmoid => 1.0 / (1.0 + (-v).exp()),
            Act::Tanh => v.tanh(),
        }
    }
}

/// A constant weight `[k, m]` stored as `ceil(m / 16)` panels of `[k][16]`, zero-padded,
/// so the kernel reads each panel row as one contiguous 16-float load.
struct Panels {
    k: usize,
    m: usize,
    data: Vec<f32>,
}

impl Panels {
    fn new(w: &[f32], k: usize, m: usize) -> Self {
        let panels = m.div_ceil(LANES);
        let mut data = vec![0.0; panels * k * LANES];
        for p in 0..panels {
            for row in 0..k {
                for j in 0..LANES.min(m - p * LANES) {
                    data[(p * k + row) * LANES + j] = w[row * m + p * LANES + j];
                }
            }
        }
        Self { k, m, data }
    }

    fn panels(&self) -> usize {
        self.m.div_ceil(LANES)
    }
}

/// `out[n × m] = act(x[n × k] @ weight + bias)`, on the widest vector unit the CPU has.
fn dense(x: &[f32], n: usize, weight: &Panels, bias: &[f32], act: Act, out: &mut [f32]) {
    #[cfg(target_arch = "x86_64")]
    {
        if std::arch::is_x86_feature_detected!("avx512f") {
            // SAFETY: the CPU has AVX-512F (checked just above); the function only reads
            // and writes through safe slices.
            return unsafe { dense_avx512(x, n, weight, bias, act, out) };
        }
        if std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma")
        {
            // SAFETY: the CPU has AVX2 and FMA (checked just above).
            return unsafe { dense_avx2(x, n, weight, bias, act, out) };
        }
    }
    dense_portable(x, n, weight, bias, act, out);
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx2,fma")]
fn dense_avx512(x: &[f32], n: usize, weight: &Panels, bias: &[f32], act: Act, out: &mut [f32]) {
    use std::arch::x86_64::*;
    let (k, m) = (weight.k, weight.m);
    let x = &x[..n * k];
    for (p, panel) in weight.data.chunks_exact(k * LANES).enumerate() {
        let c0 = p * LANES;
        let width = LANES.min(m - c0);
        let b: &[f32; LANES] = lanes(&bias[c0..c0 + LANES]);
        // SAFETY (every load and store below): each pointer is that of a 16-float array.
        let b = unsafe { _mm512_loadu_ps(b.as_ptr()) };
        let mut blocks = x.chunks_exact(ROWS * k);
        let mut row = 0;
        for block in blocks.by_ref() {
            let (x0, rest) = block.split_at(k);
            let (x1, rest) = rest.split_at(k);
            let (x2, x3) = rest.split_at(k);
            let mut acc = [b; ROWS];
            for ((((w, &a0), &a1), &a2), &a3) in
                panel.chunks_exact(LANES).zip(x0).zip(x1).zip(x2).zip(x3)
            {
                let w = unsafe { _mm512_loadu_ps(lanes(w).as_ptr()) };
                acc[0] = _mm512_fmadd_ps(_mm512_set1_ps(a0), w, acc[0]);
                acc[1] = _mm512_fmadd_ps(_mm512_set1_ps(a1), w, acc[1]);
                acc[2] = _mm512_fmadd_ps(_mm512_set1_ps(a2), w, acc[2]);
                acc[3] = _mm512_fmadd_ps(_mm512_set1_ps(a3), w, acc[3]);
            }
            for (i, a) in acc.iter().enumerate() {
                let mut v = [0.0f32; LANES];
                unsafe { _mm512_storeu_ps(v.as_mut_ptr(), *a) };
                store(&v, act, &mut out[(row + i) * m + c0..][..width]);
            }
            row += ROWS;
        }
        for xr in blocks.remainder().chunks_exact(k) {
            let mut acc = b;
            for (w, &a) in panel.chunks_exact(LANES).zip(xr) {
                let w = unsafe { _mm512_loadu_ps(lanes(w).as_ptr()) };
                acc = _mm512_fmadd_ps(_mm512_set1_ps(a), w, acc);
            }
            let mut v = [0.0f32; LANES];
            unsafe { _mm512_storeu_ps(v.as_mut_ptr(), acc) };
            store(&v, act, &mut out[row * m + c0..][..width]);
            row += 1;
        }
    }
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
fn dense_avx2(x: &[f32], n: usize, weight: &Panels, bias: &[f32], act: Act, out: &mut [f32]) {
    use std::arch::x86_64::*;
    let (k, m) = (weight.k, weight.m);
    let x = &x[..n * k];
    for (p, panel) in weight.data.chunks_exact(k * LANES).enumerate() {
        let c0 = p * LANES;
        let width = LANES.min(m - c0);
        let b: &[f32; LANES] = lanes(&bias[c0..c0 + LANES]);
        // SAFETY (every load and store below): each pointer is that of a 16-float array,
        // read or written as two halves of 8.
        let b = unsafe {
            [
                _mm256_loadu_ps(b.as_ptr()),
                _mm256_loadu_ps(b[8..].as_ptr()),
            ]
        };
        let mut blocks = x.chunks_exact(ROWS * k);
        let mut row = 0;
        for block in blocks.by_ref() {
            let (x0, rest) = block.split_at(k);
            let (x1, rest) = rest.split_at(k);
            let (x2, x3) = rest.split_at(k);
            let mut acc = [b; ROWS];
            for ((((w, &a0), &a1), &a2), &a3) in
                panel.chunks_exact(LANES).zip(x0).zip(x1).zip(x2).zip(x3)
            {
                let w = lanes(w);
                let w = unsafe {
                    [
                        _mm256_loadu_ps(w.as_ptr()),
                        _mm256_loadu_ps(w[8..].as_ptr()),
                    ]
                };
                for (acc, a) in acc.iter_mut().zip([a0, a1, a2, a3]) {
                    let a = _mm256_set1_ps(a);
                    acc[0] = _mm256_fmadd_ps(a, w[0], acc[0]);
                    acc[1] = _mm256_fmadd_ps(a, w[1], acc[1]);
                }
            }
            for (i, a) in acc.iter().enumerate() {
                let mut v = [0.0f32; LANES];
                unsafe {
                    _mm256_storeu_ps(v.as_mut_ptr(), a[0]);
                    _mm256_storeu_ps(v[8..].as_mut_ptr(), a[1]);
                }
                store(&v, act, &mut out[(row + i) * m + c0..][..width]);
            }
            row += ROWS;
        }
        for xr in blocks.remainder().chunks_exact(k) {
            let mut acc = b;
            for (w, &a) in panel.chunks_exact(LANES).zip(xr) {
                let w = lanes(w);
                let w = unsafe {
                    [
                        _mm256_loadu_ps(w.as_ptr()),
                        _mm256_loadu_ps(w[8..].as_ptr()),
                    ]
                };
                let a = _mm256_set1_ps(a);
                acc[0] = _mm256_fmadd_ps(a, w[0], acc[0]);
                acc[1] = _mm256_fmadd_ps(a, w[1], acc[1]);
            }
            let mut v = [0.0f32; LANES];
            unsafe {
                _mm256_storeu_ps(v.as_mut_ptr(), acc[0]);
                _mm256_storeu_ps(v[8..].as_mut_ptr(), acc[1]);
            }
            store(&v, act, &mut out[row * m + c0..][..width]);
            row += 1;
        }
    }
}

/// A 16-float chunk as an array (the chunks come from `chunks_exact(LANES)` or ranges of
/// `LANES`, so the conversion cannot fail).
#[inline(always)]
fn lanes(chunk: &[f32]) -> &[f32; LANES] {
    chunk.try_into().expect("a chunk of LANES floats")
}

/// Writes the first `dst.len()` accumulated values through the activation.
#[inline(always)]
fn store(values: &[f32; LANES], act: Act, dst: &mut [f32]) {
    // The common activations get their own loops: one match per tile, not per value.
    match act {
        Act::None => dst.copy_from_slice(&values[..dst.len()]),
        Act::Relu => {
            for (d, v) in dst.iter_mut().zip(values) {
                *d = v.max(0.0);
            }
        }
        _ => {
            for (d, v) in dst.iter_mut().zip(values) {
                *d = act.apply(*v);
            }
        }
    }
}

/// The kernel in plain Rust, for CPUs without AVX2: for each panel of 16 columns, blocks
/// of four rows accumulate over `k`, one weight row serving the four rows. The x86 versions
/// above follow the same order with vector registers.
fn dense_portable(x: &[f32], n: usize, weight: &Panels, bias: &[f32], act: Act, out: &mut [f32]) {
    let (k, m) = (weight.k, weight.m);
    let x = &x[..n * k];
    for (p, panel) in weight.data.chunks_exact(k * LANES).enumerate() {
        let c0 = p * LANES;
        let width = LANES.min(m - c0);
        let b = lanes(&bias[c0..c0 + LANES]);
        let mut blocks = x.chunks_exact(ROWS * k);
        let mut row = 0;
        for block in blocks.by_ref() {
            let (x0, rest) = block.split_at(k);
            let (x1, rest) = rest.split_at(k);
            let (x2, x3) = rest.split_at(k);
            let mut acc = [*b; ROWS];
            for ((((w, &a0), &a1), &a2), &a3) in
                panel.chunks_exact(LANES).zip(x0).zip(x1).zip(x2).zip(x3)
            {
                let w = lanes(w);
                for j in 0..LANES {
                    acc[0][j] += a0 * w[j];
                    acc[1][j] += a1 * w[j];
                    acc[2][j] += a2 * w[j];
                    acc[3][j] += a3 * w[j];
                }
            }
            for (i, a) in acc.iter().enumerate() {
                store(a, act, &mut out[(row + i) * m + c0..][..width]);
            }
            row += ROWS;
        }
        for xr in blocks.remainder().chunks_exact(k) {
            let mut acc = *b;
            for (w, &a) in panel.chunks_exact(LANES).zip(xr) {
                for (acc, w) in acc.iter_mut().zip(w) {
                    *acc += a * w;
                }
            }
            store(&acc, act, &mut out[row * m + c0..][..width]);
            row += 1;
        }
    }
}

#[cfg(test)]
mod tests {
    use tract_onnx::pb;

    use super::*;
    use crate::onnx::{decode, signature_of};
    use crate::test_graphs::{model, node, value};
    use crate::tract_backend::TractGraph;

    fn constant(name: &str, dims: &[i64], seed: u32) -> pb::TensorProto {
        let count: i64 = dims.iter().product();
        pb::TensorProto {
            name: name.into(),
            dims: dims.to_vec(),
            data_type: pb::tensor_proto::DataType::Float as i32,
            float_data: (0..count as u32).map(|i| noise(seed, i)).collect(),
            ..Default::default()
        }
    }

    /// Deterministic values in [-1, 1).
    fn noise(seed: u32, i: u32) -> f32 {
        let h = (seed.wrapping_mul(0x9E37_79B9) ^ i.wrapping_mul(0x85EB_CA6B))
            .wrapping_mul(0xC2B2_AE35);
        (h >> 8) as f32 / (1u32 << 23) as f32 - 1.0
    }

    fn with_attrs(
        mut n: pb::NodeProto,
        ints: &[(&str, i64)],
        floats: &[(&str, f32)],
    ) -> pb::NodeProto {
        for (name, i) in ints {
            n.attribute.push(pb::AttributeProto {
                name: (*name).into(),
                r#type: pb::attribute_proto::AttributeType::Int as i32,
                i: *i,
                ..Default::default()
            });
        }
        for (name, f) in floats {
            n.attribute.push(pb::AttributeProto {
                name: (*name).into(),
                r#type: pb::attribute_proto::AttributeType::Float as i32,
                f: *f,
                ..Default::default()
            });
        }
        n
    }

    fn int_output(name: &str, dims: &[i64]) -> pb::ValueInfoProto {
        let mut v = value(name, dims);
        if let Some(pb::type_proto::Value::TensorType(t)) =
            v.r#type.as_mut().and_then(|t| t.value.as_mut())
        {
            t.elem_type = pb::tensor_proto::DataType::Int64 as i32;
        }
        v
    }

    /// The plan of a model's bytes (all outputs), or `None`.
    fn plan(bytes: &[u8]) -> Option<DenseGraph> {
        let proto = decode(bytes).unwrap();
        let graph = proto.graph.as_ref().unwrap();
        DenseGraph::plan(graph, &signature_of(graph).unwrap(), None)
    }

    /// Runs the graph on the dense evaluator and on tract with `rows` rows of `cols`
    /// deterministic inputs and checks every output agrees to float rounding.
    fn agrees_with_tract(bytes: &[u8], cols: usize, rows: usize) {
        let proto = decode(bytes).unwrap();
        let graph = proto.graph.as_ref().unwrap();
        let signature = signature_of(graph).unwrap();
        let dense = DenseGraph::plan(graph, &signature, None).expect("a dense plan");
        let tract = TractGraph::new(&proto, &signature, None).unwrap();
        let x = (0..rows * cols).map(|i| 3.0 * noise(7, i as u32)).collect();
        let x = [Tensor::f32(vec![rows, cols], x).unwrap()];
        let (got, want) = (dense.run(&x).unwrap(), tract.run(&x).unwrap());
        assert_eq!(got.len(), want.len());
        for (g, w) in got.iter().zip(&want) {
            assert_eq!(g.shape, w.shape, "rows {rows}");
            match (g.as_f32(), w.as_f32()) {
                (Some(g), Some(w)) => {
                    for (a, b) in g.iter().zip(w) {
                        assert!(
                            (a - b).abs() <= 1e-5 * b.abs().max(1.0),
                            "{a} vs {b} (rows {rows})"
                        );
                    }
                }
                _ => assert_eq!(g.data, w.data, "rows {rows}"),
            }
        }
    }

    /// An MLP with every fused and element-wise form: Gemm with transB, alpha and beta, a
    /// MatMul with an Add bias on either side, activations, a constant on the left of Sub,
    /// a value times a one-column value, Concat, Softmax and ArgMax.
    fn mlp() -> Vec<u8> {
        model(pb::GraphProto {
            node: vec![
                with_attrs(
                    node("Gemm", &["x", "G", "g"], "h0"),
                    &[("transB", 1)],
                    &[("alpha", 0.5), ("beta", 2.0)],
                ),
                node("Relu", &["h0"], "r0"),
                node("MatMul", &["r0", "W1"], "m1"),
                node("Add", &["b1", "m1"], "a1"),
                node("Tanh", &["a1"], "t1"),
                node("MatMul", &["t1", "W2"], "m2"),
                with_attrs(node("LeakyRelu", &["m2"], "l2"), &[], &[("alpha", 0.2)]),
                node("MatMul", &["l2", "W3"], "m3"),
                node("Add", &["m3", "b3"], "a3"),
                node("Sigmoid", &["a3"], "p"),
                node("Sub", &["one", "p"], "q"),
                node("Mul", &["l2", "q"], "lq"),
                node("Div", &["lq", "d"], "ld"),
                with_attrs(
                    node("Concat", &["q", "ld", "p"], "cat"),
                    &[("axis", 1)],
                    &[],
                ),
                with_attrs(node("Softmax", &["cat"], "probs"), &[("axis", -1)], &[]),
                with_attrs(
                    node("ArgMax", &["probs"], "label"),
                    &[("axis", 1), ("keepdims", 0)],
                    &[],
                ),
                with_attrs(node("ArgMax", &["probs"], "label2"), &[("axis", -1)], &[]),
                node("Identity", &["probs"], "same"),
            ],
            input: vec![value("x", &[-1, 5])],
            output: vec![
                value("probs", &[-1, 19]),
                int_output("label", &[-1]),
                int_output("label2", &[-1, 1]),
                value("same", &[-1, 19]),
                value("m1", &[-1, 33]),
            ],
            initializer: vec![
                constant("G", &[17, 5], 1),
                constant("g", &[17], 2),
                constant("W1", &[17, 33], 3),
                constant("b1", &[1, 33], 4),
                constant("W2", &[33, 17], 5),
                constant("W3", &[17, 1], 6),
                constant("b3", &[], 7),
                constant("one", &[1], 8),
                constant("d", &[17], 9),
            ],
            ..Default::default()
        })
    }

    #[test]
    fn an_mlp_agrees_with_tract_for_every_batch_remainder() {
        let bytes = mlp();
        for rows in [1, 2, 3, 4, 5, 8, 9, 31] {
            agrees_with_tract(&bytes, 5, rows);
        }
    }

    #[test]
    fn biases_and_activations_fuse_only_into_a_product_read_once() {
        let plan = plan(&mlp()).unwrap();
        let dense: Vec<(Act, bool)> = plan
            .steps
            .iter()
            .filter_map(|s| match s {
                Step::Dense { act, bias, .. } => Some((*act, bias.iter().any(|b| *b != 0.0))),
                _ => None,
            })
            .collect();
        // m1 is a graph output, so its bias and Tanh stay separate steps.
        assert_eq!(
            dense,
            [
                (Act::Relu, true),
                (Act::None, false),
                (Act::LeakyRelu(0.2), false),
                (Act::Sigmoid, true),
            ]
        );
    }

    #[test]
    fn two_names_for_one_product_keep_their_own_values() {
        // `a` and `b` are the same product; the bias added through `a` must not reach `b`.
        let bytes = model(pb::GraphProto {
            node: vec![
                node("MatMul", &["x", "W"], "m"),
                node("Identity", &["m"], "a"),
                node("Identity", &["m"], "b"),
                node("Add", &["a", "c"], "y"),
            ],
            input: vec![value("x", &[-1, 3])],
            output: vec![value("y", &[-1, 4]), value("b", &[-1, 4])],
            initializer: vec![constant("W", &[3, 4], 1), constant("c", &[4], 2)],
            ..Default::default()
        });
        agrees_with_tract(&bytes, 3, 6);
    }

    #[test]
    fn graphs_outside_the_evaluator_are_left_to_the_backend() {
        let matmul = |extra: Vec<pb::NodeProto>, out: &str, inputs: Vec<pb::ValueInfoProto>| {
            let mut nodes = vec![node("MatMul", &["x", "W"], "m")];
            nodes.extend(extra);
            model(pb::GraphProto {
                node: nodes,
                input: inputs,
                output: vec![value(out, &[-1, 4])],
                initializer: vec![constant("W", &[3, 4], 1)],
                ..Default::default()
            })
        };
        let x = || vec![value("x", &[-1, 3])];
        assert!(plan(&matmul(vec![], "m", x())).is_some(), "the sanity twin");
        // An operation the evaluator lacks.
        assert!(plan(&matmul(vec![node("Exp", &["m"], "e")], "e", x())).is_none());
        // The weight is also a graph input, so a caller may replace it.
        let mut inputs = x();
        inputs.push(value("W", &[3, 4]));
        assert!(plan(&matmul(vec![], "m", inputs)).is_none());
        // Not rank 2.
        assert!(plan(&matmul(vec![], "m", vec![value("x", &[-1, 2, 3])])).is_none());
        // ArgMax and Concat off the last axis.
        let argmax0 = with_attrs(node("ArgMax", &["m"], "a"), &[("keepdims", 1)], &[]);
        assert!(plan(&matmul(vec![argmax0], "a", x())).is_none());
        let concat0 = with_attrs(node("Concat", &["m", "m"], "c"), &[("axis", 0)], &[]);
        assert!(plan(&matmul(vec![concat0], "c", x())).is_none());
        // A product of two values.
        let mut inputs = x();
        inputs.push(value("v", &[-1, 3]));
        let two = model(pb::GraphProto {
            node: vec![node("MatMul", &["x", "v"], "m")],
            input: inputs,
            output: vec![value("m", &[-1, 3])],
            ..Default::default()
        });
        assert!(plan(&two).is_none());
    }

    #[test]
    fn nodes_only_unkept_outputs_need_are_not_planned() {
        let bytes = model(pb::GraphProto {
            node: vec![node("MatMul", &["x", "W"], "m"), node("Exp", &["m"], "e")],
            input: vec![value("x", &[-1, 3])],
            output: vec![value("m", &[-1, 4]), value("e", &[-1, 4])],
            initializer: vec![constant("W", &[3, 4], 1)],
            ..Default::default()
        });
        let proto = decode(&bytes).unwrap();
        let graph = proto.graph.as_ref().unwrap();
        let signature = signature_of(graph).unwrap();
        assert!(DenseGraph::plan(graph, &signature, None).is_none());
        assert!(DenseGraph::plan(graph, &signature, Some(&[0])).is_some());
    }

    type Kernel = fn(&[f32], usize, &Panels, &[f32], Act, &mut [f32]);

    /// Every kernel this CPU can run against a plain triple loop, over widths that leave
    /// partial panels and batches that leave partial row blocks.
    #[test]
    fn every_kernel_matches_a_plain_product() {
        for (n, k, m) in [
            (1, 1, 1),
            (5, 3, 16),
            (7, 30, 32),
            (9, 16, 1),
            (13, 33, 17),
            (4, 2, 40),
        ] {
            let x: Vec<f32> = (0..n * k).map(|i| noise(1, i as u32)).collect();
            let w: Vec<f32> = (0..k * m).map(|i| noise(2, i as u32)).collect();
            let b: Vec<f32> = (0..m).map(|i| noise(3, i as u32)).collect();
            let weight = Panels::new(&w, k, m);
            let mut bias = vec![0.0; weight.panels() * LANES];
            bias[..m].copy_from_slice(&b);
            let mut want = vec![0.0f32; n * m];
            for r in 0..n {
                for c in 0..m {
                    let dot: f32 = (0..k).map(|i| x[r * k + i] * w[i * m + c]).sum();
                    want[r * m + c] = (dot + b[c]).max(0.0);
                }
            }
            let mut kernels: Vec<(&str, Kernel)> = vec![("portable", dense_portable)];
            #[cfg(target_arch = "x86_64")]
            {
                if std::arch::is_x86_feature_detected!("avx2")
                    && std::arch::is_x86_feature_detected!("fma")
                {
                    kernels.push(("avx2", |x, n, w, b, a, o| {
                        // SAFETY: AVX2 and FMA were detected above.
                        unsafe { dense_avx2(x, n, w, b, a, o) }
                    }));
                }
                if std::arch::is_x86_feature_detected!("avx512f") {
                    kernels.push(("avx512", |x, n, w, b, a, o| {
                        // SAFETY: AVX-512F was detected above.
                        unsafe { dense_avx512(x, n, w, b, a, o) }
                    }));
                }
            }
            for (name, kernel) in kernels {
                let mut got = vec![f32::NAN; n * m];
                kernel(&x, n, &weight, &bias, Act::Relu, &mut got);
                for (g, w) in got.iter().zip(&want) {
                    assert!((g - w).abs() <= 1e-5, "{name} {n}x{k}x{m}: {g} vs {w}");
                }
            }
        }
    }
}
