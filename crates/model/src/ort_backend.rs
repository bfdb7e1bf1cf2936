//! Execution of general ONNX graphs on ONNX Runtime (cargo feature `ort`).
//!
//! The library is loaded at run time (`ort`'s `load-dynamic`): from the file
//! `ORT_DYLIB_PATH` names, else `libonnxruntime.so` on the loader's search path. Nothing is
//! downloaded or linked at build time. A missing or too old library is
//! [`ModelError::BackendUnavailable`], never a panic.
//!
//! `ort` runs a session through `&mut self`, so each graph keeps a small pool of sessions:
//! a run takes an idle one, or opens another while fewer than [`max_sessions`] are open, or
//! waits for one to come back. Each session runs on one intra-op thread: parallelism comes
//! from callers (rayon batches), and on two shared cores two intra-op threads per session
//! ran resnet_small and its gradient model 1.5–2× slower than one.

use std::path::PathBuf;
use std::sync::{Condvar, Mutex, MutexGuard, PoisonError};

use ort::environment::Environment;
use ort::session::{Session, SessionInputValue};
use ort::value::{DynValue, Tensor as OrtTensor, TensorElementType, TensorRef, ValueType};
use prost::Message;
use tract_onnx::pb;

use crate::error::{ModelError, Result};
use crate::signature::Signature;
use crate::tensor::{ElementType, Tensor, TensorData};
use crate::Backend;

/// Whether the ONNX Runtime backend is compiled in.
pub(crate) const COMPILED: bool = true;

/// The environment variable naming the ONNX Runtime library file.
const DYLIB_VAR: &str = "ORT_DYLIB_PATH";

/// The library's file name, looked up on the loader's search path when `ORT_DYLIB_PATH` is
/// unset.
const DEFAULT_DYLIB: &str = "libonnxruntime.so";

/// The process's ONNX Runtime environment, made on first use. A failed load is not kept,
/// so a later call tries again.
static ENVIRONMENT: Mutex<Option<Environment>> = Mutex::new(None);

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // The guarded values stay consistent across a panic (a list of idle sessions, a count).
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

fn unavailable(reason: String) -> ModelError {
    ModelError::BackendUnavailable {
        backend: Backend::Ort,
        reason,
    }
}

/// Loads the library (once) and returns the environment sessions are made in.
fn environment() -> Result<Environment> {
    let mut slot = lock(&ENVIRONMENT);
    if let Some(env) = slot.as_ref() {
        return Ok(env.clone());
    }
    let from_var = std::env::var_os(DYLIB_VAR).filter(|p| !p.is_empty());
    let path = from_var
        .clone()
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(DEFAULT_DYLIB));
    let builder = ort::init_from(&path).map_err(|e| {
        let hint = "the libonnxruntime.so* file of ONNX Runtime 1.17 or later, e.g. \
                    onnxruntime/capi/libonnxruntime.so.1.31.1 from `pip install onnxruntime==1.31.1`";
        let what = match from_var {
            Some(_) => format!("cannot load ONNX Runtime ({DYLIB_VAR}={})", path.display()),
            None => format!(
                "{DYLIB_VAR} is not set and {DEFAULT_DYLIB} is not on the library search path"
            ),
        };
        unavailable(format!("{what}: {e}; set {DYLIB_VAR} to {hint}"))
    })?;
    let env = builder
        .with_name("prism")
        .build()
        .map_err(|e| unavailable(format!("cannot start ONNX Runtime: {e}")))?;
    *slot = Some(env.clone());
    Ok(env)
}

/// Loads the library if needed; fails when it cannot be loaded.
pub(crate) fn ensure_available() -> Result<()> {
    environment().map(|_| ())
}

/// How many sessions one graph may have open: one per core, so parallel callers (rayon
/// batches) never queue behind each other.
fn max_sessions() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

/// A graph prepared on ONNX Runtime, with its pool of sessions.
pub(crate) struct OrtGraph {
    /// The model as sessions load it (outputs limited to those kept), to open more sessions.
    model: Vec<u8>,
    environment: Environment,
    /// Name and element type of each input, in signature order.
    inputs: Vec<(String, ElementType)>,
    /// The outputs returned, in order.
    outputs: Vec<String>,
    pool: Mutex<Pool>,
    /// Signalled when a session goes back to the pool.
    returned: Condvar,
    max_sessions: usize,
}

struct Pool {
    idle: Vec<Session>,
    /// Sessions open, idle or running.
    open: usize,
}

