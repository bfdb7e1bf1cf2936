//! Loading and running ONNX models for Prism.
//!
//! [`OnnxModel::load`] reads a model file, reports its [`Signature`] (input and output names,
//! element types, shapes with symbolic batch dimensions) and runs batched forward passes of
//! any batch size through the [`Model`] trait. General graphs run on a [`Backend`]: tract
//! (built in, the default) or ONNX Runtime (cargo feature `ort`, see
//! [`OnnxModel::from_bytes_with`]); graphs of ONNX-ML tree ensembles run on Prism's own
//! evaluator ([`trees`]) whatever the backend, and small dense networks (matrix products,
//! biases, activations, Softmax) on Prism's own dense evaluator when the backend is tract.
//!
//! ```no_run
//! use prism_model::{Model, OnnxModel, Tensor};
//! let model = OnnxModel::load("testdata/models/peer_linear/model.onnx")?;
//! let x = Tensor::f32(vec![2, 3], vec![30.0, 60.0, 30.0, 10.0, 20.0, 10.0])?;
//! let outputs = model.forward(&[x])?;
//! assert_eq!(outputs[0].shape, vec![2, 1]);
//! # Ok::<(), prism_model::ModelError>(())
//! ```
#![deny(missing_docs)]

mod backend;
mod dense;
mod error;
mod fold;
pub mod gradient;
mod onnx;
#[cfg(feature = "ort")]
mod ort_backend;
#[cfg(not(feature = "ort"))]
#[path = "ort_disabled.rs"]
mod ort_backend;
mod signature;
mod tensor;
#[cfg(test)]
mod test_graphs;
mod tract_backend;
pub mod trees;

pub use backend::Backend;
pub use error::{ModelError, Result};
pub use onnx::OnnxModel;
pub use signature::{Dim, Signature, TensorInfo};
pub use tensor::{ElementType, Tensor, TensorData};

/// Something Prism can explain: a function from input tensors to output tensors.
pub trait Model: Send + Sync {
    /// Inputs and outputs, in graph order.
    fn signature(&self) -> &Signature;

    /// Runs one batched forward pass. `inputs` follow the signature's input order and share
    /// their first (batch) dimension; outputs follow the signature's output order.
    fn forward(&self, inputs: &[Tensor]) -> Result<Vec<Tensor>>;
}
