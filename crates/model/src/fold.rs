//! Folds per-feature affine input transforms into the first matrix product.
//!
//! Tabular models usually start with a scaler: `(x - mean) / scale`, then `MatMul(W)` and a
//! bias `Add(b)`. Explaining one instance evaluates the graph on hundreds of rows, and
//! profiling showed the runtimes' generic broadcasting path for those constant element-wise
//! ops costing about a quarter of the work on such models. Since
//! `((x - m) / s) @ W + b = x @ (W / s[:, None]) + (b - (m / s) @ W)`, the chain is rewritten
//! at load into one `MatMul` and one `Add` with new constants. The graph's inputs and outputs
//! are unchanged and its outputs equal up to float rounding; intermediate values that
//! anything else reads (another node, a graph output) block the rewrite.

use std::collections::HashMap;

use tract_onnx::pb;

/// A float constant of the graph.
pub(crate) struct Constant {
    pub(crate) values: Vec<f32>,
    pub(crate) dims: Vec<i64>,
}

/// `y = x * scale + shift`, per feature along the last axis.
struct Affine {
    scale: Vec<f32>,
    shift: Vec<f32>,
}

/// Rewrites every foldable chain in the graph; returns how many were folded.
pub(crate) fn fold_input_affine(graph: &mut pb::GraphProto) -> usize {
    // Subgraphs (If, Loop, Scan) may read outer values by name, which the reader count
    // below would miss.
    if graph.node.iter().any(|n| {
        n.attribute
            .iter()
            .any(|a| a.g.is_some() || !a.graphs.is_empty())
    }) {
        return 0;
    }
    let mut folded = 0;
    // One chain at a time: each rewrite changes the node list.
    while let Some(plan) = find_chain(graph) {
        apply(graph, plan);
        folded += 1;
    }
    folded
}

/// A chain found: `nodes` (indices of the element-wise ops, then the MatMul, then the bias
/// Add if there is one), its input, the combined transform and the weight.
struct Plan {
    nodes: Vec<usize>,
    input: String,
    affine: Affine,
    weight: (Vec<f32>, usize, usize),
    bias: Option<Vec<f32>>,
    /// The tensor the rewritten chain must produce.
    output: String,
}

fn find_chain(graph: &pb::GraphProto) -> Option<Plan> {
    let constants = constants(graph);
    let consumers = consumers(graph);
    let outputs: Vec<&str> = graph.output.iter().map(|o| o.name.as_str()).collect();
    // Only the value's own reader may see an intermediate.
    let private =
        |name: &str| consumers.get(name).map(Vec::len) == Some(1) && !outputs.contains(&name);
    for (start, node) in graph.node.iter().enumerate() {
        if elementwise(node, &constants).is_none() {
            continue;
        }
        // The chain must start here: its input is not itself a foldable op's private output.
        let input = node.input[0].clone();
        if let Some(producer) = graph.node.iter().find(|n| n.output.contains(&input)) {
            if elementwise(producer, &constants).is_some() && private(&input) {
                continue;
            }
        }
        let mut nodes = vec![start];
        let mut ops = vec![elementwise(node, &constants)?];
        let mut current = node.output[0].clone();
        let matmul = loop {
            if !private(&current) {
                break None;
            }
            let next = consumers[current.as_str()][0];
            let n = &graph.node[next];
            if n.input.first() != Some(&current) {
                break None;
            }
            if n.op_type == "MatMul" {
                break Some(next);
            }
            match elementwise(n, &constants) {
                Some(op) => {
                    ops.push(op);
                    nodes.push(next);
                    current = n.output[0].clone();
                }
                None => break None,
            }
        };
        let Some(matmul) = matmul else { continue };
        let Some(w) = constants.get(graph.node[matmul].input[1].as_str()) else {
            continue;
        };
        let [k, h] = w.dims[..] else { continue };
        let (k, h) = (k as usize, h as usize);
        let Some(affine) = combine(&ops, k) else {
            continue;
        };
        if affine
            .scale
            .iter()
            .chain(&affine.shift)
            .any(|v| !v.is_finite())
        {
            continue;
        }
        nodes.push(matmul);
        let mut output = graph.node[matmul].output[0].clone();
        let mut bias = None;
        if private(&output) {
            let next = consumers[output.as_str()][0];
            let n = &graph.node[next];
            if n.op_type == "Add" && n.input.len() == 2 {
                let other = if n.input[0] == output {
                    &n.input[1]
                } else {
                    &n.input[0]
                };
                if let Some(b) = constants.get(other.as_str()) {
                    if per_feature(b, h) {
                        bias = Some(expand(&b.values, h));
                        nodes.push(next);
                        output = n.output[0].clone();
                    }
                }
            }
        }
        return Some(Plan {
            nodes,
            input,
            affine,
            weight: (w.values.clone(), k, h),
            bias,
            output,
        });
    }
    None
}

