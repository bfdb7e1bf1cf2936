//! Server state: configuration, the registry, loaded models, operation signalling and limits.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use prism_engine::Explainer;
use tokio::sync::{Notify, RwLock, Semaphore};

use crate::registry::Registry;

/// The default [`ServerConfig::node_lease`].
pub const DEFAULT_NODE_LEASE: Duration = Duration::from_secs(10);

/// How `prism serve` runs.
#[derive(Debug, Clone)]
pub struct ServerConfig {
    /// Where artifacts (and the default SQLite registry) live.
    pub data_dir: PathBuf,
    /// Registry URL; `None` = `sqlite://<data_dir>/registry.db`.
    pub database_url: Option<String>,
    /// The most explanation requests computed at once; more get 429 with Retry-After.
    pub max_concurrent_explanations: usize,
    /// The most instances one predict/explain request may carry.
    pub max_instances: usize,
    /// The largest request body, in bytes.
    pub max_body_bytes: usize,
    /// Per-request deadline for predict and explain.
    pub request_timeout: Duration,
    /// Bearer tokens accepted; empty: no authentication. `/healthz` and `/v2/health/*`
    /// stay open.
    pub auth_tokens: Vec<String>,
    /// The runtime models are loaded on.
    pub backend: prism_engine::Backend,
    /// The most batch prediction jobs run at once; others wait `JOB_STATE_QUEUED`.
    pub max_concurrent_jobs: usize,
    /// How long a server node stays alive to the others without a heartbeat (it beats five
    /// times per lease). Past it, another node fails its operations and takes over its
    /// batch jobs (see `docs/server.md`).
    pub node_lease: Duration,
}

impl ServerConfig {
    /// Defaults for a data directory.
    pub fn new(data_dir: impl Into<PathBuf>) -> Self {
        Self {
            data_dir: data_dir.into(),
            database_url: None,
            max_concurrent_explanations: 2 * std::thread::available_parallelism()
                .map(|n| n.get())
                .unwrap_or(2),
            max_instances: 1000,
            max_body_bytes: 32 << 20,
            auth_tokens: Vec::new(),
            request_timeout: Duration::from_secs(120),
            backend: prism_engine::Backend::default(),
            max_concurrent_jobs: 2,
            node_lease: DEFAULT_NODE_LEASE,
        }
    }

    /// The registry URL in force.
    pub fn registry_url(&self) -> String {
        self.database_url
            .clone()
            .unwrap_or_else(|| format!("sqlite://{}", self.data_dir.join("registry.db").display()))
    }
}

/// A model deployed on an endpoint, ready to serve.
#[derive(Clone)]
pub struct Deployed {
    /// The DeployedModel id.
    pub id: String,
    /// The endpoint it is deployed on.
    pub endpoint: String,
    /// The model resource name.
    pub model: String,
    /// The model's display name.
    pub model_display_name: String,
    /// The prepared explainer (the model's spec with the DeployedModel's spec over it).
    pub explainer: Arc<Explainer>,
}

/// Shared by every request.
pub struct AppState {
    /// The configuration.
    pub config: ServerConfig,
    /// Models, endpoints, operations, batch prediction jobs.
    pub registry: Registry,
    /// Deployed models loaded in this process, by DeployedModel id. The registry's
    /// endpoints are the truth: models deployed by other server nodes are loaded when first
    /// asked for, and undeployed ones dropped (see `routes::endpoints::ensure_loaded`).
    pub deployed: RwLock<HashMap<String, Deployed>>,
    /// One lock per DeployedModel id being loaded, so concurrent requests wait for the same
    /// load.
    pub loading: std::sync::Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>,
    /// Woken whenever an operation finishes (for `:wait`).
    pub operation_done: Notify,
    /// Bounds concurrent explanation work.
    pub permits: Arc<Semaphore>,
    /// Request counters for `/metrics`.
    pub metrics: crate::metrics::Metrics,
    /// The web UI's recent explanations (for redrawing their heatmaps).
    pub ui: crate::ui::UiState,
    /// The batch prediction job workers.
    pub jobs: crate::jobs::Jobs,
    /// This process as a server node of the registry.
    pub node: crate::nodes::Node,
    /// The lock held on a SQLite registry's file while the server lives (see
    /// [`crate::lock_sqlite_registry`]).
    pub registry_lock: Option<std::fs::File>,
}

impl AppState {
    /// Where a model's artifacts live.
    pub fn model_dir(&self, model_id: &str) -> PathBuf {
        self.config.data_dir.join("models").join(model_id)
    }
}
