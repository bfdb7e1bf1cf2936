//! Loading an ONNX file: decode the protobuf, read the signature, pick the executor.

use std::path::Path;

use prost::Message;
use tract_onnx::pb;

use crate::dense::DenseGraph;
use crate::error::{ModelError, Result};
use crate::ort_backend::OrtGraph;
use crate::signature::{Dim, Signature, TensorInfo};
use crate::tensor::{ElementType, Tensor};
use crate::tract_backend::TractGraph;
use crate::trees::TreeGraph;
use crate::{Backend, Model};

/// An ONNX model ready to run.
///
/// Graphs made of ONNX-ML tree ensembles (`TreeEnsembleClassifier`, `TreeEnsembleRegressor`)
/// run on Prism's own evaluator, which also exposes the parsed trees; every other graph
/// runs on the [`Backend`] it was prepared for (tract unless
/// [`OnnxModel::from_bytes_with`] says otherwise).
#[derive(Clone)]
pub struct OnnxModel {
    signature: Signature,
    /// Shared: clones of a model share one prepared plan.
    executor: std::sync::Arc<Executor>,
}

enum Executor {
    Tract(TractGraph),
    Ort(OrtGraph),
    /// The tree graph, and which of its outputs to return (all when `None`).
    Trees(TreeGraph, Option<Vec<usize>>),
    /// A small dense network on Prism's own evaluator (chosen on the tract backend).
    Dense(DenseGraph),
    /// Prepared on first use (see [`OnnxModel::from_bytes_deferred`]).
    Deferred(Box<Deferred>),
}

/// A decoded graph, its whole signature and the outputs to keep.
type GraphParts = (pb::ModelProto, Signature, Option<Vec<usize>>);

/// A graph whose preparation waits for its first forward pass.
struct Deferred {
    backend: Backend,
    /// What preparing needs; taken by the preparation.
    parts: std::sync::Mutex<Option<GraphParts>>,
    /// The prepared executor, or why preparing failed (kept: later calls fail alike).
    ready: std::sync::OnceLock<std::result::Result<Box<Executor>, String>>,
}

impl Deferred {
    fn executor(&self) -> Result<&Executor> {
        let ready = self.ready.get_or_init(|| {
            let parts = self
                .parts
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .take();
            let Some((proto, full, keep)) = parts else {
                return Err("the graph's preparation was interrupted".into());
            };
            graph_executor(&proto, &full, keep.as_deref(), self.backend)
                .map(Box::new)
                .map_err(|e| e.to_string())
        });
        match ready {
            Ok(executor) => Ok(executor),
            Err(message) => Err(ModelError::Prepare(message.clone())),
        }
    }
}

/// The backend's executor of a (non-tree) graph the dense evaluator does not take (that
/// choice is made once, in [`OnnxModel::prepare`]).
fn graph_executor(
    proto: &pb::ModelProto,
    full: &Signature,
    keep: Option<&[usize]>,
    backend: Backend,
) -> Result<Executor> {
    Ok(match backend {
        Backend::Tract => Executor::Tract(TractGraph::new(proto, full, keep)?),
        Backend::Ort => Executor::Ort(OrtGraph::new(proto, full, keep)?),
    })
}

impl std::fmt::Debug for OnnxModel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let kind = match &*self.executor {
            Executor::Tract(_) => "tract",
            Executor::Ort(_) => "ort",
            Executor::Trees(..) => "trees",
            Executor::Dense(_) => "dense",
            Executor::Deferred(d) => match d.ready.get() {
                Some(Ok(_)) => "prepared on first use",
                Some(Err(_)) => "failed on first use",
                None => "prepared on first use (not yet)",
            },
        };
        f.debug_struct("OnnxModel")
            .field("executor", &kind)
            .field("signature", &self.signature)
            .finish()
    }
}

impl OnnxModel {
    /// Loads and prepares the model file at `path`.
    pub fn load(path: impl AsRef<Path>) -> Result<Self> {
        let path = path.as_ref();
        let bytes = std::fs::read(path).map_err(|source| ModelError::Io {
            path: path.display().to_string(),
            source,
        })?;
        Self::from_bytes(&bytes)
    }

    /// Decodes and prepares a model from its serialized bytes (on tract).
    pub fn from_bytes(bytes: &[u8]) -> Result<Self> {
        Self::from_bytes_with(bytes, None, Backend::Tract)
    }

    /// Like [`OnnxModel::from_bytes`], but computing only the named outputs (in that order):
    /// work that only other outputs need (an `ArgMax` label beside the probabilities) is
    /// skipped. An unknown name is [`ModelError::BadInput`].
    pub fn from_bytes_with_outputs(bytes: &[u8], outputs: &[&str]) -> Result<Self> {
        Self::from_bytes_with(bytes, Some(outputs), Backend::Tract)
    }

