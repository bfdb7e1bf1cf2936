//! Each overlay type on a 2 × 2 image, with exact pixel values.
//!
//! Image I = (100, 51, 200), (10, 20, 30), (200, 200, 200), (0, 0, 0); attributions
//! 4, 2, 0, −1 drawn POSITIVE with RED_GREEN and no clipping: v = 1, 0.5, –, –, so the
//! colour layer H = (0, 255, 0), (0, 127.5, 0), 0, 0.

use prism_spec::{ColorMap, OverlayType, Polarity, Visualization, VisualizationType};
use prism_viz::{heatmap, ImageView, MethodDefaults};

use crate::{all_rgb, draw, plain, vis};

fn image() -> ImageView {
    ImageView::from_rgb(
        2,
        2,
        vec![[100, 51, 200], [10, 20, 30], [200, 200, 200], [0, 0, 0]],
    )
    .expect("image")
}

fn drawn(overlay: OverlayType) -> Vec<[u8; 3]> {
    let v = vis(
        VisualizationType::Pixels,
        Polarity::Positive,
        ColorMap::RedGreen,
        100.0,
        0.0,
        overlay,
    );
    all_rgb(&draw(&[4.0, 2.0, 0.0, -1.0], &image(), &v))
}

#[test]
fn none_shows_the_attributions_on_black() {
    assert_eq!(
        drawn(OverlayType::None),
        vec![[0, 255, 0], [0, 128, 0], [0, 0, 0], [0, 0, 0]]
    );
}

#[test]
fn original_blends_0_7_image_and_0_5_colour() {
    // (70, 35.7 + 127.5 = 163.2, 140), (7, 14 + 63.75 = 77.75, 21), 0.7 × 200, 0.
    assert_eq!(
        drawn(OverlayType::Original),
        vec![[70, 163, 140], [7, 78, 21], [140, 140, 140], [0, 0, 0]]
    );
}

#[test]
fn grayscale_blends_over_the_luma_copy() {
    // Luma: 29.9 + 29.937 + 22.8 = 82.637 → 83; 2.99 + 11.74 + 3.42 = 18.15 → 18; 200; 0.
    // 0.7 × 83 = 58.1 (+127.5 = 185.6), 0.7 × 18 = 12.6 (+63.75 = 76.35), 140, 0.
    assert_eq!(
        drawn(OverlayType::Grayscale),
        vec![[58, 186, 58], [13, 76, 13], [140, 140, 140], [0, 0, 0]]
    );
}

#[test]
fn mask_black_shows_the_image_only_where_attribution_is_kept() {
    assert_eq!(
        drawn(OverlayType::MaskBlack),
        vec![[100, 51, 200], [10, 20, 30], [0, 0, 0], [0, 0, 0]]
    );
}

#[test]
fn overlays_saturate_at_255() {
    // 0.7 × 250 + 0.5 × 255 = 302.5 → 255; 0.7 × 250 = 175.
    let v = vis(
        VisualizationType::Pixels,
        Polarity::Positive,
        ColorMap::Green,
        100.0,
        0.0,
        OverlayType::Original,
    );
    let p = draw(&[1.0], &plain(1, 1, [250, 250, 250]), &v);
    assert_eq!(all_rgb(&p), vec![[175, 255, 175]]);
}

#[test]
fn overlay_defaults_to_none() {
    let v = Visualization {
        overlay_type: None,
        ..vis(
            VisualizationType::Pixels,
            Polarity::Positive,
            ColorMap::RedGreen,
            100.0,
            0.0,
            OverlayType::Original,
        )
    };
    assert_eq!(
        all_rgb(&draw(&[4.0, 2.0, 0.0, -1.0], &image(), &v)),
        drawn(OverlayType::None)
    );
}

#[test]
fn xrai_defaults_are_viridis_pixels() {
    // XRAI: PIXELS and VIRIDIS unless set. With clipping off, v = 1 → viridis(255) and
    // v = 0.5 → viridis(128).
    let v = Visualization {
        clip_percent_upperbound: Some(100.0),
        clip_percent_lowerbound: Some(0.0),
        ..Visualization::default()
    };
    let p = heatmap(&[4.0, 2.0, 0.0, -1.0], &image(), &v, MethodDefaults::Xrai).expect("ok");
    assert_eq!(
        all_rgb(&p),
        vec![[253, 231, 36], [32, 144, 140], [0, 0, 0], [0, 0, 0]]
    );
}
