//! OUTLINES: exactly the boundary pixels of the kept regions.

use prism_spec::{ColorMap, OverlayType, Polarity, Visualization, VisualizationType};
use prism_viz::{heatmap, MethodDefaults};

use crate::{draw, plain, rgb, rows, vis};

/// An 8 × 8 attribution map with a 4 × 4 square of `inside` at rows and columns 2..=5.
fn square(inside: f64) -> Vec<f64> {
    (0..64)
        .map(|i| {
            let (x, y) = (i % 8, i / 8);
            if (2..=5).contains(&x) && (2..=5).contains(&y) {
                inside
            } else {
                0.0
            }
        })
        .collect()
}

const SQUARE_OUTLINE: [&str; 8] = [
    "........", //
    "........", //
    "..####..", //
    "..#..#..", //
    "..#..#..", //
    "..####..", //
    "........", //
    "........", //
];

#[test]
fn a_square_is_outlined_by_its_12_boundary_pixels() {
    let image = plain(8, 8, [0, 0, 0]);
    let v = vis(
        VisualizationType::Outlines,
        Polarity::Positive,
        ColorMap::PinkGreen,
        100.0,
        0.0,
        OverlayType::None,
    );
    let p = draw(&square(3.0), &image, &v);
    assert_eq!(rows(&p, |c| c == [0, 255, 0]), SQUARE_OUTLINE);
    // Everything else is black: the inside of the square is not filled.
    assert_eq!(rows(&p, |c| c != [0, 0, 0]), SQUARE_OUTLINE);
}

#[test]
fn outlines_is_the_default_type_for_ig_and_default_clipping_keeps_a_flat_region() {
    // All 16 square pixels are equal: both mass thresholds are 3, and the region is shown.
    let image = plain(8, 8, [0, 0, 0]);
    let p = draw(&square(3.0), &image, &Visualization::default());
    assert_eq!(rows(&p, |c| c == [0, 255, 0]), SQUARE_OUTLINE);
}

#[test]
fn negative_outlines_are_pink_and_both_draws_each_sign() {
    let image = plain(8, 8, [0, 0, 0]);
    let mut a = square(-2.0);
    a[0] = 5.0; // one positive pixel in the corner: its own one-pixel outline
    let v = vis(
        VisualizationType::Outlines,
        Polarity::Both,
        ColorMap::PinkGreen,
        100.0,
        0.0,
        OverlayType::None,
    );
    let p = draw(&a, &image, &v);
    assert_eq!(rows(&p, |c| c == [255, 105, 180]), SQUARE_OUTLINE);
    assert_eq!(rgb(&p, 0, 0), [0, 255, 0]);
}

#[test]
fn holes_are_filled_before_outlining() {
    // A ring (the square without its centre 2 × 2) has the same outline as the square.
    let mut a = square(1.0);
    for (x, y) in [(3, 3), (4, 3), (3, 4), (4, 4)] {
        a[y * 8 + x] = 0.0;
    }
    let image = plain(8, 8, [0, 0, 0]);
    let v = vis(
        VisualizationType::Outlines,
        Polarity::Positive,
        ColorMap::Green,
        100.0,
        0.0,
        OverlayType::None,
    );
    assert_eq!(
        rows(&draw(&a, &image, &v), |c| c == [0, 255, 0]),
        SQUARE_OUTLINE
    );
}

#[test]
fn small_components_beyond_90_percent_are_not_outlined() {
    // The square (16 px) plus a lone pixel far away: 16 ≥ 90 % of 17, so only the square.
    let mut a = square(1.0);
    a[7 * 8 + 7] = 1.0;
    let image = plain(8, 8, [0, 0, 0]);
    let v = vis(
        VisualizationType::Outlines,
        Polarity::Positive,
        ColorMap::Green,
        100.0,
        0.0,
        OverlayType::None,
    );
    assert_eq!(
        rows(&draw(&a, &image, &v), |c| c == [0, 255, 0]),
        SQUARE_OUTLINE
    );
}

#[test]
fn regions_touching_the_edge_are_outlined_along_it() {
    let image = plain(4, 3, [0, 0, 0]);
    let v = vis(
        VisualizationType::Outlines,
        Polarity::Positive,
        ColorMap::Green,
        100.0,
        0.0,
        OverlayType::None,
    );
    // Every pixel positive: the outline is the frame of the image.
    let p = draw(&[1.0; 12], &image, &v);
    assert_eq!(rows(&p, |c| c == [0, 255, 0]), ["####", "#..#", "####"]);
}

#[test]
fn outlines_with_mask_black_reveal_the_whole_region() {
    let image = plain(8, 8, [10, 20, 30]);
    let v = vis(
        VisualizationType::Outlines,
        Polarity::Positive,
        ColorMap::PinkGreen,
        100.0,
        0.0,
        OverlayType::MaskBlack,
    );
    let p = draw(&square(1.0), &image, &v);
    assert_eq!(
        rows(&p, |c| c == [10, 20, 30]),
        [
            "........", "........", "..####..", "..####..", "..####..", "..####..", "........",
            "........"
        ]
    );
    assert_eq!(
        rows(&p, |c| c == [0, 0, 0]).concat().matches('#').count(),
        48
    );
}

#[test]
fn xrai_ignores_outlines() {
    // Vertex: `type` is "only applicable to Integrated Gradients attribution".
    let image = plain(8, 8, [0, 0, 0]);
    let v = vis(
        VisualizationType::Outlines,
        Polarity::Positive,
        ColorMap::Green,
        100.0,
        0.0,
        OverlayType::None,
    );
    let p = heatmap(&square(1.0), &image, &v, MethodDefaults::Xrai).expect("drawable");
    assert_eq!(
        rows(&p, |c| c == [0, 255, 0]),
        [
            "........", "........", "..####..", "..####..", "..####..", "..####..", "........",
            "........"
        ]
    );
}
