//! [`pictures_for`]: every picture of one explanation, named for files.

use std::collections::HashSet;

use prism_spec::{
    Attribution, Explanation, ExplanationMetadata, InputMetadata, Modality, Visualization,
};
use serde_json::Value;

use crate::bars::{bar_chart_svg, Bar};
use crate::error::VizError;
use crate::heatmap::{render, HeatmapOptions, MethodDefaults};
use crate::image::{ImageView, Layout};
use crate::markup::{html_document, number};
use crate::raster::encode_png;
use crate::tensor::Tensor;
use crate::text::text_html;

/// The pictures of one explanation: `(file name, file bytes)`, for each attribution
/// (explained output) in order:
///
/// - `{feature}-{output}.png` for each image feature (`modality: image`): a heatmap with
///   the feature's `visualization` options and `method`'s defaults ([`crate::heatmap`](mod@crate::heatmap));
/// - `{feature}-{output}.html` for each text feature (`modality: text`): a page of
///   shaded tokens ([`text_html`]);
/// - `tabular-{output}.svg`: one bar chart ([`bar_chart_svg`]) of every other feature
///   (numeric, categorical, groups, and keys the metadata does not list).
///
/// `{output}` is the attribution's `outputIndex` joined by `_` (`3`, `1_2`), or `out`
/// for a scalar output. Names keep ASCII letters, digits, `-`, `_` and `.`; other
/// characters become `_`, and a name already used gets `-2`, `-3`, … before its
/// extension.
///
/// Feature values are read from `instance` by the feature's name (an object), or are
/// `instance` itself when it is not an object and the metadata has one input. Array
/// attributions of a tabular feature are one bar per `indexFeatureMapping` name when
/// the counts match, else one bar of their sum (the explainable_ai_sdk's
/// `feature_importance` sums a feature's dimensions the same way). Text tokens are the
/// instance's list of strings (or numbers), or its string split at whitespace; if their
/// count differs from the attributions', tokens are shown as `[0]`, `[1]`, …; one
/// attribution for a whole string shades the whole string. Text attributions shaped
/// `[tokens][dims]` are summed over `dims`.
///
/// Fails on an image or attribution that cannot be read (the message names it).
pub fn pictures_for(
    explanation: &Explanation,
    instance: &Value,
    metadata: &ExplanationMetadata,
    method: MethodDefaults,
) -> Result<Vec<(String, Vec<u8>)>, VizError> {
    pictures_at_least(explanation, instance, metadata, method, 0)
}

/// [`pictures_for`], with image pictures smaller than `min_side` pixels (on their longer
/// side) enlarged by a whole factor to at least that, crisply (nearest neighbour), so that a
/// 28 × 28 digit can be seen.
pub fn pictures_at_least(
    explanation: &Explanation,
    instance: &Value,
    metadata: &ExplanationMetadata,
    method: MethodDefaults,
    min_side: usize,
) -> Result<Vec<(String, Vec<u8>)>, VizError> {
    let mut files = Vec::new();
    let mut used = HashSet::new();
    for attribution in &explanation.attributions {
        let output = output_label(attribution);
        let panels = panels(attribution, instance, metadata)?;
        for panel in &panels.features {
            match panel {
                Panel::Image(image) => {
                    let options = HeatmapOptions::resolve(&image.visualization, method);
                    let picture = render(&image.pixels, &image.image, &options)?;
                    let side = picture.width().max(picture.height()).max(1);
                    let png = encode_png(&picture.upscaled(min_side.div_ceil(side)))?;
                    let name = file_name(&mut used, &image.feature, &output, "png");
                    files.push((name, png));
                }
                Panel::Text(text) => {
                    let fragment = text_html(&text.tokens, &text.attributions)?;
                    let title = format!("{}: attributions for output {output}", text.feature);
                    let page = html_document(&title, &fragment);
                    let name = file_name(&mut used, &text.feature, &output, "html");
                    files.push((name, page.into_bytes()));
                }
            }
        }
        if !panels.bars.is_empty() {
            let svg = bar_chart_svg(
                &panels.bars,
                attribution.baseline_output_value,
                attribution.instance_output_value,
            );
            let name = file_name(&mut used, "tabular", &output, "svg");
            files.push((name, svg.into_bytes()));
        }
    }
    Ok(files)
}

/// An attribution's output as a label: its `outputIndex` joined by `_` (`3`, `1_2`), or
/// `out` for a scalar output.
pub fn output_label(attribution: &Attribution) -> String {
    match &attribution.output_index {
        Some(index) if !index.is_empty() => index
            .iter()
            .map(i32::to_string)
            .collect::<Vec<_>>()
            .join("_"),
        _ => "out".to_string(),
    }
}

