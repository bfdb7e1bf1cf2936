//! Signing the UI in when the server has bearer tokens.
//!
//! A page asked for without a valid token answers 401 with the sign-in form (a fragment for
//! the *try it* panel's posts). `POST /ui/login` checks the token like the API does and keeps
//! it in the cookie [`COOKIE`]: hex-encoded, `Path=/ui`, `HttpOnly` (no script reads it),
//! `SameSite=Strict` (no other site's page sends it), without an expiry (it ends with the
//! browser session). The UI's routes accept the cookie or an `Authorization: Bearer` header;
//! the REST API accepts the header only. `POST /ui/logout` clears it. Behind TLS, put the
//! server behind a proxy that terminates it: the cookie is not marked `Secure`, so that plain
//! `http://` on a loopback address works.

use std::sync::Arc;

use axum::extract::rejection::FormRejection;
use axum::extract::{Request, State};
use axum::http::{header, HeaderMap, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Redirect, Response};
use axum::Form;
use minijinja::context;
use serde::Deserialize;

use super::pages::page;
use super::UiError;
use crate::error::ApiError;
use crate::state::AppState;

/// The session cookie's name.
pub(crate) const COOKIE: &str = "prism_ui_token";

/// UI paths open without a token: the sign-in page and the static files.
pub(crate) fn is_open(path: &str) -> bool {
    path == "/ui/login" || path.starts_with("/ui/static/")
}

/// Whether a path is the UI's.
pub(crate) fn is_ui(path: &str) -> bool {
    path == "/ui" || path.starts_with("/ui/")
}

/// Checks a UI request when the server has tokens: the `Authorization` header (`given`) or
/// the session cookie must hold one of them.
pub(crate) async fn authenticate_ui(
    state: &Arc<AppState>,
    given: Option<&str>,
    request: Request,
    next: Next,
) -> Response {
    let path = request.uri().path();
    if is_open(path) {
        return next.run(request).await;
    }
    let from_cookie = cookie_token(request.headers());
    let valid = [given.map(str::to_string), from_cookie]
        .iter()
        .flatten()
        .any(|t| is_token(state, t));
    if valid {
        return next.run(request).await;
    }
    if request.method() == Method::GET || request.method() == Method::HEAD {
        let next_path = request
            .uri()
            .path_and_query()
            .map(|p| p.as_str().to_string())
            .unwrap_or_default();
        return login_form(state, StatusCode::UNAUTHORIZED, &next_path, None);
    }
    UiError::fragment(ApiError::Unauthenticated(
        "this server needs a token: sign in again".into(),
    ))
    .into_response()
}

fn is_token(state: &AppState, token: &str) -> bool {
    state
        .config
        .auth_tokens
        .iter()
        .any(|t| crate::metrics::same(t.as_bytes(), token.as_bytes()))
}

/// The token in the session cookie, if there is one that decodes.
fn cookie_token(headers: &HeaderMap) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, _)| *name == COOKIE)
        .and_then(|(_, value)| unhex(value))
}

fn hex(text: &str) -> String {
    text.bytes().map(|b| format!("{b:02x}")).collect()
}

fn unhex(text: &str) -> Option<String> {
    if !text.len().is_multiple_of(2) {
        return None;
    }
    let bytes: Option<Vec<u8>> = (0..text.len())
        .step_by(2)
        .map(|i| {
            text.get(i..i + 2)
                .and_then(|h| u8::from_str_radix(h, 16).ok())
        })
        .collect();
    String::from_utf8(bytes?).ok()
}

/// Where to go after signing in: a UI path, else the models.
fn safe_next(next: &str) -> &str {
    let ok = is_ui(next) && !next.starts_with("//") && !next.contains('\\') && !is_open(next);
    if ok {
        next
    } else {
        "/ui/models"
    }
}

fn login_form(state: &AppState, status: StatusCode, next: &str, error: Option<&str>) -> Response {
    let rendered = page(
        state,
        "login.html",
        context! {
            title => "Sign in",
            needed => !state.config.auth_tokens.is_empty(),
            next => safe_next(next),
            error,
        },
    );
    match rendered {
        Ok(html) => (status, html).into_response(),
        Err(e) => e.into_response(),
    }
}

/// `GET /ui/login`.
pub(crate) async fn login_page(State(state): State<Arc<AppState>>) -> Response {
    login_form(&state, StatusCode::OK, "/ui/models", None)
}

/// The sign-in form's fields.
#[derive(Debug, Deserialize)]
pub(crate) struct Login {
    #[serde(default)]
    token: String,
    #[serde(default)]
    next: String,
}

/// `POST /ui/login`: a valid token sets the session cookie and goes on to `next`.
pub(crate) async fn login(
    State(state): State<Arc<AppState>>,
    form: Result<Form<Login>, FormRejection>,
) -> Response {
    if state.config.auth_tokens.is_empty() {
        return Redirect::to("/ui/models").into_response();
    }
    let Ok(Form(form)) = form else {
        return login_form(
            &state,
            StatusCode::BAD_REQUEST,
            "/ui/models",
            Some("The sign-in form was not readable: send it again."),
        );
    };
    let token = form.token.trim();
    if !is_token(&state, token) {
        return login_form(
            &state,
            StatusCode::UNAUTHORIZED,
            &form.next,
            Some("That token is not valid."),
        );
    }
    let cookie = format!(
        "{COOKIE}={}; Path=/ui; HttpOnly; SameSite=Strict",
        hex(token)
    );
    (
        [(header::SET_COOKIE, cookie)],
        Redirect::to(safe_next(&form.next)),
    )
        .into_response()
}

/// `POST /ui/logout`: clears the cookie.
pub(crate) async fn logout() -> Response {
    let cookie = format!("{COOKIE}=; Path=/ui; HttpOnly; SameSite=Strict; Max-Age=0");
    ([(header::SET_COOKIE, cookie)], Redirect::to("/ui/login")).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_survive_the_cookie() {
        for token in ["abc", "with space; and=", "é"] {
            assert_eq!(unhex(&hex(token)).as_deref(), Some(token));
        }
        assert_eq!(unhex("zz"), None);
        assert_eq!(unhex("abc"), None);
        let mut headers = HeaderMap::new();
        headers.insert(
            header::COOKIE,
            format!("a=b; {COOKIE}={}", hex("t1")).parse().unwrap(),
        );
        assert_eq!(cookie_token(&headers).as_deref(), Some("t1"));
    }

    #[test]
    fn next_stays_in_the_ui() {
        assert_eq!(safe_next("/ui/endpoints"), "/ui/endpoints");
        assert_eq!(safe_next("//evil.example/ui/"), "/ui/models");
        assert_eq!(safe_next("https://evil.example"), "/ui/models");
        assert_eq!(safe_next("/ui/login"), "/ui/models");
        assert_eq!(safe_next("/v1/projects"), "/ui/models");
    }

    #[test]
    fn the_unauthenticated_fragment_links_to_sign_in() {
        let html = super::super::templates::render(
            "alert.html",
            context! {code => 401, status => "UNAUTHENTICATED", message => "sign in"},
        )
        .unwrap();
        assert!(html.contains("href=\"/ui/login\""), "{html}");
        assert!(html.contains("role=\"alert\""), "{html}");
    }
}