/// One element-wise op with a constant per-feature right operand: (op, operand).
fn elementwise<'a>(
    node: &pb::NodeProto,
    constants: &'a HashMap<&str, Constant>,
) -> Option<(&'static str, &'a Constant)> {
    let op = match node.op_type.as_str() {
        "Sub" => "Sub",
        "Add" => "Add",
        "Mul" => "Mul",
        "Div" => "Div",
        _ => return None,
    };
    if node.input.len() != 2 || node.output.len() != 1 || !node.domain.is_empty() {
        return None;
    }
    // The variable operand comes first; a constant first operand would change the shape
    // reasoning (and `c - x` is not `x - c`).
    if constants.contains_key(node.input[0].as_str()) {
        return None;
    }
    constants.get(node.input[1].as_str()).map(|c| (op, c))
}

/// The ops composed into one per-feature transform over `k` features, if every operand
/// broadcasts along the last axis only.
fn combine(ops: &[(&str, &Constant)], k: usize) -> Option<Affine> {
    let mut scale = vec![1.0f32; k];
    let mut shift = vec![0.0f32; k];
    for (op, constant) in ops {
        if !per_feature(constant, k) {
            return None;
        }
        let c = expand(&constant.values, k);
        for j in 0..k {
            match *op {
                "Sub" => shift[j] -= c[j],
                "Add" => shift[j] += c[j],
                "Mul" => {
                    scale[j] *= c[j];
                    shift[j] *= c[j];
                }
                "Div" => {
                    if c[j] == 0.0 {
                        return None;
                    }
                    scale[j] /= c[j];
                    shift[j] /= c[j];
                }
                _ => return None,
            }
        }
    }
    Some(Affine { scale, shift })
}

/// A constant of shape `[]`, `[1]`, `[k]` or `[1, …, 1, k]`: it broadcasts per feature and
/// never widens the variable operand's shape.
fn per_feature(c: &Constant, k: usize) -> bool {
    let values = &c.values;
    let (last, rest) = match c.dims.split_last() {
        None => return values.len() == 1,
        Some(split) => split,
    };
    rest.iter().all(|&d| d == 1)
        && (*last as usize == k || *last == 1)
        && c.dims.len() <= 2
        && values.len() == *last as usize
}

fn expand(values: &[f32], k: usize) -> Vec<f32> {
    if values.len() == 1 {
        vec![values[0]; k]
    } else {
        values.to_vec()
    }
}

fn apply(graph: &mut pb::GraphProto, plan: Plan) {
    let (w, k, h) = plan.weight;
    let Affine { scale, shift } = plan.affine;
    // W' = diag(scale) W;  b' = b + shift W (accumulated in f64).
    let mut folded_w = vec![0f32; k * h];
    let mut folded_b = vec![0f64; h];
    for i in 0..k {
        for j in 0..h {
            folded_w[i * h + j] = scale[i] * w[i * h + j];
            folded_b[j] += f64::from(shift[i]) * f64::from(w[i * h + j]);
        }
    }
    let bias: Vec<f32> = match &plan.bias {
        Some(b) => b
            .iter()
            .zip(&folded_b)
            .map(|(b, s)| (f64::from(*b) + s) as f32)
            .collect(),
        None => folded_b.iter().map(|&s| s as f32).collect(),
    };
    let tag = format!("prism_folded_{}", plan.nodes[0]);
    let w_name = format!("{tag}_weight");
    let b_name = format!("{tag}_bias");
    let product = format!("{tag}_product");
    graph
        .initializer
        .push(float_initializer(&w_name, &[k as i64, h as i64], &folded_w));
    graph
        .initializer
        .push(float_initializer(&b_name, &[h as i64], &bias));
    let matmul = pb::NodeProto {
        name: format!("{tag}_matmul"),
        op_type: "MatMul".into(),
        input: vec![plan.input, w_name],
        output: vec![product.clone()],
        ..Default::default()
    };
    let add = pb::NodeProto {
        name: format!("{tag}_add"),
        op_type: "Add".into(),
        input: vec![product, b_name],
        output: vec![plan.output],
        ..Default::default()
    };
    // The new nodes take the first removed node's place, which keeps the list in
    // topological order (every input of the chain was available there).
    let first = plan.nodes[0];
    let mut kept = Vec::with_capacity(graph.node.len());
    for (i, node) in std::mem::take(&mut graph.node).into_iter().enumerate() {
        if i == first {
            kept.push(matmul.clone());
            kept.push(add.clone());
        }
        if !plan.nodes.contains(&i) {
            kept.push(node);
        }
    }
    graph.node = kept;
}

