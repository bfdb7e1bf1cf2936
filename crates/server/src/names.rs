//! Parsing Vertex resource paths: `projects/{p}/locations/{l}/<collection>/{id}[:verb]`.

use crate::error::ApiError;

/// A parsed path below `/v1/`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResourcePath {
    /// `projects/{p}/locations/{l}`.
    pub parent: String,
    /// The segments after the parent, the verb removed (e.g. `["endpoints", "12"]`).
    pub rest: Vec<String>,
    /// The custom verb after `:` on the last segment (`predict`, `upload`, …).
    pub verb: Option<String>,
}

impl ResourcePath {
    /// Parses the part of a URL path after `/v1/`.
    pub fn parse(path: &str) -> Result<Self, ApiError> {
        let mut segments: Vec<String> = path
            .trim_matches('/')
            .split('/')
            .map(String::from)
            .collect();
        let mut verb = None;
        if let Some(last) = segments.last_mut() {
            if let Some((name, v)) = last.split_once(':') {
                verb = Some(v.to_string());
                *last = name.to_string();
            }
        }
        match segments.as_slice() {
            [p, project, l, location, ..] if p == "projects" && l == "locations" => {
                if project.is_empty() || location.is_empty() {
                    return Err(ApiError::InvalidArgument(format!("invalid resource name '{path}'")));
                }
                let parent = format!("projects/{project}/locations/{location}");
                Ok(Self {
                    parent,
                    rest: segments[4..].to_vec(),
                    verb,
                })
            }
            _ => Err(ApiError::NotFound(format!(
                "'{path}' is not a resource path (expected projects/{{project}}/locations/{{location}}/…)"
            ))),
        }
    }

    /// The full resource name of the first `n` rest segments.
    pub fn name(&self, n: usize) -> String {
        let mut name = self.parent.clone();
        for s in self.rest.iter().take(n) {
            name.push('/');
            name.push_str(s);
        }
        name
    }
}

/// Checks a user-chosen model id: `[a-z0-9_-]{1,63}`, not starting with a digit or hyphen.
pub fn check_model_id(id: &str) -> Result<(), ApiError> {
    let ok = (1..=63).contains(&id.len())
        && id
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_' || c == '-')
        && !id.starts_with(|c: char| c.is_ascii_digit() || c == '-');
    if ok {
        Ok(())
    } else {
        Err(ApiError::InvalidArgument(format!(
            "modelId '{id}' must match [a-z0-9_-]{{1,63}} and not start with a digit or hyphen"
        )))
    }
}

/// Checks a user-chosen endpoint id: `[a-z0-9-]{1,63}` starting with a letter, or up to 9
/// digits without a leading zero.
pub fn check_endpoint_id(id: &str) -> Result<(), ApiError> {
    let lettered = (1..=63).contains(&id.len())
        && id.starts_with(|c: char| c.is_ascii_lowercase())
        && id
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-');
    let numeric = (1..=9).contains(&id.len())
        && id.chars().all(|c| c.is_ascii_digit())
        && !id.starts_with('0');
    if lettered || numeric {
        Ok(())
    } else {
        Err(ApiError::InvalidArgument(format!(
            "endpointId '{id}' must be [a-z0-9-]{{1,63}} starting with a letter, or up to 9 digits"
        )))
    }
}

/// A fresh numeric id, as Vertex assigns them.
pub fn new_numeric_id() -> String {
    let n: u64 = rand::random::<u64>() % 9_000_000_000_000_000_000 + 1_000_000_000_000_000_000;
    n.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_names_and_verbs() {
        let p =
            ResourcePath::parse("projects/p1/locations/us-central1/endpoints/42:explain").unwrap();
        assert_eq!(p.parent, "projects/p1/locations/us-central1");
        assert_eq!(p.rest, ["endpoints", "42"]);
        assert_eq!(p.verb.as_deref(), Some("explain"));
        assert_eq!(p.name(2), "projects/p1/locations/us-central1/endpoints/42");
        let p = ResourcePath::parse("projects/p/locations/l/models:upload").unwrap();
        assert_eq!(p.rest, ["models"]);
        assert_eq!(p.verb.as_deref(), Some("upload"));
        assert!(ResourcePath::parse("foo/bar").is_err());
    }

    #[test]
    fn id_rules() {
        assert!(check_model_id("my_model-1").is_ok());
        assert!(check_model_id("1model").is_err());
        assert!(check_model_id("Model").is_err());
        assert!(check_endpoint_id("ep-1").is_ok());
        assert!(check_endpoint_id("123").is_ok());
        assert!(check_endpoint_id("0123").is_err());
        assert!(check_endpoint_id("1234567890").is_err());
    }
}
