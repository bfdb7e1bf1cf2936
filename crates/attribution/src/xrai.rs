//! XRAI (Kapishnikov et al., 2019): Integrated Gradients summarised over image regions.
//!
//! 1. IG from two baselines, a black image (every value the image's minimum) and a white one
//!    (its maximum), averaged; the channels of each pixel are reduced by their maximum.
//! 2. The image, scaled to [−1, 1] and resized to 224 × 224, is over-segmented by
//!    Felzenszwalb's method at scales 50, 100, 150, 250, 500 and 1200 (sigma 0.8, minimum
//!    segment 150 pixels); every segment, resized back, is a mask dilated by a disk of
//!    radius 5 pixels.
//! 3. Greedily, the mask whose not-yet-covered pixels have the highest mean attribution is
//!    added (masks adding fewer than 50 new pixels are dropped) until the image is covered;
//!    each pixel gets the mean (the density) of the region that first covered it. Pixels no
//!    mask covered get the density of all of them together.
//!
//! The result is reported on every element of the image: a pixel's density split evenly
//! over its channels, so channels sum to the density and Σ XRAI = Σ IG (channel max).
//! Inputs other than the image keep their IG attributions. approximationError is the IG
//! completeness gap.

use crate::blur::ImageAxes;
use crate::error::{AttributionError, Result};
use crate::integrated::IntegratedGradients;
use crate::segment::{dilate_disk, felzenszwalb, resize_bilinear, resize_nearest};
use crate::{Attributor, Estimate, Problem, Rows};

const SCALES: [f64; 6] = [50.0, 100.0, 150.0, 250.0, 500.0, 1200.0];
const SIGMA: f64 = 0.8;
const MIN_SEGMENT: usize = 150;
const SEGMENT_SIDE: usize = 224;
const DILATION: usize = 5;
const MIN_NEW_PIXELS: usize = 50;

/// XRAI on top of an Integrated Gradients configuration.
#[derive(Debug, Clone, PartialEq)]
pub struct Xrai {
    /// The IG run from each of the two baselines.
    pub ig: IntegratedGradients,
}

/// An image as `H × W × C`, whatever its layout in the tensor.
struct Hwc {
    h: usize,
    w: usize,
    c: usize,
    /// For each `(y, x, c)` in row-major order, the flat position in the tensor.
    positions: Vec<usize>,
}

impl Hwc {
    fn new(axes: &ImageAxes) -> Self {
        let shape = &axes.shape;
        let (h, w) = (shape[axes.spatial[0]], shape[axes.spatial[1]]);
        let (c, channels_first) = match (shape.len(), axes.spatial) {
            (2, _) => (1, false),
            (_, [1, 2]) => (shape[0], true),
            _ => (shape[2], false),
        };
        let mut positions = Vec::with_capacity(h * w * c);
        for y in 0..h {
            for x in 0..w {
                for ch in 0..c {
                    positions.push(if channels_first {
                        (ch * h + y) * w + x
                    } else {
                        (y * w + x) * c + ch
                    });
                }
            }
        }
        Self { h, w, c, positions }
    }

    fn gather(&self, flat: &[f64]) -> Vec<f64> {
        self.positions.iter().map(|&p| flat[p]).collect()
    }
}

