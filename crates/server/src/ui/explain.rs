//! The *try it* panel's explanation, and its pictures.
//!
//! `POST …/models/{id}/explain` takes `{"instance": …, "deployedModelId"?: …}` and runs
//! exactly what `POST /v1/{endpoint}:explain` runs for `{"instances": [instance],
//! "deployedModelId": …}` on an endpoint the model is deployed on (the first one unless the
//! request names a deployment): the same handler, the same engine, the same numbers. The
//! answer is an HTML fragment (`result.html`): per explained output, the instance and
//! baseline outputs, the approximation error (with Vertex's advice above 0.05), tabular
//! attributions sorted by magnitude with the feature values, image heatmaps and shaded text
//! tokens from `prism-viz`, and the nearest examples of example-based models. Failures are
//! fragments too (`alert.html`), with the API's status and message.
//!
//! Image panels are kept ([`super::recent`]) so that `GET
//! /ui/explanations/{key}/{n}/heatmap.png` can redraw one with other options (`type`,
//! `polarity`, `overlay`, `color_map`, `clip_hi`, `clip_lo`: the names and values of
//! Vertex's `Visualization`; unset ones keep the metadata's, then the method's defaults).

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Instant;

use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::header;
use axum::response::{Html, IntoResponse, Response};
use minijinja::context;
use prism_spec::{ColorMap, ExplanationMetadata, OverlayType, Polarity, VisualizationType};
use prism_viz::{
    encode_png, output_label, panels, HeatmapOptions, ImagePanel, ImageView, MethodDefaults, Panel,
    RgbaImage,
};
use serde_json::{json, Value};

use super::pages::{deployments_of, last_segment};
use super::recent::Shown;
use super::{templates, UiError};
use crate::error::ApiError;
use crate::registry::Table;
use crate::state::AppState;

/// Pictures smaller than this (on their longer side) are enlarged by a whole factor, crisply.
const MIN_SIDE: usize = 224;
/// Approximation errors above this get Vertex's warning.
const ERROR_LIMIT: f64 = 0.05;
/// JSON shown on the page is cut after this many characters (a b64 image is long).
const SHOWN_JSON: usize = 20_000;

/// `POST /ui/projects/{p}/locations/{l}/models/{id}/explain`.
pub(crate) async fn explain(
    State(state): State<Arc<AppState>>,
    Path((project, location, model)): Path<(String, String, String)>,
    body: Bytes,
) -> Response {
    let name = format!("projects/{project}/locations/{location}/models/{model}");
    match run(&state, &name, &body).await {
        Ok(html) => Html(html).into_response(),
        Err(e) => UiError::fragment(e).into_response(),
    }
}