impl OrtGraph {
    /// Prepares the graph; `keep` (indices into the signature's outputs) limits it to those
    /// outputs, and nodes only other outputs need are removed before ONNX Runtime sees it.
    pub(crate) fn new(
        proto: &pb::ModelProto,
        signature: &Signature,
        keep: Option<&[usize]>,
    ) -> Result<Self> {
        let environment = environment()?;
        let outputs: Vec<String> = match keep {
            Some(keep) => keep
                .iter()
                .map(|&i| signature.outputs[i].name.clone())
                .collect(),
            None => signature.outputs.iter().map(|o| o.name.clone()).collect(),
        };
        let model = match keep {
            Some(_) => limit_outputs(proto, &outputs).encode_to_vec(),
            None => proto.encode_to_vec(),
        };
        let graph = Self {
            model,
            environment,
            inputs: signature
                .inputs
                .iter()
                .map(|i| (i.name.clone(), i.elem_type))
                .collect(),
            outputs,
            pool: Mutex::new(Pool {
                idle: Vec::new(),
                open: 1,
            }),
            returned: Condvar::new(),
            max_sessions: max_sessions(),
        };
        // The first session is opened now, so a graph ONNX Runtime rejects fails here.
        let first = graph.open_session()?;
        lock(&graph.pool).idle.push(first);
        Ok(graph)
    }

    fn open_session(&self) -> Result<Session> {
        let prepare = |e: ort::Error| ModelError::Prepare(format!("onnxruntime: {e}"));
        Session::builder(&self.environment)
            .map_err(prepare)?
            .with_intra_threads(1)
            .map_err(|e| prepare(e.into()))?
            .commit_from_memory(&self.model)
            .map_err(prepare)
    }

    /// An idle session, a new one while fewer than `max_sessions` are open, or the next one
    /// another caller gives back.
    fn take(&self) -> Result<Lease<'_>> {
        let mut pool = lock(&self.pool);
        loop {
            if let Some(session) = pool.idle.pop() {
                return Ok(Lease {
                    graph: self,
                    session: Some(session),
                });
            }
            if pool.open < self.max_sessions {
                pool.open += 1;
                drop(pool);
                return match self.open_session() {
                    Ok(session) => Ok(Lease {
                        graph: self,
                        session: Some(session),
                    }),
                    Err(e) => {
                        lock(&self.pool).open -= 1;
                        Err(e)
                    }
                };
            }
            pool = self
                .returned
                .wait(pool)
                .unwrap_or_else(PoisonError::into_inner);
        }
    }

    pub(crate) fn run(&self, inputs: &[Tensor]) -> Result<Vec<Tensor>> {
        let values: Vec<(&str, SessionInputValue<'_>)> = self
            .inputs
            .iter()
            .zip(inputs)
            .map(|((name, elem_type), t)| Ok((name.as_str(), input_value(name, *elem_type, t)?)))
            .collect::<Result<_>>()?;
        let mut lease = self.take()?;
        let session = lease
            .session
            .as_mut()
            .expect("a lease holds its session until dropped; this is a bug");
        let exec = |e: ort::Error| ModelError::Execution(format!("onnxruntime: {e}"));
        let outputs = session.run(values).map_err(exec)?;
        self.outputs
            .iter()
            .map(|name| {
                let value = outputs.get(name).ok_or_else(|| {
                    ModelError::Execution(format!("onnxruntime returned no output '{name}'"))
                })?;
                from_ort(name, value)
            })
            .collect()
    }
}

/// A session taken from the pool; dropping it puts the session back.
struct Lease<'g> {
    graph: &'g OrtGraph,
    session: Option<Session>,
}

impl Drop for Lease<'_> {
    fn drop(&mut self) {
        if let Some(session) = self.session.take() {
            lock(&self.graph.pool).idle.push(session);
            self.graph.returned.notify_one();
        }
    }
}

/// The input as ONNX Runtime takes it: borrowed when Prism's tensor already holds the
/// declared element type, converted otherwise.
fn input_value<'t>(
    name: &str,
    elem_type: ElementType,
    t: &'t Tensor,
) -> Result<SessionInputValue<'t>> {
    let shape: Vec<i64> = t.shape.iter().map(|&d| d as i64).collect();
    let bad = |message: String| ModelError::BadInput {
        input: name.to_string(),
        message,
    };
    let ort_error = |e: ort::Error| bad(format!("onnxruntime: {e}"));
    let value: SessionInputValue<'t> = match (elem_type, &t.data) {
        (ElementType::F32, TensorData::F32(v)) => TensorRef::from_array_view((shape, &v[..]))
            .map_err(ort_error)?
            .into(),
        (ElementType::F64, TensorData::F32(v)) => {
            let v: Vec<f64> = v.iter().map(|&x| f64::from(x)).collect();
            OrtTensor::from_array((shape, v)).map_err(ort_error)?.into()
        }
        (ElementType::I64, TensorData::I64(v)) => TensorRef::from_array_view((shape, &v[..]))
            .map_err(ort_error)?
            .into(),
        (ElementType::I32, TensorData::I64(v)) => {
            let v: Vec<i32> = v.iter().map(|&x| x as i32).collect();
            OrtTensor::from_array((shape, v)).map_err(ort_error)?.into()
        }
        (ElementType::U8, TensorData::I64(v)) => {
            let v: Vec<u8> = v.iter().map(|&x| x as u8).collect();
            OrtTensor::from_array((shape, v)).map_err(ort_error)?.into()
        }
        (ElementType::Bool, TensorData::I64(v)) => {
            let v: Vec<bool> = v.iter().map(|&x| x != 0).collect();
            OrtTensor::from_array((shape, v)).map_err(ort_error)?.into()
        }
        (ElementType::String, TensorData::Str(v)) => OrtTensor::from_string_array((shape, &v[..]))
            .map_err(ort_error)?
            .into(),
        (elem_type, _) => {
            return Err(bad(format!(
                "{} inputs are not supported on ONNX Runtime",
                elem_type.name()
            )))
        }
    };
    Ok(value)
}