impl Attributor for Xrai {
    fn attribute(&self, problem: &Problem<'_>) -> Result<Estimate> {
        let grads = problem.gradients.ok_or_else(|| {
            AttributionError::Unsupported("XRAI needs a model with gradient outputs".into())
        })?;
        let (t, axes) = grads.image.ok_or_else(|| {
            AttributionError::Unsupported("XRAI explains images: no image input".into())
        })?;
        let x = &problem.instance.values[t];
        let lo = x.iter().copied().fold(f64::INFINITY, f64::min);
        let hi = x.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        let with_image = |v: f64| {
            let mut b = problem.baseline.clone();
            b.values[t] = vec![v; x.len()];
            b
        };
        let baselines = [with_image(lo), with_image(hi)];
        let mut rows = Rows::new(problem.instance, 2);
        for b in &baselines {
            rows.push(&b.values);
        }
        let starts = (problem.evaluate)(&rows)?;
        let outputs = problem.instance_output.len();
        let players = problem.players.len();
        let mut ig = vec![vec![0f64; players]; outputs];
        let mut baseline_output = vec![0f64; outputs];
        for (k, b) in baselines.iter().enumerate() {
            let sub = Problem {
                baseline: b,
                baseline_output: starts.row(k),
                stream: problem.stream * 2 + k as u64,
                ..*problem
            };
            let est = self.ig.attribute(&sub)?;
            let start = est.baseline_output.as_deref().unwrap_or(starts.row(k));
            for o in 0..outputs {
                for (acc, v) in ig[o].iter_mut().zip(&est.values[o]) {
                    *acc += v / 2.0;
                }
                baseline_output[o] += start[o] / 2.0;
            }
        }

        // The player of each image element (XRAI needs one element per player).
        let mut player_of = vec![usize::MAX; x.len()];
        for (p, player) in problem.players.iter().enumerate() {
            for &(tt, i) in &player.positions {
                if tt == t {
                    if player.positions.len() != 1 {
                        return Err(AttributionError::Unsupported(
                            "XRAI needs one attribution per image element (no groups)".into(),
                        ));
                    }
                    player_of[i] = p;
                }
            }
        }
        let hwc = Hwc::new(axes);
        let masks = region_masks(&hwc.gather(x), (hwc.h, hwc.w, hwc.c));
        let path_sum: Vec<f64> = ig.iter().map(|v| v.iter().sum()).collect();
        let mut values = ig.clone();
        for o in 0..outputs {
            let per_element: Vec<f64> = (0..x.len()).map(|i| ig[o][player_of[i]]).collect();
            let by_pixel: Vec<f64> = hwc
                .gather(&per_element)
                .chunks(hwc.c)
                .map(|c| c.iter().copied().fold(f64::NEG_INFINITY, f64::max))
                .collect();
            let density = rank_regions(&by_pixel, &masks).density;
            for (k, &pos) in hwc.positions.iter().enumerate() {
                values[o][player_of[pos]] = density[k / hwc.c] / hwc.c as f64;
            }
        }
        Ok(Estimate {
            values,
            std_error: vec![0.0; outputs],
            baseline_output: Some(baseline_output),
            path_sum: Some(path_sum),
        })
    }

    fn completeness_error(&self) -> bool {
        true
    }
}

/// The dilated segment masks of an `H × W × C` image at every scale.
pub fn region_masks(image: &[f64], (h, w, c): (usize, usize, usize)) -> Vec<Vec<bool>> {
    let lo = image.iter().copied().fold(f64::INFINITY, f64::min);
    let hi = image.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    let span = if hi > lo { hi - lo } else { 1.0 };
    let scaled: Vec<f64> = image.iter().map(|v| (v - lo) / span * 2.0 - 1.0).collect();
    let side = SEGMENT_SIDE;
    let resized = resize_bilinear(&scaled, (h, w, c), (side, side));
    let mut masks = Vec::new();
    for scale in SCALES {
        let labels = felzenszwalb(&resized, (side, side, c), scale, SIGMA, MIN_SEGMENT);
        let labels = resize_nearest(&labels, (side, side), (h, w));
        let count = labels.iter().max().map_or(0, |m| m + 1);
        for l in 0..count {
            let mask: Vec<bool> = labels.iter().map(|&v| v == l).collect();
            if mask.iter().any(|&b| b) {
                masks.push(dilate_disk(&mask, (h, w), DILATION));
            }
        }
    }
    masks
}

/// The result of XRAI's greedy ranking.
#[derive(Debug, Clone, PartialEq)]
pub struct Ranking {
    /// Per pixel, the density of the region that first covered it.
    pub density: Vec<f64>,
    /// The regions in the order they were added: their density and their new pixels.
    pub regions: Vec<(f64, Vec<usize>)>,
}

