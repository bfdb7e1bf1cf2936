//! The ONNX gradient pass: rewrites a model into one that also computes input gradients,
//! using standard ONNX operators only, so any ONNX runtime (tract here, ONNX Runtime too)
//! runs the forward and the backward pass as one graph.
//!
//! [`add_gradients`] takes a [`GradientSpec`] naming one float value of the graph (`output`,
//! usually a graph output such as the class probabilities) and the float values to
//! differentiate with respect to (`wrt`). The rewritten graph has
//!
//! * one extra input, `<output>__seed` ([`seed_name`]), shaped like `output`;
//! * after the original outputs, each `wrt` value computed by a node that is not already a
//!   graph output (an intermediate such as the output of an embedding `Gather`, so the
//!   caller can read it);
//! * then one output per `wrt` value, `<wrt>__grad` ([`grad_name`]), holding
//!   d(Σ seed · output) / d(wrt), shaped like `wrt`.
//!
//! Seeding with a one-hot row per example gives the gradient of one class score, batched.
//! Inputs that are not differentiable (token ids) are handled by naming the float tensor
//! they select (the embedding output, found by [`embedding_outputs`]) as a `wrt` value,
//! or by first making it an input with [`cut_at`].
//!
//! # How it works
//!
//! The pass walks the nodes backwards from `output`, skipping nodes that do not depend on a
//! `wrt` value, and emits each node's vector-Jacobian product from a table of per-op rules
//! (`rules`, one `register_all` per op family). Contributions to a value used several times
//! are added with `Sum`. Rules that need static facts (which axes were broadcast, the
//! channel count of a pool, the spatial sizes a `ConvTranspose` must reproduce, the sizes
//! of `Concat` operands) read them from tract's inference analysis of the forward graph,
//! run with the batch axis symbolic (see `facts`); everything batch-dependent is computed in
//! the graph (`Shape`, `Reshape` with `0`), so one rewritten model serves every batch size.
//! The original nodes are kept unchanged: the new ones are appended after them.
//!
//! The pass rewrites the ONNX ModelProto rather than tract's `TypedModel`: the result must
//! stay a standard ONNX graph so that ONNX Runtime runs it as well as tract.
//!
//! Gradients flow only along the data path from the `wrt` values: weights are treated as
//! constants, and a rule fails with [`ModelError::GradientUnsupported`] when the path runs
//! through an operand it does not handle (say, convolution weights computed from the input).
//!
//! LSTM and GRU nodes on the path are first unrolled over their (fixed) sequence length
//! into the ops they are made of (see `lower`), which the rules then differentiate.
//!
//! [`supported_ops`] lists the op types the pass handles. Known limits: control flow (If,
//! Loop, Scan), RNN and non-default domains have no rule; LSTM and GRU with custom
//! activations, `clip` or `sequence_lens` are not unrolled; Pad only in constant mode;
//! Einsum without ellipses; pools and strided convolutions need fixed spatial sizes (the
//! batch, and the image size for unit-stride convolutions and global average pooling, may
//! stay symbolic); overlapping max pools use ScatterElements' `reduction` from opset 16
//! and disjoint groups of windows before. The tests check every rule against finite
//! differences on tract, and `tests/gradient/ort_replay.py` replays the rewritten test
//! models on ONNX Runtime.
//!
//! ```no_run
//! use prism_model::gradient::{add_gradients, grad_name, seed_name, GradientSpec};
//! use prism_model::{Model, OnnxModel, Tensor};
//! use prost::Message;
//!
//! let bytes = std::fs::read("testdata/models/breast_cancer_mlp/model.onnx").unwrap();
//! let proto = tract_onnx::pb::ModelProto::decode(bytes.as_slice()).unwrap();
//! let spec = GradientSpec { output: "probabilities".into(), wrt: vec!["input".into()] };
//! let grad_model = add_gradients(&proto, &spec)?;
//! let model = OnnxModel::from_bytes(&grad_model.encode_to_vec())?;
//! assert_eq!(model.signature().inputs[1].name, seed_name("probabilities"));
//! let x = Tensor::f32(vec![1, 30], vec![1.0; 30])?;
//! let seed = Tensor::f32(vec![1, 2], vec![0.0, 1.0])?;
//! let outputs = model.forward(&[x, seed])?;
//! let grad = &outputs[model.signature().output_index(&grad_name("input")).unwrap()];
//! assert_eq!(grad.shape, vec![1, 30]);
//! # Ok::<(), prism_model::ModelError>(())
//! ```

