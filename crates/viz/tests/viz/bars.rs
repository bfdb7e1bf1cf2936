//! Tabular bar charts: order, sides, lengths, escaping.

use prism_viz::{bar_chart_svg, Bar, NEGATIVE_BAR, POSITIVE_BAR};

/// The value of attribute `name` in `tag`.
fn attr<'a>(tag: &'a str, name: &str) -> &'a str {
    let start = tag.find(&format!(" {name}=\"")).expect("attribute") + name.len() + 3;
    let len = tag[start..].find('"').expect("closing quote");
    &tag[start..start + len]
}

/// Every element starting with `<{prefix}`, as its opening tag and its text.
fn elements<'a>(svg: &'a str, prefix: &str) -> Vec<(&'a str, &'a str)> {
    svg.match_indices(prefix)
        .map(|(i, _)| {
            let rest = &svg[i..];
            let tag_end = rest.find('>').expect("tag end");
            let text = rest[tag_end + 1..].split('<').next().unwrap_or("");
            (&rest[..tag_end], text)
        })
        .collect()
}

fn chart() -> String {
    bar_chart_svg(
        &[
            Bar::new("age", Some("39".into()), 0.1),
            Bar::new("income <50k & \"x\"", Some("a<b".into()), -0.4),
            Bar::new("hours", Some("40".into()), 0.2),
            Bar::new("group", None, -0.05),
        ],
        0.25,
        0.1,
    )
}

#[test]
fn bars_are_sorted_by_magnitude() {
    let svg = chart();
    let labels: Vec<&str> = elements(&svg, "<text class=\"label\"")
        .into_iter()
        .map(|(_, text)| text)
        .collect();
    assert_eq!(
        labels,
        vec![
            "income &lt;50k &amp; &quot;x&quot; = a&lt;b",
            "hours = 40",
            "age = 39",
            "group"
        ]
    );
}

#[test]
fn sides_colours_and_lengths() {
    let svg = chart();
    let bars = elements(&svg, "<rect class=\"bar");
    let got: Vec<(&str, &str, &str, &str)> = bars
        .iter()
        .map(|(tag, _)| {
            (
                attr(tag, "class"),
                attr(tag, "fill"),
                attr(tag, "x"),
                attr(tag, "width"),
            )
        })
        .collect();
    // The largest |a| = 0.4 is 210 px; 0.2 → 105, 0.1 → 52.5, 0.05 → 26.25. Positive bars
    // start at the zero line (x = 520), negative ones end there.
    assert_eq!(
        got,
        vec![
            ("bar neg", NEGATIVE_BAR, "310.00", "210.00"),
            ("bar pos", POSITIVE_BAR, "520.00", "105.00"),
            ("bar pos", POSITIVE_BAR, "520.00", "52.50"),
            ("bar neg", NEGATIVE_BAR, "493.75", "26.25"),
        ]
    );
    let values: Vec<&str> = elements(&svg, "<text class=\"attribution\"")
        .into_iter()
        .map(|(_, t)| t)
        .collect();
    assert_eq!(values, vec!["-0.4", "0.2", "0.1", "-0.05"]);
}

#[test]
fn summary_states_completeness() {
    let svg = chart();
    let summary = elements(&svg, "<text class=\"summary\"");
    assert_eq!(
        summary[0].1,
        "prediction 0.1 = baseline 0.25 + sum of attributions -0.15"
    );
    assert!(svg.starts_with("<svg xmlns=\"http://www.w3.org/2000/svg\""));
    assert!(svg.trim_end().ends_with("</svg>"));
}

#[test]
fn ties_keep_input_order_and_nan_goes_last() {
    let svg = bar_chart_svg(
        &[
            Bar::new("n", None, f64::NAN),
            Bar::new("b", None, -1.0),
            Bar::new("a", None, 1.0),
        ],
        0.0,
        0.0,
    );
    let labels: Vec<&str> = elements(&svg, "<text class=\"label\"")
        .into_iter()
        .map(|(_, t)| t)
        .collect();
    assert_eq!(labels, vec!["b", "a", "n"]);
    let widths: Vec<&str> = elements(&svg, "<rect class=\"bar")
        .iter()
        .map(|(tag, _)| attr(tag, "width"))
        .collect();
    assert_eq!(widths, vec!["210.00", "210.00", "0.00"]);
}
