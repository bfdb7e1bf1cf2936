//! Prism's own evaluator for ONNX-ML tree ensembles.
//!
//! `TreeEnsembleClassifier` and `TreeEnsembleRegressor` (as skl2onnx exports gradient
//! boosting and random forests) are parsed into plain [`TreeEnsemble`] structures, which
//! evaluate fast and stay available for exact tree explanations. A tree graph may hold,
//! around its ensembles, only the cheap glue ops converters add (`Identity`, `Cast`,
//! `Reshape`, `Flatten`); anything else is [`ModelError::UnsupportedOp`].
//!
//! Output semantics follow the ONNX-ML operator definitions and, where those are vague
//! (binary classifiers with one score column), ONNX Runtime's documented behaviour, so that
//! outputs agree with ONNX Runtime.

use std::collections::HashMap;

use tract_onnx::pb;

use crate::error::{ModelError, Result};
use crate::signature::Signature;
use crate::tensor::{Tensor, TensorData};
use crate::tract_backend::node_label;

const ML_DOMAIN: &str = "ai.onnx.ml";

/// How a branch node compares the feature value `x` with its threshold `t`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BranchMode {
    /// `x <= t` goes to the true child.
    Leq,
    /// `x < t`.
    Lt,
    /// `x >= t`.
    Gte,
    /// `x > t`.
    Gt,
    /// `x == t`.
    Eq,
    /// `x != t`.
    Neq,
}

impl BranchMode {
    fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "BRANCH_LEQ" => Self::Leq,
            "BRANCH_LT" => Self::Lt,
            "BRANCH_GTE" => Self::Gte,
            "BRANCH_GT" => Self::Gt,
            "BRANCH_EQ" => Self::Eq,
            "BRANCH_NEQ" => Self::Neq,
            _ => return None,
        })
    }

    /// Whether `x` goes to the true child.
    pub fn goes_true(self, x: f32, threshold: f32) -> bool {
        match self {
            Self::Leq => x <= threshold,
            Self::Lt => x < threshold,
            Self::Gte => x >= threshold,
            Self::Gt => x > threshold,
            Self::Eq => x == threshold,
            Self::Neq => x != threshold,
        }
    }
}

/// One node of a tree.
#[derive(Debug, Clone, PartialEq)]
pub enum TreeNode {
    /// An interior node.
    Branch {
        /// Column of the input row it tests.
        feature: usize,
        /// The threshold.
        threshold: f32,
        /// The comparison.
        mode: BranchMode,
        /// Index (in the tree's node list) of the child taken when the test holds.
        true_child: usize,
        /// Index of the other child.
        false_child: usize,
        /// Whether a missing (NaN) value goes to the true child.
        missing_goes_true: bool,
    },
    /// A leaf: `(output column, weight)` pairs added to the scores.
    Leaf {
        /// The contributions of this leaf.
        weights: Vec<(usize, f32)>,
    },
}

/// One tree; its root is node 0.
#[derive(Debug, Clone, PartialEq)]
pub struct Tree {
    /// The nodes; children are indices into this list.
    pub nodes: Vec<TreeNode>,
}

impl Tree {
    /// The leaf reached by `row`.
    pub fn leaf_for(&self, row: &[f32]) -> &[(usize, f32)] {
        let mut ix = 0;
        // Bounded by the node count: a malformed cycle cannot loop forever.
        for _ in 0..=self.nodes.len() {
            match &self.nodes[ix] {
                TreeNode::Leaf { weights } => return weights,
                TreeNode::Branch {
                    feature,
                    threshold,
                    mode,
                    true_child,
                    false_child,
                    missing_goes_true,
                } => {
                    let x = row.get(*feature).copied().unwrap_or(f32::NAN);
                    let go_true = if x.is_nan() && *missing_goes_true {
                        true
                    } else {
                        mode.goes_true(x, *threshold)
                    };
                    ix = if go_true { *true_child } else { *false_child };
                }
            }
        }
        &[]
    }
}

/// How tree outputs are combined (regressors; classifiers always sum).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Aggregate {
    /// Sum of the trees.
    Sum,
    /// Mean of the trees.
    Average,
    /// Minimum over trees.
    Min,
    /// Maximum over trees.
    Max,
}

