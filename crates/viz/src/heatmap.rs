//! Image attributions drawn the way Vertex's `Visualization` options describe.
//!
//! Google documents what each option means (`ExplanationMetadata.InputMetadata.Visualization`
//! in `google/cloud/aiplatform/v1/explanation_metadata.proto`, and the page "Configure
//! feature-based visualization settings"), but not the arithmetic. Where the words leave a
//! choice, Prism follows the visualisation library published with Integrated Gradients by
//! its Google authors (`VisualizationLibrary/visualization_lib.py` in
//! ankurtaly/Integrated-Gradients), whose parameters are the ones Vertex's legacy metadata
//! names (`clip_above_percentile`, `clip_below_percentile`, polarity, outlines, overlay)
//! with the same defaults Google's example configuration uses (99.9 and 70). The steps:
//!
//! 1. **Channels.** Attributions shaped like the image are summed over channels into one
//!    signed value per pixel (the explainable_ai_sdk's `feature_importance` also sums a
//!    feature's dimensions). Summing before the sign test gives every pixel one sign, so
//!    `BOTH` and the diverging maps are well defined. (The IG library instead clips each
//!    channel by sign and then averages.)
//! 2. **Polarity.** `POSITIVE` keeps pixels > 0; `NEGATIVE` keeps pixels < 0 and uses
//!    their magnitude; `BOTH` runs steps 3–4 separately for each sign and draws both.
//! 3. **Clip percentiles**, over the magnitudes `m` of one sign, as the IG library's
//!    `ComputeThresholdByTopPercentage` computes them: the threshold for a percentile `p`
//!    is the value at which the largest magnitudes, taken in decreasing order, first add up
//!    to (100 − p) % of the sign's total. So `p` is a percentile of attribution *mass*,
//!    not of pixel count, and pixels of the other sign (or zero) do not move it. With
//!    `hi` = threshold(`clipPercentUpperbound`) and `lo` = threshold(`clipPercentLowerbound`):
//!    pixels with m < lo are not shown ("excludes attributions below"), and shown pixels
//!    get v = (m − lo)/(hi − lo) clipped to [0, 1], so magnitudes above `hi` are clipped
//!    to full strength (the library's `LinearTransform` with `low` = 0). A pixel exactly
//!    at `lo` is shown with v = 0: black in the intensity maps, the bottom colour of
//!    viridis. If hi ≤ lo every shown pixel gets v = 1, so a constant region holding the
//!    percentile (an XRAI region, a flat patch) is drawn, where the library would divide
//!    0 by 0. A percentile of 0 (all of the mass) gives 0, so a lower bound of 0 shows
//!    every non-zero pixel of the sign. See [`clip_thresholds`].
//! 4. **Type.** `PIXELS` colours each shown pixel by its `v` ([`crate::colormap`]).
//!    `OUTLINES` (IG only) draws, at full strength (v = 1), the outline of the regions of
//!    shown pixels ([`crate::outline`]: holes filled, the largest 8-connected components
//!    holding 90 % of the pixels, at most three, minus their erosion). The library
//!    binarises at v > 0.001 instead, which drops the pixels at `lo` and so every pixel
//!    of a flat region. Vertex documents `type` as "only applicable to Integrated Gradients
//!    attribution", so XRAI is always drawn as `PIXELS`.
//! 5. **Overlay**, with `H` the colour layer over black (black where nothing is shown)
//!    and `I` the image, per channel, rounded to the nearest byte:
//!    - `NONE`: `H` (attributions only, on black);
//!    - `ORIGINAL`: min(0.7·I + 0.5·H, 255) (the library's `Overlay`);
//!    - `GRAYSCALE`: the same over the image's grey copy, grey = round(0.299 R + 0.587 G +
//!      0.114 B) (ITU-R BT.601 luma, as PIL's `convert("L")`);
//!    - `MASK_BLACK`: `I` where an attribution is shown (for `OUTLINES`: inside the
//!      outlined regions), black elsewhere ("used as a mask to reveal predictive parts of
//!      the image and hide the un-predictive parts").
//!
//!    Pictures are opaque (alpha 255): Vertex returns its visualisations as JPEG
//!    (`b64_jpeg` in the explainable_ai_sdk), which has no transparency.

use prism_spec::{ColorMap, Method, OverlayType, Polarity, Visualization, VisualizationType};

use crate::colormap::heat;
use crate::error::VizError;
use crate::image::{to_u8, ImageView, Layout};
use crate::outline::Mask;
use crate::raster::RgbaImage;

/// Weight of the image in `ORIGINAL` and `GRAYSCALE` overlays.
pub const IMAGE_WEIGHT: f64 = 0.7;
/// Weight of the attribution colours in `ORIGINAL` and `GRAYSCALE` overlays.
pub const HEAT_WEIGHT: f64 = 0.5;

