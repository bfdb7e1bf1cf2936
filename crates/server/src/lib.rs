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
    /// The lock file of a SQLite registry cannot be opened or written.
    #[error("registry lock {path}: {source}")]
    RegistryLock {
        /// The lock file.
        path: String,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
    /// Another server process holds this SQLite registry.
    #[error(
        "registry {path} is in use by another prism serve{holder}: a SQLite registry belongs \
         to one server process; give each its own --data-dir, or share a PostgreSQL \
         registry (--database-url postgres://...) between several"
    )]
    RegistryInUse {
        /// The registry file.
        path: String,
        /// " (process N)" when the lock file names it.
        holder: String,
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

/// Locks a SQLite registry's file (through `<file>.lock` beside it, which holds the
/// holder's process id) for as long as the returned file is open. A SQLite registry
/// belongs to one server process: on start a server forgets every other node and fails
/// the operations they left, and it serves documents from memory. A second server on the
/// same file is refused instead. Other databases (and in-memory SQLite) need no lock;
/// where the file system cannot lock, the server runs without (and without the cache).
pub(crate) fn lock_sqlite_registry(url: &str) -> Result<Option<std::fs::File>, ServerError> {
    use std::io::{Read, Seek, Write};
    let Some(rest) = url
        .strip_prefix("sqlite://")
        .or_else(|| url.strip_prefix("sqlite:"))
    else {
        return Ok(None);
    };
    let path = rest.split('?').next().unwrap_or_default();
    if path.is_empty() || path.starts_with(":memory:") {
        return Ok(None);
    }
    let lock_path = format!("{path}.lock");
    let io_error = |source| ServerError::RegistryLock {
        path: lock_path.clone(),
        source,
    };
    let mut file = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(&lock_path)
        .map_err(io_error)?;
    match file.try_lock() {
        Ok(()) => {}
        Err(std::fs::TryLockError::WouldBlock) => {
            let mut holder = String::new();
            let _ = file.read_to_string(&mut holder);
            let holder = match holder.trim().parse::<u32>() {
                Ok(pid) => format!(" (process {pid})"),
                Err(_) => String::new(),
            };
            return Err(ServerError::RegistryInUse {
                path: path.to_string(),
                holder,
            });
        }
        Err(std::fs::TryLockError::Error(e)) => {
            // A file system without locks (some network ones): run as before locks were
            // taken, without the guard and without the document cache it allows.
            tracing::warn!(path = %lock_path, error = %e, "cannot lock the SQLite registry; \
                another prism serve on the same data directory would not be stopped");
            return Ok(None);
        }
    }
    // Who holds it, for the message a second server prints.
    file.set_len(0).map_err(io_error)?;
    file.rewind().map_err(io_error)?;
    write!(file, "{}", std::process::id()).map_err(io_error)?;
    Ok(Some(file))
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
    let registry_lock = lock_sqlite_registry(&url)?;
    let registry = Registry::connect(&url)
        .await
        .map_err(|source| ServerError::Registry {
            url: url.clone(),
            source,
        })?;
    // Nobody else writes a SQLite registry this server holds the lock on: documents read
    // by name can be served from memory.
    let registry = if registry_lock.is_some() {
        registry.with_document_cache()
    } else {
        registry
    };
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
        registry_lock,
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