/// The transform applied to aggregated scores.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PostTransform {
    /// Raw scores.
    None,
    /// Softmax over the score vector.
    Softmax,
    /// Logistic function per score.
    Logistic,
    /// Softmax that leaves zero scores at zero.
    SoftmaxZero,
    /// The probit function (normal quantile).
    Probit,
}

/// Class labels of a classifier.
#[derive(Debug, Clone, PartialEq)]
pub enum ClassLabels {
    /// Integer labels.
    Ints(Vec<i64>),
    /// String labels.
    Strings(Vec<String>),
}

impl ClassLabels {
    fn len(&self) -> usize {
        match self {
            Self::Ints(v) => v.len(),
            Self::Strings(v) => v.len(),
        }
    }
}

/// Whether an ensemble classifies or regresses.
#[derive(Debug, Clone, PartialEq)]
pub enum EnsembleKind {
    /// `TreeEnsembleClassifier`.
    Classifier {
        /// The labels, in score-column order.
        labels: ClassLabels,
    },
    /// `TreeEnsembleRegressor`.
    Regressor {
        /// How trees combine.
        aggregate: Aggregate,
    },
}

/// A parsed tree ensemble.
#[derive(Debug, Clone, PartialEq)]
pub struct TreeEnsemble {
    /// Classifier or regressor.
    pub kind: EnsembleKind,
    /// Number of score columns (classes or targets).
    pub n_outputs: usize,
    /// The trees.
    pub trees: Vec<Tree>,
    /// Values added to the aggregated scores.
    pub base_values: Vec<f32>,
    /// The final transform.
    pub post_transform: PostTransform,
    /// Number of input columns the trees read (largest feature index + 1).
    pub n_features: usize,
}

impl TreeEnsemble {
    /// Raw per-column sums over trees (before base values, averaging and transforms), with a
    /// flag telling which columns any leaf touched.
    fn accumulate(&self, row: &[f32]) -> (Vec<f64>, Vec<bool>) {
        let mut scores = vec![0f64; self.n_outputs];
        let mut touched = vec![false; self.n_outputs];
        let min_max = matches!(
            self.kind,
            EnsembleKind::Regressor {
                aggregate: Aggregate::Min | Aggregate::Max
            }
        );
        for tree in &self.trees {
            for &(col, w) in tree.leaf_for(row) {
                let w = f64::from(w);
                if min_max && touched[col] {
                    let is_min = matches!(
                        self.kind,
                        EnsembleKind::Regressor {
                            aggregate: Aggregate::Min
                        }
                    );
                    scores[col] = if is_min {
                        scores[col].min(w)
                    } else {
                        scores[col].max(w)
                    };
                } else if min_max {
                    scores[col] = w;
                } else {
                    scores[col] += w;
                }
                touched[col] = true;
            }
        }
        (scores, touched)
    }

    /// Regressor output for one row.
    pub fn regress(&self, row: &[f32]) -> Vec<f32> {
        let (mut scores, _) = self.accumulate(row);
        if let EnsembleKind::Regressor {
            aggregate: Aggregate::Average,
        } = self.kind
        {
            let n = self.trees.len().max(1) as f64;
            scores.iter_mut().for_each(|s| *s /= n);
        }
        if self.base_values.len() == self.n_outputs {
            for (s, b) in scores.iter_mut().zip(&self.base_values) {
                *s += f64::from(*b);
            }
        } else if self.base_values.len() == 1 {
            scores[0] += f64::from(self.base_values[0]);
        }
        if scores.len() == 1 {
            if self.post_transform == PostTransform::Probit {
                scores[0] = probit(scores[0]);
            }
        } else {
            apply_transform(&mut scores, self.post_transform);
        }
        scores.into_iter().map(|s| s as f32).collect()
    }