async fn run(state: &Arc<AppState>, name: &str, body: &[u8]) -> Result<String, ApiError> {
    let request: Value = serde_json::from_slice(body)
        .map_err(|e| ApiError::InvalidArgument(format!("the request is not JSON: {e}")))?;
    let instance = request
        .get("instance")
        .filter(|v| !v.is_null())
        .cloned()
        .ok_or_else(|| ApiError::InvalidArgument("instance: is required".into()))?;
    let model = state.registry.get_required(Table::Models, name).await?;
    let deployments = deployments_of(&model);
    let deployment = match request.get("deployedModelId").and_then(Value::as_str) {
        Some(id) if !id.is_empty() => deployments
            .into_iter()
            .find(|d| d.deployed_model_id == id)
            .ok_or_else(|| ApiError::NotFound(format!("model {name} has no deployment {id}")))?,
        _ => deployments.into_iter().next().ok_or_else(|| {
            ApiError::FailedPrecondition(format!(
                "model {name} is not deployed on any endpoint; deploy it to explain with it"
            ))
        })?,
    };
    let api_request = json!({
        "instances": [instance],
        "deployedModelId": deployment.deployed_model_id,
    });
    let started = Instant::now();
    let response =
        crate::routes::explain_on_endpoint(state, &deployment.endpoint, api_request.clone())
            .await?;
    let explanation = response.explanations.first().cloned().ok_or_else(|| {
        ApiError::Internal("the API answered no explanation for the instance".into())
    })?;
    // The page shows the API's answer as JSON, as a client would receive it.
    let response = serde_json::to_value(&response)
        .map_err(|e| ApiError::Internal(format!("the API's answer does not serialize: {e}")))?;
    let elapsed_ms = started.elapsed().as_millis();
    let explainer = state
        .deployed
        .read()
        .await
        .get(&deployment.deployed_model_id)
        .map(|d| d.explainer.clone());
    let (metadata, method) = match &explainer {
        Some(e) => (
            e.spec().metadata.clone().unwrap_or_default(),
            MethodDefaults::for_method(&e.spec().parameters.method),
        ),
        None => (ExplanationMetadata::default(), MethodDefaults::default()),
    };
    let instance = match &explainer {
        Some(e) => as_the_model_saw_it(e, &api_request["instances"][0], &metadata),
        None => api_request["instances"][0].clone(),
    };
    let instance = &instance;
    let raise_what = match &model["explanationSpec"]["parameters"] {
        p if p.get("sampledShapleyAttribution").is_some() => "pathCount",
        _ => "stepCount",
    };

    let mut images = Vec::new();
    let mut attributions = Vec::new();
    for attribution in &explanation.attributions {
        let output = output_label(attribution);
        let display = match &attribution.output_display_name {
            Some(d) if !d.is_empty() && *d != output => format!("{output} ({d})"),
            _ => output.clone(),
        };
        let mut notes = Vec::new();
        let mut bars = Vec::new();
        let mut shown_images = Vec::new();
        let mut texts = Vec::new();
        match panels(attribution, instance, &metadata) {
            Ok(p) => {
                bars = bar_rows(&p.bars, instance);
                for panel in p.features {
                    match panel {
                        Panel::Image(image) => {
                            let n = images.len();
                            shown_images.push(image_view(n, &image, method));
                            images.push((output.clone(), image));
                        }
                        Panel::Text(text) => {
                            match prism_viz::text_html(&text.tokens, &text.attributions) {
                                Ok(html) => texts.push(json!({
                                    "feature": text.feature,
                                    "html": html,
                                    "exact": text.attributions,
                                })),
                                Err(e) => notes.push(format!(
                                    "{}: cannot shade the tokens: {e}",
                                    text.feature
                                )),
                            }
                        }
                        _ => {}
                    }
                }
            }
            Err(e) => notes.push(format!("The pictures cannot be drawn: {e}")),
        }
        let bar_sum: f64 = bars.iter().map(|b| b.attribution).sum();
        let gap = (attribution.instance_output_value - attribution.baseline_output_value).abs();
        attributions.push(json!({
            "output": output,
            "display": display,
            "output_name": attribution.output_name,
            "instance_output": attribution.instance_output_value,
            "baseline_output": attribution.baseline_output_value,
            "approximation_error": attribution.approximation_error,
            "error_high": attribution.approximation_error > ERROR_LIMIT,
            "close_outputs": gap < ERROR_LIMIT,
            "raise_what": raise_what,
            "notes": notes,
            "bars": bars,
            "bar_sum": bar_sum,
            "images": shown_images,
            "texts": texts,
        }));
    }
    // Example-based models: the query image beside its neighbours.
    let mut query_images = Vec::new();
    if !explanation.neighbors.is_empty() {
        for (name, input) in metadata.inputs.iter() {
            if input.modality != prism_spec::Modality::Image {
                continue;
            }
            let value = match instance {
                Value::Object(m) if !m.contains_key("b64") => m.get(name),
                other if metadata.inputs.len() <= 1 => Some(other),
                _ => None,
            };
            if let Some(Ok(image)) = value.map(ImageView::from_value) {
                let side = image.width().max(image.height()).max(1);
                let factor = MIN_SIDE.div_ceil(side).max(1);
                query_images.push(json!({
                    "n": images.len(),
                    "feature": name,
                    "width": image.width() * factor,
                    "height": image.height() * factor,
                }));
                images.push((
                    String::new(),
                    ImagePanel {
                        feature: name.to_string(),
                        image,
                        pixels: Vec::new(),
                        visualization: Default::default(),
                    },
                ));
            }
        }
    }
    let key = if images.is_empty() {
        String::new()
    } else {
        state.ui.keep(Shown { images, method })
    };
    // The image URLs wait for the key.
    for a in &mut attributions {
        if let Some(list) = a["images"].as_array_mut() {
            for im in list {
                let n = im["n"].as_u64().unwrap_or(0);
                let base = format!("/ui/explanations/{key}/{n}/heatmap.png");
                im["heatmap_url"] = json!(format!("{base}?{}", im["query"].as_str().unwrap_or("")));
                im["base_url"] = json!(base);
                im["input_url"] = json!(format!("/ui/explanations/{key}/{n}/input.png"));
            }
        }
    }
    for q in &mut query_images {
        let n = q["n"].as_u64().unwrap_or(0);
        q["url"] = json!(format!("/ui/explanations/{key}/{n}/input.png"));
    }
    let neighbors: Vec<Value> = explanation
        .neighbors
        .iter()
        .enumerate()
        .map(|(i, n)| json!({"rank": i + 1, "id": n.neighbor_id, "distance": n.neighbor_distance}))
        .collect();
    let texts_safe = attributions_with_safe_text(attributions);
    templates::render(
        "result.html",
        context! {
            attributions => texts_safe,
            neighbors,
            query_images,
            endpoint => deployment.endpoint.clone(),
            endpoint_id => last_segment(&deployment.endpoint),
            deployed_model_id => deployment.deployed_model_id,
            elapsed_ms => elapsed_ms as u64,
            prediction => cut(&pretty(&response["predictions"][0])),
            request => cut(&pretty(&api_request)),
            response => cut(&pretty(&response)),
            response_size => response.to_string().len(),
        },
    )
}

