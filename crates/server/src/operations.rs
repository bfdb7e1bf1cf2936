//! Long-running operations (google.longrunning.Operation) stored in the registry.
//!
//! An operation is written when it starts (`done` absent), and rewritten once when it ends
//! with exactly one of `response` and `error`. The node that starts an operation owns it
//! until it ends; an operation whose node stops first is ended as failed by another node
//! once the node's lease expires, or at the next start (see [`crate::nodes`]), so none
//! hangs forever. `:wait` long-polls on a `Notify` that every finish in this process wakes,
//! and re-reads the registry every [`WAIT_POLL`] for operations other nodes finish.

use std::sync::Arc;
use std::time::Duration;

use serde_json::{json, Value};

use crate::error::ApiError;
use crate::names::new_numeric_id;
use crate::registry::Table;
use crate::state::AppState;
use crate::time::now_rfc3339;

/// How often `:wait` re-reads an operation that another server node may finish.
pub const WAIT_POLL: Duration = Duration::from_millis(250);

/// The `@type` prefix of Vertex messages.
pub const TYPE_PREFIX: &str = "type.googleapis.com/google.cloud.aiplatform.v1.";

/// Starts an operation under `resource` with metadata of `metadata_type`.
pub async fn start(
    state: &AppState,
    resource: &str,
    metadata_type: &str,
) -> Result<Value, ApiError> {
    let now = now_rfc3339();
    let name = format!("{resource}/operations/{}", new_numeric_id());
    let op = json!({
        "name": name,
        "metadata": {
            "@type": format!("{TYPE_PREFIX}{metadata_type}"),
            "genericMetadata": {"createTime": now, "updateTime": now},
        },
    });
    // Owned before it exists, so no other node ever sees it running without an owner.
    state.registry.claim(&name, &state.node.id).await?;
    state
        .registry
        .put(Table::Operations, &name, resource, &op)
        .await?;
    Ok(op)
}

/// Ends an operation with a response or an error, unless it already ended (cancelled).
/// Returns false when it had already ended.
pub async fn finish(
    state: &AppState,
    name: &str,
    outcome: Result<Value, ApiError>,
) -> Result<bool, ApiError> {
    let (code, message) = match &outcome {
        Ok(_) => (0, String::new()),
        Err(e) => {
            if matches!(e, ApiError::Internal(_)) {
                tracing::error!(operation = name, error = %e, "operation failed");
            }
            (e.rpc_code(), e.public_message())
        }
    };
    let response = outcome.ok();
    let now = now_rfc3339();
    // Compare-and-swap: a cancel (on any node) and the work's end cannot both win.
    let ended = state
        .registry
        .update(Table::Operations, name, |op| {
            if op.get("done") == Some(&Value::Bool(true)) {
                return Ok(false);
            }
            op["done"] = json!(true);
            op["metadata"]["genericMetadata"]["updateTime"] = json!(now);
            match &response {
                Some(response) => op["response"] = response.clone(),
                None => op["error"] = json!({"code": code, "message": message}),
            }
            Ok(true)
        })
        .await?
        .is_some_and(|(_, ended)| ended);
    state.registry.release(name).await?;
    if ended {
        state.operation_done.notify_waiters();
    }
    Ok(ended)
}

/// Runs `work` in the background and ends the operation with its outcome.
pub fn spawn<F>(state: Arc<AppState>, name: String, work: F)
where
    F: std::future::Future<Output = Result<Value, ApiError>> + Send + 'static,
{
    tokio::spawn(async move {
        let outcome = work.await;
        if let Err(e) = finish(&state, &name, outcome).await {
            tracing::error!(operation = %name, error = %e, "could not record the end of an operation");
        }
    });
}

/// Cancels a running operation (best effort: its work may still finish, but the operation
/// reports CANCELLED).
pub async fn cancel(state: &AppState, name: &str) -> Result<(), ApiError> {
    get(state, name).await?;
    finish(
        state,
        name,
        Err(ApiError::Cancelled("cancelled by the caller".into())),
    )
    .await?;
    Ok(())
}

/// Deletes `name` from `table` as Vertex deletes do: a delete operation, done at once with
/// an empty response, which is returned.
pub async fn delete_resource(
    state: &AppState,
    table: Table,
    name: &str,
) -> Result<Value, ApiError> {
    delete_resource_if(state, table, name, |_| Ok(())).await
}

/// [`delete_resource`] of a document `check` accepts as stored when it is deleted (see
/// [`crate::Registry::delete_if`]); `check`'s error is the request's.
pub async fn delete_resource_if(
    state: &AppState,
    table: Table,
    name: &str,
    check: impl FnMut(&Value) -> Result<(), ApiError>,
) -> Result<Value, ApiError> {
    if !state.registry.delete_if(table, name, check).await? {
        return Err(ApiError::NotFound(format!("{name} not found")));
    }
    let op = start(state, name, "DeleteOperationMetadata").await?;
    let op_name = op["name"].as_str().unwrap_or_default().to_string();
    finish(
        state,
        &op_name,
        Ok(json!({"@type": "type.googleapis.com/google.protobuf.Empty"})),
    )
    .await?;
    get(state, &op_name).await
}

/// One operation.
pub async fn get(state: &AppState, name: &str) -> Result<Value, ApiError> {
    state.registry.get_required(Table::Operations, name).await
}

/// Waits until the operation is done or `timeout` passes, then returns it.
pub async fn wait(state: &AppState, name: &str, timeout: Duration) -> Result<Value, ApiError> {
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        // Register interest before reading, so a finish between the read and the wait
        // is not missed.
        let notified = state.operation_done.notified();
        let op = get(state, name).await?;
        if op.get("done") == Some(&Value::Bool(true)) {
            return Ok(op);
        }
        // Another server node may finish it: re-read every WAIT_POLL.
        let step = deadline
            .saturating_duration_since(tokio::time::Instant::now())
            .min(WAIT_POLL);
        if step.is_zero() {
            return Ok(op);
        }
        let _ = tokio::time::timeout(step, notified).await;
    }
}