    /// Classifier output for one row: the winning label's index and the score row
    /// (`n_outputs` wide).
    pub fn classify(&self, row: &[f32]) -> (usize, Vec<f32>) {
        let (mut scores, mut touched) = self.accumulate(row);
        let n = self.n_outputs;
        if n > 2 {
            for (k, b) in self.base_values.iter().enumerate().take(n) {
                scores[k] += f64::from(*b);
                touched[k] = true;
            }
            let winner = argmax_touched(&scores, &touched);
            apply_transform(&mut scores, self.post_transform);
            return (winner, scores.into_iter().map(|s| s as f32).collect());
        }
        // Two classes. A converter that writes leaf weights for one column only (binary
        // gradient boosting) produces one margin; the second column is derived from it.
        let single_column = self.single_weight_column();
        let all_positive = self.weights_all_positive();
        match self.base_values.len() {
            2 if touched.get(1) == Some(&true) => {
                scores[1] += f64::from(self.base_values[1]);
            }
            2 => {
                scores[0] += f64::from(self.base_values[0]);
                if n > 1 {
                    scores[1] += f64::from(self.base_values[1]);
                }
            }
            1 => scores[0] += f64::from(self.base_values[0]),
            _ => {}
        }
        let one_score = n < 2 || !touched[1];
        if !one_score {
            // Both columns carry scores: an ordinary two-class vector.
            let winner = argmax_touched(&scores, &touched);
            apply_transform(&mut scores, self.post_transform);
            return (winner, scores.into_iter().map(|s| s as f32).collect());
        }
        let margin = scores[0];
        let binary_case = n == 2 && single_column;
        let positive = if binary_case && all_positive {
            margin > 0.5
        } else {
            margin > 0.0
        };
        let winner = usize::from(positive);
        let out = match self.post_transform {
            PostTransform::Probit => vec![probit(margin), 0.0],
            PostTransform::Logistic if !all_positive || !binary_case => {
                vec![logistic(-margin), logistic(margin)]
            }
            _ if binary_case && all_positive => vec![1.0 - margin, margin],
            _ => vec![-margin, margin],
        };
        (winner, out.into_iter().map(|s| s as f32).collect())
    }

    fn single_weight_column(&self) -> bool {
        let mut seen: Option<usize> = None;
        for tree in &self.trees {
            for node in &tree.nodes {
                if let TreeNode::Leaf { weights } = node {
                    for &(c, _) in weights {
                        match seen {
                            None => seen = Some(c),
                            Some(s) if s != c => return false,
                            Some(_) => {}
                        }
                    }
                }
            }
        }
        true
    }

    fn weights_all_positive(&self) -> bool {
        self.trees.iter().all(|t| {
            t.nodes.iter().all(|n| match n {
                TreeNode::Leaf { weights } => weights.iter().all(|&(_, w)| w >= 0.0),
                TreeNode::Branch { .. } => true,
            })
        })
    }
}

fn argmax_touched(scores: &[f64], touched: &[bool]) -> usize {
    let mut best: Option<usize> = None;
    for (i, (&s, &t)) in scores.iter().zip(touched).enumerate() {
        if t && best.is_none_or(|b| s > scores[b]) {
            best = Some(i);
        }
    }
    best.unwrap_or(0)
}

fn logistic(x: f64) -> f64 {
    let v = 1.0 / (1.0 + (-x.abs()).exp());
    if x < 0.0 {
        1.0 - v
    } else {
        v
    }
}

fn probit(p: f64) -> f64 {
    std::f64::consts::SQRT_2 * erf_inv(2.0 * p - 1.0)
}

/// Inverse error function (Giles' single-precision approximation, ample for float outputs).
fn erf_inv(x: f64) -> f64 {
    let w = -((1.0 - x) * (1.0 + x)).ln();
    let p = if w < 5.0 {
        let w = w - 2.5;
        let mut p = 2.810_226_36e-08;
        for c in [
            3.432_739_39e-07,
            -3.523_387_7e-06,
            -4.391_506_54e-06,
            0.000_218_580_87,
            -0.001_253_725_03,
            -0.004_177_681_64,
            0.246_640_727,
            1.501_409_41,
        ] {
            p = c + p * w;
        }
        p
    } else {
        let w = w.sqrt() - 3.0;
        let mut p = -0.000_200_214_257;
        for c in [
            0.000_100_950_558,
            0.001_349_343_22,
            -0.003_673_428_44,
            0.005_739_507_73,
            -0.007_622_461_3,
            0.009_438_870_47,
            1.001_674_06,
            2.832_976_82,
        ] {
            p = c + p * w;
        }
        p
    };
    p * x
}