use std::collections::{HashMap, HashSet};

use tract_onnx::pb;

use crate::error::{ModelError, Result};

mod emit;
mod facts;
mod lower;
mod rules;

use emit::Emitter;
use facts::Facts;
use rules::Step;

/// What to differentiate: `output` with respect to each of `wrt`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GradientSpec {
    /// The float value whose seeded sum is differentiated (usually a graph output).
    pub output: String,
    /// The float values to differentiate with respect to: graph inputs, or any intermediate
    /// value (which then also becomes a graph output).
    pub wrt: Vec<String>,
}

/// The name of the seed input added for `output`.
pub fn seed_name(output: &str) -> String {
    format!("{output}__seed")
}

/// The name of the gradient output added for `wrt`.
pub fn grad_name(wrt: &str) -> String {
    format!("{wrt}__grad")
}

/// The op types the pass can differentiate (with a rule, or unrolled), sorted.
pub fn supported_ops() -> Vec<&'static str> {
    let mut ops = rules::table().op_types();
    ops.extend(lower::RECURRENT);
    ops.sort_unstable();
    ops
}

/// The float tensors that the integer input `input` (token or category ids) selects: the
/// outputs of the `Gather` nodes whose indices are computed from `input` and whose data
/// is not, in graph order. Naming them as `wrt` values attributes the ids through their
/// embeddings.
pub fn embedding_outputs(model: &pb::ModelProto, input: &str) -> Vec<String> {
    let Some(graph) = model.graph.as_ref() else {
        return vec![];
    };
    let mut dep: HashSet<&str> = HashSet::from([input]);
    let mut found = vec![];
    for node in topological_order(graph).into_iter().map(|i| &graph.node[i]) {
        let uses = |ix: usize| node.input.get(ix).is_some_and(|i| dep.contains(i.as_str()));
        if node.op_type == "Gather" && uses(1) && !uses(0) {
            found.extend(node.output.first().cloned());
            continue;
        }
        if node.input.iter().any(|i| dep.contains(i.as_str())) {
            dep.extend(node.output.iter().map(String::as_str));
        }
    }
    found
}

/// [`embedding_outputs`] of a serialised model.
pub fn embedding_outputs_in(bytes: &[u8], input: &str) -> Result<Vec<String>> {
    use prost::Message;
    let model = pb::ModelProto::decode(bytes).map_err(|e| ModelError::Corrupt(e.to_string()))?;
    Ok(embedding_outputs(&model, input))
}

/// `model` with the intermediate float `values` turned into graph inputs (appended after
/// the existing ones, typed like the values): the nodes computing them, and whatever only
/// those nodes needed, are removed; the other inputs stay. Cutting at an embedding output
/// lets attribution methods feed embeddings directly (Integrated Gradients interpolates
/// between a baseline's embeddings and the instance's) and differentiate with respect to
/// them.
pub fn cut_at(model: &pb::ModelProto, values: &[String]) -> Result<pb::ModelProto> {
    let graph = model
        .graph
        .as_ref()
        .ok_or_else(|| ModelError::Corrupt("the ModelProto has no graph".into()))?;
    let facts = Facts::analyse(model)?;
    for v in values {
        if !facts.is_float(v) {
            return Err(ModelError::InvalidGradientSpec(format!(
                "'{v}' is not a float value of the graph"
            )));
        }
        if graph.input.iter().any(|i| &i.name == v) {
            return Err(ModelError::InvalidGradientSpec(format!(
                "'{v}' is already a graph input"
            )));
        }
    }
    let cut: HashSet<&str> = values.iter().map(String::as_str).collect();
    // Keep the nodes the outputs still need once the cut values come from outside.
    let mut needed: HashSet<&str> = graph.output.iter().map(|o| o.name.as_str()).collect();
    let mut keep = vec![false; graph.node.len()];
    for i in topological_order(graph).into_iter().rev() {
        let node = &graph.node[i];
        let produces_needed = node
            .output
            .iter()
            .any(|o| needed.contains(o.as_str()) && !cut.contains(o.as_str()));
        if produces_needed {
            keep[i] = true;
            needed.extend(node.input.iter().map(String::as_str));
        }
    }
    let mut inputs = vec![];
    for v in values {
        inputs.push(value_info(graph, &facts, v, v)?);
    }
    let mut out = model.clone();
    let g = out.graph.as_mut().expect("checked above");
    g.node = graph
        .node
        .iter()
        .zip(&keep)
        .filter(|(_, k)| **k)
        .map(|(n, _)| n.clone())
        .collect();
    g.input.extend(inputs);
    Ok(out)
}

