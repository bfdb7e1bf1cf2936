//! Prism's engine: the one crate the surfaces (CLI, server, Python) import.
//!
//! An [`Explainer`] loads a **model directory** — `model.onnx`, `explanation_metadata.json`
//! (Vertex or legacy SDK format) and an optional `explanation_spec.json` (parameters, or a
//! whole ExplanationSpec) — checks everything once, and then explains or predicts JSON
//! instances, many at a time in parallel. [`batch`] runs Vertex batch prediction jobs over
//! files with it: streamed, sharded, resumable with every record written exactly once.
//! [`LoadOptions`] choose the [`Backend`] a model runs on: tract (the default) or ONNX
//! Runtime (cargo feature `ort`).
//!
//! ```no_run
//! let explainer = prism_engine::Explainer::load("testdata/models/breast_cancer_mlp")?;
//! let line = std::fs::read_to_string("testdata/models/breast_cancer_mlp/instances.jsonl")?;
//! let instance: serde_json::Value = serde_json::from_str(line.lines().next().unwrap())?;
//! let explanation = explainer.explain(&instance)?;
//! println!("{}", serde_json::to_string_pretty(&explanation)?);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
#![deny(missing_docs)]

pub mod batch;
mod error;
pub mod examples;
mod explainer;
mod infer;
pub mod storage;

pub use error::EngineError;
pub use explainer::{Explainer, LoadOptions, ModelFiles, METADATA_FILE, MODEL_FILE, SPEC_FILE};
pub use infer::infer_metadata;
pub use prism_attribution::AttributionError;
pub use prism_model::ModelError;
pub use prism_model::{Backend, Dim, ElementType, Signature, Tensor, TensorData, TensorInfo};
pub use prism_spec::{
    Attribution, Examples, Explanation, ExplanationMetadata, ExplanationParameters,
    ExplanationSpec, ExplanationSpecOverride, Method, SpecError,
};
