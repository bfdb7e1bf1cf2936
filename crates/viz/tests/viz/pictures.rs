//! `pictures_for`: which files an explanation gives, and what is in them.

use base64::Engine as _;
use prism_spec::{Explanation, ExplanationMetadata};
use prism_viz::{encode_png, pictures_for, MethodDefaults, RgbaImage, VizError};
use serde_json::{json, Value};

fn metadata(value: Value) -> ExplanationMetadata {
    ExplanationMetadata::from_value(value).expect("valid metadata")
}

fn explanation(value: Value) -> Explanation {
    Explanation::from_value(value).expect("valid explanation")
}

/// Decodes a PNG file to (width, height, RGB pixels).
fn decode(bytes: &[u8]) -> (u32, u32, Vec<[u8; 3]>) {
    let decoder = png::Decoder::new(std::io::Cursor::new(bytes));
    let mut reader = decoder.read_info().expect("a PNG");
    let mut buf = vec![0; reader.output_buffer_size().expect("small")];
    let info = reader.next_frame(&mut buf).expect("a frame");
    assert_eq!(info.color_type, png::ColorType::Rgba);
    let rgb = buf[..info.buffer_size()]
        .chunks_exact(4)
        .map(|p| [p[0], p[1], p[2]])
        .collect();
    (info.width, info.height, rgb)
}

fn names(files: &[(String, Vec<u8>)]) -> Vec<&str> {
    files.iter().map(|(n, _)| n.as_str()).collect()
}

fn text(files: &[(String, Vec<u8>)], name: &str) -> String {
    let (_, bytes) = files.iter().find(|(n, _)| n == name).expect("file present");
    String::from_utf8(bytes.clone()).expect("UTF-8")
}

fn mixed() -> (ExplanationMetadata, Value, Explanation) {
    let md = metadata(json!({
        "inputs": {
            "image": {"modality": "image", "visualization": {
                "type": "PIXELS", "colorMap": "RED_GREEN",
                "clipPercentUpperbound": 100, "clipPercentLowerbound": 0}},
            "review": {"modality": "text"},
            "age": {},
            "city": {"modality": "categorical"},
            "h1": {"groupName": "hours"},
            "h2": {"groupName": "hours"},
            "bag": {"encoding": "BAG_OF_FEATURES", "indexFeatureMapping": ["x", "y"]}
        },
        "outputs": {"p": {}}
    }));
    let instance = json!({
        "image": [[0, 255], [255, 0]],
        "review": "good <bad> movie",
        "age": 39, "city": "Paris", "h1": 1, "h2": 2, "bag": [3, 4]
    });
    let ex = explanation(json!({"attributions": [
        {
            "outputIndex": [1], "baselineOutputValue": 0.2, "instanceOutputValue": 0.9,
            "featureAttributions": {
                "image": [[1.0, 0.5], [0.0, -1.0]],
                "review": [0.5, -1.0, 0.25],
                "age": 0.3, "city": -0.2, "hours": 0.1, "bag": [0.05, -0.01]
            }
        },
        {
            "baselineOutputValue": 0.0, "instanceOutputValue": 1.0,
            "featureAttributions": {
                "image": [[0.0, 0.0], [0.0, 2.0]],
                "review": [1.0, 1.0, 1.0],
                "age": 1.0
            }
        }
    ]}));
    (md, instance, ex)
}

#[test]
fn one_file_per_image_and_text_feature_and_one_chart_per_output() {
    let (md, instance, ex) = mixed();
    let files =
        pictures_for(&ex, &instance, &md, MethodDefaults::IntegratedGradients).expect("pictures");
    assert_eq!(
        names(&files),
        vec![
            "image-1.png",
            "review-1.html",
            "tabular-1.svg",
            "image-out.png",
            "review-out.html",
            "tabular-out.svg"
        ]
    );
}

#[test]
fn image_pictures_use_the_features_visualization() {
    let (md, instance, ex) = mixed();
    let files =
        pictures_for(&ex, &instance, &md, MethodDefaults::IntegratedGradients).expect("pictures");
    // RED_GREEN, POSITIVE (default), no clipping, overlay NONE: 1 → full green,
    // 0.5 → half, 0 and −1 not shown.
    assert_eq!(
        decode(&files[0].1),
        (2, 2, vec![[0, 255, 0], [0, 128, 0], [0, 0, 0], [0, 0, 0]])
    );
    assert_eq!(
        decode(&files[3].1),
        (2, 2, vec![[0, 0, 0], [0, 0, 0], [0, 0, 0], [0, 255, 0]])
    );
}

#[test]
fn text_pages_are_escaped_documents() {
    let (md, instance, ex) = mixed();
    let files =
        pictures_for(&ex, &instance, &md, MethodDefaults::IntegratedGradients).expect("pictures");
    let page = text(&files, "review-1.html");
    assert!(page.starts_with("<!DOCTYPE html>"));
    assert!(page.contains(">good</span> "));
    assert!(page.contains("rgba(255, 105, 180, 1.000)\" title=\"-1\">&lt;bad&gt;</span>"));
    assert!(page.contains("rgba(0, 255, 0, 0.250)\" title=\"0.25\">movie</span>"));
    assert!(!page.contains("<bad>"));
}