/// A prepared model that computes only `values`, in that order: graph outputs, or
/// intermediate values of the graph (an embedding layer named by `latentSpaceSource`), which
/// become graph outputs.
pub fn values_model(bytes: &[u8], values: &[String]) -> Result<crate::OnnxModel> {
    use prost::Message;
    let mut proto = crate::onnx::decode(bytes)?;
    let graph = proto
        .graph
        .as_ref()
        .ok_or_else(|| ModelError::Corrupt("the ModelProto has no graph".into()))?
        .clone();
    let missing: Vec<&String> = values
        .iter()
        .filter(|v| graph.output.iter().all(|o| &o.name != *v))
        .collect();
    if !missing.is_empty() {
        let facts = Facts::analyse(&proto)?;
        let mut outputs = Vec::with_capacity(missing.len());
        for v in missing {
            if !facts.contains(v) {
                return Err(ModelError::BadInput {
                    input: v.clone(),
                    message: "the graph has no value of this name".into(),
                });
            }
            outputs.push(value_info(&graph, &facts, v, v)?);
        }
        proto
            .graph
            .as_mut()
            .expect("checked above")
            .output
            .extend(outputs);
    }
    let names: Vec<&str> = values.iter().map(String::as_str).collect();
    crate::OnnxModel::from_bytes_with_outputs(&proto.encode_to_vec(), &names)
}

/// The input [`add_offsets`] adds for `value`.
pub fn offset_name(value: &str) -> String {
    format!("{value}__offset")
}

/// The output [`add_offsets`] adds for `value`: its value before the offset.
pub fn raw_name(value: &str) -> String {
    format!("{value}__raw")
}

/// `model` with each intermediate float value `v` of `values` made steerable: the node
/// computing it now writes [`raw_name`]`(v)`, which also becomes a graph output, and
/// `v = raw + offset` where the offset is a new graph input ([`offset_name`]`(v)`, shaped
/// like `v`). With zero offsets the model computes what it did; an offset of `target − raw`
/// runs the rest of the graph on `target`. This is how a path method walks the embedding
/// space of token ids in one graph: the ids feed the embedding as usual, the offset moves
/// the embedding along the path, and the gradient with respect to the offset is the
/// gradient with respect to the embedding.
pub fn add_offsets(model: &pb::ModelProto, values: &[String]) -> Result<pb::ModelProto> {
    let mut out = model.clone();
    if values.is_empty() {
        return Ok(out);
    }
    let graph = model
        .graph
        .as_ref()
        .ok_or_else(|| ModelError::Corrupt("the ModelProto has no graph".into()))?;
    let facts = Facts::analyse(model)?;
    let taken = taken_names(graph);
    let g = out.graph.as_mut().expect("checked above");
    for v in values {
        if !facts.is_float(v) {
            return Err(ModelError::InvalidGradientSpec(format!(
                "'{v}' is not a float value of the graph"
            )));
        }
        let (raw, offset) = (raw_name(v), offset_name(v));
        if taken.contains(&raw) || taken.contains(&offset) {
            return Err(ModelError::InvalidGradientSpec(format!(
                "the graph already has a value named '{raw}' or '{offset}'"
            )));
        }
        let Some(at) = g.node.iter().position(|n| n.output.contains(v)) else {
            return Err(ModelError::InvalidGradientSpec(format!(
                "'{v}' is not computed by a node (a graph input can be fed directly)"
            )));
        };
        for o in g.node[at].output.iter_mut().filter(|o| *o == v) {
            o.clone_from(&raw);
        }
        // Right after its producer, so the node list stays in topological order.
        g.node.insert(
            at + 1,
            pb::NodeProto {
                input: vec![raw.clone(), offset.clone()],
                output: vec![v.clone()],
                name: format!("{v}__add_offset"),
                op_type: "Add".into(),
                ..Default::default()
            },
        );
        g.input.push(value_info(graph, &facts, v, &offset)?);
        g.output.push(value_info(graph, &facts, v, &raw)?);
    }
    Ok(out)
}

