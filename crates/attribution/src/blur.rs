//! Gaussian blur of images held as flat per-example tensors, for Blur IG.
//!
//! The blur matches `scipy.ndimage.gaussian_filter(image, sigma=[σ, σ, 0], mode="constant")`,
//! which the Blur IG paper's reference code uses: a separable kernel
//! `exp(−k² / 2σ²)`, normalised to sum 1, over `|k| ≤ round(4σ)`; pixels outside the image
//! count as 0; channels are blurred independently.

/// Where the two spatial axes of an image input are in its per-example shape.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageAxes {
    /// The per-example shape.
    pub shape: Vec<usize>,
    /// The height and width axes.
    pub spatial: [usize; 2],
}

impl ImageAxes {
    /// Guesses the layout of an image from its per-example shape: `[H, W]`, `[H, W, C]` or
    /// `[C, H, W]` with C in 1..=4 (channels last when both could be), `[H, W, C]` for
    /// anything else of rank 3. `None` for other ranks.
    pub fn infer(shape: &[usize]) -> Option<Self> {
        let spatial = match shape.len() {
            2 => [0, 1],
            3 if (1..=4).contains(&shape[0]) && !(1..=4).contains(&shape[2]) => [1, 2],
            3 => [0, 1],
            _ => return None,
        };
        Some(Self {
            shape: shape.to_vec(),
            spatial,
        })
    }
}

/// The 1-D kernel of `sigma`: odd length, sums to 1.
fn kernel(sigma: f64) -> Vec<f64> {
    let radius = (4.0 * sigma + 0.5).floor() as usize;
    let mut k: Vec<f64> = (0..=2 * radius)
        .map(|i| {
            let x = i as f64 - radius as f64;
            (-0.5 * x * x / (sigma * sigma)).exp()
        })
        .collect();
    let sum: f64 = k.iter().sum();
    k.iter_mut().for_each(|v| *v /= sum);
    k
}

/// `values` (one image laid out as `axes.shape`) blurred with `sigma` over its spatial axes.
/// `sigma <= 0` returns the image unchanged.
pub fn gaussian_blur(values: &[f64], axes: &ImageAxes, sigma: f64) -> Vec<f64> {
    let mut out = values.to_vec();
    if sigma <= 0.0 {
        return out;
    }
    let k = kernel(sigma);
    for &axis in &axes.spatial {
        out = convolve_axis(&out, &axes.shape, axis, &k);
    }
    out
}

/// Convolves along one axis with zero padding.
fn convolve_axis(values: &[f64], shape: &[usize], axis: usize, k: &[f64]) -> Vec<f64> {
    let n = shape[axis];
    let stride: usize = shape[axis + 1..].iter().product();
    let outer: usize = shape[..axis].iter().product();
    let radius = (k.len() / 2) as isize;
    let mut out = vec![0f64; values.len()];
    for o in 0..outer {
        for s in 0..stride {
            let base = o * n * stride + s;
            for i in 0..n {
                let mut acc = 0.0;
                for (ki, w) in k.iter().enumerate() {
                    let j = i as isize + ki as isize - radius;
                    if j >= 0 && (j as usize) < n {
                        acc += w * values[base + j as usize * stride];
                    }
                }
                out[base + i * stride] = acc;
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layouts_are_inferred_from_the_shape() {
        assert_eq!(ImageAxes::infer(&[28, 28]).unwrap().spatial, [0, 1]);
        assert_eq!(ImageAxes::infer(&[32, 32, 3]).unwrap().spatial, [0, 1]);
        assert_eq!(ImageAxes::infer(&[3, 32, 32]).unwrap().spatial, [1, 2]);
        assert_eq!(ImageAxes::infer(&[1, 8, 8]).unwrap().spatial, [1, 2]);
        assert!(ImageAxes::infer(&[10]).is_none());
    }

    #[test]
    fn a_delta_blurs_into_the_normalised_kernel() {
        // scipy.ndimage.gaussian_filter of a unit impulse with sigma 1: radius 4, weights
        // exp(-k²/2) / Σ per axis, so the 9×9 result is the outer product of the kernels.
        let axes = ImageAxes::infer(&[9, 9]).unwrap();
        let mut img = vec![0.0; 81];
        img[4 * 9 + 4] = 1.0;
        let out = gaussian_blur(&img, &axes, 1.0);
        let norm: f64 = (-4..=4).map(|k: i32| (-0.5 * f64::from(k * k)).exp()).sum();
        let w = |i: usize| (-0.5 * (i as f64 - 4.0).powi(2)).exp() / norm;
        for (ix, v) in out.iter().enumerate() {
            let want = w(ix / 9) * w(ix % 9);
            assert!((v - want).abs() < 1e-12, "{ix}: {v} vs {want}");
        }
        // scipy: gaussian_filter1d([0,0,0,0,1,0,0,0,0], 1)[4] = 0.398943469...
        assert!((w(4) - 0.398_943_469).abs() < 1e-9);
    }

    #[test]
    fn channels_blur_independently_and_mass_is_kept_inside() {
        // A 9×9×2 image with a dot in channel 1 only: channel 0 stays 0, channel 1 keeps
        // its total (the kernel fits inside), and the blur is symmetric.
        let axes = ImageAxes::infer(&[9, 9, 2]).unwrap();
        let mut img = vec![0.0; 9 * 9 * 2];
        img[(4 * 9 + 4) * 2 + 1] = 1.0;
        let out = gaussian_blur(&img, &axes, 0.8);
        let ch = |c: usize| out.iter().skip(c).step_by(2).copied().collect::<Vec<_>>();
        assert!(ch(0).iter().all(|&v| v == 0.0));
        let total: f64 = ch(1).iter().sum();
        assert!((total - 1.0).abs() < 1e-12);
        let c1 = ch(1);
        assert!((c1[3 * 9 + 4] - c1[5 * 9 + 4]).abs() < 1e-15);
        assert!((c1[4 * 9 + 3] - c1[3 * 9 + 4]).abs() < 1e-15);
        assert!(c1[4 * 9 + 4] > c1[3 * 9 + 4]);
    }

    #[test]
    fn zero_padding_loses_mass_at_the_border_and_sigma_zero_is_identity() {
        let axes = ImageAxes::infer(&[5, 5]).unwrap();
        let img = vec![1.0; 25];
        let out = gaussian_blur(&img, &axes, 2.0);
        assert!(out[0] < out[12] && out[12] < 1.0);
        assert_eq!(gaussian_blur(&img, &axes, 0.0), img);
    }
}