/// Which method's defaults fill the options a `Visualization` leaves unset.
///
/// | | type | colorMap |
/// |---|---|---|
/// | Integrated Gradients (and any other method) | OUTLINES | PINK_GREEN |
/// | XRAI | PIXELS (always: `type` applies to IG only) | VIRIDIS |
///
/// Both: polarity POSITIVE, clip percentiles 99.9 / 62, overlay NONE (the proto's
/// documented defaults).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum MethodDefaults {
    /// Integrated Gradients; also used for Sampled Shapley.
    #[default]
    IntegratedGradients,
    /// XRAI.
    Xrai,
}

impl MethodDefaults {
    /// The defaults for an explanation method.
    pub fn for_method(method: &Method) -> MethodDefaults {
        match method {
            Method::Xrai(_) => MethodDefaults::Xrai,
            _ => MethodDefaults::IntegratedGradients,
        }
    }
}

/// Every visualisation option, resolved: the `Visualization`'s values with the method's
/// defaults filled in.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct HeatmapOptions {
    /// PIXELS or OUTLINES.
    pub kind: VisualizationType,
    /// Which signs are shown.
    pub polarity: Polarity,
    /// The colours.
    pub color_map: ColorMap,
    /// Magnitudes above this attribution-mass percentile are drawn at full strength.
    pub clip_percent_upperbound: f64,
    /// Magnitudes below this attribution-mass percentile are not drawn.
    pub clip_percent_lowerbound: f64,
    /// What is drawn under the attributions.
    pub overlay: OverlayType,
}

impl HeatmapOptions {
    /// Applies the defaults of `method` to `vis` (see [`MethodDefaults`]). Percentiles
    /// outside 0..=100 are clamped into it.
    pub fn resolve(vis: &Visualization, method: MethodDefaults) -> HeatmapOptions {
        let (kind, color_map) = match method {
            MethodDefaults::Xrai => (
                VisualizationType::Pixels,
                vis.color_map.unwrap_or(ColorMap::Viridis),
            ),
            MethodDefaults::IntegratedGradients => (
                vis.effective_type(),
                vis.color_map.unwrap_or(ColorMap::PinkGreen),
            ),
        };
        let percent = |p: f32| {
            let p = f64::from(p);
            if p.is_nan() {
                100.0
            } else {
                p.clamp(0.0, 100.0)
            }
        };
        HeatmapOptions {
            kind,
            polarity: vis.effective_polarity(),
            color_map,
            clip_percent_upperbound: percent(vis.effective_clip_percent_upperbound()),
            clip_percent_lowerbound: percent(vis.effective_clip_percent_lowerbound()),
            overlay: vis.effective_overlay_type(),
        }
    }
}

/// Draws image attributions with Vertex's visualisation options (see the module docs for
/// every step).
///
/// `attributions` are row-major in the image's own [`Layout`]: one value per pixel
/// (`H·W` values), or `H·W·C` values for any channel count `C` (channels last, or first
/// for a `[C][H][W]` image). The picture has the image's size.
pub fn heatmap(
    attributions: &[f64],
    image: &ImageView,
    vis: &Visualization,
    method: MethodDefaults,
) -> Result<RgbaImage, VizError> {
    let pixels = pixel_attributions(attributions, image)?;
    render(&pixels, image, &HeatmapOptions::resolve(vis, method))
}

/// Sums attributions over channels: one signed value per pixel, row by row.
///
/// Accepts `H·W` values, or `H·W·C` values laid out like the image (channels first for
/// [`Layout::Chw`], last otherwise).
pub fn pixel_attributions(attributions: &[f64], image: &ImageView) -> Result<Vec<f64>, VizError> {
    let n = image.width() * image.height();
    let len = attributions.len();
    if n == 0 || len == 0 || !len.is_multiple_of(n) {
        return Err(VizError::AttributionShape {
            len,
            shape: vec![len],
            width: image.width(),
            height: image.height(),
        });
    }
    if let Some((index, &value)) = attributions
        .iter()
        .enumerate()
        .find(|(_, v)| !v.is_finite())
    {
        return Err(VizError::NonFinite {
            what: "attributions",
            index,
            value,
        });
    }
    let channels = len / n;
    let channels_first = matches!(image.layout(), Layout::Chw { .. });
    Ok((0..n)
        .map(|p| {
            (0..channels)
                .map(|c| {
                    if channels_first {
                        attributions[c * n + p]
                    } else {
                        attributions[p * channels + c]
                    }
                })
                .sum()
        })
        .collect())
}

/// The clip thresholds `(hi, lo)` of one sign's magnitudes (non-negative; zeros allowed):
/// the magnitudes at which the largest ones first reach (100 − `upper_percent`) % and
/// (100 − `lower_percent`) % of their total. A percentile of 0 (100 % of the mass)
/// gives 0. `None` when the total is 0 (nothing of that sign to show).
///
/// ```
/// // 0, 1, …, 99: the top 21 values (79..=99) hold 1869/4950 = 37.8 % of the mass, the
/// // top 22 hold 39.3 %, so the 62nd mass percentile is 78.
/// let m: Vec<f64> = (0..100).map(f64::from).collect();
/// assert_eq!(prism_viz::clip_thresholds(&m, 99.9, 62.0), Some((99.0, 78.0)));
/// ```
pub fn clip_thresholds(
    magnitudes: &[f64],
    upper_percent: f64,
    lower_percent: f64,
) -> Option<(f64, f64)> {
    let total: f64 = magnitudes.iter().sum();
    if total <= 0.0 || !total.is_finite() {
        return None;
    }
    let mut sorted = magnitudes.to_vec();
    sorted.sort_by(|a, b| b.total_cmp(a));
    let threshold = |percent: f64| -> f64 {
        let share = 100.0 - percent;
        if share >= 100.0 {
            return 0.0;
        }
        let smallest = sorted.last().copied().unwrap_or(0.0);
        let mut cumulative = 0.0;
        for &m in &sorted {
            cumulative += m;
            if 100.0 * cumulative / total >= share {
                return m;
            }
        }
        // Rounding left the full sum a hair under 100 %.
        smallest
    };
    Some((threshold(upper_percent), threshold(lower_percent)))
}