/// Decodes the ONNX model in `bytes`, adds the gradients `spec` asks for and prepares the
/// result to run (on tract).
pub fn gradient_model(bytes: &[u8], spec: &GradientSpec) -> Result<crate::OnnxModel> {
    use prost::Message;
    let proto = crate::onnx::decode(bytes)?;
    let rewritten = add_gradients(&proto, spec)?;
    crate::OnnxModel::from_bytes(&rewritten.encode_to_vec())
}

/// Like [`gradient_model`], but the prepared model computes only `spec.output` (when it is
/// a graph output) and the gradients, in that order: what attribution methods read, without
/// the work other outputs (an `ArgMax` label) would cost on every step.
pub fn lean_gradient_model(bytes: &[u8], spec: &GradientSpec) -> Result<crate::OnnxModel> {
    lean_gradient_model_with_offsets(bytes, spec, &[])
}

/// Like [`lean_gradient_model`] on the model with [`add_offsets`]`(offsets)` applied: the
/// outputs are `spec.output`, then each offset value's [`raw_name`], then the gradients.
/// `spec.wrt` names the offset inputs ([`offset_name`]) to differentiate by them.
pub fn lean_gradient_model_with_offsets(
    bytes: &[u8],
    spec: &GradientSpec,
    offsets: &[String],
) -> Result<crate::OnnxModel> {
    lean_gradient_model_with(bytes, spec, offsets, crate::Backend::Tract)
}

/// [`lean_gradient_model_with_offsets`], prepared on `backend`.
pub fn lean_gradient_model_with(
    bytes: &[u8],
    spec: &GradientSpec,
    offsets: &[String],
    backend: crate::Backend,
) -> Result<crate::OnnxModel> {
    use prost::Message;
    let proto = add_offsets(&crate::onnx::decode(bytes)?, offsets)?;
    let rewritten = add_gradients(&proto, spec)?;
    let is_output = proto
        .graph
        .as_ref()
        .is_some_and(|g| g.output.iter().any(|o| o.name == spec.output));
    let raws: Vec<String> = offsets.iter().map(|v| raw_name(v)).collect();
    let grads: Vec<String> = spec.wrt.iter().map(|w| grad_name(w)).collect();
    let keep: Vec<&str> = is_output
        .then_some(spec.output.as_str())
        .into_iter()
        .chain(raws.iter().map(String::as_str))
        .chain(grads.iter().map(String::as_str))
        .collect();
    crate::OnnxModel::from_bytes_with(&rewritten.encode_to_vec(), Some(&keep), backend)
}