fn apply_transform(scores: &mut [f64], t: PostTransform) {
    match t {
        PostTransform::None => {}
        PostTransform::Logistic => scores.iter_mut().for_each(|s| *s = logistic(*s)),
        PostTransform::Probit => scores.iter_mut().for_each(|s| *s = probit(*s)),
        PostTransform::Softmax => {
            let max = scores.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
            let mut sum = 0.0;
            for s in scores.iter_mut() {
                *s = (*s - max).exp();
                sum += *s;
            }
            scores.iter_mut().for_each(|s| *s /= sum);
        }
        PostTransform::SoftmaxZero => {
            let max = scores.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
            let mut sum = 0.0;
            for s in scores.iter_mut() {
                if s.abs() > 1e-7 {
                    *s = (*s - max).exp();
                    sum += *s;
                } else {
                    *s *= (-max).exp();
                }
            }
            scores.iter_mut().for_each(|s| *s /= sum);
        }
    }
}

/// A graph of tree ensembles plus glue ops, interpreted node by node.
#[derive(Debug, Clone)]
pub struct TreeGraph {
    steps: Vec<Step>,
    input_names: Vec<String>,
    output_names: Vec<String>,
    initializers: HashMap<String, Tensor>,
}

#[derive(Debug, Clone)]
enum StepOp {
    Ensemble(Box<TreeEnsemble>),
    Identity,
    Cast { to_float: bool },
    Reshape,
    Flatten { axis: usize },
}

#[derive(Debug, Clone)]
struct Step {
    op: StepOp,
    inputs: Vec<String>,
    outputs: Vec<String>,
}

impl TreeGraph {
    /// Whether this node is a tree ensemble this evaluator takes over.
    pub fn handles(node: &pb::NodeProto) -> bool {
        node.domain == ML_DOMAIN
            && matches!(
                node.op_type.as_str(),
                "TreeEnsembleClassifier" | "TreeEnsembleRegressor"
            )
    }

    pub(crate) fn new(graph: &pb::GraphProto, signature: &Signature) -> Result<Self> {
        let mut steps = Vec::with_capacity(graph.node.len());
        for node in &graph.node {
            let op = match (node.domain.as_str(), node.op_type.as_str()) {
                (ML_DOMAIN, "TreeEnsembleClassifier") | (ML_DOMAIN, "TreeEnsembleRegressor") => {
                    StepOp::Ensemble(Box::new(parse_ensemble(node)?))
                }
                ("" | "ai.onnx", "Identity") => StepOp::Identity,
                ("" | "ai.onnx", "Cast") => {
                    let to = attr(node, "to").map(|a| a.i).unwrap_or(1);
                    StepOp::Cast {
                        to_float: matches!(to, 1 | 10 | 11),
                    }
                }
                ("" | "ai.onnx", "Reshape") => StepOp::Reshape,
                ("" | "ai.onnx", "Flatten") => StepOp::Flatten {
                    axis: attr(node, "axis").map(|a| a.i.max(0) as usize).unwrap_or(1),
                },
                _ => {
                    return Err(ModelError::UnsupportedOp {
                        op_type: node.op_type.clone(),
                        domain: node.domain.clone(),
                        node: node_label(node),
                    })
                }
            };
            steps.push(Step {
                op,
                inputs: node.input.clone(),
                outputs: node.output.clone(),
            });
        }
        let mut initializers = HashMap::new();
        for t in &graph.initializer {
            if let Some(v) = tensor_proto_i64(t) {
                let shape = t.dims.iter().map(|&d| d.max(0) as usize).collect();
                initializers.insert(t.name.clone(), Tensor::i64(shape, v)?);
            }
        }
        Ok(Self {
            steps,
            input_names: signature.inputs.iter().map(|i| i.name.clone()).collect(),
            output_names: signature.outputs.iter().map(|o| o.name.clone()).collect(),
            initializers,
        })
    }

    /// The ensembles in graph order.
    pub fn ensembles(&self) -> impl Iterator<Item = &TreeEnsemble> {
        self.steps.iter().filter_map(|s| match &s.op {
            StepOp::Ensemble(e) => Some(e.as_ref()),
            _ => None,
        })
    }

