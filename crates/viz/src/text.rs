//! Text attributions: tokens shaded by their attribution.

use crate::colormap::{GREEN, PINK};
use crate::error::VizError;
use crate::markup::{escape, number};

/// An HTML fragment showing `tokens` with backgrounds shaded by `attributions` (one per
/// token): green for positive, pink for negative ([`GREEN`], [`PINK`]), with opacity
/// |a| / max |a| (3 decimals; all 0 when every attribution is 0).
///
/// Every token is one `<span class="token">` whose `title` holds the attribution,
/// separated by single spaces, inside `<div class="prism-text">`. Tokens are
/// HTML-escaped.
///
/// ```
/// let html = prism_viz::text_html(&["good".into(), "<b>".into()], &[2.0, -1.0])?;
/// assert!(html.contains(r#"rgba(0, 255, 0, 1.000)" title="2">good</span>"#));
/// assert!(html.contains(r#"rgba(255, 105, 180, 0.500)" title="-1">&lt;b&gt;</span>"#));
/// # Ok::<(), prism_viz::VizError>(())
/// ```
pub fn text_html(tokens: &[String], attributions: &[f64]) -> Result<String, VizError> {
    if tokens.len() != attributions.len() {
        return Err(VizError::TokenCount {
            tokens: tokens.len(),
            attributions: attributions.len(),
        });
    }
    if let Some((index, &value)) = attributions
        .iter()
        .enumerate()
        .find(|(_, a)| !a.is_finite())
    {
        return Err(VizError::NonFinite {
            what: "text attributions",
            index,
            value,
        });
    }
    let max = attributions.iter().fold(0.0f64, |m, a| m.max(a.abs()));
    let spans: Vec<String> = tokens
        .iter()
        .zip(attributions)
        .map(|(token, &a)| {
            let [r, g, b] = if a < 0.0 { PINK } else { GREEN };
            let alpha = if max > 0.0 { a.abs() / max } else { 0.0 };
            format!(
                "<span class=\"token\" style=\"background-color: rgba({r}, {g}, {b}, {alpha:.3})\" \
                 title=\"{}\">{}</span>",
                escape(&number(a)),
                escape(token)
            )
        })
        .collect();
    Ok(format!(
        "<div class=\"prism-text\" style=\"line-height: 1.9; font-family: sans-serif\">\n{}\n</div>",
        spans.join(" ")
    ))
}