/// The instance with each image given as `{"b64": …}` replaced by the image the model took:
/// decoded, resized to the model's input and scaled as the engine binds it, so that the
/// attributions (shaped like the model's input) and the picture under them match whatever
/// size the file was. An instance the binder refuses is left as it was.
fn as_the_model_saw_it(
    explainer: &prism_engine::Explainer,
    instance: &Value,
    metadata: &ExplanationMetadata,
) -> Value {
    let encoded = |v: &Value| v.get("b64").is_some();
    let images: Vec<&str> = metadata
        .inputs
        .iter()
        .filter(|(_, i)| i.modality == prism_spec::Modality::Image)
        .map(|(name, _)| name)
        .collect();
    // `{"b64": …}` as the whole instance of a one-input model.
    let whole = encoded(instance);
    let given_encoded = |name: &str| whole || instance.get(name).is_some_and(encoded);
    if !images.iter().any(|name| given_encoded(name)) {
        return instance.clone();
    }
    let binder = explainer.binder();
    let Ok(bound) = binder.bind(instance) else {
        return instance.clone();
    };
    let seen = binder.instance_from_values(&bound.values, &bound.shapes);
    let mut out = if whole {
        Value::Object(Default::default())
    } else {
        instance.clone()
    };
    for name in images {
        if let (true, Some(v), Some(map)) =
            (given_encoded(name), seen.get(name), out.as_object_mut())
        {
            map.insert(name.to_string(), v.clone());
        }
    }
    out
}

/// The attributions for the template, each text panel's HTML (built and escaped by
/// `prism-viz`) marked safe.
fn attributions_with_safe_text(attributions: Vec<Value>) -> Vec<minijinja::Value> {
    attributions
        .into_iter()
        .map(|mut a| {
            let texts: Vec<minijinja::Value> = a["texts"]
                .as_array_mut()
                .map(std::mem::take)
                .unwrap_or_default()
                .into_iter()
                .map(|t| {
                    let html = t["html"].as_str().unwrap_or_default().to_string();
                    context! {
                        feature => t["feature"].clone(),
                        exact => t["exact"].clone(),
                        html => minijinja::Value::from_safe_string(html),
                    }
                })
                .collect();
            context! { texts, ..minijinja::Value::from_serialize(&a) }
        })
        .collect()
}

/// One row of the tabular table.
#[derive(Debug, Clone, serde::Serialize)]
struct BarRow {
    name: String,
    value: Option<String>,
    attribution: f64,
    /// Bar length, in percent of the largest magnitude.
    width: f64,
}

/// Bars sorted by magnitude, largest first (ties keep their order, NaN last), as
/// `prism_viz::bar_chart_svg` sorts them. A feature the instance gives by name shows its value
/// as given (`prism-viz` rounds values for labels).
fn bar_rows(bars: &[prism_viz::Bar], instance: &Value) -> Vec<BarRow> {
    let magnitude = |a: f64| if a.is_nan() { -1.0 } else { a.abs() };
    let mut order: Vec<&prism_viz::Bar> = bars.iter().collect();
    order.sort_by(|a, b| magnitude(b.attribution).total_cmp(&magnitude(a.attribution)));
    let max = order
        .iter()
        .map(|b| magnitude(b.attribution))
        .filter(|m| m.is_finite())
        .fold(0.0f64, f64::max);
    order
        .into_iter()
        .map(|b| BarRow {
            name: b.name.clone(),
            value: match instance.get(&b.name) {
                Some(Value::Number(n)) => Some(n.to_string()),
                Some(Value::String(s)) => Some(s.clone()),
                _ => b.value.clone(),
            },
            attribution: b.attribution,
            width: if max > 0.0 && b.attribution.is_finite() {
                (1000.0 * b.attribution.abs() / max).round() / 10.0
            } else {
                0.0
            },
        })
        .collect()
}