    pub(crate) fn run(&self, inputs: &[Tensor]) -> Result<Vec<Tensor>> {
        let mut env: HashMap<&str, Tensor> = HashMap::new();
        for (name, t) in self.input_names.iter().zip(inputs) {
            env.insert(name, t.clone());
        }
        for step in &self.steps {
            let get = |ix: usize| -> Result<&Tensor> {
                let name = step.inputs.get(ix).map(String::as_str).unwrap_or("");
                env.get(name)
                    .or_else(|| self.initializers.get(name))
                    .ok_or_else(|| ModelError::Execution(format!("value '{name}' is not computed")))
            };
            let x = get(0)?;
            let results: Vec<Tensor> = match &step.op {
                StepOp::Identity => vec![x.clone()],
                StepOp::Cast { to_float } => vec![cast(x, *to_float)?],
                StepOp::Reshape => vec![reshape(x, get(1)?)?],
                StepOp::Flatten { axis } => {
                    let outer: usize = x.shape[..(*axis).min(x.shape.len())].iter().product();
                    let inner = x.len() / outer.max(1);
                    vec![Tensor::new(vec![outer, inner], x.data.clone())?]
                }
                StepOp::Ensemble(e) => run_ensemble(e, x)?,
            };
            for (name, t) in step.outputs.iter().zip(results) {
                if !name.is_empty() {
                    env.insert(name, t);
                }
            }
        }
        self.output_names
            .iter()
            .map(|n| {
                env.remove(n.as_str())
                    .ok_or_else(|| ModelError::Execution(format!("output '{n}' is not computed")))
            })
            .collect()
    }
}

fn run_ensemble(e: &TreeEnsemble, x: &Tensor) -> Result<Vec<Tensor>> {
    let values = x
        .to_f32_vec()
        .ok_or_else(|| ModelError::Execution("tree ensembles need numeric input".into()))?;
    let (rows, width) = match x.shape.as_slice() {
        [n, f] => (*n, *f),
        [f] => (1, *f),
        other => {
            return Err(ModelError::Execution(format!(
                "tree ensembles take a [batch, features] input, got shape {other:?}"
            )))
        }
    };
    if width < e.n_features {
        return Err(ModelError::BadInput {
            input: "<tree input>".into(),
            message: format!(
                "the trees read {} features, the input has {width}",
                e.n_features
            ),
        });
    }
    let chunks = values.chunks(width.max(1)).take(rows);
    match &e.kind {
        EnsembleKind::Regressor { .. } => {
            let mut out = Vec::with_capacity(rows * e.n_outputs);
            for row in chunks {
                out.extend(e.regress(row));
            }
            Ok(vec![Tensor::f32(vec![rows, e.n_outputs], out)?])
        }
        EnsembleKind::Classifier { labels } => {
            let mut scores = Vec::with_capacity(rows * e.n_outputs);
            let mut winners = Vec::with_capacity(rows);
            for row in chunks {
                let (w, s) = e.classify(row);
                winners.push(w);
                scores.extend(s);
            }
            let label = match labels {
                ClassLabels::Ints(l) => Tensor::i64(
                    vec![rows],
                    winners
                        .iter()
                        .map(|&w| l.get(w).copied().unwrap_or(w as i64))
                        .collect(),
                )?,
                ClassLabels::Strings(l) => Tensor::new(
                    vec![rows],
                    TensorData::Str(
                        winners
                            .iter()
                            .map(|&w| l.get(w).cloned().unwrap_or_default())
                            .collect(),
                    ),
                )?,
            };
            Ok(vec![label, Tensor::f32(vec![rows, e.n_outputs], scores)?])
        }
    }
}

fn cast(x: &Tensor, to_float: bool) -> Result<Tensor> {
    let data = match (&x.data, to_float) {
        (TensorData::F32(v), false) => TensorData::I64(v.iter().map(|&f| f as i64).collect()),
        (TensorData::I64(v), true) => TensorData::F32(v.iter().map(|&i| i as f32).collect()),
        (d, _) => d.clone(),
    };
    Tensor::new(x.shape.clone(), data)
}

fn reshape(x: &Tensor, shape: &Tensor) -> Result<Tensor> {
    let TensorData::I64(spec) = &shape.data else {
        return Err(ModelError::Execution("Reshape needs an int64 shape".into()));
    };
    let mut dims: Vec<i64> = spec
        .iter()
        .enumerate()
        .map(|(i, &d)| {
            if d == 0 {
                x.shape.get(i).copied().unwrap_or(1) as i64
            } else {
                d
            }
        })
        .collect();
    let known: i64 = dims.iter().filter(|&&d| d > 0).product();
    if let Some(slot) = dims.iter_mut().find(|d| **d < 0) {
        *slot = x.len() as i64 / known.max(1);
    }
    Tensor::new(
        dims.iter().map(|&d| d.max(0) as usize).collect(),
        x.data.clone(),
    )
}

