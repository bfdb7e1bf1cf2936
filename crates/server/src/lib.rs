//! Prism's HTTP server: the Vertex AI REST v1 surface (models, endpoints, operations,
//! predict and explain, batch prediction jobs) over a registry that survives restarts, and a
//! web UI at `/ui` (the `ui` module: pages for models, endpoints, operations and batch jobs, and
//! explanations drawn in the browser).
//!
//! `router(state)` builds the axum `Router`; `serve(config, addr)` opens the registry, loads
//! every deployed model, joins the registry as a node (the `nodes` module: heartbeats, and
//! taking over the operations and batch jobs of nodes that died, so a crash leaves no
//! operation running forever), and serves until Ctrl-C / SIGTERM, finishing requests in
//! flight and stopping running jobs at a checkpoint. Several processes may share one
//! PostgreSQL registry (`docs/server.md`).
//!
//! ```no_run
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! let config = prism_server::ServerConfig::new("./prism-data");
//! prism_server::serve(config, "127.0.0.1:8080".parse()?).await?;
//! # Ok(()) }
//! ```
#![deny(missing_docs)]

mod error;
mod jobs;
mod metrics;
mod names;
mod nodes;
mod openapi;
mod operations;
mod registry;
mod routes;
mod state;
mod time;
mod ui;

use std::net::SocketAddr;
use std::sync::Arc;

use axum::extract::DefaultBodyLimit;
use axum::routing::{any, get};
use axum::{Json, Router};
use serde_json::json;
use tokio::sync::{Notify, RwLock, Semaphore};

pub use error::ApiError;
pub use jobs::Jobs;
pub use metrics::Metrics;
pub use nodes::Node;
pub use registry::{Owned, Registry, Table};
pub use state::{AppState, ServerConfig, DEFAULT_NODE_LEASE};
pub use ui::UiState;

/// Errors starting the server.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ServerError {
    /// The data directory cannot be created.
    #[error("data directory {path}: {source}")]
    DataDir {
        /// The directory.
        path: String,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
    /// The registry database cannot be opened.
    #[error("registry {url}: {source}")]
    Registry {
        /// The database URL.
        url: String,
        /// The driver error.
        #[source]
        source: sqlx::Error,
    },
    /// Start-up work on the registry failed.
    #[error("registry: {0}")]
    Startup(ApiError),
    /// The listening socket failed.
    #[error("listening on {addr}: {source}")]
    Listen {
        /// The address.
        addr: String,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
}

/// Opens the registry, loads deployed models and joins the registry as a node (taking over
/// the work of dead nodes): the state a router serves. The node's heartbeat runs only under
/// [`serve`]; a state opened alone on a shared registry counts as dead to other nodes once
/// its lease passes.
pub async fn open(config: ServerConfig) -> Result<Arc<AppState>, ServerError> {
    std::fs::create_dir_all(&config.data_dir).map_err(|source| ServerError::DataDir {
        path: config.data_dir.display().to_string(),
        source,
    })?;
    let url = config.registry_url();
    let registry = Registry::connect(&url)
        .await
        .map_err(|source| ServerError::Registry {
            url: url.clone(),
            source,
        })?;
    let permits = Arc::new(Semaphore::new(config.max_concurrent_explanations.max(1)));
    let jobs = jobs::Jobs::new(config.max_concurrent_jobs);
    let state = Arc::new(AppState {
        config,
        registry,
        deployed: RwLock::new(Default::default()),
        operation_done: Notify::new(),
        permits,
        loading: Default::default(),
        metrics: Default::default(),
        ui: Default::default(),
        jobs,
        node: nodes::Node::new(),
    });
    let loaded = routes::load_all_deployed(&state)
        .await
        .map_err(ServerError::Startup)?;
    tracing::info!(loaded, "deployed models loaded");
    let recovered = nodes::join(&state).await.map_err(ServerError::Startup)?;
    if recovered.failed_operations > 0 {
        tracing::warn!(
            failed = recovered.failed_operations,
            "ended operations left running by a stopped server"
        );
    }
    if recovered.resumed_jobs > 0 {
        tracing::info!(
            resumed = recovered.resumed_jobs,
            "batch prediction jobs resumed"
        );
    }
    tracing::info!(node = %state.node.id, "joined the registry");
    Ok(state)
}

/// The HTTP routes.
pub fn router(state: Arc<AppState>) -> Router {
    let limit = state.config.max_body_bytes;
    Router::new()
        .route("/v1/{*path}", any(routes::v1))
        .route("/v2", any(routes::v2_root))
        .route("/v2/{*path}", any(routes::v2))
        .route("/healthz", get(|| async { Json(json!({"status": "ok"})) }))
        .route("/metrics", get(metrics::serve_metrics))
        .route(
            "/openapi.json",
            get(|| async { Json(openapi::document().clone()) }),
        )
        .route(
            "/ui/projects/{project}/locations/{location}/operations/{operation}",
            any(routes::operation_alias),
        )
        .route(
            "/ui/projects/{project}/locations/{location}/models/{model}/operations/{operation}",
            any(routes::operation_alias),
        )
        .route(
            "/ui/projects/{project}/locations/{location}/endpoints/{endpoint}/operations/{operation}",
            any(routes::operation_alias),
        )
        .merge(ui::router())
        .layer(DefaultBodyLimit::max(limit))
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            metrics::authenticate,
        ))
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            metrics::track,
        ))
        .with_state(state)
}

/// Serves on `addr` until Ctrl-C or SIGTERM; requests in flight finish first, and running
/// batch jobs stop after their batch in progress (the next start resumes them).
pub async fn serve(config: ServerConfig, addr: SocketAddr) -> Result<(), ServerError> {
    let state = open(config).await?;
    let heartbeat = nodes::spawn_heartbeat(state.clone());
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|source| ServerError::Listen {
            addr: addr.to_string(),
            source,
        })?;
    let local = listener
        .local_addr()
        .map(|a| a.to_string())
        .unwrap_or_default();
    tracing::info!(addr = %local, "prism serve listening");
    eprintln!("prism serve: listening on http://{local}");
    let served = axum::serve(listener, router(state.clone()))
        .with_graceful_shutdown(shutdown_signal())
        .await
        .map_err(|source| ServerError::Listen {
            addr: local,
            source,
        });
    state.jobs.shutdown().await;
    nodes::leave(&state, heartbeat).await;
    served
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = terminate => {},
    }
}
