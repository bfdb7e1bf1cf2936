//! The web UI at `/ui`: server-rendered pages over the same registry, API handlers and
//! engine as the REST API.
//!
//! | page | what |
//! |---|---|
//! | `GET /ui/models` | every model: id, display name, method, inputs, endpoints it is deployed on |
//! | `GET /ui/projects/{p}/locations/{l}/models/{id}` | the explanation spec and a *try it* panel |
//! | `POST …/models/{id}/explain` | runs `:explain` on an endpoint the model is deployed on; an HTML fragment |
//! | `GET /ui/explanations/{key}/{n}/heatmap.png` | an image attribution redrawn with other visualization options |
//! | `GET /ui/endpoints`, `GET /ui/operations` | endpoints (deployed models, traffic split) and operations (state, error) |
//! | `GET /ui/batch-jobs` | batch prediction jobs (state, counts, times, error, output files); reloads while one runs |
//! | `GET /ui/…/batchPredictionJobs/{id}/files/{file}` | a results, errors or stats file of the job's output folder, as an attachment |
//! | `GET|POST /ui/login`, `POST /ui/logout` | the token prompt, when the server has tokens |
//!
//! Templates (`crates/server/templates/`) and static files (`crates/server/static/`) are
//! compiled into the binary; minijinja escapes every value put into HTML. Pictures come from
//! `prism-viz` on the server ([`explain`]); the one script (`ui.js`) only builds the instance
//! from the form, posts it, and swaps heatmap URLs. Every failure is shown as a page or a
//! fragment with the API's message ([`UiError`]), never a blank page.
//!
//! Authentication ([`auth`]): with tokens configured, a browser gives a token once at
//! `/ui/login`; it is kept in an HttpOnly, `SameSite=Strict` session cookie for `/ui`, which
//! the UI's own routes accept in place of the `Authorization` header (the REST API does not).

mod auth;
mod batch_jobs;
mod explain;
mod form;
mod pages;
mod recent;
mod templates;

use std::sync::Arc;

