//! Integration tests of prism-viz: one binary, one module per concern. Expected pixels
//! are exact bytes worked out by hand in the comments, or numbers from the independent
//! NumPy/SciPy re-implementation in `tools/reference.py`.

mod bars;
mod clipping;
mod colormaps;
mod images;
mod outlines;
mod overlays;
mod pictures;
mod polarity;
mod reference;
mod text;

use prism_spec::{ColorMap, OverlayType, Polarity, Visualization, VisualizationType};
use prism_viz::{heatmap, ImageView, MethodDefaults, RgbaImage};

/// A fully specified visualisation.
pub fn vis(
    kind: VisualizationType,
    polarity: Polarity,
    color_map: ColorMap,
    upper: f32,
    lower: f32,
    overlay: OverlayType,
) -> Visualization {
    Visualization {
        kind: Some(kind),
        polarity: Some(polarity),
        color_map: Some(color_map),
        clip_percent_upperbound: Some(upper),
        clip_percent_lowerbound: Some(lower),
        overlay_type: Some(overlay),
    }
}

/// PIXELS over black, no clipping beyond the maximum, every pixel of the sign shown.
pub fn pixels(polarity: Polarity, color_map: ColorMap) -> Visualization {
    vis(
        VisualizationType::Pixels,
        polarity,
        color_map,
        100.0,
        0.0,
        OverlayType::None,
    )
}

/// A `width × height` image of one colour.
pub fn plain(width: usize, height: usize, rgb: [u8; 3]) -> ImageView {
    ImageView::from_rgb(width, height, vec![rgb; width * height]).expect("a valid image")
}

/// Draws with IG defaults for what `vis` leaves unset.
pub fn draw(attributions: &[f64], image: &ImageView, vis: &Visualization) -> RgbaImage {
    heatmap(
        attributions,
        image,
        vis,
        MethodDefaults::IntegratedGradients,
    )
    .expect("drawable")
}

/// The RGB of a pixel.
pub fn rgb(picture: &RgbaImage, x: usize, y: usize) -> [u8; 3] {
    let [r, g, b, a] = picture.pixel(x, y).expect("inside the picture");
    assert_eq!(a, 255, "pictures are opaque");
    [r, g, b]
}

/// Every pixel's RGB, row by row.
pub fn all_rgb(picture: &RgbaImage) -> Vec<[u8; 3]> {
    (0..picture.height())
        .flat_map(|y| (0..picture.width()).map(move |x| (x, y)))
        .map(|(x, y)| rgb(picture, x, y))
        .collect()
}

/// Rows of `#` where `pick` holds for the pixel's RGB, `.` elsewhere.
pub fn rows(picture: &RgbaImage, pick: impl Fn([u8; 3]) -> bool) -> Vec<String> {
    (0..picture.height())
        .map(|y| {
            (0..picture.width())
                .map(|x| if pick(rgb(picture, x, y)) { '#' } else { '.' })
                .collect()
        })
        .collect()
}
