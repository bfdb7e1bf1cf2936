//! Gradient methods on the real image and text models of `testdata/` (trained by
//! `testdata/make_torch_models.py`), against Captum's numbers recorded there, and the XRAI
//! invariants of the reference.

use prism_attribution::blur::{gaussian_blur, ImageAxes};
use prism_attribution::xrai::{rank_regions, region_masks};
use prism_model::Model;
use serde_json::{json, Value};

use crate::{assert_close, explain, explain_with, load_model, metadata_of, model_dir, spec};

fn instances(name: &str) -> Vec<Value> {
    std::fs::read_to_string(model_dir(name).join("instances.jsonl"))
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

fn flat(v: &Value) -> Vec<f64> {
    match v {
        Value::Array(a) => a.iter().flat_map(flat).collect(),
        v => vec![v.as_f64().unwrap()],
    }
}

/// The only feature's attributions, flat.
fn feature(e: &prism_spec::Explanation) -> Vec<f64> {
    let fa = e.attributions[0].feature_attributions.as_object().unwrap();
    assert_eq!(fa.len(), 1);
    flat(fa.values().next().unwrap())
}

/// Peer check (issue 3): Prism's IG with 50 Gauss–Legendre steps equals Captum's
/// `IntegratedGradients` (`LayerIntegratedGradients` on the embedding for text) on the same
/// networks, to 1e-3 relative to the largest attribution, and so does the completeness gap.
#[test]
fn integrated_gradients_agree_with_captum() {
    for name in ["digits_cnn", "resnet_small", "text_sentiment"] {
        let captum: Value = serde_json::from_str(
            &std::fs::read_to_string(model_dir(name).join("captum_ig.json")).unwrap(),
        )
        .unwrap();
        assert_eq!(captum["n_steps"], 50);
        let params = r#"{"integratedGradientsAttribution": {"stepCount": 50}}"#;
        for (instance, want) in instances(name)
            .iter()
            .zip(captum["instances"].as_array().unwrap())
        {
            let e = explain(name, params, instance.clone());
            let a = &e.attributions[0];
            assert_eq!(
                a.output_index,
                Some(vec![want["target"].as_i64().unwrap() as i32])
            );
            let got = feature(&e);
            let want_attr = flat(&want["attributions"]);
            assert_eq!(got.len(), want_attr.len(), "{name}");
            let scale = want_attr.iter().fold(0f64, |m, v| m.max(v.abs()));
            let worst = got
                .iter()
                .zip(&want_attr)
                .map(|(g, w)| (g - w).abs())
                .fold(0f64, f64::max);
            assert!(worst <= 1e-3 * scale, "{name}: {worst} vs scale {scale}");
            let out = want["output"].as_f64().unwrap();
            let base = want["baseline_output"].as_f64().unwrap();
            assert_close(a.instance_output_value, out, 1e-5, "f(x)");
            assert_close(a.baseline_output_value, base, 1e-5, "f(baseline)");
            let captum_error = want["delta"].as_f64().unwrap().abs() / (out - base).abs();
            assert!(
                (a.approximation_error - captum_error).abs() < 1e-4,
                "{name}: {} vs {captum_error}",
                a.approximation_error
            );
        }
    }
}

/// The three XRAI invariants of the reference, on the digits CNN: Σ XRAI = Σ IG (channel
/// max, from the black and white baselines); XRAI is constant within each region; region
/// densities never increase in the order regions were added.
#[test]
fn xrai_invariants_on_the_digits_cnn() {
    let name = "digits_cnn";
    let instance = instances(name).remove(0);
    let x = flat(&instance["image"]);
    let xrai = explain(
        name,
        r#"{"xraiAttribution": {"stepCount": 50}}"#,
        instance.clone(),
    );
    let a = &xrai.attributions[0];
    let got = feature(&xrai);
    assert_eq!(got.len(), 28 * 28);

    // IG from the same two baselines, by hand: metadata baselines min(x) and max(x).
    let (lo, hi) = (
        x.iter().copied().fold(f64::INFINITY, f64::min),
        x.iter().copied().fold(f64::NEG_INFINITY, f64::max),
    );
    let mut meta = serde_json::to_value(metadata_of(name)).unwrap();
    meta["inputs"]["image"]["inputBaselines"] = json!([lo, hi]);
    let meta = prism_spec::ExplanationMetadata::from_value(meta).unwrap();
    let ig = explain_with(
        name,
        &spec(
            r#"{"integratedGradientsAttribution": {"stepCount": 50}}"#,
            meta,
        ),
        instance,
    )
    .unwrap();
    let ig_map = feature(&ig); // one channel: the channel max is the value itself
    let (sum_xrai, sum_ig) = (got.iter().sum::<f64>(), ig_map.iter().sum::<f64>());
    assert!(
        // Same numbers up to float32 batches run in another order.
        (sum_xrai - sum_ig).abs() < 1e-6 * (1.0 + sum_ig.abs()),
        "{sum_xrai} vs {sum_ig}"
    );
    assert_close(
        a.baseline_output_value,
        ig.attributions[0].baseline_output_value,
        1e-9,
        "baseline output (mean of black and white)",
    );
    assert_close(
        a.approximation_error,
        ig.attributions[0].approximation_error,
        1e-6,
        "XRAI reports IG's completeness gap",
    );

    // Regions: recompute the ranking from the IG map and the segments, and check the
    // reported map is constant on each region with non-increasing densities.
    let ranking = rank_regions(&ig_map, &region_masks(&x, (28, 28, 1)));
    assert!(ranking.regions.len() >= 3, "{}", ranking.regions.len());
    let mut previous = f64::INFINITY;
    let mut covered = 0;
    for (density, pixels) in &ranking.regions {
        assert!(*density <= previous + 1e-15, "{density} after {previous}");
        previous = *density;
        for &p in pixels {
            assert_close(got[p], *density, 1e-9, "XRAI is the region's density");
        }
        // Constant within the region, exactly: one value written per region.
        assert!(pixels.iter().all(|&p| got[p] == got[pixels[0]]));
        let mean = pixels.iter().map(|&p| ig_map[p]).sum::<f64>() / pixels.len() as f64;
        assert_close(*density, mean, 1e-15, "density is the region's mean");
        covered += pixels.len();
    }
    assert_eq!(covered, 28 * 28);
}

/// Blur IG on the digits CNN: the path starts at the image blurred with maxBlurSigma, whose
/// output is the baseline output, and the attributions add up to the output change.
#[test]
fn blur_ig_starts_at_the_blurred_image() {
    let name = "digits_cnn";
    let instance = instances(name).remove(1);
    let e = explain(
        name,
        r#"{"integratedGradientsAttribution": {"stepCount": 50, "blurBaselineConfig": {"maxBlurSigma": 4}}}"#,
        instance.clone(),
    );
    let a = &e.attributions[0];
    let x = flat(&instance["image"]);
    let blurred = gaussian_blur(&x, &ImageAxes::infer(&[28, 28, 1]).unwrap(), 4.0);
    let model = load_model(name);
    let t = prism_model::Tensor::f32(
        vec![1, 28, 28, 1],
        blurred.iter().map(|&v| v as f32).collect(),
    )
    .unwrap();
    let out = model.forward(&[t]).unwrap();
    let class = a.output_index.as_ref().unwrap()[0] as usize;
    let f_blur = f64::from(out[0].as_f32().unwrap()[class]);
    assert_close(a.baseline_output_value, f_blur, 1e-6, "f(blur(x))");
    assert!(
        (a.instance_output_value - a.baseline_output_value).abs() > 0.05,
        "the blur should change the prediction for this test to mean something"
    );
    assert!(a.approximation_error < 0.02, "{}", a.approximation_error);
    // Blur IG differs from IG from a black image.
    let ig = explain(
        name,
        r#"{"integratedGradientsAttribution": {"stepCount": 50}}"#,
        instance,
    );
    assert_ne!(feature(&e), feature(&ig));
}

/// Images may come as `{"b64": PNG bytes}` (under the feature's name, or as the whole
/// instance of a one-input model): decoded to the model's [28, 28, 1] layout with bytes
/// 0..=255 mapped to [0, 1], they explain like the same image given as numbers; another
/// size is resized; undecodable bytes are an error naming the feature.
#[test]
fn b64_png_images_bind_like_arrays() {
    use base64::Engine;
    let name = "digits_cnn";
    let instance = instances(name).remove(0);
    let x = flat(&instance["image"]);
    let bytes: Vec<u8> = x.iter().map(|v| (v * 255.0).round() as u8).collect();
    let png = |side: usize, gray: &dyn Fn(usize, usize) -> u8| {
        let mut img = prism_viz::RgbaImage::filled(side, side, [0, 0, 0, 255]);
        for y in 0..side {
            for xx in 0..side {
                let g = gray(xx, y);
                img.set_pixel(xx, y, [g, g, g, 255]);
            }
        }
        base64::engine::general_purpose::STANDARD.encode(prism_viz::encode_png(&img).unwrap())
    };
    let b64 = png(28, &|xx, y| bytes[y * 28 + xx]);
    // The numbers the PNG holds, exactly.
    let quantised: Vec<Vec<Vec<f64>>> = (0..28)
        .map(|y| {
            (0..28)
                .map(|xx| vec![f64::from(bytes[y * 28 + xx]) / 255.0])
                .collect()
        })
        .collect();
    let params = r#"{"integratedGradientsAttribution": {"stepCount": 20}}"#;
    let by_array = explain(name, params, json!({"image": quantised}));
    for encoded in [json!({"image": {"b64": b64}}), json!({"b64": b64})] {
        let e = explain(name, params, encoded);
        let (a, b) = (&e.attributions[0], &by_array.attributions[0]);
        assert_eq!(a.output_index, b.output_index);
        assert_close(
            a.instance_output_value,
            b.instance_output_value,
            1e-6,
            "f(x)",
        );
        let (got, want) = (feature(&e), feature(&by_array));
        assert_eq!(got.len(), 784);
        for (g, w) in got.iter().zip(&want) {
            assert_close(*g, *w, 1e-6, "attribution");
        }
    }
    // A 14 × 14 picture is resized to the model's 28 × 28.
    let small = png(14, &|xx, y| bytes[(2 * y) * 28 + 2 * xx]);
    let e = explain(name, params, json!({"image": {"b64": small}}));
    assert_eq!(feature(&e).len(), 784);
    // Bytes that are no image.
    let err = explain_with(
        name,
        &spec(params, metadata_of(name)),
        json!({"image": {"b64": "bm90IGFuIGltYWdl"}}),
    )
    .unwrap_err()
    .to_string();
    assert!(err.contains("image") && err.contains("b64"), "{err}");
}
