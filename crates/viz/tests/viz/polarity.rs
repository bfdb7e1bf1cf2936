//! Polarity filtering, and the channel sum that gives each pixel its sign.

use prism_spec::{ColorMap, Polarity, Visualization, VisualizationType};
use prism_viz::{pixel_attributions, ImageView};
use serde_json::json;

use crate::{all_rgb, draw, pixels, plain};

const K: [u8; 3] = [0, 0, 0];
const A: [f64; 4] = [4.0, -4.0, 2.0, -1.0];

#[test]
fn positive_keeps_only_positive_pixels() {
    let image = plain(4, 1, [50, 50, 50]);
    let p = draw(&A, &image, &pixels(Polarity::Positive, ColorMap::RedGreen));
    assert_eq!(all_rgb(&p), vec![[0, 255, 0], K, [0, 128, 0], K]);
}

#[test]
fn negative_keeps_only_negative_pixels_by_magnitude() {
    // |−4| is the strongest (v = 1), |−1| gives v = 0.25 → 63.75 → 64.
    let image = plain(4, 1, [50, 50, 50]);
    let p = draw(&A, &image, &pixels(Polarity::Negative, ColorMap::RedGreen));
    assert_eq!(all_rgb(&p), vec![K, [255, 0, 0], K, [64, 0, 0]]);
}

#[test]
fn both_keeps_both_each_sign_normalised_on_its_own() {
    let image = plain(4, 1, [50, 50, 50]);
    let p = draw(&A, &image, &pixels(Polarity::Both, ColorMap::RedGreen));
    assert_eq!(
        all_rgb(&p),
        vec![[0, 255, 0], [255, 0, 0], [0, 128, 0], [64, 0, 0]]
    );
    // Scaling the negatives does not change the positives' colours, and the other way.
    let scaled = [4.0, -400.0, 2.0, -100.0];
    let q = draw(&scaled, &image, &pixels(Polarity::Both, ColorMap::RedGreen));
    assert_eq!(all_rgb(&q), all_rgb(&p));
}

#[test]
fn polarity_defaults_to_positive() {
    let image = plain(4, 1, [50, 50, 50]);
    let vis = Visualization {
        polarity: None,
        ..pixels(Polarity::Negative, ColorMap::RedGreen)
    };
    assert_eq!(
        all_rgb(&draw(&A, &image, &vis)),
        vec![[0, 255, 0], K, [0, 128, 0], K]
    );
}

#[test]
fn channels_are_summed_before_the_sign_test() {
    // [1][2][3] channels last: pixel 0 = 3 − 1 + 0 = 2 (positive), pixel 1 = 1 + 1 − 4
    // = −2 (negative) although two of its channels are positive.
    let image = ImageView::from_value(&json!([[[0, 0, 0], [0, 0, 0]]])).expect("image");
    let a = [3.0, -1.0, 0.0, 1.0, 1.0, -4.0];
    assert_eq!(
        pixel_attributions(&a, &image).expect("fits"),
        vec![2.0, -2.0]
    );
    let p = draw(&a, &image, &pixels(Polarity::Positive, ColorMap::RedGreen));
    assert_eq!(all_rgb(&p), vec![[0, 255, 0], K]);
    let n = draw(&a, &image, &pixels(Polarity::Negative, ColorMap::RedGreen));
    assert_eq!(all_rgb(&n), vec![K, [255, 0, 0]]);
}

#[test]
fn channels_first_images_take_channels_first_attributions() {
    // [3][1][5]: channel planes of 5 pixels each.
    let image = ImageView::from_value(&json!([
        [[0, 0, 0, 0, 0]],
        [[0, 0, 0, 0, 0]],
        [[0, 0, 0, 0, 0]]
    ]))
    .expect("image");
    let a: Vec<f64> = [
        [1.0, 0.0, 0.0, 0.0, -1.0],
        [1.0, 0.0, 2.0, 0.0, -1.0],
        [1.0, 0.0, 0.0, 0.0, -1.0],
    ]
    .concat();
    assert_eq!(
        pixel_attributions(&a, &image).expect("fits"),
        vec![3.0, 0.0, 2.0, 0.0, -3.0]
    );
    // One value per pixel is also accepted.
    assert_eq!(
        pixel_attributions(&[1.0, 2.0, 3.0, 4.0, 5.0], &image).expect("fits"),
        vec![1.0, 2.0, 3.0, 4.0, 5.0]
    );
    assert!(pixel_attributions(&[1.0; 7], &image).is_err());
}

#[test]
fn outlines_type_draws_nothing_for_an_absent_sign() {
    let image = plain(3, 3, [50, 50, 50]);
    let vis = Visualization {
        kind: Some(VisualizationType::Outlines),
        ..pixels(Polarity::Negative, ColorMap::RedGreen)
    };
    let p = draw(&[1.0; 9], &image, &vis);
    assert!(all_rgb(&p).iter().all(|&c| c == K));
}