/// Rewrites `model` into one that also outputs the gradients `spec` asks for; see the
/// [module documentation](self) for the inputs and outputs it adds.
pub fn add_gradients(model: &pb::ModelProto, spec: &GradientSpec) -> Result<pb::ModelProto> {
    let graph = model
        .graph
        .as_ref()
        .ok_or_else(|| ModelError::Corrupt("the ModelProto has no graph".into()))?;
    // Recurrent ops on the path are unrolled first; the result keeps their outputs' names.
    let lowered = lower::lower_recurrent(
        model,
        &spec.wrt,
        &topological_order(graph),
        taken_names(graph),
    )?;
    let model = lowered.as_ref().unwrap_or(model);
    let graph = model.graph.as_ref().expect("the lowering keeps the graph");
    let facts = Facts::analyse(model)?;
    check_spec(graph, &facts, spec)?;
    let opset = model
        .opset_import
        .iter()
        .find(|o| o.domain.is_empty() || o.domain == "ai.onnx")
        .map_or(1, |o| o.version);

    // Values that depend on a wrt value through float tensors (integer values such as
    // shapes, indices or argmaxes carry no gradient).
    let mut dep: HashSet<&str> = spec.wrt.iter().map(String::as_str).collect();
    let order = topological_order(graph);
    for node in order.iter().map(|&i| &graph.node[i]) {
        if node.input.iter().any(|i| dep.contains(i.as_str())) {
            for o in &node.output {
                // Unknown types count as float: the rules then fail loudly instead of
                // the path being cut silently.
                if !o.is_empty() && facts.may_be_float(o) {
                    dep.insert(o);
                }
            }
        }
    }

    let mut emitter = Emitter::new(&facts, opset, taken_names(graph));
    let seed = seed_name(&spec.output);
    let mut acc = Accumulator::default();
    acc.push(&spec.output, seed.clone());
    let table = rules::table();
    for node in order.iter().rev().map(|&i| &graph.node[i]) {
        let wants: Vec<bool> = node
            .input
            .iter()
            .map(|i| !i.is_empty() && dep.contains(i.as_str()))
            .collect();
        if !wants.iter().any(|w| *w) || !node.output.iter().any(|o| acc.has(o)) {
            continue;
        }
        let dys: Vec<Option<String>> = node
            .output
            .iter()
            .map(|o| acc.total(o, &mut emitter))
            .collect();
        let default_domain = node.domain.is_empty() || node.domain == "ai.onnx";
        let rule = table
            .get(&node.op_type)
            .filter(|_| default_domain)
            .ok_or_else(|| ModelError::GradientUnsupported {
                op_type: node.op_type.clone(),
                node: crate::tract_backend::node_label(node),
                reason: "the gradient pass has no rule for this operator".into(),
            })?;
        let step = Step { node, dys, wants };
        for (ix, g) in rule(&mut emitter, &step)? {
            if step.wants(ix) {
                acc.push(&node.input[ix], g);
            }
        }
    }

    let mut grads = Vec::with_capacity(spec.wrt.len());
    for w in &spec.wrt {
        let g = match acc.total(w, &mut emitter) {
            Some(g) => g,
            // The output does not depend on this value: its gradient is zero.
            None => emitter.zeros_like(w)?,
        };
        grads.push(g);
    }
    for (w, g) in spec.wrt.iter().zip(&grads) {
        emitter.push("Identity", &[g], &[&grad_name(w)], vec![]);
    }

    let mut out = model.clone();
    let g = out.graph.as_mut().expect("checked above");
    g.node.extend(emitter.into_nodes());
    g.input
        .push(value_info(graph, &facts, &spec.output, &seed)?);
    let outputs: HashSet<&str> = graph.output.iter().map(|o| o.name.as_str()).collect();
    let produced: HashSet<&str> = graph
        .node
        .iter()
        .flat_map(|n| n.output.iter().map(String::as_str))
        .collect();
    for w in &spec.wrt {
        if produced.contains(w.as_str()) && !outputs.contains(w.as_str()) {
            g.output.push(value_info(graph, &facts, w, w)?);
        }
    }
    for w in &spec.wrt {
        g.output.push(value_info(graph, &facts, w, &grad_name(w))?);
    }
    Ok(out)
}

/// Gradient contributions per value, summed once when first needed.
#[derive(Default)]
struct Accumulator {
    terms: HashMap<String, Vec<String>>,
    totals: HashMap<String, String>,
}

impl Accumulator {
    fn push(&mut self, value: &str, grad: String) {
        self.terms.entry(value.to_string()).or_default().push(grad);
    }

    fn has(&self, value: &str) -> bool {
        self.terms.contains_key(value)
    }

    fn total(&mut self, value: &str, emitter: &mut Emitter<'_>) -> Option<String> {
        if let Some(t) = self.totals.get(value) {
            return Some(t.clone());
        }
        let terms = self.terms.get(value)?.clone();
        let total = emitter.sum(terms);
        self.totals.insert(value.to_string(), total.clone());
        Some(total)
    }
}

fn check_spec(graph: &pb::GraphProto, facts: &Facts, spec: &GradientSpec) -> Result<()> {
    let bad = |m: String| Err(ModelError::InvalidGradientSpec(m));
    // An output whose type inference could not tell (one computed by an ai.onnx.ml op) may
    // pass: the op's missing rule then names the real problem.
    let float_value = |name: &str, role: &str| -> Result<()> {
        if !facts.contains(name) {
            return bad(format!("the graph has no value named '{name}' ({role})"));
        }
        let float = if role == "output" {
            facts.may_be_float(name)
        } else {
            facts.is_float(name)
        };
        if !float {
            return bad(format!(
                "'{name}' ({role}) does not hold floating point values; name the float \
                 tensor it selects (e.g. an embedding output) instead"
            ));
        }
        Ok(())
    };
    float_value(&spec.output, "output")?;
    if spec.wrt.is_empty() {
        return bad("no values to differentiate with respect to".into());
    }
    let mut seen = HashSet::new();
    for w in &spec.wrt {
        float_value(w, "wrt")?;
        if !seen.insert(w) {
            return bad(format!("'{w}' is named twice in wrt"));
        }
    }
    let taken = taken_names(graph);
    for name in
        std::iter::once(seed_name(&spec.output)).chain(spec.wrt.iter().map(|w| grad_name(w)))
    {
        if taken.contains(&name) {
            return bad(format!("the graph already has a value named '{name}'"));
        }
    }
    Ok(())
}

