//! Text: shading numbers and HTML escaping.

use prism_viz::{text_html, VizError};

fn tokens(words: &[&str]) -> Vec<String> {
    words.iter().map(|w| w.to_string()).collect()
}

/// `(r, g, b, alpha, title, token)` of every span, in order.
fn spans(html: &str) -> Vec<(String, String, String)> {
    html.split("<span class=\"token\" style=\"background-color: ")
        .skip(1)
        .map(|rest| {
            let (colour, rest) = rest.split_once("\" title=\"").expect("title");
            let (title, rest) = rest.split_once("\">").expect("content");
            let (token, _) = rest.split_once("</span>").expect("end");
            (colour.to_string(), title.to_string(), token.to_string())
        })
        .collect()
}

#[test]
fn green_positive_pink_negative_by_share_of_the_largest() {
    let html = text_html(
        &tokens(&["great", "not", "film", "ok"]),
        &[0.8, -0.4, 0.0, 0.2],
    )
    .expect("ok");
    assert_eq!(
        spans(&html),
        vec![
            (
                "rgba(0, 255, 0, 1.000)".into(),
                "0.8".into(),
                "great".into()
            ),
            (
                "rgba(255, 105, 180, 0.500)".into(),
                "-0.4".into(),
                "not".into()
            ),
            ("rgba(0, 255, 0, 0.000)".into(), "0".into(), "film".into()),
            ("rgba(0, 255, 0, 0.250)".into(), "0.2".into(), "ok".into()),
        ]
    );
    assert!(html.starts_with("<div class=\"prism-text\""));
    assert!(html.ends_with("</div>"));
}

#[test]
fn all_zero_attributions_are_transparent() {
    let html = text_html(&tokens(&["a", "b"]), &[0.0, 0.0]).expect("ok");
    assert!(spans(&html).iter().all(|(c, _, _)| c.ends_with(", 0.000)")));
}

#[test]
fn tokens_are_escaped() {
    let html = text_html(
        &tokens(&["<script>alert('x')</script>", "a&b", "\"q\""]),
        &[1.0, 1.0, 1.0],
    )
    .expect("ok");
    assert!(!html.contains("<script>"));
    let got: Vec<String> = spans(&html).into_iter().map(|(_, _, t)| t).collect();
    assert_eq!(
        got,
        vec![
            "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;",
            "a&amp;b",
            "&quot;q&quot;"
        ]
    );
}

#[test]
fn counts_must_match_and_values_be_finite() {
    assert!(matches!(
        text_html(&tokens(&["a", "b"]), &[1.0]),
        Err(VizError::TokenCount {
            tokens: 2,
            attributions: 1
        })
    ));
    assert!(matches!(
        text_html(&tokens(&["a"]), &[f64::NAN]),
        Err(VizError::NonFinite { .. })
    ));
}
