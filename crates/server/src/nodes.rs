//! Server nodes sharing one registry, and the leases of their work.
//!
//! Each server process is a node with an id of its own. It writes a heartbeat into the
//! registry's `nodes` table every fifth of its lease ([`crate::ServerConfig::node_lease`]),
//! and claims (in `owners`) every operation and batch prediction job it runs before that
//! work appears in the registry. A node whose heartbeat is older than the lease, or that
//! is gone from `nodes` (it stopped, or was forgotten), is dead: at each heartbeat, every
//! live node looks for work owned by dead nodes and takes it over, one node winning each
//! item (a compare-and-swap on the owner):
//!
//! - an operation ends as failed (ABORTED, "…retry it"): its work died with its node;
//! - a batch prediction job runs again here and resumes from its checkpoint (its output
//!   folder must be reachable from this node: the same machine, or a shared folder).
//!
//! A node that stops on SIGTERM leaves `nodes` at once, so its unfinished jobs move without
//! waiting for the lease. A SQLite registry has one server process at a time: a starting
//! node forgets every other node, so what a previous process left is taken over at once,
//! and it does not beat.
//! Heartbeats are compared with the sweeping node's clock: nodes' clocks must agree to well
//! within the lease.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use serde_json::Value;
use tokio::sync::Notify;

use crate::error::ApiError;
use crate::operations;
use crate::registry::{now_micros, Owned, Table};
use crate::state::AppState;

/// This process as a node.
pub struct Node {
    /// The node id (`<pid>-<random>`), unique per process start.
    pub id: String,
    /// Set when the server stops: the heartbeat ends.
    stopping: AtomicBool,
    /// Wakes the heartbeat loop to stop.
    stop: Notify,
    /// Set while the deployed models are being brought in line with the registry.
    syncing: AtomicBool,
}

impl Node {
    /// A new node id for this process.
    pub fn new() -> Self {
        Self {
            id: format!("{}-{:08x}", std::process::id(), rand::random::<u32>()),
            stopping: AtomicBool::new(false),
            stop: Notify::new(),
            syncing: AtomicBool::new(false),
        }
    }
}

impl Default for Node {
    fn default() -> Self {
        Self::new()
    }
}

/// What the start-up recovery did.
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct Recovered {
    /// Operations of dead nodes (or of none) ended as failed.
    pub(crate) failed_operations: usize,
    /// Batch prediction jobs of dead nodes (or of none) run again here.
    pub(crate) resumed_jobs: usize,
}

/// Joins the registry (first heartbeat; on a registry of one process, forgets the others),
/// then takes over what dead nodes left, including unfinished operations nobody owns.
pub(crate) async fn join(state: &Arc<AppState>) -> Result<Recovered, ApiError> {
    let me = &state.node.id;
    state.registry.heartbeat(me, now_micros()).await?;
    if !state.registry.is_shared() {
        state.registry.remove_other_nodes(me).await?;
    }
    let mut recovered = sweep(state).await?;
    // Operations written by a version without owners, or left without one.
    for op in state.registry.all(Table::Operations).await? {
        let Some(name) = op["name"].as_str() else {
            continue;
        };
        if op.get("done") == Some(&Value::Bool(true)) {
            continue;
        }
        if state.registry.owner(name).await?.is_none() && fail_operation(state, name).await? {
            recovered.failed_operations += 1;
        }
    }
    recovered.resumed_jobs += crate::routes::resume_jobs(state).await?;
    Ok(recovered)
}

/// Beats until the server stops, sweeping dead nodes' work after each beat. A registry of
/// one process (SQLite) has nobody to beat for: [`join`] did all there is to do.
pub(crate) fn spawn_heartbeat(state: Arc<AppState>) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let interval = heartbeat_interval(state.config.node_lease);
        if !state.registry.is_shared() {
            return;
        }
        loop {
            tokio::select! {
                () = tokio::time::sleep(interval) => {}
                () = state.node.stop.notified() => {}
            }
            if state.node.stopping.load(Ordering::SeqCst) {
                break;
            }
            if let Err(e) = state.registry.heartbeat(&state.node.id, now_micros()).await {
                tracing::warn!(error = %e, "could not write this node's heartbeat");
                continue;
            }
            if !state.node.syncing.swap(true, Ordering::SeqCst) {
                // Models other nodes deployed or undeployed, for the routes that look
                // models up by name (KServe v1, OIP v2) and the web UI; loading may take
                // long, so not in the way of the heartbeat.
                let state = state.clone();
                tokio::spawn(async move {
                    if let Err(e) = crate::routes::load_all_deployed(&state).await {
                        tracing::warn!(error = %e, "could not follow the registry's deployments");
                    }
                    state.node.syncing.store(false, Ordering::SeqCst);
                });
            }
            match sweep(&state).await {
                Ok(r) if r.failed_operations + r.resumed_jobs > 0 => tracing::warn!(
                    failed_operations = r.failed_operations,
                    resumed_jobs = r.resumed_jobs,
                    "took over the work of a stopped server node"
                ),
                Ok(_) => {}
                Err(e) => tracing::warn!(error = %e, "could not look for stopped server nodes"),
            }
        }
    })
}

/// Stops the heartbeat and leaves the registry: what this node still owns (jobs stopped at
/// a checkpoint) is taken over by the other nodes, or by the next start.
pub(crate) async fn leave(state: &AppState, heartbeat: tokio::task::JoinHandle<()>) {
    state.node.stopping.store(true, Ordering::SeqCst);
    state.node.stop.notify_one();
    let _ = heartbeat.await;
    if let Err(e) = state.registry.remove_node(&state.node.id).await {
        tracing::warn!(error = %e, "could not remove this node from the registry");
    }
}

/// How often a node beats: five times per lease, at least every 100 ms.
pub(crate) fn heartbeat_interval(lease: Duration) -> Duration {
    (lease / 5).max(Duration::from_millis(100))
}

/// Takes over the work of dead nodes: fails their operations, resumes their jobs here.
async fn sweep(state: &Arc<AppState>) -> Result<Recovered, ApiError> {
    let lease = i64::try_from(state.config.node_lease.as_micros()).unwrap_or(i64::MAX);
    let cutoff = now_micros().saturating_sub(lease);
    let mut recovered = Recovered::default();
    for Owned {
        name,
        node,
        heartbeat,
    } in state.registry.owned().await?
    {
        let dead = heartbeat.is_none_or(|beat| beat < cutoff);
        if node == state.node.id || !dead {
            continue;
        }
        if !state
            .registry
            .take_over(&name, &node, &state.node.id)
            .await?
        {
            continue; // Another node was first.
        }
        tracing::warn!(resource = %name, node = %node, "taking over from a stopped server node");
        if name.contains("/operations/") {
            if fail_operation(state, &name).await? {
                recovered.failed_operations += 1;
            }
        } else if crate::routes::resume_job(state, &name).await? {
            recovered.resumed_jobs += 1;
        }
    }
    state.registry.remove_idle_nodes(cutoff).await?;
    Ok(recovered)
}

/// Ends an operation whose node stopped as failed; false if it had ended.
async fn fail_operation(state: &AppState, name: &str) -> Result<bool, ApiError> {
    let e = ApiError::Aborted(
        "the server node running this operation stopped before it finished; retry it".into(),
    );
    operations::finish(state, name, Err(e)).await
}