/// The template's view of an image panel (URLs are added once the key is known).
fn image_view(n: usize, image: &ImagePanel, method: MethodDefaults) -> Value {
    let options = HeatmapOptions::resolve(&image.visualization, method);
    // f32 percentages (99.9 reads back as 99.90000153) shown and sent as typed: "99.9".
    let (clip_hi, clip_lo) = (
        prism_viz::number(options.clip_percent_upperbound),
        prism_viz::number(options.clip_percent_lowerbound),
    );
    let side = image.image.width().max(image.image.height()).max(1);
    let factor = MIN_SIDE.div_ceil(side).max(1);
    let query = format!(
        "type={}&polarity={}&overlay={}&color_map={}&clip_hi={}&clip_lo={}",
        options.kind.name(),
        options.polarity.name(),
        options.overlay.name(),
        options.color_map.name(),
        clip_hi,
        clip_lo,
    );
    json!({
        "n": n,
        "feature": image.feature,
        "width": image.image.width() * factor,
        "height": image.image.height() * factor,
        "pixels": image.pixels.len(),
        "sum": image.pixels.iter().sum::<f64>(),
        "xrai": method == MethodDefaults::Xrai,
        "query": query,
        "options": {
            "type": options.kind.name(),
            "polarity": options.polarity.name(),
            "overlay": options.overlay.name(),
            "color_map": options.color_map.name(),
            "clip_hi": clip_hi,
            "clip_lo": clip_lo,
        },
    })
}

/// `GET /ui/explanations/{key}/{n}/heatmap.png?type=&polarity=&overlay=&color_map=&clip_hi=&clip_lo=`.
pub(crate) async fn heatmap(
    State(state): State<Arc<AppState>>,
    Path((key, n)): Path<(String, usize)>,
    Query(query): Query<HashMap<String, String>>,
) -> Result<Response, UiError> {
    let shown = shown(&state, &key)?;
    let (_, image) = shown.images.get(n).ok_or_else(|| no_image(n))?;
    let options = options(&image.visualization, shown.method, &query)?;
    let picture = prism_viz::render(&image.pixels, &image.image, &options)
        .map_err(|e| ApiError::InvalidArgument(format!("the heatmap cannot be drawn: {e}")))?;
    png(&picture)
}

/// `GET /ui/explanations/{key}/{n}/input.png`: the instance's image as the model saw it.
pub(crate) async fn input(
    State(state): State<Arc<AppState>>,
    Path((key, n)): Path<(String, usize)>,
) -> Result<Response, UiError> {
    let shown = shown(&state, &key)?;
    let (_, image) = shown.images.get(n).ok_or_else(|| no_image(n))?;
    png(&picture_of(&image.image))
}

fn shown(state: &AppState, key: &str) -> Result<Arc<Shown>, ApiError> {
    state.ui.get(key).ok_or_else(|| {
        ApiError::NotFound(
            "this explanation is no longer kept; run it again to redraw its pictures".into(),
        )
    })
}

fn no_image(n: usize) -> ApiError {
    ApiError::NotFound(format!("the explanation has no image {n}"))
}

/// The options of a redraw: the query's, over the metadata's, over the method's defaults.
fn options(
    vis: &prism_spec::Visualization,
    method: MethodDefaults,
    query: &HashMap<String, String>,
) -> Result<HeatmapOptions, ApiError> {
    let mut options = HeatmapOptions::resolve(vis, method);
    fn choice<T>(
        query: &HashMap<String, String>,
        key: &str,
        parse: fn(&str) -> Option<T>,
    ) -> Result<Option<T>, ApiError> {
        match query.get(key).filter(|v| !v.is_empty()) {
            None => Ok(None),
            Some(v) => parse(v)
                .map(Some)
                .ok_or_else(|| ApiError::InvalidArgument(format!("{key}: unknown value {v}"))),
        }
    }
    if let Some(kind) = choice(query, "type", VisualizationType::from_name)? {
        // XRAI is always drawn as pixels (Vertex: `type` applies to Integrated Gradients).
        if method != MethodDefaults::Xrai {
            options.kind = kind;
        }
    }
    if let Some(p) = choice(query, "polarity", Polarity::from_name)? {
        options.polarity = p;
    }
    if let Some(o) = choice(query, "overlay", OverlayType::from_name)? {
        options.overlay = o;
    }
    if let Some(c) = choice(query, "color_map", ColorMap::from_name)? {
        options.color_map = c;
    }
    let percent = |key: &str| -> Result<Option<f64>, ApiError> {
        match query.get(key).filter(|v| !v.is_empty()) {
            None => Ok(None),
            Some(v) => v
                .parse::<f64>()
                .ok()
                .filter(|p| p.is_finite())
                .map(|p| Some(p.clamp(0.0, 100.0)))
                .ok_or_else(|| ApiError::InvalidArgument(format!("{key}: not a percentage: {v}"))),
        }
    };
    if let Some(hi) = percent("clip_hi")? {
        options.clip_percent_upperbound = hi;
    }
    if let Some(lo) = percent("clip_lo")? {
        options.clip_percent_lowerbound = lo;
    }
    Ok(options)
}