fn float_initializer(name: &str, dims: &[i64], values: &[f32]) -> pb::TensorProto {
    pb::TensorProto {
        name: name.into(),
        dims: dims.to_vec(),
        data_type: pb::tensor_proto::DataType::Float as i32,
        raw_data: values.iter().flat_map(|v| v.to_le_bytes()).collect(),
        ..Default::default()
    }
}

/// Float initializers (and `Constant` nodes' tensors) by name: (values, dims).
pub(crate) fn constants(graph: &pb::GraphProto) -> HashMap<&str, Constant> {
    let inputs: Vec<&str> = graph.input.iter().map(|i| i.name.as_str()).collect();
    let mut out = HashMap::new();
    for t in &graph.initializer {
        // An initializer that is also a graph input can be overridden by the caller.
        if inputs.contains(&t.name.as_str()) {
            continue;
        }
        if let Some(values) = floats(t) {
            let dims = t.dims.clone();
            out.insert(t.name.as_str(), Constant { values, dims });
        }
    }
    for node in &graph.node {
        if node.op_type == "Constant" && node.output.len() == 1 {
            if let Some(t) = node
                .attribute
                .iter()
                .find(|a| a.name == "value")
                .and_then(|a| a.t.as_ref())
            {
                if let Some(values) = floats(t) {
                    let dims = t.dims.clone();
                    out.insert(node.output[0].as_str(), Constant { values, dims });
                }
            }
        }
    }
    out
}

/// The values of a FLOAT tensor stored in the file (raw or `float_data`).
fn floats(t: &pb::TensorProto) -> Option<Vec<f32>> {
    if t.data_type != pb::tensor_proto::DataType::Float as i32 || !t.external_data.is_empty() {
        return None;
    }
    let count: i64 = t.dims.iter().product();
    let values: Vec<f32> = if !t.raw_data.is_empty() {
        t.raw_data
            .chunks_exact(4)
            .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
            .collect()
    } else {
        t.float_data.clone()
    };
    (values.len() as i64 == count).then_some(values)
}