/// An output as Prism's tensor: floats as `f32`, integers and booleans as `i64`.
fn from_ort(name: &str, value: &DynValue) -> Result<Tensor> {
    let exec = |e: ort::Error| ModelError::Execution(format!("onnxruntime output '{name}': {e}"));
    let ty = match value.dtype() {
        ValueType::Tensor { ty, .. } => *ty,
        other => {
            return Err(ModelError::Execution(format!(
                "onnxruntime output '{name}' is a {other}, not a tensor"
            )))
        }
    };
    fn ints<T: ort::value::PrimitiveTensorElementType + Copy>(
        value: &DynValue,
        to_i64: impl Fn(T) -> i64,
    ) -> ort::Result<(Vec<usize>, TensorData)> {
        let (shape, data) = value.try_extract_tensor::<T>()?;
        Ok((
            dims(shape),
            TensorData::I64(data.iter().map(|&x| to_i64(x)).collect()),
        ))
    }
    let (shape, data) = match ty {
        TensorElementType::Float32 => {
            let (shape, data) = value.try_extract_tensor::<f32>().map_err(exec)?;
            (dims(shape), TensorData::F32(data.to_vec()))
        }
        TensorElementType::Float64 => {
            let (shape, data) = value.try_extract_tensor::<f64>().map_err(exec)?;
            (
                dims(shape),
                TensorData::F32(data.iter().map(|&x| x as f32).collect()),
            )
        }
        TensorElementType::Int64 => ints::<i64>(value, |x| x).map_err(exec)?,
        TensorElementType::Int32 => ints::<i32>(value, i64::from).map_err(exec)?,
        TensorElementType::Int16 => ints::<i16>(value, i64::from).map_err(exec)?,
        TensorElementType::Int8 => ints::<i8>(value, i64::from).map_err(exec)?,
        TensorElementType::Uint8 => ints::<u8>(value, i64::from).map_err(exec)?,
        TensorElementType::Uint16 => ints::<u16>(value, i64::from).map_err(exec)?,
        TensorElementType::Uint32 => ints::<u32>(value, i64::from).map_err(exec)?,
        TensorElementType::Uint64 => ints::<u64>(value, |x| x as i64).map_err(exec)?,
        TensorElementType::Bool => ints::<bool>(value, i64::from).map_err(exec)?,
        TensorElementType::String => {
            let (shape, data) = value.try_extract_strings().map_err(exec)?;
            (dims(shape), TensorData::Str(data))
        }
        other => {
            return Err(ModelError::Execution(format!(
                "onnxruntime output '{name}' has element type {other:?}, which Prism does not read"
            )))
        }
    };
    Tensor::new(shape, data)
}

fn dims(shape: &ort::value::Shape) -> Vec<usize> {
    shape.iter().map(|&d| d.max(0) as usize).collect()
}

/// `proto` with only the named graph outputs (in that order) and only the nodes they need.
/// Nodes are in topological order (the ONNX rule), so one backward sweep finds them.
fn limit_outputs(proto: &pb::ModelProto, outputs: &[String]) -> pb::ModelProto {
    let mut out = proto.clone();
    let Some(graph) = out.graph.as_mut() else {
        return out;
    };
    graph.output = outputs
        .iter()
        .filter_map(|name| graph.output.iter().find(|o| &o.name == name).cloned())
        .collect();
    let mut needed: std::collections::HashSet<String> = outputs.iter().cloned().collect();
    let mut keep = vec![false; graph.node.len()];
    for (i, node) in graph.node.iter().enumerate().rev() {
        if node.output.iter().any(|o| needed.contains(o)) {
            keep[i] = true;
            needed.extend(node.input.iter().cloned());
            needed.extend(subgraph_inputs(node));
        }
    }
    let mut keep = keep.into_iter();
    graph.node.retain(|_| keep.next().unwrap_or(true));
    out
}

/// Every value the node's subgraphs (`If` branches, `Loop` bodies) read, which may come from
/// the outer graph.
fn subgraph_inputs(node: &pb::NodeProto) -> Vec<String> {
    let mut names = Vec::new();
    let mut stack: Vec<&pb::GraphProto> = node
        .attribute
        .iter()
        .flat_map(|a| a.g.iter().chain(&a.graphs))
        .collect();
    while let Some(g) = stack.pop() {
        for n in &g.node {
            names.extend(n.input.iter().cloned());
            stack.extend(n.attribute.iter().flat_map(|a| a.g.iter().chain(&a.graphs)));
        }
    }
    names
}
