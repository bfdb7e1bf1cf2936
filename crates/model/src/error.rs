//! The one error type of this crate.

/// Everything that can go wrong loading or running a model.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ModelError {
    /// The model file could not be read from disk.
    #[error("cannot read model file {path}: {source}")]
    Io {
        /// The file that could not be read.
        path: String,
        /// What the operating system said.
        #[source]
        source: std::io::Error,
    },
    /// The bytes are not a valid ONNX ModelProto.
    #[error("not a valid ONNX model: {0}")]
    Corrupt(String),
    /// The graph uses an operator that Prism cannot run.
    #[error("unsupported ONNX operator {op_type} (domain '{domain}') in node '{node}'")]
    UnsupportedOp {
        /// The operator type, e.g. `TreeEnsemble`.
        op_type: String,
        /// The operator domain (empty for the default ai.onnx domain).
        domain: String,
        /// The node name, or its first output when the node has no name.
        node: String,
    },
    /// The runtime could not prepare the graph (shape inference, type checks, …).
    #[error("cannot prepare the model for execution: {0}")]
    Prepare(String),
    /// An input tensor does not match the model's signature.
    #[error("input '{input}': {message}")]
    BadInput {
        /// The model input the problem is about.
        input: String,
        /// What is wrong with it.
        message: String,
    },
    /// Running the graph failed.
    #[error("model execution failed: {0}")]
    Execution(String),
    /// The gradient pass has no rule for an operator (or for this use of it).
    #[error("cannot differentiate {op_type} node '{node}': {reason}")]
    GradientUnsupported {
        /// The operator type, e.g. `TopK`.
        op_type: String,
        /// The node name, or its first output when the node has no name.
        node: String,
        /// Why: no rule for the op, or which attribute or input the rule does not handle.
        reason: String,
    },
    /// A gradient request names values the graph lacks or that cannot be differentiated.
    #[error("invalid gradient request: {0}")]
    InvalidGradientSpec(String),
    /// The backend cannot run models in this build or on this machine: compiled without its
    /// cargo feature, or (ONNX Runtime) its library cannot be loaded.
    #[error("the {backend} backend is unavailable: {reason}")]
    BackendUnavailable {
        /// The backend asked for.
        backend: crate::Backend,
        /// Why it cannot be used, and what to do about it.
        reason: String,
    },
    /// A backend name that is neither `tract` nor `ort`.
    #[error("unknown backend '{0}' (expected 'tract' or 'ort')")]
    UnknownBackend(String),
    /// A tree ensemble node carries inconsistent attributes.
    #[error("invalid tree ensemble in node '{node}': {message}")]
    InvalidTrees {
        /// The node name.
        node: String,
        /// What is inconsistent.
        message: String,
    },
}

/// Shorthand for this crate's results.
pub type Result<T, E = ModelError> = std::result::Result<T, E>;
