//! `ApiError`: every failure the API reports, rendered in the google.rpc shape.

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use prism_engine::EngineError;
use serde_json::json;

/// An API failure; one exhaustive mapping chooses the HTTP status and google.rpc code.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ApiError {
    /// The request is malformed or names something invalid (400, INVALID_ARGUMENT).
    #[error("{0}")]
    InvalidArgument(String),
    /// The resource does not exist (404, NOT_FOUND).
    #[error("{0}")]
    NotFound(String),
    /// The resource exists already (409, ALREADY_EXISTS).
    #[error("{0}")]
    AlreadyExists(String),
    /// The request has no valid credentials (401, UNAUTHENTICATED).
    #[error("{0}")]
    Unauthenticated(String),
    /// The caller may not do this (403, PERMISSION_DENIED).
    #[error("{0}")]
    PermissionDenied(String),
    /// The system is not in a state that allows the call (400, FAILED_PRECONDITION).
    #[error("{0}")]
    FailedPrecondition(String),
    /// Too much concurrent work; retry after the given seconds (429, RESOURCE_EXHAUSTED).
    #[error("{message}")]
    ResourceExhausted {
        /// What is exhausted.
        message: String,
        /// Seconds the client should wait.
        retry_after_secs: u64,
    },
    /// The request took longer than the server's deadline (504, DEADLINE_EXCEEDED).
    #[error("{0}")]
    DeadlineExceeded(String),
    /// The operation was cancelled by the caller (499, CANCELLED).
    #[error("{0}")]
    Cancelled(String),
    /// The work was cut short, e.g. by a server stop (409, ABORTED).
    #[error("{0}")]
    Aborted(String),
    /// A server fault; the message is logged, the client sees a generic one (500, INTERNAL).
    #[error("{0}")]
    Internal(String),
}

impl ApiError {
    /// The HTTP status and google.rpc status name.
    pub fn status(&self) -> (StatusCode, &'static str) {
        match self {
            ApiError::InvalidArgument(_) => (StatusCode::BAD_REQUEST, "INVALID_ARGUMENT"),
            ApiError::NotFound(_) => (StatusCode::NOT_FOUND, "NOT_FOUND"),
            ApiError::AlreadyExists(_) => (StatusCode::CONFLICT, "ALREADY_EXISTS"),
            ApiError::Unauthenticated(_) => (StatusCode::UNAUTHORIZED, "UNAUTHENTICATED"),
            ApiError::PermissionDenied(_) => (StatusCode::FORBIDDEN, "PERMISSION_DENIED"),
            ApiError::FailedPrecondition(_) => (StatusCode::BAD_REQUEST, "FAILED_PRECONDITION"),
            ApiError::ResourceExhausted { .. } => {
                (StatusCode::TOO_MANY_REQUESTS, "RESOURCE_EXHAUSTED")
            }
            ApiError::DeadlineExceeded(_) => (StatusCode::GATEWAY_TIMEOUT, "DEADLINE_EXCEEDED"),
            ApiError::Cancelled(_) => (
                StatusCode::from_u16(499).unwrap_or(StatusCode::BAD_REQUEST),
                "CANCELLED",
            ),
            ApiError::Aborted(_) => (StatusCode::CONFLICT, "ABORTED"),
            ApiError::Internal(_) => (StatusCode::INTERNAL_SERVER_ERROR, "INTERNAL"),
        }
    }

    /// The google.rpc code number (as used inside Operation.error).
    pub fn rpc_code(&self) -> i32 {
        match self {
            ApiError::Cancelled(_) => 1,
            ApiError::InvalidArgument(_) => 3,
            ApiError::DeadlineExceeded(_) => 4,
            ApiError::NotFound(_) => 5,
            ApiError::AlreadyExists(_) => 6,
            ApiError::PermissionDenied(_) => 7,
            ApiError::ResourceExhausted { .. } => 8,
            ApiError::FailedPrecondition(_) => 9,
            ApiError::Aborted(_) => 10,
            ApiError::Internal(_) => 13,
            ApiError::Unauthenticated(_) => 16,
        }
    }

    /// The message shown to clients (generic for server faults).
    pub fn public_message(&self) -> String {
        match self {
            ApiError::Internal(_) => "internal error".into(),
            other => other.to_string(),
        }
    }
}

impl From<EngineError> for ApiError {
    fn from(e: EngineError) -> Self {
        match e {
            EngineError::Io { .. } => ApiError::Internal(e.to_string()),
            other => ApiError::InvalidArgument(other.to_string()),
        }
    }
}

impl From<sqlx::Error> for ApiError {
    fn from(e: sqlx::Error) -> Self {
        ApiError::Internal(format!("registry: {e}"))
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let (status, name) = self.status();
        if status.is_server_error() {
            tracing::error!(error = %self, "request failed");
        }
        let body = json!({"error": {
            "code": status.as_u16(),
            "message": self.public_message(),
            "status": name,
        }});
        let mut response = (status, axum::Json(body)).into_response();
        if let ApiError::ResourceExhausted {
            retry_after_secs, ..
        } = &self
        {
            if let Ok(v) = HeaderValue::from_str(&retry_after_secs.to_string()) {
                response.headers_mut().insert(header::RETRY_AFTER, v);
            }
        }
        response
    }
}