fn attr<'a>(node: &'a pb::NodeProto, name: &str) -> Option<&'a pb::AttributeProto> {
    node.attribute.iter().find(|a| a.name == name)
}

fn ints(node: &pb::NodeProto, name: &str) -> Vec<i64> {
    attr(node, name).map(|a| a.ints.clone()).unwrap_or_default()
}

/// A float list attribute, or its `<name>_as_tensor` variant (ai.onnx.ml opset 3).
fn floats(node: &pb::NodeProto, name: &str) -> Vec<f32> {
    if let Some(a) = attr(node, name) {
        if !a.floats.is_empty() {
            return a.floats.clone();
        }
    }
    attr(node, &format!("{name}_as_tensor"))
        .and_then(|a| a.t.as_ref())
        .map(tensor_proto_f32)
        .unwrap_or_default()
}

fn strings(node: &pb::NodeProto, name: &str) -> Vec<String> {
    attr(node, name)
        .map(|a| {
            a.strings
                .iter()
                .map(|s| String::from_utf8_lossy(s).into_owned())
                .collect()
        })
        .unwrap_or_default()
}

fn tensor_proto_f32(t: &pb::TensorProto) -> Vec<f32> {
    if !t.float_data.is_empty() {
        return t.float_data.clone();
    }
    if !t.double_data.is_empty() {
        return t.double_data.iter().map(|&d| d as f32).collect();
    }
    match t.data_type {
        1 => t
            .raw_data
            .chunks_exact(4)
            .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
            .collect(),
        11 => t
            .raw_data
            .chunks_exact(8)
            .map(|c| f64::from_le_bytes([c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7]]) as f32)
            .collect(),
        _ => Vec::new(),
    }
}

fn tensor_proto_i64(t: &pb::TensorProto) -> Option<Vec<i64>> {
    if t.data_type != 7 {
        return None;
    }
    if !t.int64_data.is_empty() {
        return Some(t.int64_data.clone());
    }
    Some(
        t.raw_data
            .chunks_exact(8)
            .map(|c| i64::from_le_bytes([c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7]]))
            .collect(),
    )
}

