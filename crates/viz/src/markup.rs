//! Escaping text for HTML and SVG, and formatting numbers for labels.

/// Escapes `&`, `<`, `>`, `"` and `'` so that text is safe in element content and in
/// quoted attribute values of HTML and SVG (XML).
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// A number for a label: at most 4 decimals without trailing zeros, scientific notation
/// below 0.001 in magnitude or from 10⁶ up, `NaN` / `inf` / `-inf` as such.
pub fn number(x: f64) -> String {
    if !x.is_finite() {
        return format!("{x}");
    }
    if x != 0.0 && (x.abs() < 1e-3 || x.abs() >= 1e6) {
        return format!("{x:.3e}");
    }
    let fixed = format!("{x:.4}");
    let trimmed = fixed.trim_end_matches('0').trim_end_matches('.');
    if trimmed == "-0" {
        "0".into()
    } else {
        trimmed.into()
    }
}

/// A standalone HTML page around a fragment.
pub fn html_document(title: &str, body: &str) -> String {
    format!(
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
         <title>{}</title>\n</head>\n<body>\n{body}\n</body>\n</html>\n",
        escape(title)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_the_five_characters() {
        assert_eq!(
            escape(r#"<a href="x">Tom & 'Jerry'</a>"#),
            "&lt;a href=&quot;x&quot;&gt;Tom &amp; &#39;Jerry&#39;&lt;/a&gt;"
        );
        assert_eq!(escape("plain é"), "plain é");
    }

    #[test]
    fn numbers_are_short() {
        assert_eq!(number(0.5), "0.5");
        assert_eq!(number(-12.0), "-12");
        assert_eq!(number(1.23456), "1.2346");
        assert_eq!(number(0.00001234), "1.234e-5");
        assert_eq!(number(-0.00001), "-1.000e-5");
        assert_eq!(number(0.0), "0");
        assert_eq!(number(-0.00004), "-4.000e-5");
        assert_eq!(number(f64::NAN), "NaN");
    }
}