/// What one attribution shows, split by kind of feature: the pieces [`pictures_for`] draws,
/// for a caller that lays them out itself (the server's web UI).
#[derive(Debug, Clone, PartialEq)]
pub struct Panels {
    /// Image and text features, in the attribution's key order.
    pub features: Vec<Panel>,
    /// Every other feature (numeric, categorical, groups, keys the metadata does not list),
    /// one bar per scalar, in the attribution's key order (not sorted).
    pub bars: Vec<Bar>,
}

/// An image or text feature of [`Panels`].
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum Panel {
    /// An image feature (`modality: image`).
    Image(ImagePanel),
    /// A text feature (`modality: text`).
    Text(TextPanel),
}

/// An image feature's picture and attributions.
#[derive(Debug, Clone, PartialEq)]
pub struct ImagePanel {
    /// The feature's key in `featureAttributions`.
    pub feature: String,
    /// The instance's image.
    pub image: ImageView,
    /// One signed attribution per pixel, row-major (channels summed; see
    /// [`image_attributions`]).
    pub pixels: Vec<f64>,
    /// The feature's `visualization` options from the metadata (default: none set).
    pub visualization: Visualization,
}

/// A text feature's tokens and attributions.
#[derive(Debug, Clone, PartialEq)]
pub struct TextPanel {
    /// The feature's key in `featureAttributions`.
    pub feature: String,
    /// The tokens shown (see [`pictures_for`] for how they are read).
    pub tokens: Vec<String>,
    /// One attribution per token.
    pub attributions: Vec<f64>,
}

/// Splits one attribution into [`Panels`], reading feature values from `instance` as
/// [`pictures_for`] describes. Fails on an image or attribution that cannot be read.
pub fn panels(
    attribution: &Attribution,
    instance: &Value,
    metadata: &ExplanationMetadata,
) -> Result<Panels, VizError> {
    let mut out = Panels {
        features: Vec::new(),
        bars: Vec::new(),
    };
    let Value::Object(features) = &attribution.feature_attributions else {
        return Ok(out);
    };
    for (key, attr) in features {
        let input = find_input(metadata, key);
        let modality = input.map(|(_, i)| i.modality).unwrap_or_default();
        let input_name = input.map_or(key.as_str(), |(name, _)| name);
        // A group has no single value.
        let value = if input_name == key.as_str() {
            feature_value(instance, input_name, metadata)
        } else {
            None
        };
        match modality {
            Modality::Image => {
                let value = value.ok_or_else(|| VizError::MissingInstance {
                    feature: key.clone(),
                })?;
                let image = ImageView::from_value(value)?;
                let pixels = image_attributions(attr, &image)?;
                let visualization = input
                    .and_then(|(_, i)| i.visualization.clone())
                    .unwrap_or_default();
                out.features.push(Panel::Image(ImagePanel {
                    feature: key.clone(),
                    image,
                    pixels,
                    visualization,
                }));
            }
            Modality::Text => {
                let (tokens, attributions) = text_tokens(value, attr)?;
                out.features.push(Panel::Text(TextPanel {
                    feature: key.clone(),
                    tokens,
                    attributions,
                }));
            }
            // Numeric, categorical, and modalities added to the contract later.
            _ => out
                .bars
                .extend(tabular_bars(key, attr, value, input.map(|(_, i)| i))?),
        }
    }
    Ok(out)
}

/// The metadata input reported under `key`: the input of that name, or the first
/// member of the group of that name.
fn find_input<'a>(
    metadata: &'a ExplanationMetadata,
    key: &str,
) -> Option<(&'a str, &'a InputMetadata)> {
    metadata
        .inputs
        .iter()
        .find(|(name, i)| *name == key && i.group_name.as_deref().is_none_or(|g| g == key))
        .or_else(|| {
            metadata
                .inputs
                .iter()
                .find(|(_, i)| i.group_name.as_deref() == Some(key))
        })
}

/// The instance's value of a feature.
fn feature_value<'a>(
    instance: &'a Value,
    name: &str,
    metadata: &ExplanationMetadata,
) -> Option<&'a Value> {
    match instance {
        Value::Object(map) if !map.contains_key("b64") => map.get(name),
        _ if metadata.inputs.len() <= 1 => Some(instance),
        _ => None,
    }
}