use axum::extract::Request;
use axum::http::{header, HeaderValue, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{Html, IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;

pub(crate) use auth::{authenticate_ui, is_ui};
pub use recent::UiState;

use crate::error::ApiError;
use crate::state::AppState;

/// The UI's routes (full paths, merged into the server's router).
pub(crate) fn router() -> Router<Arc<AppState>> {
    Router::new()
        .route("/ui", get(pages::home))
        .route("/ui/", get(pages::home))
        .route("/ui/models", get(pages::models))
        .route(
            "/ui/projects/{project}/locations/{location}/models/{model}",
            get(pages::model),
        )
        .route(
            "/ui/projects/{project}/locations/{location}/models/{model}/explain",
            post(explain::explain),
        )
        .route(
            "/ui/explanations/{key}/{image}/heatmap.png",
            get(explain::heatmap),
        )
        .route(
            "/ui/explanations/{key}/{image}/input.png",
            get(explain::input),
        )
        .route("/ui/endpoints", get(pages::endpoints))
        .route("/ui/operations", get(pages::operations))
        .route("/ui/batch-jobs", get(batch_jobs::batch_jobs))
        .route(
            "/ui/projects/{project}/locations/{location}/batchPredictionJobs/{job}/files/{file}",
            get(batch_jobs::file),
        )
        .route("/ui/login", get(auth::login_page).post(auth::login))
        .route("/ui/logout", post(auth::logout))
        .route("/ui/static/{file}", get(static_file))
        .route("/ui/{*rest}", get(not_found).post(not_found))
        .layer(axum::middleware::from_fn(guard))
}

/// A failure shown to a person: the API's error with its status and message (server
/// faults show a generic message), as a whole page or, for the *try it* panel, a fragment.
#[derive(Debug)]
pub(crate) struct UiError {
    error: ApiError,
    fragment: bool,
}

impl UiError {
    /// The error as a fragment (`alert.html`) rather than a page.
    pub(crate) fn fragment(error: ApiError) -> Self {
        UiError {
            error,
            fragment: true,
        }
    }
}

impl From<ApiError> for UiError {
    fn from(error: ApiError) -> Self {
        UiError {
            error,
            fragment: false,
        }
    }
}

impl IntoResponse for UiError {
    fn into_response(self) -> Response {
        let (status, name) = self.error.status();
        if status.is_server_error() {
            tracing::error!(error = %self.error, "ui request failed");
        }
        let template = if self.fragment {
            "alert.html"
        } else {
            "error.html"
        };
        let page = templates::render(
            template,
            minijinja::context! {
                title => "Error",
                code => status.as_u16(),
                status => name,
                message => self.error.public_message(),
                version => env!("CARGO_PKG_VERSION"),
            },
        );
        match page {
            Ok(html) => (status, Html(html)).into_response(),
            Err(e) => plain_failure(status, &e),
        }
    }
}

/// The last resort when a template itself fails: a short plain-text answer.
fn plain_failure(status: StatusCode, e: &ApiError) -> Response {
    tracing::error!(error = %e, "ui template failed");
    (
        status,
        [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
        format!("{status}: the page could not be drawn"),
    )
        .into_response()
}

/// Security headers on every UI response, and a same-origin check on UI posts (the session
/// cookie is `SameSite=Strict` already; a post whose `Origin` names another host than `Host`
/// or `X-Forwarded-Host` is refused outright).
async fn guard(request: Request, next: Next) -> Response {
    if request.method() != Method::GET && request.method() != Method::HEAD {
        if let Some(origin) = request.headers().get(header::ORIGIN) {
            // The host the browser sees: the request's, or the one a proxy forwarded.
            let hosts: Vec<&str> = [header::HOST.as_str(), "x-forwarded-host"]
                .iter()
                .filter_map(|h| request.headers().get(*h))
                .filter_map(|h| h.to_str().ok())
                .flat_map(|h| h.split(','))
                .map(str::trim)
                .collect();
            let same = origin
                .to_str()
                .ok()
                .and_then(|o| o.split_once("://"))
                .is_some_and(|(_, rest)| hosts.contains(&rest));
            if !same {
                return UiError::from(ApiError::PermissionDenied(
                    "cross-site requests to the UI are refused".into(),
                ))
                .into_response();
            }
        }
    }
    let mut response = next.run(request).await;
    let headers = response.headers_mut();
    let fixed = [
        (
            header::CONTENT_SECURITY_POLICY,
            "default-src 'self'; img-src 'self' data: blob:; style-src 'self' 'unsafe-inline'; \
             script-src 'self'; frame-ancestors 'none'; form-action 'self'; base-uri 'none'",
        ),
        (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        (header::REFERRER_POLICY, "same-origin"),
        (header::X_FRAME_OPTIONS, "DENY"),
    ];
    for (name, value) in fixed {
        headers.insert(name, HeaderValue::from_static(value));
    }
    response
}

/// `GET /ui/static/{file}`: the stylesheet and the script, compiled in.
async fn static_file(
    axum::extract::Path(file): axum::extract::Path<String>,
) -> Result<Response, UiError> {
    let (body, kind) = match file.as_str() {
        "ui.css" => (include_str!("../static/ui.css"), "text/css; charset=utf-8"),
        "ui.js" => (
            include_str!("../static/ui.js"),
            "text/javascript; charset=utf-8",
        ),
        _ => return Err(ApiError::NotFound(format!("no file {file}")).into()),
    };
    Ok((
        [
            (header::CONTENT_TYPE, kind),
            (header::CACHE_CONTROL, "no-cache"),
        ],
        body,
    )
        .into_response())
}

/// Any other `/ui/…` path.
async fn not_found(uri: axum::http::Uri) -> UiError {
    UiError::from(ApiError::NotFound(format!(
        "there is no page {}",
        uri.path()
    )))
}
