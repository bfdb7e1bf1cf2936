//! Clip percentiles on a known ramp: which pixels are dropped and which are clipped.
//!
//! The percentiles are of attribution *mass* (see `prism_viz::heatmap`): for the ramp
//! 0, 1, …, 99 (total 4950), the top k values hold k·99 − k(k−1)/2.

use prism_spec::{ColorMap, OverlayType, Polarity, Visualization, VisualizationType};
use prism_viz::clip_thresholds;

use crate::{draw, plain, rgb, vis};

fn ramp() -> Vec<f64> {
    (0..100).map(f64::from).collect()
}

/// Green byte of each ramp pixel, drawn with RED_GREEN (green = round(255·v)).
fn greens(upper: f32, lower: f32) -> Vec<u8> {
    let image = plain(10, 10, [0, 0, 0]);
    let v = vis(
        VisualizationType::Pixels,
        Polarity::Positive,
        ColorMap::RedGreen,
        upper,
        lower,
        OverlayType::None,
    );
    let p = draw(&ramp(), &image, &v);
    (0..100).map(|i| rgb(&p, i % 10, i / 10)[1]).collect()
}

#[test]
fn thresholds_of_the_ramp() {
    let m = ramp();
    // 62nd percentile: top 21 = 1869 (37.8 %) < 38 % ≤ top 22 = 1947 (39.3 %) → 78.
    // 99.9th: the top value alone holds 2 % ≥ 0.1 % → 99.
    assert_eq!(clip_thresholds(&m, 99.9, 62.0), Some((99.0, 78.0)));
    // 90th: top 5 = 485 (9.8 %) < 10 % ≤ top 6 = 579 → 94.
    assert_eq!(clip_thresholds(&m, 90.0, 62.0), Some((94.0, 78.0)));
    // 0th: all of the mass → 0. 100th: the largest value.
    assert_eq!(clip_thresholds(&m, 100.0, 0.0), Some((99.0, 0.0)));
    // Nothing of the sign: nothing to show.
    assert_eq!(clip_thresholds(&[0.0; 5], 99.9, 62.0), None);
}

/// Which ramp pixels are shown: MASK_BLACK reveals the (white) image exactly there.
fn shown(upper: f32, lower: f32) -> Vec<usize> {
    let image = plain(10, 10, [255, 255, 255]);
    let v = vis(
        VisualizationType::Pixels,
        Polarity::Positive,
        ColorMap::RedGreen,
        upper,
        lower,
        OverlayType::MaskBlack,
    );
    let p = draw(&ramp(), &image, &v);
    (0..100)
        .filter(|&i| rgb(&p, i % 10, i / 10) == [255, 255, 255])
        .collect()
}

#[test]
fn default_bounds_drop_pixels_below_the_lower_threshold() {
    // 99.9 / 62 (Vertex's defaults): lo = 78, hi = 99 → v = (x − 78)/21.
    // Shown: 78..=99 (22 pixels; a rank percentile would have shown 38, 62..=99).
    assert_eq!(shown(99.9, 62.0), (78..100).collect::<Vec<_>>());
    let g = greens(99.9, 62.0);
    // 78 is at the threshold: shown with v = 0, so black in an intensity map.
    assert!(g[..=78].iter().all(|&x| x == 0));
    assert_eq!(g[79], 12); // 255/21 = 12.14
    assert_eq!(g[89], 134); // 255·11/21 = 133.57
    assert_eq!(g[99], 255);
}

#[test]
fn values_above_the_upper_threshold_are_clipped_to_it() {
    // 90 / 62: hi = 94, lo = 78 → 94..=99 all full strength, 93 → 15/16.
    let g = greens(90.0, 62.0);
    assert!(g[94..].iter().all(|&x| x == 255));
    assert_eq!(g[93], 239); // 255·15/16 = 239.06
    assert_eq!(g[86], 128); // 255·8/16 = 127.5
    assert_eq!(g[78], 0);
}

#[test]
fn a_lower_bound_of_zero_shows_every_positive_pixel() {
    // 100 / 0: hi = 99, lo = 0 → v = x/99, only the zero pixel is black.
    assert_eq!(shown(100.0, 0.0), (1..100).collect::<Vec<_>>());
    let g = greens(100.0, 0.0);
    assert_eq!(g[0], 0);
    assert_eq!(g[1], 3); // 2.58
    assert_eq!(g[50], 129); // 128.79
    assert_eq!(g[99], 255);
    // With no zero pixel at all, the smallest one is still shown.
    let image = plain(3, 1, [0, 0, 0]);
    let v = crate::pixels(Polarity::Positive, ColorMap::RedGreen);
    let p = draw(&[1.0, 2.0, 4.0], &image, &v);
    assert_eq!(rgb(&p, 0, 0), [0, 64, 0]); // 255/4 = 63.75
}

#[test]
fn bounds_are_per_sign_so_other_pixels_do_not_move_them() {
    // The positive ramp with 100 strongly negative pixels appended.
    let mut a = ramp();
    a.extend(std::iter::repeat_n(-1000.0, 100));
    let image = plain(20, 10, [0, 0, 0]);
    let v = vis(
        VisualizationType::Pixels,
        Polarity::Positive,
        ColorMap::RedGreen,
        99.9,
        62.0,
        OverlayType::None,
    );
    let p = draw(&a, &image, &v);
    let g: Vec<u8> = (0..100).map(|i| rgb(&p, i % 20, i / 20)[1]).collect();
    assert_eq!(g, greens(99.9, 62.0));
}

#[test]
fn lower_above_upper_shows_the_kept_pixels_at_full_strength() {
    // 50th: top 29 = 2465 < 2475 ≤ top 30 = 2535 → 70. 95th: top 2 = 197 < 247.5 ≤ top
    // 3 = 294 → 97. So hi = 70 < lo = 97: 97, 98 and 99 are shown, at full strength.
    assert_eq!(clip_thresholds(&ramp(), 50.0, 95.0), Some((70.0, 97.0)));
    let g = greens(50.0, 95.0);
    assert_eq!(&g[97..], &[255, 255, 255]);
    assert!(g[..97].iter().all(|&x| x == 0));
}

#[test]
fn clip_defaults_are_vertexs() {
    let image = plain(10, 10, [0, 0, 0]);
    let v = Visualization {
        kind: Some(VisualizationType::Pixels),
        color_map: Some(ColorMap::RedGreen),
        ..Visualization::default()
    };
    let p = draw(&ramp(), &image, &v);
    let g: Vec<u8> = (0..100).map(|i| rgb(&p, i % 10, i / 10)[1]).collect();
    assert_eq!(g, greens(99.9, 62.0));
}
