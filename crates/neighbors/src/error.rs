//! The crate's error type.

use std::path::PathBuf;

/// Everything that can go wrong building, searching, changing, saving or loading an index.
///
/// Every variant a caller can cause names the field or value that is wrong.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum NeighborsError {
    /// The configuration is invalid (a field out of range, zero dimensions, …).
    #[error("invalid index configuration: {field}: {reason}")]
    InvalidConfig {
        /// The configuration field, e.g. `fraction_leaf_nodes_to_search`.
        field: &'static str,
        /// Why it is rejected.
        reason: String,
    },
    /// A vector has the wrong number of components.
    #[error("{what} has {got} dimensions, the index has {expected}")]
    DimensionMismatch {
        /// Which vector: `example "17"` or `query`.
        what: String,
        /// The index's dimension count.
        expected: usize,
        /// The vector's length.
        got: usize,
    },
    /// A vector holds NaN or an infinity.
    #[error("{what} has a non-finite value at component {component}")]
    NonFinite {
        /// Which vector: `example "17"` or `query`.
        what: String,
        /// The first offending component.
        component: usize,
    },
    /// An example id is empty.
    #[error("example at position {position} has an empty id")]
    EmptyId {
        /// Position of the example in the batch.
        position: usize,
    },
    /// Two examples of one `build` or `add` call share an id, or `add` names an id the
    /// index already holds (use `upsert` to replace).
    #[error("duplicate example id {id:?}")]
    DuplicateId {
        /// The id.
        id: String,
    },
    /// A query is invalid (k = 0, crowding count 0, an empty namespace, …).
    #[error("invalid query: {field}: {reason}")]
    InvalidQuery {
        /// The query field, e.g. `k` or `crowding_count`.
        field: &'static str,
        /// Why it is rejected.
        reason: String,
    },
    /// The index grew past what the format can address (2^32 − 1 rows).
    #[error("the index is full: at most {max} examples")]
    Full {
        /// The limit.
        max: usize,
    },
    /// Reading or writing a file failed.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The operating system's error.
        #[source]
        source: std::io::Error,
    },
    /// A file is not an index file, is from an unsupported format version, is truncated or
    /// fails its checksums. Never a wrong answer: such a file is refused whole.
    #[error("{path}: not a valid index file: {reason}")]
    Corrupt {
        /// The file.
        path: PathBuf,
        /// What is wrong, e.g. `section 3 (vectors) fails its CRC32`.
        reason: String,
    },
}

/// Result alias for this crate.
pub type Result<T, E = NeighborsError> = std::result::Result<T, E>;