/// Node indices in a topological order: ONNX requires graphs to be sorted, but tract
/// accepts unsorted ones, and the backward walk must see every consumer of a value before
/// its producer. Keeps the file order where it is already valid (Kahn's algorithm taking
/// the earliest ready node first).
fn topological_order(graph: &pb::GraphProto) -> Vec<usize> {
    let mut producer: HashMap<&str, usize> = HashMap::new();
    for (i, n) in graph.node.iter().enumerate() {
        for o in n.output.iter().filter(|o| !o.is_empty()) {
            producer.insert(o, i);
        }
    }
    let mut pending = vec![0usize; graph.node.len()];
    let mut consumers: Vec<Vec<usize>> = vec![vec![]; graph.node.len()];
    for (i, n) in graph.node.iter().enumerate() {
        for input in &n.input {
            if let Some(&p) = producer.get(input.as_str()) {
                if p != i {
                    pending[i] += 1;
                    consumers[p].push(i);
                }
            }
        }
    }
    let mut ready: std::collections::BTreeSet<usize> =
        (0..graph.node.len()).filter(|&i| pending[i] == 0).collect();
    let mut order = Vec::with_capacity(graph.node.len());
    while let Some(i) = ready.pop_first() {
        order.push(i);
        for &c in &consumers[i] {
            pending[c] -= 1;
            if pending[c] == 0 {
                ready.insert(c);
            }
        }
    }
    // A cycle (invalid anyway): keep the rest in file order.
    if order.len() < graph.node.len() {
        let seen: HashSet<usize> = order.iter().copied().collect();
        order.extend((0..graph.node.len()).filter(|i| !seen.contains(i)));
    }
    order
}

/// Every value and node name of the graph.
fn taken_names(graph: &pb::GraphProto) -> HashSet<String> {
    let mut names: HashSet<String> = HashSet::new();
    names.extend(graph.input.iter().map(|v| v.name.clone()));
    names.extend(graph.output.iter().map(|v| v.name.clone()));
    names.extend(graph.initializer.iter().map(|t| t.name.clone()));
    for n in &graph.node {
        names.insert(n.name.clone());
        names.extend(n.input.iter().cloned());
        names.extend(n.output.iter().cloned());
    }
    names
}

/// A ValueInfo called `name` typed like the value `like`: the declared graph input/output
/// type when there is one, else the analysed element type and shape (symbolic dimensions
/// become `dim_param`s).
fn value_info(
    graph: &pb::GraphProto,
    facts: &Facts,
    like: &str,
    name: &str,
) -> Result<pb::ValueInfoProto> {
    let declared = graph
        .input
        .iter()
        .chain(&graph.output)
        .chain(&graph.value_info)
        .find(|v| v.name == like && has_shape(v));
    if let Some(v) = declared {
        return Ok(pb::ValueInfoProto {
            name: name.into(),
            r#type: v.r#type.clone(),
            ..Default::default()
        });
    }
    use pb::tensor_shape_proto::dimension::Value as D;
    let dt = facts.datum_type(like)?;
    let elem_type = emit::onnx_type(dt).ok_or_else(|| {
        ModelError::InvalidGradientSpec(format!("'{like}' has unsupported type {dt:?}"))
    })?;
    let dim = facts
        .shape(like)?
        .iter()
        .map(|d| pb::tensor_shape_proto::Dimension {
            value: Some(match d.to_i64() {
                Ok(v) => D::DimValue(v),
                Err(_) => D::DimParam(d.to_string()),
            }),
            ..Default::default()
        })
        .collect();
    Ok(pb::ValueInfoProto {
        name: name.into(),
        r#type: Some(pb::TypeProto {
            value: Some(pb::type_proto::Value::TensorType(pb::type_proto::Tensor {
                elem_type,
                shape: Some(pb::TensorShapeProto { dim }),
            })),
            ..Default::default()
        }),
        ..Default::default()
    })
}

fn has_shape(v: &pb::ValueInfoProto) -> bool {
    matches!(
        v.r#type.as_ref().and_then(|t| t.value.as_ref()),
        Some(pb::type_proto::Value::TensorType(t)) if t.shape.is_some()
    )
}
