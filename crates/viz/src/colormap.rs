//! The six Vertex colour maps (`Visualization.colorMap`).
//!
//! A shown pixel has a normalised attribution `v` in [0, 1] (see [`crate::heatmap`](mod@crate::heatmap)) and a
//! sign. Two kinds of map turn that into a colour on black:
//!
//! | map | positive | negative |
//! |---|---|---|
//! | `PINK_GREEN` (IG default) | v · [`GREEN`] | v · [`PINK`] |
//! | `RED_GREEN` | v · [`GREEN`] | v · [`RED`] |
//! | `RED` | v · [`RED`] | v · [`RED`] |
//! | `GREEN` | v · [`GREEN`] | v · [`GREEN`] |
//! | `VIRIDIS` (XRAI default) | viridis(t) | viridis(t) |
//! | `PINK_WHITE_GREEN` | PiYG(0.5 + v/2) | PiYG(0.5 − v/2) |
//!
//! The first four are intensity maps, as in the Integrated Gradients authors'
//! visualisation library (`VisualizationLibrary/visualization_lib.py` in
//! ankurtaly/Integrated-Gradients: `attributions * channel` with `G = [0, 255, 0]`,
//! `R = [255, 0, 0]`): the colour is scaled by `v`, so weak attributions fade to black
//! (and, under an overlay, to the image). `RED_GREEN` is that library's own pairing;
//! `PINK_GREEN` swaps red for pink as Vertex documents ("positive attributions in green
//! and negative in pink").
//!
//! `VIRIDIS` and `PINK_WHITE_GREEN` are lookup tables: matplotlib's viridis and PiYG,
//! 256 entries each, indexed by `min(⌊256·t⌋, 255)` exactly as matplotlib does.
//! viridis is sequential ("the most influential regions in yellow and the least
//! influential in blue"): with one polarity t = v (the strongest pixel of that sign is
//! yellow), with `BOTH` t = 0.5 + signed v / 2 (positive towards yellow, negative towards
//! blue). PiYG is diverging and always takes t = 0.5 + signed v / 2 (pink negative, white
//! near zero, green positive).

use prism_spec::{ColorMap, Polarity};

use crate::image::to_u8;
use crate::tables::{PIYG, VIRIDIS};

/// Green of the intensity maps (the IG library's `G`).
pub const GREEN: [u8; 3] = [0, 255, 0];
/// Red of the intensity maps (the IG library's `R`).
pub const RED: [u8; 3] = [255, 0, 0];
/// Pink of `PINK_GREEN` (CSS `hotpink`).
pub const PINK: [u8; 3] = [255, 105, 180];

/// The colour of one shown pixel over black (overlay `NONE`).
///
/// `value` is the pixel's normalised attribution in [-1, 1]: its magnitude `v` and its
/// sign (0 counts as positive). `polarity` matters only to `VIRIDIS` (see the module
/// docs). Colour maps added to the contract later are drawn like `PINK_GREEN`.
pub fn attribution_color(map: ColorMap, polarity: Polarity, value: f64) -> [u8; 3] {
    let c = heat(map, polarity, value);
    [to_u8(c[0]), to_u8(c[1]), to_u8(c[2])]
}

/// [`attribution_color`] before rounding, for blending.
pub(crate) fn heat(map: ColorMap, polarity: Polarity, value: f64) -> [f64; 3] {
    let v = value.abs().min(1.0);
    let positive = value >= 0.0;
    let scaled = |c: [u8; 3]| c.map(|x| v * f64::from(x));
    let looked_up = |table: &[[u8; 3]; 256], t: f64| table[table_index(t)].map(f64::from);
    let signed = if positive { v } else { -v };
    let diverging = 0.5 + signed / 2.0;
    match map {
        ColorMap::RedGreen => scaled(if positive { GREEN } else { RED }),
        ColorMap::Red => scaled(RED),
        ColorMap::Green => scaled(GREEN),
        ColorMap::Viridis => match polarity {
            Polarity::Both => looked_up(&VIRIDIS, diverging),
            _ => looked_up(&VIRIDIS, v),
        },
        ColorMap::PinkWhiteGreen => looked_up(&PIYG, diverging),
        // PINK_GREEN, and any map added to the contract later.
        _ => scaled(if positive { GREEN } else { PINK }),
    }
}

/// matplotlib's lookup: `t` in [0, 1] → entry `min(⌊256·t⌋, 255)`.
fn table_index(t: f64) -> usize {
    let t = if t.is_nan() { 0.0 } else { t.clamp(0.0, 1.0) };
    // t ≤ 1, so the product is at most 256 and the cast exact.
    ((256.0 * t).floor() as usize).min(255)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_index_follows_matplotlib() {
        assert_eq!(table_index(0.0), 0);
        assert_eq!(table_index(0.5), 128);
        assert_eq!(table_index(0.999), 255);
        assert_eq!(table_index(1.0), 255);
        assert_eq!(table_index(-3.0), 0);
        assert_eq!(table_index(255.0 / 256.0), 255);
        assert_eq!(table_index(254.99 / 256.0), 254);
    }
}