fn parse_ensemble(node: &pb::NodeProto) -> Result<TreeEnsemble> {
    let label = node_label(node);
    let bad = |message: String| ModelError::InvalidTrees {
        node: label.clone(),
        message,
    };
    let tree_ids = ints(node, "nodes_treeids");
    let node_ids = ints(node, "nodes_nodeids");
    let feature_ids = ints(node, "nodes_featureids");
    let values = floats(node, "nodes_values");
    let modes = strings(node, "nodes_modes");
    let true_ids = ints(node, "nodes_truenodeids");
    let false_ids = ints(node, "nodes_falsenodeids");
    let missing = ints(node, "nodes_missing_value_tracks_true");
    let n = tree_ids.len();
    for (what, len) in [
        ("nodes_nodeids", node_ids.len()),
        ("nodes_featureids", feature_ids.len()),
        ("nodes_values", values.len()),
        ("nodes_modes", modes.len()),
        ("nodes_truenodeids", true_ids.len()),
        ("nodes_falsenodeids", false_ids.len()),
    ] {
        if len != n {
            return Err(bad(format!(
                "{what} has {len} entries, nodes_treeids has {n}"
            )));
        }
    }
    // Map (tree id, node id) to a dense tree index and a node position in that tree.
    let mut tree_index: HashMap<i64, usize> = HashMap::new();
    let mut positions: HashMap<(i64, i64), usize> = HashMap::new();
    let mut counts: Vec<usize> = Vec::new();
    for i in 0..n {
        let t = *tree_index.entry(tree_ids[i]).or_insert_with(|| {
            counts.push(0);
            counts.len() - 1
        });
        // The root is the node with the smallest id, listed first by every converter.
        positions.insert((tree_ids[i], node_ids[i]), counts[t]);
        counts[t] += 1;
    }
    let mut trees: Vec<Tree> = counts
        .iter()
        .map(|&c| Tree {
            nodes: Vec::with_capacity(c),
        })
        .collect();
    let mut n_features = 0;
    for i in 0..n {
        let t = tree_index[&tree_ids[i]];
        let node = if modes[i] == "LEAF" {
            TreeNode::Leaf {
                weights: Vec::new(),
            }
        } else {
            let mode = BranchMode::parse(&modes[i])
                .ok_or_else(|| bad(format!("unknown node mode '{}'", modes[i])))?;
            let child = |id: i64| {
                positions
                    .get(&(tree_ids[i], id))
                    .copied()
                    .ok_or_else(|| bad(format!("tree {} has no node {id}", tree_ids[i])))
            };
            let feature = usize::try_from(feature_ids[i])
                .map_err(|_| bad(format!("negative feature id {}", feature_ids[i])))?;
            n_features = n_features.max(feature + 1);
            TreeNode::Branch {
                feature,
                threshold: values[i],
                mode,
                true_child: child(true_ids[i])?,
                false_child: child(false_ids[i])?,
                missing_goes_true: missing.get(i).copied().unwrap_or(0) != 0,
            }
        };
        trees[t].nodes.push(node);
    }
    let classifier = node.op_type == "TreeEnsembleClassifier";
    let prefix = if classifier { "class" } else { "target" };
    let w_trees = ints(node, &format!("{prefix}_treeids"));
    let w_nodes = ints(node, &format!("{prefix}_nodeids"));
    let w_ids = ints(node, &format!("{prefix}_ids"));
    let w_values = floats(node, &format!("{prefix}_weights"));
    if w_nodes.len() != w_trees.len()
        || w_ids.len() != w_trees.len()
        || w_values.len() != w_trees.len()
    {
        return Err(bad(format!("the {prefix}_* attributes differ in length")));
    }
    let n_outputs = if classifier {
        let int_labels = ints(node, "classlabels_int64s");
        let labels = if int_labels.is_empty() {
            ClassLabels::Strings(strings(node, "classlabels_strings"))
        } else {
            ClassLabels::Ints(int_labels)
        };
        labels.len()
    } else {
        attr(node, "n_targets")
            .map(|a| a.i.max(0) as usize)
            .unwrap_or(1)
    };
    if n_outputs == 0 {
        return Err(bad("no classes or targets".into()));
    }
    for i in 0..w_trees.len() {
        let t = *tree_index
            .get(&w_trees[i])
            .ok_or_else(|| bad(format!("weight for unknown tree {}", w_trees[i])))?;
        let pos = positions
            .get(&(w_trees[i], w_nodes[i]))
            .copied()
            .ok_or_else(|| bad(format!("weight for unknown node {}", w_nodes[i])))?;
        let col = usize::try_from(w_ids[i])
            .ok()
            .filter(|&c| c < n_outputs)
            .ok_or_else(|| bad(format!("{prefix}_ids entry {} out of range", w_ids[i])))?;
        match &mut trees[t].nodes[pos] {
            TreeNode::Leaf { weights } => weights.push((col, w_values[i])),
            TreeNode::Branch { .. } => {
                return Err(bad(format!(
                    "a weight is attached to branch node {}",
                    w_nodes[i]
                )))
            }
        }
    }
    let post_transform = match attr(node, "post_transform")
        .map(|a| String::from_utf8_lossy(&a.s).into_owned())
        .as_deref()
    {
        None | Some("NONE") => PostTransform::None,
        Some("SOFTMAX") => PostTransform::Softmax,
        Some("LOGISTIC") => PostTransform::Logistic,
        Some("SOFTMAX_ZERO") => PostTransform::SoftmaxZero,
        Some("PROBIT") => PostTransform::Probit,
        Some(other) => return Err(bad(format!("unknown post_transform '{other}'"))),
    };
    let kind = if classifier {
        let int_labels = ints(node, "classlabels_int64s");
        EnsembleKind::Classifier {
            labels: if int_labels.is_empty() {
                ClassLabels::Strings(strings(node, "classlabels_strings"))
            } else {
                ClassLabels::Ints(int_labels)
            },
        }
    } else {
        let aggregate = match attr(node, "aggregate_function")
            .map(|a| String::from_utf8_lossy(&a.s).into_owned())
            .as_deref()
        {
            None | Some("SUM") => Aggregate::Sum,
            Some("AVERAGE") => Aggregate::Average,
            Some("MIN") => Aggregate::Min,
            Some("MAX") => Aggregate::Max,
            Some(other) => return Err(bad(format!("unknown aggregate_function '{other}'"))),
        };
        EnsembleKind::Regressor { aggregate }
    };
    Ok(TreeEnsemble {
        kind,
        n_outputs,
        trees,
        base_values: floats(node, "base_values"),
        post_transform,
        n_features,
    })
}
