//! Product quantisation with 4-bit codes: 16 centroids per sub-space of 2 dimensions.
//!
//! A `dims`-long vector is cut into `⌈dims / 2⌉` sub-spaces of 2 dimensions (the last one
//! holds 1 if `dims` is odd), rounded up to an even count `m` so that sub-spaces pair up in
//! the SIMD scan (an extra sub-space, if any, has an all-zero codebook). Each sub-space has 16
//! centroids trained by k-means on a sample of residuals (vectors minus their partition's
//! centroid), and a vector's code is the index of the nearest centroid in each sub-space.

use crate::kmeans;

/// Lloyd iterations of each sub-space's k-means.
const SUB_ITERATIONS: usize = 10;

/// 16 centroids of 2-d points: k-means++ seeding (shared with the partition k-means) then
/// Lloyd iterations written out for two dimensions, which is what makes training fast.
/// Fewer distinct points than 16 repeat centroids.
fn train_subspace(points: &[f32], seed: u64) -> [f32; KSUB * DSUB] {
    let seeded = kmeans::train(points, DSUB, KSUB, 0, kmeans::Init::PlusPlus, seed);
    let mut c = [0f32; KSUB * DSUB];
    for j in 0..KSUB {
        let src = if (j + 1) * DSUB <= seeded.len() { j } else { 0 };
        c[j * DSUB] = seeded.get(src * DSUB).copied().unwrap_or(0.0);
        c[j * DSUB + 1] = seeded.get(src * DSUB + 1).copied().unwrap_or(0.0);
    }
    let n = points.len() / DSUB;
    for _ in 0..SUB_ITERATIONS {
        let mut sums = [0f64; KSUB * DSUB];
        let mut counts = [0usize; KSUB];
        for p in points.chunks_exact(DSUB) {
            let mut best = (0usize, f32::INFINITY);
            for j in 0..KSUB {
                let (dx, dy) = (p[0] - c[j * DSUB], p[1] - c[j * DSUB + 1]);
                let d = dx * dx + dy * dy;
                if d < best.1 {
                    best = (j, d);
                }
            }
            counts[best.0] += 1;
            sums[best.0 * DSUB] += f64::from(p[0]);
            sums[best.0 * DSUB + 1] += f64::from(p[1]);
        }
        for j in 0..KSUB {
            if counts[j] > 0 {
                c[j * DSUB] = (sums[j * DSUB] / counts[j] as f64) as f32;
                c[j * DSUB + 1] = (sums[j * DSUB + 1] / counts[j] as f64) as f32;
            }
        }
        if n == 0 {
            break;
        }
    }
    c
}

/// Dimensions per sub-space.
pub(crate) const DSUB: usize = 2;
/// Centroids per sub-space (4-bit codes).
pub(crate) const KSUB: usize = 16;

/// A trained product quantiser.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Pq {
    pub(crate) dims: usize,
    /// Sub-spaces, even.
    pub(crate) m: usize,
    /// `m × KSUB × DSUB` floats; a 1-dimensional last sub-space has 0 in its second slot.
    pub(crate) codebooks: Vec<f32>,
}

/// The sub-spaces a `dims`-long vector is cut into, rounded up to even.
pub(crate) fn subspaces(dims: usize) -> usize {
    let m = dims.div_ceil(DSUB);
    m + (m % 2)
}

impl Pq {
    /// Trains on `data` (row-major, `dims` each).
    pub(crate) fn train(data: &[f32], dims: usize, seed: u64) -> Pq {
        let m = subspaces(dims);
        let n = data.len() / dims;
        let mut codebooks = vec![0f32; m * KSUB * DSUB];
        let mut sub = Vec::with_capacity(n * DSUB);
        for s in 0..m {
            let lo = s * DSUB;
            if lo >= dims {
                continue;
            }
            sub.clear();
            for x in data.chunks_exact(dims) {
                for d in 0..DSUB {
                    sub.push(x.get(lo + d).copied().unwrap_or(0.0));
                }
            }
            let c = train_subspace(&sub, seed ^ (s as u64).wrapping_mul(0x9e37_79b9));
            codebooks[s * KSUB * DSUB..(s + 1) * KSUB * DSUB].copy_from_slice(&c);
        }
        Pq { dims, m, codebooks }
    }

    #[cfg(test)]
    fn centroid(&self, s: usize, j: usize) -> &[f32] {
        &self.codebooks[(s * KSUB + j) * DSUB..(s * KSUB + j + 1) * DSUB]
    }