    /// Decodes and prepares a model on `backend`, computing only `outputs` (in that order)
    /// when given, like [`OnnxModel::from_bytes_with_outputs`]. Tree-ensemble graphs run on
    /// Prism's evaluator whatever the backend. A backend this build lacks, or whose library
    /// cannot be loaded, is [`ModelError::BackendUnavailable`].
    pub fn from_bytes_with(
        bytes: &[u8],
        outputs: Option<&[&str]>,
        backend: Backend,
    ) -> Result<Self> {
        Self::prepare(bytes, outputs, backend, false)
    }

    /// Like [`OnnxModel::from_bytes_with`], but the backend prepares the graph on its first
    /// forward pass, for a model that may never run (the whole graph beside the
    /// output-limited one an explanation runs). The signature is read and, on tract, every
    /// operator is checked now; a failure to prepare later is [`ModelError::Prepare`] on
    /// each forward pass.
    pub fn from_bytes_deferred(
        bytes: &[u8],
        outputs: Option<&[&str]>,
        backend: Backend,
    ) -> Result<Self> {
        Self::prepare(bytes, outputs, backend, true)
    }

    fn prepare(
        bytes: &[u8],
        outputs: Option<&[&str]>,
        backend: Backend,
        deferred: bool,
    ) -> Result<Self> {
        let mut proto = decode(bytes)?;
        if let Some(graph) = proto.graph.as_mut() {
            if !graph.node.iter().any(TreeGraph::handles) {
                crate::fold::fold_input_affine(graph);
            }
        }
        let graph = proto
            .graph
            .as_ref()
            .ok_or_else(|| ModelError::Corrupt("the ModelProto has no graph".into()))?;
        let full = signature_of(graph)?;
        let keep: Option<Vec<usize>> = outputs
            .map(|names| {
                names
                    .iter()
                    .map(|n| {
                        full.output_index(n).ok_or_else(|| ModelError::BadInput {
                            input: (*n).to_string(),
                            message: "the model has no output of this name".into(),
                        })
                    })
                    .collect::<Result<Vec<usize>>>()
            })
            .transpose()?;
        let (executor, signature) = if graph.node.iter().any(TreeGraph::handles) {
            // Tree graphs are cheap to run whole; outputs are picked after the run.
            (
                Executor::Trees(TreeGraph::new(graph, &full)?, keep.clone()),
                full.clone(),
            )
        } else if let Some(dense) = (backend == Backend::Tract)
            .then(|| DenseGraph::plan(graph, &full, keep.as_deref()))
            .flatten()
        {
            // Planning a dense graph is cheap: nothing to defer.
            (Executor::Dense(dense), full.clone())
        } else if deferred {
            if backend == Backend::Tract {
                crate::tract_backend::check_ops(graph)?;
            } else {
                backend.ensure_available()?;
            }
            let parts = (proto, full.clone(), keep.clone());
            let executor = Executor::Deferred(Box::new(Deferred {
                backend,
                parts: std::sync::Mutex::new(Some(parts)),
                ready: std::sync::OnceLock::new(),
            }));
            (executor, full.clone())
        } else {
            let executor = graph_executor(&proto, &full, keep.as_deref(), backend)?;
            (executor, full.clone())
        };
        let signature = match &keep {
            Some(keep) => Signature {
                inputs: signature.inputs,
                outputs: keep.iter().map(|&i| full.outputs[i].clone()).collect(),
            },
            None => signature,
        };
        Ok(Self {
            signature,
            executor: std::sync::Arc::new(executor),
        })
    }

    /// Prepares a model made by [`OnnxModel::from_bytes_deferred`] now (nothing for any
    /// other), so that a graph the backend cannot run fails here rather than on first use.
    pub fn prepared(&self) -> Result<()> {
        match self.executor.as_ref() {
            Executor::Deferred(d) => d.executor().map(|_| ()),
            _ => Ok(()),
        }
    }

    /// The tree ensembles of a tree model, for exact tree explanations; `None` for other models.
    pub fn tree_graph(&self) -> Option<&TreeGraph> {
        match self.executor.as_ref() {
            Executor::Trees(t, _) => Some(t),
            Executor::Tract(_) | Executor::Ort(_) | Executor::Dense(_) | Executor::Deferred(_) => {
                None
            }
        }
    }

