//! Tabular attributions: a horizontal bar chart as SVG.

use crate::markup::{escape, number};

/// Fill of bars of positive attributions (ColorBrewer PiYG green).
pub const POSITIVE_BAR: &str = "#4d9221";
/// Fill of bars of negative attributions (ColorBrewer PiYG pink).
pub const NEGATIVE_BAR: &str = "#c51b7d";

/// Picture width in pixels.
const WIDTH: f64 = 760.0;
/// Labels end here (right-aligned).
const LABEL_RIGHT: f64 = 290.0;
/// The zero line.
const AXIS_X: f64 = 520.0;
/// The longest bar, on either side of the zero line.
const MAX_BAR: f64 = 210.0;
/// Height of the title lines above the bars.
const TOP: f64 = 48.0;
/// Vertical distance between bars.
const ROW: f64 = 24.0;
/// Bar thickness.
const BAR: f64 = 16.0;

/// One feature of a bar chart.
#[derive(Debug, Clone, PartialEq)]
pub struct Bar {
    /// The feature's name.
    pub name: String,
    /// The feature's value in the instance, as shown (`None`: not shown, e.g. a group).
    pub value: Option<String>,
    /// Its attribution.
    pub attribution: f64,
}

impl Bar {
    /// A bar with a shown value.
    pub fn new(name: impl Into<String>, value: Option<String>, attribution: f64) -> Bar {
        Bar {
            name: name.into(),
            value,
            attribution,
        }
    }
}

/// An SVG bar chart of tabular attributions.
///
/// Bars are sorted by |attribution|, largest first (ties keep their order; NaN last),
/// grow right from a zero line for positive attributions ([`POSITIVE_BAR`]) and left for
/// negative ones ([`NEGATIVE_BAR`]), and are scaled so that the largest is 210 px long.
/// Each row has a label `name = value` (`<text class="label">`), its bar
/// (`<rect class="bar pos">` / `<rect class="bar neg">`) and the attribution
/// (`<text class="attribution">`). A summary line gives
/// `prediction = baseline + Σ attributions`. All text is escaped.
pub fn bar_chart_svg(bars: &[Bar], baseline_output: f64, instance_output: f64) -> String {
    let magnitude = |b: &Bar| {
        if b.attribution.is_nan() {
            -1.0
        } else {
            b.attribution.abs()
        }
    };
    let mut order: Vec<&Bar> = bars.iter().collect();
    order.sort_by(|a, b| magnitude(b).total_cmp(&magnitude(a)));
    let max = order
        .iter()
        .map(|b| magnitude(b))
        .filter(|m| m.is_finite())
        .fold(0.0f64, f64::max);
    let sum: f64 = bars.iter().map(|b| b.attribution).sum();
    let height = TOP + ROW * order.len() as f64 + 10.0;

    let mut svg = format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{WIDTH}\" height=\"{height}\" \
         viewBox=\"0 0 {WIDTH} {height}\" font-family=\"sans-serif\" font-size=\"12\">\n\
         <rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n\
         <text class=\"title\" x=\"10\" y=\"18\" font-size=\"14\" font-weight=\"bold\">Feature attributions</text>\n\
         <text class=\"summary\" x=\"10\" y=\"36\">prediction {} = baseline {} + sum of attributions {}</text>\n\
         <line x1=\"{AXIS_X}\" y1=\"{}\" x2=\"{AXIS_X}\" y2=\"{}\" stroke=\"#444\"/>\n",
        escape(&number(instance_output)),
        escape(&number(baseline_output)),
        escape(&number(sum)),
        TOP - 4.0,
        height - 6.0,
    );
    for (i, bar) in order.iter().enumerate() {
        let top = TOP + ROW * i as f64;
        let middle = top + ROW / 2.0;
        let label = match &bar.value {
            Some(v) => format!("{} = {}", bar.name, v),
            None => bar.name.clone(),
        };
        let len = if max > 0.0 && bar.attribution.is_finite() {
            MAX_BAR * bar.attribution.abs() / max
        } else {
            0.0
        };
        let negative = bar.attribution < 0.0;
        let (class, fill, x, text_x, anchor) = if negative {
            ("neg", NEGATIVE_BAR, AXIS_X - len, AXIS_X - len - 4.0, "end")
        } else {
            ("pos", POSITIVE_BAR, AXIS_X, AXIS_X + len + 4.0, "start")
        };
        svg.push_str(&format!(
            "<text class=\"label\" x=\"{LABEL_RIGHT}\" y=\"{middle}\" text-anchor=\"end\" \
             dominant-baseline=\"middle\">{}</text>\n\
             <rect class=\"bar {class}\" x=\"{x:.2}\" y=\"{}\" width=\"{len:.2}\" height=\"{BAR}\" fill=\"{fill}\"/>\n\
             <text class=\"attribution\" x=\"{text_x:.2}\" y=\"{middle}\" text-anchor=\"{anchor}\" \
             dominant-baseline=\"middle\">{}</text>\n",
            escape(&label),
            top + (ROW - BAR) / 2.0,
            escape(&number(bar.attribution)),
        ));
    }
    svg.push_str("</svg>\n");
    svg
}