/// Readers of each value: node indices.
fn consumers(graph: &pb::GraphProto) -> HashMap<&str, Vec<usize>> {
    let mut out: HashMap<&str, Vec<usize>> = HashMap::new();
    for (i, node) in graph.node.iter().enumerate() {
        for input in &node.input {
            out.entry(input.as_str()).or_default().push(i);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use tract_onnx::pb;

    use super::*;
    use crate::test_graphs::{node, value};
    use crate::{Model, OnnxModel, Tensor};

    /// `x[N,3] -> Sub(mean) -> Div(scale) -> MatMul(W[3,2]) -> Add(b) -> Relu`, with
    /// `extra` nodes and outputs appended.
    fn scaler_graph(extra_nodes: Vec<pb::NodeProto>, extra_outputs: &[&str]) -> pb::GraphProto {
        let mut nodes = vec![
            node("Sub", &["x", "mean"], "centered"),
            node("Div", &["centered", "scale"], "z"),
            node("MatMul", &["z", "W"], "mm"),
            node("Add", &["mm", "b"], "pre"),
            node("Relu", &["pre"], "y"),
        ];
        nodes.extend(extra_nodes);
        let mut outputs = vec![value("y", &[-1, 2])];
        outputs.extend(extra_outputs.iter().map(|o| value(o, &[])));
        pb::GraphProto {
            node: nodes,
            input: vec![value("x", &[-1, 3])],
            output: outputs,
            initializer: vec![
                float_initializer("mean", &[3], &[1.0, -2.0, 0.5]),
                float_initializer("scale", &[1, 3], &[2.0, 0.5, 4.0]),
                float_initializer("W", &[3, 2], &[1.0, -1.0, 0.5, 2.0, -3.0, 0.25]),
                float_initializer("b", &[2], &[0.1, -0.2]),
            ],
            ..Default::default()
        }
    }

    fn ops(graph: &pb::GraphProto) -> Vec<&str> {
        graph.node.iter().map(|n| n.op_type.as_str()).collect()
    }

    fn expected(x: &[f32]) -> Vec<f32> {
        let (m, s) = ([1.0, -2.0, 0.5], [2.0, 0.5, 4.0]);
        let w = [[1.0, -1.0], [0.5, 2.0], [-3.0, 0.25]];
        let b = [0.1, -0.2];
        let mut out = Vec::new();
        for row in x.chunks(3) {
            for j in 0..2 {
                let v: f32 = (0..3)
                    .map(|i| (row[i] - m[i]) / s[i] * w[i][j])
                    .sum::<f32>()
                    + b[j];
                out.push(v.max(0.0));
            }
        }
        out
    }

    #[test]
    fn a_scaler_folds_into_the_first_matmul_with_the_same_outputs() {
        let mut graph = scaler_graph(vec![], &[]);
        assert_eq!(fold_input_affine(&mut graph), 1);
        assert_eq!(ops(&graph), ["MatMul", "Add", "Relu"]);
        assert_eq!(graph.node[0].input[0], "x");
        assert_eq!(graph.node[1].output[0], "pre");

        // Loaded whole (folding happens at load), the model computes the unfolded function.
        let bytes = crate::test_graphs::model(scaler_graph(vec![], &[]));
        let model = OnnxModel::from_bytes(&bytes).unwrap();
        let x = vec![
            3.0, 1.0, -2.0, 0.0, 0.0, 0.0, 10.0, -4.0, 7.5, -1.0, 2.0, 0.5,
        ];
        let out = model
            .forward(&[Tensor::f32(vec![4, 3], x.clone()).unwrap()])
            .unwrap();
        let got = out[0].as_f32().unwrap();
        for (g, e) in got.iter().zip(expected(&x)) {
            assert!(
                (g - e).abs() <= 1e-5 * e.abs().max(1.0),
                "{got:?} vs {:?}",
                expected(&x)
            );
        }
    }

    #[test]
    fn values_read_elsewhere_and_zero_divisors_stay_as_written() {
        // `z` is also a graph output.
        let mut graph = scaler_graph(vec![], &["z"]);
        assert_eq!(fold_input_affine(&mut graph), 0);
        // `centered` is also read by another node: the Sub stays, the Div still folds.
        let mut graph = scaler_graph(vec![node("Neg", &["centered"], "n")], &["n"]);
        assert_eq!(fold_input_affine(&mut graph), 1);
        assert_eq!(ops(&graph), ["Sub", "MatMul", "Add", "Relu", "Neg"]);
        assert_eq!(graph.node[1].input[0], "centered");
        // Division by zero stays as the model wrote it.
        let mut graph = scaler_graph(vec![], &[]);
        graph.initializer[1] = float_initializer("scale", &[3], &[2.0, 0.0, 4.0]);
        assert_eq!(fold_input_affine(&mut graph), 0);
        // A constant first operand (`mean - x`) is not `x - mean`: only the Div folds.
        let mut graph = scaler_graph(vec![], &[]);
        graph.node[0].input = vec!["mean".into(), "x".into()];
        assert_eq!(fold_input_affine(&mut graph), 1);
        assert_eq!(ops(&graph), ["Sub", "MatMul", "Add", "Relu"]);
        // A constant that widens the input's shape does not broadcast per feature.
        let mut graph = scaler_graph(vec![], &[]);
        graph.initializer[0] = float_initializer("mean", &[2, 3], &[0.0; 6]);
        assert_eq!(fold_input_affine(&mut graph), 0);
    }

    #[test]
    fn without_a_bias_the_fold_adds_one() {
        let mut graph = scaler_graph(vec![], &[]);
        // Drop the bias Add: the MatMul feeds the Relu.
        graph.node.remove(3);
        graph.node[2].output[0] = "pre".into();
        assert_eq!(fold_input_affine(&mut graph), 1);
        assert_eq!(ops(&graph), ["MatMul", "Add", "Relu"]);
        let bias = graph.initializer.last().unwrap();
        let b = floats(bias).unwrap();
        // -(m / s) @ W
        let want = [
            -(0.5 * 1.0 + -4.0 * 0.5 + 0.125 * -3.0),
            -(-0.5 + -4.0 * 2.0 + 0.125 * 0.25),
        ];
        assert!(
            (b[0] - want[0]).abs() < 1e-6 && (b[1] - want[1]).abs() < 1e-6,
            "{b:?}"
        );
    }
}