/// A file name not used before: `{stem}-{output}.{ext}`, sanitised.
fn file_name(used: &mut HashSet<String>, stem: &str, output: &str, ext: &str) -> String {
    let clean = |s: &str| -> String {
        s.chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.') {
                    c
                } else {
                    '_'
                }
            })
            .collect()
    };
    let mut base = format!("{}-{}", clean(stem), clean(output));
    if base.starts_with('.') {
        base.replace_range(..1, "_");
    }
    let mut name = format!("{base}.{ext}");
    let mut n = 2;
    while used.contains(&name) {
        name = format!("{base}-{n}.{ext}");
        n += 1;
    }
    used.insert(name.clone());
    name
}

/// Per-pixel attributions of an image from their JSON: `[H][W]`, `[H][W][C]`,
/// `[C][H][W]` (summed over `C`), with leading axes of length 1 dropped, or one number
/// for the whole image.
pub fn image_attributions(attributions: &Value, image: &ImageView) -> Result<Vec<f64>, VizError> {
    let tensor = Tensor::from_json(attributions, "attributions")?;
    let (h, w) = (image.height(), image.width());
    let n = h * w;
    let mismatch = |shape: &[usize]| VizError::AttributionShape {
        len: shape.iter().product(),
        shape: shape.to_vec(),
        width: w,
        height: h,
    };
    if tensor.shape.is_empty() {
        return Ok(vec![tensor.values[0]; n]);
    }
    let prefer_first = matches!(image.layout(), Layout::Chw { .. });
    let mut shape: &[usize] = &tensor.shape;
    let (channels, first) = loop {
        let last = matches!(*shape, [a, b, _] if a == h && b == w);
        let lead = matches!(*shape, [_, a, b] if a == h && b == w);
        match *shape {
            [a, b] if a == h && b == w => break (1, false),
            [k, _, _] if lead && (prefer_first || !last) => break (k, true),
            [_, _, k] if last => break (k, false),
            [1, ..] if shape.len() > 2 => shape = &shape[1..],
            _ => return Err(mismatch(&tensor.shape)),
        }
    };
    let v = &tensor.values;
    Ok((0..n)
        .map(|p| {
            (0..channels)
                .map(|c| {
                    if first {
                        v[c * n + p]
                    } else {
                        v[p * channels + c]
                    }
                })
                .sum()
        })
        .collect())
}

/// Tokens and one attribution per token for a text feature.
fn text_tokens(value: Option<&Value>, attr: &Value) -> Result<(Vec<String>, Vec<f64>), VizError> {
    let tensor = Tensor::from_json(attr, "text attributions")?;
    let values: Vec<f64> = match tensor.shape.as_slice() {
        [] | [_] => tensor.values.clone(),
        [n, ..] => {
            let per = tensor.values.len() / n.max(&1);
            tensor
                .values
                .chunks(per.max(1))
                .map(|c| c.iter().sum())
                .collect()
        }
    };
    let mut tokens: Vec<String> = match value {
        Some(Value::String(text)) if values.len() == 1 && tensor.shape.is_empty() => {
            vec![text.clone()]
        }
        Some(Value::String(text)) => text.split_whitespace().map(str::to_string).collect(),
        Some(Value::Array(items)) => items
            .iter()
            .map(|item| match item {
                Value::String(s) => s.clone(),
                other => other.to_string(),
            })
            .collect(),
        _ => Vec::new(),
    };
    if tokens.len() != values.len() {
        tokens = (0..values.len()).map(|i| format!("[{i}]")).collect();
    }
    Ok((tokens, values))
}

/// The bars of a tabular feature.
fn tabular_bars(
    key: &str,
    attr: &Value,
    value: Option<&Value>,
    input: Option<&InputMetadata>,
) -> Result<Vec<Bar>, VizError> {
    let shown = |v: Option<&Value>| match v {
        Some(Value::Number(n)) => n.as_f64().map(number),
        Some(Value::String(s)) => Some(s.clone()),
        Some(Value::Bool(b)) => Some(b.to_string()),
        _ => None,
    };
    if let Value::Number(n) = attr {
        return Ok(vec![Bar::new(
            key,
            shown(value),
            n.as_f64().unwrap_or(f64::NAN),
        )]);
    }
    let tensor = Tensor::from_json(attr, "attributions")?;
    let names = input
        .map(|i| i.index_feature_mapping.as_slice())
        .unwrap_or(&[]);
    if !names.is_empty() && names.len() == tensor.values.len() {
        let items = match value {
            Some(Value::Array(items)) if items.len() == names.len() => Some(items),
            _ => None,
        };
        return Ok(names
            .iter()
            .zip(&tensor.values)
            .enumerate()
            .map(|(i, (name, &a))| Bar::new(name.clone(), shown(items.map(|it| &it[i])), a))
            .collect());
    }
    Ok(vec![Bar::new(
        key,
        shown(value),
        tensor.values.iter().sum(),
    )])
}