    /// The code (one per sub-space, values 0..16) of `x`.
    pub(crate) fn encode(&self, x: &[f32], codes: &mut [u8]) {
        for ((s, code), book) in codes
            .iter_mut()
            .enumerate()
            .take(self.m)
            .zip(self.codebooks.chunks_exact(KSUB * DSUB))
        {
            let x0 = x.get(s * DSUB).copied().unwrap_or(0.0);
            let x1 = x.get(s * DSUB + 1).copied().unwrap_or(0.0);
            let mut best = (0u8, f32::INFINITY);
            for (j, c) in book.chunks_exact(DSUB).enumerate() {
                let (d0, d1) = (x0 - c[0], x1 - c[1]);
                let d = d0 * d0 + d1 * d1;
                if d < best.1 {
                    best = (j as u8, d);
                }
            }
            *code = best.0;
        }
    }

    /// Reconstructs a vector from its codes.
    #[cfg(test)]
    pub(crate) fn decode(&self, codes: &[u8]) -> Vec<f32> {
        let mut out = vec![0f32; self.m * DSUB];
        for (s, &c) in codes.iter().enumerate().take(self.m) {
            out[s * DSUB..(s + 1) * DSUB].copy_from_slice(self.centroid(s, usize::from(c)));
        }
        out.truncate(self.dims);
        out
    }
}

/// A per-query lookup table, quantised to bytes for the SIMD scan.
#[derive(Debug, Clone)]
pub(crate) struct Lut {
    /// `m × 16` entries.
    pub(crate) bytes: Vec<u8>,
    /// Sum of each sub-space's smallest float entry.
    pub(crate) bias: f32,
    /// Float value of one step of the byte entries.
    pub(crate) step: f32,
}

impl Lut {
    /// Quantises `m × 16` float entries so that `Σ float ≈ bias + step × Σ byte`, with every
    /// byte entry at most `u16::MAX / m` so that 16-bit sums cannot overflow.
    pub(crate) fn quantize(floats: &[f32], m: usize) -> Lut {
        let max_entry = ((u16::MAX as usize) / m.max(1)).min(255) as f32;
        let mut bias = 0f32;
        let mut range = 0f32;
        let mut mins = vec![0f32; m];
        for (s, t) in floats.chunks_exact(KSUB).enumerate().take(m) {
            // Plain comparisons (not f32::min) so that the loop vectorises; entries are finite.
            let (mut lo, mut hi) = (t[0], t[0]);
            for &v in &t[1..] {
                lo = if v < lo { v } else { lo };
                hi = if v > hi { v } else { hi };
            }
            mins[s] = lo;
            bias += lo;
            range = range.max(hi - lo);
        }
        let step = if range > 0.0 { range / max_entry } else { 1.0 };
        let inv = 1.0 / step;
        let mut bytes = vec![0u8; m * KSUB];
        for ((out, t), &lo) in bytes
            .chunks_exact_mut(KSUB)
            .zip(floats.chunks_exact(KSUB))
            .zip(&mins)
        {
            for (o, &v) in out.iter_mut().zip(t) {
                // Non-negative, so adding 0.5 and truncating rounds to nearest; going through
                // i32 avoids the saturating float-to-u8 conversion, which does not vectorise.
                let x = ((v - lo) * inv + 0.5).min(max_entry);
                *o = x as i32 as u8;
            }
        }
        Lut { bytes, bias, step }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{Rng, SeedableRng};
    use rand_chacha::ChaCha8Rng;

    #[test]
    fn quantisation_error_is_small() {
        let mut rng = ChaCha8Rng::seed_from_u64(3);
        let dims = 9;
        let data: Vec<f32> = (0..dims * 500)
            .map(|_| rng.random_range(-1.0..1.0))
            .collect();
        let pq = Pq::train(&data, dims, 1);
        assert_eq!(pq.m, 6);
        let mut codes = vec![0u8; pq.m];
        let mut err = 0f32;
        let mut energy = 0f32;
        for x in data.chunks_exact(dims) {
            pq.encode(x, &mut codes);
            let y = pq.decode(&codes);
            err += x
                .iter()
                .zip(&y)
                .map(|(a, b)| (a - b) * (a - b))
                .sum::<f32>();
            energy += x.iter().map(|a| a * a).sum::<f32>();
        }
        assert!(err / energy < 0.1, "relative error {}", err / energy);
    }

    #[test]
    fn lut_quantisation_round_trips() {
        let floats: Vec<f32> = (0..4 * KSUB).map(|i| (i as f32 * 0.37).sin()).collect();
        let lut = Lut::quantize(&floats, 4);
        for (s, t) in floats.chunks(KSUB).enumerate() {
            for (j, &v) in t.iter().enumerate() {
                let lo = t.iter().copied().fold(f32::INFINITY, f32::min);
                let back = lo + lut.step * f32::from(lut.bytes[s * KSUB + j]);
                assert!((back - v).abs() <= lut.step * 0.51);
            }
        }
    }
}