    /// The backend running the graph; `None` for tree graphs, which run on Prism's own
    /// evaluator.
    pub fn backend(&self) -> Option<Backend> {
        match self.executor.as_ref() {
            // The dense evaluator stands in for tract, the built-in backend.
            Executor::Tract(_) | Executor::Dense(_) => Some(Backend::Tract),
            Executor::Ort(_) => Some(Backend::Ort),
            Executor::Trees(..) => None,
            Executor::Deferred(d) => Some(d.backend),
        }
    }
}

impl Model for OnnxModel {
    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn forward(&self, inputs: &[Tensor]) -> Result<Vec<Tensor>> {
        check_inputs(&self.signature, inputs)?;
        run(&self.executor, inputs)
    }
}

fn run(executor: &Executor, inputs: &[Tensor]) -> Result<Vec<Tensor>> {
    match executor {
        Executor::Deferred(d) => run(d.executor()?, inputs),
        Executor::Tract(g) => g.run(inputs),
        Executor::Dense(g) => g.run(inputs),
        Executor::Ort(g) => g.run(inputs),
        Executor::Trees(g, keep) => {
            let all = g.run(inputs)?;
            match keep {
                None => Ok(all),
                Some(keep) => Ok(keep.iter().map(|&i| all[i].clone()).collect()),
            }
        }
    }
}

/// Decodes the protobuf, mapping failures (and empty input) to [`ModelError::Corrupt`].
pub(crate) fn decode(bytes: &[u8]) -> Result<pb::ModelProto> {
    if bytes.is_empty() {
        return Err(ModelError::Corrupt("the file is empty".into()));
    }
    let proto = pb::ModelProto::decode(bytes).map_err(|e| ModelError::Corrupt(e.to_string()))?;
    if proto.graph.is_none() {
        return Err(ModelError::Corrupt("the ModelProto has no graph".into()));
    }
    Ok(proto)
}

/// Reads the graph inputs (initializers excluded) and outputs with their types and shapes.
pub(crate) fn signature_of(graph: &pb::GraphProto) -> Result<Signature> {
    let initializers: std::collections::HashSet<&str> =
        graph.initializer.iter().map(|t| t.name.as_str()).collect();
    let inputs = graph
        .input
        .iter()
        .filter(|vi| !initializers.contains(vi.name.as_str()))
        .map(tensor_info)
        .collect::<Result<Vec<_>>>()?;
    let outputs = graph
        .output
        .iter()
        .map(tensor_info)
        .collect::<Result<Vec<_>>>()?;
    if inputs.is_empty() {
        return Err(ModelError::Corrupt("the graph has no inputs".into()));
    }
    if outputs.is_empty() {
        return Err(ModelError::Corrupt("the graph has no outputs".into()));
    }
    Ok(Signature { inputs, outputs })
}

fn tensor_info(vi: &pb::ValueInfoProto) -> Result<TensorInfo> {
    use pb::tensor_shape_proto::dimension::Value as D;
    use pb::type_proto::Value as V;
    let tensor = match vi.r#type.as_ref().and_then(|t| t.value.as_ref()) {
        Some(V::TensorType(t)) => t,
        None => {
            return Err(ModelError::Corrupt(format!(
                "graph value '{}' has no tensor type (sequences and maps are not supported; \
                 export classifiers with zipmap disabled)",
                vi.name
            )));
        }
    };
    let shape = tensor.shape.as_ref().map(|s| {
        s.dim
            .iter()
            .enumerate()
            .map(|(axis, d)| match &d.value {
                Some(D::DimValue(v)) if *v >= 0 => Dim::Fixed(*v as usize),
                Some(D::DimParam(p)) if !p.is_empty() && p != "?" => Dim::Symbolic(p.clone()),
                _ if axis == 0 => Dim::Symbolic("N".into()),
                _ => Dim::Symbolic(format!("unk_{axis}")),
            })
            .collect()
    });
    Ok(TensorInfo {
        name: vi.name.clone(),
        elem_type: ElementType::from_onnx(tensor.elem_type),
        shape,
    })
}

