//! The engine's error type.

use prism_attribution::AttributionError;
use prism_model::ModelError;
use prism_spec::SpecError;

/// Everything that can go wrong loading a model directory or explaining with it.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum EngineError {
    /// A file of the model directory could not be read.
    #[error("cannot read {path}: {source}")]
    Io {
        /// The file.
        path: String,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
    /// A spec, metadata or parameters document is invalid; `file` says which.
    #[error("{file}: {source}")]
    Spec {
        /// The file (or `request`) the document came from.
        file: String,
        /// The problem, with its field path.
        #[source]
        source: SpecError,
    },
    /// The model cannot be loaded or run.
    #[error(transparent)]
    Model(#[from] ModelError),
    /// The metadata does not fit the model, or an instance does not fit the metadata.
    #[error(transparent)]
    Attribution(#[from] AttributionError),
    /// Example-based explanations cannot be given (no embedding, no index, a bad request).
    #[error("{0}")]
    Examples(String),
    /// The nearest-neighbour index failed (a corrupt file, a query of the wrong size).
    #[error(transparent)]
    Index(#[from] prism_neighbors::NeighborsError),
    /// A batch job's options are invalid.
    #[error("invalid batch job: {message}")]
    InvalidBatchOptions {
        /// What is wrong.
        message: String,
    },
    /// A batch input names no file.
    #[error("no input file matches {uri}")]
    NoInput {
        /// The path, URI or pattern.
        uri: String,
    },
    /// A batch input is of a kind not supported (yet).
    #[error("cannot read {uri}: {reason}")]
    UnsupportedInput {
        /// The URI.
        uri: String,
        /// Why, and what to do instead.
        reason: &'static str,
    },
    /// A batch job's checkpoint, or an output it covers, cannot be used.
    #[error("checkpoint {path}: {message}")]
    Checkpoint {
        /// The checkpoint or output file.
        path: String,
        /// What is wrong.
        message: String,
    },
    /// Another process is running the same shard of the same job.
    #[error("{path}: another process is running this shard of the job")]
    ShardBusy {
        /// The shard's lock file.
        path: String,
    },
    /// A file or object of a batch job or model (local, `file://`, `s3://`, `gs://`)
    /// cannot be read or written.
    #[error(transparent)]
    Storage(#[from] crate::storage::StorageError),
    /// A job folder holds another job: resuming it with these options would mix outputs.
    #[error("{job_dir} holds a job started with another {field}; run it with the options it was started with, or choose another job id")]
    JobMismatch {
        /// The job folder.
        job_dir: String,
        /// The first option that differs.
        field: &'static str,
    },
}

impl EngineError {
    /// True when the fault is in a request or instance rather than in the model directory.
    pub fn is_invalid_input(&self) -> bool {
        matches!(
            self,
            EngineError::Attribution(
                AttributionError::Instance { .. } | AttributionError::Parameters { .. }
            ) | EngineError::Model(ModelError::BadInput { .. })
                | EngineError::Index(
                    prism_neighbors::NeighborsError::InvalidQuery { .. }
                        | prism_neighbors::NeighborsError::DimensionMismatch { .. }
                        | prism_neighbors::NeighborsError::NonFinite { .. }
                )
                | EngineError::InvalidBatchOptions { .. }
                | EngineError::NoInput { .. }
                | EngineError::UnsupportedInput { .. }
                | EngineError::JobMismatch { .. }
                | EngineError::Storage(
                    crate::storage::StorageError::InvalidUrl { .. }
                        | crate::storage::StorageError::NoMatch { .. }
                        | crate::storage::StorageError::NotFound { .. }
                )
        )
    }
}
