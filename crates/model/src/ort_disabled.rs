//! Stand-in for the ONNX Runtime backend in builds without the cargo feature `ort`: the same
//! signatures, and every use is [`ModelError::BackendUnavailable`].

use tract_onnx::pb;

use crate::error::{ModelError, Result};
use crate::signature::Signature;
use crate::tensor::Tensor;
use crate::Backend;

/// Whether the ONNX Runtime backend is compiled in.
pub(crate) const COMPILED: bool = false;

fn unavailable() -> ModelError {
    ModelError::BackendUnavailable {
        backend: Backend::Ort,
        reason: "this build of Prism has no ONNX Runtime support; rebuild it with \
                 `--features ort` (e.g. `cargo build --release -p prism-cli --features ort`)"
            .into(),
    }
}

/// Never loads: see [`ensure_available`].
pub(crate) fn ensure_available() -> Result<()> {
    Err(unavailable())
}

/// Never constructed: [`OrtGraph::new`] always fails.
pub(crate) struct OrtGraph {
    never: std::convert::Infallible,
}

impl OrtGraph {
    pub(crate) fn new(
        _proto: &pb::ModelProto,
        _signature: &Signature,
        _keep: Option<&[usize]>,
    ) -> Result<Self> {
        Err(unavailable())
    }

    pub(crate) fn run(&self, _inputs: &[Tensor]) -> Result<Vec<Tensor>> {
        match self.never {}
    }
}
