//! The one error type of this crate.

use prism_model::ModelError;
use prism_spec::SpecError;

/// Everything that can go wrong explaining an instance.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AttributionError {
    /// The metadata does not fit the model (unknown tensor, features that do not cover an
    /// input, baselines of the wrong shape, …). `path` is the metadata field at fault.
    #[error("{path}: {message}")]
    Metadata {
        /// Dotted path of the metadata field, e.g. `metadata.inputs.age.inputTensorName`.
        path: String,
        /// What is wrong.
        message: String,
    },
    /// An instance does not fit the metadata (missing feature, wrong type, wrong length).
    #[error("instance {path}: {message}")]
    Instance {
        /// Where in the instance, e.g. `features` or `vec[2]`.
        path: String,
        /// What is wrong.
        message: String,
    },
    /// The request parameters cannot be applied (an output index out of range, …).
    #[error("{path}: {message}")]
    Parameters {
        /// Dotted path of the parameter, e.g. `parameters.outputIndices[1]`.
        path: String,
        /// What is wrong.
        message: String,
    },
    /// The method is not available for this model or not implemented yet.
    #[error("{0}")]
    Unsupported(String),
    /// The spec itself is invalid.
    #[error(transparent)]
    Spec(#[from] SpecError),
    /// The model failed to run.
    #[error(transparent)]
    Model(#[from] ModelError),
    /// The model returned something unusable (a non-finite output, a missing output).
    #[error("model output '{output}': {message}")]
    Output {
        /// The output tensor.
        output: String,
        /// What is wrong.
        message: String,
    },
}

impl AttributionError {
    pub(crate) fn metadata(path: impl Into<String>, message: impl Into<String>) -> Self {
        Self::Metadata {
            path: path.into(),
            message: message.into(),
        }
    }

    pub(crate) fn instance(path: impl Into<String>, message: impl Into<String>) -> Self {
        Self::Instance {
            path: path.into(),
            message: message.into(),
        }
    }

    pub(crate) fn parameters(path: impl Into<String>, message: impl Into<String>) -> Self {
        Self::Parameters {
            path: path.into(),
            message: message.into(),
        }
    }
}

/// Shorthand for this crate's results.
pub type Result<T, E = AttributionError> = std::result::Result<T, E>;