/// Checks the inputs against the signature: count, element kinds, ranks, fixed sizes and a
/// batch dimension shared by all inputs. Returns the batch size.
pub(crate) fn check_inputs(signature: &Signature, inputs: &[Tensor]) -> Result<usize> {
    if inputs.len() != signature.inputs.len() {
        return Err(ModelError::BadInput {
            input: signature
                .inputs
                .get(inputs.len())
                .map(|i| i.name.clone())
                .unwrap_or_else(|| "<extra>".into()),
            message: format!(
                "the model takes {} input(s), got {}",
                signature.inputs.len(),
                inputs.len()
            ),
        });
    }
    let mut batch: Option<usize> = None;
    for (info, tensor) in signature.inputs.iter().zip(inputs) {
        let bad = |message: String| ModelError::BadInput {
            input: info.name.clone(),
            message,
        };
        let kind_ok = match info.elem_type {
            t if t.is_float() => tensor.element_type() == ElementType::F32,
            ElementType::String => tensor.element_type() == ElementType::String,
            _ => tensor.element_type() == ElementType::I64,
        };
        if !kind_ok {
            return Err(bad(format!(
                "expected {} values, got {}",
                info.elem_type.name(),
                tensor.element_type().name()
            )));
        }
        if let Some(dims) = &info.shape {
            if dims.len() != tensor.shape.len() {
                return Err(bad(format!(
                    "expected shape {}, got {:?}",
                    info.shape_string(),
                    tensor.shape
                )));
            }
            for (axis, (d, &got)) in dims.iter().zip(&tensor.shape).enumerate() {
                if let Dim::Fixed(want) = d {
                    if *want != got {
                        return Err(bad(format!(
                            "expected shape {}, got {:?} (axis {axis})",
                            info.shape_string(),
                            tensor.shape
                        )));
                    }
                }
            }
        }
        if let Some(&b) = tensor.shape.first() {
            match batch {
                None => batch = Some(b),
                Some(prev) if prev != b => {
                    return Err(bad(format!(
                        "batch size {b} differs from the other inputs' {prev}"
                    )))
                }
                Some(_) => {}
            }
        }
    }
    Ok(batch.unwrap_or(1))
}

#[cfg(test)]
mod tests {
    use tract_onnx::pb;

    use super::*;
    use crate::test_graphs::{model, node, value};

    /// `y = |x @ W|` with W of `rows` x 2, for x of 3 features (the `Abs` keeps the graph
    /// on tract: the dense evaluator has no such op and would take a bare product).
    fn matmul(rows: i64) -> Vec<u8> {
        let w: Vec<f32> = (0..rows * 2).map(|i| i as f32).collect();
        model(pb::GraphProto {
            node: vec![node("MatMul", &["x", "W"], "p"), node("Abs", &["p"], "y")],
            input: vec![value("x", &[-1, 3])],
            output: vec![value("y", &[-1, 2])],
            initializer: vec![pb::TensorProto {
                name: "W".into(),
                dims: vec![rows, 2],
                data_type: pb::tensor_proto::DataType::Float as i32,
                float_data: w,
                ..Default::default()
            }],
            ..Default::default()
        })
    }

    #[test]
    fn a_deferred_model_prepares_on_first_use_with_the_same_outputs() {
        let bytes = matmul(3);
        let eager = OnnxModel::from_bytes(&bytes).unwrap();
        let deferred = OnnxModel::from_bytes_deferred(&bytes, None, Backend::Tract).unwrap();
        assert!(format!("{deferred:?}").contains("not yet"));
        assert_eq!(deferred.signature(), eager.signature());
        let x = Tensor::f32(vec![2, 3], vec![1.0, 2.0, 3.0, -1.0, 0.5, 4.0]).unwrap();
        let a = eager.forward(std::slice::from_ref(&x)).unwrap();
        let b = deferred.forward(std::slice::from_ref(&x)).unwrap();
        assert_eq!(a[0].as_f32(), b[0].as_f32());
        assert_eq!(a[0].as_f32().unwrap(), [16.0, 22.0, 17.0, 20.5]);
    }

    #[test]
    fn a_graph_that_cannot_be_prepared_fails_every_use_and_at_prepared() {
        // W has 4 rows for 3 features: tract refuses the MatMul when it plans the graph.
        let bytes = matmul(4);
        assert!(OnnxModel::from_bytes(&bytes).is_err());
        let deferred = OnnxModel::from_bytes_deferred(&bytes, None, Backend::Tract).unwrap();
        let x = Tensor::f32(vec![1, 3], vec![1.0, 2.0, 3.0]).unwrap();
        for _ in 0..2 {
            let e = deferred.forward(std::slice::from_ref(&x)).unwrap_err();
            assert!(matches!(e, ModelError::Prepare(_)), "{e}");
        }
        assert!(matches!(deferred.prepared(), Err(ModelError::Prepare(_))));
        // An operator tract does not know fails at once, deferred or not.
        let unknown = model(pb::GraphProto {
            node: vec![node("NoSuchOp", &["x"], "y")],
            input: vec![value("x", &[-1, 3])],
            output: vec![value("y", &[-1, 3])],
            ..Default::default()
        });
        let e = OnnxModel::from_bytes_deferred(&unknown, None, Backend::Tract).unwrap_err();
        assert!(matches!(e, ModelError::UnsupportedOp { .. }), "{e}");
    }
}