#[test]
fn tabular_charts_hold_every_other_feature_sorted() {
    let (md, instance, ex) = mixed();
    let files =
        pictures_for(&ex, &instance, &md, MethodDefaults::IntegratedGradients).expect("pictures");
    let svg = text(&files, "tabular-1.svg");
    let labels: Vec<&str> = svg
        .split("<text class=\"label\"")
        .skip(1)
        .map(|s| {
            s.split_once('>')
                .expect("tag")
                .1
                .split('<')
                .next()
                .unwrap_or("")
        })
        .collect();
    // Groups have no single value; bag positions are named by indexFeatureMapping.
    assert_eq!(
        labels,
        vec!["age = 39", "city = Paris", "hours", "x = 3", "y = 4"]
    );
    assert!(svg.contains("prediction 0.9 = baseline 0.2 + sum of attributions 0.24"));
}

#[test]
fn a_bare_b64_instance_feeds_the_single_image_input() {
    let mut picture = RgbaImage::filled(2, 1, [0, 0, 0, 255]);
    picture.set_pixel(1, 0, [200, 100, 50, 255]);
    let b64 = base64::engine::general_purpose::STANDARD.encode(encode_png(&picture).expect("png"));
    let md = metadata(json!({"inputs": {"photo": {"modality": "image",
        "visualization": {"overlayType": "MASK_BLACK", "type": "PIXELS",
                          "clipPercentUpperbound": 100, "clipPercentLowerbound": 0}}}}));
    let ex = explanation(json!({"attributions": [{
        "outputIndex": [2, 0],
        "featureAttributions": {"photo": [[[0.0, 0.0, 0.0], [1.0, 1.0, -0.5]]]}
    }]}));
    let files =
        pictures_for(&ex, &json!({ "b64": b64 }), &md, MethodDefaults::Xrai).expect("pictures");
    assert_eq!(names(&files), vec!["photo-2_0.png"]);
    // MASK_BLACK: the image where the attribution is shown (pixel 1, sum 1.5), black
    // elsewhere.
    assert_eq!(decode(&files[0].1), (2, 1, vec![[0, 0, 0], [200, 100, 50]]));
}

#[test]
fn file_names_are_sanitised_and_unique() {
    let md = metadata(json!({"inputs": {
        "a/b": {"modality": "image"}, "a:b": {"modality": "image"}, ".x": {"modality": "text"}
    }}));
    let instance = json!({"a/b": [[1, 2]], "a:b": [[1, 2]], ".x": "hi"});
    let ex = explanation(json!({"attributions": [{"featureAttributions": {
        "a/b": [[1.0, 0.0]], "a:b": [[1.0, 0.0]], ".x": [1.0]
    }}]}));
    let files =
        pictures_for(&ex, &instance, &md, MethodDefaults::IntegratedGradients).expect("pictures");
    assert_eq!(
        names(&files),
        vec!["a_b-out.png", "a_b-out-2.png", "_x-out.html"]
    );
}

#[test]
fn problems_are_errors() {
    let md = metadata(json!({"inputs": {"img": {"modality": "image"}, "n": {}}}));
    let ex = explanation(json!({"attributions": [{"featureAttributions": {
        "img": [[1.0, 0.0]]
    }}]}));
    assert!(matches!(
        pictures_for(
            &ex,
            &json!({"n": 1}),
            &md,
            MethodDefaults::IntegratedGradients
        ),
        Err(VizError::MissingInstance { .. })
    ));
    // Attributions of the wrong size for the image.
    assert!(matches!(
        pictures_for(
            &ex,
            &json!({"img": [[1, 2, 3]]}),
            &md,
            MethodDefaults::IntegratedGradients
        ),
        Err(VizError::AttributionShape { .. })
    ));
    // No attributions, no pictures.
    assert!(pictures_for(
        &Explanation::default(),
        &json!({}),
        &md,
        MethodDefaults::IntegratedGradients
    )
    .expect("nothing to draw")
    .is_empty());
}

#[test]
fn small_images_are_enlarged_crisply_on_request() {
    let img = prism_viz::RgbaImage::filled(2, 1, [10, 20, 30, 255]);
    let mut img2 = img.clone();
    img2.set_pixel(1, 0, [200, 100, 50, 255]);
    let big = img2.upscaled(3);
    assert_eq!((big.width(), big.height()), (6, 3));
    for y in 0..3 {
        for x in 0..6 {
            let want = if x < 3 {
                [10, 20, 30, 255]
            } else {
                [200, 100, 50, 255]
            };
            assert_eq!(big.pixel(x, y), Some(want), "({x}, {y})");
        }
    }
}
