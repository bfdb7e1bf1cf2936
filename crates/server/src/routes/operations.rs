//! `operations`: get, list, wait (long-poll), cancel, delete.

use std::time::Duration;

use serde_json::{json, Value};

use super::{field, paginate, Params};
use crate::error::ApiError;
use crate::operations as ops;
use crate::registry::Table;
use crate::state::AppState;

/// The longest `:wait` Prism holds a request.
const MAX_WAIT: Duration = Duration::from_secs(60);

pub(crate) async fn get(state: &AppState, name: &str) -> Result<Value, ApiError> {
    ops::get(state, name).await
}

pub(crate) async fn list(
    state: &AppState,
    resource: &str,
    params: &Params,
) -> Result<Value, ApiError> {
    let all = state.registry.list(Table::Operations, resource).await?;
    paginate(all, params, "operations")
}

/// `:wait` with `{"timeout": "30s"}` (a protobuf Duration; default and cap 60 s).
pub(crate) async fn wait(state: &AppState, name: &str, body: Value) -> Result<Value, ApiError> {
    let timeout = match field(&body, "timeout") {
        Some(Value::String(s)) => parse_duration(s)?,
        Some(other) => {
            return Err(ApiError::InvalidArgument(format!(
                "timeout: expected a duration like \"30s\", got {other}"
            )))
        }
        None => MAX_WAIT,
    };
    ops::wait(state, name, timeout.min(MAX_WAIT)).await
}

pub(crate) async fn cancel(state: &AppState, name: &str) -> Result<Value, ApiError> {
    ops::cancel(state, name).await?;
    Ok(json!({}))
}

pub(crate) async fn delete(state: &AppState, name: &str) -> Result<Value, ApiError> {
    if !state.registry.delete(Table::Operations, name).await? {
        return Err(ApiError::NotFound(format!("operation {name} not found")));
    }
    Ok(json!({}))
}

/// A protobuf JSON Duration: decimal seconds with an `s` suffix.
fn parse_duration(s: &str) -> Result<Duration, ApiError> {
    s.strip_suffix('s')
        .and_then(|n| n.parse::<f64>().ok())
        .filter(|n| n.is_finite() && *n >= 0.0)
        .map(Duration::from_secs_f64)
        .ok_or_else(|| {
            ApiError::InvalidArgument(format!(
                "timeout: expected a duration like \"30s\", got \"{s}\""
            ))
        })
}