/// One sign's shown pixels and their normalised attributions `v` in [0, 1].
struct SignPass {
    sign: f64,
    shown: Vec<bool>,
    values: Vec<f64>,
}

fn sign_pass(pixels: &[f64], sign: f64, options: &HeatmapOptions) -> Option<SignPass> {
    let magnitudes: Vec<f64> = pixels.iter().map(|&p| (sign * p).max(0.0)).collect();
    let (hi, lo) = clip_thresholds(
        &magnitudes,
        options.clip_percent_upperbound,
        options.clip_percent_lowerbound,
    )?;
    let shown: Vec<bool> = magnitudes.iter().map(|&m| m > 0.0 && m >= lo).collect();
    let values = magnitudes
        .iter()
        .zip(&shown)
        .map(|(&m, &shown)| {
            if !shown {
                0.0
            } else if hi <= lo {
                1.0
            } else {
                ((m - lo) / (hi - lo)).clamp(0.0, 1.0)
            }
        })
        .collect();
    Some(SignPass {
        sign,
        shown,
        values,
    })
}

/// Draws per-pixel attributions (already summed over channels: one finite value per
/// pixel, row by row) over `image` with resolved options.
pub fn render(
    pixels: &[f64],
    image: &ImageView,
    options: &HeatmapOptions,
) -> Result<RgbaImage, VizError> {
    let (width, height) = (image.width(), image.height());
    let n = width * height;
    if pixels.len() != n {
        return Err(VizError::AttributionShape {
            len: pixels.len(),
            shape: vec![pixels.len()],
            width,
            height,
        });
    }
    if let Some((index, &value)) = pixels.iter().enumerate().find(|(_, v)| !v.is_finite()) {
        return Err(VizError::NonFinite {
            what: "attributions",
            index,
            value,
        });
    }
    let signs: &[f64] = match options.polarity {
        Polarity::Negative => &[-1.0],
        Polarity::Both => &[1.0, -1.0],
        // POSITIVE, and any polarity added to the contract later.
        _ => &[1.0],
    };
    let mut layer = vec![[0.0f64; 3]; n];
    let mut region = vec![false; n];
    for pass in signs
        .iter()
        .filter_map(|&sign| sign_pass(pixels, sign, options))
    {
        let mut paint = |i: usize, v: f64| {
            let c = heat(options.color_map, options.polarity, pass.sign * v);
            for (l, c) in layer[i].iter_mut().zip(c) {
                *l += c;
            }
        };
        match options.kind {
            VisualizationType::Outlines => {
                let mask = Mask {
                    width,
                    height,
                    bits: pass.shown.clone(),
                };
                let regions = mask.fill_holes().largest_components();
                for (i, &b) in regions.border().bits.iter().enumerate() {
                    if b {
                        paint(i, 1.0);
                    }
                }
                for (r, &b) in region.iter_mut().zip(&regions.bits) {
                    *r |= b;
                }
            }
            // PIXELS, and any type added to the contract later.
            _ => {
                for (i, (&shown, &v)) in pass.shown.iter().zip(&pass.values).enumerate() {
                    if shown {
                        paint(i, v);
                        region[i] = true;
                    }
                }
            }
        }
    }
    let mut out = RgbaImage::filled(width, height, [0, 0, 0, 255]);
    for (i, (&px, heat)) in image.pixels().iter().zip(&layer).enumerate() {
        let blend = |under: [u8; 3]| {
            let mut rgb = [0u8; 3];
            for c in 0..3 {
                rgb[c] = to_u8(IMAGE_WEIGHT * f64::from(under[c]) + HEAT_WEIGHT * heat[c]);
            }
            rgb
        };
        let rgb = match options.overlay {
            OverlayType::Original => blend(px),
            OverlayType::Grayscale => {
                let [r, g, b] = px.map(f64::from);
                let grey = to_u8(0.299 * r + 0.587 * g + 0.114 * b);
                blend([grey; 3])
            }
            OverlayType::MaskBlack => {
                if region[i] {
                    px
                } else {
                    [0, 0, 0]
                }
            }
            // NONE, and any overlay added to the contract later.
            _ => heat.map(to_u8),
        };
        out.set_pixel(i % width, i / width, [rgb[0], rgb[1], rgb[2], 255]);
    }
    Ok(out)
}