/// An image's pixels as an opaque picture.
fn picture_of(image: &ImageView) -> RgbaImage {
    let mut picture = RgbaImage::filled(image.width(), image.height(), [0, 0, 0, 255]);
    for (i, [r, g, b]) in image.pixels().iter().copied().enumerate() {
        let (x, y) = (i % image.width().max(1), i / image.width().max(1));
        picture.set_pixel(x, y, [r, g, b, 255]);
    }
    picture
}

/// A picture as a PNG response, enlarged to at least [`MIN_SIDE`].
fn png(picture: &RgbaImage) -> Result<Response, UiError> {
    let side = picture.width().max(picture.height()).max(1);
    let bytes = encode_png(&picture.upscaled(MIN_SIDE.div_ceil(side)))
        .map_err(|e| ApiError::Internal(format!("PNG encoding: {e}")))?;
    Ok((
        [
            (header::CONTENT_TYPE, "image/png"),
            (header::CACHE_CONTROL, "private, max-age=3600"),
        ],
        bytes,
    )
        .into_response())
}

fn pretty(v: &Value) -> String {
    serde_json::to_string_pretty(v).unwrap_or_default()
}

/// Long text cut at [`SHOWN_JSON`] characters, saying so.
fn cut(text: &str) -> String {
    match text.char_indices().nth(SHOWN_JSON) {
        Some((at, _)) => format!(
            "{}\n… ({} more characters not shown)",
            &text[..at],
            text[at..].chars().count()
        ),
        None => text.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bars_sort_by_magnitude_and_scale_to_the_largest() {
        let bars = [
            prism_viz::Bar::new("a", Some("1".into()), 0.5),
            prism_viz::Bar::new("b", None, -2.0),
            prism_viz::Bar::new("c", None, f64::NAN),
            prism_viz::Bar::new("d", None, 1.0),
        ];
        let rows = bar_rows(&bars, &json!({"a": 0.123456789, "b": [1, 2]}));
        assert_eq!(rows[2].value.as_deref(), Some("0.123456789"));
        assert_eq!(rows[0].value, None);
        let names: Vec<&str> = rows.iter().map(|r| r.name.as_str()).collect();
        assert_eq!(names, ["b", "d", "a", "c"]);
        let widths: Vec<f64> = rows.iter().map(|r| r.width).collect();
        assert_eq!(widths, [100.0, 50.0, 25.0, 0.0]);
    }

    #[test]
    fn query_options_override_and_are_checked() {
        let vis = prism_spec::Visualization::default();
        let q = |pairs: &[(&str, &str)]| -> HashMap<String, String> {
            pairs
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect()
        };
        let o = options(
            &vis,
            MethodDefaults::IntegratedGradients,
            &q(&[("polarity", "BOTH"), ("clip_hi", "150"), ("type", "PIXELS")]),
        )
        .unwrap();
        assert_eq!(o.polarity, Polarity::Both);
        assert_eq!(o.clip_percent_upperbound, 100.0);
        assert_eq!(o.kind, VisualizationType::Pixels);
        let xrai = options(&vis, MethodDefaults::Xrai, &q(&[("type", "OUTLINES")])).unwrap();
        assert_eq!(xrai.kind, VisualizationType::Pixels);
        assert!(options(&vis, MethodDefaults::Xrai, &q(&[("overlay", "<x>")])).is_err());
        assert!(options(&vis, MethodDefaults::Xrai, &q(&[("clip_lo", "NaN")])).is_err());
    }

    #[test]
    fn long_text_is_cut() {
        let long = "x".repeat(SHOWN_JSON + 5);
        assert!(cut(&long).ends_with("(5 more characters not shown)"));
        assert_eq!(cut("short"), "short");
    }
}
