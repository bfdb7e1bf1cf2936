//! The page templates, compiled into the binary, and the one environment that renders them.
//!
//! Every template name ends in `.html`, so minijinja escapes every value it prints (`& < > "
//! ' /`); only fragments that `prism-viz` built and escaped itself are passed as safe strings.
//! Filters: `num` (a number for reading: at most 4 decimals, scientific below 0.001 or from
//! 10⁶ up) and `exact` (the shortest text that reads back as the same double, for `data-`
//! attributes that tests and scripts compare).

use std::sync::OnceLock;

use minijinja::{Environment, Value};

use crate::error::ApiError;

/// Every template: (name, source).
const TEMPLATES: [(&str, &str); 10] = [
    ("base.html", include_str!("../../templates/base.html")),
    ("alert.html", include_str!("../../templates/alert.html")),
    ("error.html", include_str!("../../templates/error.html")),
    ("login.html", include_str!("../../templates/login.html")),
    ("models.html", include_str!("../../templates/models.html")),
    ("model.html", include_str!("../../templates/model.html")),
    ("result.html", include_str!("../../templates/result.html")),
    (
        "endpoints.html",
        include_str!("../../templates/endpoints.html"),
    ),
    (
        "operations.html",
        include_str!("../../templates/operations.html"),
    ),
    (
        "batch_jobs.html",
        include_str!("../../templates/batch_jobs.html"),
    ),
];

fn environment() -> Result<&'static Environment<'static>, ApiError> {
    static ENV: OnceLock<Result<Environment<'static>, String>> = OnceLock::new();
    ENV.get_or_init(|| {
        let mut env = Environment::new();
        for (name, source) in TEMPLATES {
            env.add_template(name, source)
                .map_err(|e| format!("template {name}: {e:#}"))?;
        }
        env.add_filter("num", |x: Value| short_number(&x));
        env.add_filter("exact", |x: Value| exact_number(&x));
        Ok(env)
    })
    .as_ref()
    .map_err(|e| ApiError::Internal(e.clone()))
}

/// Renders a template with a context.
pub(crate) fn render(name: &str, context: Value) -> Result<String, ApiError> {
    environment()?
        .get_template(name)
        .and_then(|t| t.render(context))
        .map_err(|e| ApiError::Internal(format!("template {name}: {e:#}")))
}

fn as_f64(x: &Value) -> Option<f64> {
    f64::try_from(x.clone()).ok()
}

/// A number for reading ([`prism_viz::number`]); anything else as it is.
fn short_number(x: &Value) -> String {
    match as_f64(x) {
        Some(f) => prism_viz::number(f),
        None => x.to_string(),
    }
}

/// The shortest decimal text of a double that parses back to it (`NaN`, `Infinity`,
/// `-Infinity` for the others, as JavaScript's `Number()` reads them).
fn exact_number(x: &Value) -> String {
    match as_f64(x) {
        Some(f) if f.is_nan() => "NaN".into(),
        Some(f) if f.is_infinite() => if f > 0.0 { "Infinity" } else { "-Infinity" }.into(),
        Some(f) => serde_json::Number::from_f64(f)
            .map(|n| n.to_string())
            .unwrap_or_else(|| f.to_string()),
        None => x.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_template_parses() {
        assert!(environment().is_ok(), "{:?}", environment().err());
    }

    #[test]
    fn numbers_read_back_exactly() {
        for f in [0.1, -1.0 / 3.0, 1e-9, 123456789.125, 0.0] {
            let text = exact_number(&Value::from(f));
            assert_eq!(text.parse::<f64>().ok(), Some(f), "{text}");
        }
        assert_eq!(exact_number(&Value::from(f64::NAN)), "NaN");
        assert_eq!(short_number(&Value::from(0.123456)), "0.1235");
        assert_eq!(short_number(&Value::from("x")), "x");
    }

    #[test]
    fn values_are_escaped() {
        let html = render(
            "error.html",
            minijinja::context! {title => "t", code => 400, status => "INVALID_ARGUMENT",
            message => "<script>alert('x')</script>"},
        )
        .unwrap();
        assert!(!html.contains("<script>alert"), "{html}");
        assert!(html.contains("&lt;script&gt;"), "{html}");
    }
}