/// XRAI's greedy ranking of `masks` by the mean attribution of their uncovered pixels.
/// Pixels left uncovered form a last region.
pub fn rank_regions(attr: &[f64], masks: &[Vec<bool>]) -> Ranking {
    let n = attr.len();
    let mut out = vec![f64::NAN; n];
    let mut covered = vec![false; n];
    let mut covered_count = 0;
    let mut remaining: Vec<usize> = (0..masks.len()).collect();
    let mut regions = Vec::new();
    while covered_count < n && !remaining.is_empty() {
        let mut best: Option<(f64, usize)> = None;
        remaining.retain(|&m| {
            let (sum, count) = new_pixels(attr, &masks[m], &covered);
            if count < MIN_NEW_PIXELS.min(n) {
                return false;
            }
            let gain = sum / count as f64;
            if best.is_none_or(|(g, _)| gain > g) {
                best = Some((gain, m));
            }
            true
        });
        let Some((gain, m)) = best else { break };
        let mut added = Vec::new();
        for (i, &inside) in masks[m].iter().enumerate() {
            if inside && !covered[i] {
                covered[i] = true;
                covered_count += 1;
                out[i] = gain;
                added.push(i);
            }
        }
        regions.push((gain, added));
        remaining.retain(|&r| r != m);
    }
    let rest: Vec<usize> = (0..n).filter(|&i| !covered[i]).collect();
    if !rest.is_empty() {
        let density = rest.iter().map(|&i| attr[i]).sum::<f64>() / rest.len() as f64;
        rest.iter().for_each(|&i| out[i] = density);
        regions.push((density, rest));
    }
    Ranking {
        density: out,
        regions,
    }
}

fn new_pixels(attr: &[f64], mask: &[bool], covered: &[bool]) -> (f64, usize) {
    let mut sum = 0.0;
    let mut count = 0;
    for ((&a, &m), &c) in attr.iter().zip(mask).zip(covered) {
        if m && !c {
            sum += a;
            count += 1;
        }
    }
    (sum, count)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn greedy_ranking_covers_with_densities_and_keeps_the_total() {
        // 10×10 pixels: a hot 5×10 top half, a cold bottom half, three masks (top, bottom,
        // everything). Top is picked first (density 2), then bottom's new pixels (−1).
        let n = 100;
        let attr: Vec<f64> = (0..n).map(|i| if i < 50 { 2.0 } else { -1.0 }).collect();
        let top: Vec<bool> = (0..n).map(|i| i < 50).collect();
        let bottom: Vec<bool> = (0..n).map(|i| i >= 50).collect();
        let all = vec![true; n];
        let ranking = rank_regions(&attr, &[all, bottom, top]);
        assert_eq!(ranking.regions.len(), 2);
        assert_eq!(ranking.regions[0].0, 2.0);
        let out = ranking.density;
        assert!(out[..50].iter().all(|&v| v == 2.0));
        assert!(out[50..].iter().all(|&v| v == -1.0));
        let total: f64 = attr.iter().sum();
        assert!((out.iter().sum::<f64>() - total).abs() < 1e-12);
    }

    #[test]
    fn small_additions_are_skipped_and_the_rest_gets_its_mean() {
        // One mask of 60 pixels; the other 40 no mask covers enough of: they share their
        // mean.
        let n = 100;
        let attr: Vec<f64> = (0..n).map(|i| i as f64).collect();
        let big: Vec<bool> = (0..n).map(|i| i < 60).collect();
        let tiny: Vec<bool> = (0..n).map(|i| i >= 95).collect();
        let out = rank_regions(&attr, &[big, tiny]).density;
        assert!(out[..60].iter().all(|&v| (v - 29.5).abs() < 1e-12));
        assert!(out[60..].iter().all(|&v| (v - 79.5).abs() < 1e-12));
    }
}
